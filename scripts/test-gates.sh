#!/usr/bin/env bash
# Run the gates of `make test` (make targets), print a per-gate timing table at the end, and
# fail if any gate failed. Every gate runs, whatever happened to the others (like make -k).
#
#   scripts/test-gates.sh [--jobs N] SHARED_GATE... [--alone ALONE_GATE...]
#
# The gates before --alone run N at a time (default 2): they compete for the CPU but measure no
# time, so a busy machine only makes them slower. The gates after --alone run one at a time,
# after the shared ones: they measure CPU load (stress) or health-check and request timing
# (spread, the data plane, scale-out), and must have the machine to themselves. Shared gates
# start in the order given: list the longest first.
#
# Each gate's output goes to a log of its own and is printed whole when the gate ends (so that
# two gates running at once do not interleave their lines). Logs and the table stay in
# TEST_GATES_DIR (default .state/test-gates).
set -uo pipefail

cd "$(dirname "$0")/.." || exit 2
MAKE=${MAKE:-make}
DIR=${TEST_GATES_DIR:-.state/test-gates}

# One gate: run it, record "<gate> <rc> <seconds>", print its log.
if [[ ${1:-} == --one ]]; then
  gate=$2
  log=${DIR}/${gate}.log
  start=${SECONDS}
  ${MAKE} --no-print-directory "${gate}" >"${log}" 2>&1 </dev/null
  rc=$?
  seconds=$((SECONDS - start))
  {
    flock 9
    echo "${gate} ${rc} ${seconds}" >>"${DIR}/results"
    echo "================================================================ ${gate}"
    cat "${log}"
    echo "================================================================ ${gate}: $([[ ${rc} == 0 ]] && echo passed || echo "FAILED (rc ${rc})") in ${seconds} s"
  } 9>"${DIR}/print.lock"
  exit 0
fi

jobs=2
shared=()
alone=()
target=shared
while (($#)); do
  case $1 in
    --jobs) jobs=$2; shift ;;
    --alone) target=alone ;;
    *) if [[ ${target} == shared ]]; then shared+=("$1"); else alone+=("$1"); fi ;;
  esac
  shift
done

rm -rf "${DIR}"
mkdir -p "${DIR}"
export MAKE TEST_GATES_DIR=${DIR}
started=${SECONDS}
trap 'echo "test-gates: interrupted" >&2; kill 0' INT TERM

if ((${#shared[@]})); then
  echo "== ${#shared[@]} gates, ${jobs} at a time: ${shared[*]}"
  printf '%s\0' "${shared[@]}" | xargs -0 -n 1 -P "${jobs}" "$0" --one
fi
shared_wall=$((SECONDS - started))
for gate in "${alone[@]}"; do
  echo "== ${gate} (alone)"
  "$0" --one "${gate}"
done
wall=$((SECONDS - started))

# The table: every gate in the order given, with its result and time.
declare -A rc_of seconds_of
while read -r gate rc seconds; do
  rc_of[${gate}]=${rc}
  seconds_of[${gate}]=${seconds}
done <"${DIR}/results"
mmss() { printf '%d:%02d' $(($1 / 60)) $(($1 % 60)); }
sum=0
{
  echo
  echo "== make test: time per gate (shared gates ran ${jobs} at a time, then the alone gates one by one)"
  printf '   %-18s %-7s %8s %7s\n' gate mode seconds min:s
  for gate in "${shared[@]}" "${alone[@]}"; do
    mode=shared
    for a in "${alone[@]}"; do [[ ${a} == "${gate}" ]] && mode=alone; done
    rc=${rc_of[${gate}]:-none}
    seconds=${seconds_of[${gate}]:-0}
    sum=$((sum + seconds))
    result=passed
    if [[ ${rc} != 0 ]]; then result="FAILED (rc ${rc})"; fi
    printf '   %-18s %-7s %8d %7s  %s\n' "${gate}" "${mode}" "${seconds}" "$(mmss "${seconds}")" "${result}"
  done
  printf '   %-18s %-7s %8d %7s\n' "sum of gates" "" "${sum}" "$(mmss "${sum}")"
  printf '   %-18s %-7s %8d %7s\n' "shared wall" "" "${shared_wall}" "$(mmss "${shared_wall}")"
  printf '   %-18s %-7s %8d %7s\n' "wall" "" "${wall}" "$(mmss "${wall}")"
} >"${DIR}/table.txt"
cat "${DIR}/table.txt"
failed=$(grep -c ' FAILED (rc ' "${DIR}/table.txt")
if ((failed)); then
  echo "make test: ${failed} gate(s) failed (logs in ${DIR})"
  exit 1
fi
echo "make test: all gates passed"
