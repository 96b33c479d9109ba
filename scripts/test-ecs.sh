#!/usr/bin/env bash
# Tests of the ecs_ha area: the ecs_capacity_provider module against a real moto server (its
# in-process unit tests are in `make units`), bad-input tests of the role (pytest), and
# `molecule test -s ecs_ha` (converge, idempotence, verify, destroy with audit) against its own
# moto server.
#
#   scripts/test-ecs.sh            # everything (~6-8 min on 2 cores)
#   ECS_TEST_SKIP_MOLECULE=1 ...   # the module against moto and the bad-input tests only (~1 min)
#
# ECS_MOTO_PORT (default 5011, the ecs area's port) picks the emulator port.
set -euo pipefail

cd "$(dirname "$0")/.."
REPO=$(pwd)
VENV=${VENV:-.venv}
BIN=${REPO}/${VENV}/bin
[[ ${VENV} == /* ]] && BIN=${VENV}/bin
# The emulator as every other suite starts it (scripts/local-aws.sh), without its data plane.
export LOCAL_AWS_PORT=${ECS_MOTO_PORT:-5011} LOCAL_AWS_DATAPLANE=off VENV
URL="http://127.0.0.1:${LOCAL_AWS_PORT}"
LOG_DIR=$(mktemp -d -t test-ecs.XXXXXX)
started=0

export PATH="${BIN}:${PATH}"
export PYTHONPATH="${REPO}/.build${PYTHONPATH:+:${PYTHONPATH}}"
export ANSIBLE_CONFIG="${REPO}/ansible.cfg"
export ANSIBLE_NOCOLOR=1 ANSIBLE_FORCE_COLOR=0 PY_COLORS=0
export AWS_ACCESS_KEY_ID=testing AWS_SECRET_ACCESS_KEY=testing
export AWS_REGION=eu-north-1 AWS_DEFAULT_REGION=eu-north-1
unset AWS_PROFILE AWS_SESSION_TOKEN

stop_emulator() {
  local rc=$?
  if [[ ${started} == 1 ]]; then scripts/local-aws.sh stop; fi
  started=0
  # The logs stay for a failed run (the path is printed above); a passing run leaves nothing in /tmp.
  if [[ ${rc} == 0 ]]; then rm -rf "${LOG_DIR}"; fi
}
trap stop_emulator EXIT INT TERM

if scripts/local-aws.sh status >/dev/null 2>&1; then
  echo "port ${LOCAL_AWS_PORT} already has an emulator; the suite needs a fresh one (ECS_MOTO_PORT)" >&2
  exit 2
fi
scripts/local-aws.sh start
started=1
echo "== emulator ${URL}, logs in ${LOG_DIR}"

declare -A SECONDS_OF
step() {
  local name=$1; shift
  local start=${SECONDS}
  echo "== ${name}"
  "$@"
  SECONDS_OF[${name}]=$((SECONDS - start))
}

# 1. The module's lifecycle against the server. Its in-process (mock_aws) unit tests run in
#    `make units` (ansible-test units), which skips this class: it needs a server.
step unit env TASKMANAGER_ECS_MOTO_URL="${URL}" AWS_ENDPOINT_URL="${URL}" \
  "${BIN}/pytest" -q -p no:cacheprovider \
  "tests/unit/plugins/modules/test_ecs_capacity_provider.py::TestAgainstMotoServer"

# 2. Bad input is refused before any AWS call (the tests point AWS at a closed port).
step bad-input "${BIN}/pytest" -q -p no:cacheprovider tests/ecs

# 3. The role against the emulator.
if [[ -z ${ECS_TEST_SKIP_MOLECULE:-} ]]; then
  export AWS_ENDPOINT_URL="${URL}"
  step molecule bash -c "set -o pipefail; timeout 1800 '${BIN}/molecule' test -s ecs_ha 2>&1 | tee '${LOG_DIR}/molecule.log'"
  # Changed counts of converge and of the idempotence run (PLAY RECAP lines, in order).
  echo "== changed per play recap (converge, idempotence, verify, destroy...):"
  grep -Eo 'localhost *: ok=[0-9]+ +changed=[0-9]+' "${LOG_DIR}/molecule.log" | sed 's/^/   /' || true
fi

echo "== timings (s):"
for name in unit bad-input molecule; do
  if [[ -n ${SECONDS_OF[${name}]:-} ]]; then
    printf '   %-10s %4d\n' "${name}" "${SECONDS_OF[${name}]}"
  fi
done
echo "== test-ecs: all passed"
