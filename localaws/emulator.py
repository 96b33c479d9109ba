"""The local AWS emulator: moto in server mode, with the fixes this project's stack depends on.

    python -m localaws.emulator -H 127.0.0.1 -p 5555

This module is the one named seam between moto and AWS. Each fix below changes moto's behaviour
where it departs from AWS in a way the stack (or the data plane) depends on; it is applied when
the emulator starts, never by editing site-packages, and each has a test in tests/dataplane/.

1. Auto Scaling places instances across the group's subnets, balanced by AZ (AWS launches each
   new instance in the AZ that has the fewest). moto puts every instance in the first subnet.
2. Terminated instances leave their target groups (moto keeps them registered when the Auto
   Scaling API terminates them).
3. A load balancer's DNS name is a loopback address of its own, derived from its name and the
   emulator's port, so ``http://<DNSName>/`` reaches the data plane's HAProxy exactly as a real
   ALB's DNS name reaches the ALB. The same name gives the same address on every run.
4. DescribeTargetHealth answers with the health the data plane measures (file named by
   ``LOCAL_AWS_HEALTH_FILE``), not moto's constant ``healthy``. Without a data plane, moto's
   answer stands.
5. With a data plane, an ECS service's running count is the number of its RUNNING tasks (the
   data plane starts them with group ``service:<name>``), not moto's copy of the desired count.
6. An ECS task stays RUNNING until it is stopped (moto moves it one step towards STOPPED each
   time it is described).
7. A target group holds a target per instance *and port* (moto keys targets by ID alone, so two
   ECS tasks on one instance, on two dynamic host ports, would be one target).
8. DescribeScalingActivities answers with the scaling decisions the data plane took (the file
   ``activities.json`` next to the health file), newest first. moto always answers an empty list.
   (Tested in tests/scale/test_scale.py, where the data plane takes the decisions.)
9. A new application load balancer lists AWS's default attributes (idle timeout 60 s, invalid
   header fields kept, HTTP/2 on, ...). moto lists only the attributes that were set, and
   amazon.aws.elb_application_lb fails on a missing one it is asked to manage.
10. CreateService stores the health check grace period, the placement strategy and
    constraints and the deployment configuration (moto keeps them only from UpdateService).
11. DeleteLaunchTemplateVersions deletes non-default versions (moto does not implement it, and
    amazon.aws.ec2_launch_template calls it before DeleteLaunchTemplate). Version numbers are
    never reused, as on AWS.
12. An RDS instance's endpoint is a loopback address of its own (``127.<port>.252.<n>``, from its
    identifier), where the data plane's MariaDB server listens, as a real endpoint reaches the
    database. RDS never returns the master password, so the emulator keeps it for the "service
    side" (``rds-service.json`` next to the health file, mode 0600: what CreateDBInstance and
    ModifyDBInstance received), as RDS itself keeps it. With a data plane, an instance is
    ``creating`` until the data plane's server answers (``rds.json``), then ``available``. Each
    instance gets a resource ID of its own (moto gives all one constant), and gp3 storage reports
    its baseline IOPS and throughput, as AWS does (moto reports none, which rds_instance needs).
13. GetConsoleOutput answers with the instance's boot log as the data plane writes it (moto
    answers a fixed sample text), the way EC2 exposes an instance's console.
14. DescribeCapacityProviders without names lists every provider, as AWS does (moto answers
    HTTP 500); the teardown audit lists them so.
15. ECR's data plane is a local registry (``LOCAL_AWS_REGISTRY``, its host and port;
    scripts/local-aws.sh starts it beside the emulator on 127.<port octet>.253.1):
    a repository's URI is ``<registry>/<name>`` and GetAuthorizationToken's proxy endpoint is
    ``http://<registry>``, so a client pushes to ``repositoryUri`` with the token's credentials
    exactly as it does on AWS. With the registry's folder (``LOCAL_AWS_REGISTRY_DIR``), the images
    are the registry's: DeleteRepository refuses a repository that holds a tagged image unless
    forced (moto sees no image and deletes it), and deletes the repository's images with it (moto
    leaves them in the registry, where a new repository of the same name finds them again).
    Without ``LOCAL_AWS_REGISTRY``, moto's answers stand.
16. CreateLaunchTemplate's own TagSpecifications tag the launch template only (moto also copies
    them into version 1's LaunchTemplateData, where they are tags for the instances and volumes
    the template launches; amazon.aws.ec2_launch_template then sees a different version 1 and
    creates version 2 on every re-run).
17. A latency profile (``LOCAL_AWS_LATENCY``, off by default): a new application load balancer
    stays ``provisioning`` for ``alb`` seconds (moto makes it ``active`` at the first describe), and
    its targets are ``initial`` (``Elb.RegistrationInProgress``) until then; a new RDS instance stays
    ``creating`` for ``rds`` seconds (then ``available``, or what fix 12 says with a data plane).
    ``LOCAL_AWS_LATENCY=aws`` takes typical times on AWS (:data:`TYPICAL_LATENCY`) divided by
    ``LOCAL_AWS_TIME_SCALE``; ``alb=45,rds=120`` gives the seconds. It shows what a playbook's waits
    cost and whether they overlap (``bench/converge_bench.py``), without an AWS account.
18. An ECS service's events are those the data plane's scheduler recorded (``ecs-events.json``
    next to the health file: its deployment circuit breaker's "deployment failed" and "rolling
    back"), newest first, as DescribeServices lists them on AWS. moto's list stays empty.
19. An Auto Scaling instance reports the launch template version it was launched from (moto
    reports the template's default version for every instance, so an instance refresh never
    finds an outdated instance).
20. Instance refreshes (StartInstanceRefresh, DescribeInstanceRefreshes, CancelInstanceRefresh;
    moto has none): one active refresh per group, as on AWS. With a data plane, the data plane
    replaces the instances batch by batch and the emulator answers its progress
    (``refreshes.json`` next to the health file). Without one, the outdated instances (every
    instance unless ``SkipMatching``) are replaced at once and the refresh is ``Successful``.
21. CreateLaunchTemplateVersion keeps the version's user data as CreateLaunchTemplate keeps it
    (moto stores it as given, and an Auto Scaling launch from that version fails on it).
22. DeleteSecurityGroup refuses a group that another group's rule refers to
    (``DependencyViolation``, as on AWS; moto deletes it and leaves the rule pointing nowhere), so
    the teardown's order is proven locally.
"""

