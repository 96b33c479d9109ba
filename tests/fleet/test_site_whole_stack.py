"""The whole site.yml on the emulator, typed the way a demanding user types it.

1. `site.yml --check` on an empty account passes and creates nothing.
2. The foundation alone (`--tags foundation`) with non-default names.
3. site.yml with every alb_* given as key=value extra vars (they must steer the fleet's load
   balancer only: the ECS service keeps its own load balancer, target group and security group),
   non-default names for every role, key=value booleans and scale-in protection on the first
   create. A second run and a `--tags fleet` run report changed=0 (that one looks the foundation
   up and builds none of it).
4. playbooks/teardown.yml with the same -e removes everything (its audit passes).
"""

from __future__ import annotations

import json

import pytest
from taskmanager_tests.playbook import run_playbook

pytestmark = pytest.mark.usefixtures("aws")

INVENTORY = ("-i", "inventories/local")
NAMES = [
    "taskmanager_name=tmx",
    "iam_role_name=TmxInstanceRole",
    "iam_instance_profile_name=TmxInstanceProfile",
    "launch_template_name=TmxTemplate",
    "launch_template_security_group_name=TmxWebSG",
    "autoscaling_name=TmxASG",
    "autoscaling_scale_in_protection=true",
    "launch_template_admin_ssh_allow_any=false",
    "ecs_ha_managed_scaling=yes",
    # The emulator alone runs no ECS task: the service is never steady here (the data plane's
    # tests wait for it: tests/dataplane/test_image.py).
    "ecs_ha_wait_steady=false",
]
# Every alb_* except alb_backend_security_group_id, which names a group the fleet's own play
# creates (its default, the launch template's group, is what a user would want anyway), and
# alb_state, which the playbooks own (site.yml builds, teardown.yml removes; an -e alb_state wins
# over both, like any <role>_state). The IDs of the VPC and subnets are added once they exist.
ALB = [
    "alb_name=fleet-lb",
    "alb_scheme=internet-facing",
    "alb_idle_timeout=60",
    "alb_drop_invalid_header_fields=yes",
    "alb_deletion_protection=no",
    "alb_security_group_name=fleet-lb-sg",
    "alb_security_group_description=Fleet load balancer",
    "alb_http_port=8080",
    "alb_https_port=8443",
    "alb_certificate_arn=",
    "alb_ssl_policy=ELBSecurityPolicy-TLS13-1-2-2021-06",
    "alb_target_group_name=fleet-tg",
    "alb_target_type=instance",
    "alb_target_port=80",
    "alb_health_check_path=/health",
    "alb_health_check_interval=20",
    "alb_health_check_timeout=4",
    "alb_health_check_healthy_threshold=3",
    "alb_health_check_unhealthy_threshold=4",
    "alb_health_check_matcher=200",
    "alb_deregistration_delay=15",
    "alb_backend_port=80",
]


def extra_vars(pairs: list[str]) -> list[str]:
    return [arg for pair in pairs for arg in ("-e", pair)]


def ok(run, what: str) -> int:
    assert run.rc == 0, f"{what} failed:\n{run.tail(6000)}"
    assert run.failed == 0, run.tail(6000)
    return run.changed


