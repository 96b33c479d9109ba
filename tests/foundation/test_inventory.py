"""The fleet inventories (amazon.aws.aws_ec2) against the emulator: the region, and who is in `fleet`.

Two Auto Scaling groups tagged Project=taskmanager, as site.yml leaves them: the web fleet
(TaskManagerASG) and the ECS container instances. They are made in eu-west-1, so that the default
region's stack of the other tests is not touched and the region switch is seen: with AWS_REGION
unset the inventory and the plays look in eu-north-1 and find neither group.
"""

from __future__ import annotations

import json
import os
import subprocess

import boto3
import pytest
from taskmanager_tests.playbook import REPO, VENV_BIN

REGION = "eu-west-1"
GROUPS = {"TaskManagerASG": "fleet", "taskmanager-ecs-asg": "ecs"}


@pytest.fixture(scope="module")
def two_groups(endpoint):
    def client(service):
        return boto3.client(
            service,
            endpoint_url=endpoint,
            region_name=REGION,
            aws_access_key_id="testing",
            aws_secret_access_key="testing",  # noqa: S106 - the emulator's dummy credentials
        )

    ec2, autoscaling = client("ec2"), client("autoscaling")
    subnet = ec2.describe_subnets(Filters=[{"Name": "default-for-az", "Values": ["true"]}])["Subnets"][0]["SubnetId"]
    image = ec2.describe_images()["Images"][0]["ImageId"]
    template = ec2.create_launch_template(
        LaunchTemplateName="inventory-test", LaunchTemplateData={"ImageId": image, "InstanceType": "t3.micro"}
    )["LaunchTemplate"]["LaunchTemplateId"]
    for name in GROUPS:
        autoscaling.create_auto_scaling_group(
            AutoScalingGroupName=name,
            LaunchTemplate={"LaunchTemplateId": template},
            MinSize=1,
            MaxSize=1,
            DesiredCapacity=1,
            VPCZoneIdentifier=subnet,
            Tags=[{"Key": "Project", "Value": "taskmanager", "PropagateAtLaunch": True}],
        )
    instances = {
        group["AutoScalingGroupName"]: [i["InstanceId"] for i in group["Instances"]]
        for group in autoscaling.describe_auto_scaling_groups(AutoScalingGroupNames=list(GROUPS))["AutoScalingGroups"]
    }
    yield instances
    for name in GROUPS:
        autoscaling.delete_auto_scaling_group(AutoScalingGroupName=name, ForceDelete=True)
    ids = [i for group in instances.values() for i in group]
    ec2.terminate_instances(InstanceIds=ids)
    ec2.delete_launch_template(LaunchTemplateId=template)


def seen(sources: tuple[str, ...], endpoint: str, **env: str) -> tuple[str, list[str], list[str]]:
    """The region the plays use, the `fleet` group and the ECS hosts' group, as one play sees them."""
    environ = {k: v for k, v in os.environ.items() if k not in ("AWS_REGION", "AWS_DEFAULT_REGION")}
    environ.update(
        AWS_ENDPOINT_URL=endpoint,
        AWS_ACCESS_KEY_ID="testing",
        AWS_SECRET_ACCESS_KEY="testing",  # noqa: S106 - the emulator's dummy credentials
        ANSIBLE_CONFIG=str(REPO / "ansible.cfg"),
        **env,
    )
    groups = "groups.fleet | default([]), groups.asg_taskmanager_ecs_asg | default([])"
    what = f"{{{{ [taskmanager_aws_region, {groups}] | to_json }}}}"
    proc = subprocess.run(
        [
            str(VENV_BIN / "ansible"),
            "localhost",
            *(arg for source in sources for arg in ("-i", source)),
            "-o",
            "-m",
            "ansible.builtin.debug",
            "-a",
            f"msg={what}",
        ],
        cwd=REPO,
        env=environ,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert proc.returncode == 0, proc.stdout[-2000:] + proc.stderr[-3000:]
    region, fleet, ecs = json.loads(json.loads(proc.stdout.split("=> ", 1)[1])["msg"])
    return region, sorted(fleet), sorted(ecs)


INVENTORIES = {"aws": ("inventories/aws",), "local": ("inventories/local", "inventories/local-fleet")}


@pytest.mark.parametrize("name", sorted(INVENTORIES))
def test_fleet_group_is_the_web_fleet_in_the_inventory_region(two_groups, endpoint, name):
    # The ECS hosts are in the inventory (their own asg_ group), not in `fleet`; the plays work in
    # the region the inventory looked in.
    assert seen(INVENTORIES[name], endpoint, AWS_REGION=REGION) == (
        REGION,
        sorted(two_groups["TaskManagerASG"]),
        sorted(two_groups["taskmanager-ecs-asg"]),
    )


def test_without_aws_region_the_inventory_and_the_plays_use_eu_north_1(two_groups, endpoint):
    region, fleet, ecs = seen(INVENTORIES["aws"], endpoint)
    assert region == "eu-north-1"
    assert not set(fleet + ecs) & {i for ids in two_groups.values() for i in ids}
