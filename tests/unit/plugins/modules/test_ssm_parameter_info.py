# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Unit tests of the ssm_parameter_info module against moto's ``mock_aws``."""

from __future__ import annotations

import json

import boto3
import pytest
from ansible.module_utils.testing import patch_module_args

from ansible_collections.taskmanager.aws.plugins.modules import ssm_parameter_info

REGION = "eu-north-1"


@pytest.fixture
def ssm(mock_aws_account):
    client = boto3.client("ssm", region_name=REGION)
    client.put_parameter(Name="/app/plain", Value="ami-0123456789abcdef0", Type="String")
    client.put_parameter(Name="/app/secret", Value="s3cr3t-value", Type="SecureString")
    return client


def run_module(capsys, **args):
    args.setdefault("region", REGION)
    with patch_module_args(args), pytest.raises(SystemExit):
        ssm_parameter_info.main()
    return json.loads(capsys.readouterr().out)


def test_reads_found_and_names_missing_in_order(ssm, capsys):
    result = run_module(capsys, names=["/app/missing-b", "/app/plain", "/app/secret", "/app/missing-a"])
    assert result["changed"] is False
    assert result["missing"] == ["/app/missing-b", "/app/missing-a"]
    assert result["parameters"]["/app/plain"]["value"] == "ami-0123456789abcdef0"
    assert result["parameters"]["/app/secret"] == {
        "name": "/app/secret",
        "type": "SecureString",
        "value": "s3cr3t-value",
        "version": 1,
    }


def test_without_decrypt_a_secure_string_is_not_its_plain_value(ssm, capsys):
    result = run_module(capsys, names=["/app/secret"], decrypt=False)
    assert result["missing"] == []
    assert result["parameters"]["/app/secret"]["value"] != "s3cr3t-value"


def test_more_than_ten_names_are_read_in_batches(ssm, capsys):
    names = [f"/app/n{n:02d}" for n in range(23)]
    for name in names[::2]:
        ssm.put_parameter(Name=name, Value=name.upper(), Type="String")
    result = run_module(capsys, names=[*names, names[0]])  # a repeated name is read once
    assert sorted(result["parameters"]) == names[::2]
    assert all(p["value"] == name.upper() for name, p in result["parameters"].items())
    assert result["missing"] == names[1::2]


def test_no_names_fails_naming_the_option(ssm, capsys):
    result = run_module(capsys, names=[])
    assert result["failed"] and "names" in result["msg"]


def test_a_missing_secrets_manager_reference_is_missing(ssm, capsys):
    reference = "/aws/reference/secretsmanager/no-such-secret"  # AWS answers ParameterNotFound here
    result = run_module(capsys, names=["/app/plain", reference])
    assert result["missing"] == [reference]
    assert list(result["parameters"]) == ["/app/plain"]


def test_an_unreachable_endpoint_fails_saying_what_was_done(capsys, closed_endpoint):
    result = run_module(capsys, names=["/app/plain"], endpoint_url=closed_endpoint)
    assert result["failed"]
    assert "read the parameters" in result["msg"]
