"""Fixtures of the fleet tests."""

from __future__ import annotations

import os

import boto3
import pytest
from fleet_helpers import REGION


@pytest.fixture(scope="session")
def aws():
    """boto3 clients against the emulator that scripts/test-fleet.sh started (AWS_ENDPOINT_URL)."""
    if not os.environ.get("AWS_ENDPOINT_URL"):
        pytest.skip("AWS_ENDPOINT_URL is not set: run through scripts/test-fleet.sh")

    class Clients:
        ec2 = boto3.client("ec2", region_name=REGION)
        elbv2 = boto3.client("elbv2", region_name=REGION)
        autoscaling = boto3.client("autoscaling", region_name=REGION)

    return Clients()
