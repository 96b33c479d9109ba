"""Bad input fails before anything is built (before any AWS call, or for an AMI parameter that does
not exist, at a read-only one): the message names the variable and nothing is created.

Each case runs playbooks/fleet.yml's tasks with well-formed (fake) foundation facts plus one bad
value. All cases run in one ansible-playbook process, one inventory host each (fleet_cases.yml):
ansible-playbook's start-up is paid once, not once per case.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from fleet_helpers import FAKE_FOUNDATION, fleet_resources
from taskmanager_tests.playbook import run_host_cases

PLAYBOOK = Path(__file__).with_name("fleet_cases.yml")

CASES = {
    "min_above_desired": ({"autoscaling_min_size": 2, "autoscaling_desired_capacity": 1}, "autoscaling_min_size"),
    "desired_above_max": (
        {"autoscaling_desired_capacity": 4, "autoscaling_max_size": 3},
        "autoscaling_desired_capacity",
    ),
    "cpu_target_zero": ({"autoscaling_cpu_target": 0}, "autoscaling_cpu_target"),
    "cpu_target_above_100": ({"autoscaling_cpu_target": 101}, "autoscaling_cpu_target"),
    "timeout_not_below_interval": (
        {"alb_health_check_timeout": 30, "alb_health_check_interval": 30},
        "alb_health_check_timeout",
    ),
    "healthy_threshold_1": ({"alb_health_check_healthy_threshold": 1}, "alb_health_check_healthy_threshold"),
    "unhealthy_threshold_11": ({"alb_health_check_unhealthy_threshold": 11}, "alb_health_check_unhealthy_threshold"),
    "one_subnet": (
        {"alb_subnet_ids": ["subnet-0123456789abcdef0"], "alb_subnet_availability_zones": ["eu-north-1a"]},
        "alb_subnet_ids",
    ),
    "two_subnets_one_az": (
        {"alb_subnet_availability_zones": ["eu-north-1a", "eu-north-1a"]},
        "alb_subnet_availability_zones",
    ),
    "invalid_admin_cidr": ({"launch_template_admin_ssh_cidr": "10.0.0.300/8"}, "launch_template_admin_ssh_cidr"),
    "invalid_alb_cidr": ({"alb_ingress_cidrs": ["0.0.0.0/33"]}, "alb_ingress_cidrs"),
    "target_group_name_33_chars": ({"alb_target_group_name": "T" * 33}, "alb_target_group_name"),
    "alb_name_with_underscore": ({"alb_name": "TaskManager_ALB"}, "alb_name"),
    "launch_template_name_too_short": ({"launch_template_name": "TM"}, "launch_template_name"),
    "ssh_from_anywhere": ({"launch_template_admin_ssh_cidr": "0.0.0.0/0"}, "launch_template_admin_ssh_allow_any"),
    "target_type_lambda": ({"alb_target_type": "lambda"}, "alb_target_type"),
    # Found only through AWS (a read-only SSM call), still before anything is built.
    "ami_parameter_missing": (
        {"launch_template_image_parameter": "/aws/service/ami-amazon-linux-latest/no-such-image"},
        "launch_template_image_parameter",
    ),
}


@pytest.fixture(scope="module")
def results(aws, tmp_path_factory):
    """Run every case, one host each, against an empty emulator."""
    assert not any(fleet_resources(aws).values()), "the emulator must start empty"
    cases = {case: {**FAKE_FOUNDATION, **bad} for case, (bad, _variable) in CASES.items()}
    return run_host_cases(PLAYBOOK, cases, tmp_path_factory.mktemp("fleet") / "cases.yml", forks=len(cases))


@pytest.mark.parametrize("case", list(CASES))
def test_bad_input_fails_before_any_aws_call(aws, results, case):
    variable = CASES[case][1]
    result = results[case]
    assert result.failed, result.tasks
    assert variable in result.msg, result.msg
    # It failed in a check (argument spec, validate.yml, or the read-only look at the AMI) and nothing
    # changed before it: playbooks/fleet.yml checks all three roles' input first.
    assert "Create or update the fleet's security group" not in result.tasks, result.tasks
    assert not result.changed, result.tasks
    assert not any(fleet_resources(aws).values())
