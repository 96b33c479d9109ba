# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The local AWS emulator of a test, on a port of its own, started and stopped through
``scripts/local-aws.sh`` (moto with this project's fixes, and optionally its data plane), the
way ``make local-aws-start`` starts it. Each suite names its port (an environment variable with
a default), so suites and checkouts run side by side."""

from __future__ import annotations

import json
import os
import subprocess
from dataclasses import dataclass
from pathlib import Path

import boto3

from taskmanager_tests.playbook import REPO, VENV, VENV_BIN, PlaybookRun, run_playbook

REGION = "eu-north-1"
CREDENTIALS = {"AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing"}
# The stack's inventory, and the stack's plus the fleet's (amazon.aws.aws_ec2 on the emulator).
STACK = ("inventories/local",)
FLEET = ("inventories/local", "inventories/local-fleet")


@dataclass
class LocalAWS:
    port: int
    url: str
    state_dir: Path
    env: dict  # the endpoint, region and dummy credentials; what a playbook run needs

    def client(self, service: str):
        return boto3.client(
            service,
            region_name=REGION,
            endpoint_url=self.url,
            aws_access_key_id="testing",
            aws_secret_access_key="testing",  # noqa: S106 - the emulator's dummy credentials
        )

    def script(self, *args: str, timeout: float = 60) -> subprocess.CompletedProcess:
        """``scripts/local-aws.sh ARGS`` for this emulator (start, stop, freeze-az ...)."""
        return subprocess.run(
            [str(REPO / "scripts" / "local-aws.sh"), *args],
            cwd=REPO,
            env=self.env,
            capture_output=True,
            text=True,
            timeout=timeout,
            check=False,
        )

    def stop(self) -> None:
        stopped = self.script("stop")
        assert stopped.returncode == 0, stopped.stdout + stopped.stderr

    def status(self) -> dict:
        """The data plane's status.json (empty when it has none)."""
        try:
            return json.loads((self.state_dir / "dataplane" / "status.json").read_text())
        except (OSError, ValueError):
            return {}

    def playbook(
        self, playbook: str, *args: str, timeout: float = 600, inventories: tuple[str, ...] = STACK, **kwargs
    ) -> PlaybookRun:
        """run_playbook against this emulator, with the stack's inventory unless told otherwise."""
        return run_playbook(playbook, *args, inventories=inventories, env=self.env, timeout=timeout, **kwargs)


def start_local_aws(port: int, dataplane: bool, time_scale: float = 1.0, latency: str = "") -> LocalAWS:
    """A fresh emulator on ``port`` (one left there by an interrupted run is stopped first);
    ``latency``: the emulator's latency profile (LOCAL_AWS_LATENCY, fix 17), off by default."""
    env = dict(
        os.environ,
        VENV=str(VENV),
        LOCAL_AWS_PORT=str(port),
        LOCAL_AWS_DATAPLANE="on" if dataplane else "off",
        LOCAL_AWS_TIME_SCALE=str(time_scale),
        LOCAL_AWS_LATENCY=latency,
        AWS_ENDPOINT_URL=f"http://127.0.0.1:{port}",
        AWS_REGION=REGION,
        AWS_DEFAULT_REGION=REGION,
        ANSIBLE_CONFIG=str(REPO / "ansible.cfg"),
        ANSIBLE_NOCOLOR="1",
        ANSIBLE_FORCE_COLOR="0",
        PATH=f"{VENV_BIN}:{os.environ['PATH']}",
        **CREDENTIALS,
    )
    env.pop("AWS_PROFILE", None)
    local = LocalAWS(port, f"http://127.0.0.1:{port}", REPO / ".state" / f"local-aws-{port}", env)
    local.script("stop")
    started = local.script("start", timeout=180)
    assert started.returncode == 0, started.stdout + started.stderr
    return local
