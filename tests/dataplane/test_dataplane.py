# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The local data plane end to end: site.yml builds the EC2 fleet on the emulator, and real
HAProxy and web app processes serve it. Time is compressed 5x; the target group uses
interval 10 s, timeout 5 s and thresholds 2/2, i.e. 2 s / 1 s locally."""

from __future__ import annotations

import json
import os
import threading
import time
import urllib.error
import urllib.request
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

import pytest
from conftest import start_local_aws

TIME_SCALE = 5.0
INTERVAL, TIMEOUT, HEALTHY, UNHEALTHY = 10, 5, 2, 2
# What an ALB needs to take a failed target out of rotation: unhealthy threshold x interval + timeout.
BUDGET = (UNHEALTHY * INTERVAL + TIMEOUT) / TIME_SCALE
SLACK = 1.5  # one reconcile pass and one HAProxy check of jitter


@dataclass
class Probe:
    """Bounded request loop through the load balancer: every answer and failure, timed."""

    url: str
    period: float = 0.05
    timeout: float = 1.0
    limit: float = 90.0
    results: list = field(default_factory=list)  # (start, end, instance id or None, error kind or None)

    def __post_init__(self):
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def __enter__(self):
        self.started = time.monotonic()
        self._thread.start()
        return self

    def __exit__(self, *exc):
        self._stop.set()
        self._thread.join(timeout=self.timeout + 2)

    def _run(self):
        deadline = time.monotonic() + self.limit
        while not self._stop.is_set() and time.monotonic() < deadline:
            start = time.monotonic()
            try:
                request = urllib.request.Request(self.url, headers={"Accept": "application/json"})  # noqa: S310
                with urllib.request.urlopen(request, timeout=self.timeout) as answer:  # noqa: S310 - loopback URL
                    self.results.append((start, time.monotonic(), json.loads(answer.read())["instance_id"], None))
            except urllib.error.HTTPError as exc:
                self.results.append((start, time.monotonic(), None, f"HTTP {exc.code}"))
            except OSError as exc:
                self.results.append((start, time.monotonic(), None, type(exc).__name__))
            self._stop.wait(max(0.0, self.period - (time.monotonic() - start)))

    def failures(self) -> Counter:
        return Counter(result[3] for result in self.results if result[3])

    def report(self, label: str) -> str:
        ok = sum(1 for r in self.results if r[3] is None)
        return f"{label}: {len(self.results)} requests, {ok} answered, failed {dict(self.failures()) or 0}"


def instance_ids(local, group="TaskManagerASG") -> list[dict]:
    groups = local.client("autoscaling").describe_auto_scaling_groups(AutoScalingGroupNames=[group])
    return groups["AutoScalingGroups"][0]["Instances"]


def target_states(local) -> dict[str, str]:
    elbv2 = local.client("elbv2")
    arn = elbv2.describe_target_groups(Names=["TaskManagerTG"])["TargetGroups"][0]["TargetGroupArn"]
    return {
        d["Target"]["Id"]: d["TargetHealth"]["State"]
        for d in elbv2.describe_target_health(TargetGroupArn=arn)["TargetHealthDescriptions"]
    }


def wait_for(predicate, timeout: float, what: str, step: float = 0.2):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(step)
    raise AssertionError(f"not within {timeout:g} s: {what}")


def local_instance(local, instance_id: str) -> dict | None:
    return next((i for i in local.status().get("instances", []) if i["instance_id"] == instance_id), None)


@pytest.fixture(scope="module")
def stack():
    local = start_local_aws(int(os.environ.get("DATAPLANE_STACK_PORT", "5017")), dataplane=True, time_scale=TIME_SCALE)
    try:
        run = local.playbook(
            "site.yml",
            "-e",
            json.dumps(
                {
                    "taskmanager_build_ecs": False,
                    "autoscaling_desired_capacity": 2,
                    "alb_health_check_interval": INTERVAL,
                    "alb_health_check_timeout": TIMEOUT,
                    "alb_health_check_healthy_threshold": HEALTHY,
                    "alb_health_check_unhealthy_threshold": UNHEALTHY,
                    "autoscaling_healthy_delay": 1,
                }
            ),
        )
        assert run.rc == 0, run.out[-4000:]
        lb = local.client("elbv2").describe_load_balancers(Names=["TaskManagerALB"])["LoadBalancers"][0]
        local.alb_url = f"http://{lb['DNSName']}"
        local.converge_seconds = run.seconds
        yield local
    finally:
        stopped = local.script("stop")
        print(stopped.stdout, stopped.stderr)


def test_site_yml_ends_with_a_serving_fleet(stack):
    """site.yml waited for healthy targets: every instance of the group is healthy through the API."""
    members = {i["InstanceId"] for i in instance_ids(stack)}
    assert len(members) == 2
    assert target_states(stack) == dict.fromkeys(members, "healthy")
    zones = {i["AvailabilityZone"] for i in instance_ids(stack)}
    assert zones == {"eu-north-1a", "eu-north-1b"}
    print(f"site.yml (fleet, time scale {TIME_SCALE:g}) converged and served in {stack.converge_seconds:.1f} s")


def test_a_request_through_the_alb_reaches_an_instance(stack):
    members = {i["InstanceId"]: i["AvailabilityZone"] for i in instance_ids(stack)}
    seen = Counter()
    for _request in range(20):
        with urllib.request.urlopen(stack.alb_url + "/instance", timeout=5) as answer:  # noqa: S310 - loopback
            text = answer.read().decode()
        assert text.startswith("Du er koblet til instans: i-")
        seen[text.split()[-1]] += 1
    assert set(seen) == set(members)  # round robin over both instances, IDs the emulator knows
    request = urllib.request.Request(stack.alb_url + "/instance", headers={"Accept": "application/json"})  # noqa: S310
    with urllib.request.urlopen(request, timeout=5) as answer:  # noqa: S310
        identity = json.loads(answer.read())
    assert identity["kind"] == "ec2"  # read through the instance's IMDSv2 endpoint
    assert identity["availability_zone"] == members[identity["instance_id"]]
    with urllib.request.urlopen(stack.alb_url + "/", timeout=5) as answer:  # noqa: S310
        page = answer.read().decode()
    assert 'id="served-by"' in page and "i-" in page


def test_a_frozen_az_leaves_rotation_within_the_health_check_budget(stack):
    members = {i["InstanceId"]: i["AvailabilityZone"] for i in instance_ids(stack)}
    victim, zone = sorted(members.items(), key=lambda kv: kv[1])[-1]
    with Probe(stack.alb_url + "/instance", limit=60) as probe:
        time.sleep(1.0)
        asked_at = time.monotonic()
        done = stack.script("freeze-az", zone)
        # The command returns once the data plane has frozen the AZ: the health-check budget
        # runs from there.
        frozen_at = time.monotonic()
        try:
            assert done.returncode == 0, done.stderr
            time.sleep(BUDGET + SLACK + 2)
        finally:
            thawed = stack.script("thaw-az", zone)
        assert thawed.returncode == 0, thawed.stderr
    # Detection: the last request that failed because it was sent to the frozen instance.
    survivors = [r for r in probe.results if frozen_at + BUDGET + SLACK < r[0] < frozen_at + BUDGET + SLACK + 2]
    assert survivors and all(r[3] is None for r in survivors), probe.report("after the budget")
    assert {r[2] for r in survivors} <= set(members) - {victim}
    failed = [r for r in probe.results if r[3] and frozen_at <= r[0] < frozen_at + BUDGET + SLACK + 2]
    detection = max((r[0] for r in failed), default=frozen_at) - frozen_at
    print(probe.report(f"AZ {zone} lost: detected after {detection:.2f} s (budget {BUDGET:g} s)"))
    assert detection <= BUDGET + SLACK
    assert all(r[3] is None for r in probe.results if r[1] < asked_at)


def test_a_stopped_instance_ends_leaves_rotation_and_is_replaced(stack):
    wait_for(lambda: set(target_states(stack).values()) == {"healthy"}, 30, "every target healthy again")
    members = {i["InstanceId"] for i in instance_ids(stack)}
    victim = sorted(members)[0]
    pid = local_instance(stack, victim)["pid"]
    assert pid
    with Probe(stack.alb_url + "/instance", limit=60) as probe:
        time.sleep(1.0)
        stopped_at = time.monotonic()
        stack.client("ec2").stop_instances(InstanceIds=[victim])

        def process_gone():
            try:
                os.kill(pid, 0)
            except ProcessLookupError:
                return True
            return False

        wait_for(process_gone, 2.0, f"{victim}'s processes to end", step=0.05)
        ended = time.monotonic() - stopped_at
        replacement = wait_for(
            lambda: next((r[2] for r in probe.results if r[2] and r[2] not in members), None),
            40,
            "a replacement instance to serve through the load balancer",
        )
        served_at = next(r[0] for r in probe.results if r[2] == replacement) - stopped_at
    last_victim = max((r[0] for r in probe.results if r[2] == victim), default=stopped_at) - stopped_at
    print(
        probe.report(
            f"{victim} stopped: processes ended in {ended:.2f} s, last answer {last_victim:.2f} s after the stop "
            f"(budget {BUDGET:g} s), replacement {replacement} in rotation after {served_at:.1f} s"
        )
    )
    assert last_victim <= BUDGET + SLACK
    assert replacement in {i["InstanceId"] for i in instance_ids(stack)}
    assert sum(probe.failures().values()) <= len(probe.results) * 0.1


def test_a_missing_secret_keeps_the_instance_unhealthy_with_a_clear_log_line(stack):
    ssm = stack.client("ssm")
    saved = ssm.get_parameter(Name="/taskmanager/secret_key", WithDecryption=True)["Parameter"]["Value"]
    ssm.delete_parameter(Name="/taskmanager/secret_key")
    try:
        members = {i["InstanceId"] for i in instance_ids(stack)}
        victim = sorted(members)[0]
        stack.client("autoscaling").terminate_instance_in_auto_scaling_group(
            InstanceId=victim, ShouldDecrementDesiredCapacity=False
        )
        fresh = wait_for(
            lambda: next((i["InstanceId"] for i in instance_ids(stack) if i["InstanceId"] not in members), None),
            10,
            "the Auto Scaling group to launch a replacement",
        )
        booted = wait_for(
            lambda: (local_instance(stack, fresh) or {}).get("state") == "boot-failed" and local_instance(stack, fresh),
            20,
            f"{fresh} to fail its boot",
        )
        console = Path(booted["console"]).read_text(encoding="utf-8")
        assert (
            "ERROR: cannot read SSM parameter /taskmanager/secret_key for SECRET_KEY; not starting the web app"
            in console
        )
        assert saved not in console
        # Never healthy: well past the healthy threshold it is still out of rotation.
        deadline = time.monotonic() + (HEALTHY * INTERVAL + TIMEOUT) / TIME_SCALE + 3
        while time.monotonic() < deadline:
            assert target_states(stack).get(fresh) in ("initial", "unhealthy")
            time.sleep(0.5)
        with Probe(stack.alb_url + "/instance", limit=5, period=0.02) as probe:
            time.sleep(2)
        assert fresh not in {r[2] for r in probe.results}
        assert not probe.failures(), probe.report("with one instance failing its boot")
    finally:
        ssm.put_parameter(Name="/taskmanager/secret_key", Value=saved, Type="SecureString", Overwrite=True)


def test_stopping_the_emulator_ends_every_data_plane_process(stack):
    pids = [i["pid"] for i in stack.status()["instances"] if i["pid"]]
    assert pids
    done = stack.script("stop")
    assert done.returncode == 0, done.stderr
    assert "no data-plane process left" in done.stdout
    for pid in pids:
        with pytest.raises(ProcessLookupError):
            os.kill(pid, 0)
