# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Fixtures of the stress tests: run playbooks from the repository root, a private state
directory per test (so a test never touches another load), and a private emulator on port 5014 (STRESS_MOTO_PORT)."""

import os
import re
import subprocess
from pathlib import Path

import pytest
from taskmanager_tests.emulator import start_local_aws
from taskmanager_tests.playbook import REPO
from taskmanager_tests.playbook import run_playbook as shared_run_playbook

INVENTORY = Path(__file__).parent / "inventory.yml"
CTL = REPO / "roles" / "stress" / "files" / "stress_ctl.sh"
MOTO_PORT = int(os.environ.get("STRESS_MOTO_PORT", "5014"))


def run_playbook(playbook, extra_vars, inventory=INVENTORY, timeout=120):
    return shared_run_playbook(playbook, inventories=(inventory,), extra_vars=extra_vars, timeout=timeout)


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


@pytest.fixture(scope="session")
def moto():
    """A private emulator without its data plane (scripts/local-aws.sh); yields its endpoint URL."""
    local = start_local_aws(MOTO_PORT, dataplane=False)
    try:
        yield local.url
    finally:
        local.stop()


@pytest.fixture
def playbook():
    """playbook(path, vars, inventory) runs any playbook from the repository root."""
    return run_playbook
