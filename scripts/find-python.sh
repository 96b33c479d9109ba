#!/usr/bin/env bash
# Print the path of a Python interpreter of one minor version, e.g. `scripts/find-python.sh 3.12`.
#
# Looks, in order, at: the distribution's /usr/bin/python<version>, then python<version> on PATH,
# then pyenv's installs of that version (`pyenv root`, or ${PYENV_ROOT:-~/.pyenv}), newest patch
# release first. Each candidate must really run and report that version (a pyenv shim for a version
# that is not selected does not). The distribution's comes first, ahead of a pyenv shim earlier on
# PATH: Debian builds Python with profile-guided and link-time optimization, pyenv's default build
# has neither (and links libpython as a shared library), and an AWS module run took about a fifth
# more CPU under pyenv's 3.11 than under Debian's (README, "Requirements and supported versions").
# Nothing found: exit 1 with a message saying how to get one. No other version is taken in its
# place: the pinned requirements of that line are tested on this version only.
set -euo pipefail

want=${1:?usage: $0 MAJOR.MINOR}

candidates=("/usr/bin/python${want}")
if found=$(command -v "python${want}" 2>/dev/null); then
  candidates+=("${found}")
fi
roots=()
if command -v pyenv >/dev/null 2>&1; then
  roots+=("$(pyenv root 2>/dev/null || true)")
fi
roots+=("${PYENV_ROOT:-${HOME}/.pyenv}")
for root in "${roots[@]}"; do
  [[ -n ${root} && -d ${root}/versions ]] || continue
  while IFS= read -r version; do
    candidates+=("${root}/versions/${version}/bin/python${want}")
  done < <(find "${root}/versions" -mindepth 1 -maxdepth 1 -name "${want}.*" -printf '%f\n' | sort -t. -k3,3nr)
done

for python in "${candidates[@]}"; do
  if [[ -x ${python} ]] &&
    "${python}" -c "import sys; sys.exit(0 if '%d.%d' % sys.version_info[:2] == '${want}' else 1)" 2>/dev/null; then
    echo "${python}"
    exit 0
  fi
done

cat >&2 <<MSG
ERROR: no Python ${want} found (looked for /usr/bin/python${want}, python${want} on PATH and pyenv's versions/).
       Install one, e.g. \`pyenv install ${want}\` (or the distribution's python${want} package),
       or name one: PYTHON=/path/to/python${want} make venv ANSIBLE_LINE=14
MSG
exit 1
