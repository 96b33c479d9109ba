# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Fixtures of the stress tests: run playbooks from the repository root, a private state
directory per test (so a test never touches another load), and a private moto on port 5014."""

import json
import os
import re
import signal
import socket
import subprocess
import tempfile
import time
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
VENV = (REPO / os.environ.get("VENV", ".venv")).resolve()
INVENTORY = Path(__file__).parent / "inventory.yml"
CTL = REPO / "roles" / "stress" / "files" / "stress_ctl.sh"
MOTO_PORT = int(os.environ.get("STRESS_MOTO_PORT", "5014"))


class Run:
    def __init__(self, completed, seconds):
        self.rc = completed.returncode
        self.out = completed.stdout + completed.stderr
        self.seconds = seconds
        recap = re.search(r"localhost\s+:\s+ok=(\d+)\s+changed=(\d+)\s+unreachable=\d+\s+failed=(\d+)", self.out)
        self.ok, self.changed, self.failed = (int(value) for value in recap.groups()) if recap else (0, 0, 0)


def run_playbook(playbook, extra_vars, inventory=INVENTORY, timeout=120):
    env = dict(os.environ, ANSIBLE_CONFIG=str(REPO / "ansible.cfg"), ANSIBLE_NOCOLOR="1", ANSIBLE_FORCE_COLOR="0")
    command = [str(VENV / "bin" / "ansible-playbook"), "-i", str(inventory), playbook, "-e", json.dumps(extra_vars)]
    started = time.monotonic()
    completed = subprocess.run(command, cwd=REPO, env=env, capture_output=True, text=True, timeout=timeout, check=False)
    return Run(completed, time.monotonic() - started)


@pytest.fixture
def state_dir(tmp_path, request):
    """A private state dir; whatever load is left in it is stopped at the end of the test.
    Under scripts/test-stress.sh it lives in STRESS_TEST_STATE_BASE, which the script cleans up."""
    base = os.environ.get("STRESS_TEST_STATE_BASE")
    directory = Path(base) / re.sub(r"\W", "_", request.node.name) if base else tmp_path / "stress-state"
    yield directory
    subprocess.run([str(CTL), "stop", str(directory)], capture_output=True, timeout=30, check=False)


@pytest.fixture
def stress(state_dir):
    """stress(**vars) runs playbooks/stress.yml on the test inventory with the private state dir."""

    def _run(**extra_vars):
        return run_playbook("playbooks/stress.yml", {"stress_state_dir": str(state_dir), **extra_vars})

    return _run


def _port_open(port):
    with socket.socket() as probe:
        probe.settimeout(0.5)
        return probe.connect_ex(("127.0.0.1", port)) == 0


@pytest.fixture(scope="session")
def moto():
    """A private moto server; yields its endpoint URL and stops it by PID."""
    if _port_open(MOTO_PORT):
        pytest.fail(f"port {MOTO_PORT} is already in use; the stress tests start their own moto there")
    log = open(Path(tempfile.gettempdir()) / f"stress-moto-{MOTO_PORT}.log", "w")  # noqa: SIM115
    server = subprocess.Popen(
        [str(VENV / "bin" / "moto_server"), "-H", "127.0.0.1", "-p", str(MOTO_PORT)],
        stdout=log,
        stderr=subprocess.STDOUT,
        start_new_session=True,
        env=dict(os.environ, MOTO_IAM_LOAD_MANAGED_POLICIES="true"),
    )
    if os.environ.get("STRESS_MOTO_PIDFILE"):
        Path(os.environ["STRESS_MOTO_PIDFILE"]).write_text(str(server.pid))
    try:
        deadline = time.monotonic() + 30
        while not _port_open(MOTO_PORT):
            if time.monotonic() > deadline or server.poll() is not None:
                pytest.fail(f"moto did not start on port {MOTO_PORT}")
            time.sleep(0.2)
        yield f"http://127.0.0.1:{MOTO_PORT}"
    finally:
        os.killpg(server.pid, signal.SIGTERM)
        try:
            server.wait(timeout=10)
        except subprocess.TimeoutExpired:
            os.killpg(server.pid, signal.SIGKILL)
            server.wait(timeout=10)
        log.close()


@pytest.fixture
def playbook():
    """playbook(path, vars, inventory) runs any playbook from the repository root."""
    return run_playbook
