"""Fixtures for the foundation tests: a real moto server and ansible-playbook runs."""

from __future__ import annotations

import os
import re
import subprocess
from dataclasses import dataclass
from pathlib import Path

import boto3
import pytest

ROOT = Path(__file__).resolve().parents[2]
VENV_BIN = ROOT / os.environ.get("VENV", ".venv") / "bin"
ALLOWED_DEPRECATIONS = [
    re.compile(line)
    for line in (ROOT / "tests/allowed-deprecations.txt").read_text().splitlines()
    if line.strip() and not line.startswith("#")
]
RECAP = re.compile(r"^localhost\s+:\s+ok=(\d+)\s+changed=(\d+)\s+unreachable=(\d+)\s+failed=(\d+)", re.M)
# A closed port: any AWS call made against it fails with "connection refused".
NO_AWS = "http://127.0.0.1:9"


@dataclass
class PlaybookRun:
    rc: int
    output: str

    @property
    def changed(self) -> int:
        found = RECAP.findall(self.output)
        assert found, f"no PLAY RECAP in output:\n{self.output[-3000:]}"
        return sum(int(counts[1]) for counts in found)

    @property
    def deprecations(self) -> list[str]:
        """Deprecation warnings printed by the run, except those in tests/allowed-deprecations.txt."""
        return [
            line
            for line in self.output.splitlines()
            if "[DEPRECATION WARNING]" in line and not any(allowed.search(line) for allowed in ALLOWED_DEPRECATIONS)
        ]


@pytest.fixture(scope="session")
def endpoint() -> str:
    url = os.environ.get("AWS_ENDPOINT_URL")
    if not url:
        pytest.fail("AWS_ENDPOINT_URL must point at the local emulator (scripts/test-foundation.sh sets it)")
    return url


def run_playbook(*args: str, endpoint: str, config: Path | None = None, timeout: int = 600) -> PlaybookRun:
    env = dict(os.environ)
    env.update(
        AWS_ENDPOINT_URL=endpoint,
        ANSIBLE_CONFIG=str(config or ROOT / "ansible.cfg"),
        ANSIBLE_FORCE_COLOR="0",
        ANSIBLE_NOCOLOR="1",
        PATH=f"{VENV_BIN}:{env['PATH']}",
    )
    proc = subprocess.run(
        [str(VENV_BIN / "ansible-playbook"), "-i", str(ROOT / "inventories/local"), *args],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )
    return PlaybookRun(proc.returncode, proc.stdout + proc.stderr)


def aws_client(service: str, endpoint: str):
    """A boto3 client of the emulator."""
    return boto3.client(
        service,
        endpoint_url=endpoint,
        region_name="eu-north-1",
        aws_access_key_id="testing",
        aws_secret_access_key="testing",  # noqa: S106 - the emulator's dummy credentials
    )


@pytest.fixture(scope="session")
def ec2(endpoint):
    return aws_client("ec2", endpoint)
