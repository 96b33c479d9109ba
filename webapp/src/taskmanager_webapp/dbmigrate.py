"""Schema migrations that several instances may start at the same moment.

Migrations run once per start of an instance or ECS task, before any request is served: gunicorn's
master calls :func:`upgrade_database` before it forks the workers (``on_starting`` in
deploy/gunicorn.conf.py), and ``taskmanager-webapp migrate`` calls it by hand. The app factory and
the workers never migrate. Instances and tasks sharing one database may start at the same moment:
the fast path only reads ``alembic_version``; when the schema is behind, the upgrade runs while
holding a lock that the database itself arbitrates, so a second process waits and then finds the
schema current:

* MySQL / MariaDB: ``GET_LOCK('taskmanager_migrate', timeout)`` on the migrating connection.
* PostgreSQL: ``pg_advisory_lock`` on the migrating connection.
* SQLite: an exclusive ``flock`` on ``<database file>.migrate.lock`` (SQLite has no named locks;
  the file lives beside the database, so every process that can open the database sees it).
"""

from __future__ import annotations

import contextlib
import fcntl
import logging
import time
from pathlib import Path

import sqlalchemy as sa
from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory

LOCK_NAME = "taskmanager_migrate"
PG_LOCK_KEY = 0x7A5C_0001
LOCK_TIMEOUT = 120
MIGRATIONS_DIR = Path(__file__).resolve().parent / "migrations"
log = logging.getLogger(__name__)


class MigrationLockTimeout(RuntimeError):
    pass


def alembic_config(connection=None) -> Config:
    cfg = Config(str(MIGRATIONS_DIR / "alembic.ini"))
    cfg.set_main_option("script_location", str(MIGRATIONS_DIR))
    if connection is not None:
        cfg.attributes["connection"] = connection
    return cfg


def head_revision() -> str:
    return ScriptDirectory.from_config(alembic_config()).get_current_head()


def current_revision(connection) -> str | None:
    return MigrationContext.configure(connection).get_current_revision()


@contextlib.contextmanager
def _sqlite_lock(engine: sa.Engine, timeout: float):
    database = engine.url.database
    if not database or database == ":memory:":
        yield
        return
    path = Path(database).resolve()
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(f"{path}.migrate.lock", "a+") as handle:
        deadline = time.monotonic() + timeout
        while True:
            try:
                fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except BlockingIOError:
                if time.monotonic() > deadline:
                    raise MigrationLockTimeout(f"could not lock {path}.migrate.lock in {timeout}s") from None
                time.sleep(0.05)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


@contextlib.contextmanager
def _server_lock(connection, timeout: int):
    dialect = connection.dialect.name
    if dialect in ("mysql", "mariadb"):
        acquire = sa.select(sa.func.get_lock(LOCK_NAME, timeout))
        release = sa.select(sa.func.release_lock(LOCK_NAME))
    elif dialect == "postgresql":  # blocks until granted; returns void
        acquire = sa.select(sa.func.pg_advisory_lock(PG_LOCK_KEY))
        release = sa.select(sa.func.pg_advisory_unlock(PG_LOCK_KEY))
    else:
        yield
        return
    granted = connection.execute(acquire).scalar()
    connection.commit()
    if dialect != "postgresql" and granted != 1:
        raise MigrationLockTimeout(f"GET_LOCK({LOCK_NAME!r}) not granted within {timeout}s")
    try:
        yield
    finally:
        connection.rollback()
        connection.execute(release)
        connection.commit()


def upgrade_database(overrides: dict | None = None, environ: dict | None = None) -> str:
    """Upgrade the database the app's configuration names (the environment, as create_app reads it)
    on a connection of its own, closed before returning (gunicorn forks the workers afterwards)."""
    from . import config

    settings = config.load(overrides, environ)
    url = settings["SQLALCHEMY_DATABASE_URI"]
    if url.startswith("sqlite:///"):
        settings["DATA_DIR"].mkdir(parents=True, exist_ok=True)
    engine = sa.create_engine(url, **settings["SQLALCHEMY_ENGINE_OPTIONS"])
    try:
        return upgrade(engine)
    finally:
        engine.dispose()


def upgrade(engine: sa.Engine, timeout: int = LOCK_TIMEOUT) -> str:
    """Bring the schema to head. Returns ``"current"`` or ``"upgraded from <rev>"``."""
    head = head_revision()
    with engine.connect() as conn:
        if current_revision(conn) == head:
            return "current"
    file_lock = _sqlite_lock(engine, timeout) if engine.dialect.name == "sqlite" else contextlib.nullcontext()
    with file_lock, engine.connect() as conn, _server_lock(conn, timeout):
        before = current_revision(conn)
        conn.commit()
        if before == head:
            return "current"
        log.info("migrating database schema from %s to %s", before, head)
        command.upgrade(alembic_config(conn), "head")
        conn.commit()
        return f"upgraded from {before}"
