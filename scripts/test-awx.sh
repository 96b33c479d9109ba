#!/usr/bin/env bash
# AWX as code (issue 15), without an AWX server:
# - ansible-lint of playbooks/awx_configure.yml, module arguments checked against awx.awx's specs;
# - `ansible-builder create` of execution-environment.yml (the build context; a full build needs
#   the base image and Galaxy, see docs/awx.md);
# - pytest tests/awx: the surveys against AWX's rules and the roles' argument specs, the rendered
#   configuration, and Build stack / Verify spread / Teardown through ansible-runner from a fresh
#   clone of the committed HEAD, on a local emulator of its own (port AWX_AWS_PORT, default 5631).
# Usage: scripts/test-awx.sh [pytest args]
set -euo pipefail

cd "$(dirname "$0")/.."
VENV=${VENV:-.venv}
export VENV
for tool in pytest ansible-playbook ansible-lint ansible-builder ansible-galaxy moto_server; do
    [[ -x "$VENV/bin/$tool" ]] || { echo "test-awx: $VENV/bin/$tool is missing (make venv)" >&2; exit 2; }
done
ls .build/dist/taskmanager_webapp-*.whl >/dev/null 2>&1 || { echo "test-awx: no wheel in .build/dist (make webapp-dist)" >&2; exit 2; }
export PATH=${PWD}/${VENV}/bin:${PATH}
export LOCAL_AWS_PORT=${AWX_AWS_PORT:-5631}
export LOCAL_AWS_DATAPLANE=off  # the jobs build the foundation only: nothing to serve
export AWS_ENDPOINT_URL=http://127.0.0.1:${LOCAL_AWS_PORT}

work=$(mktemp -d /tmp/test-awx.XXXXXX)
started=0
cleanup() {
    if [[ ${started} == 1 ]]; then scripts/local-aws.sh stop; fi
    rm -rf "${work}"
}
trap cleanup EXIT

echo "== ansible-builder create"
ansible-galaxy collection build --force --output-path .build/ee >/dev/null
ansible-builder create -f execution-environment.yml --context "${work}/ee-context" --output-filename Containerfile >/dev/null
for f in Containerfile _build/requirements.yml _build/requirements.txt _build/bindep.txt \
         "_build/collections/taskmanager-aws-$(sed -n 's/^version: *//p' galaxy.yml).tar.gz"; do
    [[ -s "${work}/ee-context/${f}" ]] || { echo "test-awx: the EE build context lacks ${f}" >&2; exit 1; }
done
echo "build context complete: ${work}/ee-context"

echo "== pytest tests/awx"
if ! scripts/local-aws.sh status >/dev/null 2>&1; then
    scripts/local-aws.sh start
    started=1
fi
pytest -p no:cacheprovider -q tests/awx "$@"
