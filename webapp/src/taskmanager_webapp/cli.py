"""``taskmanager-webapp``: operational commands for the installed package.

migrate      bring the database schema to head (locked; safe to run on many instances at once).
             gunicorn's master does the same before it forks the workers (deploy/gunicorn.conf.py).
deploy-dir   print the folder with gunicorn.conf.py, the nginx site and the systemd unit
devserver    migrate, then Flask's development server (refused with TASKMANAGER_ENV=production)
"""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path


def deploy_dir() -> Path:
    installed = Path(__file__).resolve().parent / "deploy"
    if installed.is_dir():
        return installed
    return Path(__file__).resolve().parents[2] / "deploy"  # source checkout: webapp/deploy


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="taskmanager-webapp", description=__doc__.split("\n", maxsplit=1)[0])
    sub = parser.add_subparsers(dest="command", required=True)
    sub.add_parser("migrate", help="upgrade the database schema to head")
    sub.add_parser("deploy-dir", help="print the folder of the deployment files")
    dev = sub.add_parser("devserver", help="run the development server")
    dev.add_argument("--host", default="127.0.0.1")
    dev.add_argument("--port", type=int, default=int(os.environ.get("PORT", "5000")))
    args = parser.parse_args(argv)

    if args.command == "deploy-dir":
        print(deploy_dir())
        return 0

    from . import create_app, dbmigrate
    from .config import ConfigError

    try:
        if args.command == "migrate":
            print(f"database schema: {dbmigrate.upgrade_database()}", flush=True)
            return 0
        app = create_app()
        if app.config["TASKMANAGER_ENV"] != "production":  # production: app.run refuses, nothing to migrate
            print(f"database schema: {dbmigrate.upgrade_database()}", flush=True)
        app.run(host=args.host, port=args.port)
    except (ConfigError, RuntimeError) as exc:
        print(f"taskmanager-webapp: {exc}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
