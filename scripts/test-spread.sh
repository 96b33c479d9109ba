#!/usr/bin/env bash
# Tests of the instance_spread area (its unit tests run in `make units`): ruff and the
# integration tests that run the module through ansible-playbook against a real HAProxy
# (127.0.0.1:18180-18185) in front of stand-in backends (127.0.0.1:18190-18198), the real web app
# under gunicorn when webapp/ is importable, and moto on 127.0.0.1:5013 for target_group_arn.
# SPREAD_HOST (a loopback address), SPREAD_PORT_BASE (first of 20 ports) and SPREAD_MOTO_PORT move them.
# Every process is started and stopped by its own PID by the pytest fixtures
# (tests/spread/harness.py), also when a test fails.
set -euo pipefail
cd "$(dirname "$0")/.."
VENV="${VENV:-.venv}"
HAPROXY="${HAPROXY:-/usr/sbin/haproxy}"

[[ -x "$HAPROXY" ]] || { echo "HAProxy not found at $HAPROXY (apt-get install haproxy)" >&2; exit 1; }
[[ -e .build/ansible_collections/taskmanager/aws ]] || {
    echo ".build/ansible_collections/taskmanager/aws is missing (make venv creates it)" >&2
    exit 1
}

echo "== ruff"
"$VENV/bin/ruff" check --line-length 120 plugins/modules/instance_spread.py plugins/module_utils/spread_*.py \
    tests/unit/plugins/module_utils/test_spread.py tests/unit/plugins/modules/test_instance_spread.py \
    tests/spread bench/spread_bench.py

echo "== ansible-doc"
"$VENV/bin/ansible-doc" taskmanager.aws.instance_spread >/dev/null

# The unit tests (tests/unit/plugins/*/test_*spread*.py) run in `make units`.
echo "== pytest: the module against HAProxy"
export HAPROXY
PYTHONPATH="$PWD/.build${PYTHONPATH:+:$PYTHONPATH}" timeout 1800 "$VENV/bin/pytest" -q -p no:cacheprovider \
    tests/spread