def test_whole_stack_with_every_alb_variable_and_other_names(aws):
    assert not aws.elbv2.describe_load_balancers()["LoadBalancers"], "the emulator must start without load balancers"
    names = extra_vars(NAMES)

    check = run_playbook("site.yml", *INVENTORY, "--check", *names)
    ok(check, "site.yml --check on an empty account")
    assert "Check mode: the VPC tmx-vpc" in check.output
    assert not aws.ec2.describe_vpcs(Filters=[{"Name": "tag:Name", "Values": ["tmx-vpc"]}])["Vpcs"]

    ok(run_playbook("site.yml", *INVENTORY, "--tags", "foundation", *names), "--tags foundation")
    vpc = aws.ec2.describe_vpcs(Filters=[{"Name": "tag:Name", "Values": ["tmx-vpc"]}])["Vpcs"][0]["VpcId"]
    subnets = aws.ec2.describe_subnets(Filters=[{"Name": "vpc-id", "Values": [vpc]}])["Subnets"]
    subnets.sort(key=lambda subnet: subnet["AvailabilityZone"])
    ids = {
        "alb_vpc_id": vpc,
        "alb_subnet_ids": [s["SubnetId"] for s in subnets],
        "alb_subnet_availability_zones": [s["AvailabilityZone"] for s in subnets],
        "alb_tags": {"Project": "taskmanager", "ManagedBy": "ansible", "Role": "fleet"},
        "alb_ingress_cidrs": ["0.0.0.0/0"],
    }
    every = [*names, *extra_vars(ALB), "-e", json.dumps(ids)]
    try:
        ok(run_playbook("site.yml", *INVENTORY, *every), "site.yml with every alb_*")

        lbs = {lb["LoadBalancerName"]: lb for lb in aws.elbv2.describe_load_balancers()["LoadBalancers"]}
        assert sorted(lbs) == ["fleet-lb", "tmx-ecs-alb"]
        tgs = {tg["TargetGroupName"]: tg for tg in aws.elbv2.describe_target_groups()["TargetGroups"]}
        assert sorted(tgs) == ["fleet-tg", "tmx-ecs-tg"]
        # Each load balancer forwards to its own target group, behind its own security group.
        for lb_name, tg_name, port in (("fleet-lb", "fleet-tg", 8080), ("tmx-ecs-alb", "tmx-ecs-tg", 80)):
            listeners = aws.elbv2.describe_listeners(LoadBalancerArn=lbs[lb_name]["LoadBalancerArn"])["Listeners"]
            assert [(lis["Port"], lis["DefaultActions"][0]["TargetGroupArn"]) for lis in listeners] == [
                (port, tgs[tg_name]["TargetGroupArn"])
            ]
        assert tgs["fleet-tg"]["HealthCheckIntervalSeconds"] == 20
        assert tgs["tmx-ecs-tg"]["HealthCheckIntervalSeconds"] == 5  # ecs_ha's default, not the fleet's -e
        groups = {
            g["GroupId"]: g["GroupName"]
            for g in aws.ec2.describe_security_groups(Filters=[{"Name": "vpc-id", "Values": [vpc]}])["SecurityGroups"]
        }
        assert groups[lbs["fleet-lb"]["SecurityGroups"][0]] == "fleet-lb-sg"
        assert groups[lbs["tmx-ecs-alb"]["SecurityGroups"][0]] == "tmx-ecs-alb-sg"
        group = aws.autoscaling.describe_auto_scaling_groups(AutoScalingGroupNames=["TmxASG"])["AutoScalingGroups"][0]
        assert group["Instances"] and all(i["ProtectedFromScaleIn"] for i in group["Instances"])

        assert ok(run_playbook("site.yml", *INVENTORY, *every), "the second run") == 0
        tags_fleet = run_playbook("site.yml", *INVENTORY, "--tags", "fleet", *every)
        assert ok(tags_fleet, "--tags fleet") == 0
        # The foundation is looked up (read only), not built again.
        assert "TASK [taskmanager.aws.network : Find the VPC]" in tags_fleet.output
        assert "TASK [taskmanager.aws.iam : Find the instance profile and its role]" in tags_fleet.output
        for builder in ("network : Create the VPC", "iam : Create the instance role", "artifacts : Create the private"):
            assert f"TASK [taskmanager.aws.{builder}" not in tags_fleet.output, builder
    finally:
        teardown = run_playbook("playbooks/teardown.yml", *INVENTORY, *every)
    ok(teardown, "teardown with the same -e")
    assert "Audit clean" in teardown.output
    assert not aws.elbv2.describe_load_balancers()["LoadBalancers"]
    assert not aws.autoscaling.describe_auto_scaling_groups(AutoScalingGroupNames=["TmxASG"])["AutoScalingGroups"]
