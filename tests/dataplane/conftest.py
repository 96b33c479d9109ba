# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Fixtures of the data-plane tests: a private emulator (with or without its data plane) started
through scripts/local-aws.sh, boto3 clients on it, and a playbook runner."""

from __future__ import annotations

import json
import os

import pytest
from taskmanager_tests.emulator import start_local_aws


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
        assert run.rc == 0, run.output[-4000:]
        local.converge = run
        print(f"site.yml (ECS, time scale {ECS_TIME_SCALE:g}) converged in {run.seconds:.1f} s")
        yield local
    finally:
        local.script("stop")
