#!/usr/bin/env bash
# Tests of the stress role and playbooks/scale_test.yml (issue 7), on localhost.
# Runs real stress-ng loads (a few seconds each, 60% of the cores at most) and a private
# moto on port ${STRESS_MOTO_PORT:-5014}, which the tests start and stop themselves.
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

# The tests put their state dirs (one per test) and moto's PID here, so that whatever happens
# to pytest, this script stops every load and the emulator it started.
work=$(mktemp -d /tmp/test-stress.XXXXXX)
export STRESS_TEST_STATE_BASE="$work/state" STRESS_MOTO_PIDFILE="$work/moto.pid"
cleanup() {
    local dir pid
    for dir in "$STRESS_TEST_STATE_BASE"/*/; do
        [[ -d "$dir" ]] && roles/stress/files/stress_ctl.sh stop "${dir%/}" >/dev/null 2>&1
    done
    if [[ -s "$STRESS_MOTO_PIDFILE" ]]; then
        pid=$(<"$STRESS_MOTO_PIDFILE")
        kill -0 "$pid" 2>/dev/null && kill -- "-$pid" 2>/dev/null
    fi
    rm -rf "$work"
}
trap cleanup EXIT

# Bounded: every playbook run has its own timeout, this is the backstop.
timeout -k 10 600 "$VENV/bin/pytest" -p no:cacheprovider -q tests/stress "$@"
