#!/usr/bin/env bash
# Test the EC2 fleet (launch_template, alb, autoscaling) against a private local AWS emulator:
# pytest tests/fleet, the user data (cloud-init schema, shellcheck) and bad input. Its converge,
# idempotence, check mode, verify and teardown are molecule's default scenario (foundation and
# fleet, `make test-molecule`); the whole site.yml (tests/fleet/test_site_whole_stack.py)
# runs in the ansible 14 lane, on the installed tarball (scripts/test-ansible14.sh). Each runs
# once per `make test`.
# Usage: scripts/test-fleet.sh   (VENV defaults to .venv; FLEET_AWS_PORT to 5012)
set -euo pipefail

cd "$(dirname "$0")/.."
VENV=${VENV:-.venv}
VENV_BIN=$(cd "${VENV}/bin" && pwd)
export PATH="${VENV_BIN}:${PATH}"
export LOCAL_AWS_PORT=${FLEET_AWS_PORT:-5012}
# Bad input: the emulator alone (the serving fleet is scripts/test-dataplane.sh's job).
export LOCAL_AWS_DATAPLANE=off
export AWS_ENDPOINT_URL="http://127.0.0.1:${LOCAL_AWS_PORT}"
export AWS_ACCESS_KEY_ID=testing AWS_SECRET_ACCESS_KEY=testing
export AWS_REGION=eu-north-1 AWS_DEFAULT_REGION=eu-north-1
export ANSIBLE_CONFIG="${PWD}/ansible.cfg"
export ANSIBLE_CALLBACKS_ENABLED=taskmanager.aws.ansiballz_cache,ansible.posix.timer  # "Playbook run took ..." per run

stop_emulator() { VENV="${VENV}" scripts/local-aws.sh stop >/dev/null 2>&1 || true; }
trap stop_emulator EXIT
VENV="${VENV}" scripts/local-aws.sh start

# The timeout guards against a hang only.
started=${SECONDS}
echo "== pytest tests/fleet"
timeout 3000 pytest -q -p no:cacheprovider --durations=5 tests/fleet --ignore=tests/fleet/test_site_whole_stack.py
echo "== pytest: $((SECONDS - started)) s"
