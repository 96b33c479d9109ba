"""Target-tracking scaling evaluated by the local data plane (moto stores policies, runs none).

For every Auto Scaling group with a TargetTrackingScaling policy on the predefined metric
ASGAverageCPUUtilization, once per monitoring period (localaws.metrics: 60 s detailed, 300 s
basic, divided by the time scale) the data plane takes one datapoint: the average of the newest
CPUUtilization of the group's InService instances that are past the policy's instance warm-up
(EstimatedInstanceWarmup, else the group's DefaultInstanceWarmup, else its DefaultCooldown), as
AWS leaves warming instances out of the aggregated metric. Then, as AWS's two alarms do:

- scale out (AlarmHigh: 3 consecutive datapoints above the target):
  desired = ceil(ready instances x metric / target), bounded by min and max; only when that is
  above the current desired capacity, so instances still warming up count as capacity already;
- scale in (AlarmLow: 15 minutes of datapoints, i.e. 15 at 60 s or 3 at 300 s, all below
  90 % of the target, no instance warming up, scale-in not disabled):
  desired = ceil(ready x metric / target), bounded by min, only when below the current one.

A decision is set with SetDesiredCapacity (HonorCooldown false: target tracking has no
cooldown); the emulator launches or terminates, the data plane serves the result. Each decision
is a log line and an activity of the group (activities.json, which the emulator's
DescribeScalingActivities answers with). After a decision the datapoints start over.
"""

from __future__ import annotations

import datetime
import logging
import math
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path

from .metrics import BASIC_PERIOD, DETAILED_PERIOD
from .statefiles import write_json

log = logging.getLogger("localaws.scaling")

ACTIVITIES_FILE = "activities.json"
SCALE_OUT_POINTS = 3  # AlarmHigh: 3 datapoints
SCALE_IN_WINDOW = 900  # AlarmLow: 15 minutes of datapoints
SCALE_IN_RATIO = 0.9  # AlarmLow's threshold is 90 % of the target
POLICY_REFRESH = 10.0  # seconds between DescribePolicies calls


def proposed_capacity(ready: int, metric: float, target: float) -> int:
    """AWS's target-tracking rule: ceil(current capacity x metric / target)."""
    if ready <= 0 or target <= 0:
        return 0
    return math.ceil(round(ready * metric / target, 6))


def scale_in_points(period: float) -> int:
    """Datapoints of AlarmLow: 15 minutes' worth at the monitoring period."""
    return max(1, math.ceil(SCALE_IN_WINDOW / period))


@dataclass
class Decision:
    desired: int
    reason: str


def decide(
    points: list[float],
    current: int,
    ready: int,
    warming: int,
    target: float,
    min_size: int,
    max_size: int,
    period: float,
    scale_in_enabled: bool = True,
) -> Decision | None:
    """The decision of one evaluation, or None. Pure: unit-tested in tests/scale."""
    if not points or ready <= 0:
        return None
    metric = points[-1]
    high = points[-SCALE_OUT_POINTS:]
    if len(high) == SCALE_OUT_POINTS and all(p > target for p in high):
        wanted = min(max_size, max(min_size, proposed_capacity(ready, metric, target)))
        if wanted > current:
            return Decision(
                wanted,
                f"AlarmHigh: {SCALE_OUT_POINTS} datapoints above {target:g} (last {metric:.1f}) over {ready} ready "
                f"instance(s), {warming} warming up; ceil({ready} x {metric:.1f} / {target:g}) = "
                f"{proposed_capacity(ready, metric, target)}, bounded by min {min_size} / max {max_size}",
            )
        return None
    needed = scale_in_points(period)
    low = points[-needed:]
    if scale_in_enabled and warming == 0 and len(low) == needed and all(p < target * SCALE_IN_RATIO for p in low):
        wanted = max(min_size, min(max_size, proposed_capacity(ready, metric, target)))
        if wanted < current:
            return Decision(
                wanted,
                f"AlarmLow: {needed} datapoints ({SCALE_IN_WINDOW / 60:g} min) below {target * SCALE_IN_RATIO:g} "
                f"(last {metric:.1f}); ceil({ready} x {metric:.1f} / {target:g}) = "
                f"{proposed_capacity(ready, metric, target)}, bounded by min {min_size}",
            )
    return None


@dataclass
class Tracker:
    """The evaluation state of one group's policy."""

    last_evaluation: float = 0.0
    points: list = field(default_factory=list)