from __future__ import annotations

import datetime
import os
import secrets
import string
import sys
import time
import uuid
import zlib
from collections import Counter

from .statefiles import read_json, write_json

ENV_HEALTH_FILE = "LOCAL_AWS_HEALTH_FILE"
ENV_REGISTRY = "LOCAL_AWS_REGISTRY"
ENV_REGISTRY_DIR = "LOCAL_AWS_REGISTRY_DIR"
ENV_LATENCY = "LOCAL_AWS_LATENCY"

# Fix 17's profile "aws": typical seconds from a create call to a usable resource. AWS documents no
# figure ("a few minutes"); its SDK waiters poll a load balancer every 15 s for up to 10 minutes and
# an RDS instance every 30 s for up to 30 minutes. Commonly observed: an ALB provisions in about 3
# minutes; an RDS instance creates in 5-10 minutes single-AZ and 10-20 Multi-AZ (the database
# role's default, docs/database.md): 15 here.
TYPICAL_LATENCY = {"alb": 180.0, "rds": 900.0}


def latency_profile(text: str | None, time_scale: float = 1.0) -> dict[str, float]:
    """Fix 17's profile from LOCAL_AWS_LATENCY: '' (off), 'aws' (TYPICAL_LATENCY / time_scale) or
    'alb=45,rds=120' (seconds). A kind it does not know or a bad number is a ValueError."""
    text = (text or "").strip()
    if not text:
        return {}
    if text == "aws":
        return {kind: seconds / time_scale for kind, seconds in TYPICAL_LATENCY.items()}
    profile = {}
    for item in text.split(","):
        kind, _sep, value = item.partition("=")
        kind = kind.strip()
        if kind not in TYPICAL_LATENCY:
            raise ValueError(f"{ENV_LATENCY}: unknown kind {kind!r} in {text!r} (known: {', '.join(TYPICAL_LATENCY)})")
        try:
            seconds = float(value)
        except ValueError:
            raise ValueError(f"{ENV_LATENCY}: {kind} needs a number of seconds, not {value!r}") from None
        if not 0 <= seconds <= 3600:
            raise ValueError(f"{ENV_LATENCY}: {kind}={value} is not between 0 and 3600 seconds")
        profile[kind] = seconds
    return profile


def _young(resource, seconds: float) -> bool:
    """Created less than ``seconds`` ago (fix 17; the create wrappers stamp ``localaws_created``)."""
    return time.monotonic() - getattr(resource, "localaws_created", float("-inf")) < seconds


# DescribeLoadBalancerAttributes of a new application load balancer on AWS (fix 9).
ALB_DEFAULT_ATTRIBUTES = {
    "access_logs.s3.enabled": "false",
    "client_keep_alive.seconds": "3600",
    "idle_timeout.timeout_seconds": "60",
    "routing.http.desync_mitigation_mode": "defensive",
    "routing.http.drop_invalid_header_fields.enabled": "false",
    "routing.http.preserve_host_header.enabled": "false",
    "routing.http.x_amzn_tls_version_and_cipher_suite.enabled": "false",
    "routing.http.xff_client_port.enabled": "false",
    "routing.http.xff_header_processing.mode": "append",
    "routing.http2.enabled": "true",
    "waf.fail_open.enabled": "false",
}


