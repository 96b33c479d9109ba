#!/usr/bin/env bash
# Start, stop or inspect the local AWS emulator (moto in server mode, with this project's
# fixes: localaws/emulator.py) and its data plane (localaws/dataplane.py: HAProxy as the ALB,
# real web app processes as the instances).
#
#   scripts/local-aws.sh start|stop|status|env|urls
#   scripts/local-aws.sh freeze-az eu-north-1a | thaw-az eu-north-1a
#
# LOCAL_AWS_PORT (default 5555) picks the port; state (pid files, logs, the listener map,
# each instance's files) lives in .state/local-aws-<port>/. `start` is idempotent: a healthy
# emulator started by this project on that port is reused; a port held by anything else is
# refused. LOCAL_AWS_DATAPLANE=off starts the emulator alone (configuration-only tests);
# LOCAL_AWS_TIME_SCALE=N divides every data-plane interval by N (tests, demos).
# LOCAL_AWS_LATENCY=aws (typical AWS times / LOCAL_AWS_TIME_SCALE) or alb=S,rds=S makes new load
# balancers provision and new RDS instances create for that long (emulator fix 17).
# ECR's registry is a local registry (Debian's docker-registry, localaws/registry.py) on
# 127.<port octet>.253.1, port LOCAL_AWS_REGISTRY_PORT (default 80: a repository URI without a
# port, as ECR's), started and stopped with the emulator (with or without the data plane).
set -euo pipefail

cd "$(dirname "$0")/.."
VENV=${VENV:-.venv}
PORT=${LOCAL_AWS_PORT:-5555}
HOST=127.0.0.1
STATE_DIR=.state/local-aws-${PORT}
PID_FILE=${STATE_DIR}/moto.pid
LOG_FILE=${STATE_DIR}/moto.log
URL="http://${HOST}:${PORT}"
DP_DIR=${STATE_DIR}/dataplane
DP_PID_FILE=${STATE_DIR}/dataplane.pid
DP_LOG_FILE=${STATE_DIR}/dataplane.log
REG_DIR=${STATE_DIR}/registry
REG_PID_FILE=${STATE_DIR}/registry.pid
REG_LOG_FILE=${STATE_DIR}/registry.log
DATAPLANE=${LOCAL_AWS_DATAPLANE:-on}
REGION=${LOCAL_AWS_REGION:-eu-north-1}
PY="${VENV}/bin/python"
# The same address as localaws.emulator.registry_address(PORT).
REGISTRY="127.$((PORT % 250 + 1)).253.1"
[[ ${LOCAL_AWS_REGISTRY_PORT:-80} == 80 ]] || REGISTRY="${REGISTRY}:${LOCAL_AWS_REGISTRY_PORT}"

healthy() {
  # moto serves its dashboard at /moto-api/ (cheap, unlike data.json, which dumps every
  # resource); anything else on the port does not answer with it.
  # (read the whole page first: grep -q closing the pipe early would fail curl under pipefail)
  local page
  page=$(curl -fsS --max-time 5 "${URL}/moto-api/" 2>/dev/null) && [[ ${page} == *"<title>Moto"* ]]
}

port_busy() {
  (exec 3<>"/dev/tcp/${HOST}/${PORT}") 2>/dev/null
}

pid_of() {
  [[ -f $1 ]] || return 1
  local pid
  pid=$(<"$1")
  [[ -n ${pid} ]] && kill -0 "${pid}" 2>/dev/null && echo "${pid}"
}

our_pid() { pid_of "${PID_FILE}"; }

# terminate PID TRIES: SIGTERM, up to TRIES x 0.1 s to exit, then SIGKILL.
terminate() {
  kill "$1" 2>/dev/null || return 0
  for _ in $(seq 1 "$2"); do
    kill -0 "$1" 2>/dev/null || return 0
    sleep 0.1
  done
  kill -9 "$1" 2>/dev/null || true
}

dataplane_ready() { grep -q '"running": true' "${DP_DIR}/status.json" 2>/dev/null; }

