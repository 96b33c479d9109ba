"""The teardown audit fails on anything left with the project's tag."""

from __future__ import annotations

import boto3
import pytest
from conftest import run_playbook

TAG = [{"Key": "Project", "Value": "taskmanager"}]


def client(service: str, endpoint: str):
    return boto3.client(
        service,
        endpoint_url=endpoint,
        region_name="eu-north-1",
        aws_access_key_id="testing",
        aws_secret_access_key="testing",  # noqa: S106 - the emulator's dummy credentials
    )


@pytest.fixture
def other_project(ec2):
    """A VPC tagged with another project's name, there for the whole test."""
    tags = [{"Key": "Project", "Value": "someone-else"}]
    vpc = ec2.create_vpc(CidrBlock="10.78.0.0/16", TagSpecifications=[{"ResourceType": "vpc", "Tags": tags}])
    yield vpc["Vpc"]["VpcId"]
    ec2.delete_vpc(VpcId=vpc["Vpc"]["VpcId"])


def test_audit_reports_tagged_leftovers_of_every_kind_and_ignores_other_projects(endpoint, ec2, other_project):
    """A VPC (modules) and one of each kind of tagged_resources_info: each is named, then all are gone.

    Another project's VPC stays throughout: it is never named, and the audit is clean beside it."""
    ecs, ecr, ssm, rds = (client(service, endpoint) for service in ("ecs", "ecr", "ssm", "rds"))
    vpc = ec2.create_vpc(CidrBlock="10.77.0.0/16", TagSpecifications=[{"ResourceType": "vpc", "Tags": TAG}])["Vpc"][
        "VpcId"
    ]
    ecs_tag = [{"key": "Project", "value": "taskmanager"}]
    ecs.create_cluster(clusterName="audit-cluster", tags=ecs_tag)
    asg = "arn:aws:autoscaling:eu-north-1:123456789012:autoScalingGroup:0:autoScalingGroupName/audit"
    ecs.create_capacity_provider(name="audit-cp", autoScalingGroupProvider={"autoScalingGroupArn": asg}, tags=ecs_tag)
    # Task definitions are untagged: the ACTIVE revisions of the project's family are leftovers.
    definition = ecs.register_task_definition(
        family="taskmanager-ecs-webapp", containerDefinitions=[{"name": "web", "image": "web", "memory": 64}]
    )["taskDefinition"]["taskDefinitionArn"]
    ecr.create_repository(repositoryName="audit-repo", tags=TAG)
    ssm.put_parameter(Name="/audit/leftover", Value="x", Type="String", Tags=TAG)
    default_subnets = ec2.describe_subnets(Filters=[{"Name": "default-for-az", "Values": ["true"]}])["Subnets"]
    rds.create_db_subnet_group(
        DBSubnetGroupName="audit-subnets",
        DBSubnetGroupDescription="audit",
        SubnetIds=[s["SubnetId"] for s in default_subnets[:2]],
        Tags=TAG,
    )
    try:
        run = run_playbook("playbooks/audit.yml", endpoint=endpoint)
        assert run.rc != 0
        assert "Teardown left 7 resource(s)" in run.output, run.output[-3000:]
        for label in (
            f"vpc {vpc}",
            "ECS cluster audit-cluster",
            "ECS capacity provider audit-cp",
            "ECS task definition taskmanager-ecs-webapp:",
            "ECR repository audit-repo",
            "SSM parameter /audit/leftover",
            "RDS DB subnet group audit-subnets",
        ):
            assert label in run.output, label
        assert other_project not in run.output
    finally:
        ec2.delete_vpc(VpcId=vpc)
        ecs.delete_cluster(cluster="audit-cluster")  # INACTIVE clusters stay visible: not leftovers
        ecs.delete_capacity_provider(capacityProvider="audit-cp")
        ecs.deregister_task_definition(taskDefinition=definition)  # INACTIVE revisions neither
        ecr.delete_repository(repositoryName="audit-repo")
        ssm.delete_parameter(Name="/audit/leftover")
        rds.delete_db_subnet_group(DBSubnetGroupName="audit-subnets")
    clean = run_playbook("playbooks/audit.yml", endpoint=endpoint)
    assert clean.rc == 0, clean.output[-3000:]
    assert "Audit clean" in clean.output