def port_octet(port: int) -> int:
    """Second octet of every loopback address this emulator hands out (1..250)."""
    return port % 250 + 1


def load_balancer_address(name: str, port: int, taken: set[str] | None = None) -> str:
    """127.<port octet>.254.<from the name>: stable for a name, distinct from instances' addresses."""
    taken = taken or set()
    start = zlib.crc32(name.encode()) % 250
    for step in range(250):
        address = f"127.{port_octet(port)}.254.{(start + step) % 250 + 1}"
        if address not in taken:
            return address
    raise RuntimeError("no loopback address left for another load balancer")


def _balanced_subnets(group, count: int) -> list[str | None]:
    """The subnet of each of `count` new instances, the AZ with the fewest instances first."""
    subnet_ids = [s for s in (group.vpc_zone_identifier or "").split(",") if s]
    if not subnet_ids:
        return [None] * count
    ec2 = group.autoscaling_backend.ec2_backend
    zone_of = {s: ec2.get_subnet(s).availability_zone for s in subnet_ids}
    zones = list(dict.fromkeys(zone_of.values()))
    per_zone = Counter({zone: 0 for zone in zones})
    for state in group.instance_states:
        if state.instance.state in ("pending", "running", "stopped", "stopping"):
            per_zone[state.instance.availability_zone] += 1
    chosen = []
    for _instance in range(count):
        zone = min(zones, key=lambda z: (per_zone[z], zones.index(z)))
        per_zone[zone] += 1
        chosen.append(next(s for s in subnet_ids if zone_of[s] == zone))
    return chosen


def _read_health() -> dict:
    return read_json(os.environ.get(ENV_HEALTH_FILE), {})


def _targets_by_id_and_port(target_group_class, health_class) -> None:
    """Key a target group's targets by "<id>:<port>" (moto keys them by ID)."""
    from moto.elbv2.exceptions import InvalidTargetError, TargetNotRunning

    def key(group, target):
        return f"{target['Id']}:{target.get('Port', group.port)}"

    def register(self, targets):
        for target in targets:
            instance = self.ec2_backend.get_instance_by_id(target["Id"])
            if instance and instance.state != "running":
                raise TargetNotRunning(instance_id=target["Id"])
            self.targets[key(self, target)] = {"Id": target["Id"], "Port": target.get("Port", self.port)}
            self.deregistered_targets.pop(key(self, target), None)

    def deregister(self, targets):
        for target in targets:
            found = self.targets.pop(key(self, target), None)
            if not found:
                raise InvalidTargetError()
            self.deregistered_targets[key(self, target)] = found

    def deregister_terminated_instances(self, instance_ids):
        for name in [k for k, t in self.targets.items() if t["Id"] in instance_ids]:
            self.terminated_targets[name] = self.targets.pop(name)

    def health_for(self, target, ec2_backend):
        name, port = key(self, target), target.get("Port", self.port)
        if name in self.targets:
            instance = ec2_backend.get_instance_by_id(target["Id"]) if target["Id"].startswith("i-") else None
            if instance and instance.state == "stopped":
                reason = ("Target.InvalidState", "Target is in the stopped state")
                return health_class(target["Id"], port, self.health_check_port, "unused", *reason)
            return health_class(target["Id"], port, self.health_check_port, "healthy")
        if name in self.terminated_targets:
            return health_class(
                target["Id"],
                port,
                self.health_check_port,
                "draining",
                "Target.DeregistrationInProgress",
                "Target deregistration is in progress",
            )
        reason = ("Target.NotRegistered", "Target is not registered to the target group")
        return health_class(target["Id"], port, self.health_check_port, "unused", *reason)

    target_group_class.register = register
    target_group_class.deregister = deregister
    target_group_class.deregister_terminated_instances = deregister_terminated_instances
    target_group_class.health_for = health_for


def _state_file(name: str) -> str | None:
    """A file of the data plane's state folder (beside the health file), or None without one."""
    path = os.environ.get(ENV_HEALTH_FILE)
    return os.path.join(os.path.dirname(path), name) if path else None


def database_address(identifier: str, port: int) -> str:
    """127.<port octet>.252.<from the identifier>: stable for an identifier (RDS endpoints are)."""
    return f"127.{port_octet(port)}.252.{zlib.crc32(identifier.encode()) % 250 + 1}"


def _record_rds_service(backend) -> None:
    """The master user and password of every DB instance, where the data plane's servers read them."""
    path = _state_file("rds-service.json")
    if not path:
        return
    data = {
        db.db_instance_identifier: {
            "resource_id": db.dbi_resource_id,
            "master_username": db.master_username,
            "master_user_password": db._master_user_password,  # noqa: SLF001 - the service side's copy
            "db_name": db.db_name,
        }
        for db in backend.databases.values()
    }
    write_json(path, data, mode=0o600)


