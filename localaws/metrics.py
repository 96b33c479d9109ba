"""Per-instance CPU on the local data plane, published as CloudWatch's AWS/EC2 CPUUtilization.

Every instance's processes live in a cgroup of their own (localaws.instances.CGroup); this module
adds the CPU side of it:

- cgroup v1: the instance's directory in the ``cpu`` and ``cpuacct`` hierarchies (mounted
  together as ``cpu,cpuacct`` or apart, both handled); usage from ``cpuacct.usage`` (ns), the
  quota in ``cpu.cfs_quota_us`` / ``cpu.cfs_period_us``.
- cgroup v2: the instance's one directory (the ``cpu`` controller enabled on its parents);
  usage from ``cpu.stat`` ``usage_usec``, the quota in ``cpu.max``.

An instance's capacity is its instance type's vCPUs x LOCAL_AWS_CORES_PER_VCPU (default 0.5: a
vCPU is a hyperthread, half a core), capped at this machine's cores: a t3.micro (2 vCPUs) gets 1
core. With LOCAL_AWS_CPU_QUOTA=on (the default) the instance is pinned to ceil(capacity) cores of
its own (cpuset; the least used ones, so `nproc` inside it says how many) and gets a CFS quota of
exactly its capacity. CPUUtilization is the usage over the last period divided by the capacity,
as EC2 reports it (percent of the instance's vCPUs).

The period is what the launch template's monitoring implies: detailed monitoring 60 s, basic
300 s, divided by the time scale. Each instance's datapoint is published twice, as EC2 does:
with dimension InstanceId and with dimension AutoScalingGroupName (the per-group aggregate
that the target-tracking metric ASGAverageCPUUtilization reads).
"""

from __future__ import annotations

import contextlib
import logging
import math
import os
import time
from dataclasses import dataclass, field
from pathlib import Path

import boto3
from botocore.config import Config as BotoConfig

log = logging.getLogger("localaws.metrics")

ROOT = Path("/sys/fs/cgroup")
DETAILED_PERIOD = 60  # seconds: EC2 detailed monitoring
BASIC_PERIOD = 300  # seconds: EC2 basic monitoring
CFS_PERIOD_US = 100_000
# vCPUs of the instance types this project uses, when the emulator does not know the type.
KNOWN_VCPUS = {"t3.nano": 2, "t3.micro": 2, "t3.small": 2, "t3.medium": 2, "t2.micro": 1, "t2.nano": 1}


def host_cores() -> int:
    return os.cpu_count() or 1


def v1_cpu_dirs(name: str, root: Path = ROOT) -> list[Path]:
    """The instance's directories in the v1 cpu, cpuacct and cpuset hierarchies (one when
    cpu and cpuacct are co-mounted)."""
    dirs: list[Path] = []
    seen: set[Path] = set()
    for controller in ("cpu,cpuacct", "cpu", "cpuacct", "cpuset"):
        hierarchy = root / controller
        if not hierarchy.is_dir():
            continue
        real = hierarchy.resolve()
        if real in seen:
            continue
        seen.add(real)
        dirs.append(hierarchy / name)
    return dirs


def enable_v2_cpu(directory: Path, root: Path = ROOT) -> None:
    """Enable the cpu and cpuset controllers on every parent of a v2 cgroup directory (best effort)."""
    parents = [p for p in [directory.parent, *directory.parent.parents] if p == root or root in p.parents]
    for parent in reversed(parents):
        for controller in ("+cpu", "+cpuset"):
            with contextlib.suppress(OSError):
                (parent / "cgroup.subtree_control").write_text(controller)


