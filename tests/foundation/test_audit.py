"""The teardown audit fails on anything left with the project's tag."""

from __future__ import annotations

import boto3
from conftest import run_playbook


def test_audit_reports_a_tagged_leftover(endpoint, ec2):
    vpc = ec2.create_vpc(
        CidrBlock="10.77.0.0/16",
        TagSpecifications=[{"ResourceType": "vpc", "Tags": [{"Key": "Project", "Value": "taskmanager"}]}],
    )["Vpc"]["VpcId"]
    try:
        run = run_playbook("playbooks/audit.yml", endpoint=endpoint)
        assert run.rc != 0
        assert f"vpc {vpc}" in run.output
        assert "Teardown left 1 resource(s)" in run.output
    finally:
        ec2.delete_vpc(VpcId=vpc)
    clean = run_playbook("playbooks/audit.yml", endpoint=endpoint)
    assert clean.rc == 0, clean.output[-3000:]
    assert "Audit clean" in clean.output


def test_audit_ignores_other_projects(endpoint, ec2):
    vpc = ec2.create_vpc(
        CidrBlock="10.78.0.0/16",
        TagSpecifications=[{"ResourceType": "vpc", "Tags": [{"Key": "Project", "Value": "someone-else"}]}],
    )["Vpc"]["VpcId"]
    try:
        run = run_playbook("playbooks/audit.yml", endpoint=endpoint)
        assert run.rc == 0, run.output[-3000:]
    finally:
        ec2.delete_vpc(VpcId=vpc)


def test_audit_reports_a_tagged_ecr_repository(endpoint):
    ecr = boto3.client(
        "ecr",
        region_name="eu-north-1",
        endpoint_url=endpoint,
        aws_access_key_id="testing",
        aws_secret_access_key="testing",  # noqa: S106 - the emulator's dummy credentials
    )
    ecr.create_repository(repositoryName="leftover/webapp", tags=[{"Key": "Project", "Value": "taskmanager"}])
    ecr.create_repository(repositoryName="other/webapp", tags=[{"Key": "Project", "Value": "someone-else"}])
    try:
        run = run_playbook("playbooks/audit.yml", endpoint=endpoint)
        assert run.rc != 0
        assert "ECR repository leftover/webapp" in run.output
        assert "other/webapp" not in run.output
    finally:
        ecr.delete_repository(repositoryName="leftover/webapp", force=True)
        ecr.delete_repository(repositoryName="other/webapp", force=True)
