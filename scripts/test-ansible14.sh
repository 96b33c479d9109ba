#!/usr/bin/env bash
# The ansible 14 lane of `make test`: ansible 14.5 / ansible-core 2.21 / amazon.aws 11 /
# community.aws 11 on Python 3.12, from requirements/ansible14.txt (`make venv ANSIBLE_LINE=14`).
# Only what can differ from the default line (ansible 12.3 / 2.19), which every other gate covers:
#
#   1. the built tarball: `ansible-galaxy collection install --offline` resolves its
#      dependencies against the amazon.aws 11 and community.aws 11 already installed, installing
#      nothing else, and galaxy-importer passes (tests/sanity/galaxy-importer.cfg);
#   2. ansible-test sanity on 2.21, only the tests whose result depends on the ansible-core or
#      Python version (the text and style checks are the same code on both lines and run in
#      `make sanity` and `make lint`), and ansible-test units;
#   3. the installed collection's site.yml (only the installed copy on the collections path) on
#      its own emulator: tests/fleet/test_site_whole_stack.py (check on an empty account, converge
#      on your own VPC, re-run, --tags fleet, teardown ending in "Audit clean"; no deprecation
#      warning beyond tests/allowed-deprecations.txt). What a user installs from the tarball builds
#      the whole stack. The default line runs no second copy of it (scripts/test-fleet.sh).
#
# The install comes first; galaxy-importer and step 2 run in the background beside step 3, the
# longest (~3 min on an idle machine).
#   ANSIBLE14_AWS_PORT (default 5015) picks the emulator port.
set -euo pipefail

