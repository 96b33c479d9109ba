#!/usr/bin/env bash
# Run ansible-test (sanity | units) on a copy of the collection laid out as
# ansible_collections/taskmanager/aws, with ansible-test's pip bootstrap served offline.
#
# VENV picks the line (.venv: ansible-core 2.19 on Python 3.11; .venv-ansible14: 2.21 on 3.12);
# the Python version (ANSIBLE_TEST_PYTHON overrides it), the pip pin
# (requirements/ansible-test-<core>.txt) and the folder of the copy follow from that venv.
set -euo pipefail

cd "$(dirname "$0")/.."
ROOT=$PWD
VENV=${VENV:-.venv}
CORE=$("${VENV}/bin/python" -c 'from ansible.release import __version__ as v; print(".".join(v.split(".")[:2]))')
PY=${ANSIBLE_TEST_PYTHON:-$("${VENV}/bin/python" -c 'import sys; print("%d.%d" % sys.version_info[:2])')}
PIP_REQUIREMENTS=requirements/ansible-test-${CORE}.txt
if [[ ! -f ${PIP_REQUIREMENTS} ]]; then
  echo "ERROR: no ${PIP_REQUIREMENTS}: add it with the pip version ansible-test ${CORE} bootstraps" >&2
  exit 2
fi
# One copy per line and command, so that `make sanity` and `make units` can run at once.
WORK=${ROOT}/.build/ansible-test-${CORE}-${1:-none}
COPY=${WORK}/ansible_collections/taskmanager/aws
WHEELS=${ROOT}/.build/wheels

# 1. The pinned pip wheel and the offline bootstrap script ansible-test looks for.
PIP_PIN=$(grep -E '^pip==' "${PIP_REQUIREMENTS}")
PIP_VERSION=${PIP_PIN#pip==}
mkdir -p "${WHEELS}"
# Locked: two runs at once (make test runs sanity beside units) download it once.
exec 8>"${WHEELS}/.lock"
flock 8
if ! compgen -G "${WHEELS}/pip-${PIP_VERSION}-*.whl" >/dev/null; then
  "${VENV}/bin/pip" download --quiet --no-deps --only-binary=:all: -d "${WHEELS}" "${PIP_PIN}" 2>&1 \
    | { grep -v "is ignored: it is neither" || true; }
fi
PIP_WHEEL=$(compgen -G "${WHEELS}/pip-${PIP_VERSION}-*.whl" | head -n 1)
flock -u 8
exec 8>&-
CACHE=${HOME}/.ansible/test/cache
mkdir -p "${CACHE}"
# Written aside and renamed: another ansible-test run may be reading it.
sed "s|@PIP_WHEEL@|${PIP_WHEEL}|" tests/ansible-test/get_pip_offline.py >"${CACHE}/get_pip.$$.tmp"
mv -f "${CACHE}/get_pip.$$.tmp" "${CACHE}/get_pip_${PIP_VERSION//./_}.py"

# 2. A clean copy of the collection: the files git tracks plus new, not ignored ones.
rm -rf "${WORK}"
mkdir -p "${COPY}"
git ls-files -z --cached --others --exclude-standard | while IFS= read -r -d '' f; do
  [[ -e $f ]] && printf '%s\0' "$f"
done | rsync -a --from0 --files-from=- ./ "${COPY}/"

# The collections this one depends on sit beside it, where ansible-test looks for them.
SITE_COLLECTIONS=$("${VENV}/bin/python" -c 'import ansible_collections; print(list(ansible_collections.__path__)[0])' 2>/dev/null ||
  "${VENV}/bin/python" -c 'import glob, sys; print(glob.glob(sys.prefix + "/lib/python3*/site-packages/ansible_collections")[0])')
for ns in amazon community; do
  ln -sfn "${SITE_COLLECTIONS}/${ns}" "${WORK}/ansible_collections/${ns}"
done

cd "${COPY}"
# ansible-test lists files through git; the copy sits in an ignored folder of the outer
# checkout, so it gets a repository of its own.
git init -q . && git add -A && git -c user.name=ansible-test -c user.email=ansible-test@localhost commit -qm copy
export PATH=${ROOT}/${VENV}/bin:${PATH}
# Extra arguments, e.g. ANSIBLE_TEST_ARGS="--test pylint".
read -r -a EXTRA <<<"${ANSIBLE_TEST_ARGS:-}"
case "${1:-}" in
  sanity)
    ansible-test sanity --venv --python "${PY}" --color no "${EXTRA[@]}"
    ;;
  units)
    # --local: the venv has the unit tests' requirements (mock, pytest-mock, pytest-xdist, pinned
    # in requirements/), so no per-run virtual environment is made and filled from the index
    # (--venv --requirements spent a third of this gate's CPU on pip).
    ansible-test units --local --python "${PY}" --color no "${EXTRA[@]}"
    ;;
  *)
    echo "usage: $0 sanity|units" >&2
    exit 2
    ;;
esac
