"""Fixtures for the web app tests.

Databases: every test using ``app``/``client`` runs against SQLite and, when
TASKMANAGER_TEST_MARIADB_URL is set (scripts/test-webapp.sh always sets it), against a real MariaDB.
Nothing here talks to 169.254.169.254: TASKMANAGER_IMDS=off unless a test points
TASKMANAGER_IMDS_URL at its own loopback stand-in.
"""

from __future__ import annotations

import contextlib
import os
import re
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path
from typing import NamedTuple

import pytest
import sqlalchemy as sa
from servers import stop

REPO = Path(__file__).resolve().parents[2]
SRC = REPO / "webapp" / "src"
GUNICORN_CONF = REPO / "webapp" / "deploy" / "gunicorn.conf.py"
BIN = Path(sys.executable).parent
MARIADB_ENV = "TASKMANAGER_TEST_MARIADB_URL"
# The web app's allocation (team contract); WEBAPP_TEST_PORTS=first-last moves it (shared machines).
_FIRST, _LAST = (int(n) for n in os.environ.get("WEBAPP_TEST_PORTS", "18000-18099").split("-"))
PORTS = range(_FIRST, _LAST + 1)

sys.path.insert(0, str(SRC))

ISOLATED_VARS = (
    "DATABASE_URL",
    "DATABASE_PASSWORD",
    "SECRET_KEY",
    "ECS_CONTAINER_METADATA_URI_V4",
    "TASKMANAGER_ENV",
    "TASKMANAGER_INSTANCE_ID",
    "TASKMANAGER_AZ",
    "TASKMANAGER_IMDS_URL",
    "TASKMANAGER_S3_BUCKET",
    "TASKMANAGER_LANG",
    "TASKMANAGER_DATA_DIR",
    "PORT",
)


@pytest.fixture(autouse=True)
def _isolated_env(monkeypatch):
    for name in ISOLATED_VARS:
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("TASKMANAGER_IMDS", "off")


def free_port() -> int:
    for port in PORTS:
        with socket.socket() as sock:
            try:
                sock.bind(("127.0.0.1", port))
            except OSError:
                continue
            return port
    raise RuntimeError(f"no free port in {PORTS.start}-{PORTS.stop - 1} (WEBAPP_TEST_PORTS)")


def reset_database(url: str) -> None:
    engine = sa.create_engine(url)
    try:
        meta = sa.MetaData()
        meta.reflect(engine)
        meta.drop_all(engine)
    finally:
        engine.dispose()


def mariadb_url() -> str | None:
    return os.environ.get(MARIADB_ENV) or None


@pytest.fixture(params=["sqlite", "mariadb"])
def database_url(request, tmp_path):
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'test.db'}"
    url = mariadb_url()
    if not url:
        pytest.skip(f"{MARIADB_ENV} not set (scripts/test-webapp.sh starts MariaDB and sets it)")
    reset_database(url)
    return url


@pytest.fixture
def make_app(tmp_path):
    from taskmanager_webapp.extensions import db

    apps = []

    def factory(database_url=None, environ=None, migrate=True, **overrides):
        """create_app does not migrate (gunicorn's master does, once): ``migrate`` does it here."""
        from taskmanager_webapp import create_app, dbmigrate

        config = {
            "TASKMANAGER_ENV": "testing",
            "SECRET_KEY": "test-secret",
            "DATA_DIR": tmp_path,
            "DATABASE_URL": database_url or f"sqlite:///{tmp_path / 'test.db'}",
            **overrides,
        }
        app = create_app(config, environ={"TASKMANAGER_IMDS": "off", **(environ or {})})
        apps.append(app)
        if migrate:
            with app.app_context():
                dbmigrate.upgrade(db.engine)
        return app

    yield factory
    for app in apps:
        with app.app_context():
            db.session.remove()
            db.engine.dispose()


@pytest.fixture
def app(make_app, database_url):
    return make_app(database_url)


@pytest.fixture
def client(app):
    return app.test_client()


