#!/usr/bin/env bash
# Tests of the stress role and playbooks/scale_test.yml (issue 7), on localhost.
# Runs real stress-ng loads (a few seconds each, 60% of the cores at most) and a private
# emulator (scripts/local-aws.sh, without its data plane) on port ${STRESS_MOTO_PORT:-5014},
# which the tests start and stop themselves.
# Usage: scripts/test-stress.sh [pytest args]   (from the repository root; VENV defaults to .venv)
set -euo pipefail

cd "$(dirname "$0")/.."
VENV=${VENV:-.venv}
export VENV
for tool in pytest ansible-playbook moto_server; do
    [[ -x "$VENV/bin/$tool" ]] || { echo "test-stress: $VENV/bin/$tool is missing (make venv)" >&2; exit 2; }
done
command -v stress-ng >/dev/null || { echo "test-stress: stress-ng is not installed (make system-deps)" >&2; exit 2; }
if [[ ! -e .build/ansible_collections/taskmanager/aws ]]; then
    mkdir -p .build/ansible_collections/taskmanager
    ln -sfn "$PWD" .build/ansible_collections/taskmanager/aws
fi
export ANSIBLE_CONFIG="$PWD/ansible.cfg"

# The tests put their state dirs (one per test) here, so that whatever happens to pytest, this
# script stops every load, and the emulator the tests started.
work=$(mktemp -d /tmp/test-stress.XXXXXX)
export STRESS_TEST_STATE_BASE="$work/state"
cleanup() {
    local dir
    for dir in "$STRESS_TEST_STATE_BASE"/*/; do
        [[ -d "$dir" ]] && roles/stress/files/stress_ctl.sh stop "${dir%/}" >/dev/null 2>&1
    done
    LOCAL_AWS_PORT="${STRESS_MOTO_PORT:-5014}" scripts/local-aws.sh stop >/dev/null 2>&1 || true
    rm -rf "$work"
}
trap cleanup EXIT

# Bounded: every playbook run has its own timeout, this is the backstop.
timeout -k 10 600 "$VENV/bin/pytest" -p no:cacheprovider -q tests/stress "$@"
