#!/usr/bin/env bash
# Run the gates of `make test` (make targets), print a per-gate timing table at the end, and
# fail if any gate failed. Every gate runs, whatever happened to the others (like make -k).
#
#   scripts/test-gates.sh [--jobs N] SHARED_GATE... [--alone ALONE_GATE...]
#
# The gates after --alone measure CPU load (stress) or health-check and request timing (the data
# plane, scale-out): they run one at a time, at the CPU's normal priority. The gates before
# --alone measure no time and only compete for the CPU: they run N at a time (default 2), at the
# same time as the alone ones but at idle priority, in a cgroup of their own (cgroup v1 or v2,
# `cpu.idle`, else the lowest weight; `nice 19` where no cgroup can be made). The kernel then
# gives an alone gate the CPU whenever it wants it, as on an idle machine, and the shared gates
# what it leaves. Shared gates start in the order given: list the longest first. Once the alone
# gates are done, their lane takes the shared gates still waiting too, beside the N lanes, so that
# both cores stay busy to the end. (A shared gate cannot use real-time scheduling in that cgroup:
# the stress tests, which do, are alone.)
#
# Each gate's output goes to a log of its own and is printed whole when the gate ends (so that
# two gates running at once do not interleave their lines). Logs and the table stay in
# TEST_GATES_DIR (default .state/test-gates).
set -uo pipefail

cd "$(dirname "$0")/.." || exit 2
MAKE=${MAKE:-make}
DIR=${TEST_GATES_DIR:-.state/test-gates}

# The CPU a gate uses, its daemons included (the emulator, the data plane's servers): a cpuacct
# cgroup of its own (cgroup v1), which every process the gate starts inherits. Where none can be
# made, the table shows "-".
ACCT_ROOT=/sys/fs/cgroup/cpuacct
acct_dir=""
acct_start() {
  [[ -f ${ACCT_ROOT}/cpuacct.usage && -w ${ACCT_ROOT} ]] || return 0
  acct_dir=${ACCT_ROOT}/taskmanager-gate-${TEST_GATES_RUN:-$$}-$1
  if ! mkdir "${acct_dir}" 2>/dev/null || ! echo $$ >"${acct_dir}/cgroup.procs"; then
    rmdir "${acct_dir}" 2>/dev/null
    acct_dir=""
  fi
}
# Move every process of cgroup $1 to $2 and remove $1; with a label $3, name each one (stderr). A
# process still inside can fork into it while its members move out: a few rounds, until it is empty.
drain_cgroup() {
  local pid
  for _ in 1 2 3 4 5 6 7 8 9 10; do
    for pid in $(<"$1/cgroup.procs"); do
      [[ -z ${3:-} ]] || echo "test-gates: $3 left pid ${pid} running: $(tr '\0' ' ' <"/proc/${pid}/cmdline" 2>/dev/null)" >&2
      echo "${pid}" >"$2/cgroup.procs" 2>/dev/null
    done
    rmdir "$1" 2>/dev/null && return 0
    sleep 0.2
  done
  echo "test-gates: could not remove $1" >&2
}
# Set cpu to the gate's CPU seconds and remove its cgroup; what the gate left running is named
# (in its log) and moved out first.
acct_end() {
  cpu=-
  [[ -n ${acct_dir} ]] || return 0
  echo $$ >"${ACCT_ROOT}/cgroup.procs"
  cpu=$(($(<"${acct_dir}/cpuacct.usage") / 1000000000))
  drain_cgroup "${acct_dir}" "${ACCT_ROOT}" "$1"
}

