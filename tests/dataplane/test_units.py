# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Pure pieces of the data plane, and the HAProxy configuration checked by haproxy itself."""

from __future__ import annotations

import base64
import gzip
import json
import math
import re
import subprocess
from pathlib import Path
from types import SimpleNamespace

import pytest

from localaws.emulator import TYPICAL_LATENCY, latency_profile, load_balancer_address
from localaws.haproxy import Backend, Frontend, HealthCheck, Paths, Server, matcher_regex, render
from localaws.instances import decode_user_data, instance_address, parse_env
from localaws.refresh import REFRESHES_FILE, Refreshes, Rollout


def test_matcher_codes_become_an_exact_status_regex():
    assert matcher_regex("200") == "^(200)$"
    assert matcher_regex("200,302") == "^(200|302)$"
    pattern = re.compile(matcher_regex("200-204"))
    assert pattern.match("204") and not pattern.match("205") and not pattern.match("2000")


def test_instance_address_follows_the_private_ip_within_the_emulators_range():
    assert instance_address("10.0.2.37", 56, 1) == "127.56.2.37"
    assert instance_address(None, 56, 3) == "127.56.200.4"


def test_load_balancer_addresses_are_stable_and_avoid_taken_ones():
    first = load_balancer_address("TaskManagerALB", 5555)
    assert first == load_balancer_address("TaskManagerALB", 5555)
    assert load_balancer_address("TaskManagerALB", 5555, {first}) != first
    assert load_balancer_address("TaskManagerALB", 5012).split(".")[1] != first.split(".")[1]


def test_environment_files_parse_like_the_shell():
    text = "# comment\nA='x y'\nB=plain\nEMPTY=\n\nC=\"q\"\n"
    assert parse_env(text) == {"A": "x y", "B": "plain", "EMPTY": "", "C": "q"}


def test_user_data_may_be_gzipped():
    text = "#cloud-config\nwrite_files: []\n"
    assert decode_user_data(base64.b64encode(text.encode()).decode()) == text
    assert decode_user_data(base64.b64encode(gzip.compress(text.encode())).decode()) == text


def test_rendered_configuration_is_valid_and_new_targets_start_out_of_rotation(tmp_path: Path):
    check = HealthCheck(path="/health", interval_ms=2000, timeout_ms=1000, healthy=2, unhealthy=3, matcher="200-299")
    backends = [Backend("TaskManagerTG", check, [Server("i-1_80", "127.9.1.1", 80), Server("i-2_80", "127.9.1.2", 80)])]
    frontends = [
        Frontend("TaskManagerALB_80", "127.9.254.9", 80, "TaskManagerTG"),
        Frontend("TaskManagerALB_8443", "127.9.254.9", 8443, None, redirect=True),
    ]
    text = render(frontends, backends, {("TaskManagerTG", "i-2_80")}, Paths(tmp_path))
    assert "server i-1_80 127.9.1.1:80 check\n" in text
    assert "server i-2_80 127.9.1.2:80 check disabled" in text
    assert "default-server inter 2000ms fastinter 1000ms rise 2 fall 3" in text
    assert "retries 0" in text
    config = tmp_path / "haproxy.cfg"
    config.write_text(text)
    checked = subprocess.run(["haproxy", "-c", "-f", str(config)], capture_output=True, text=True, check=False)
    assert checked.returncode == 0, checked.stderr


def test_the_latency_profile_is_off_typical_or_given_and_refuses_what_it_does_not_know():
    assert latency_profile("") == latency_profile(None) == {}
    assert latency_profile("aws") == TYPICAL_LATENCY
    assert latency_profile("aws", time_scale=4) == {kind: seconds / 4 for kind, seconds in TYPICAL_LATENCY.items()}
    assert latency_profile("alb=45, rds=120") == {"alb": 45.0, "rds": 120.0}
    for bad, message in (("elb=3", "unknown kind 'elb'"), ("rds=soon", "rds needs a number"), ("alb=-1", "between")):
        with pytest.raises(ValueError, match=message):
            latency_profile(bad)


class RefreshingGroup:
    """The Auto Scaling API as localaws.refresh sees it, for one group: its refreshes and the
    instances it terminates (the group's launches are the test's to make)."""

    def __init__(self, preferences: dict):
        self.refreshes = [{"InstanceRefreshId": "r-1", "Status": "Pending", "Preferences": preferences}]
        self.terminated: list[str] = []

    def describe_instance_refreshes(self, AutoScalingGroupName: str) -> dict:  # noqa: N803 - boto3's names
        return {"InstanceRefreshes": self.refreshes}

    def terminate_instance_in_auto_scaling_group(self, InstanceId: str, ShouldDecrementDesiredCapacity: bool) -> None:  # noqa: N803
        self.terminated.append(InstanceId)


def refresh_pass(
    state_dir: Path, preferences: dict, protected: set[str], time_scale: float = 1.0
) -> tuple[RefreshingGroup, Rollout]:
    """One data-plane pass over a settled 2-instance group (version 1, the group on 2) with a refresh."""
    api = RefreshingGroup(preferences)
    plane = SimpleNamespace(
        autoscaling=api,
        replaced=set(),
        instances={"i-a": object(), "i-b": object()},
        state_dir=str(state_dir),
        scaled=lambda seconds: seconds / time_scale,
    )
    refreshes = Refreshes(plane)
    asg = {
        "AutoScalingGroupName": "web",
        "DesiredCapacity": 2,
        "HealthCheckGracePeriod": 0,
        "LaunchTemplate": {"Version": "2"},
        "Instances": [
            {
                "InstanceId": i,
                "LifecycleState": "InService",
                "LaunchTemplate": {"Version": "1"},
                "ProtectedFromScaleIn": i in protected,
            }
            for i in ("i-a", "i-b")
        ],
    }
    refreshes.tick([asg], {})
    return api, refreshes.rollouts["r-1"]


def test_an_instance_refresh_follows_the_scale_in_protected_instances_preference(tmp_path: Path):
    """Refresh replaces a protected instance; Ignore leaves it out; Wait (the API's default) holds
    the refresh naming it, and fails it once the (time-scaled) hour is over."""
    api, rollout = refresh_pass(tmp_path, {"MinHealthyPercentage": 50, "ScaleInProtectedInstances": "Refresh"}, {"i-a"})
    assert api.terminated == ["i-a"] and rollout.status == "InProgress"

    api, rollout = refresh_pass(tmp_path, {"MinHealthyPercentage": 50, "ScaleInProtectedInstances": "Ignore"}, {"i-a"})
    assert api.terminated == ["i-b"] and rollout.to_replace == []

    api, rollout = refresh_pass(tmp_path, {"MinHealthyPercentage": 50}, {"i-a"})
    assert api.terminated == [] and rollout.status == "InProgress"
    assert "i-a" in rollout.reason and "preference Wait" in rollout.reason
    answered = json.loads((tmp_path / REFRESHES_FILE).read_text())  # what the emulator answers (fix 20)
    assert answered[0]["StatusReason"] == rollout.reason and answered[0]["Status"] == "InProgress"

    api, rollout = refresh_pass(
        tmp_path, {"MinHealthyPercentage": 50}, {"i-a"}, time_scale=math.inf
    )  # the hour is over
    assert api.terminated == [] and rollout.status == "Failed" and "i-a" in rollout.reason
