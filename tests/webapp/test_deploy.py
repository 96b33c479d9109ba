"""Deployment files: the nginx site in front of gunicorn, the container health check command, the
systemd unit, and the wheel (templates, migrations and deploy files inside, app starts from it)."""

from __future__ import annotations

import configparser
import contextlib
import json
import re
import shutil
import subprocess
import sys
import time
import zipfile

from conftest import BIN, REPO, free_port, gunicorn, http_answer, wait_http
from servers import nginx_in_front

DEPLOY = REPO / "webapp" / "deploy"


def test_nginx_site_proxies_to_gunicorn(tmp_path):
    with contextlib.ExitStack() as app:
        base = app.enter_context(gunicorn(tmp_path, {"TASKMANAGER_INSTANCE_ID": "i-behind-nginx"}, workers=1))
        port = free_port()
        with nginx_in_front(tmp_path / "nginx", int(base.rsplit(":", 1)[1]), port) as proc:
            front = f"http://127.0.0.1:{port}"
            wait_http(front + "/health", proc=proc)
            health = http_answer(front + "/health")
            assert (health.status, json.loads(health.body)["database"]) == (200, "ok")
            assert health.headers["Cache-Control"] == "no-store" and "X-Cache-Status" not in health.headers
            tasks = http_answer(front + "/api/tasks")
            assert tasks.status == 200 and json.loads(tasks.body)["total"] == 0
            assert "X-Cache-Status" not in tasks.headers  # only /instance is cached

            # /instance: a one-second micro-cache, one variant per Accept (the app sends Vary: Accept).
            text = [http_answer(front + "/instance") for _attempt in range(3)]
            assert {r.body for r in text} == {"Du er koblet til instans: i-behind-nginx\n"}
            assert text[0].headers["X-Cache-Status"] in ("MISS", "EXPIRED")
            assert text[-1].headers["X-Cache-Status"] == "HIT"
            assert text[-1].headers["X-Content-Type-Options"] == "nosniff"  # app headers kept in the cache
            as_json = [http_answer(front + "/instance", {"Accept": "application/json"}) for _attempt in range(2)]
            assert [json.loads(r.body)["instance_id"] for r in as_json] == ["i-behind-nginx"] * 2
            assert as_json[-1].headers["X-Cache-Status"] == "HIT"

            # The cache does not hide a dead app for longer than its second.
            app.close()
            time.sleep(1.5)
            assert http_answer(front + "/instance").status == 502
            assert http_answer(front + "/health").status == 502


def test_container_healthcheck_command(tmp_path):
    dockerfile = (DEPLOY / "Dockerfile").read_text()
    assert re.search(r"^FROM python:3\.11-slim$", dockerfile, re.M)
    user_line = dockerfile.index("\nUSER taskmanager")
    assert user_line < dockerfile.index("\nCMD ")
    # The build context: the wheel and webapp/requirements.txt (nothing else).
    sources = re.findall(r"^COPY (\S+)", dockerfile, re.M)
    assert sources == ["requirements.txt", "taskmanager_webapp-*.whl"], sources
    assert (REPO / "webapp" / "requirements.txt").exists()
    command = json.loads(re.search(r"HEALTHCHECK .*?CMD (\[.*?\])\n", dockerfile, re.S).group(1).replace("\\\n", ""))
    assert command[:2] == ["python", "-c"]
    with gunicorn(tmp_path, workers=1) as base:
        probe = command[2].replace("127.0.0.1:8000", base.removeprefix("http://"))
        assert subprocess.run([sys.executable, "-c", probe], timeout=120, check=False).returncode == 0
    down = command[2].replace("127.0.0.1:8000", f"127.0.0.1:{free_port()}")
    assert subprocess.run([sys.executable, "-c", down], capture_output=True, timeout=120, check=False).returncode != 0