class Scaling:
    """Evaluates every group's target-tracking policy on the data plane's CPU datapoints."""

    def __init__(self, plane, metrics):
        self.plane = plane
        self.metrics = metrics
        self.trackers: dict[str, Tracker] = {}
        self.activities: list[dict] = []
        self._policies: dict[str, dict] = {}
        self._policies_read = 0.0
        self.timeline: list[dict] = []  # one row per evaluation, for status.json

    def tick(self, described: dict[str, dict], groups: list[dict]) -> None:
        """One data-plane pass (the groups as this pass described them): publish the CPU datapoints
        that are due, evaluate the policies."""
        groups_of = {m["InstanceId"]: g["AutoScalingGroupName"] for g in groups for m in g.get("Instances", [])}
        self.metrics.publish(described, groups_of)
        self.evaluate(groups, described)

    def summary(self) -> dict:
        return {"cpu": self.metrics.summary(), "evaluations": self.timeline[-60:], "activities": self.activities[:20]}

    def _read_policies(self) -> None:
        now = time.monotonic()
        if now - self._policies_read < POLICY_REFRESH and self._policies_read:
            return
        self._policies_read = now
        policies = {}
        for page in self.plane.autoscaling.get_paginator("describe_policies").paginate():
            for policy in page.get("ScalingPolicies", []):
                config = policy.get("TargetTrackingConfiguration") or {}
                spec = config.get("PredefinedMetricSpecification") or {}
                if (
                    policy.get("PolicyType") == "TargetTrackingScaling"
                    and spec.get("PredefinedMetricType") == "ASGAverageCPUUtilization"
                    and policy.get("Enabled", True)
                ):
                    policies[policy["AutoScalingGroupName"]] = policy
        self._policies = policies

    def evaluate(self, groups: list[dict], described: dict[str, dict]) -> None:
        self._read_policies()
        now = time.monotonic()
        for group in groups:
            name = group["AutoScalingGroupName"]
            policy = self._policies.get(name)
            if policy is None:
                continue
            members = [m for m in group.get("Instances", []) if m.get("LifecycleState") in ("Pending", "InService")]
            periods = [self.metrics.period(described[m["InstanceId"]]) for m in members if m["InstanceId"] in described]
            period = min(periods) if periods else DETAILED_PERIOD
            tracker = self.trackers.setdefault(name, Tracker(last_evaluation=now))
            if now - tracker.last_evaluation < self.plane.scaled(period):
                continue
            tracker.last_evaluation = now
            warmup = policy.get("EstimatedInstanceWarmup")
            if warmup is None:
                warmup = group.get("DefaultInstanceWarmup", group.get("DefaultCooldown", 300))
            ready, warming, values = 0, 0, []
            for member in members:
                instance = self.plane.instances.get(member["InstanceId"])
                meter = self.metrics.meters.get(member["InstanceId"])
                age = now - instance.started if instance is not None else 0.0
                in_service = member.get("LifecycleState") == "InService"
                if not in_service or age < self.plane.scaled(warmup) or meter is None or meter.last is None:
                    warming += 1
                else:
                    ready += 1
                    values.append(meter.last)
            if not values:
                continue  # INSUFFICIENT_DATA
            metric = sum(values) / len(values)
            tracker.points.append(metric)
            del tracker.points[: -max(SCALE_OUT_POINTS, scale_in_points(period))]
            target = float(policy["TargetTrackingConfiguration"]["TargetValue"])
            current = group["DesiredCapacity"]
            row = {
                "time": time.time(),
                "group": name,
                "cpu": round(metric, 1),
                "desired": current,
                "ready": ready,
                "warming": warming,
            }
            decision = decide(
                tracker.points,
                current,
                ready,
                warming,
                target,
                group["MinSize"],
                group["MaxSize"],
                period,
                not policy["TargetTrackingConfiguration"].get("DisableScaleIn", False),
            )
            if decision is not None:
                self._apply(name, current, decision)
                tracker.points.clear()
                row["decision"] = decision.desired
            self.timeline.append(row)
            del self.timeline[:-500]

    def _apply(self, name: str, current: int, decision: Decision) -> None:
        started = datetime.datetime.now(datetime.timezone.utc)  # noqa: UP017
        verb = "increasing" if decision.desired > current else "decreasing"
        description = f"Setting desired capacity of {name} from {current} to {decision.desired} (target tracking)"
        cause = (
            f"At {started:%Y-%m-%dT%H:%M:%SZ} a monitor alarm of the target-tracking policy changed the desired "
            f"capacity from {current} to {decision.desired}, {verb} the capacity: {decision.reason}"
        )
        status = "Successful"
        try:
            self.plane.autoscaling.set_desired_capacity(
                AutoScalingGroupName=name, DesiredCapacity=decision.desired, HonorCooldown=False
            )
            log.info("%s: scaling %s -> %s: %s", name, current, decision.desired, decision.reason)
        except Exception as exc:  # noqa: BLE001 - recorded as a failed activity
            status = "Failed"
            log.exception("%s: set_desired_capacity %s failed: %s", name, decision.desired, exc)
        self.activities.insert(
            0,
            {
                "ActivityId": str(uuid.uuid4()),
                "AutoScalingGroupName": name,
                "Description": description,
                "Cause": cause,
                "StartTime": started.isoformat(),
                "EndTime": datetime.datetime.now(datetime.timezone.utc).isoformat(),  # noqa: UP017
                "StatusCode": status,
                "Progress": 100,
            },
        )
        del self.activities[200:]
        write_json(Path(self.plane.state_dir) / ACTIVITIES_FILE, self.activities)


__all__ = ["BASIC_PERIOD", "DETAILED_PERIOD", "Decision", "Scaling", "decide", "proposed_capacity"]