def _rds_fixes(port: int, creating_seconds: float) -> None:
    """Fix 12, and fix 17's RDS part: an instance is ``creating`` for ``creating_seconds``."""
    from moto.rds.models import DBInstance, RDSBackend

    DBInstance.address = property(lambda self: database_address(self.db_instance_identifier, port))
    for name in ("create_db_instance", "modify_db_instance", "delete_db_instance"):
        original = getattr(RDSBackend, name)

        def recorded(self, *args, __original=original, __name=name, **kwargs):
            result = __original(self, *args, **kwargs)
            if __name == "create_db_instance":
                result.localaws_created = time.monotonic()
                # AWS gives every DB instance a resource ID of its own (moto one constant for all).
                alphabet = string.ascii_uppercase + string.digits
                result.dbi_resource_id = "db-" + "".join(secrets.choice(alphabet) for _index in range(26))
                if result.storage_type == "gp3":
                    # gp3 below 400 GiB: AWS reports the baseline, 3000 IOPS and 125 MiB/s (moto none).
                    result.iops = result.iops or 3000
                    result.storage_throughput = result.storage_throughput or 125
            _record_rds_service(self)
            return result

        setattr(RDSBackend, name, recorded)

    original_describe = RDSBackend.describe_db_instances

    def describe_db_instances(self, *args, **kwargs):
        databases = original_describe(self, *args, **kwargs)
        # Without a data plane nothing serves the database, and moto's "available" stands.
        path = _state_file("rds.json")
        served = read_json(path, {}) if path else None
        for db in databases:
            ready = served is None or served.get(db.db_instance_identifier, {}).get("resource_id") == db.dbi_resource_id
            if db.status in ("available", "creating"):
                db.status = "available" if ready and not _young(db, creating_seconds) else "creating"
        return databases

    RDSBackend.describe_db_instances = describe_db_instances


def _console_fix() -> None:
    from moto.core.responses import ActionResult
    from moto.ec2.responses.general import General
    from moto.ec2.utils import Base64EncodedString

    original = General.get_console_output

    def get_console_output(self):
        instance_id = str(self._get_param("InstanceId"))
        path = _state_file(os.path.join("instances", instance_id, "var/log/cloud-init-output.log"))
        if not path or not instance_id.startswith("i-") or "/" in instance_id or not os.path.exists(path):
            return original(self)
        with open(path, encoding="utf-8", errors="replace") as handle:
            text = handle.read()[-64 * 1024 :]  # EC2 keeps the last 64 KB
        answer = original(self)
        answer.result["Output"] = Base64EncodedString.from_raw_string(text)
        return ActionResult(answer.result)

    General.get_console_output = get_console_output


def _read_state_json(name: str) -> list:
    """A list the data plane writes in its state folder (empty without one, or before it writes)."""
    return read_json(_state_file(name), [])