# wait_started NAME PID_FILE LOG_FILE READY_COMMAND TRIES PAUSE: until READY_COMMAND succeeds,
# failing (with the log's tail) when the process exits or the tries run out.
wait_started() {
  local name=$1 pid_file=$2 log_file=$3 ready=$4 tries=$5 pause=$6
  for _ in $(seq 1 "${tries}"); do
    "${ready}" && return 0
    if ! kill -0 "$(<"${pid_file}")" 2>/dev/null; then
      echo "ERROR: the ${name} exited at start; see ${log_file}:" >&2
      tail -n 20 "${log_file}" >&2
      rm -f "${pid_file}"
      return 1
    fi
    sleep "${pause}"
  done
  echo "ERROR: the ${name} did not get ready in time; see ${log_file}" >&2
  return 1
}

# Every process of the data plane (daemon, HAProxy, instance processes) names its state folder.
dataplane_pids() { pgrep -f -- "$(realpath -m "${DP_DIR}")" || true; }

start_dataplane() {
  local pid
  if pid=$(pid_of "${DP_PID_FILE}"); then
    echo "local data plane already running (pid ${pid})"
    return 0
  fi
  mkdir -p "${DP_DIR}"
  # A new data plane starts with every AZ up and no status of an earlier run.
  rm -f "${DP_DIR}/status.json" "${DP_DIR}/frozen-azs.json"
  AWS_ENDPOINT_URL=${URL} AWS_ACCESS_KEY_ID=testing AWS_SECRET_ACCESS_KEY=testing \
    AWS_REGION=${REGION} AWS_DEFAULT_REGION=${REGION} \
    nohup "${PY}" -m localaws.dataplane --emulator-port "${PORT}" --state-dir "$(realpath -m "${DP_DIR}")" \
    >>"${DP_LOG_FILE}" 2>&1 </dev/null &
  echo $! >"${DP_PID_FILE}"
  # Up to 60 s: on a machine shared with other jobs (load 20 on 2 cores) the first pass took 10-20 s.
  wait_started "local data plane" "${DP_PID_FILE}" "${DP_LOG_FILE}" dataplane_ready 600 0.1 || return 1
  echo "local data plane started (pid $(<"${DP_PID_FILE}"), log ${DP_LOG_FILE}, time scale ${LOCAL_AWS_TIME_SCALE:-1})"
}

stop_dataplane() {
  local pid left
  if pid=$(pid_of "${DP_PID_FILE}"); then
    terminate "${pid}" 100
    echo "local data plane stopped (pid ${pid})"
  fi
  rm -f "${DP_PID_FILE}"
  # Whatever a killed daemon left behind: HAProxy and instance processes.
  left=$(dataplane_pids)
  if [[ -n ${left} ]]; then
    # shellcheck disable=SC2086
    kill -9 ${left} 2>/dev/null || true
    sleep 0.2
  fi
  left=$(dataplane_pids)
  if [[ -n ${left} ]]; then
    echo "ERROR: data-plane processes still running: ${left}" >&2
    return 1
  fi
  [[ -d ${DP_DIR} ]] && echo "no data-plane process left (pgrep -f ${DP_DIR}: none)"
  return 0
}

registry_ready() { [[ -f ${REG_DIR}/ready ]]; }

start_registry() {
  local pid
  if pid=$(pid_of "${REG_PID_FILE}"); then
    return 0
  fi
  mkdir -p "${REG_DIR}"
  rm -f "${REG_DIR}/ready"
  nohup "${PY}" -m localaws.registry --state-dir "$(realpath -m "${REG_DIR}")" --address "${REGISTRY}" \
    >>"${REG_LOG_FILE}" 2>&1 </dev/null &
  echo $! >"${REG_PID_FILE}"
}

wait_registry() {
  wait_started "registry" "${REG_PID_FILE}" "${REG_LOG_FILE}" registry_ready 300 0.2 || return 1
  echo "ECR's registry started: ${REGISTRY} (pid $(<"${REG_PID_FILE}"), log ${REG_LOG_FILE})"
}

