"""ECS on the local data plane: the agent on each container instance and the service scheduler.

- **Agent.** An instance whose user data joins a cluster (``ECS_CLUSTER=`` in /etc/ecs/ecs.config)
  registers as a container instance (RegisterContainerInstance with its identity document, so the
  emulator knows its AZ, and its instance type's CPU and memory). When the instance stops or is
  gone it is deregistered; an instance in a lost AZ is disconnected: nothing is placed on it.
- **Scheduler.** Each REPLICA service gets its desired count of tasks, placed by its placement
  strategy (``spread`` over ``attribute:ecs.availability-zone`` then ``instanceId``, ``binpack``
  and ``random`` are understood) on connected instances with room for the task's CPU and memory,
  and recorded in the emulator with StartTask / StopTask (``startedBy`` the service, group
  ``service:<name>``), so the ECS API shows what runs where. Tasks whose instance stopped, whose
  essential container exited, or whose target the load balancer finds unhealthy after the
  service's grace period are stopped and replaced, as the service scheduler does.
- **Images.** A task's image is pulled from its registry (the data plane's local registry stands
  for ECR): its manifest must resolve, by digest when the task definition names one. An image
  that cannot be pulled stops the task with ``CannotPullContainerError``, as on ECS.
- **Tasks.** Each task is a real web app process on its container instance: the image's
  environment (``ENV`` of the wheel's deploy/Dockerfile), the task definition's environment and
  secrets (from Parameter Store), a dynamic host port (bridge mode) on the instance's address,
  the ECS task metadata v4 endpoint, registered in the service's target group as
  instance:host-port.
- **Deployment circuit breaker.** With the service's ``deploymentCircuitBreaker`` on, the tasks of
  a deployment in progress that fail to start (an image that cannot be pulled, secrets that
  cannot be read, a container that cannot start: the breaker's first stage) are counted; a task
  of it that becomes healthy resets the count (``resetOnHealthyTask``, on by default). At ECS's
  threshold (half the desired count, at least 3, at most 200) the deployment has failed: with
  ``rollback`` the service goes back to the task definition of its last completed deployment
  (UpdateService); without, no new task of it is launched. Both are service events, as on ECS
  (``ecs-events.json``, which the emulator answers in DescribeServices). Running tasks that fail
  their health checks (the second stage) are replaced, not counted.
- **AZ rebalancing.** Once a lost AZ is back, tasks move one at a time from the fullest AZ to the
  emptiest until they differ by at most one (ECS's ``availabilityZoneRebalancing``, the default
  for new services).
"""

from __future__ import annotations

import contextlib
import datetime
import json
import logging
import math
import os
import re
import signal
import sys
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path

from .registry import PullError, resolve
from .statefiles import write_json

log = logging.getLogger("localaws.ecs")

EVENTS_FILE = "ecs-events.json"  # the services' events, which the emulator answers in DescribeServices
FIRST_HOST_PORT = 32768  # the start of Linux's ephemeral range, as Docker's dynamic ports
MEMORY_RESERVED_MIB = 256  # ECS_RESERVED_MEMORY a container instance keeps for itself (the role's default)
DOCKERFILE_ENV = re.compile(r"^ENV\s+(.*?)(?<!\\)$", re.MULTILINE | re.DOTALL)


def dockerfile_env(text: str) -> dict[str, str]:
    """The ENV instructions of a Dockerfile (``ENV A=1 \\ B=2`` and ``ENV A 1`` forms)."""
    env: dict[str, str] = {}
    joined = re.sub(r"\\\n", " ", text)
    for line in joined.splitlines():
        line = line.strip()
        if not line.upper().startswith("ENV "):
            continue
        body = line[4:].strip()
        if "=" not in body.split()[0]:
            name, _sep, value = body.partition(" ")
            env[name] = value.strip()
            continue
        for word in re.findall(r'(\S+?=(?:"[^"]*"|\'[^\']*\'|\S*))', body):
            name, value = word.split("=", 1)
            env[name] = value.strip("\"'")
    return env