def test_systemd_unit():
    unit = configparser.ConfigParser(strict=False, interpolation=None)
    unit.optionxform = str
    unit.read(DEPLOY / "taskmanager.service")
    service = unit["Service"]
    assert service["User"] not in ("", "root")
    assert service["EnvironmentFile"] == "/etc/taskmanager/taskmanager.env"
    assert service["Restart"] == "on-failure"
    # No migrate step of its own: gunicorn's master migrates before it forks (gunicorn.conf.py), as in ECS.
    assert "ExecStartPre" not in service
    assert service["ExecStart"].startswith("/opt/taskmanager/venv/bin/gunicorn -c /etc/taskmanager/gunicorn.conf.py ")
    assert service["ExecStart"].endswith(" taskmanager_webapp.wsgi:app")
    assert unit["Install"]["WantedBy"] == "multi-user.target"
    if shutil.which("systemd-analyze"):
        # Only syntax: the executables live on the instance, not here.
        result = subprocess.run(
            ["systemd-analyze", "verify", "--man=no", str(DEPLOY / "taskmanager.service")],
            capture_output=True,
            text=True,
            timeout=60,
            check=False,
        )
        unknown = [line for line in result.stderr.splitlines() if "Unknown" in line or "Invalid" in line]
        assert unknown == []


def test_gunicorn_config_values(monkeypatch):
    import multiprocessing

    for name in ("TASKMANAGER_BIND", "PORT", "WEB_CONCURRENCY", "GUNICORN_ACCESS_LOG"):
        monkeypatch.delenv(name, raising=False)
    settings: dict = {}
    exec(compile((DEPLOY / "gunicorn.conf.py").read_text(), "gunicorn.conf.py", "exec"), settings)  # noqa: S102
    assert settings["bind"] == "127.0.0.1:8000"
    assert settings["workers"] == multiprocessing.cpu_count() * 2 + 1
    assert settings["accesslog"] == "-"
    assert 0 < settings["timeout"] <= 60
    assert settings["forwarded_allow_ips"] == "127.0.0.1"


def test_wheel_contents_and_app_from_wheel(tmp_path):
    src = tmp_path / "src"
    src.mkdir()
    for name in ("pyproject.toml", "README.md"):
        shutil.copy(REPO / "webapp" / name, src / name)
    for name in ("src", "deploy"):
        shutil.copytree(REPO / "webapp" / name, src / name, ignore=shutil.ignore_patterns("__pycache__"))
    subprocess.run(
        [str(BIN / "pip"), "wheel", "-q", "--no-deps", "--no-build-isolation", "-w", str(tmp_path / "dist"), str(src)],
        check=True,
        capture_output=True,
        timeout=120,
    )
    (wheel,) = (tmp_path / "dist").glob("taskmanager_webapp-*-py3-none-any.whl")
    site = tmp_path / "site"
    zipfile.ZipFile(wheel).extractall(site)
    meta = next(site.glob("taskmanager_webapp-*.dist-info"))
    assert "taskmanager-webapp = taskmanager_webapp.cli:main" in (meta / "entry_points.txt").read_text()
    code = (
        "from taskmanager_webapp import create_app\n"
        "from taskmanager_webapp.cli import deploy_dir, main\n"
        "assert main(['migrate']) == 0\n"  # the migrations ship in the wheel
        "app = create_app({'SECRET_KEY': 'k'})\n"
        "c = app.test_client()\n"
        "assert c.get('/health').status_code == 200\n"
        "assert c.get('/').status_code == 200\n"
        "assert c.get('/static/style.css').status_code == 200\n"
        "print(deploy_dir())\n"
    )
    env = {"PYTHONPATH": str(site), "TASKMANAGER_DATA_DIR": str(tmp_path / "data"), "TASKMANAGER_IMDS": "off"}
    result = subprocess.run(
        [sys.executable, "-c", code], env=env, capture_output=True, text=True, timeout=60, cwd=tmp_path, check=False
    )
    assert result.returncode == 0, result.stderr[-2000:]
    deploy = result.stdout.strip().splitlines()[-1]
    assert deploy == str(site / "taskmanager_webapp" / "deploy")
    for name in ("gunicorn.conf.py", "nginx-taskmanager.conf", "taskmanager.service", "Dockerfile"):
        assert (site / "taskmanager_webapp" / "deploy" / name).is_file()
