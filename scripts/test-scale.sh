#!/usr/bin/env bash
# Scale-out under load on the local data plane (issue 14), time-compressed: the pure parts of
# localaws/metrics.py and localaws/scaling.py, then one fleet (site.yml, desired 1, max 3) on a
# private emulator at time scale 20: 20 % load does not scale out, 80 % does (the new instances
# healthy and seen by the spread check), desired never exceeds 3, a re-run of site.yml during
# the scale-out leaves desired alone.
#   scripts/test-scale.sh   (VENV defaults to .venv; port DATAPLANE_SCALE_PORT, default 5651)
set -euo pipefail
unset LOCAL_AWS_TIME_SCALE
TESTS=tests/scale TIMEOUT=420 exec "$(dirname "$0")/test-dataplane.sh" "$@"
