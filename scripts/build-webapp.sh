#!/usr/bin/env bash
# Build the taskmanager_webapp wheel into .build/dist/ (uploaded to S3 by the artifacts role).
# Offline-friendly: no build isolation, uses setuptools + wheel from the venv.
set -euo pipefail
cd "$(dirname "$0")/.."
VENV="${VENV:-.venv}"
DIST="${WEBAPP_DIST:-.build/dist}"  # test-webapp.sh builds into a folder of its own
mkdir -p "$DIST"
rm -f "$DIST"/taskmanager_webapp-*.whl
work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT
# Build from a copy so build/ and *.egg-info never land in the source tree.
cp -r webapp/pyproject.toml webapp/README.md webapp/src webapp/deploy "$work"/
find "$work" -name __pycache__ -prune -exec rm -rf {} +
# Reproducible: zip timestamps from the last commit of webapp/, not the clock, so an unchanged app
# gives the same bytes (and the artifacts role uploads nothing new).
SOURCE_DATE_EPOCH=$(git log -1 --format=%ct -- webapp 2>/dev/null || true)
SOURCE_DATE_EPOCH=${SOURCE_DATE_EPOCH:-315532800}
export SOURCE_DATE_EPOCH
PYTHONWARNINGS=ignore "$VENV/bin/pip" wheel --quiet --no-deps --no-build-isolation --wheel-dir "$DIST" "$work"
wheel="$(ls "$DIST"/taskmanager_webapp-*.whl)"
# The wheel must carry what the instances need: templates, static files, migrations, deploy files.
"$VENV/bin/python" - "$wheel" <<'PY'
import sys, zipfile
names = set(zipfile.ZipFile(sys.argv[1]).namelist())
need = [
    "taskmanager_webapp/templates/index.html",
    "taskmanager_webapp/static/style.css",
    "taskmanager_webapp/migrations/env.py",
    "taskmanager_webapp/migrations/alembic.ini",
    "taskmanager_webapp/migrations/versions/0001_create_tasks.py",
    "taskmanager_webapp/deploy/gunicorn.conf.py",
    "taskmanager_webapp/deploy/nginx-taskmanager.conf",
    "taskmanager_webapp/deploy/taskmanager.service",
    "taskmanager_webapp/deploy/Dockerfile",
]
missing = [n for n in need if n not in names]
if missing:
    sys.exit(f"wheel is missing: {missing}")
PY
echo "$wheel"
