#!/usr/bin/env bash
# Scale-out under load on the local data plane (issue 14), time-compressed: the pure parts of
# localaws/metrics.py and localaws/scaling.py, then one fleet (site.yml, desired 1, max 3) on a
# private emulator at time scale 20: 20 % load does not scale out, 80 % does (the new instances
# healthy and seen by the spread check), desired never exceeds 3, a re-run of site.yml leaves
# desired alone.
#   scripts/test-scale.sh   (VENV defaults to .venv; port DATAPLANE_SCALE_PORT, default 5651)
set -euo pipefail

cd "$(dirname "$0")/.."
VENV=${VENV:-.venv}
export VENV
export PATH="${PWD}/${VENV}/bin:${PATH}"
export PYTHONPATH="${PWD}${PYTHONPATH:+:${PYTHONPATH}}"
export ANSIBLE_CONFIG="${PWD}/ansible.cfg"
unset AWS_PROFILE AWS_ENDPOINT_URL LOCAL_AWS_TIME_SCALE

# Bounded: every playbook run has its own timeout, this is the backstop.
timeout -k 10 420 pytest -q -p no:cacheprovider -s tests/scale "$@"