def spread_choice(candidates: list[dict], strategy: list[dict], placed: dict[str, int], per_az: dict[str, int]):
    """The container instance the strategy picks among candidates (each with id, az, free_cpu)."""
    ordered = sorted(candidates, key=lambda c: c["id"])
    for step in reversed(strategy or [{"type": "spread", "field": "attribute:ecs.availability-zone"}]):
        kind, name = step.get("type"), step.get("field", "")
        if kind == "spread" and name.endswith("availability-zone"):
            ordered.sort(key=lambda c: per_az.get(c["az"], 0))
        elif kind == "spread":
            ordered.sort(key=lambda c: placed.get(c["id"], 0))
        elif kind == "binpack":
            ordered.sort(key=lambda c: c["free_memory" if name.lower() == "memory" else "free_cpu"])
    return ordered[0] if ordered else None


@dataclass
class LocalTask:
    arn: str
    service: str
    cluster: str
    instance_id: str
    host_port: int
    target_group_arns: list[str]
    cpu: int
    memory: int
    started: float
    definition: str = ""  # the task definition ARN it runs
    process: object = None
    directory: Path | None = None
    failed: str = ""

    @property
    def id(self) -> str:
        return self.arn.rsplit("/", 1)[-1]


@dataclass
class ContainerInstance:
    arn: str
    cluster: str
    instance_id: str
    az: str
    cpu: int
    memory: int
    tasks: set[str] = field(default_factory=set)


