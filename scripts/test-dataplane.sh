#!/usr/bin/env bash
# The local data plane (localaws/): the emulator fixes against a real moto server, then the EC2
# fleet built by site.yml and served by real HAProxy and web app processes (time-compressed):
# requests reach instances, a lost AZ and a stopped instance leave rotation within the health
# check budget, a replacement comes into rotation, a missing secret keeps an instance unhealthy,
# and stopping the emulator ends every process.
#   scripts/test-dataplane.sh   (VENV defaults to .venv; ports DATAPLANE_EMULATOR_PORT 5016,
#                                DATAPLANE_STACK_PORT 5017)
set -euo pipefail

cd "$(dirname "$0")/.."
VENV=${VENV:-.venv}
export VENV
export PATH="${PWD}/${VENV}/bin:${PATH}"
export PYTHONPATH="${PWD}${PYTHONPATH:+:${PYTHONPATH}}"
export ANSIBLE_CONFIG="${PWD}/ansible.cfg"
unset AWS_PROFILE AWS_ENDPOINT_URL

# TESTS and TIMEOUT let scripts/test-scale.sh reuse this set-up for tests/scale.
timeout -k 10 "${TIMEOUT:-1500}" pytest -q -p no:cacheprovider --durations=12 -s "${TESTS:-tests/dataplane}" "$@"
