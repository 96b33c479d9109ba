#!/usr/bin/env bash
# Foundation gates, each on a local emulator of its own, so that `make test` can run them side by
# side (two gates instead of one long one: the run's last minutes keep both cores busy):
#
#   scripts/test-foundation.sh molecule   molecule's default scenario, the foundation and the EC2
#                                         fleet (converge, idempotence, check, verify, destroy +
#                                         audit): `make test-molecule`, port MOLECULE_AWS_PORT (5024)
#   scripts/test-foundation.sh pytest     the pytest suite tests/foundation (bad input, audit, your
#                                         own network, the inventories): `make test-foundation`,
#                                         port FOUNDATION_AWS_PORT (5010)
#   scripts/test-foundation.sh            both, one after the other
set -euo pipefail

cd "$(dirname "$0")/.."
VENV=${VENV:-.venv}
export VENV
export PATH=${PWD}/${VENV}/bin:${PATH}
export ANSIBLE_CONFIG=${PWD}/ansible.cfg
# The foundation serves nothing: the emulator alone, without its data plane.
export LOCAL_AWS_DATAPLANE=off

# The emulator this script started, if any: stopped when the step ends, or when the script does.
started=""
cleanup() {
  if [[ -n ${started} ]]; then LOCAL_AWS_PORT=${started} scripts/local-aws.sh stop; fi
  started=""
}
trap cleanup EXIT

# Run "$@" against an emulator on port $1 (started here unless one is there, and then stopped).
on_emulator() {
  local port=$1
  shift
  export LOCAL_AWS_PORT=${port} AWS_ENDPOINT_URL=http://127.0.0.1:${port}
  if ! scripts/local-aws.sh status >/dev/null 2>&1; then
    scripts/local-aws.sh start
    started=${port}
  fi
  "$@"
  cleanup
}

# The two gates, on ports of their own, so that `make test` runs beside a `make demo` emulator on 5555.
gate_molecule() { on_emulator "${MOLECULE_AWS_PORT:-5024}" molecule test -s default; }
gate_pytest() { on_emulator "${FOUNDATION_AWS_PORT:-5010}" pytest -p no:cacheprovider -q --durations=8 tests/foundation; }

case ${1:-all} in
  molecule | pytest) "gate_$1" ;;
  all)
    # Two commands, not `a && b`: errexit must stay on inside both.
    gate_molecule
    gate_pytest
    ;;
  *)
    echo "usage: $0 [molecule|pytest]" >&2
    exit 2
    ;;
esac
