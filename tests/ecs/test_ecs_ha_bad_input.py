"""Bad input to the ecs_ha role is refused before any AWS call, with a message naming the variable.

Every run points AWS_ENDPOINT_URL at a closed local port: a role that reached AWS would fail with
a connection error instead of the expected message. The control case proves that good input does
get that far (so the refusals are not an artefact of the set-up).
"""

from __future__ import annotations

import json
import socket
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
from taskmanager_tests.playbook import PlaybookRun, run_playbook

REPO = Path(__file__).resolve().parents[2]
PLAYBOOK = Path(__file__).with_name("ecs_ha_input.yml")
GOOD = {
    "ecs_ha_vpc_id": "vpc-0123456789abcdef0",
    "ecs_ha_subnet_ids": ["subnet-0aaaaaaaaaaaaaaa1", "subnet-0bbbbbbbbbbbbbbb2"],
    "ecs_ha_availability_zones": ["eu-north-1a", "eu-north-1b"],
}


def closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]  # released on close: nothing listens there


def run_role(overrides: dict, folder: Path) -> PlaybookRun:
    extra = folder / "vars.json"
    extra.write_text(json.dumps({**GOOD, **overrides}))
    env = {
        "AWS_ENDPOINT_URL": f"http://127.0.0.1:{closed_port()}",
        "AWS_MAX_ATTEMPTS": "1",
        "AWS_RETRY_MODE": "standard",
    }
    return run_playbook(PLAYBOOK, "-e", f"@{extra}", env=env, timeout=180)


def failed_task(output: str) -> str:
    """Name of the last TASK header before the first failure."""
    task = ""
    for line in output.splitlines():
        if line.startswith("TASK ["):
            task = line
        if line.startswith("fatal:"):
            return task
    return ""


CASES = [
    (
        "desired_count_1",
        {"ecs_ha_desired_count": 1},
        "ecs_ha_desired_count must be a whole number 2-10000",
        "Check each input against its AWS rule",
    ),
    (
        "one_subnet",
        {"ecs_ha_subnet_ids": ["subnet-0aaaaaaaaaaaaaaa1"]},
        "ecs_ha_subnet_ids / ecs_ha_availability_zones / ecs_ha_vpc_id is invalid",
        "Check each input against its AWS rule",
    ),
    (
        "same_az_twice",
        {"ecs_ha_availability_zones": ["eu-north-1a", "eu-north-1a"]},
        "ecs_ha_availability_zones",
        "Check each input against its AWS rule",
    ),
    (
        "no_vpc",
        {"ecs_ha_vpc_id": ""},
        "and a VPC (run the network role with 2 or more AZs first)",
        "Check each input against its AWS rule",
    ),
    (
        "cpu_too_big",
        {"ecs_ha_container_cpu": 4096},
        "ecs_ha_container_cpu / ecs_ha_container_memory is invalid",
        "Check each input against its AWS rule",
    ),
    (
        "memory_too_big",
        {"ecs_ha_container_memory": 2048},
        "at most 2048 CPU units and 1792 MiB",
        "Check each input against its AWS rule",
    ),
    (
        "unknown_instance_type",
        {"ecs_ha_instance_type": "x9.huge"},
        "ecs_ha_instance_type is invalid: must be a key of ecs_ha_instance_type_specs",
        "Check each input against its AWS rule",
    ),
    (
        "asg_min_1",
        {"ecs_ha_asg_min_size": 1},
        "ecs_ha_asg_min_size must be a whole number 2-10000",
        "Check each input against its AWS rule",
    ),
    (
        "min_healthy_50",
        {"ecs_ha_deployment_minimum_healthy_percent": 50},
        "ecs_ha_deployment_minimum_healthy_percent is invalid: must be at least 100",
        "Check each input against its AWS rule",
    ),
    (
        "bad_state",
        {"ecs_ha_state": "started"},
        "ecs_ha_state",
        "Validating arguments against arg spec",
    ),
    (
        "termination_protection",
        {"ecs_ha_managed_termination_protection": "ENABLED"},
        "ecs_ha_managed_termination_protection",
        "Validating arguments against arg spec",
    ),
]


CONTROL = ("good_input", {}, None, None)


@pytest.fixture(scope="module")
def results(tmp_path_factory):
    """Run every case once, a few at a time (each is a separate ansible-playbook of ~6 s)."""
    cases = [*CASES, CONTROL]
    # The folders first, in this thread: tmp_path_factory is not thread-safe.
    folders = [tmp_path_factory.mktemp(case[0]) for case in cases]
    with ThreadPoolExecutor(max_workers=4) as pool:
        runs = pool.map(lambda case, folder: run_role(case[1], folder), cases, folders)
        return {case[0]: run for case, run in zip(cases, runs, strict=True)}


@pytest.mark.parametrize(("case", "message", "task"), [(c[0], c[2], c[3]) for c in CASES], ids=[c[0] for c in CASES])
def test_bad_input_is_refused_before_aws(results, case, message, task):
    result = results[case]
    output = result.output
    assert result.rc != 0, output
    assert message in " ".join(output.split()), output
    assert task in failed_task(result.stdout), output
    assert "Could not connect" not in output and "EndpointConnectionError" not in output, output


def test_good_input_reaches_aws(results):
    """Control: valid input passes every check and fails only at the first AWS call (closed port)."""
    result = results["good_input"]
    output = result.output
    assert result.rc != 0, output
    assert "Could not connect" in output or "EndpointConnectionError" in output or "Connection refused" in output, (
        output
    )
    assert "Check each input" not in failed_task(result.stdout), output
