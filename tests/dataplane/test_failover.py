# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The ECS failover test (playbooks/failover_test.yml) on the local data plane: site.yml builds
the ECS stack, real task processes serve it, and the playbook stops an instance (or an AZ)
while a probe counts the failed requests. Time compressed 5x."""

from __future__ import annotations

import json
import re
import time
import urllib.request


def report_of(run) -> str:
    found = re.search(r"Failover test of .*?Verdict: (PASS|FAIL)", run.output, re.DOTALL)
    return found.group(0) if found else run.output[-3000:]


def service_tasks(local) -> list[dict]:
    ecs = local.client("ecs")
    arns = ecs.list_tasks(cluster="taskmanager-ecs", desiredStatus="RUNNING")["taskArns"]
    tasks = ecs.describe_tasks(cluster="taskmanager-ecs", tasks=arns)["tasks"] if arns else []
    return [t for t in tasks if t["group"] == "service:taskmanager-ecs-webapp"]


def test_site_yml_serves_two_tasks_in_two_azs_through_the_ecs_api(ecs_stack):
    tasks = service_tasks(ecs_stack)
    assert len(tasks) == 2
    ecs = ecs_stack.client("ecs")
    instances = ecs.describe_container_instances(
        cluster="taskmanager-ecs", containerInstances=[t["containerInstanceArn"] for t in tasks]
    )["containerInstances"]
    zones = {a["value"] for ci in instances for a in ci["attributes"] if a["name"] == "ecs.availability-zone"}
    assert zones == {"eu-north-1a", "eu-north-1b"}
    service = ecs.describe_services(cluster="taskmanager-ecs", services=["taskmanager-ecs-webapp"])["services"][0]
    assert service["runningCount"] == 2


def test_two_tasks_share_one_task_list_and_the_task_role_writes_only_attachments(ecs_stack):
    """The tasks take DATABASE_URL and the password (secrets) from the task definition: a task
    created through one task is read through the other, on another instance in another AZ."""
    status = ecs_stack.status()
    address = {i["instance_id"]: i["address"] for i in status["instances"]}
    service = next(s for s in status["services"] if s["service"] == "taskmanager-ecs-webapp")
    first, second = (f"http://{address[t['instance_id']]}:{t['host_port']}" for t in service["tasks"][:2])
    title = f"through ECS {time.monotonic_ns()}"
    request = urllib.request.Request(  # noqa: S310 - loopback URL
        f"{first}/api/tasks",
        data=json.dumps({"title": title}).encode(),
        method="POST",
        headers={"Content-Type": "application/json"},
    )
    with urllib.request.urlopen(request, timeout=10) as answer:  # noqa: S310
        assert answer.status == 201
    with urllib.request.urlopen(f"{second}/api/tasks?per_page=100", timeout=10) as answer:  # noqa: S310
        assert title in {item["title"] for item in json.loads(answer.read())["items"]}
    ecs = ecs_stack.client("ecs")
    definition = ecs.describe_task_definition(taskDefinition="taskmanager-ecs-webapp")["taskDefinition"]
    container = definition["containerDefinitions"][0]
    assert {s["name"] for s in container["secrets"]} == {"DATABASE_PASSWORD", "SECRET_KEY"}
    assert any(e["name"] == "DATABASE_URL" and "@" in e["value"] for e in container["environment"])
    iam = ecs_stack.client("iam")
    role = definition["taskRoleArn"].rsplit("/", 1)[-1]
    policy = iam.get_role_policy(RoleName=role, PolicyName="write-attachments")["PolicyDocument"]
    bucket = next(e["value"] for e in container["environment"] if e["name"] == "TASKMANAGER_S3_BUCKET")
    assert policy["Statement"] == [
        {
            "Sid": "WriteAppAttachments",
            "Effect": "Allow",
            "Action": ["s3:PutObject", "s3:GetObject", "s3:DeleteObject"],
            "Resource": [f"arn:aws:s3:::{bucket}/attachments/*"],
        }
    ]
    read, decrypt = iam.get_role_policy(
        RoleName=definition["executionRoleArn"].rsplit("/", 1)[-1], PolicyName="read-task-secrets"
    )["PolicyDocument"]["Statement"]
    names = sorted(r.rsplit(":parameter", 1)[1] for r in read["Resource"])
    assert names == ["/taskmanager/db_password", "/taskmanager/secret_key"]
    # Decrypting goes through SSM, for exactly those parameters (whichever key encrypts them).
    assert decrypt["Action"] == ["kms:Decrypt"]
    assert decrypt["Condition"]["StringEquals"]["kms:EncryptionContext:PARAMETER_ARN"] == read["Resource"]


def test_losing_an_instance_passes_the_failover_test(ecs_stack):
    run = ecs_stack.playbook("playbooks/failover_test.yml")
    print(report_of(run))
    assert run.rc == 0, run.output[-4000:]
    assert "Verdict: PASS" in run.output
    assert len(service_tasks(ecs_stack)) == 2  # restored


def test_losing_a_whole_az_keeps_the_app_reachable(ecs_stack):
    # Every container instance of the AZ is stopped: requests in flight on its tasks may fail, so
    # "reachable" allows 5 % here (the Auto Scaling group may relaunch into that AZ: on AWS too).
    run = ecs_stack.playbook(
        "playbooks/failover_test.yml", "-e", "failover_scope=az", "-e", "failover_max_failed_percent=5"
    )
    print(report_of(run))
    assert run.rc == 0, run.output[-4000:]
    assert "Verdict: PASS" in run.output


def task_zones(local) -> list[str]:
    tasks = service_tasks(local)
    if not tasks:
        return []
    described = local.client("ecs").describe_container_instances(
        cluster="taskmanager-ecs", containerInstances=[t["containerInstanceArn"] for t in tasks]
    )["containerInstances"]
    zone = {
        ci["containerInstanceArn"]: next(a["value"] for a in ci["attributes"] if a["name"] == "ecs.availability-zone")
        for ci in described
    }
    return sorted(zone[t["containerInstanceArn"]] for t in tasks)


def wait_zones(local, wanted: list[str], timeout: float) -> list[str]:
    deadline = time.monotonic() + timeout
    zones = task_zones(local)
    while zones != wanted and time.monotonic() < deadline:
        time.sleep(0.5)
        zones = task_zones(local)
    return zones


def test_a_lost_az_moves_the_tasks_and_rebalancing_restores_one_plus_one(ecs_stack):
    assert wait_zones(ecs_stack, ["eu-north-1a", "eu-north-1b"], 60) == ["eu-north-1a", "eu-north-1b"]
    frozen = ecs_stack.script("freeze-az", "eu-north-1a")
    try:
        assert frozen.returncode == 0, frozen.stderr
        # The frozen task fails its health checks, is stopped and replaced on connected capacity.
        assert wait_zones(ecs_stack, ["eu-north-1b", "eu-north-1b"], 60) == ["eu-north-1b", "eu-north-1b"]
    finally:
        thawed = ecs_stack.script("thaw-az", "eu-north-1a")
    assert thawed.returncode == 0, thawed.stderr
    # Back: AZ rebalancing moves one task home.
    assert wait_zones(ecs_stack, ["eu-north-1a", "eu-north-1b"], 90) == ["eu-north-1a", "eu-north-1b"]


def test_a_service_of_one_task_fails_and_the_report_says_why(ecs_stack):
    ecs = ecs_stack.client("ecs")
    ecs.update_service(cluster="taskmanager-ecs", service="taskmanager-ecs-webapp", desiredCount=1)
    try:
        deadline = time.monotonic() + 30
        while len(service_tasks(ecs_stack)) != 1 and time.monotonic() < deadline:
            time.sleep(0.5)
        run = ecs_stack.playbook("playbooks/failover_test.yml")
        assert run.rc != 0
        assert "FAIL before the test" in run.output
        assert "runs 1 task(s); losing one leaves nothing to serve" in run.output
    finally:
        ecs.update_service(cluster="taskmanager-ecs", service="taskmanager-ecs-webapp", desiredCount=2)
