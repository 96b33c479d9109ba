"""Configuration from the environment: secrets, database URLs, production guards, /health."""

from __future__ import annotations

import subprocess
import sys

import pytest
from conftest import SRC, free_port

from taskmanager_webapp import config, create_app
from taskmanager_webapp.config import ConfigError


def test_production_requires_secret_key(tmp_path):
    with pytest.raises(ConfigError, match="SECRET_KEY is required"):
        create_app(environ={"TASKMANAGER_ENV": "production", "TASKMANAGER_DATA_DIR": str(tmp_path)})


def test_production_wsgi_entry_refuses_to_start_without_secret(tmp_path):
    env = {
        "PYTHONPATH": str(SRC),
        "TASKMANAGER_ENV": "production",
        "TASKMANAGER_DATA_DIR": str(tmp_path),
        "TASKMANAGER_IMDS": "off",
        "PATH": "/usr/bin:/bin",
    }
    result = subprocess.run(
        [sys.executable, "-c", "import taskmanager_webapp.wsgi"],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode != 0
    assert "SECRET_KEY is required" in result.stderr


def test_unknown_environment_is_rejected():
    with pytest.raises(ConfigError, match="TASKMANAGER_ENV"):
        config.load(environ={"TASKMANAGER_ENV": "staging"})


def test_development_server_refused_in_production(tmp_path):
    app = create_app(
        environ={"TASKMANAGER_ENV": "production", "SECRET_KEY": "s", "TASKMANAGER_DATA_DIR": str(tmp_path)}
    )
    assert app.debug is False
    with pytest.raises(RuntimeError, match="refusing to run the development server"):
        app.run(port=free_port())


def test_database_password_from_environment(tmp_path):
    url = config.database_url("mysql://taskmanager@db.example:3306/tm", "s3cr3t/%", tmp_path)
    assert url.startswith("mysql+pymysql://taskmanager:s3cr3t%2F%25@db.example:3306/tm")
    assert "charset=utf8mb4" in url
    # A password already in the URL wins; no user means nothing to add.
    assert ":given@" in config.database_url("mysql+pymysql://u:given@h/db", "other", tmp_path)
    assert config.database_url(None, "x", tmp_path) == f"sqlite:///{tmp_path / 'taskmanager.db'}"


def test_engine_options_per_backend():
    assert config.engine_options("sqlite:///x.db") == {"connect_args": {"timeout": 15}}
    assert config.engine_options("mysql+pymysql://u@h/d")["pool_pre_ping"] is True


def test_health_ok(client):
    response = client.get("/health")
    assert response.status_code == 200
    assert response.get_json() == {"status": "ok", "database": "ok"}


def test_health_503_when_database_is_down(make_app):
    closed = free_port()
    app = make_app(f"mysql+pymysql://nobody@127.0.0.1:{closed}/none", migrate=False)
    response = app.test_client().get("/health")
    assert response.status_code == 503
    assert response.get_json()["database"] == "unavailable"
    # /instance does not depend on the database.
    assert app.test_client().get("/instance").status_code == 200
