"""Alembic migrations: upgrade in place, and several processes migrating one database at once."""

from __future__ import annotations

import subprocess
import sys

import sqlalchemy as sa
from alembic import command
from conftest import SRC

from taskmanager_webapp import dbmigrate


def test_existing_database_upgrades_in_place(database_url):
    engine = sa.create_engine(database_url)
    try:
        with engine.connect() as conn:
            command.upgrade(dbmigrate.alembic_config(conn), "0001")
            conn.execute(
                sa.text(
                    "INSERT INTO tasks (title, description, status, created_at, updated_at) "
                    "VALUES ('gammel', '', 'todo', '2026-01-01 00:00:00', '2026-01-01 00:00:00')"
                )
            )
            conn.commit()
            assert dbmigrate.current_revision(conn) == "0001"
        assert dbmigrate.upgrade(engine) == "upgraded from 0001"
        assert dbmigrate.upgrade(engine) == "current"
        inspector = sa.inspect(engine)
        assert {"tasks", "attachments", "alembic_version"} <= set(inspector.get_table_names())
        with engine.connect() as conn:
            assert conn.execute(sa.text("SELECT title FROM tasks")).scalar() == "gammel"
    finally:
        engine.dispose()


def test_concurrent_processes_do_not_race(database_url, tmp_path):
    """Four processes start migrating the same empty database at the same moment."""
    env = {
        "PYTHONPATH": str(SRC),
        "DATABASE_URL": database_url,
        "TASKMANAGER_DATA_DIR": str(tmp_path),
        "TASKMANAGER_IMDS": "off",
        "PATH": "/usr/bin:/bin",
    }
    barrier = tmp_path / "go"
    script = (
        "import pathlib, sys, time\n"
        f"go = pathlib.Path({str(barrier)!r})\n"
        "deadline = time.monotonic() + 30\n"
        "while not go.exists() and time.monotonic() < deadline: time.sleep(0.01)\n"
        "from taskmanager_webapp.cli import main\n"
        "sys.exit(main(['migrate']))\n"
    )
    procs = [
        subprocess.Popen(
            [sys.executable, "-c", script], env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
        )
        for _attempt in range(4)
    ]
    try:
        import time

        time.sleep(1.5)  # let every process import and reach the barrier
        barrier.touch()
        results = [p.communicate(timeout=120) for p in procs]
    finally:
        for p in procs:
            if p.poll() is None:
                p.kill()
    outputs = [out.strip() for out, _err in results]
    assert all(p.returncode == 0 for p in procs), [err[-800:] for _out, err in results]
    assert outputs.count("database schema: upgraded from None") == 1, outputs
    assert outputs.count("database schema: current") == 3, outputs
    engine = sa.create_engine(database_url)
    try:
        with engine.connect() as conn:
            assert conn.execute(sa.text("SELECT version_num FROM alembic_version")).scalars().all() == ["0002"]
    finally:
        engine.dispose()


def test_models_match_migrations(database_url):
    """autogenerate finds nothing to do: the ORM models and the migration scripts agree."""
    from alembic.autogenerate import compare_metadata
    from alembic.runtime.migration import MigrationContext

    from taskmanager_webapp import models  # noqa: F401
    from taskmanager_webapp.extensions import db

    engine = sa.create_engine(database_url)
    try:
        dbmigrate.upgrade(engine)
        with engine.connect() as conn:
            diff = compare_metadata(MigrationContext.configure(conn, opts={"compare_type": True}), db.metadata)
        assert diff == []
    finally:
        engine.dispose()
