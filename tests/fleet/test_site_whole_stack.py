"""The whole site.yml on the emulator, typed the way a demanding user types it, on your own VPC.

One stack serves every step (a full converge is the expensive part of this suite):

1. `site.yml --check` on an empty account passes and creates nothing (with non-default names:
   the VPC it would build is named after taskmanager_name).
2. A VPC with two public subnets is made with boto3, as a user would have it.
3. site.yml on it with every alb_* given as key=value extra vars (they must steer the fleet's
   load balancer only: the ECS service keeps its own load balancer, target group and security
   group), non-default names for every role, key=value booleans and scale-in protection on the
   first create. Both stacks and every security group are in your VPC and subnets, and the
   collection builds no network of its own.
4. After a scale-out to 3 (what the target tracking policy does under load, done through the
   API), a re-run keeps desired at 3, and its one change is the scale-in protection of the two
   new instances (the rest of the stack, every alb_* included, reports no change);
   `--tags fleet` with autoscaling_reset_desired_capacity=true looks the foundation and your
   network up (builds none of it) and brings it back to 1.
5. playbooks/teardown.yml with the same -e removes everything (its audit passes) and leaves your
   VPC and subnets in place.

No run prints a deprecation warning not in tests/allowed-deprecations.txt. The ansible 14 lane
(scripts/test-ansible14.sh) runs this test on ansible-core 2.21 with the playbooks and roles of the
collection installed from the tarball (TASKMANAGER_PLAYBOOK_DIR), the only copy on its collections
path; the default line runs it on this checkout.
"""

from __future__ import annotations

import json

import pytest
from taskmanager_tests.playbook import PLAYBOOK_DIR, REPO, run_playbook

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
    assert not run.deprecations, f"{what} printed deprecation warnings: {run.deprecations}"
    return run.changed


def changed_tasks(output: str) -> list[str]:
    """The names of the tasks that reported a change, in order."""
    names, task = [], None
    for line in output.splitlines():
        if line.startswith("TASK ["):
            task = line[len("TASK [") : line.rindex("]")]
        elif line.startswith("changed: ") and task not in names:
            names.append(task)
    return names


def _desired(aws) -> int:
    group = aws.autoscaling.describe_auto_scaling_groups(AutoScalingGroupNames=["TmxASG"])
    return group["AutoScalingGroups"][0]["DesiredCapacity"]


@pytest.fixture
def empty_account(aws):
    """site.yml --check on the empty account: it passes and creates nothing."""
    assert not aws.elbv2.describe_load_balancers()["LoadBalancers"], "the emulator must start without load balancers"
    check = run_playbook("site.yml", *INVENTORY, "--check", *extra_vars(NAMES))
    ok(check, "site.yml --check on an empty account")
    assert "Check mode: the VPC tmx-vpc" in check.output
    assert not aws.ec2.describe_vpcs(Filters=[{"Name": "tag:Name", "Values": ["tmx-vpc"]}])["Vpcs"]


@pytest.fixture
def own_network(aws, empty_account):
    """Your VPC: an internet gateway, a public route table and one public subnet in each of 2 AZs."""
    ec2 = aws.ec2
    vpc = ec2.create_vpc(CidrBlock="10.70.0.0/16")["Vpc"]["VpcId"]
    igw = ec2.create_internet_gateway()["InternetGateway"]["InternetGatewayId"]
    ec2.attach_internet_gateway(InternetGatewayId=igw, VpcId=vpc)
    table = ec2.create_route_table(VpcId=vpc)["RouteTable"]["RouteTableId"]
    ec2.create_route(RouteTableId=table, DestinationCidrBlock="0.0.0.0/0", GatewayId=igw)
    subnets = []
    for index, az in enumerate(["eu-north-1a", "eu-north-1b"]):
        subnet = ec2.create_subnet(VpcId=vpc, CidrBlock=f"10.70.{index + 1}.0/24", AvailabilityZone=az)["Subnet"]
        ec2.modify_subnet_attribute(SubnetId=subnet["SubnetId"], MapPublicIpOnLaunch={"Value": True})
        ec2.associate_route_table(RouteTableId=table, SubnetId=subnet["SubnetId"])
        subnets.append(subnet["SubnetId"])
    yield {"network_vpc_id": vpc, "network_public_subnet_ids": subnets}
    for association in ec2.describe_route_tables(RouteTableIds=[table])["RouteTables"][0]["Associations"]:
        ec2.disassociate_route_table(AssociationId=association["RouteTableAssociationId"])
    for subnet in subnets:
        ec2.delete_subnet(SubnetId=subnet)
    ec2.delete_route_table(RouteTableId=table)
    ec2.detach_internet_gateway(InternetGatewayId=igw, VpcId=vpc)
    ec2.delete_internet_gateway(InternetGatewayId=igw)
    ec2.delete_vpc(VpcId=vpc)


