# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Scale-out under load on the local data plane, time-compressed (issue 14).

One fleet (site.yml's defaults: desired 1, min 1, max 3, detailed monitoring) on a private
emulator at time scale TIME_SCALE. The stress role loads the one instance through the local
fleet inventory (amazon.aws.aws_ec2 on the emulator, commands inside the instance's cgroups):
20 % does not scale out; 80 % scales out to 2 or 3 through the data plane's target tracking,
the new instances turn healthy and the spread check sees them; desired never exceeds max 3; a
re-run of site.yml leaves the desired capacity alone.

The policy's target is 50 % here, not the default 70: on a shared 2-core machine stress-ng
delivers 65-80 % of an 80 % request (it loses the time it is preempted), and a test that needs
"above 70" from "80 requested" would flake. 80 vs 50 and 20 vs 50 keep both margins wide.
"""

from __future__ import annotations

import contextlib
import json
import os
import threading
import time

import pytest
from taskmanager_tests.emulator import FLEET, start_local_aws

ASG = "TaskManagerASG"
TIME_SCALE = 20.0  # detailed monitoring 60 s -> 3 s datapoints; warm-up 300 s -> 15 s
TARGET = 50
MAX = 3
SITE_VARS = {
    "taskmanager_build_ecs": False,
    "autoscaling_cpu_target": TARGET,
    "autoscaling_disable_scale_in": True,  # scale-in (45 s compressed) would blur the re-run check
    "alb_health_check_interval": 10,
    "alb_health_check_timeout": 5,
    "alb_health_check_healthy_threshold": 2,
    "alb_health_check_unhealthy_threshold": 2,
    "autoscaling_healthy_delay": 1,
}


class DesiredWatch(threading.Thread):
    """Samples the group's desired capacity every 0.5 s (bounded by stop())."""

    def __init__(self, local):
        super().__init__(daemon=True)
        self.client = local.client("autoscaling")
        self.seen: list[int] = []
        self._stop_event = threading.Event()

    def run(self):
        while not self._stop_event.is_set():
            with contextlib.suppress(Exception):  # a missed sample is not a result
                self.seen.append(desired(self.client))
            self._stop_event.wait(0.5)

    def stop(self):
        self._stop_event.set()
        self.join(timeout=5)


def desired(client) -> int:
    return client.describe_auto_scaling_groups(AutoScalingGroupNames=[ASG])["AutoScalingGroups"][0]["DesiredCapacity"]


@pytest.fixture(scope="module")
def fleet():
    port = int(os.environ.get("DATAPLANE_SCALE_PORT", "5651"))
    local = start_local_aws(port, dataplane=True, time_scale=TIME_SCALE)
    watch = DesiredWatch(local)
    try:
        run = local.playbook("site.yml", "-e", json.dumps(SITE_VARS), timeout=300)
        assert run.rc == 0, run.output[-4000:]
        print(f"\nsite.yml (fleet only, time scale {TIME_SCALE:g}) converged in {run.seconds:.1f} s")
        local.site_seconds = run.seconds
        watch.start()
        local.watch = watch
        yield local
    finally:
        watch.stop()
        stopped = local.script("stop")
        print(stopped.stdout, stopped.stderr)


def stress(local, load: int, duration: int, *extra: str):
    return local.playbook(
        "playbooks/stress.yml",
        "-e",
        json.dumps({"stress_cpu_load": load, "stress_duration": duration}),
        *extra,
        timeout=60,
        inventories=FLEET,
    )


def evaluations(local) -> list[dict]:
    return local.status().get("scaling", {}).get("evaluations", [])


def test_the_fleet_inventory_lists_the_instance_and_runs_inside_it(fleet):
    run = fleet.playbook(
        "playbooks/stress.yml", "-e", json.dumps({"stress_state": "stopped"}), timeout=60, inventories=FLEET
    )
    assert run.rc == 0, run.output[-3000:]
    members = fleet.client("autoscaling").describe_auto_scaling_groups(AutoScalingGroupNames=[ASG])
    ids = [i["InstanceId"] for i in members["AutoScalingGroups"][0]["Instances"]]
    assert len(ids) == 1
    assert f"ok: [{ids[0]}]" in run.output


def test_twenty_percent_does_not_scale_out(fleet):
    run = stress(fleet, 20, 30)
    assert run.rc == 0, run.output[-3000:]
    assert "1 workers at 20%" in run.output  # nproc inside the instance: its 1 core
    # Counted from when the load runs (the playbook's own time varies), less one 3 s period that
    # may hold only part of it; then 4 or more datapoints, more than the 3 a scale-out needs.
    loaded_from = time.time() + 3
    time.sleep(18)
    stress(fleet, 20, 30, "-e", "stress_state=stopped")
    loaded = [e for e in evaluations(fleet) if e["time"] > loaded_from]
    print(f"20 % requested: group CPU datapoints {[e['cpu'] for e in loaded]}")
    assert len(loaded) >= 3
    assert max(e["cpu"] for e in loaded) < TARGET - 10
    assert max(e["cpu"] for e in loaded) > 5  # the load was there, inside the instance
    assert desired(fleet.client("autoscaling")) == 1


class RerunDuringScaleOut(threading.Thread):
    """Re-runs site.yml (its defaults for desired capacity) as soon as the group has scaled out,
    while scale_test.yml still waits for the new instances to turn healthy (bounded)."""

    def __init__(self, local):
        super().__init__(daemon=True)
        self.local = local
        self.desired_before: int | None = None
        self.run_result = None

    def run(self):
        client = self.local.client("autoscaling")
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline:
            with contextlib.suppress(Exception):
                if desired(client) >= 2:
                    self.desired_before = desired(client)
                    break
            time.sleep(0.5)
        else:
            return
        self.run_result = self.local.playbook("site.yml", "-e", json.dumps(SITE_VARS), timeout=300)


def test_eighty_percent_scales_out_and_the_spread_check_sees_the_new_ids(fleet):
    before = {i["instance_id"] for i in fleet.status()["instances"]}
    report = fleet.state_dir / "scale-report.json"
    rerun = RerunDuringScaleOut(fleet)
    rerun.start()
    fleet.rerun = rerun
    started = time.monotonic()
    run = fleet.playbook(
        "playbooks/scale_test.yml",
        "-e",
        json.dumps(
            {
                "stress_cpu_load": 80,
                "stress_duration": 90,
                "scale_test_interval": 2,
                "scale_test_timeout": 75,
                "scale_test_stop": True,
                "scale_test_report": str(report),
            }
        ),
        timeout=240,
        inventories=FLEET,
    )
    seconds = time.monotonic() - started
    lines = [line for line in run.output.splitlines() if "    - '" in line or "PASS" in line]
    print("\n".join(lines[-40:]))
    assert run.rc == 0, run.output[-5000:]
    text = " ".join(run.output.split())
    assert f"PASS scale-out of {ASG}: desired 1 -> " in text
    grown = desired(fleet.client("autoscaling"))
    assert 2 <= grown <= MAX
    new_ids = {i["instance_id"] for i in fleet.status()["instances"]} - before
    assert new_ids
    spread = [line for line in run.output.splitlines() if "% (fair " in line]
    for instance_id in new_ids | before:  # the spread check saw every instance, the new ones too
        assert any(instance_id in line for line in spread), spread
    timeline = json.loads(report.read_text())["out"]
    assert timeline and str(timeline[-1]["healthy"]) == str(timeline[-1]["desired"])
    activities = fleet.client("autoscaling").describe_scaling_activities(AutoScalingGroupName=ASG)["Activities"]
    assert any("target tracking" in a["Description"] for a in activities)
    print(f"scale_test.yml: {seconds:.1f} s in all; activities: {[a['Description'] for a in activities]}")


def test_max_three_is_never_exceeded(fleet):
    assert fleet.watch.seen, "no desired-capacity samples"
    assert max(fleet.watch.seen) <= MAX
    decisions = [e.get("decision") for e in evaluations(fleet) if e.get("decision")]
    assert all(d <= MAX for d in decisions)


def test_a_rerun_of_site_yml_during_the_scale_out_leaves_the_desired_capacity_alone(fleet):
    rerun = fleet.rerun
    rerun.join(timeout=300)
    assert rerun.desired_before is not None and rerun.desired_before >= 2
    assert rerun.run_result is not None
    assert rerun.run_result.rc == 0, rerun.run_result.output[-4000:]
    after = desired(fleet.client("autoscaling"))
    assert after >= rerun.desired_before
    assert min(fleet.watch.seen[fleet.watch.seen.index(rerun.desired_before) :]) >= 2  # never reset to 1
    took = rerun.run_result.seconds
    print(f"site.yml re-run during the scale-out: {took:.1f} s, desired {rerun.desired_before} -> {after}")
