#!/usr/bin/python

# Copyright: Contributors to the taskmanager.aws collection
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)

DOCUMENTATION = r"""
---
module: ecs_service_tasks_info
version_added: 1.0.0
short_description: The tasks of an Amazon ECS service, where they run, and whether the service is steady
description:
  - Describes one ECS service and its running tasks, each with its container instance, EC2 instance ID and
    Availability Zone, and the health of the service's load balancer targets on that instance.
  - Tells whether the service is steady, that is running equals desired, every running task sits on a
    known instance and runs the service's task definition (no deployment in progress), and every target
    group has as many healthy targets as the desired count.
  - M(community.aws.ecs_service_info) describes the service only; no module lists its tasks with their
    placement, which a failover test needs before and after it stops an instance.
  - Lists the service's recently stopped tasks with their stopped reason, and every target with its health
    reason, so that a wait that times out can say why the service is not steady.
  - Given the O(task_definition) a deployment registered, tells whether that deployment failed for good,
    that is ECS's deployment circuit breaker rolled the service back to an earlier task definition, or marked
    the deployment C(FAILED). A wait can stop at once instead of timing out. With rollback on, the service is
    soon steady again, on the old task definition, and a wait for steadiness alone would end green.
  - Never changes anything.
author:
  - taskmanager.aws contributors (!UNKNOWN)
options:
  cluster:
    description: Name or ARN of the cluster.
    required: true
    type: str
  service:
    description: Name or ARN of the service.
    required: true
    type: str
  task_definition:
    description:
      - The task definition (C(family:revision) or its ARN) the service was last deployed with.
      - When the service runs another one, or that deployment's rollout state is C(FAILED), RV(deployment_failed)
        is true, RV(steady) is false, and RV(reasons) says so with the service's newest deployment events.
      - Its stopped tasks come first in RV(stopped_tasks).
    type: str
notes:
  - Supports check mode.
extends_documentation_fragment:
  - amazon.aws.common.modules
  - amazon.aws.region.modules
  - amazon.aws.boto3
"""

EXAMPLES = r"""
- name: Look at the service before the failover test
  taskmanager.aws.ecs_service_tasks_info:
    cluster: taskmanager-ecs
    service: taskmanager-ecs-webapp
  register: before

- name: Wait for the deployment just made, and stop waiting when ECS rolls it back
  taskmanager.aws.ecs_service_tasks_info:
    cluster: taskmanager-ecs
    service: taskmanager-ecs-webapp
    task_definition: "taskmanager-ecs-webapp:{{ registered.taskdefinition.revision }}"
  register: service
  until: service.steady or service.deployment_failed
  failed_when: service is failed or service.deployment_failed
  retries: 120
  delay: 5

- name: Require two tasks in two AZs
  ansible.builtin.assert:
    that:
      - before.steady
      - before.tasks | map(attribute='availability_zone') | unique | length >= 2
"""

RETURN = r"""
service:
  description: The service's counts and load balancing, or an empty dict when it does not exist.
  returned: always
  type: dict
  sample:
    service_name: taskmanager-ecs-webapp
    status: ACTIVE
    desired_count: 2
    running_count: 2
    pending_count: 0
    target_group_arns: ["arn:aws:elasticloadbalancing:eu-north-1:123456789012:targetgroup/taskmanager-ecs-tg/0123"]
tasks:
  description: The running tasks of the service, sorted by Availability Zone then task ID.
  returned: always
  type: list
  elements: dict
  sample:
    - task_id: 8b9d1f0c2e
      task_arn: arn:aws:ecs:eu-north-1:123456789012:task/taskmanager-ecs/8b9d1f0c2e
      last_status: RUNNING
      container_instance_arn: arn:aws:ecs:eu-north-1:123456789012:container-instance/taskmanager-ecs/77aa
      instance_id: i-0123456789abcdef0
      availability_zone: eu-north-1a
      target_health: healthy
stopped_tasks:
  description:
    - The service's stopped tasks that ECS still lists (about an hour on AWS), at most 10, those of the service's
      current task definition first (the tasks of a deployment that does not finish), then newest first.
  returned: always
  type: list
  elements: dict
  sample:
    - task_id: 8b9d1f0c2e
      stopped_reason: "CannotPullContainerError: pull image manifest has been retried 5 time(s)"
      stop_code: TaskFailedToStart
      container_reasons: ["CannotPullContainerError: ..."]
targets:
  description: Every target of the service's target groups with its health and the reason of that health.
  returned: always
  type: list
  elements: dict
  sample:
    - target_group: taskmanager-ecs-tg/0123
      id: i-0123456789abcdef0
      port: 32768
      state: unhealthy
      reason: Target.FailedHealthChecks
      description: Health checks failed
healthy_targets:
  description: Healthy targets per target group of the service.
  returned: always
  type: dict
  sample: {"arn:aws:elasticloadbalancing:...:targetgroup/taskmanager-ecs-tg/0123": 2}
steady:
  description: Running equals desired, every task is placed, and every target group has desired-count healthy targets.
  returned: always
  type: bool
reasons:
  description: Why the service is not steady (empty when it is).
  returned: always
  type: list
  elements: str
deployment_failed:
  description:
    - The deployment of O(task_definition) failed for good, that is the service runs another task definition
      (the circuit breaker rolled it back, or someone deployed meanwhile), or the deployment is C(FAILED).
    - Always false without O(task_definition).
  returned: always
  type: bool
events:
  description: The service's newest events (at most 5), newest first.
  returned: always
  type: list
  elements: str
  sample: ["(service taskmanager-ecs-webapp) rolling back to deployment ecs-svc/1234567890123456789."]
"""

