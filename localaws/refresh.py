"""Auto Scaling instance refreshes on the local data plane, rolling as EC2 Auto Scaling rolls them.

StartInstanceRefresh records a refresh in the emulator (fix 20); the data plane carries it out
through the Auto Scaling API, as the service does:

- **What is replaced.** The group's instances when the refresh starts: every one, or with
  ``SkipMatching`` those on another launch template version than the group's (fix 19 reports
  each instance's version).
- **Batches.** ``MinHealthyPercentage`` of the desired capacity stays in service: each batch
  terminates ``desired - ceil(desired * MinHealthyPercentage / 100)`` instances, at least one
  (TerminateInstanceInAutoScalingGroup without decrementing, so the group launches their
  replacements from its current version). The next batch starts when the group is back at its
  desired capacity, every instance in service and healthy in each of its target groups (ELB
  health checks) or running (EC2), and the newest has been healthy for ``InstanceWarmup``
  seconds (the group's default warmup, else its health check grace period, divided by the time
  scale).
- **Instances protected from scale in** (``ScaleInProtectedInstances``): ``Refresh`` replaces
  them; ``Ignore`` leaves them out; ``Wait``, the API's default, holds the refresh while the next
  batch has a protected instance, with a ``StatusReason`` naming them, and fails it after an hour
  (divided by the time scale), as AWS does when no one lifts the protection.
- **Progress.** ``Pending`` until the first batch, then ``InProgress`` with
  ``PercentageComplete`` (the instances whose batch has started) and ``InstancesToUpdate``, then
  ``Successful`` (or ``Failed``); written to
  ``refreshes.json``, which the emulator answers in DescribeInstanceRefreshes. CancelInstanceRefresh
  stops it between batches. Not simulated: checkpoints, alarms, auto rollback, the standby
  instance preference, and ``MaxHealthyPercentage`` above 100 (launch before terminate).
"""

from __future__ import annotations

import datetime
import logging
import math
import time
from dataclasses import dataclass, field
from pathlib import Path

from .statefiles import write_json

log = logging.getLogger("localaws.refresh")

REFRESHES_FILE = "refreshes.json"
ACTIVE = ("Pending", "InProgress")
PROTECTED_WAIT = 3600  # seconds a refresh waits for scale-in protection to be lifted (AWS: one hour)


def version(described: dict) -> str:
    """The launch template version of a described group or group member ("" without one)."""
    return str((described.get("LaunchTemplate") or {}).get("Version", ""))


@dataclass
class Rollout:
    """The data plane's side of one refresh."""

    group: str
    to_replace: list[str]  # instance IDs still to terminate, in ID order (AWS names no order)
    total: int
    terminated: set[str] = field(default_factory=set)
    healthy_since: dict[str, float] = field(default_factory=dict)  # instance ID -> first seen healthy
    status: str = "Pending"
    reason: str = ""
    ended: str = ""
    protected_since: float | None = None  # when the next batch was first held by a protected instance