def test_whole_stack_on_your_network_with_every_alb_variable_and_other_names(aws, own_network):
    names = extra_vars(NAMES)
    vpc, subnet_ids = own_network["network_vpc_id"], own_network["network_public_subnet_ids"]
    subnets = aws.ec2.describe_subnets(SubnetIds=subnet_ids)["Subnets"]
    subnets.sort(key=lambda subnet: subnet["AvailabilityZone"])
    ids = {
        **own_network,
        "alb_vpc_id": vpc,
        "alb_subnet_ids": [s["SubnetId"] for s in subnets],
        "alb_subnet_availability_zones": [s["AvailabilityZone"] for s in subnets],
        "alb_tags": {"Project": "taskmanager", "ManagedBy": "ansible", "Role": "fleet"},
        "alb_ingress_cidrs": ["0.0.0.0/0"],
    }
    every = [*names, *extra_vars(ALB), "-e", json.dumps(ids)]
    try:
        converge = run_playbook("site.yml", *INVENTORY, *every)
        ok(converge, "site.yml with every alb_* on your network")
        if PLAYBOOK_DIR != REPO:
            # The installed collection's roles ran (include_tasks prints the file it includes).
            assert f"{PLAYBOOK_DIR}/roles/network/tasks/" in converge.output, converge.tail(3000)
        # No network of the collection's own: both stacks are in your VPC and subnets.
        assert not aws.ec2.describe_vpcs(Filters=[{"Name": "tag:Name", "Values": ["tmx-vpc"]}])["Vpcs"]

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
        assert {"TmxWebSG", "fleet-lb-sg", "tmx-ecs-alb-sg", "tmx-db-sg"} <= set(groups.values())
        for lb in lbs.values():
            assert lb["VpcId"] == vpc
            assert sorted(zone["SubnetId"] for zone in lb["AvailabilityZones"]) == sorted(subnet_ids)
        group = aws.autoscaling.describe_auto_scaling_groups(AutoScalingGroupNames=["TmxASG"])["AutoScalingGroups"][0]
        assert sorted(group["VPCZoneIdentifier"].split(",")) == sorted(subnet_ids)
        assert group["Instances"] and all(i["ProtectedFromScaleIn"] for i in group["Instances"])

        # A re-run does not fight the autoscaler: desired stays where target tracking put it, and
        # the one change is the protection of the two new instances (autoscaling_scale_in_protection
        # protects the group's current instances).
        assert _desired(aws) == 1
        aws.autoscaling.set_desired_capacity(AutoScalingGroupName="TmxASG", DesiredCapacity=3)
        again = run_playbook("site.yml", *INVENTORY, *every)
        ok(again, "the second run")
        protect = "taskmanager.aws.autoscaling : Protect the group's instances from scale-in"
        assert changed_tasks(again.output) == [protect], again.tail(6000)
        assert _desired(aws) == 3
        group = aws.autoscaling.describe_auto_scaling_groups(AutoScalingGroupNames=["TmxASG"])["AutoScalingGroups"][0]
        assert len(group["Instances"]) == 3 and all(i["ProtectedFromScaleIn"] for i in group["Instances"])

        reset = ("-e", "autoscaling_reset_desired_capacity=true")
        tags_fleet = run_playbook("site.yml", *INVENTORY, "--tags", "fleet", *every, *reset)
        ok(tags_fleet, "--tags fleet")
        assert _desired(aws) == 1
        # The foundation and your network are looked up (read only), not built again.
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
    # Yours stays: the VPC and both subnets.
    assert aws.ec2.describe_vpcs(Filters=[{"Name": "vpc-id", "Values": [vpc]}])["Vpcs"]
    left = aws.ec2.describe_subnets(Filters=[{"Name": "vpc-id", "Values": [vpc]}])["Subnets"]
    assert sorted(s["SubnetId"] for s in left) == sorted(subnet_ids)
