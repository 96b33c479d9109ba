#!/usr/bin/env bash
# Foundation gates on a local emulator of their own: molecule's default scenario, the foundation
# and the EC2 fleet (converge, idempotence, check, verify, destroy + audit), then the pytest suite
# (bad input, audit, your own network, the inventories; the installed tarball is the ansible 14
# lane's).
set -euo pipefail

cd "$(dirname "$0")/.."
VENV=${VENV:-.venv}
export VENV
# A port of its own, so that `make test` runs beside a `make demo` emulator on 5555.
export LOCAL_AWS_PORT=${FOUNDATION_AWS_PORT:-5010}
# The foundation serves nothing: the emulator alone, without its data plane.
export LOCAL_AWS_DATAPLANE=off
export PATH=${PWD}/${VENV}/bin:${PATH}
export ANSIBLE_CONFIG=${PWD}/ansible.cfg
export AWS_ENDPOINT_URL=http://127.0.0.1:${LOCAL_AWS_PORT}

started=0
cleanup() {
  if [[ ${started} == 1 ]]; then scripts/local-aws.sh stop; fi
}
trap cleanup EXIT
if ! scripts/local-aws.sh status >/dev/null 2>&1; then
  scripts/local-aws.sh start
  started=1
fi

molecule test -s default
pytest -p no:cacheprovider -q --durations=8 tests/foundation
