#!/usr/bin/env bash
# Start, stop or inspect the local AWS emulator (moto in server mode).
#
#   scripts/local-aws.sh start|stop|status|env
#
# LOCAL_AWS_PORT (default 5555) picks the port; state (pid file, log) lives in
# .state/local-aws-<port>/. `start` is idempotent: a healthy emulator started by this
# project on that port is reused; a port held by anything else is refused.
set -euo pipefail

cd "$(dirname "$0")/.."
VENV=${VENV:-.venv}
PORT=${LOCAL_AWS_PORT:-5555}
HOST=127.0.0.1
STATE_DIR=.state/local-aws-${PORT}
PID_FILE=${STATE_DIR}/moto.pid
LOG_FILE=${STATE_DIR}/moto.log
URL="http://${HOST}:${PORT}"

healthy() {
  # moto serves its dashboard at /moto-api/ (cheap, unlike data.json, which dumps every
  # resource); anything else on the port does not answer with it.
  curl -fsS --max-time 5 "${URL}/moto-api/" 2>/dev/null | grep -q "<title>Moto"
}

port_busy() {
  (exec 3<>"/dev/tcp/${HOST}/${PORT}") 2>/dev/null
}

our_pid() {
  [[ -f ${PID_FILE} ]] || return 1
  local pid
  pid=$(<"${PID_FILE}")
  [[ -n ${pid} ]] && kill -0 "${pid}" 2>/dev/null && echo "${pid}"
}

start() {
  local pid
  if pid=$(our_pid); then
    if healthy; then
      echo "local AWS emulator already running: ${URL} (pid ${pid})"
      return 0
    fi
  fi
  if port_busy; then
    echo "ERROR: port ${PORT} on ${HOST} is in use by a process this project did not start." >&2
    echo "       Stop it, or choose another port: LOCAL_AWS_PORT=<port> make ..." >&2
    return 1
  fi
  mkdir -p "${STATE_DIR}"
  MOTO_IAM_LOAD_MANAGED_POLICIES=true nohup "${VENV}/bin/moto_server" -H "${HOST}" -p "${PORT}" \
    >"${LOG_FILE}" 2>&1 </dev/null &
  echo $! >"${PID_FILE}"
  for _ in $(seq 1 100); do
    if healthy; then
      echo "local AWS emulator started: ${URL} (pid $(<"${PID_FILE}"), log ${LOG_FILE})"
      return 0
    fi
    if ! kill -0 "$(<"${PID_FILE}")" 2>/dev/null; then
      echo "ERROR: the emulator exited at start; see ${LOG_FILE}:" >&2
      tail -n 20 "${LOG_FILE}" >&2
      rm -f "${PID_FILE}"
      return 1
    fi
    sleep 0.2
  done
  echo "ERROR: the emulator did not answer on ${URL} within 20 s; see ${LOG_FILE}" >&2
  stop
  return 1
}

stop() {
  local pid
  if pid=$(our_pid); then
    kill "${pid}"
    for _ in $(seq 1 50); do
      kill -0 "${pid}" 2>/dev/null || break
      sleep 0.1
    done
    kill -9 "${pid}" 2>/dev/null || true
    echo "local AWS emulator stopped (pid ${pid})"
  else
    echo "local AWS emulator not running on port ${PORT}"
  fi
  rm -f "${PID_FILE}"
}

status() {
  local pid
  if pid=$(our_pid) && healthy; then
    echo "running: ${URL} (pid ${pid})"
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
  *) echo "usage: $0 start|stop|status|env" >&2; exit 2 ;;
esac