def apply_fixes(port: int) -> None:
    """Patch moto's models in this process (the server's backends are created lazily, after)."""
    # 17. The seconds a new ALB provisions and a new RDS instance creates (none without a profile).
    latency = latency_profile(os.environ.get(ENV_LATENCY), float(os.environ.get("LOCAL_AWS_TIME_SCALE") or 1))
    from moto.autoscaling.models import AutoScalingBackend, FakeAutoScalingGroup
    from moto.elbv2.models import ELBv2Backend, FakeHealthStatus, FakeLoadBalancer, FakeTargetGroup, elbv2_backends

    # 1. Balanced by AZ: launch one instance at a time, each in the emptiest AZ's subnet.
    original_replace = FakeAutoScalingGroup.replace_autoscaling_group_instances

    def replace_balanced(self, count_needed, propagated_tags):
        subnets = _balanced_subnets(self, count_needed)
        if subnets[0] is None:
            return original_replace(self, count_needed, propagated_tags)
        all_subnets = self.vpc_zone_identifier
        try:
            for subnet in subnets:
                self.vpc_zone_identifier = subnet
                original_replace(self, 1, dict(propagated_tags))
        finally:
            self.vpc_zone_identifier = all_subnets

    FakeAutoScalingGroup.replace_autoscaling_group_instances = replace_balanced

    # 2. Terminated instances leave their target groups.
    original_terminate = AutoScalingBackend.terminate_instance

    def terminate_and_deregister(self, instance_id, should_decrement):
        activity = original_terminate(self, instance_id, should_decrement)
        elbv2_backends[self.account_id][self.region_name].notify_terminate_instances([instance_id])
        return activity

    AutoScalingBackend.terminate_instance = terminate_and_deregister

    # 3. DNS name = a loopback address of the load balancer's own.
    # 9. An application load balancer starts with AWS's default attributes.
    original_create_lb = ELBv2Backend.create_load_balancer

    def create_load_balancer(self, *args, **kwargs):
        lb = original_create_lb(self, *args, **kwargs)
        lb.localaws_created = time.monotonic()
        if lb.type == "application":
            lb.attrs = {**ALB_DEFAULT_ATTRIBUTES, **lb.attrs}
        taken = {other.dns_name for other in self.load_balancers.values() if other is not lb}
        lb.dns_name = load_balancer_address(lb.name, port, taken)
        return lb

    ELBv2Backend.create_load_balancer = create_load_balancer

    # 4. Target health as the data plane measures it.
    original_health = ELBv2Backend.describe_target_health

    def provisioning(lb) -> bool:
        return lb is not None and lb.type == "application" and _young(lb, latency.get("alb", 0))

    def describe_target_health(self, target_group_arn, targets):
        answers = original_health(self, target_group_arn, targets)
        group = self.target_groups.get(target_group_arn)
        if group and any(provisioning(self.load_balancers.get(arn)) for arn in group.load_balancer_arns):
            measured = {}  # 17. behind a load balancer that still provisions, every target is initial
        else:
            measured = _read_health().get(target_group_arn)
        if measured is None:
            return answers
        result = []
        for answer in answers:
            if answer.status in ("unused", "draining", "unavailable"):
                result.append(answer)
                continue
            seen = measured.get(f"{answer.instance_id}:{answer.port}") or {
                "state": "initial",
                "reason": "Elb.RegistrationInProgress",
                "description": "Target registration is in progress",
            }
            result.append(
                FakeHealthStatus(
                    answer.instance_id,
                    answer.port,
                    answer.health_check_port,
                    seen["state"],
                    seen.get("reason"),
                    seen.get("description"),
                )
            )
        return result

    ELBv2Backend.describe_target_health = describe_target_health

    # 17. A new ALB stays provisioning (moto activates it at the first describe).
    original_activate = FakeLoadBalancer.activate

    def activate(self):
        if not provisioning(self):
            original_activate(self)

    FakeLoadBalancer.activate = activate

    # 7. Targets are (ID, port) pairs.
    _targets_by_id_and_port(FakeTargetGroup, FakeHealthStatus)

    # 6. Tasks stay RUNNING until StopTask (no automatic transitions).
    from moto.moto_api import state_manager

    state_manager.set_transition(model_name="ecs::task", transition={"progression": "manual", "times": 10**9})

    # 5. ECS service counts from the tasks that run.
    from moto.ecs.models import EC2ContainerServiceBackend

    original_describe_services = EC2ContainerServiceBackend.describe_services

    def describe_services(self, cluster_str, service_names_or_arns):
        services, failures = original_describe_services(self, cluster_str, service_names_or_arns)
        if not os.environ.get(ENV_HEALTH_FILE):
            return services, failures
        events = _read_state_json("ecs-events.json")
        for service in services:
            # 18. The scheduler's events of this service, newest first.
            service.events = [
                {
                    "id": e["id"],
                    "createdAt": datetime.datetime.fromisoformat(e["createdAt"]),
                    "message": e["message"],
                }
                for e in events
                if e.get("cluster") == service.cluster_name and e.get("service") == service.name
            ]
            tasks = self.tasks.get(service.cluster_name, {}).values()
            running = sum(1 for t in tasks if t.group == f"service:{service.name}" and t.desired_status == "RUNNING")
            service.running_count, service.pending_count = running, 0
            for deployment in service.deployments:
                deployment.update(runningCount=running, pendingCount=0)
                done = running >= service.desired_count
                deployment["rolloutState"] = "COMPLETED" if done else "IN_PROGRESS"
        return services, failures

    EC2ContainerServiceBackend.describe_services = describe_services
    # 8. The data plane's scaling decisions as the group's activity history.
    from moto.autoscaling.responses import AutoScalingResponse
    from moto.core.responses import ActionResult

    original_activities = AutoScalingResponse.describe_scaling_activities

    def describe_scaling_activities(self):
        recorded = _read_state_json("activities.json")
        if not recorded:
            return original_activities(self)
        name = self._get_param("AutoScalingGroupName")
        wanted = [a for a in recorded if not name or a.get("AutoScalingGroupName") == name]
        limit = int(self._get_param("MaxRecords") or 100)
        for activity in wanted:
            for key in ("StartTime", "EndTime"):
                if isinstance(activity.get(key), str):
                    activity[key] = datetime.datetime.fromisoformat(activity[key])
        return ActionResult({"Activities": wanted[:limit]})

    AutoScalingResponse.describe_scaling_activities = describe_scaling_activities
    # 12. RDS: loopback endpoints, the service side's password, creating until served.
    # 17. And creating for the latency profile's seconds.
    _rds_fixes(port, latency.get("rds", 0))
    # 13. The console output is the instance's boot log.
    _console_fix()
    # 14. DescribeCapacityProviders without names lists every provider, as AWS does (moto iterates
    # over the missing list: HTTP 500); the teardown audit lists them so.
    original_describe_providers = EC2ContainerServiceBackend.describe_capacity_providers

    def describe_capacity_providers(self, names):
        if names is None:
            return list(self.capacity_providers.values()), []
        return original_describe_providers(self, names)

    EC2ContainerServiceBackend.describe_capacity_providers = describe_capacity_providers

    _create_service_keeps_its_settings()
    _instance_refresh()
    _launch_template_versions_can_be_deleted()
    _launch_template_tags_stay_on_the_template()
    _referenced_security_groups_stay()