def pin(directory: Path, cpus: list[int], root: Path) -> bool:
    """Pin a cgroup to `cpus` (v1 cpuset.cpus, or v2 cpuset.cpus); its parents get their own
    parent's cpus and mems when empty (v1 requires both before a process may join)."""
    try:
        chain = [p for p in [directory, *directory.parents] if p != root and root in p.parents]
        for group in reversed(chain[1:]):
            for name in ("cpuset.cpus", "cpuset.mems"):
                if (group / name).exists() and not (group / name).read_text().strip():
                    (group / name).write_text((group.parent / name).read_text().strip())
        if (directory / "cpuset.mems").exists() and not (directory / "cpuset.mems").read_text().strip():
            (directory / "cpuset.mems").write_text((directory.parent / "cpuset.mems").read_text().strip())
        (directory / "cpuset.cpus").write_text(",".join(str(c) for c in cpus))
        return True
    except OSError as exc:
        log.warning("no cpuset for %s: %s", directory, exc)
        return False


def set_weight(directory: Path, mode: str, weight: float) -> None:
    """CPU weight of a cgroup relative to one busy process (v1 cpu.shares 1024, v2 cpu.weight 100)."""
    with contextlib.suppress(OSError):
        if mode == "v1" and (directory / "cpu.shares").exists():
            (directory / "cpu.shares").write_text(str(int(1024 * weight)))
        elif mode == "v2" and (directory / "cpu.weight").exists():
            (directory / "cpu.weight").write_text(str(max(1, min(10000, int(100 * weight)))))


def usage_seconds(dirs: list[Path], mode: str) -> float | None:
    """CPU time used so far by every process of the cgroup, in seconds (None: unreadable)."""
    try:
        if mode == "v1":
            for directory in dirs:
                usage = directory / "cpuacct.usage"
                if usage.exists():
                    return int(usage.read_text()) / 1e9
        elif mode == "v2":
            for line in (dirs[0] / "cpu.stat").read_text().splitlines():
                key, _sep, value = line.partition(" ")
                if key == "usage_usec":
                    return int(value) / 1e6
    except (OSError, ValueError, IndexError):
        return None
    return None


def set_quota(dirs: list[Path], mode: str, cores: float) -> bool:
    """A CFS quota of `cores` CPUs (v1 cpu.cfs_quota_us, v2 cpu.max); False when not settable."""
    quota = max(1000, int(cores * CFS_PERIOD_US))
    try:
        if mode == "v1":
            for directory in dirs:
                if (directory / "cpu.cfs_quota_us").exists():
                    (directory / "cpu.cfs_period_us").write_text(str(CFS_PERIOD_US))
                    (directory / "cpu.cfs_quota_us").write_text(str(quota))
                    return True
        elif mode == "v2" and (dirs[0] / "cpu.max").exists():
            (dirs[0] / "cpu.max").write_text(f"{quota} {CFS_PERIOD_US}")
            return True
    except (OSError, IndexError) as exc:
        log.warning("no CPU quota on %s: %s", dirs, exc)
    return False