stop_registry() {
  local pid left
  if pid=$(pid_of "${REG_PID_FILE}"); then
    terminate "${pid}" 100
    echo "ECR's registry stopped (pid ${pid})"
  fi
  rm -f "${REG_PID_FILE}"
  # The registry server itself names its folder (its config file) on its command line.
  left=$(pgrep -f -- "$(realpath -m "${REG_DIR}")" || true)
  if [[ -n ${left} ]]; then
    # shellcheck disable=SC2086
    kill -9 ${left} 2>/dev/null || true
    # Gone before a new registry binds the same address (at most 5 s).
    for _ in $(seq 1 50); do
      pgrep -f -- "$(realpath -m "${REG_DIR}")" >/dev/null || break
      sleep 0.1
    done
  fi
}

start() {
  local pid
  if pid=$(our_pid); then
    if healthy; then
      echo "local AWS emulator already running: ${URL} (pid ${pid})"
      start_registry && wait_registry || return 1
      [[ ${DATAPLANE} == off ]] || start_dataplane
      return 0
    fi
  fi
  if port_busy; then
    echo "ERROR: port ${PORT} on ${HOST} is in use by a process this project did not start." >&2
    echo "       Stop it, or choose another port: LOCAL_AWS_PORT=<port> make ..." >&2
    return 1
  fi
  mkdir -p "${STATE_DIR}" "${DP_DIR}"
  local health=""
  [[ ${DATAPLANE} == off ]] || health=$(realpath -m "${DP_DIR}/health.json")
  # A new emulator holds nothing, so neither does its registry: images a killed emulator left go,
  # with a registry it left running.
  stop_registry >/dev/null
  rm -rf "${REG_DIR}/data"
  start_registry # started beside the emulator, waited for after it
  MOTO_IAM_LOAD_MANAGED_POLICIES=true LOCAL_AWS_HEALTH_FILE=${health} LOCAL_AWS_REGISTRY=${REGISTRY} \
    LOCAL_AWS_REGISTRY_DIR=$(realpath -m "${REG_DIR}") \
    nohup "${PY}" -m localaws.emulator -H "${HOST}" -p "${PORT}" \
    >"${LOG_FILE}" 2>&1 </dev/null &
  echo $! >"${PID_FILE}"
  # Up to 2 minutes: importing moto takes seconds on an idle machine, much longer on a loaded one;
  # the wait ends as soon as the emulator answers (or exits).
  if ! wait_started "emulator" "${PID_FILE}" "${LOG_FILE}" healthy 600 0.2 || ! wait_registry; then
    stop
    return 1
  fi
  echo "local AWS emulator started: ${URL} (pid $(<"${PID_FILE}"), log ${LOG_FILE})"
  [[ -z ${LOCAL_AWS_LATENCY:-} ]] || echo "latency profile (emulator fix 17): ${LOCAL_AWS_LATENCY}, time scale ${LOCAL_AWS_TIME_SCALE:-1}"
  [[ ${DATAPLANE} == off ]] || start_dataplane
}

stop() {
  local pid
  stop_dataplane
  stop_registry
  # The emulator's state ends with it (moto keeps it in memory), and so do its registry's images.
  rm -rf "${REG_DIR}/data"
  if pid=$(our_pid); then
    terminate "${pid}" 50
    echo "local AWS emulator stopped (pid ${pid})"
  else
    echo "local AWS emulator not running on port ${PORT}"
  fi
  rm -f "${PID_FILE}"
}

status() {
  local pid
  if pid=$(our_pid) && healthy; then
    echo "emulator: running: ${URL} (pid ${pid})"
    "${PY}" -m localaws.ctl --state-dir "${DP_DIR}" status || true
  else
    echo "not running on port ${PORT}"
    return 3
  fi
}

case "${1:-}" in
  start) start ;;
  stop) stop ;;
  status) status ;;
  env) echo "export AWS_ENDPOINT_URL=${URL}" ;;
  urls) "${PY}" -m localaws.ctl --state-dir "${DP_DIR}" urls ;;
  freeze-az | thaw-az) "${PY}" -m localaws.ctl --state-dir "${DP_DIR}" "$1" "${2:?usage: $0 $1 AZ}" ;;
  *) echo "usage: $0 start|stop|status|env|urls|freeze-az AZ|thaw-az AZ" >&2; exit 2 ;;
esac