class Refreshes:
    def __init__(self, plane):
        self.plane = plane
        self.rollouts: dict[str, Rollout] = {}  # refresh ID -> its rollout

    def tick(self, asgs: list[dict], state_by_target: dict[tuple[str, str], str]) -> None:
        """One data-plane pass over the groups that have an active refresh (target states by
        target group ARN and instance ID, as this pass measured them)."""
        changed = False
        for asg in asgs:
            if not self._may_refresh(asg):
                continue
            name = asg["AutoScalingGroupName"]
            for refresh in self.plane.autoscaling.describe_instance_refreshes(AutoScalingGroupName=name).get(
                "InstanceRefreshes", []
            ):
                changed |= self._advance(asg, refresh, state_by_target)
        if changed:
            self._write()

    def _may_refresh(self, asg: dict) -> bool:
        """Only a group whose refresh is tracked, or with an instance on another version, is asked."""
        if any(r.group == asg["AutoScalingGroupName"] and r.status in ACTIVE for r in self.rollouts.values()):
            return True
        return any(version(m) != version(asg) for m in asg["Instances"])

    def _advance(self, asg: dict, refresh: dict, state_by_target: dict) -> bool:
        refresh_id, name = refresh["InstanceRefreshId"], asg["AutoScalingGroupName"]
        rollout = self.rollouts.get(refresh_id)
        if refresh["Status"] not in ACTIVE:
            if rollout is not None and rollout.status in ACTIVE:
                rollout.status = refresh["Status"]  # cancelled through the API
                log.info("%s: instance refresh %s %s", name, refresh_id, refresh["Status"])
            return False
        preferences = refresh.get("Preferences") or {}
        if rollout is None:
            members = sorted(asg["Instances"], key=lambda m: m["InstanceId"])
            to_replace = [
                m["InstanceId"] for m in members if not preferences.get("SkipMatching") or version(m) != version(asg)
            ]
            rollout = self.rollouts[refresh_id] = Rollout(name, to_replace, len(to_replace))
            log.info("%s: instance refresh %s: %s instance(s) to replace", name, refresh_id, len(to_replace))
        if not self._settled(asg, rollout, preferences, state_by_target):
            started = rollout.status == "Pending"
            rollout.status = "InProgress"
            return started
        present = {m["InstanceId"] for m in asg["Instances"]}
        protected = {m["InstanceId"] for m in asg["Instances"] if m.get("ProtectedFromScaleIn")}
        on_protected = preferences.get("ScaleInProtectedInstances", "Wait")  # Refresh | Ignore | Wait
        ignored = protected if on_protected == "Ignore" else set()
        rollout.to_replace = [i for i in rollout.to_replace if i in present and i not in ignored]
        if not rollout.to_replace:
            return self._end(rollout, refresh_id, "Successful", "")
        desired = asg["DesiredCapacity"]
        batch = max(1, desired - math.ceil(desired * preferences.get("MinHealthyPercentage", 90) / 100))
        held = sorted(protected.intersection(rollout.to_replace[:batch]))
        if held and on_protected == "Wait":
            return self._hold(rollout, refresh_id, held)
        rollout.protected_since, rollout.reason = None, ""
        for instance_id in rollout.to_replace[:batch]:
            log.info("%s: instance refresh %s replaces %s", name, refresh_id, instance_id)
            self.plane.replaced.add(instance_id)  # not judged by the health checks while it ends
            self.plane.autoscaling.terminate_instance_in_auto_scaling_group(
                InstanceId=instance_id, ShouldDecrementDesiredCapacity=False
            )
            rollout.terminated.add(instance_id)
        rollout.to_replace = rollout.to_replace[batch:]
        rollout.status = "InProgress"
        return True

    def _end(self, rollout: Rollout, refresh_id: str, status: str, reason: str) -> bool:
        rollout.ended = datetime.datetime.now(datetime.timezone.utc).isoformat()  # noqa: UP017
        rollout.status, rollout.reason = status, reason
        log.info("%s: instance refresh %s %s %s", rollout.group, refresh_id, status.lower(), reason)
        return True

    def _hold(self, rollout: Rollout, refresh_id: str, held: list[str]) -> bool:
        """The next batch has instances protected from scale in (preference Wait): wait for the
        protection to be lifted, and fail the refresh after an hour (time-scaled)."""
        now = time.monotonic()
        if rollout.protected_since is None:
            rollout.protected_since = now
        if now - rollout.protected_since >= self.plane.scaled(PROTECTED_WAIT):
            reason = f"Instances protected from scale in were not unprotected within an hour: {', '.join(held)}"
            return self._end(rollout, refresh_id, "Failed", reason)
        reason = f"Waiting for the scale-in protection of {', '.join(held)} to be removed (preference Wait)"
        changed = reason != rollout.reason or rollout.status != "InProgress"
        rollout.reason, rollout.status = reason, "InProgress"
        return changed

    def _settled(self, asg: dict, rollout: Rollout, preferences: dict, state_by_target: dict) -> bool:
        """The group is at its desired capacity, every instance in service, healthy and warm."""
        members = [m for m in asg["Instances"] if m["InstanceId"] not in rollout.terminated]
        if len(members) != asg["DesiredCapacity"] or len(asg["Instances"]) != len(members):
            return False
        now = time.monotonic()
        seconds = preferences.get("InstanceWarmup") or asg.get("DefaultInstanceWarmup")
        warmup = self.plane.scaled(seconds or asg.get("HealthCheckGracePeriod", 0))
        for member in members:
            instance_id = member["InstanceId"]
            in_service = member.get("LifecycleState") == "InService"
            healthy = all(
                state_by_target.get((arn, instance_id)) == "healthy" for arn in asg.get("TargetGroupARNs", [])
            ) and (instance_id in self.plane.instances)
            if not (in_service and healthy):
                rollout.healthy_since.pop(instance_id, None)
                return False
            since = rollout.healthy_since.setdefault(instance_id, now)
            if now - since < warmup and rollout.total > len(rollout.to_replace):
                return False  # a replacement still warming up
        return True

    def _write(self) -> None:
        write_json(
            Path(self.plane.state_dir) / REFRESHES_FILE,
            [
                {
                    "InstanceRefreshId": refresh_id,
                    "Status": rollout.status,
                    "StatusReason": rollout.reason,
                    "PercentageComplete": 100
                    if rollout.status == "Successful"
                    else int(100 * (rollout.total - len(rollout.to_replace)) / max(1, rollout.total)),
                    "InstancesToUpdate": len(rollout.to_replace),
                    "EndTime": rollout.ended,
                }
                for refresh_id, rollout in self.rollouts.items()
            ],
        )


__all__ = ["REFRESHES_FILE", "Refreshes"]
