"""Fixtures for the foundation tests: a real moto server and ansible-playbook runs."""

from __future__ import annotations

import os

import boto3
import pytest
from taskmanager_tests.playbook import REPO, PlaybookRun
from taskmanager_tests.playbook import run_playbook as shared_run_playbook

# A closed port: any AWS call made against it fails with "connection refused".
NO_AWS = "http://127.0.0.1:9"


@pytest.fixture(scope="session")
def endpoint() -> str:
    url = os.environ.get("AWS_ENDPOINT_URL")
    if not url:
        pytest.fail("AWS_ENDPOINT_URL must point at the local emulator (scripts/test-foundation.sh sets it)")
    return url


def run_playbook(*args: str, endpoint: str, timeout: int = 600) -> PlaybookRun:
    """ansible-playbook with the local inventory against ``endpoint``."""
    return shared_run_playbook(
        *args,
        inventories=(REPO / "inventories/local",),
        env={"AWS_ENDPOINT_URL": endpoint},
        timeout=timeout,
    )


def aws_client(service: str, endpoint: str):
    """A boto3 client of the emulator."""
    return boto3.client(
        service,
        endpoint_url=endpoint,
        region_name="eu-north-1",
        aws_access_key_id="testing",
        aws_secret_access_key="testing",  # noqa: S106 - the emulator's dummy credentials
    )


@pytest.fixture(scope="session")
def ec2(endpoint):
    return aws_client("ec2", endpoint)