def group_template_version(group) -> str | None:
    """The version number the group launches (its version may be $Latest or $Default)."""
    if group.ec2_launch_template is None:
        return None
    try:
        return str(group.ec2_launch_template.get_version(group.launch_template_version).number)
    except Exception:  # noqa: BLE001 - a template without that version: none known
        return None


def _instance_refresh() -> None:
    """Fixes 19 and 20: the launch template version of each instance, and instance refreshes."""
    from moto.autoscaling.exceptions import AutoscalingClientError, ValidationError
    from moto.autoscaling.models import FakeAutoScalingGroup, InstanceState
    from moto.autoscaling.responses import AutoScalingResponse
    from moto.core.responses import ActionResult

    # 19. Recorded at launch (after fix 1's balanced launch, which calls the original per instance).
    original_replace = FakeAutoScalingGroup.replace_autoscaling_group_instances

    def replace_recording(self, count_needed, propagated_tags):
        before = {state.instance.id for state in self.instance_states}
        original_replace(self, count_needed, propagated_tags)
        version = group_template_version(self)
        for state in self.instance_states:
            if state.instance.id not in before:
                state.instance.launch_template_version = version

    FakeAutoScalingGroup.replace_autoscaling_group_instances = replace_recording

    def launch_template(self):
        group = self.auto_scaling_group
        if group is None or group.ec2_launch_template is None:
            return None
        template = group.ec2_launch_template
        version = getattr(self.instance, "launch_template_version", None) or template.default_version_number
        return {"LaunchTemplateId": template.id, "LaunchTemplateName": template.name, "Version": str(version)}

    InstanceState.launch_template = property(launch_template)

    # 20. Instance refreshes, kept on the backend; a data plane's progress merged in when answered.
    active = ("Pending", "InProgress", "Cancelling")

    class InstanceRefreshInProgress(AutoscalingClientError):
        code = "InstanceRefreshInProgress"

    class ActiveInstanceRefreshNotFound(AutoscalingClientError):
        code = "ActiveInstanceRefreshNotFound"

    def refreshes(backend) -> list[dict]:
        progress = {r.get("InstanceRefreshId"): r for r in _read_state_json("refreshes.json")}
        kept = backend.__dict__.setdefault("instance_refreshes", [])
        for refresh in kept:
            if refresh["Status"] in active and refresh["InstanceRefreshId"] in progress:
                update = progress[refresh["InstanceRefreshId"]]
                refresh.update(
                    {
                        k: update[k]
                        for k in ("Status", "StatusReason", "PercentageComplete", "InstancesToUpdate")
                        if k in update
                    }
                )
                if update.get("EndTime"):
                    refresh["EndTime"] = datetime.datetime.fromisoformat(update["EndTime"])
        return kept

    def start_instance_refresh(self):
        backend = self.autoscaling_backend
        name = self._get_param("AutoScalingGroupName")
        group = backend.autoscaling_groups.get(name)
        if group is None:
            raise ValidationError(f"AutoScalingGroup name not found - {name}")
        kept = refreshes(backend)
        if any(r["AutoScalingGroupName"] == name and r["Status"] in active for r in kept):
            raise InstanceRefreshInProgress(
                "An Instance Refresh is already in progress and blocks the execution of this Instance Refresh."
            )
        preferences = self._get_param("Preferences") or {}
        version = group_template_version(group)
        outdated = [
            state.instance.id
            for state in group.instance_states
            if not preferences.get("SkipMatching")
            or getattr(state.instance, "launch_template_version", None) != version
        ]
        now = datetime.datetime.now(datetime.timezone.utc)  # noqa: UP017
        refresh = {
            "InstanceRefreshId": str(uuid.uuid4()),
            "AutoScalingGroupName": name,
            "Status": "Pending",
            "StatusReason": "",
            "StartTime": now,
            "PercentageComplete": 0,
            "InstancesToUpdate": len(outdated),
            "Preferences": {
                "MinHealthyPercentage": 90,
                "SkipMatching": False,
                "ScaleInProtectedInstances": "Wait",  # the API's defaults
                "StandbyInstances": "Wait",
                **preferences,
            },
            "Strategy": self._get_param("Strategy") or "Rolling",
        }
        if not os.environ.get(ENV_HEALTH_FILE):
            # No data plane: nothing serves, so the outdated instances are replaced at once (the
            # preferences but SkipMatching are the data plane's, localaws/refresh.py).
            for instance_id in outdated:
                backend.terminate_instance(instance_id, should_decrement=False)
            refresh.update(Status="Successful", PercentageComplete=100, InstancesToUpdate=0, EndTime=now)
        kept.insert(0, refresh)
        return ActionResult({"InstanceRefreshId": refresh["InstanceRefreshId"]})

    def describe_instance_refreshes(self):
        name = self._get_param("AutoScalingGroupName")
        ids = self._get_param("InstanceRefreshIds") or []
        found = [
            r
            for r in refreshes(self.autoscaling_backend)
            if r["AutoScalingGroupName"] == name and (not ids or r["InstanceRefreshId"] in ids)
        ]
        return ActionResult({"InstanceRefreshes": found[: int(self._get_param("MaxRecords") or 50)]})

    def cancel_instance_refresh(self):
        name = self._get_param("AutoScalingGroupName")
        refresh = next(
            (
                r
                for r in refreshes(self.autoscaling_backend)
                if r["AutoScalingGroupName"] == name and r["Status"] in active
            ),
            None,
        )
        if refresh is None:
            raise ActiveInstanceRefreshNotFound(
                "No in progress or pending Instance Refresh found for Auto Scaling group " + name
            )
        refresh.update(Status="Cancelled", EndTime=datetime.datetime.now(datetime.timezone.utc))  # noqa: UP017
        return ActionResult({"InstanceRefreshId": refresh["InstanceRefreshId"]})

    AutoScalingResponse.start_instance_refresh = start_instance_refresh
    AutoScalingResponse.describe_instance_refreshes = describe_instance_refreshes
    AutoScalingResponse.cancel_instance_refresh = cancel_instance_refresh