class EcsAgent:
    def __init__(self, plane):
        self.plane = plane
        self.ecs = plane.session.client("ecs", config=plane.boto_config)
        self.container_instances: dict[str, ContainerInstance] = {}  # by EC2 instance ID
        self.tasks: dict[str, LocalTask] = {}
        self.next_port: dict[str, int] = {}
        self.ending: list[tuple[float, LocalTask]] = []  # (when, task): stopped tasks whose targets drain
        self.rebalanced: dict[str, float] = {}
        self._sizes: dict[str, tuple[int, int]] = {}
        self._image_cache: tuple[float, Path | None] = (0.0, None)
        self._known_clusters: set[str] = set()
        self._definitions: dict[str, dict] = {}  # task definition ARN -> its description
        self._pulled: set[str] = set()  # images whose manifest resolved (a digest never changes)
        # The deployment circuit breaker, per (cluster, service): the task definition of the last
        # completed deployment, the failed tasks of the current one, the deployments that failed.
        self._completed: dict[tuple[str, str], str] = {}
        self._failures: dict[tuple[str, str, str], int] = {}
        self._failed_deployments: set[tuple[str, str, str]] = set()
        self.events: list[dict] = []

    # ------------------------------------------------------------------ entry point
    def reconcile(self, described: dict, frozen: set[str], target_states: dict[tuple[str, str], str]) -> list[dict]:
        now = time.monotonic()
        for entry in [e for e in self.ending if e[0] <= now]:
            self.ending.remove(entry)
            self._end_process(entry[1])
        self._agents(described)
        services_out = []
        for cluster in sorted({ci.cluster for ci in self.container_instances.values()}):
            for service in self._services(cluster):
                try:
                    services_out.append(self._schedule(cluster, service, frozen, target_states))
                except Exception:  # noqa: BLE001 - one service's trouble must not stop the others
                    log.exception("scheduling %s/%s failed; retried on the next pass", cluster, service["serviceName"])
        return services_out

    def shutdown(self) -> None:
        for task in list(self.tasks.values()) + [task for _when, task in self.ending]:
            self._end_process(task)

    # ------------------------------------------------------------------ agent
    def _clusters(self) -> list[str]:
        arns = self.ecs.list_clusters().get("clusterArns", [])
        return [a.rsplit("/", 1)[-1] for a in arns]

    def _size(self, instance_type: str) -> tuple[int, int]:
        if instance_type not in self._sizes:
            try:
                info = self.plane.ec2.describe_instance_types(InstanceTypes=[instance_type])["InstanceTypes"][0]
                self._sizes[instance_type] = (
                    info["VCpuInfo"]["DefaultVCpus"] * 1024,
                    info["MemoryInfo"]["SizeInMiB"] - MEMORY_RESERVED_MIB,
                )
            except Exception:  # noqa: BLE001 - an unknown type gets a t3.small's size
                self._sizes[instance_type] = (2048, 2048 - MEMORY_RESERVED_MIB)
        return self._sizes[instance_type]

    def _forget_earlier_run(self, cluster: str) -> None:
        """A data plane that (re)starts finds the cluster as an earlier run left it: its instances
        rebooted and their tasks are gone. Deregister those container instances and stop the
        tasks the emulator still lists, as agents coming back from a reboot would have them."""
        self._known_clusters.add(cluster)
        # Tasks first: the emulator cannot stop a task whose container instance is gone.
        arns = self.ecs.list_tasks(cluster=cluster, desiredStatus="RUNNING").get("taskArns", [])
        for task in self.ecs.describe_tasks(cluster=cluster, tasks=arns).get("tasks", []) if arns else []:
            if (task.get("group") or "").startswith("service:"):
                self.ecs.stop_task(cluster=cluster, task=task["taskArn"], reason="Host EC2 instance rebooted")
        for arn in self.ecs.list_container_instances(cluster=cluster).get("containerInstanceArns", []):
            self.ecs.deregister_container_instance(cluster=cluster, containerInstance=arn, force=True)
        if arns:
            log.info("cluster %s: stopped %d task(s) left by an earlier run", cluster, len(arns))

    def _agents(self, described: dict) -> None:
        clusters = set(self._clusters())
        for cluster in clusters - self._known_clusters:
            self._forget_earlier_run(cluster)
        for instance_id, local in list(self.plane.instances.items()):
            if local.ecs_cluster and instance_id not in self.container_instances:
                cpu, memory = self._size(local.instance_type)
                document = {
                    "instanceId": instance_id,
                    "availabilityZone": local.az,
                    "region": self.plane.region,
                    "instanceType": local.instance_type,
                    "privateIp": local.private_ip,
                    "accountId": self.plane.account_id,
                }
                if local.ecs_cluster not in clusters:
                    continue  # the agent retries until its cluster exists
                answer = self.ecs.register_container_instance(
                    cluster=local.ecs_cluster,
                    instanceIdentityDocument=json.dumps(document),
                    instanceIdentityDocumentSignature="",
                    totalResources=[
                        {"name": "CPU", "type": "INTEGER", "integerValue": cpu},
                        {"name": "MEMORY", "type": "INTEGER", "integerValue": memory},
                    ],
                )
                arn = answer["containerInstance"]["containerInstanceArn"]
                self.container_instances[instance_id] = ContainerInstance(
                    arn, local.ecs_cluster, instance_id, local.az, cpu, memory
                )
                log.info("%s registered in cluster %s as %s", instance_id, local.ecs_cluster, arn.rsplit("/", 1)[-1])
        for instance_id, ci in list(self.container_instances.items()):
            state = described.get(instance_id, {}).get("State", {}).get("Name", "terminated")
            if instance_id in self.plane.instances and state in ("pending", "running"):
                continue
            for task_arn in list(ci.tasks):
                task = self.tasks.get(task_arn)
                if task is not None:
                    self._stop(task, f"Host EC2 (instance {instance_id}) {state}.")
            try:
                self.ecs.deregister_container_instance(cluster=ci.cluster, containerInstance=ci.arn, force=True)
            except self.ecs.exceptions.ClientError as exc:
                log.warning("deregistering %s: %s", ci.arn, exc)
            del self.container_instances[instance_id]
            log.info("%s (%s) left cluster %s", instance_id, state, ci.cluster)

    # ------------------------------------------------------------------ scheduler
    def _services(self, cluster: str) -> list[dict]:
        try:
            arns = self.ecs.list_services(cluster=cluster).get("serviceArns", [])
        except self.ecs.exceptions.ClientError:
            return []
        services = []
        for start in range(0, len(arns), 10):
            services += self.ecs.describe_services(cluster=cluster, services=arns[start : start + 10])["services"]
        return [
            s for s in services if s.get("status") == "ACTIVE" and s.get("schedulingStrategy", "REPLICA") == "REPLICA"
        ]

    def _schedule(self, cluster: str, service: dict, frozen: set[str], target_states: dict) -> dict:
        name = service["serviceName"]
        now = time.monotonic()
        grace = self.plane.scaled(service.get("healthCheckGracePeriodSeconds") or 0)
        groups = [lb["targetGroupArn"] for lb in service.get("loadBalancers", []) if lb.get("targetGroupArn")]
        ours = [t for t in self.tasks.values() if t.cluster == cluster and t.service == name]
        # Tasks that must go: their instance is gone, their container exited, or the load balancer
        # found them unhealthy after the grace period.
        for task in ours:
            ci = self.container_instances.get(task.instance_id)
            states = [
                target_states.get((arn, f"{task.instance_id}_{task.host_port}")) for arn in task.target_group_arns
            ]
            if ci is None:
                self._stop(task, f"Host EC2 (instance {task.instance_id}) is gone.")
            elif task.failed:
                self._stop(task, task.failed, failed=True)
            elif task.process is not None and task.process.poll() is not None and ci.az not in frozen:
                self._stop(task, f"Essential container in task exited (status {task.process.returncode})")
            elif "unhealthy" in states and now - task.started > grace:
                self._stop(task, f"Task failed ELB health checks in (target-group {task.target_group_arns[0]})")
        ours = [t for t in self.tasks.values() if t.cluster == cluster and t.service == name]
        desired = service.get("desiredCount", 0)
        definition = self._definition(self._circuit_breaker(cluster, service, ours, target_states))
        cpu, memory = self._requirements(definition)
        old = [t for t in ours if t.definition != definition["taskDefinitionArn"]]
        if old:
            # A deployment (rolling update): new tasks up to maximumPercent of desired; an old task
            # stops for each new task that is healthy in its target groups.
            healthy_new = [t for t in ours if t not in old and self._healthy(t, target_states)]
            for victim in sorted(old, key=lambda t: t.started)[: max(0, len(old) - (desired - len(healthy_new)))]:
                self._stop(victim, "Scaling activity initiated by (deployment)")
                ours.remove(victim)
            maximum = (service.get("deploymentConfiguration") or {}).get("maximumPercent", 200)
            room = max(0, desired * maximum // 100 - len(ours))
            missing = min(room, desired - (len(ours) - len([t for t in ours if t in old])))
        else:
            # Too many (desired lowered): stop from the fullest AZ first.
            while len(ours) > desired:
                per_az = self._per_az(ours)
                victim = max(ours, key=lambda t: (per_az[self._az(t)], t.started))
                self._stop(victim, "Scaling activity initiated by (deployment)")
                ours.remove(victim)
            missing = desired - len(ours)
        # Too few: place new tasks on connected instances with room for them.
        blocked = ""
        if (cluster, name, definition["taskDefinitionArn"]) in self._failed_deployments:
            missing = 0  # a failed deployment without rollback launches no new task
        for _attempt in range(missing):
            chosen, blocked = self._place(cluster, service, frozen, ours, cpu, memory)
            if chosen is None:
                break
            task = self._start(cluster, service, definition, chosen, groups, cpu, memory)
            if task is not None:
                ours.append(task)
        if not old:
            self._rebalance(cluster, service, frozen, ours, cpu, memory, definition, groups)
        running = [t for t in self.tasks.values() if t.cluster == cluster and t.service == name]
        healthy = [t for t in running if self._healthy(t, target_states)]
        current = definition["taskDefinitionArn"]
        if not old and len(running) == desired and len(healthy) == desired:
            self._completed[(cluster, name)] = current  # the deployment completed
        return {
            "cluster": cluster,
            "service": name,
            "desired": desired,
            "running": len(running),
            "healthy": len(healthy),
            "blocked": blocked,
            "tasks": [
                {"task": t.id, "instance_id": t.instance_id, "az": self._az(t), "host_port": t.host_port}
                for t in sorted(running, key=self._az)
            ],
        }

    def _circuit_breaker(self, cluster: str, service: dict, ours: list[LocalTask], target_states: dict) -> str:
        """ECS's deployment circuit breaker: the task definition ARN the service runs from now on.

        It watches a deployment until it completes (the circuit breaker's MONITORING_COMPLETE): a
        task that fails later, as in a lost AZ, is replaced and counts for nothing.
        """
        name, current = service["serviceName"], self._definition(service["taskDefinition"])["taskDefinitionArn"]
        breaker = (service.get("deploymentConfiguration") or {}).get("deploymentCircuitBreaker") or {}
        key, completed = (cluster, name, current), self._completed.get((cluster, name))
        if not breaker.get("enable") or current == completed or key in self._failed_deployments:
            return current
        if any(t.definition == current and self._healthy(t, target_states) for t in ours):
            self._failures.pop(key, None)  # resetOnHealthyTask
        threshold = min(200, max(3, math.ceil(service.get("desiredCount", 0) * 0.5)))
        if self._failures.get(key, 0) < threshold:
            return current
        failures = self._failures.pop(key)
        deployment = next((d["id"] for d in service.get("deployments", []) if d.get("status") == "PRIMARY"), "")
        failed = f"(service {name}) (deployment {deployment}) deployment failed: tasks failed to start."
        self._event(cluster, name, failed)
        log.warning("%s: deployment of %s failed: %s tasks failed (threshold %s)", name, current, failures, threshold)
        if not breaker.get("rollback") or not completed:
            self._failed_deployments.add(key)
            return current
        self.ecs.update_service(cluster=cluster, service=name, taskDefinition=completed)
        revision = completed.rsplit("/", 1)[-1]
        self._event(cluster, name, f"(service {name}) rolling back to deployment of task definition {revision}.")
        log.warning("%s: rolled back to %s (deployment circuit breaker)", name, revision)
        return completed

    def _event(self, cluster: str, service: str, message: str) -> None:
        """A service event, newest first, as DescribeServices lists them (the emulator reads the file)."""
        self.events.insert(
            0,
            {
                "id": str(uuid.uuid4()),
                "cluster": cluster,
                "service": service,
                "createdAt": datetime.datetime.now(datetime.timezone.utc).isoformat(),  # noqa: UP017
                "message": message,
            },
        )
        del self.events[100:]
        write_json(Path(self.plane.state_dir) / EVENTS_FILE, self.events)

    @staticmethod
    def _healthy(task: LocalTask, target_states: dict) -> bool:
        return all(
            target_states.get((arn, f"{task.instance_id}_{task.host_port}")) == "healthy"
            for arn in task.target_group_arns
        )

    def _definition(self, arn: str) -> dict:
        """A task definition revision never changes: described once, not on every pass."""
        if arn not in self._definitions:
            self._definitions[arn] = self.ecs.describe_task_definition(taskDefinition=arn)["taskDefinition"]
        return self._definitions[arn]

    def _az(self, task: LocalTask) -> str:
        ci = self.container_instances.get(task.instance_id)
        return ci.az if ci else "?"

    def _per_az(self, tasks: list[LocalTask]) -> dict[str, int]:
        per_az = {ci.az: 0 for ci in self.container_instances.values()}
        for task in tasks:
            per_az[self._az(task)] = per_az.get(self._az(task), 0) + 1
        return per_az

    @staticmethod
    def _requirements(definition: dict) -> tuple[int, int]:
        containers = definition.get("containerDefinitions", [])
        cpu = int(definition.get("cpu") or sum(c.get("cpu", 0) for c in containers) or 0)
        memory = int(
            definition.get("memory") or sum(c.get("memory") or c.get("memoryReservation") or 0 for c in containers)
        )
        return cpu, memory

    def _candidates(self, cluster: str, frozen: set[str], cpu: int, memory: int) -> list[dict]:
        candidates = []
        for ci in self.container_instances.values():
            if ci.cluster != cluster or ci.az in frozen:
                continue  # a lost AZ's agents are disconnected
            used = [self.tasks[a] for a in ci.tasks if a in self.tasks]
            free_cpu = ci.cpu - sum(t.cpu for t in used)
            free_memory = ci.memory - sum(t.memory for t in used)
            if free_cpu >= cpu and free_memory >= memory:
                candidates.append({"id": ci.instance_id, "az": ci.az, "free_cpu": free_cpu, "free_memory": free_memory})
        return candidates

    def _place(self, cluster, service, frozen, ours, cpu, memory):
        candidates = self._candidates(cluster, frozen, cpu, memory)
        if not candidates:
            return None, f"no container instance has {cpu} CPU units and {memory} MiB free in a connected AZ"
        placed: dict[str, int] = {}
        for task in ours:
            placed[task.instance_id] = placed.get(task.instance_id, 0) + 1
        per_az = {c["az"]: 0 for c in candidates}
        for task in ours:
            if self._az(task) in per_az:
                per_az[self._az(task)] += 1
        return spread_choice(candidates, service.get("placementStrategy", []), placed, per_az), ""

    def _rebalance(self, cluster, service, frozen, ours, cpu, memory, definition, groups) -> None:
        """AZ rebalancing: while the connected AZs differ by more than one task, start a task in the
        emptiest AZ and, once it is placed, stop one in the fullest. ECS enables it by default on
        services created without ``availabilityZoneRebalancing``; the emulator does not store the
        field, so only an explicit DISABLED turns it off."""
        if service.get("availabilityZoneRebalancing", "ENABLED") != "ENABLED" or len(ours) < 2:
            return
        name = service["serviceName"]
        if time.monotonic() - self.rebalanced.get(name, 0) < self.plane.scaled(60):
            return  # one move at a time
        per_az = {ci.az: 0 for ci in self.container_instances.values() if ci.cluster == cluster and ci.az not in frozen}
        for task in ours:
            if self._az(task) in per_az:
                per_az[self._az(task)] += 1
        if len(per_az) < 2 or max(per_az.values()) - min(per_az.values()) <= 1:
            return
        empty_az, full_az = min(per_az, key=per_az.get), max(per_az, key=per_az.get)
        candidates = [c for c in self._candidates(cluster, frozen, cpu, memory) if c["az"] == empty_az]
        if not candidates:
            return
        task = self._start(cluster, service, definition, candidates[0], groups, cpu, memory)
        if task is None:
            return
        victim = max((t for t in ours if self._az(t) == full_az), key=lambda t: t.started)
        self._stop(victim, f"AZ rebalancing: a task moved from {full_az} to {empty_az}")
        self.rebalanced[name] = time.monotonic()

    # ------------------------------------------------------------------ tasks
    def _image_site(self) -> Path | None:
        """The image = the web app wheel from the artifacts bucket (what deploy/Dockerfile installs)."""
        checked, site = self._image_cache
        if site is not None and time.monotonic() - checked < 30:
            return site
        newest = None
        for bucket in self.plane.s3.list_buckets().get("Buckets", []):
            listing = self.plane.s3.list_objects_v2(Bucket=bucket["Name"])
            for item in listing.get("Contents", []):
                if re.search(r"taskmanager_webapp-[^/]*\.whl$", item["Key"]) and (
                    newest is None or item["LastModified"] > newest[2]
                ):
                    newest = (bucket["Name"], item["Key"], item["LastModified"])
        site = self.plane.install_wheel(newest[0], newest[1]) if newest else None
        self._image_cache = (time.monotonic(), site)
        return site

    def _pull(self, image: str) -> None:
        if image not in self._pulled:
            resolve(image)
            if "@sha256:" in image:
                self._pulled.add(image)

    def _secret(self, value_from: str) -> str:
        name = value_from.split(":parameter", 1)[1] if ":parameter" in value_from else value_from
        return self.plane.ssm.get_parameter(Name=name, WithDecryption=True)["Parameter"]["Value"]

    def _start(self, cluster, service, definition, chosen, groups, cpu, memory) -> LocalTask | None:
        ci = self.container_instances[chosen["id"]]
        instance = self.plane.instances.get(ci.instance_id)
        site = self._image_site()
        if instance is None or site is None:
            return None
        container = definition["containerDefinitions"][0]
        port = self.next_port.get(ci.instance_id, FIRST_HOST_PORT)
        self.next_port[ci.instance_id] = port + 1
        started = self.ecs.start_task(
            cluster=cluster,
            taskDefinition=definition["taskDefinitionArn"],
            containerInstances=[ci.arn],
            startedBy=service["serviceName"],
            group=f"service:{service['serviceName']}",
        )["tasks"][0]
        task = LocalTask(
            started["taskArn"],
            service["serviceName"],
            cluster,
            ci.instance_id,
            port,
            groups,
            cpu,
            memory,
            time.monotonic(),
            definition["taskDefinitionArn"],
        )
        self.tasks[task.arn] = task
        ci.tasks.add(task.arn)
        task.directory = instance.root / "ecs" / task.id
        task.directory.mkdir(parents=True, exist_ok=True)
        try:
            self._pull(container.get("image", ""))
        except PullError as exc:
            # As on ECS: the task never runs; it stops at once with the reason.
            log.error("%s: CannotPullContainerError: %s", task.id, exc)
            self._stop(task, f"CannotPullContainerError: {exc}", failed=True)
            return None
        env = {k: v for k, v in os.environ.items() if k in ("PATH", "LANG", "LC_ALL", "TZ")}
        env.update(dockerfile_env((site / "taskmanager_webapp" / "deploy" / "Dockerfile").read_text()))
        env.update({e["name"]: e["value"] for e in container.get("environment", [])})
        try:
            for secret in container.get("secrets", []):
                env[secret["name"]] = self._secret(secret["valueFrom"])
        except Exception as exc:  # noqa: BLE001 - any failure to pull a secret stops the task, as on ECS
            task.failed = f"ResourceInitializationError: unable to pull secrets: {exc}"
            log.error("%s: %s", task.id, task.failed)
            return task
        for name, value in list(env.items()):
            if name != "PATH" and value.startswith("/"):
                env[name] = str(task.directory / value.lstrip("/"))  # the container's file system
        Path(env.get("TASKMANAGER_DATA_DIR", task.directory)).mkdir(parents=True, exist_ok=True)
        env.setdefault("TASKMANAGER_DATA_DIR", str(task.directory))
        env.update(self.plane.app_aws_environment())
        env.update(
            {
                "PYTHONPATH": str(site),
                "TASKMANAGER_BIND": f"{instance.address}:{port}",  # bridge mode: host port -> container port
                "ECS_CONTAINER_METADATA_URI_V4": f"http://{instance.address}:1338/v4/{task.id}",
                "WEB_CONCURRENCY": str(self.plane.web_concurrency),
            }
        )
        if instance.metadata is not None:
            instance.metadata.tasks[task.id] = {
                "Cluster": cluster,
                "TaskARN": task.arn,
                "Family": definition["family"],
                "Revision": str(definition["revision"]),
                "AvailabilityZone": ci.az,
                "LaunchType": "EC2",
            }
        deploy = site / "taskmanager_webapp" / "deploy"
        argv = [sys.executable, "-m", "gunicorn", "-c", str(deploy / "gunicorn.conf.py"), "taskmanager_webapp.wsgi:app"]
        with open(task.directory / "container.log", "ab") as out:
            try:
                task.process = instance.spawn(argv, env, out)
            except Exception as exc:  # noqa: BLE001 - the instance stopped meanwhile
                task.failed = f"CannotStartContainerError: {exc}"
                return task
        for arn in groups:
            self.plane.elbv2.register_targets(TargetGroupArn=arn, Targets=[{"Id": ci.instance_id, "Port": port}])
        log.info(
            "%s: task %s on %s (%s) at %s:%s",
            service["serviceName"],
            task.id,
            ci.instance_id,
            ci.az,
            instance.address,
            port,
        )
        return task

    def _end_process(self, task: LocalTask) -> None:
        process = task.process
        if process is None or process.poll() is not None:
            return
        instance = self.plane.instances.get(task.instance_id)
        if instance is not None and instance.frozen:
            return  # a disconnected agent: it ends the task when its AZ comes back (see _stop)
        try:
            os.killpg(process.pid, signal.SIGTERM)
            process.wait(timeout=math.ceil(self.plane.scaled(2)) or 1)  # ECS_CONTAINER_STOP_TIMEOUT
        except Exception:  # noqa: BLE001
            with contextlib.suppress(OSError):
                os.killpg(process.pid, signal.SIGKILL)

    def _stop(self, task: LocalTask, reason: str, failed: bool = False) -> None:
        if failed:  # counted by the deployment circuit breaker
            key = (task.cluster, task.service, task.definition)
            self._failures[key] = self._failures.get(key, 0) + 1
        for arn in task.target_group_arns:
            try:
                self.plane.elbv2.deregister_targets(
                    TargetGroupArn=arn, Targets=[{"Id": task.instance_id, "Port": task.host_port}]
                )
            except Exception as exc:  # noqa: BLE001 - the target may be gone with its group
                log.debug("deregistering %s: %s", task.id, exc)
        try:
            self.ecs.stop_task(cluster=task.cluster, task=task.arn, reason=reason)
        except Exception as exc:  # noqa: BLE001
            log.debug("stopping %s: %s", task.id, exc)
        # As the service scheduler does: deregister, let the target drain for the deregistration
        # delay, then stop the container (its instance stopping ends it sooner).
        delay = max([self.plane._delays.get(arn, 0.0) for arn in task.target_group_arns] or [0.0])
        self.ending.append((time.monotonic() + delay, task))
        ci = self.container_instances.get(task.instance_id)
        if ci is not None:
            ci.tasks.discard(task.arn)
        instance = self.plane.instances.get(task.instance_id)
        if instance is not None and instance.frozen and task.process is not None:
            instance.orphans.append(task.process)  # ended by the agent once the AZ is back
        if instance is not None and instance.metadata is not None:
            instance.metadata.tasks.pop(task.id, None)
        self.tasks.pop(task.arn, None)
        log.info("%s: task %s stopped: %s", task.service, task.id, reason)
