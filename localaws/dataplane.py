"""The local data plane: real servers behind the emulator's control plane.

    python -m localaws.dataplane --emulator-port 5555 --state-dir .state/local-aws-5555/dataplane

About once a second it reads the emulator's state through the AWS API (boto3 on
AWS_ENDPOINT_URL, nothing from moto's internals) and makes real processes match it:

- running EC2 instances boot the web app as their user data says (localaws.instances);
- every ALB listener is an HAProxy frontend, every target group a backend with the group's own
  health check, every registered target a server (localaws.haproxy);
- the health HAProxy measures is written where the emulator's DescribeTargetHealth reads it;
- Auto Scaling health checks: an InService instance that is not running (EC2) or that its target
  groups find unhealthy after the grace period (ELB) is marked Unhealthy and replaced through the
  Auto Scaling API, as AWS does;
- an AZ can be lost and restored (`localaws.ctl freeze-az|thaw-az`): its instances freeze.

LOCAL_AWS_TIME_SCALE (default 1) divides every interval (health checks, deregistration delay,
grace period) for tests and demos. The README's data-plane table says what is simplified.
"""

from __future__ import annotations

import argparse
import logging
import os
import signal
import threading
import time
from pathlib import Path

import boto3
from botocore.config import Config as BotoConfig
from botocore.exceptions import BotoCoreError, ClientError

from .ecs import EcsAgent
from .emulator import port_octet
from .haproxy import Backend, Frontend, HAProxy, HealthCheck, Server, safe
from .instances import CGroup, Instance, unpack_wheel
from .metrics import Metrics
from .rds import Databases
from .refresh import Refreshes
from .scaling import Scaling
from .statefiles import read_json, write_json

log = logging.getLogger("localaws.dataplane")

HEALTH_FILE = "health.json"
STATUS_FILE = "status.json"
FROZEN_FILE = "frozen-azs.json"


class TargetHealth:
    """An ALB target's state from what HAProxy sees: initial, healthy, unhealthy, draining."""

    def __init__(self, now: float):
        self.first_seen = now
        self.ever_up = False

    def state(self, status: str, draining: bool, budget: float, now: float) -> dict:
        if draining:
            return {
                "state": "draining",
                "reason": "Target.DeregistrationInProgress",
                "description": "Target deregistration is in progress",
            }
        if status.startswith("UP") or status.startswith("DRAIN"):
            self.ever_up = True
            return {"state": "healthy"}
        if not self.ever_up and now - self.first_seen <= budget:
            return {
                "state": "initial",
                "reason": "Elb.InitialHealthChecking",
                "description": "Initial health checks in progress",
            }
        return {
            "state": "unhealthy",
            "reason": "Target.FailedHealthChecks",
            "description": "Health checks failed",
        }


