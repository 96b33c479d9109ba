# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Fixtures of the data-plane tests: a private emulator (with or without its data plane) started
through scripts/local-aws.sh, boto3 clients on it, and a playbook runner."""

from __future__ import annotations

import json
import os
import re
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path

import boto3
import pytest

REPO = Path(__file__).resolve().parents[2]
# The stack's inventory, and the stack's plus the fleet's (amazon.aws.aws_ec2 on the emulator).
STACK = ("inventories/local",)
FLEET = ("inventories/local", "inventories/local-fleet")
VENV = (REPO / os.environ.get("VENV", ".venv")).resolve()
REGION = "eu-north-1"
CREDENTIALS = {"AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing"}


@dataclass
class LocalAWS:
    port: int
    url: str
    state_dir: Path
    env: dict

    def client(self, service: str):
        return boto3.client(
            service,
            region_name=REGION,
            endpoint_url=self.url,
            aws_access_key_id="testing",
            aws_secret_access_key="testing",  # noqa: S106 - the emulator's dummy credentials
        )

    def script(self, *args: str, timeout: float = 60) -> subprocess.CompletedProcess:
        return subprocess.run(
            [str(REPO / "scripts" / "local-aws.sh"), *args],
            cwd=REPO,
            env=self.env,
            capture_output=True,
            text=True,
            timeout=timeout,
            check=False,
        )

    def status(self) -> dict:
        try:
            return json.loads((self.state_dir / "dataplane" / "status.json").read_text())
        except (OSError, ValueError):
            return {}

    def playbook(
        self, playbook: str, *extra: str, timeout: float = 600, inventories: tuple[str, ...] = STACK
    ) -> PlaybookRun:
        sources = [arg for inventory in inventories for arg in ("-i", inventory)]
        command = [str(VENV / "bin" / "ansible-playbook"), *sources, playbook, *extra]
        started = time.monotonic()
        done = subprocess.run(
            command, cwd=REPO, env=self.env, capture_output=True, text=True, timeout=timeout, check=False
        )
        return PlaybookRun(done.returncode, done.stdout + done.stderr, time.monotonic() - started)


@dataclass
class PlaybookRun:
    rc: int
    out: str
    seconds: float

    @property
    def changed(self) -> int:
        found = re.search(r"localhost\s+:\s+ok=\d+\s+changed=(\d+)", self.out)
        return int(found.group(1)) if found else -1


def start_local_aws(port: int, dataplane: bool, time_scale: float = 1.0) -> LocalAWS:
    env = dict(
        os.environ,
        VENV=str(VENV),
        LOCAL_AWS_PORT=str(port),
        LOCAL_AWS_DATAPLANE="on" if dataplane else "off",
        LOCAL_AWS_TIME_SCALE=str(time_scale),
        AWS_ENDPOINT_URL=f"http://127.0.0.1:{port}",
        AWS_REGION=REGION,
        AWS_DEFAULT_REGION=REGION,
        ANSIBLE_CONFIG=str(REPO / "ansible.cfg"),
        ANSIBLE_NOCOLOR="1",
        ANSIBLE_FORCE_COLOR="0",
        PATH=f"{VENV / 'bin'}:{os.environ['PATH']}",
        **CREDENTIALS,
    )
    env.pop("AWS_PROFILE", None)
    local = LocalAWS(port, f"http://127.0.0.1:{port}", REPO / ".state" / f"local-aws-{port}", env)
    local.script("stop")
    started = local.script("start", timeout=180)
    assert started.returncode == 0, started.stdout + started.stderr
    return local


@pytest.fixture(scope="module")
def emulator():
    """The emulator alone (its fixes, no data plane), on a port of its own."""
    local = start_local_aws(int(os.environ.get("DATAPLANE_EMULATOR_PORT", "5016")), dataplane=False)
    yield local
    local.script("stop")


ECS_TIME_SCALE = 5.0


@pytest.fixture(scope="session")
def ecs_stack():
    """site.yml's ECS stack (image built and pushed to the data plane's registry, service steady),
    shared by the failover tests and the image tests (tests/dataplane/test_image.py)."""
    local = start_local_aws(
        int(os.environ.get("DATAPLANE_ECS_PORT", "5018")), dataplane=True, time_scale=ECS_TIME_SCALE
    )
    try:
        run = local.playbook("site.yml", "-e", json.dumps({"taskmanager_build_fleet": False}), timeout=1200)
        assert run.rc == 0, run.out[-4000:]
        local.converge = run
        print(f"site.yml (ECS, time scale {ECS_TIME_SCALE:g}) converged in {run.seconds:.1f} s")
        yield local
    finally:
        local.script("stop")
