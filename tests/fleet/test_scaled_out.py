"""A converge run does not fight the autoscaler: after a scale-out to 3, re-running the playbooks
keeps desired at 3; autoscaling_reset_desired_capacity=true brings it back to 1."""

from __future__ import annotations

import re

import pytest
from fleet_helpers import fleet_resources, run_playbook

# The same playbooks as site.yml (preflight is the lead's; infra then fleet).
CONVERGE = "molecule/fleet/converge.yml"
DESTROY = "molecule/fleet/destroy.yml"


def _desired(aws) -> int:
    group = aws.autoscaling.describe_auto_scaling_groups(AutoScalingGroupNames=["TaskManagerASG"])
    return group["AutoScalingGroups"][0]["DesiredCapacity"]


def _changed(output: str) -> int:
    return sum(int(n) for n in re.findall(r"changed=(\d+)", output))


@pytest.fixture
def converged(aws):
    result = run_playbook(CONVERGE, timeout=900)
    assert result.returncode == 0, result.stdout[-4000:] + result.stderr
    yield
    result = run_playbook(DESTROY, timeout=900)
    assert result.returncode == 0, result.stdout[-4000:] + result.stderr
    assert not any(fleet_resources(aws).values())


def test_rerun_keeps_scaled_out_desired_capacity(aws, converged):
    assert _desired(aws) == 1
    # What the target tracking policy does under load, done through the API.
    aws.autoscaling.set_desired_capacity(AutoScalingGroupName="TaskManagerASG", DesiredCapacity=3)
    assert _desired(aws) == 3

    result = run_playbook(CONVERGE, timeout=900)
    assert result.returncode == 0, result.stdout[-4000:] + result.stderr
    assert _desired(aws) == 3
    assert _changed(result.stdout) == 0, result.stdout[-4000:]

    result = run_playbook(CONVERGE, extra_vars={"autoscaling_reset_desired_capacity": True}, timeout=900)
    assert result.returncode == 0, result.stdout[-4000:] + result.stderr
    assert _desired(aws) == 1
