#!/bin/sh
# Managed by the taskmanager.aws stress role.
# Start, stop, query or wait for one detached stress-ng CPU load per host.
#
#   stress_ctl.sh start  STATE_DIR WORKERS LOAD DURATION [REALTIME]
#   stress_ctl.sh status STATE_DIR
#   stress_ctl.sh stop   STATE_DIR
#
# The load runs in its own session (setsid + nohup), so it survives the end of the
# Ansible connection, and always ends by itself: stress-ng --timeout, with coreutils
# timeout as a hard backstop. The session id is written to STATE_DIR/stress.pid with the
# leader's start time, so a recycled PID is never taken for our load. Every process of the
# load carries TASKMANAGER_STRESS=STATE_DIR in its environment (stress-ng rewrites its workers'
# environ, so the marker is seen on timeout and the stress-ng parent), which lets "stop" also
# find a load whose pidfile was lost. REALTIME=1 runs the workers under SCHED_RR priority 1, so
# the requested load is delivered even when other processes compete for the CPU (the kernel's
# RT throttling still leaves 5% to everything else). Each call prints one JSON line.
set -u

ACTION=${1:-status}
STATE_DIR=${2:-/run/taskmanager-stress}
PIDFILE="$STATE_DIR/stress.pid"
LOGFILE="$STATE_DIR/stress.log"

json() {
    # json ACTION RUNNING PID  (extra fields come from the environment of the caller)
    printf '{"action": "%s", "running": %s, "pid": %s, "workers": %s, "load": %s, "duration": %s, "remaining": %s, "killed": %s}\n' \
        "$1" "$2" "${3:-0}" "${WORKERS_OUT:-0}" "${LOAD_OUT:-0}" "${DURATION_OUT:-0}" "${REMAINING_OUT:-0}" "${KILLED_OUT:-0}"
}

starttime_of() {
    # Field 22 of /proc/PID/stat (start time in clock ticks); comm may contain spaces.
    sed -e 's/^.*) //' "/proc/$1/stat" 2>/dev/null | awk '{print $20}'
}

state_of() {
    sed -e 's/^.*) //' "/proc/$1/stat" 2>/dev/null | awk '{print $1}'
}

group_members() {
    # PIDs (zombies left out) whose process group is $1.
    ps -e -o pid= -o pgid= -o stat= | awk -v g="$1" '$2 == g && $3 !~ /^Z/ {print $1}'
}

marked_groups() {
    # Process groups of processes carrying our environment marker.
    for env in /proc/[0-9]*/environ; do
        if { tr '\0' '\n' <"$env"; } 2>/dev/null | grep -qxF "TASKMANAGER_STRESS=$STATE_DIR"; then
            p=${env#/proc/}
            p=${p%/environ}
            sed -e 's/^.*) //' "/proc/$p/stat" 2>/dev/null | awk '$1 != "Z" {print $3}'
        fi
    done | sort -u
}

# Sets RUNNING_PID to the PID of our running load, or to nothing.
find_running() {
    RUNNING_PID=""
    [ -r "$PIDFILE" ] || return 0
    # Own names: sh has no local variables, and do_start's workers/load/duration must survive
    # a stale pidfile (a load that ended, or whose host was restarted).
    read -r f_pid f_start f_workers f_load f_duration f_began _realtime <"$PIDFILE" || true
    [ -n "${f_pid:-}" ] || return 0
    [ "$(starttime_of "$f_pid")" = "${f_start:-}" ] || return 0
    [ "$(state_of "$f_pid")" != "Z" ] || return 0
    WORKERS_OUT=$f_workers
    LOAD_OUT=$f_load
    DURATION_OUT=$f_duration
    now=$(date +%s)
    REMAINING_OUT=$((f_began + f_duration - now))
    [ "$REMAINING_OUT" -ge 0 ] || REMAINING_OUT=0
    RUNNING_PID=$f_pid
}

do_status() {
    find_running
    if [ -n "$RUNNING_PID" ]; then
        json status true "$RUNNING_PID"
    else
        json status false 0
    fi
}

do_start() {
    workers=$1 load=$2 duration=$3 realtime=${4:-0}
    find_running
    if [ -n "$RUNNING_PID" ]; then
        json running true "$RUNNING_PID"
        return 0
    fi
    command -v stress-ng >/dev/null 2>&1 || { echo "stress-ng is not installed" >&2; exit 3; }
    mkdir -p "$STATE_DIR" && chmod 0700 "$STATE_DIR" || exit 4
    if [ "$workers" -le 0 ]; then
        # The cores this process may run on (its affinity, its cpuset): on EC2 all online ones.
        workers=$(nproc 2>/dev/null || getconf _NPROCESSORS_ONLN)
    fi
    began=$(date +%s)
    sched=""
    [ "$realtime" = 1 ] && sched="--sched rr --sched-prio 1"
    # Backgrounded from a non-interactive shell, the child is no group leader, so setsid
    # does not fork: $! is the PID of the new session leader (timeout).
    # shellcheck disable=SC2086  # $sched is two options or nothing
    TASKMANAGER_STRESS=$STATE_DIR setsid nohup timeout -k 10 $((duration + 15)) \
        stress-ng --cpu "$workers" --cpu-load "$load" --timeout "${duration}s" $sched \
        --temp-path "$STATE_DIR" \
        >"$LOGFILE" 2>&1 </dev/null &
    pid=$!
    # Wait (bounded, about 2 s) for stress-ng to be up before reporting.
    tries=0
    while [ "$tries" -lt 20 ]; do
        [ "$(group_members "$pid" | wc -l)" -gt "$workers" ] && break
        sleep 0.1
        tries=$((tries + 1))
    done
    start=$(starttime_of "$pid")
    if [ -z "$start" ] || [ -z "$(group_members "$pid")" ]; then
        echo "stress-ng exited at once: $(tr "\n" " " <"$LOGFILE" 2>/dev/null)" >&2
        exit 5
    fi
    echo "$pid $start $workers $load $duration $began $realtime" >"$PIDFILE.tmp" && mv "$PIDFILE.tmp" "$PIDFILE"
    WORKERS_OUT=$workers LOAD_OUT=$load DURATION_OUT=$duration REMAINING_OUT=$duration
    json started true "$pid"
}

kill_group() {
    # TERM the whole group, then KILL after about 5 s; prints nothing.
    kill -TERM "-$1" 2>/dev/null || return 0
    tries=0
    while [ -n "$(group_members "$1")" ] && [ "$tries" -lt 50 ]; do
        sleep 0.1
        tries=$((tries + 1))
    done
    [ -z "$(group_members "$1")" ] || kill -KILL "-$1" 2>/dev/null || true
}

do_stop() {
    killed=0
    find_running
    # shellcheck disable=SC2046,SC2086  # word splitting of PID lists is wanted
    for group in $(printf '%s\n' $RUNNING_PID $(marked_groups) | sort -u); do
        kill_group "$group"
        killed=$((killed + 1))
    done
    rm -f "$PIDFILE"
    KILLED_OUT=$killed
    if [ "$killed" -gt 0 ]; then
        json stopped false "${RUNNING_PID:-0}"
    else
        json absent false 0
    fi
}

case "$ACTION" in
    start) do_start "${3:?workers}" "${4:?load}" "${5:?duration}" "${6:-0}" ;;
    status) do_status ;;
    stop) do_stop ;;
    *) echo "usage: $0 start|status|stop STATE_DIR [WORKERS LOAD DURATION]" >&2; exit 2 ;;
esac
