#!/usr/bin/env bash
# Tests of the ecs_ha area: ecs_capacity_provider module unit tests (in-process moto and a
# real moto server), bad-input tests of the role (pytest), and `molecule test -s ecs_ha`
# (converge, idempotence, verify, destroy with audit) against its own moto server.
#
#   scripts/test-ecs.sh            # everything (~6-8 min on 2 cores)
#   ECS_TEST_SKIP_MOLECULE=1 ...   # unit and bad-input tests only (~1.5 min)
#
# ECS_MOTO_PORT (default 5011, the ecs area's port) picks the emulator port.
set -euo pipefail

cd "$(dirname "$0")/.."
REPO=$(pwd)
VENV=${VENV:-.venv}
BIN=${REPO}/${VENV}/bin
[[ ${VENV} == /* ]] && BIN=${VENV}/bin
PORT=${ECS_MOTO_PORT:-5011}
HOST=127.0.0.1
URL="http://${HOST}:${PORT}"
LOG_DIR=$(mktemp -d -t test-ecs.XXXXXX)
MOTO_PID=""

export PATH="${BIN}:${PATH}"
export PYTHONPATH="${REPO}/.build${PYTHONPATH:+:${PYTHONPATH}}"
export ANSIBLE_CONFIG="${REPO}/ansible.cfg"
export ANSIBLE_NOCOLOR=1 ANSIBLE_FORCE_COLOR=0 PY_COLORS=0
export AWS_ACCESS_KEY_ID=testing AWS_SECRET_ACCESS_KEY=testing
export AWS_REGION=eu-north-1 AWS_DEFAULT_REGION=eu-north-1
unset AWS_PROFILE AWS_SESSION_TOKEN

stop_moto() {
  if [[ -n ${MOTO_PID} ]] && kill -0 "${MOTO_PID}" 2>/dev/null; then
    kill "${MOTO_PID}" 2>/dev/null || true
    for _ in $(seq 1 50); do kill -0 "${MOTO_PID}" 2>/dev/null || break; sleep 0.1; done
    kill -9 "${MOTO_PID}" 2>/dev/null || true
  fi
  MOTO_PID=""
}
trap stop_moto EXIT INT TERM

if (exec 3<>"/dev/tcp/${HOST}/${PORT}") 2>/dev/null; then
  echo "port ${PORT} is already in use; stop whatever runs there or set ECS_MOTO_PORT" >&2
  exit 2
fi

MOTO_IAM_LOAD_MANAGED_POLICIES=true "${BIN}/python" -m localaws.emulator -H "${HOST}" -p "${PORT}" >"${LOG_DIR}/moto.log" 2>&1 &
MOTO_PID=$!
for _ in $(seq 1 100); do
  curl -fsS --max-time 1 "${URL}/moto-api/data.json" -o /dev/null 2>/dev/null && break
  kill -0 "${MOTO_PID}" 2>/dev/null || { echo "moto exited:" >&2; cat "${LOG_DIR}/moto.log" >&2; exit 1; }
  sleep 0.2
done
echo "== moto ${URL} (pid ${MOTO_PID}), logs in ${LOG_DIR}"

declare -A SECONDS_OF
step() {
  local name=$1; shift
  local start=${SECONDS}
  echo "== ${name}"
  "$@"
  SECONDS_OF[${name}]=$((SECONDS - start))
}

# 1. Module unit tests: moto in-process (mock_aws) plus one lifecycle against the server.
step unit env TASKMANAGER_ECS_MOTO_URL="${URL}" AWS_ENDPOINT_URL="${URL}" \
  "${BIN}/pytest" -q -p no:cacheprovider \
  tests/unit/plugins/modules/test_ecs_capacity_provider.py \
  tests/unit/plugins/module_utils/test_ecs_capacity_provider_logic.py

# 2. Bad input is refused before any AWS call (the tests point AWS at a closed port).
step bad-input "${BIN}/pytest" -q -p no:cacheprovider tests/ecs

# 3. The role against the emulator.
if [[ -z ${ECS_TEST_SKIP_MOLECULE:-} ]]; then
  export AWS_ENDPOINT_URL="${URL}"
  step molecule bash -c "set -o pipefail; timeout 900 '${BIN}/molecule' test -s ecs_ha 2>&1 | tee '${LOG_DIR}/molecule.log'"
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
