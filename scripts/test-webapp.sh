#!/usr/bin/env bash
# Tests of the web app (webapp/): pytest against SQLite and a real MariaDB, the IMDSv2 / ECS
# metadata stand-ins, headless Chromium, a schemathesis run and the wheel build.
# Starts MariaDB on 127.0.0.1:13306 (WEBAPP_MARIADB_PORT) with its own temporary datadir and stops it
# by PID.
set -euo pipefail
cd "$(dirname "$0")/.."
VENV="${VENV:-.venv}"
PORT_DB="${WEBAPP_MARIADB_PORT:-13306}"
work="$(mktemp -d /tmp/test-webapp.XXXXXX)"
db_pid=""

cleanup() {
    if [[ -n "$db_pid" ]] && kill -0 "$db_pid" 2>/dev/null; then
        kill "$db_pid"
        for _ in $(seq 1 50); do kill -0 "$db_pid" 2>/dev/null || break; sleep 0.2; done
        kill -0 "$db_pid" 2>/dev/null && kill -9 "$db_pid"
    fi
    rm -rf "$work"
}
trap cleanup EXIT

echo "== ruff"
"$VENV/bin/ruff" check --line-length 120 webapp tests/webapp bench/webapp_bench.py

echo "== MariaDB on 127.0.0.1:$PORT_DB"
mariadb-install-db --no-defaults --user="$(id -un)" --datadir="$work/db" --auth-root-authentication-method=socket \
    --skip-test-db >"$work/install.log" 2>&1 || { cat "$work/install.log"; exit 1; }
mariadbd --no-defaults --user="$(id -un)" --datadir="$work/db" --socket="$work/db.sock" --pid-file="$work/db.pid" \
    --port="$PORT_DB" --bind-address=127.0.0.1 --skip-name-resolve --innodb-buffer-pool-size=64M \
    --character-set-server=utf8mb4 --collation-server=utf8mb4_unicode_ci --log-error="$work/db.err" &
db_pid=$!
for _ in $(seq 1 150); do
    mariadb-admin --no-defaults --socket="$work/db.sock" -uroot ping >/dev/null 2>&1 && break
    kill -0 "$db_pid" 2>/dev/null || { cat "$work/db.err"; exit 1; }
    sleep 0.2
done
db_password="$("$VENV/bin/python" -c 'import secrets; print(secrets.token_hex(12))')"
mariadb --no-defaults --socket="$work/db.sock" -uroot <<SQL
CREATE DATABASE taskmanager_test CHARACTER SET utf8mb4 COLLATE utf8mb4_unicode_ci;
CREATE USER 'taskmanager'@'127.0.0.1' IDENTIFIED BY '$db_password';
GRANT ALL PRIVILEGES ON taskmanager_test.* TO 'taskmanager'@'127.0.0.1';
SQL
export TASKMANAGER_TEST_MARIADB_URL="mysql+pymysql://taskmanager:${db_password}@127.0.0.1:${PORT_DB}/taskmanager_test?charset=utf8mb4"

echo "== pytest"
"$VENV/bin/python" -m pytest -p no:cacheprovider -q tests/webapp "$@"

echo "== wheel"
# Into the work folder: the wheel in .build/dist may be in use by a suite running beside this one
# (make test runs two gates at a time), and `make webapp-dist` keeps it up to date.
VENV="$VENV" WEBAPP_DIST="$work/dist" scripts/build-webapp.sh