cd "$(dirname "$0")/.."
ROOT=$PWD
VENV=${VENV:-.venv-ansible14}
BIN=${ROOT}/${VENV}/bin
[[ ${VENV} == /* ]] && BIN=${VENV}/bin
export PATH=${BIN}:${PATH}
export ANSIBLE_CONFIG=${ROOT}/ansible.cfg ANSIBLE_NOCOLOR=1 ANSIBLE_FORCE_COLOR=0
export LOCAL_AWS_PORT=${ANSIBLE14_AWS_PORT:-5015}
# A compatibility lane: the emulator alone (the data plane runs on the main line).
export LOCAL_AWS_DATAPLANE=off
export AWS_ENDPOINT_URL=http://127.0.0.1:${LOCAL_AWS_PORT}
LOGS=$(mktemp -d -t test-ansible14.XXXXXX)

core=$("${BIN}/python" -c 'from ansible.release import __version__; print(__version__)')
[[ ${core} == 2.21.* ]] || { echo "${VENV} has ansible-core ${core}, not 2.21: make venv ANSIBLE_LINE=14" >&2; exit 2; }
echo "== ansible-core ${core}, $("${BIN}/python" --version), logs in ${LOGS}"

started=0
checks_pid=""
cleanup() {
  local rc=$?
  if [[ -n ${checks_pid} ]]; then kill "${checks_pid}" 2>/dev/null || true; fi
  if [[ ${started} == 1 ]]; then VENV=${VENV} scripts/local-aws.sh stop; fi
  # The logs stay for a failed run (the path is printed above); a passing run leaves nothing in /tmp.
  if [[ ${rc} == 0 ]]; then rm -rf "${LOGS}"; fi
}
trap cleanup EXIT

step() {
  local name=$1 start=${SECONDS}
  shift
  echo "== ${name}"
  "$@"
  echo "== ${name}: passed in $((SECONDS - start)) s"
}

# ---------------------------------------------------------------- 1. the tarball
# Where it is installed, beside the user's amazon.aws 11 and community.aws 11 (step 3 runs it).
COLLECTIONS=${LOGS}/collections

tarball_install() {
  local out=${COLLECTIONS}
  mkdir -p "${out}/ansible_collections/amazon" "${out}/ansible_collections/community"
  ansible-galaxy collection build --output-path "${LOGS}" "${ROOT}" >/dev/null
  local tarball
  tarball=$(compgen -G "${LOGS}/taskmanager-aws-*.tar.gz")

  # The user's collections: amazon.aws 11 and community.aws 11, as the ansible package ships them.
  local site
  site=$(python -c 'import ansible_collections as c, os
print(next(p for p in c.__path__ if os.path.isdir(os.path.join(p, "amazon", "aws"))))')
  ln -s "${site}/amazon/aws" "${out}/ansible_collections/amazon/aws"
  ln -s "${site}/community/aws" "${out}/ansible_collections/community/aws"
  # --offline: nothing can be fetched, so the dependency ranges must accept what is there.
  printf '[defaults]\ncollections_path = %s\n' "${out}" >"${LOGS}/install.cfg"
  ANSIBLE_CONFIG=${LOGS}/install.cfg ansible-galaxy collection install --offline -p "${out}" "${tarball}" \
    >"${LOGS}/install.log" 2>&1 || { cat "${LOGS}/install.log" >&2; return 1; }
  local installed
  installed=$(find "${out}/ansible_collections" -mindepth 2 -maxdepth 2 | sed "s|${out}/ansible_collections/||" | sort | tr '\n' ' ')
  [[ ${installed} == "amazon/aws community/aws taskmanager/aws " ]] ||
    { echo "expected only amazon.aws, community.aws and taskmanager.aws, found: ${installed}" >&2; return 1; }
  local reused
  reused=$(grep -E "^'(amazon|community)\.aws:11\.[0-9.]+' is already installed, skipping\.$" "${LOGS}/install.log" || true)
  [[ $(wc -l <<<"${reused}") == 2 ]] ||
    { echo "the install did not reuse amazon.aws 11 and community.aws 11:" >&2; cat "${LOGS}/install.log" >&2; return 1; }
  while IFS= read -r line; do echo "   ${line}"; done <<<"${reused}"
}

galaxy_importer() {
  local tarball
  tarball=$(compgen -G "${LOGS}/taskmanager-aws-*.tar.gz")
  # From the log folder: galaxy-importer writes importer_result.json into the current one.
  (cd "${LOGS}" && GALAXY_IMPORTER_CONFIG=${ROOT}/tests/sanity/galaxy-importer.cfg \
    python -m galaxy_importer.main "${tarball}" >"${LOGS}/galaxy-importer.log" 2>&1) ||
    { cat "${LOGS}/galaxy-importer.log" >&2; return 1; }
  if grep -E '^(WARNING|ERROR)' "${LOGS}/galaxy-importer.log" >&2; then
    echo "galaxy-importer warned (each warning is fixed or explained in tests/sanity/README.md)" >&2
    return 1
  fi
  echo "   galaxy-importer: $(tail -n 1 "${LOGS}/galaxy-importer.log")"
}

# ---------------------------------------------------------------- 2. ansible-test on 2.21
ansible_test() {
  ANSIBLE_TEST_ARGS="--test action-plugin-docs --test ansible-doc --test compile --test import --test pylint \
--test runtime-metadata --test shebang --test validate-modules" VENV=${VENV} scripts/ansible-test.sh sanity
  VENV=${VENV} scripts/ansible-test.sh units
}

# ---------------------------------------------------------------- 3. site.yml
site_lifecycle() {
  # The installed collection's playbooks and roles (only the installed copy on the collections
  # path), on this checkout's inventory (the web app wheel comes from `make webapp-dist`, in
  # .build/dist): tests/fleet/test_site_whole_stack.py, the whole site.yml the way a demanding user
  # types it (--check on an empty account, your own VPC, every alb_* and other names, a re-run
  # after a scale-out with one change, --tags fleet, teardown ending in "Audit clean"; no run may
  # print a deprecation warning not in tests/allowed-deprecations.txt).
  AWS_ACCESS_KEY_ID=testing AWS_SECRET_ACCESS_KEY=testing AWS_REGION=eu-north-1 \
    ANSIBLE_COLLECTIONS_PATH=${COLLECTIONS} TASKMANAGER_PLAYBOOK_DIR=${COLLECTIONS}/ansible_collections/taskmanager/aws \
    pytest -p no:cacheprovider -q --durations=3 tests/fleet/test_site_whole_stack.py
}

if VENV=${VENV} scripts/local-aws.sh status >/dev/null 2>&1; then
  echo "port ${LOCAL_AWS_PORT} already has an emulator; the lane needs a fresh one (ANSIBLE14_AWS_PORT)" >&2
  exit 2
fi
VENV=${VENV} scripts/local-aws.sh start
started=1

step install tarball_install
# A function, not `a && b`: errexit must stay on inside both steps.
checks() {
  step galaxy-importer galaxy_importer
  step ansible-test ansible_test
}
checks >"${LOGS}/checks.log" 2>&1 &
checks_pid=$!
step site site_lifecycle
echo "== galaxy-importer and ansible-test (run beside site.yml; log ${LOGS}/checks.log)"
status=0
wait "${checks_pid}" || status=$?
checks_pid=""
if [[ ${status} != 0 ]]; then
  tail -n 80 "${LOGS}/checks.log" >&2
  echo "galaxy-importer or ansible-test failed" >&2
  exit 1
fi
grep -E '^== |^   [^ ]|^Running sanity test|^=+ [0-9]+ passed' "${LOGS}/checks.log" | sed -E 's/^=+ ([0-9]+ passed.*) =+$/   units: \1/'
echo "== test-ansible14: all passed in ${SECONDS} s"