def _create_service_keeps_its_settings() -> None:
    """Fix 10: CreateService keeps what UpdateService would store."""
    from moto.ecs.responses import EC2ContainerServiceResponse

    original_create = EC2ContainerServiceResponse.create_service
    kept = {
        "healthCheckGracePeriodSeconds": "health_check_grace_period_seconds",
        "placementStrategy": "placement_strategy",
        "placementConstraints": "placement_constraints",
        "deploymentConfiguration": "deployment_configuration",
    }

    def create_service(self):
        result = original_create(self)
        cluster = self.ecs_backend._get_cluster(self._get_param("cluster", "default"))
        service = self.ecs_backend.services[f"{cluster.name}:{self._get_param('serviceName')}"]
        for param, attribute in kept.items():
            value = self._get_param(param)
            if value is not None:
                setattr(service, attribute, value)
        return result

    EC2ContainerServiceResponse.create_service = create_service


def _launch_template_versions_can_be_deleted() -> None:
    """Fix 11: DeleteLaunchTemplateVersions, with versions found by number, not by position.
    Fix 21: a version's user data is kept as CreateLaunchTemplate keeps it."""
    from moto.core.responses import ActionResult
    from moto.ec2.exceptions import InvalidLaunchTemplateVersionNotFound
    from moto.ec2.models.launch_templates import LaunchTemplate, LaunchTemplateVersion
    from moto.ec2.responses.launch_templates import LaunchTemplates
    from moto.ec2.utils import parse_user_data

    def create_version(self, data, description):
        if isinstance(data.get("UserData"), str):
            data = {**data, "UserData": parse_user_data(data["UserData"])}
        number = max([getattr(self, "_highest_version", 0)] + [v.number for v in self.versions]) + 1
        self._highest_version = number
        version = LaunchTemplateVersion(self, number, data, description)
        self.versions.append(version)
        return version

    def get_version(self, num):
        if str(num).lower() == "$latest":
            return self.versions[-1]
        if str(num).lower() == "$default":
            return self.default_version()
        found = next((v for v in self.versions if str(v.number) == str(num)), None)
        if found is None:
            raise InvalidLaunchTemplateVersionNotFound(template_id=self.id, version=num)
        return found

    def default_version(self):
        return self.get_version(self.default_version_number)

    LaunchTemplate.create_version = create_version
    LaunchTemplate.get_version = get_version
    LaunchTemplate.default_version = default_version

    def delete_launch_template_versions(self):
        template_id = self._get_param("LaunchTemplateId")
        name = self._get_param("LaunchTemplateName")
        template = (
            self.ec2_backend.get_launch_template_by_name(name)
            if name
            else self.ec2_backend.get_launch_template(template_id)
        )
        self.error_on_dryrun()
        deleted, refused = [], []
        for number in self._get_param("Versions", []):
            entry = {"LaunchTemplateId": template.id, "LaunchTemplateName": template.name}
            version = next((v for v in template.versions if str(v.number) == str(number)), None)
            if version is None or template.is_default(version):
                code = "launchTemplateVersionDoesNotExist" if version is None else "launchTemplateVersionIsDefault"
                refused.append({**entry, "VersionNumber": int(number), "ResponseError": {"Code": code}})
                continue
            template.versions.remove(version)
            deleted.append({**entry, "VersionNumber": version.number})
        return ActionResult(
            {
                "SuccessfullyDeletedLaunchTemplateVersions": deleted,
                "UnsuccessfullyDeletedLaunchTemplateVersions": refused,
            }
        )

    LaunchTemplates.delete_launch_template_versions = delete_launch_template_versions

    # 15. ECR's registry is the data plane's local registry.
    registry = os.environ.get(ENV_REGISTRY)
    if registry:
        _ecr_on_local_registry(registry, os.environ.get(ENV_REGISTRY_DIR))