@pytest.fixture
def delete_midrequest(app, monkeypatch):
    """``arm(name)`` wraps ``services.<name>`` (get_task, create_task, update_task: each returns a Task)
    so that, once, right after it returns, the task's row is deleted on a separate connection, as a
    second gunicorn worker would do in the middle of this request. ``expire=True`` first ends the
    read snapshot and expires the object, so its next use must reload the vanished row. Schemathesis found these races:
    PATCH answered 500 when the row vanished before the UPDATE, and again when it vanished after it."""
    from taskmanager_webapp import services
    from taskmanager_webapp.extensions import db

    class Race:
        def __init__(self):
            self.deleted: list[int] = []

        def arm(self, name: str, expire: bool = False):
            real = getattr(services, name)

            def then_lose(*args, **kwargs):
                task = real(*args, **kwargs)
                if task is not None:
                    (task_id,) = sa.inspect(task).identity  # not task.id: that would reload an expired row
                    if expire:
                        db.session.commit()  # end the read snapshot (MariaDB's REPEATABLE READ keeps the row)
                        db.session.expire(task)
                    with db.engine.begin() as other:
                        other.execute(sa.text("DELETE FROM tasks WHERE id = :id"), {"id": task_id})
                    self.deleted.append(task_id)
                    monkeypatch.setattr(services, name, real)
                return task

            monkeypatch.setattr(services, name, then_lose)

    return Race()


def csrf_token(client, path: str = "/tasks/new") -> str:
    page = client.get(path).get_data(as_text=True)
    match = re.search(r'name="csrf_token" value="([^"]+)"', page)
    assert match, "no CSRF token on " + path
    return match.group(1)


class Answer(NamedTuple):
    status: int
    headers: dict
    body: str


def http_answer(url: str, headers: dict | None = None, timeout: float = 5.0) -> Answer:
    """GET a loopback URL; HTTP errors are answers too."""
    assert url.startswith("http://127.0.0.1:"), url
    request = urllib.request.Request(url, headers=headers or {})  # noqa: S310 - loopback http only
    try:
        with urllib.request.urlopen(request, timeout=timeout) as response:  # noqa: S310
            return Answer(response.status, dict(response.headers), response.read().decode())
    except urllib.error.HTTPError as exc:
        return Answer(exc.code, dict(exc.headers), exc.read().decode())


def http_get(url: str, headers: dict | None = None, timeout: float = 5.0) -> tuple[int, str]:
    """GET a loopback URL; returns (status, body)."""
    answer = http_answer(url, headers, timeout)
    return answer.status, answer.body


def wait_http(url: str, timeout: float = 30.0, proc: subprocess.Popen | None = None) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc is not None and proc.poll() is not None:
            raise RuntimeError(f"server exited with {proc.returncode}")
        try:
            if http_get(url, timeout=2)[0] == 200:
                return
        except (urllib.error.URLError, OSError):
            pass
        time.sleep(0.2)
    raise TimeoutError(f"{url} did not answer within {timeout}s")


@contextlib.contextmanager
def gunicorn(tmp_path: Path, extra_env: dict | None = None, workers: int = 2, started: list | None = None):
    """The production gunicorn config on a loopback port; stopped by PID. ``started`` receives the
    process and its log file."""
    port = free_port()
    env = {
        "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
        "PYTHONPATH": str(SRC),
        "TASKMANAGER_BIND": f"127.0.0.1:{port}",
        "TASKMANAGER_DATA_DIR": str(tmp_path),
        "TASKMANAGER_IMDS": "off",
        "WEB_CONCURRENCY": str(workers),
        "GUNICORN_ACCESS_LOG": "",
        **(extra_env or {}),
    }
    log_path = tmp_path / f"gunicorn-{port}.log"
    with open(log_path, "wb") as log:
        proc = subprocess.Popen(
            [str(BIN / "gunicorn"), "-c", str(GUNICORN_CONF), "taskmanager_webapp.wsgi:app"],
            env=env,
            stdout=log,
            stderr=subprocess.STDOUT,
            cwd=tmp_path,
        )
    if started is not None:
        started.extend((proc, log_path))
    base = f"http://127.0.0.1:{port}"
    try:
        wait_http(base + "/health", proc=proc)
        yield base
    finally:
        stop(proc)