import re

from ansible_collections.amazon.aws.plugins.module_utils.modules import AnsibleAWSModule
from ansible_collections.amazon.aws.plugins.module_utils.retries import AWSRetry
from ansible_collections.taskmanager.aws.plugins.module_utils.ecs_api import (
    describe_container_instances,
    describe_service,
    describe_service_tasks,
    describe_target_health,
)
from ansible_collections.taskmanager.aws.plugins.module_utils.errors import AnsibleTaskmanagerAWSError

# ECS's service events about a deployment that failed or is rolled back (its circuit breaker).
DEPLOYMENT_EVENT = re.compile(r"deployment failed|rolling back|circuit breaker", re.IGNORECASE)


def revision(task_definition):
    """family:revision of a task definition ARN or name."""
    return (task_definition or "").rsplit("/", 1)[-1]


def describe(ecs, elbv2, cluster, service_name, deployed=""):
    service = describe_service(ecs, cluster, service_name)
    if service is None:
        return {}, [], {}, [], []
    tasks = describe_service_tasks(ecs, cluster, service["serviceName"])
    # A service's tasks are in the group service:<name> (the filter above is not applied by every
    # emulator, so it is checked here too).
    tasks = [t for t in tasks if t.get("group") == f"service:{service['serviceName']}"]
    instance_arns = sorted({t["containerInstanceArn"] for t in tasks if t.get("containerInstanceArn")})
    instances = {}
    for ci in describe_container_instances(ecs, cluster, instance_arns):
        zone = next(
            (a.get("value") for a in ci.get("attributes", []) if a.get("name") == "ecs.availability-zone"), None
        )
        instances[ci["containerInstanceArn"]] = (ci.get("ec2InstanceId"), zone)
    groups = [lb["targetGroupArn"] for lb in service.get("loadBalancers", []) if lb.get("targetGroupArn")]
    health = {arn: [] for arn in groups}
    targets = []
    for arn in groups:
        for target in describe_target_health(elbv2, arn):
            state = target["TargetHealth"]
            health[arn].append((target["Target"]["Id"], state["State"]))
            targets.append(
                {
                    "target_group": arn.rsplit(":", 1)[-1].removeprefix("targetgroup/"),
                    "id": target["Target"]["Id"],
                    "port": target["Target"].get("Port"),
                    "state": state["State"],
                    "reason": state.get("Reason", ""),
                    "description": state.get("Description", ""),
                }
            )
    return (
        service,
        [format_task(task, instances.get(task.get("containerInstanceArn"), (None, None)), health) for task in tasks],
        health,
        stopped_tasks(ecs, cluster, service["serviceName"], revision(deployed or service.get("taskDefinition"))),
        targets,
    )


def stopped_tasks(ecs, cluster, service_name, current=""):
    """The service's stopped tasks that ECS still lists, those of its task definition (family:revision)
    first, then newest first (at most 10)."""
    tasks = describe_service_tasks(ecs, cluster, service_name, desired_status="STOPPED")
    tasks = [t for t in tasks if t.get("group") == f"service:{service_name}"]
    # The deployment's own tasks first (they say why it does not finish), then the newest.
    tasks.sort(key=lambda t: str(t.get("stoppedAt") or t.get("createdAt") or ""), reverse=True)
    tasks.sort(key=lambda t: t.get("taskDefinitionArn", "").rsplit("/", 1)[-1] != current)
    return [
        {
            "task_id": t["taskArn"].rsplit("/", 1)[-1],
            "stopped_reason": t.get("stoppedReason", ""),
            "stop_code": t.get("stopCode", ""),
            "container_reasons": [c["reason"] for c in t.get("containers", []) if c.get("reason")],
        }
        for t in tasks[:10]
    ]


