"""The EC2 fleet on your own VPC and subnets, and a converge that does not fight the autoscaler.

One stack serves both (a full converge is the expensive part of this suite):

1. A VPC with two public subnets is made with boto3, as a user would have it, and `site.yml`
   (no ECS service) runs on it: the load balancer, the Auto Scaling group and every security group
   of the stack are in it, and the collection builds no network of its own.
2. After a scale-out to 3 (what the target tracking policy does under load, done through the
   API), a re-run of `site.yml` reports changed=0 and keeps desired at 3;
   `site.yml --tags fleet` with autoscaling_reset_desired_capacity=true (the foundation and your
   network looked up, not built) brings it back to 1.
3. `playbooks/teardown.yml` passes its audit and leaves your VPC and subnets in place.
"""

from __future__ import annotations

import json

import pytest
from fleet_helpers import fleet_resources
from taskmanager_tests.playbook import run_playbook

INVENTORY = ("-i", "inventories/local")


def _desired(aws) -> int:
    group = aws.autoscaling.describe_auto_scaling_groups(AutoScalingGroupNames=["TaskManagerASG"])
    return group["AutoScalingGroups"][0]["DesiredCapacity"]


@pytest.fixture
def own_network(aws):
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


def _site(own, *tags, **extra_vars):
    return run_playbook(
        "site.yml", *INVENTORY, *tags, extra_vars={**own, "taskmanager_build_ecs": False, **extra_vars}, timeout=900
    )


@pytest.fixture
def converged(aws, own_network):
    result = _site(own_network)
    assert result.rc == 0, result.tail()
    yield own_network
    result = run_playbook("playbooks/teardown.yml", *INVENTORY, "-e", json.dumps(own_network), timeout=900)
    assert result.rc == 0, result.tail()
    assert "Audit clean" in result.output
    assert not any(fleet_resources(aws).values())
    # Yours stays: the VPC and both subnets.
    vpc = own_network["network_vpc_id"]
    assert aws.ec2.describe_vpcs(Filters=[{"Name": "vpc-id", "Values": [vpc]}])["Vpcs"]
    left = aws.ec2.describe_subnets(Filters=[{"Name": "vpc-id", "Values": [vpc]}])["Subnets"]
    assert sorted(s["SubnetId"] for s in left) == sorted(own_network["network_public_subnet_ids"])


def test_fleet_on_your_network_and_rerun_keeps_scaled_out_desired(aws, converged):
    vpc, subnets = converged["network_vpc_id"], converged["network_public_subnet_ids"]
    # The stack is in your VPC and subnets; no network of the collection's own exists.
    assert not aws.ec2.describe_vpcs(Filters=[{"Name": "tag:Name", "Values": ["taskmanager-vpc"]}])["Vpcs"]
    group = aws.autoscaling.describe_auto_scaling_groups(AutoScalingGroupNames=["TaskManagerASG"])
    assert sorted(group["AutoScalingGroups"][0]["VPCZoneIdentifier"].split(",")) == sorted(subnets)
    (lb,) = aws.elbv2.describe_load_balancers(Names=["TaskManagerALB"])["LoadBalancers"]
    assert lb["VpcId"] == vpc
    assert sorted(zone["SubnetId"] for zone in lb["AvailabilityZones"]) == sorted(subnets)
    groups = aws.ec2.describe_security_groups(
        Filters=[{"Name": "group-name", "Values": ["WebServerSG", "TaskManagerALBSG", "taskmanager-db-sg"]}]
    )["SecurityGroups"]
    assert sorted(g["GroupName"] for g in groups) == ["TaskManagerALBSG", "WebServerSG", "taskmanager-db-sg"]
    assert {g["VpcId"] for g in groups} == {vpc}

    assert _desired(aws) == 1
    aws.autoscaling.set_desired_capacity(AutoScalingGroupName="TaskManagerASG", DesiredCapacity=3)
    assert _desired(aws) == 3

    result = _site(converged)
    assert result.rc == 0, result.tail()
    assert result.changed == 0, result.tail()
    assert _desired(aws) == 3

    # --tags fleet looks your network and the foundation up (builds none of it) and resets desired.
    result = _site(converged, "--tags", "fleet", autoscaling_reset_desired_capacity=True)
    assert result.rc == 0, result.tail()
    assert "TASK [taskmanager.aws.network : Find the VPC]" in result.output
    assert "TASK [taskmanager.aws.iam : Create the instance role]" not in result.output
    assert _desired(aws) == 1
