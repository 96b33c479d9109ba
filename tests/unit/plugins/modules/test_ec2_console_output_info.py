# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Unit tests of the ec2_console_output_info module: its pure helpers, and main() against moto's
``mock_aws`` (whose GetConsoleOutput answers a fixed sample boot log)."""

from __future__ import annotations

import json

import boto3
import pytest
from ansible.module_utils.testing import patch_module_args

from ansible_collections.taskmanager.aws.plugins.modules import ec2_console_output_info

REGION = "eu-north-1"


def test_error_lines():
    text = "boot\ntaskmanager-bootstrap: read SECRET_KEY\npymysql.err.OperationalError: (1045, 'Access denied')\n"
    lines = ec2_console_output_info.error_lines(text, "(?i)error|denied", 5)
    assert lines == ["pymysql.err.OperationalError: (1045, 'Access denied')"]
    many = "\n".join(f"ERROR {n}" for n in range(10))
    assert ec2_console_output_info.error_lines(many, "ERROR", 3) == ["ERROR 7", "ERROR 8", "ERROR 9"]
    assert ec2_console_output_info.error_lines(many, "ERROR", 0) == []


@pytest.fixture
def ec2(mock_aws_account):
    return boto3.client("ec2", region_name=REGION)


def run_module(capsys, **args):
    args.setdefault("region", REGION)
    with patch_module_args(args), pytest.raises(SystemExit):
        ec2_console_output_info.main()
    return json.loads(capsys.readouterr().out)


def test_reads_console_output_and_never_changes(ec2, capsys):
    image = ec2.describe_images(Owners=["amazon"])["Images"][0]["ImageId"]
    instance = ec2.run_instances(ImageId=image, MinCount=1, MaxCount=1)["Instances"][0]["InstanceId"]
    result = run_module(capsys, instance_ids=[instance], error_pattern="(?i)kernel command line")
    assert result["changed"] is False
    assert result["instances"][0]["instance_id"] == instance
    assert "Linux version" in result["instances"][0]["output"]  # moto's sample boot log, decoded
    assert result["instances"][0]["errors"] == ["Kernel command line: root=/dev/sda1 ro 4"]


def test_bad_pattern_fails_with_its_name(ec2, capsys):
    result = run_module(capsys, instance_ids=["i-0123456789abcdef0"], error_pattern="(")
    assert result["failed"] and "error_pattern" in result["msg"]


def test_an_instance_that_does_not_exist_has_no_output(ec2, capsys):
    result = run_module(capsys, instance_ids=["i-0123456789abcdef0"])
    assert result["changed"] is False
    assert result["instances"] == [{"instance_id": "i-0123456789abcdef0", "output": "", "errors": []}]


def test_an_unreachable_endpoint_fails_saying_what_was_done(capsys, closed_endpoint):
    result = run_module(capsys, instance_ids=["i-0123456789abcdef0"], endpoint_url=closed_endpoint)
    assert result["failed"]
    assert "Failed to read the console output" in result["msg"]