def _launch_template_tags_stay_on_the_template() -> None:
    """Fix 16: the request's TagSpecifications tag the template, not the launched resources."""
    from moto.core.responses import ActionResult
    from moto.ec2.responses.launch_templates import LaunchTemplates
    from moto.ec2.utils import parse_user_data

    def create_launch_template(self):
        data = self._get_param("LaunchTemplateData", {})
        data["UserData"] = parse_user_data(self._get_param("LaunchTemplateData.UserData"))
        self.error_on_dryrun()
        template = self.ec2_backend.create_launch_template(
            self._get_param("LaunchTemplateName"),
            self._get_param("VersionDescription"),
            data,
            self._parse_tag_specification(),
        )
        version = template.default_version()
        return ActionResult(
            {
                "LaunchTemplate": {
                    "CreateTime": version.create_time,
                    "CreatedBy": f"arn:{self.partition}:iam::{self.current_account}:root",
                    "DefaultVersionNumber": template.default_version_number,
                    "LatestVersionNumber": version.number,
                    "LaunchTemplateId": template.id,
                    "LaunchTemplateName": template.name,
                    "Tags": template.tags,
                }
            }
        )

    LaunchTemplates.create_launch_template = create_launch_template


def _referenced_security_groups_stay() -> None:
    """Fix 22: a group that another group's ingress or egress rule refers to is not deleted."""
    from moto.ec2.exceptions import DependencyViolationError
    from moto.ec2.models.security_groups import SecurityGroupBackend

    original_delete = SecurityGroupBackend._delete_security_group

    def delete_unreferenced(self, vpc_id, group_id):
        for groups in self.groups.values():
            for group in groups.values():
                rules = [*group.ingress_rules, *group.egress_rules]
                if group.id != group_id and any(rule.source_group.get("GroupId") == group_id for rule in rules):
                    raise DependencyViolationError(f"resource {group_id} has a dependent object")
        return original_delete(self, vpc_id, group_id)

    SecurityGroupBackend._delete_security_group = delete_unreferenced


def _ecr_on_local_registry(registry: str, registry_dir: str | None) -> None:
    from base64 import b64encode
    from pathlib import Path

    from moto.core.responses import ActionResult
    from moto.ecr.exceptions import RepositoryNotEmptyException
    from moto.ecr.models import ECRBackend, Repository
    from moto.ecr.responses import ECRResponse

    from localaws import registry as local_registry

    original_init = Repository.__init__

    def init(self, *args, **kwargs):
        original_init(self, *args, **kwargs)
        self.uri = f"{registry}/{self.name}"

    Repository.__init__ = init

    def get_authorization_token(self):
        registry_ids = self._get_param("registryIds") or [self.current_account]
        expires = datetime.datetime.now(datetime.UTC) + datetime.timedelta(hours=12)
        token = b64encode(b"AWS:local-registry-token").decode()
        data = [{"authorizationToken": token, "expiresAt": expires, "proxyEndpoint": f"http://{registry}"}]
        return ActionResult({"authorizationData": data * len(registry_ids)})

    ECRResponse.get_authorization_token = get_authorization_token

    if not registry_dir:
        return
    original_delete = ECRBackend.delete_repository

    def delete_repository(self, repository_name, registry_id=None, force=False):
        # The images are in the registry, not in moto's model: they decide "not empty", and go with the repository.
        self._get_repository(repository_name, registry_id)  # RepositoryNotFoundException first, as ECR
        if not force and local_registry.has_tags(Path(registry_dir), repository_name):
            raise RepositoryNotEmptyException(repository_name, registry_id or self.account_id)
        deleted = original_delete(self, repository_name, registry_id, force)
        local_registry.delete_repository(Path(registry_dir), repository_name)
        return deleted

    ECRBackend.delete_repository = delete_repository


def main(argv: list[str] | None = None) -> None:
    argv = list(sys.argv[1:] if argv is None else argv)
    port = 5000
    for flag in ("-p", "--port"):
        if flag in argv:
            port = int(argv[argv.index(flag) + 1])
    os.environ.setdefault("MOTO_IAM_LOAD_MANAGED_POLICIES", "true")
    try:
        apply_fixes(port)
    except ValueError as exc:  # a bad LOCAL_AWS_LATENCY
        sys.exit(f"localaws.emulator: {exc}")
    from moto.server import main as moto_main

    moto_main(argv)


if __name__ == "__main__":
    main()
