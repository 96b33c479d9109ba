"""Helpers of the fleet tests: fake foundation facts, the fleet's resources. Playbook runs:
``taskmanager_tests.playbook.run_playbook``."""

from __future__ import annotations

import os

REGION = os.environ.get("AWS_REGION", "eu-north-1")

# Fake but well-formed foundation facts: enough for every check that runs before an AWS call.
FAKE_FOUNDATION = {
    "network_vpc_id": "vpc-0123456789abcdef0",
    "network_public_subnet_ids": ["subnet-0123456789abcdef0", "subnet-0123456789abcdef1"],
    "network_availability_zones": ["eu-north-1a", "eu-north-1b"],
    "iam_instance_profile_arn": "arn:aws:iam::123456789012:instance-profile/TaskManagerInstanceProfile",
    "artifacts_bucket_name": "taskmanager-artifacts-test",
    "artifacts_webapp_key": "webapp/taskmanager_webapp-1.0.0-py3-none-any.whl",
}


def fleet_resources(aws) -> dict:
    """Every fleet resource that exists, by kind (empty lists when none)."""
    sgs = aws.ec2.describe_security_groups(
        Filters=[{"Name": "group-name", "Values": ["WebServerSG", "TaskManagerALBSG"]}]
    )["SecurityGroups"]
    lts = aws.ec2.describe_launch_templates(
        Filters=[{"Name": "launch-template-name", "Values": ["TaskManagerLaunchTemplate"]}]
    )["LaunchTemplates"]
    lbs = [lb["LoadBalancerName"] for lb in aws.elbv2.describe_load_balancers()["LoadBalancers"]]
    tgs = [tg["TargetGroupName"] for tg in aws.elbv2.describe_target_groups()["TargetGroups"]]
    asgs = aws.autoscaling.describe_auto_scaling_groups(AutoScalingGroupNames=["TaskManagerASG"])["AutoScalingGroups"]
    return {
        "security_groups": [sg["GroupName"] for sg in sgs],
        "launch_templates": [lt["LaunchTemplateName"] for lt in lts],
        "load_balancers": lbs,
        "target_groups": tgs,
        "auto_scaling_groups": [g["AutoScalingGroupName"] for g in asgs],
    }
