# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Unit tests of the asg_tags and asg_drift filters' logic (module_utils/autoscaling.py)."""

from __future__ import annotations

import pytest

from ansible_collections.taskmanager.aws.plugins.filter.asg_drift import FilterModule as DriftFilters
from ansible_collections.taskmanager.aws.plugins.filter.asg_tags import FilterModule as TagFilters
from ansible_collections.taskmanager.aws.plugins.module_utils.autoscaling import asg_drift, asg_tags

# A group as amazon.aws.autoscaling_group_info returns it (the keys asg_drift reads, and more).
GROUP = {
    "auto_scaling_group_name": "TaskManagerASG",
    "min_size": 1,
    "max_size": 3,
    "desired_capacity": 2,
    "health_check_type": "ELB",
    "health_check_grace_period": 300,
    "default_cooldown": 300,
    "launch_template": {"launch_template_name": "TaskManagerLaunchTemplate", "version": "$Default"},
    "vpc_zone_identifier": "subnet-b,subnet-a",
    "target_group_arns": ["arn:tg-2", "arn:tg-1"],
    "termination_policies": ["Default"],
    "tags": [
        {"key": "Project", "value": "taskmanager", "propagate_at_launch": True},
        {"key": "Name", "value": "taskmanager-web", "propagate_at_launch": True},
    ],
    "enabled_metrics": [{"metric": "GroupInServiceInstances", "granularity": "1Minute"}],
}
# The same settings as a role writes them: strings from templating, lists in another order.
WANTED = {
    "min_size": "1",
    "max_size": 3,
    "desired_capacity": "2",
    "health_check_type": "ELB",
    "health_check_grace_period": "300",
    "default_cooldown": 300,
    "launch_template": "TaskManagerLaunchTemplate:$Default",
    "subnets": ["subnet-a", "subnet-b"],
    "target_group_arns": ["arn:tg-1", "arn:tg-2"],
    "termination_policies": ["Default"],
    "tags": {"Name": "taskmanager-web", "Project": "taskmanager"},
    "metrics": True,
}


def test_tags_are_sorted_strings_propagated_at_launch():
    assert asg_tags({"Project": "taskmanager", "Name": "web", "Count": 3, "AmazonECSManaged": ""}) == [
        {"AmazonECSManaged": "", "propagate_at_launch": True},
        {"Count": "3", "propagate_at_launch": True},
        {"Name": "web", "propagate_at_launch": True},
        {"Project": "taskmanager", "propagate_at_launch": True},
    ]
    assert asg_tags({}) == []


def test_a_group_as_wanted_has_no_drift():
    assert asg_drift(GROUP, WANTED) == []


@pytest.mark.parametrize(
    ("change", "drifted"),
    [
        ({"max_size": 4}, ["max_size"]),
        ({"desired_capacity": 1, "min_size": 0}, ["min_size", "desired_capacity"]),
        ({"launch_template": "TaskManagerLaunchTemplate:3"}, ["launch_template"]),
        ({"subnets": ["subnet-a"]}, ["subnets"]),
        ({"target_group_arns": []}, ["target_group_arns"]),
        ({"tags": {"Name": "taskmanager-web", "Project": "other"}}, ["tags"]),
        ({"tags": {"Name": "taskmanager-web"}}, ["tags"]),  # a tag to remove
        ({"metrics": False}, ["metrics"]),
        (
            {"health_check_type": "EC2", "health_check_grace_period": 60},
            ["health_check_type", "health_check_grace_period"],
        ),
    ],
)
def test_each_setting_that_differs_is_named(change, drifted):
    assert asg_drift(GROUP, {**WANTED, **change}) == drifted


def test_a_tag_not_propagated_at_launch_differs():
    group = {**GROUP, "tags": [{**GROUP["tags"][0], "propagate_at_launch": False}, GROUP["tags"][1]]}
    assert asg_drift(group, WANTED) == ["tags"]


def test_settings_left_out_or_null_are_not_compared():
    # The ECS container instances: the capacity provider owns the desired capacity.
    wanted = {key: value for key, value in WANTED.items() if key != "desired_capacity"}
    assert asg_drift({**GROUP, "desired_capacity": 7}, wanted) == []
    assert asg_drift({**GROUP, "desired_capacity": 7}, {**WANTED, "desired_capacity": None}) == []


def test_a_missing_group_lacks_every_wanted_setting():
    assert asg_drift({}, {"min_size": 1, "tags": {}}) == ["min_size", "tags"]


def test_an_unknown_setting_is_refused_by_name():
    with pytest.raises(ValueError, match="unknown settings desired"):
        asg_drift(GROUP, {"desired": 2})


def test_the_filters_are_registered_under_their_names():
    assert TagFilters().filters()["asg_tags"] is asg_tags
    assert DriftFilters().filters()["asg_drift"] is asg_drift
