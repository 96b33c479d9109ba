"""Fixtures for the AWX tests: the local emulator of scripts/test-awx.sh, a fresh clone of the
committed project laid out as AWX lays out a job, and a stand-in for the load balancer."""

from __future__ import annotations

import itertools
import json
import os
import subprocess
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
VENV_BIN = ROOT / os.environ.get("VENV", ".venv") / "bin"


@pytest.fixture(scope="session")
def endpoint() -> str:
    url = os.environ.get("AWS_ENDPOINT_URL")
    if not url:
        pytest.fail("AWS_ENDPOINT_URL must point at the local emulator (scripts/test-awx.sh sets it)")
    return url


def run(cmd: list[str], cwd: Path, env: dict | None = None, timeout: int = 300) -> subprocess.CompletedProcess:
    full_env = dict(os.environ, PATH=f"{VENV_BIN}:{os.environ['PATH']}", ANSIBLE_NOCOLOR="1", **(env or {}))
    proc = subprocess.run(cmd, cwd=cwd, env=full_env, capture_output=True, text=True, timeout=timeout, check=False)
    assert proc.returncode == 0, (
        f"{' '.join(cmd)} failed ({proc.returncode}):\n{proc.stdout[-4000:]}\n{proc.stderr[-4000:]}"
    )
    return proc


def render_awx_config(project: Path, out: Path) -> dict:
    """What playbooks/awx_configure.yml would send to AWX, rendered offline to JSON."""
    run(
        [
            "ansible-playbook",
            "playbooks/awx_configure.yml",
            "-e",
            "awx_configure_render_only=true",
            "-e",
            f"awx_configure_render_file={out}",
        ],
        cwd=project,
        env={"ANSIBLE_CONFIG": str(project / "ansible.cfg")},
    )
    return json.loads(out.read_text())


@pytest.fixture(scope="session")
def job_dir(tmp_path_factory) -> Path:
    """A job's private data dir as AWX builds it: project/ is a clone of the committed HEAD (no
    .build/, no venv link), requirements_collections/ what project sync installed from
    collections/requirements.yml, offline (amazon.aws and community.aws are satisfied by the
    ones installed beside ansible-core, as in an execution environment that has them)."""
    pdd = tmp_path_factory.mktemp("awx-job")
    project = pdd / "project"
    run(["git", "clone", "--quiet", str(ROOT), str(project)], cwd=pdd)
    assert not (project / ".build").exists() and not (project / ".venv").exists()
    collections = pdd / "requirements_collections"
    run(
        [
            "ansible-galaxy",
            "collection",
            "install",
            "-r",
            "collections/requirements.yml",
            "-p",
            str(collections),
            "--offline",
        ],
        cwd=project,
        env={"ANSIBLE_COLLECTIONS_PATH": str(collections), "ANSIBLE_CONFIG": str(project / "ansible.cfg")},
    )
    manifest = json.loads((collections / "ansible_collections/taskmanager/aws/MANIFEST.json").read_text())
    assert manifest["collection_info"]["name"] == "aws"
    return pdd


class _StandIn(BaseHTTPRequestHandler):
    """Answers /instance like the web app behind a load balancer, round robin over two IDs."""

    ids = itertools.cycle(["i-0standin0000000a", "i-0standin0000000b"])
    lock = threading.Lock()

    def do_GET(self):  # noqa: N802 - http.server's name
        with self.lock:
            instance = next(self.ids)
        body = json.dumps({"instance_id": instance, "availability_zone": "eu-north-1a"}).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args):
        pass


@pytest.fixture(scope="session")
def stand_in_url():
    server = ThreadingHTTPServer(("127.0.0.1", 0), _StandIn)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}/instance"
    server.shutdown()
    server.server_close()
    thread.join(timeout=5)
