"""Bad input stops before any AWS call, with a message naming the variable."""

from __future__ import annotations

import pytest
from conftest import NO_AWS, run_playbook

# Through site.yml itself, the way a user runs it: its first play, the preflight, stops before any
# AWS call. One case per kind of check (a rule on a value; a file the package check looks for);
# every other rule is a row of tests/foundation/test_preflight_table.py, which runs the same role.
CASES = [
    pytest.param(["-e", "network_vpc_cidr=10.0.0.0/33"], "network_vpc_cidr", id="invalid-vpc-cidr"),
    pytest.param(
        ["-e", "artifacts_webapp_package=/nonexistent/app.whl"], "artifacts_webapp_package", id="missing-package"
    ),
]


@pytest.mark.parametrize(("extra", "variable"), CASES)
def test_bad_input_fails_before_any_aws_call(extra, variable):
    # The endpoint is a closed port: reaching AWS at all would fail with a connection error
    # instead of the validation message.
    run = run_playbook("site.yml", *extra, endpoint=NO_AWS)
    assert run.rc != 0
    assert variable in run.output
    assert "Connection refused" not in run.output
    assert "Could not connect to the endpoint URL" not in run.output


def test_bad_input_leaves_nothing_behind(endpoint, ec2):
    before = ec2.describe_vpcs(Filters=[{"Name": "tag:Project", "Values": ["taskmanager"]}])["Vpcs"]
    run = run_playbook("site.yml", "-e", "network_az_count=3", endpoint=endpoint)
    assert run.rc != 0 and "network_az_count" in run.output
    after = ec2.describe_vpcs(Filters=[{"Name": "tag:Project", "Values": ["taskmanager"]}])["Vpcs"]
    assert after == before