class DataPlane:
    def __init__(self, state_dir: Path, emulator_port: int, time_scale: float, interval: float, web_concurrency: int):
        self.state_dir = state_dir
        self.emulator_port = emulator_port
        self.port_octet = port_octet(emulator_port)
        self.time_scale = max(time_scale, 1.0)
        self.interval = interval
        self.web_concurrency = web_concurrency
        self.region = os.environ.get("AWS_REGION") or os.environ.get("AWS_DEFAULT_REGION") or "eu-north-1"
        config = BotoConfig(retries={"max_attempts": 2, "mode": "standard"}, connect_timeout=2, read_timeout=10)
        session = boto3.session.Session(region_name=self.region)
        self.session, self.boto_config = session, config
        self.ec2 = session.client("ec2", config=config)
        self.elbv2 = session.client("elbv2", config=config)
        self.autoscaling = session.client("autoscaling", config=config)
        self.s3 = session.client("s3", config=config)
        self.ssm = session.client("ssm", config=config)
        self.account_id = self._account_id(session.client("sts", config=config))
        self.haproxy = HAProxy(state_dir / "haproxy")
        self.instances: dict[str, Instance] = {}
        self.addresses: dict[str, str] = {}  # every instance ever seen -> its loopback address
        self.health: dict[tuple[str, str], TargetHealth] = {}
        self.draining: dict[tuple[str, str], tuple[float, Server]] = {}  # (tg arn, server) -> (until, server)
        self.replaced: set[str] = set()
        self._previous: dict[str, dict[str, Server]] = {}  # target group ARN -> servers in rotation
        self._delays: dict[str, float] = {}  # target group ARN -> deregistration delay (scaled)
        self._target_states: dict[tuple[str, str], str] = {}  # (target group ARN, "<id>_<port>") -> state
        self.ecs_agent = EcsAgent(self)
        self.wheel_lock = threading.Lock()
        self._fallback = 0
        self._stop = threading.Event()
        self.metrics = Metrics(self)
        self.scaling = Scaling(self, self.metrics)
        self.refreshes = Refreshes(self)
        self.databases = Databases(self)

    @staticmethod
    def _account_id(sts, limit: float = 60.0) -> str:
        """The account ID, once the emulator answers (its first answers are slow on a busy machine)."""
        deadline = time.monotonic() + limit
        while True:
            try:
                return sts.get_caller_identity()["Account"]
            except (BotoCoreError, ClientError):
                if time.monotonic() >= deadline:
                    raise
                log.warning("the emulator does not answer yet; asking again")
                time.sleep(1)

    def next_fallback(self) -> int:
        self._fallback += 1
        return self._fallback

    def install_wheel(self, bucket: str, key: str) -> Path:
        body = self.s3.get_object(Bucket=bucket, Key=key)["Body"].read()
        return unpack_wheel(body, self.state_dir / "wheels", self.wheel_lock)

    def app_aws_environment(self) -> dict[str, str]:
        """What an app process needs to call AWS (attachments in S3) as its instance or task role.

        On AWS the SDK finds the role's credentials at the instance's metadata service (or the ECS
        agent's) and the real endpoints; locally the emulator's URL and its dummy credentials stand in.
        """
        names = ("AWS_ENDPOINT_URL", "AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY")
        env = {k: v for k, v in os.environ.items() if k in names}
        env.update({"AWS_REGION": self.region, "AWS_DEFAULT_REGION": self.region})
        return env

    def scaled(self, seconds: float) -> float:
        return seconds / self.time_scale

    # ------------------------------------------------------------------ loop
    def run(self) -> None:
        log.info(
            "data plane up: emulator port %s, region %s, time scale %g, state %s",
            self.emulator_port,
            self.region,
            self.time_scale,
            self.state_dir,
        )
        while not self._stop.is_set():
            started = time.monotonic()
            try:
                self.reconcile()
            except Exception:  # noqa: BLE001 - keep serving; the next pass retries
                log.exception("reconcile failed")
            self._stop.wait(max(0.05, self.interval - (time.monotonic() - started)))
        self.shutdown()

    def stop(self, *_args) -> None:
        self._stop.set()

    def shutdown(self) -> None:
        self.ecs_agent.shutdown()
        self.databases.shutdown()
        for instance in list(self.instances.values()):
            instance.stop()
        self.instances.clear()
        # The folder that held the instances' cgroups (one per hierarchy) goes with them.
        CGroup(f"localaws-{self.emulator_port}").remove()
        self.haproxy.stop()
        (self.state_dir / HEALTH_FILE).unlink(missing_ok=True)
        status = read_json(self.state_dir / STATUS_FILE, {})
        status.update(
            {"running": False, "instances": [], "listeners": [], "target_groups": [], "services": [], "databases": []}
        )
        write_json(self.state_dir / STATUS_FILE, status)
        log.info("data plane stopped: every instance process ended, HAProxy stopped")

    def reconcile(self) -> None:
        try:
            databases = self.databases.reconcile()
        except Exception:  # noqa: BLE001 - database trouble must not keep the load balancers from serving
            log.exception("RDS reconcile failed; retried on the next pass")
            databases = []
        described = self._describe_instances()
        gone = self._reconcile_instances(described)
        frozen = set(read_json(self.state_dir / FROZEN_FILE, []))
        for instance in self.instances.values():
            instance.set_frozen(instance.az in frozen)
        try:
            services = self.ecs_agent.reconcile(described, frozen, self._target_states)
        except Exception:  # noqa: BLE001 - ECS trouble must not keep the load balancers from serving
            log.exception("ECS reconcile failed; retried on the next pass")
            services = []
        listeners, groups = self._reconcile_load_balancers(described)
        self._target_states = {
            (group["arn"], f"{target['id']}_{target['port']}"): target["state"]
            for group in groups
            for target in group["targets"]
        }
        # Instances that stopped end only now: their tasks were deregistered and HAProxy drains
        # their servers, so new requests no longer go to processes that are about to end.
        self._end_instances(gone, described)
        asgs = self.autoscaling.describe_auto_scaling_groups().get("AutoScalingGroups", [])
        # (target group ARN, instance ID) -> the first target state of that instance in the group
        state_by_target = {}
        for group in groups:
            for target in group["targets"]:
                state_by_target.setdefault((group["arn"], target["id"]), target["state"])
        self._asg_health_checks(described, state_by_target, asgs)
        self.refreshes.tick(asgs, state_by_target)
        self.scaling.tick(described, asgs)
        write_json(
            self.state_dir / STATUS_FILE,
            {
                "running": True,
                "pid": os.getpid(),
                "updated": time.time(),
                "time_scale": self.time_scale,
                "frozen_azs": sorted(frozen),
                "listeners": listeners,
                "instances": [i.summary() for i in sorted(self.instances.values(), key=lambda i: (i.az, i.id))],
                "target_groups": groups,
                "services": services,
                "databases": databases,
                "scaling": self.scaling.summary(),
            },
        )

    # ------------------------------------------------------------------ instances
    def _describe_instances(self) -> dict[str, dict]:
        described = {}
        for page in self.ec2.get_paginator("describe_instances").paginate():
            for reservation in page["Reservations"]:
                for instance in reservation["Instances"]:
                    described[instance["InstanceId"]] = instance
        return described

    def _reconcile_instances(self, described: dict[str, dict]) -> list[str]:
        """Boot the instances that run; return those that no longer run (ended by _end_instances)."""
        running = {i: d for i, d in described.items() if d["State"]["Name"] in ("pending", "running")}
        gone = [instance_id for instance_id in self.instances if instance_id not in running]
        for instance_id, description in running.items():
            if instance_id not in self.instances:
                instance = Instance(self, description)
                self.instances[instance_id] = instance
                self.addresses[instance_id] = instance.address
                instance.start()
                log.info("%s booting in %s at %s", instance_id, instance.az, instance.address)
        return gone

    def _end_instances(self, gone: list[str], described: dict[str, dict]) -> None:
        for instance_id in gone:
            instance = self.instances.pop(instance_id, None)
            if instance is None:
                continue
            state = described.get(instance_id, {}).get("State", {}).get("Name", "gone")
            instance.stop()
            log.info("%s %s: its processes ended", instance_id, state)

    # ------------------------------------------------------------------ load balancers
    def _health_check(self, group: dict) -> HealthCheck:
        port = group.get("HealthCheckPort") or "traffic-port"
        return HealthCheck(
            path=group.get("HealthCheckPath") or "/",
            port=None if port == "traffic-port" else int(port),
            interval_ms=max(100, int(self.scaled(group.get("HealthCheckIntervalSeconds", 30)) * 1000)),
            timeout_ms=max(100, int(self.scaled(group.get("HealthCheckTimeoutSeconds", 5)) * 1000)),
            healthy=group.get("HealthyThresholdCount", 5),
            unhealthy=group.get("UnhealthyThresholdCount", 2),
            matcher=(group.get("Matcher") or {}).get("HttpCode", "200"),
        )

    def _deregistration_delay(self, arn: str) -> float:
        attributes = self.elbv2.describe_target_group_attributes(TargetGroupArn=arn)["Attributes"]
        value = next((a["Value"] for a in attributes if a["Key"] == "deregistration_delay.timeout_seconds"), "300")
        return self.scaled(float(value))

    def _reconcile_load_balancers(self, described: dict[str, dict]):
        now = time.monotonic()
        listeners = []  # (frontend without backend name, target group ARN or None)
        listeners_out = []
        for lb in self.elbv2.describe_load_balancers().get("LoadBalancers", []):
            if lb.get("Type", "application") != "application":
                continue
            for listener in self.elbv2.describe_listeners(LoadBalancerArn=lb["LoadBalancerArn"])["Listeners"]:
                action = (listener.get("DefaultActions") or [{}])[0]
                group_arn = action.get("TargetGroupArn") or next(
                    (g["TargetGroupArn"] for g in action.get("ForwardConfig", {}).get("TargetGroups", [])), None
                )
                served = listener.get("Protocol") == "HTTP"  # no certificates locally: HTTPS is not served
                frontend = Frontend(
                    name=safe(f"{lb['LoadBalancerName']}_{listener['Port']}"),
                    address=lb["DNSName"],
                    port=listener["Port"],
                    backend=None,
                    redirect=served and action.get("Type") == "redirect",
                )
                listeners.append((frontend, group_arn if served and action.get("Type") == "forward" else None))
                listeners_out.append(
                    {
                        "load_balancer": lb["LoadBalancerName"],
                        "listener_port": listener["Port"],
                        "protocol": listener.get("Protocol"),
                        "local": f"{lb['DNSName']}:{listener['Port']}",
                        "url": f"http://{lb['DNSName']}" + ("" if listener["Port"] == 80 else f":{listener['Port']}"),
                        "served": served,
                    }
                )
        used_groups = {arn for _frontend, arn in listeners if arn}
        measured = self.haproxy.server_status()
        backends: list[Backend] = []
        backend_of: dict[str, str] = {}
        groups_out = []
        health_file: dict[str, dict] = {}
        all_groups = self.elbv2.describe_target_groups().get("TargetGroups", []) if used_groups else []
        for group in all_groups:
            arn = group["TargetGroupArn"]
            if arn not in used_groups:
                continue
            name = safe(group["TargetGroupName"])
            backend_of[arn] = name
            check = self._health_check(group)
            budget = self.scaled(
                group.get("UnhealthyThresholdCount", 2) * group.get("HealthCheckIntervalSeconds", 30)
                + group.get("HealthCheckTimeoutSeconds", 5)
            )
            servers = self._servers(arn, now)
            backends.append(Backend(name, check, servers))
            health_file[arn] = {}
            targets_out = []
            for server in servers:
                tracker = self.health.setdefault((arn, server.name), TargetHealth(now))
                state = tracker.state(measured.get((name, server.name), "MAINT"), server.draining, budget, now)
                target_id, port = server.name.rsplit("_", 1)
                health_file[arn][f"{target_id}:{port}"] = state
                targets_out.append({"id": target_id, "port": int(port), "address": server.address, **state})
            groups_out.append(
                {
                    "name": group["TargetGroupName"],
                    "arn": arn,
                    "health_check": vars(check),
                    "deregistration_delay": self._delays.get(arn),
                    "targets": targets_out,
                }
            )
        frontends = [
            Frontend(fe.name, fe.address, fe.port, backend_of.get(arn) if arn else None, fe.redirect)
            for fe, arn in listeners
        ]
        self.haproxy.apply(frontends, backends)
        write_json(self.state_dir / HEALTH_FILE, health_file)
        live = {(arn, s.name) for arn in health_file for s in self._previous.get(arn, {}).values()}
        live |= set(self.draining)
        for key in list(self.health):
            if key not in live:
                del self.health[key]
        return listeners_out, groups_out

    def _servers(self, arn: str, now: float) -> list[Server]:
        """The group's registered targets, plus the deregistered ones still draining."""
        if arn not in self._delays:
            self._delays[arn] = self._deregistration_delay(arn)
        registered = self.elbv2.describe_target_health(TargetGroupArn=arn)["TargetHealthDescriptions"]
        servers = []
        for description in registered:
            target = description["Target"]
            if description["TargetHealth"]["State"] in ("unused", "draining", "unavailable"):
                continue
            address = self.addresses.get(target["Id"])
            if address is None:
                continue  # an instance this data plane has not seen running (yet)
            servers.append(Server(safe(f"{target['Id']}_{target['Port']}"), address, int(target["Port"])))
        current = {s.name for s in servers}
        for name, server in self._previous.get(arn, {}).items():
            if name not in current and (arn, name) not in self.draining:
                self.draining[(arn, name)] = (now + self._delays[arn], server)
        for (group_arn, name), (until, server) in list(self.draining.items()):
            if group_arn != arn:
                continue
            if name in current or now >= until:
                del self.draining[(group_arn, name)]
            else:
                servers.append(Server(server.name, server.address, server.port, draining=True))
        self._previous[arn] = {s.name: s for s in servers if not s.draining}
        return servers

    # ------------------------------------------------------------------ Auto Scaling health
    def _asg_health_checks(self, described: dict[str, dict], state_by_target: dict, asgs: list[dict]) -> None:
        for asg in asgs:
            grace = self.scaled(asg.get("HealthCheckGracePeriod", 0))
            for member in asg.get("Instances", []):
                instance_id = member["InstanceId"]
                if member.get("LifecycleState") != "InService" or instance_id in self.replaced:
                    continue
                if instance_id not in described:
                    continue  # launched after this pass read the instances: judged on the next pass
                ec2_state = described[instance_id]["State"]["Name"]
                reason = None
                if ec2_state not in ("pending", "running"):
                    reason = f"EC2 health check: instance {ec2_state}"
                elif asg.get("HealthCheckType") == "ELB":
                    local = self.instances.get(instance_id)
                    age = time.monotonic() - (local.started if local else time.monotonic())
                    bad = [
                        arn
                        for arn in asg.get("TargetGroupARNs", [])
                        if state_by_target.get((arn, instance_id)) == "unhealthy"
                    ]
                    if bad and age > grace:
                        reason = "ELB health check: unhealthy in its target group"
                if reason is None:
                    continue
                self.replaced.add(instance_id)
                log.warning(
                    "%s: %s: %s is marked Unhealthy and replaced", asg["AutoScalingGroupName"], reason, instance_id
                )
                self.autoscaling.set_instance_health(InstanceId=instance_id, HealthStatus="Unhealthy")
                self.autoscaling.terminate_instance_in_auto_scaling_group(
                    InstanceId=instance_id, ShouldDecrementDesiredCapacity=False
                )


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--emulator-port", type=int, required=True)
    parser.add_argument("--state-dir", type=Path, required=True)
    parser.add_argument("--time-scale", type=float, default=float(os.environ.get("LOCAL_AWS_TIME_SCALE", "1")))
    parser.add_argument("--interval", type=float, default=float(os.environ.get("LOCAL_AWS_RECONCILE_INTERVAL", "1")))
    parser.add_argument("--web-concurrency", type=int, default=int(os.environ.get("LOCAL_AWS_WEB_CONCURRENCY", "2")))
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    logging.getLogger("botocore").setLevel(logging.WARNING)
    args.state_dir.mkdir(parents=True, exist_ok=True)
    plane = DataPlane(
        args.state_dir.resolve(), args.emulator_port, args.time_scale, args.interval, args.web_concurrency
    )
    signal.signal(signal.SIGTERM, plane.stop)
    signal.signal(signal.SIGINT, plane.stop)
    plane.run()


if __name__ == "__main__":
    main()