# One gate: run it, record "<gate> <rc> <seconds> <CPU seconds>", print its log.
if [[ ${1:-} == --one ]]; then
  gate=$2
  log=${DIR}/${gate}.log
  start=${SECONDS}
  acct_start "${gate}"
  ${MAKE} --no-print-directory "${gate}" >"${log}" 2>&1 </dev/null
  rc=$?
  seconds=$((SECONDS - start))
  acct_end "${gate}" 2>>"${log}"
  {
    flock 9
    echo "${gate} ${rc} ${seconds} ${cpu}" >>"${DIR}/results"
    echo "================================================================ ${gate}"
    cat "${log}"
    echo "================================================================ ${gate}: $([[ ${rc} == 0 ]] && echo passed || echo "FAILED (rc ${rc})") in ${seconds} s, ${cpu} s of CPU"
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
# The run's ID, in its gates' cgroup names: an interrupted run removes them all.
export MAKE TEST_GATES_DIR=${DIR} TEST_GATES_RUN=$$
started=${SECONDS}

# The shared gates' cgroup: its directory (cgroup.procs inside), or nothing (then nice 19).
idle_cgroup() {
  local root dir
  for root in /sys/fs/cgroup/cpu /sys/fs/cgroup; do
    [[ -f ${root}/cgroup.procs && -w ${root} ]] || continue
    [[ ${root} == /sys/fs/cgroup && ! -f ${root}/cgroup.controllers ]] && continue  # v1's root
    [[ ${root} == /sys/fs/cgroup ]] && { echo +cpu >"${root}/cgroup.subtree_control"; } 2>/dev/null
    dir=${root}/taskmanager-test-gates-$$
    mkdir "${dir}" 2>/dev/null || continue
    if { echo 1 >"${dir}/cpu.idle"; } 2>/dev/null || { echo 2 >"${dir}/cpu.shares"; } 2>/dev/null ||
      { echo 1 >"${dir}/cpu.weight"; } 2>/dev/null; then
      echo "${dir}"
      return
    fi
    rmdir "${dir}"
  done
}
cgroup=$(idle_cgroup)
# Whatever a shared gate left running goes back to the parent cgroup (and is named), so that the
# cgroup can go.
remove_cgroup() {
  local dir
  # The gates' cpuacct cgroups, left by an interrupted gate.
  for dir in "${ACCT_ROOT}/taskmanager-gate-$$-"*; do
    [[ -d ${dir} ]] && drain_cgroup "${dir}" "${ACCT_ROOT}"
  done
  [[ -n ${cgroup} && -d ${cgroup} ]] || return 0
  drain_cgroup "${cgroup}" "${cgroup%/*}" "a shared gate"
}
trap 'echo "test-gates: interrupted" >&2; remove_cgroup; kill 0' INT TERM
trap remove_cgroup EXIT

# The shared gates wait in a queue, in the order given; each lane takes the next one when it is free.
printf '%s\n' "${shared[@]}" >"${DIR}/queue"
next_shared() {
  local gate
  {
    flock 9
    gate=$(head -n 1 "${DIR}/queue")
    [[ -n ${gate} ]] || return 1
    sed -i 1d "${DIR}/queue"
  } 9>"${DIR}/queue.lock"
  echo "${gate}"
}
shared_lane() {
  local gate
  while gate=$(next_shared); do "$0" --one "${gate}"; done
}
shared_pids=()
if ((${#shared[@]})); then
  echo "== ${#shared[@]} gates, ${jobs} at a time, at idle CPU priority ($([[ -n ${cgroup} ]] && echo "cgroup ${cgroup}" || echo "nice 19")): ${shared[*]}"
  for ((lane = 0; lane < jobs; lane++)); do
    (
      if [[ -n ${cgroup} ]]; then echo "${BASHPID}" >"${cgroup}/cgroup.procs"; else renice -n 19 -p "${BASHPID}" >/dev/null; fi
      shared_lane
    ) &
    shared_pids+=($!)
  done
fi
for gate in "${alone[@]}"; do
  echo "== ${gate} (alone, normal CPU priority)"
  "$0" --one "${gate}"
done
alone_wall=$((SECONDS - started))
# Its own gates done, the alone lane takes shared ones too: the machine has no alone gate left to
# keep quiet for, and a third lane keeps both cores busy until the last shared gate ends.
if [[ -s ${DIR}/queue ]]; then
  echo "== the alone gates are done: this lane takes the shared gates still waiting"
  shared_lane
fi
if ((${#shared_pids[@]})); then wait "${shared_pids[@]}"; fi
wall=$((SECONDS - started))

# The table: every gate in the order given, with its result and time.
declare -A rc_of seconds_of cpu_of
while read -r gate rc seconds cpu; do
  rc_of[${gate}]=${rc}
  seconds_of[${gate}]=${seconds}
  cpu_of[${gate}]=${cpu}
done <"${DIR}/results"
mmss() { printf '%d:%02d' $(($1 / 60)) $(($1 % 60)); }
sum=0
cpu_sum=0
{
  echo
  echo "== make test: time per gate (shared gates ${jobs} at a time at idle priority, beside the alone gates one by one)"
  echo "   (CPU: what the gate and every process it started used; on a busy 2-core machine the wall follows their sum)"
  printf '   %-18s %-7s %8s %7s %8s\n' gate mode seconds min:s "CPU s"
  for gate in "${shared[@]}" "${alone[@]}"; do
    mode=shared
    for a in "${alone[@]}"; do [[ ${a} == "${gate}" ]] && mode=alone; done
    rc=${rc_of[${gate}]:-none}
    seconds=${seconds_of[${gate}]:-0}
    cpu=${cpu_of[${gate}]:--}
    sum=$((sum + seconds))
    [[ ${cpu} == - ]] || cpu_sum=$((cpu_sum + cpu))
    result=passed
    if [[ ${rc} != 0 ]]; then result="FAILED (rc ${rc})"; fi
    printf '   %-18s %-7s %8d %7s %8s  %s\n' "${gate}" "${mode}" "${seconds}" "$(mmss "${seconds}")" "${cpu}" "${result}"
  done
  printf '   %-18s %-7s %8d %7s %8d\n' "sum of gates" "" "${sum}" "$(mmss "${sum}")" "${cpu_sum}"
  printf '   %-18s %-7s %8d %7s\n' "alone wall" "" "${alone_wall}" "$(mmss "${alone_wall}")"
  printf '   %-18s %-7s %8d %7s\n' "wall" "" "${wall}" "$(mmss "${wall}")"
} >"${DIR}/table.txt"
cat "${DIR}/table.txt"
failed=$(grep -c ' FAILED (rc ' "${DIR}/table.txt")
if ((failed)); then
  echo "make test: ${failed} gate(s) failed (logs in ${DIR})"
  exit 1
fi
echo "make test: all gates passed"
