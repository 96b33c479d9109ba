# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Unit tests of the pure logic behind the ecs_capacity_provider module."""

from __future__ import annotations

import pytest

from ansible_collections.taskmanager.aws.plugins.module_utils import ecs_capacity_provider as cp

ASG_ARN = "arn:aws:autoscaling:eu-north-1:123456789012:autoScalingGroup:uuid:autoScalingGroupName/ecs-asg"
CURRENT = {
    "autoScalingGroupArn": ASG_ARN,
    "managedScaling": {
        "status": "ENABLED",
        "targetCapacity": 100,
        "minimumScalingStepSize": 1,
        "maximumScalingStepSize": 10000,
        "instanceWarmupPeriod": 300,
    },
    "managedTerminationProtection": "DISABLED",
}


def test_build_drops_unset_options():
    provider = cp.build_auto_scaling_group_provider(
        ASG_ARN, {"status": "ENABLED", "target_capacity": 90, "minimum_scaling_step_size": None}, None, None
    )
    assert provider == {"autoScalingGroupArn": ASG_ARN, "managedScaling": {"status": "ENABLED", "targetCapacity": 90}}


def test_build_without_anything_is_empty():
    assert cp.build_auto_scaling_group_provider() == {}
    assert cp.build_managed_scaling({"status": None}) is None


def test_diff_same_values_is_empty():
    desired = cp.build_auto_scaling_group_provider(ASG_ARN, {"status": "ENABLED", "target_capacity": 100}, "DISABLED")
    assert cp.diff_auto_scaling_group_provider(desired, CURRENT) == ({}, [])


def test_diff_accepts_asg_name_for_arn():
    assert cp.diff_auto_scaling_group_provider({"autoScalingGroupArn": "ecs-asg"}, CURRENT) == ({}, [])


def test_diff_changed_scaling_sends_merged_dict():
    update, immutable = cp.diff_auto_scaling_group_provider({"managedScaling": {"targetCapacity": 80}}, CURRENT)
    assert immutable == []
    assert update == {"managedScaling": dict(CURRENT["managedScaling"], targetCapacity=80)}
    # the input is not mutated
    assert CURRENT["managedScaling"]["targetCapacity"] == 100


def test_diff_termination_protection_and_draining():
    update = cp.diff_auto_scaling_group_provider(
        {"managedTerminationProtection": "ENABLED", "managedDraining": "ENABLED"}, CURRENT
    )[0]
    assert update == {"managedTerminationProtection": "ENABLED", "managedDraining": "ENABLED"}


@pytest.mark.parametrize("other", ["other-asg", ASG_ARN.replace("ecs-asg", "other-asg")])
def test_diff_reports_immutable_asg(other):
    update, immutable = cp.diff_auto_scaling_group_provider({"autoScalingGroupArn": other}, CURRENT)
    assert update == {}
    assert len(immutable) == 1 and "auto_scaling_group_arn cannot be changed" in immutable[0]


@pytest.mark.parametrize(
    "scaling, protection, fragment",
    [
        ({"target_capacity": 0}, None, "managed_scaling.target_capacity must be between 1 and 100"),
        ({"target_capacity": 101}, None, "target_capacity"),
        ({"instance_warmup_period": -1}, None, "instance_warmup_period"),
        ({"minimum_scaling_step_size": 5, "maximum_scaling_step_size": 2}, None, "must not exceed"),
        ({"status": "DISABLED"}, "ENABLED", "requires managed_scaling.status=ENABLED"),
    ],
)
def test_validate_rejects(scaling, protection, fragment):
    errors = cp.validate_params(scaling, protection)
    assert any(fragment in error for error in errors), errors


def test_validate_accepts_good_values():
    assert (
        cp.validate_params(
            {
                "status": "ENABLED",
                "target_capacity": 100,
                "minimum_scaling_step_size": 1,
                "maximum_scaling_step_size": 1,
                "instance_warmup_period": 0,
            },
            "ENABLED",
        )
        == []
    )
    assert cp.validate_params(None, None) == []


def test_apply_update_overlays():
    result = cp.apply_update(CURRENT, {"managedDraining": "ENABLED"})
    assert result["managedDraining"] == "ENABLED"
    assert result["autoScalingGroupArn"] == ASG_ARN
    assert "managedDraining" not in CURRENT