def format_task(task, placement, health):
    instance_id, zone = placement
    states = [state for targets in health.values() for target_id, state in targets if target_id == instance_id]
    if not states:
        target_health = "not registered"
    elif all(s == "healthy" for s in states):
        target_health = "healthy"
    else:
        target_health = ",".join(sorted(set(states)))
    return {
        "task_arn": task["taskArn"],
        "task_id": task["taskArn"].rsplit("/", 1)[-1],
        "last_status": task.get("lastStatus"),
        "desired_status": task.get("desiredStatus"),
        "task_definition_arn": task.get("taskDefinitionArn"),
        "container_instance_arn": task.get("containerInstanceArn"),
        "instance_id": instance_id,
        "availability_zone": zone or task.get("availabilityZone"),
        "target_health": target_health,
    }


def judge(service, tasks, health):
    """(steady, reasons): the service serves at its desired count."""
    if not service:
        return False, ["the service does not exist"]
    desired = service.get("desiredCount", 0)
    reasons = []
    running = [t for t in tasks if t["last_status"] == "RUNNING"]
    if service.get("runningCount", 0) != desired or len(running) != desired:
        reasons.append(f"{len(running)} task(s) running, {desired} desired")
    if any(t["instance_id"] is None for t in running):
        reasons.append("a task has no container instance")
    # family:revision of the service's task definition (an ARN on AWS; the emulator answers as given).
    current = revision(service.get("taskDefinition"))
    older = [t for t in running if current and revision(t.get("task_definition_arn") or current) != current]
    if older:
        reasons.append(
            f"{len(older)} running task(s) of an older task definition than {current} (deployment in progress)"
        )
    for arn, targets in sorted(health.items()):
        healthy = sum(1 for _target, state in targets if state == "healthy")
        if healthy < desired:
            states = ", ".join(f"{target} {state}" for target, state in targets) or "no targets"
            reasons.append(f"{healthy} healthy target(s) of {desired} in {arn.rsplit(':', 1)[-1]} ({states})")
    return not reasons, reasons


def judge_deployment(service, deployed):
    """(failed, reasons): the deployment of the task definition `deployed` failed for good."""
    if not deployed or not service:
        return False, []
    wanted, current = revision(deployed), revision(service.get("taskDefinition"))
    ours = [d for d in service.get("deployments", []) if revision(d.get("taskDefinition")) == wanted]
    events = [e["message"] for e in service.get("events", [])[:20] if DEPLOYMENT_EVENT.search(e.get("message", ""))]
    said = f" (ECS: {'; '.join(reversed(events[:2]))})" if events else ""
    if current != wanted:
        return True, [f"the service runs {current}, not {wanted}: its deployment was rolled back or replaced{said}"]
    failed = [d for d in ours if d.get("rolloutState") == "FAILED"]
    if failed:
        return True, [f"the deployment of {wanted} failed: {failed[0].get('rolloutStateReason', '')}{said}"]
    return False, []


def main():
    argument_spec = {
        "cluster": {"type": "str", "required": True},
        "service": {"type": "str", "required": True},
        "task_definition": {"type": "str"},
    }
    module = AnsibleAWSModule(argument_spec=argument_spec, supports_check_mode=True)
    ecs = module.client("ecs", retry_decorator=AWSRetry.jittered_backoff())
    elbv2 = module.client("elbv2", retry_decorator=AWSRetry.jittered_backoff())
    deployed = module.params["task_definition"]
    try:
        service, tasks, health, stopped, targets = describe(
            ecs, elbv2, module.params["cluster"], module.params["service"], deployed
        )
    except AnsibleTaskmanagerAWSError as e:
        module.fail_json_aws_error(e)
    steady, reasons = judge(service, tasks, health)
    deployment_failed, failures = judge_deployment(service, deployed)
    steady, reasons = steady and not deployment_failed, failures + reasons
    module.exit_json(
        changed=False,
        service={
            "service_name": service.get("serviceName"),
            "status": service.get("status"),
            "desired_count": service.get("desiredCount", 0),
            "running_count": service.get("runningCount", 0),
            "pending_count": service.get("pendingCount", 0),
            "target_group_arns": sorted(health),
        }
        if service
        else {},
        tasks=sorted(tasks, key=lambda t: (t["availability_zone"] or "", t["task_id"])),
        stopped_tasks=stopped,
        targets=targets,
        healthy_targets={arn: sum(1 for _t, s in targets if s == "healthy") for arn, targets in health.items()},
        steady=steady,
        reasons=reasons,
        deployment_failed=deployment_failed,
        events=[e.get("message", "") for e in (service or {}).get("events", [])[:5]],
    )


if __name__ == "__main__":
    main()
