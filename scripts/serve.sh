#!/usr/bin/env bash
# `make serve`: run the web app locally under gunicorn with the production gunicorn settings.
# Environment: PORT (8000), DATABASE_URL (SQLite in ./instance by default), TASKMANAGER_INSTANCE_ID,
# TASKMANAGER_AZ (stand-in identity for /instance), WEB_CONCURRENCY, SECRET_KEY (random if unset,
# outside production). Local processes standing in for instances and the tests use this entry point.
set -euo pipefail
cd "$(dirname "$0")/.."
VENV="${VENV:-.venv}"
export PYTHONPATH="$PWD/webapp/src${PYTHONPATH:+:$PYTHONPATH}"
export TASKMANAGER_DATA_DIR="${TASKMANAGER_DATA_DIR:-$PWD/instance}"
# Locally there is no metadata service: never probe 169.254.169.254 unless asked to.
export TASKMANAGER_IMDS="${TASKMANAGER_IMDS:-off}"
exec "$VENV/bin/gunicorn" -c webapp/deploy/gunicorn.conf.py "$@" taskmanager_webapp.wsgi:app
