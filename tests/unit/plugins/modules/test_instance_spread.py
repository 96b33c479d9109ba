# Copyright: Contributors to the taskmanager.aws project
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Unit tests of the instance_spread module: arguments, check mode, verdict wiring, target groups.

HTTP goes to a real in-process server on an ephemeral loopback port; AWS is replaced by a fake
elbv2 client (the moto-backed test lives in tests/spread).
"""

import itertools
import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from unittest import mock

import pytest
from ansible.module_utils import basic
from ansible.module_utils.testing import patch_module_args

from ansible_collections.amazon.aws.plugins.module_utils.modules import AnsibleAWSModule
from ansible_collections.taskmanager.aws.plugins.modules import instance_spread

IDS = ["i-0aaaaaaaaaaaaaaa1", "i-0bbbbbbbbbbbbbbb2", "i-0ccccccccccccccc3"]


class ExitJson(Exception):
    pass


class FailJson(Exception):
    pass


def exit_json(self, **kwargs):
    raise ExitJson(kwargs)


def fail_json(self, **kwargs):
    raise FailJson(kwargs)


@pytest.fixture(autouse=True)
def module_exits(monkeypatch):
    monkeypatch.setattr(basic.AnsibleModule, "exit_json", exit_json)
    monkeypatch.setattr(basic.AnsibleModule, "fail_json", fail_json)


@pytest.fixture(name="server")
def fixture_server():
    """A round-robin server: answers with IDS in turn; ``server.ids`` can be changed by a test."""
    state = {"ids": list(IDS), "counter": itertools.count(), "headers": []}
    lock = threading.Lock()

    class Handler(BaseHTTPRequestHandler):
        disable_nagle_algorithm = True

        def log_message(self, *args):
            pass

        def do_GET(self):  # noqa: N802
            with lock:
                ident = state["ids"][next(state["counter"]) % len(state["ids"])]
                state["headers"].append(dict(self.headers))
            if "application/json" in self.headers.get("Accept", ""):
                body = json.dumps({"instance_id": ident, "availability_zone": "eu-north-1a"}).encode()
            else:
                body = f"Du er koblet til instans: {ident}".encode()
            self.send_response(200)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

    httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    httpd.daemon_threads = True
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    state["url"] = f"http://127.0.0.1:{httpd.server_address[1]}/instance"
    yield state
    httpd.shutdown()
    httpd.server_close()


def run_module(args):
    with patch_module_args(args), pytest.raises((ExitJson, FailJson)) as exc_info:
        instance_spread.main()
    return exc_info.type is ExitJson, exc_info.value.args[0]


def no_aws(*args, **kwargs):
    raise AssertionError("the module must not talk to AWS without target_group_arn")


def test_even_spread_passes_without_aws(server, monkeypatch):
    monkeypatch.setattr(AnsibleAWSModule, "client", no_aws)
    ok, result = run_module({"url": server["url"], "requests": 30, "concurrency": 3, "expected_ids": IDS})
    assert ok, result
    assert result["changed"] is False
    assert result["counts"] == {i: 10 for i in IDS}
    assert result["az_counts"] == {"eu-north-1a": 30}
    assert result["missing_ids"] == [] and result["unknown_ids"] == []
    assert result["passed"] is True
    assert len(result["summary"]) == 4 and result["summary"][0].startswith(IDS[0] + " 10  33.3%")
    assert set(result["latency_ms"]) == {"p50", "p95", "p99", "max", "mean"}
    assert server["headers"][0]["Accept"] == "application/json"


def test_check_mode_still_probes_and_reports_no_change(server):
    ok, result = run_module({"url": server["url"], "requests": 9, "_ansible_check_mode": True})
    assert ok, result
    assert result["changed"] is False
    assert result["sent"] == 9


def test_headers_and_text_answers(server):
    ok, result = run_module(
        {"url": server["url"], "requests": 6, "concurrency": 1, "headers": {"Accept": "text/plain", "Host": "app.test"}}
    )
    assert ok, result
    assert result["counts"] == {i: 2 for i in IDS}
    assert result["az_counts"] == {}
    assert server["headers"][0]["Host"] == "app.test"


def test_failed_verdict_fails_with_diagnostics(server):
    server["ids"] = [IDS[0], IDS[0], IDS[0], IDS[0], IDS[1]]
    ok, result = run_module({"url": server["url"], "requests": 100, "expected_ids": IDS})
    assert not ok
    assert result["msg"].startswith("Spread check failed: ")
    assert f"expected ID(s) never answered: {IDS[2]}" in result["msg"]
    assert "uneven spread" in result["msg"]
    assert result["counts"] == {IDS[0]: 80, IDS[1]: 20}
    assert result["missing_ids"] == [IDS[2]]
    assert result["changed"] is False
    assert result["summary"]


def test_connection_refused_is_counted(monkeypatch):
    ok, result = run_module({"url": "http://127.0.0.1:9/instance", "requests": 5, "concurrency": 2, "timeout": 1})
    assert not ok
    assert result["errors"] == {"connection_refused": 5}
    assert result["error_samples"][0]["kind"] == "connection_refused"
    assert "error rate 100.0%" in result["msg"]


@pytest.mark.parametrize(
    "args, message",
    [
        ({"requests": 0}, "requests must be at least 1"),
        ({"concurrency": 0}, "concurrency must be at least 1"),
        ({"time_budget": 0}, "time_budget must be greater than 0"),
        ({"max_error_rate": 1.5}, "max_error_rate must be between 0 and 1"),
        ({"min_azs": -1}, "min_azs must not be negative"),
        ({"id_regex": "(x"}, "not a valid regular expression"),
        ({"expected_ids": IDS, "target_group_arn": "arn:x"}, "mutually exclusive"),
    ],
)
def test_invalid_arguments(args, message):
    ok, result = run_module(dict({"url": "http://127.0.0.1:9/"}, **args))
    assert not ok
    assert message in result["msg"]


class FakeElbv2:
    def __init__(self, descriptions):
        self.descriptions = descriptions
        self.calls = []

    def describe_target_health(self, **kwargs):
        self.calls.append(kwargs)
        return {"TargetHealthDescriptions": self.descriptions}


def target(ident, state):
    return {"Target": {"Id": ident, "Port": 80}, "TargetHealth": {"State": state}}


def test_target_group_healthy_instances_are_expected(server, monkeypatch):
    fake = FakeElbv2([target(IDS[0], "healthy"), target(IDS[1], "healthy"), target(IDS[2], "unhealthy")])
    monkeypatch.setattr(AnsibleAWSModule, "client", lambda self, service, **kw: fake)
    ok, result = run_module(
        {"url": server["url"], "requests": 30, "target_group_arn": "arn:tg", "region": "eu-north-1"}
    )
    assert not ok
    assert fake.calls[0]["TargetGroupArn"] == "arn:tg"
    assert result["healthy_targets"] == IDS[:2]
    assert result["expected_ids"] == IDS[:2]
    assert result["unknown_ids"] == [IDS[2]]
    server["ids"] = IDS[:2]
    ok, result = run_module(
        {"url": server["url"], "requests": 30, "target_group_arn": "arn:tg", "region": "eu-north-1"}
    )
    assert ok, result


def test_target_group_ip_targets_compare_the_number(server, monkeypatch):
    fake = FakeElbv2([target("10.0.1.5", "healthy"), target("10.0.2.7", "healthy"), target("10.0.2.9", "healthy")])
    monkeypatch.setattr(AnsibleAWSModule, "client", lambda self, service, **kw: fake)
    server["ids"] = IDS[:2]
    ok, result = run_module(
        {"url": server["url"], "requests": 20, "target_group_arn": "arn:tg", "region": "eu-north-1"}
    )
    assert not ok
    assert "only 2 distinct ID(s) answered" in result["msg"] and "at least 3 required" in result["msg"]
    assert any("not EC2 instances" in w for w in result["warnings"])


def test_target_group_without_healthy_targets_fails(server, monkeypatch):
    fake = FakeElbv2([target(IDS[0], "unhealthy")])
    monkeypatch.setattr(AnsibleAWSModule, "client", lambda self, service, **kw: fake)
    ok, result = run_module({"url": server["url"], "target_group_arn": "arn:tg", "region": "eu-north-1"})
    assert not ok
    assert result["msg"] == "Target group arn:tg has no healthy targets"


def test_target_group_aws_error_goes_through_fail_json_aws(server, monkeypatch):
    botocore = pytest.importorskip("botocore")

    class Broken:
        def describe_target_health(self, **kwargs):
            raise botocore.exceptions.ClientError(
                {"Error": {"Code": "TargetGroupNotFound", "Message": "nope"}}, "DescribeTargetHealth"
            )

    monkeypatch.setattr(AnsibleAWSModule, "client", lambda self, service, **kw: Broken())
    args = {"url": server["url"], "target_group_arn": "arn:tg", "region": "eu-north-1"}
    with (
        mock.patch.object(AnsibleAWSModule, "fail_json_aws", side_effect=FailJson("aws")) as failed,
        patch_module_args(args),
        pytest.raises(FailJson),
    ):
        instance_spread.main()
    assert failed.call_args.kwargs["msg"] == "Failed to describe target health"
    assert failed.call_args.args[0].response["Error"]["Code"] == "TargetGroupNotFound"
