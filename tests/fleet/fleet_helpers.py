"""Helpers of the fleet tests: run ansible-playbook from the repo root, list the fleet's resources."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
BIN = Path(sys.executable).parent
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


def run_playbook(playbook: str, *extra: str, extra_vars: dict | None = None, timeout: int = 600):
    cmd = [str(BIN / "ansible-playbook"), playbook, *extra]
    if extra_vars is not None:
        cmd += ["-e", json.dumps(extra_vars)]
    env = dict(os.environ, ANSIBLE_CONFIG=str(ROOT / "ansible.cfg"), ANSIBLE_NOCOLOR="1", ANSIBLE_FORCE_COLOR="0")
    return subprocess.run(cmd, cwd=ROOT, env=env, capture_output=True, text=True, timeout=timeout, check=False)


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
