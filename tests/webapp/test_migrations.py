"""Alembic migrations: upgrade in place, several processes migrating one database at once, and who
migrates: gunicorn's master once per start, never the app factory or the workers."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import time

import sqlalchemy as sa
from alembic import command
from conftest import SRC, gunicorn, http_get, reset_database

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
    assert tables(database_url) == SCHEMA  # one schema: every table once, nothing half made
    engine = sa.create_engine(database_url)
    try:
        with engine.connect() as conn:
            assert conn.execute(sa.text("SELECT version_num FROM alembic_version")).scalars().all() == ["0002"]
    finally:
        engine.dispose()


SCHEMA = {"alembic_version", "attachments", "tasks"}


def tables(database_url: str) -> set[str]:
    engine = sa.create_engine(database_url)
    try:
        return set(sa.inspect(engine).get_table_names())
    finally:
        engine.dispose()


def test_the_app_factory_does_not_migrate(make_app, database_url):
    """create_app runs in every gunicorn worker: it must not touch the schema."""
    client = make_app(database_url, migrate=False).test_client()
    assert client.get("/health").status_code == 200
    assert client.get("/instance").status_code == 200
    assert tables(database_url) == set()


def test_gunicorn_master_migrates_once_and_workers_never(database_url, tmp_path):
    """The shipped gunicorn config migrates in the master before it forks; the workers do not.

    After the start the tables are dropped behind gunicorn's back and a HUP makes the master replace
    every worker (without running on_starting again): the new workers serve, and nothing recreated
    the schema. Workers that migrated would have (they did before: create_app upgraded)."""
    started: list = []
    with gunicorn(tmp_path, {"DATABASE_URL": database_url}, workers=2, started=started) as base:
        master, log_path = started
        assert tables(database_url) == SCHEMA
        log = log_path.read_text()
        assert re.findall(r"\[(\d+)\] \[INFO\] database schema: (.*)", log) == [
            (str(master.pid), "upgraded from None")
        ], log
        # /health answered: one worker is up; the second may still be forking on a busy machine
        old_workers = booted_workers(log_path, set())

        reset_database(database_url)
        assert tables(database_url) == set()
        master.send_signal(signal.SIGHUP)
        booted_workers(log_path, old_workers)
        log = log_path.read_text()
        for _attempt in range(20):  # each new worker loads the app (create_app) and answers
            assert http_get(base + "/health")[0] == 200
        assert tables(database_url) == set()
        assert log.count("database schema") == 1, log


def booted_workers(log_path, old_workers: set[str], count: int = 2, timeout: float = 60) -> set[str]:
    """Wait until ``count`` workers not in ``old_workers`` have booted and no old worker lives."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        log = log_path.read_text()
        workers = set(re.findall(r"Booting worker with pid: (\d+)", log)) - old_workers
        if len(workers) >= count and not any(alive(pid) for pid in old_workers):
            assert len(workers) == count, log  # never more workers than asked for
            return workers
        time.sleep(0.1)
    raise AssertionError(f"gunicorn did not boot {count} workers within {timeout:.0f} s:\n{log}")


def alive(pid: str) -> bool:
    try:
        os.kill(int(pid), 0)
    except ProcessLookupError:
        return False
    return True


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
