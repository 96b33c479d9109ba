# Copyright: Contributors to the taskmanager.aws project
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""instance_spread through ansible-playbook against a real HAProxy in front of real backends."""

import time
import urllib.request

import boto3
import harness
import pytest
from conftest import IDS, MOTO_BACKEND_PORTS

ABC = [IDS["a"], IDS["b"], IDS["c"]]
VERIFY_PLAYBOOK = harness.REPO_ROOT / "playbooks" / "verify_spread.yml"


def test_even_round_robin_passes(haproxy):
    rc, result, _seconds = harness.run_playbook(
        {"spread_url": haproxy["even"], "spread_requests": 150, "spread_expected_ids": ABC, "spread_min_azs": 3}
    )
    assert rc == 0, result.get("msg")
    assert result["changed"] is False
    assert result["counts"] == {i: 50 for i in ABC}
    assert result["az_counts"] == {"eu-north-1a": 50, "eu-north-1b": 50, "eu-north-1c": 50}
    assert result["errors"] == {}
    assert result["balance"]["passed"] is True
    assert len(result["summary"]) == 4
    # the throughput is reported: the sent requests over the probe's own time
    assert result["requests_per_second"] == pytest.approx(150 / result["elapsed"], rel=0.05)


def test_even_round_robin_text_answers_in_check_mode(haproxy):
    rc, result, _seconds = harness.run_playbook(
        {"spread_url": haproxy["even"], "spread_requests": 60, "spread_headers": {"Accept": "text/plain"}},
        check=True,
    )
    assert rc == 0, result.get("msg")
    assert result["changed"] is False
    assert result["counts"] == {i: 20 for i in ABC}


def test_weights_5_1_1_fail_the_balance_test(haproxy):
    rc, result, _seconds = harness.run_playbook(
        {"spread_url": haproxy["weighted"], "spread_requests": 140, "spread_expected_ids": ABC}
    )
    assert rc != 0
    assert result["failed"] is True
    assert result["counts"] == {IDS["a"]: 100, IDS["b"]: 20, IDS["c"]: 20}
    assert result["balance"]["passed"] is False
    assert result["balance"]["p_value"] < 0.001
    assert f"uneven spread: {IDS['a']} got 100 of 140" in result["msg"]
    assert "overloaded" in result["msg"]
    assert result["missing_ids"] == [] and result["errors"] == {}


def test_stopped_backend_is_reported_missing(haproxy, backends):
    harness.stop(backends["f"])
    time.sleep(1.0)  # HAProxy checks every 200 ms and marks the server down after one failure
    expected = [IDS["a"], IDS["b"], IDS["f"]]
    rc, result, _seconds = harness.run_playbook(
        {"spread_url": haproxy["stopped"], "spread_requests": 60, "spread_expected_ids": expected}
    )
    assert rc != 0
    assert result["missing_ids"] == [IDS["f"]]
    assert f"expected ID(s) never answered: {IDS['f']}" in result["msg"]
    assert set(result["counts"]) == {IDS["a"], IDS["b"]}


def test_backend_answering_500_counts_errors_and_fails(haproxy):
    rc, result, _seconds = harness.run_playbook({"spread_url": haproxy["err500"], "spread_requests": 90})
    assert rc != 0
    assert result["errors"] == {"http_500": 30}
    assert result["error_rate"] == pytest.approx(30 / 90, abs=1e-3)
    assert result["error_samples"][0]["kind"] == "http_500"
    assert "error rate 33.3%" in result["msg"]
    assert result["counts"] == {IDS["a"]: 30, IDS["b"]: 30}


def test_backend_answering_500_passes_with_a_tolerant_error_rate(haproxy):
    rc, result, _seconds = harness.run_playbook(
        {"spread_url": haproxy["err500"], "spread_requests": 30, "spread_max_error_rate": 0.5}
    )
    assert rc == 0, result.get("msg")
    assert result["errors"] == {"http_500": 10}


def test_hanging_backend_counts_timeouts(haproxy):
    rc, result, _seconds = harness.run_playbook(
        {
            "spread_url": haproxy["hang"],
            "spread_requests": 30,
            "spread_concurrency": 6,
            "spread_timeout": 1,
            "spread_time_budget": 15,
        }
    )
    assert rc != 0
    assert result["errors"] == {"timeout": 10}
    assert result["counts"] == {IDS["a"]: 10, IDS["b"]: 10}
    assert result["not_sent"] == 0
    assert result["elapsed"] < 15


def test_hanging_backend_module_returns_within_its_time_budget(haproxy):
    budget = 3
    rc, result, seconds = harness.run_playbook(
        {
            "spread_url": haproxy["hang"],
            "spread_requests": 600,
            "spread_concurrency": 3,
            "spread_timeout": 2.5,
            "spread_time_budget": budget,
        }
    )
    assert rc != 0
    assert result["elapsed"] <= budget + 1.0
    assert result["not_sent"] > 0
    assert result["errors"]["not_sent"] == result["not_sent"]
    assert result["errors"]["timeout"] >= 1
    assert "requests were sent before the time budget ran out" in result["msg"]
    # the whole ansible-playbook run (start-up included) stays bounded too
    assert seconds < budget + 30


def _wait_for_ids(url, ids, timeout=10.0):
    """Poll through HAProxy until every ID has answered once (its health check has passed)."""
    seen = set()
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline and seen != set(ids):
        try:
            with urllib.request.urlopen(url, timeout=1) as response:  # noqa: S310 (loopback test URL)
                body = response.read().decode()
            seen.update(i for i in ids if i in body)
        except OSError:
            time.sleep(0.1)
    assert seen == set(ids), f"only {seen} answered through {url}"


@pytest.fixture(name="moto_fleet")
def fixture_moto_fleet(moto, haproxy):
    """Three moto instances in a target group, and a backend per instance answering with its ID."""
    session = boto3.session.Session(
        aws_access_key_id="testing",
        aws_secret_access_key="testing",  # noqa: S106 (moto's dummy credentials)
        region_name="eu-north-1",
    )
    ec2 = session.client("ec2", endpoint_url=moto.env["AWS_ENDPOINT_URL"])
    elbv2 = session.client("elbv2", endpoint_url=moto.env["AWS_ENDPOINT_URL"])
    vpc = ec2.create_vpc(CidrBlock="10.42.0.0/16")["Vpc"]["VpcId"]
    subnet = ec2.create_subnet(VpcId=vpc, CidrBlock="10.42.1.0/24", AvailabilityZone="eu-north-1a")["Subnet"]
    image = ec2.describe_images()["Images"][0]["ImageId"]
    instances = ec2.run_instances(
        ImageId=image, MinCount=3, MaxCount=3, InstanceType="t3.micro", SubnetId=subnet["SubnetId"]
    )["Instances"]
    ids = sorted(i["InstanceId"] for i in instances)
    arn = elbv2.create_target_group(Name="spread-test", Protocol="HTTP", Port=80, VpcId=vpc, TargetType="instance")[
        "TargetGroups"
    ][0]["TargetGroupArn"]
    procs = []
    try:
        for port, ident in zip(MOTO_BACKEND_PORTS, ids, strict=True):
            procs.append(harness.start_backend(port, ident, az="eu-north-1a"))
        _wait_for_ids(haproxy["moto"], ids)
        yield {"arn": arn, "ids": ids, "elbv2": elbv2, "url": haproxy["moto"]}
    finally:
        for proc in procs:
            harness.stop(proc)


def test_target_group_healthy_targets_against_moto(moto, moto_fleet):
    elbv2 = moto_fleet["elbv2"]
    ids = moto_fleet["ids"]
    # Only two of the three answering instances are registered: the third is an unknown ID.
    elbv2.register_targets(TargetGroupArn=moto_fleet["arn"], Targets=[{"Id": i, "Port": 80} for i in ids[:2]])
    variables = {"spread_url": moto_fleet["url"], "spread_requests": 60, "spread_target_group_arn": moto_fleet["arn"]}
    rc, result, _seconds = harness.run_playbook(variables, env=moto.env)
    assert rc != 0
    assert result["healthy_targets"] == ids[:2]
    assert result["unknown_ids"] == [ids[2]]
    assert f"unexpected ID(s) answered: {ids[2]}" in result["msg"]

    elbv2.register_targets(TargetGroupArn=moto_fleet["arn"], Targets=[{"Id": ids[2], "Port": 80}])
    rc, result, _seconds = harness.run_playbook(variables, env=moto.env)
    assert rc == 0, result.get("msg")
    assert result["healthy_targets"] == ids
    assert result["counts"] == {i: 20 for i in ids}

    # The user-facing playbook finds the target group by name and checks the same thing.
    rc, result, output, _seconds = harness.run_playbook_full(
        {
            "verify_spread_url": moto_fleet["url"],
            "verify_spread_target_group_name": "spread-test",
            "verify_spread_requests": 60,
            "taskmanager_aws_region": "eu-north-1",
        },
        playbook=VERIFY_PLAYBOOK,
        env=moto.env,
    )
    assert rc == 0, harness.task_messages(output)
    assert result["healthy_targets"] == ids


def test_verify_playbook_passes_and_prints_the_spread(haproxy):
    rc, result, output, _seconds = harness.run_playbook_full(
        {
            "verify_spread_url": haproxy["even"],
            "verify_spread_target_group_name": "",
            "verify_spread_expected_ids": ABC,
        },
        playbook=VERIFY_PLAYBOOK,
    )
    assert rc == 0, harness.task_messages(output)
    assert result["counts"] == {i: 34 if i == IDS["a"] else 33 for i in ABC}
    assert any(IDS["a"] + " 34" in m for m in harness.task_messages(output))


def test_verify_playbook_fails_with_the_reason(haproxy):
    rc, _result, output, _seconds = harness.run_playbook_full(
        {"verify_spread_url": haproxy["weighted"], "verify_spread_target_group_name": "", "verify_spread_requests": 70},
        playbook=VERIFY_PLAYBOOK,
    )
    assert rc != 0
    messages = harness.task_messages(output)
    assert any("Spread check failed: uneven spread" in m for m in messages), messages
    assert any(IDS["a"] + " 50" in m for m in messages), messages


@pytest.mark.skipif(not harness.webapp_available(), reason="the web app (webapp/src, gunicorn) is not available")
def test_real_webapp_behind_haproxy(haproxy, tmp_path):
    """The web app's own /instance (gunicorn, TASKMANAGER_INSTANCE_ID) on the ports of the moto frontend."""
    ids = ["i-0aa11aa11aa11aa11", "i-0bb22bb22bb22bb22", "i-0cc33cc33cc33cc33"]
    azs = ["eu-north-1a", "eu-north-1b", "eu-north-1c"]
    procs = []
    try:
        for port, ident, az in zip(MOTO_BACKEND_PORTS, ids, azs, strict=True):
            data_dir = tmp_path / ident
            data_dir.mkdir()
            procs.append(harness.start_webapp(port, ident, az, data_dir))
        _wait_for_ids(haproxy["moto"], ids, timeout=30)
        rc, result, _seconds = harness.run_playbook(
            {"spread_url": haproxy["moto"], "spread_requests": 90, "spread_expected_ids": ids, "spread_min_azs": 3}
        )
        assert rc == 0, result.get("msg")
        assert result["counts"] == {i: 30 for i in ids}
        assert result["az_counts"] == {az: 30 for az in azs}
    finally:
        for proc in procs:
            harness.stop(proc)