def write_shell(path: Path, procs: list[Path]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    joins = "".join(f'echo $$ > "{p}" || exit 125\n' for p in procs)
    header = "#!/bin/sh\n# This instance's shell: join its cgroups, then run /bin/sh.\n"
    path.write_text(f'{header}{joins}exec /bin/sh "$@"\n')
    path.chmod(0o755)


def utilization(used: float, wall: float, capacity: float) -> float:
    """Percent of `capacity` cores used: CPU seconds `used` over `wall` seconds, 0-100."""
    if wall <= 0 or capacity <= 0:
        return 0.0
    return max(0.0, min(100.0, 100.0 * used / (wall * capacity)))


@dataclass
class Meter:
    """CPU of one instance: one sample per data-plane pass, one datapoint per period."""

    instance_id: str
    capacity: float
    period: float  # seconds, already time-scaled
    window_start: float | None = None
    window_usage: float | None = None
    last: float | None = None  # the newest datapoint (percent)
    history: list = field(default_factory=list)  # (wall clock, percent)

    def sample(self, now: float, usage: float | None) -> float | None:
        """Feed a usage reading; returns a datapoint when a period has passed."""
        if usage is None:
            return None
        if self.window_start is None or self.window_usage is None or usage < self.window_usage:
            self.window_start, self.window_usage = now, usage
            return None
        if now - self.window_start < self.period:
            return None
        point = utilization(usage - self.window_usage, now - self.window_start, self.capacity)
        self.window_start, self.window_usage = now, usage
        self.last = point
        return point


class Metrics:
    """Publishes every running instance's CPUUtilization to the emulator's CloudWatch."""

    def __init__(self, plane):
        self.plane = plane
        self.cloudwatch = boto3.session.Session(region_name=plane.region).client(
            "cloudwatch", config=BotoConfig(retries={"max_attempts": 2, "mode": "standard"}, connect_timeout=2)
        )
        self.meters: dict[str, Meter] = {}
        self.quota = os.environ.get("LOCAL_AWS_CPU_QUOTA", "on") != "off"
        self.cores_per_vcpu = float(os.environ.get("LOCAL_AWS_CORES_PER_VCPU", "0.5"))
        self.weight = float(os.environ.get("LOCAL_AWS_CPU_WEIGHT", "32"))
        self.pinned: dict[str, list[int]] = {}  # instance ID -> its cores
        self._vcpus: dict[str, int] = {}
        self._monitoring: dict[str, bool] = {}

    # ------------------------------------------------------------------ instance side
    def vcpus(self, instance_type: str) -> int:
        if instance_type not in self._vcpus:
            count = KNOWN_VCPUS.get(instance_type, 0)
            try:
                types = self.plane.ec2.describe_instance_types(InstanceTypes=[instance_type])["InstanceTypes"]
                count = types[0]["VCpuInfo"]["DefaultVCpus"] if types else count
            except Exception:  # noqa: BLE001 - unknown to the emulator: the table, else 1
                log.debug("describe_instance_types %s failed", instance_type)
            self._vcpus[instance_type] = max(1, count or 1)
        return self._vcpus[instance_type]

    def capacity(self, instance_type: str) -> float:
        """Cores an instance may use: its vCPUs x cores per vCPU, at most this machine's cores."""
        return float(min(self.vcpus(instance_type) * self.cores_per_vcpu, host_cores()))

    def _least_used_cores(self, count: int) -> list[int]:
        cores = sorted(os.sched_getaffinity(0))
        use = {core: 0 for core in cores}
        for taken in self.pinned.values():
            for core in taken:
                if core in use:
                    use[core] += 1
        return sorted(sorted(cores, key=lambda core: (use[core], core))[:count])

    def prepare(self, instance) -> None:
        """Called once the instance's cgroup exists: the CPU quota (when on) and the instance's
        shell (`<instance folder>/bin/sh`): what it runs joins the instance's cgroups first, so a
        command "run on the instance" (the stress role's, through ansible_shell_executable) is
        measured, limited and frozen with it."""
        cgroup = instance.cgroup
        if cgroup.mode == "v2" and cgroup.dirs:
            enable_v2_cpu(cgroup.dirs[0])
        capacity = self.capacity(instance.instance_type)
        cpuset = [d for d in cgroup.dirs if d.parent.parent.name == "cpuset" or cgroup.mode == "v2"]
        if self.quota and cgroup.mode != "none":
            cores = self._least_used_cores(max(1, math.ceil(capacity)))
            root = ROOT / "cpuset" if cgroup.mode == "v1" else ROOT
            if cpuset and pin(cpuset[0], cores, root):
                self.pinned[instance.id] = cores
            elif cgroup.mode == "v1":
                cgroup.dirs = [d for d in cgroup.dirs if d not in cpuset]  # unusable: leave it out
            cpu_dirs = cgroup.dirs[1:] if cgroup.mode == "v1" else cgroup.dirs
            # The fleet's parent cgroup weighs as much as LOCAL_AWS_CPU_WEIGHT busy processes (32):
            # a loaded instance gets its capacity on a busy shared machine as a VM gets its vCPUs,
            # while the quotas keep every instance within its own capacity.
            for directory in cpu_dirs[:1]:
                set_weight(directory.parent, cgroup.mode, self.weight)
            if set_quota(cpu_dirs, cgroup.mode, capacity):
                log.info(
                    "%s: %g cores (CPU quota; %s: %d vCPUs x %g), pinned to cores %s of this machine's %d",
                    instance.id,
                    capacity,
                    instance.instance_type,
                    self.vcpus(instance.instance_type),
                    self.cores_per_vcpu,
                    self.pinned.get(instance.id, "-"),
                    host_cores(),
                )
        elif cgroup.mode == "v1":
            cgroup.dirs = [d for d in cgroup.dirs if d not in cpuset]
        write_shell(instance.root / "bin" / "sh", [d / "cgroup.procs" for d in cgroup.dirs])

    # ------------------------------------------------------------------ monitoring period
    def detailed(self, description: dict) -> bool:
        """Detailed monitoring: the instance's Monitoring state, else its launch template's."""
        instance_id = description["InstanceId"]
        if instance_id in self._monitoring:
            return self._monitoring[instance_id]
        enabled = (description.get("Monitoring") or {}).get("State") in ("enabled", "pending")
        template = None
        for tag in description.get("Tags", []):
            if tag["Key"] == "aws:ec2launchtemplate:id":
                template = tag["Value"]
        if not enabled and template:
            with contextlib.suppress(Exception):
                versions = self.plane.ec2.describe_launch_template_versions(
                    LaunchTemplateId=template, Versions=["$Default"]
                )["LaunchTemplateVersions"]
                data = versions[0]["LaunchTemplateData"] if versions else {}
                enabled = bool((data.get("Monitoring") or {}).get("Enabled"))
        self._monitoring[instance_id] = enabled
        return enabled

    def period(self, description: dict) -> float:
        """Unscaled monitoring period of an instance (60 s detailed, 300 s basic)."""
        return DETAILED_PERIOD if self.detailed(description) else BASIC_PERIOD

    # ------------------------------------------------------------------ publishing
    def publish(self, described: dict[str, dict], groups_of: dict[str, str]) -> dict[str, float]:
        """Sample every running instance; publish the datapoints that are due. Returns the
        newest datapoint per instance."""
        now = time.monotonic()
        datums = []
        for instance_id, instance in self.plane.instances.items():
            description = described.get(instance_id)
            if description is None:
                continue
            meter = self.meters.get(instance_id)
            if meter is None:
                meter = Meter(
                    instance_id,
                    self.capacity(instance.instance_type),
                    self.plane.scaled(self.period(description)),
                )
                self.meters[instance_id] = meter
            mode = instance.cgroup.mode
            dirs = instance.cgroup.dirs[1:] if mode == "v1" else instance.cgroup.dirs
            point = meter.sample(now, usage_seconds(dirs, mode))
            if point is None:
                continue
            meter.history.append((time.time(), point))
            del meter.history[:-200]
            dimension_sets = [[{"Name": "InstanceId", "Value": instance_id}]]
            if instance_id in groups_of:
                dimension_sets.append([{"Name": "AutoScalingGroupName", "Value": groups_of[instance_id]}])
            for dimensions in dimension_sets:
                datums.append(
                    {
                        "MetricName": "CPUUtilization",
                        "Dimensions": dimensions,
                        "Value": round(point, 2),
                        "Unit": "Percent",
                    }
                )
            log.debug("%s CPUUtilization %.1f%%", instance_id, point)
        for gone in set(self.pinned) - set(self.plane.instances):
            del self.pinned[gone]
        for gone in set(self.meters) - set(self.plane.instances):
            del self.meters[gone]
            self._monitoring.pop(gone, None)
        for start in range(0, len(datums), 20):
            try:
                self.cloudwatch.put_metric_data(Namespace="AWS/EC2", MetricData=datums[start : start + 20])
            except Exception:  # noqa: BLE001 - the next period publishes again
                log.exception("put_metric_data failed")
        return {i: m.last for i, m in self.meters.items() if m.last is not None}

    def summary(self) -> dict[str, dict]:
        return {
            i: {"cpu": None if m.last is None else round(m.last, 1), "capacity": m.capacity, "period": m.period}
            for i, m in self.meters.items()
        }
