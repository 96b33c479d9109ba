# Copyright: Contributors to the taskmanager.aws project
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Pure logic of the failover test's modules: the probe's summary and the steady-state verdict.
The modules against real servers: tests/dataplane/test_failover.py."""

from ansible_collections.taskmanager.aws.plugins.modules.ecs_service_tasks_info import (
    format_task,
    judge,
    judge_deployment,
)
from ansible_collections.taskmanager.aws.plugins.modules.http_probe import summarise


def test_probe_summary_counts_failures_and_the_longest_run():
    samples = [
        (10.0, True, "a", None),
        (10.1, False, None, "http_503"),
        (10.2, False, None, "timeout"),
        (10.3, True, "b", None),
        (10.4, False, None, "http_503"),
        (10.5, True, "b", None),
    ]
    report = summarise(samples)
    assert report["sent"] == 6
    assert report["failures"] == 3
    assert report["failed_by_kind"] == {"http_503": 2, "timeout": 1}
    assert report["longest_failure_run"]["requests"] == 2
    assert report["longest_failure_run"]["start"] == 10.1
    assert report["first_failure"] == 10.1 and report["last_failure"] == 10.4
    assert report["answered_by"]["b"] == {"answers": 2, "first": 10.3, "last": 10.5}


def test_probe_summary_of_a_clean_run():
    report = summarise([(1.0, True, "a", None), (1.1, True, "a", None)])
    assert report["failures"] == 0 and report["first_failure"] is None
    assert report["longest_failure_run"]["requests"] == 0


def task(instance_id, zone, status="RUNNING"):
    return {"taskArn": f"arn:aws:ecs:r:1:task/c/{instance_id}", "lastStatus": status, "containerInstanceArn": "ci"}, (
        instance_id,
        zone,
    )


def test_a_service_at_its_desired_count_with_healthy_targets_is_steady():
    health = {"arn:tg": [("i-1", "healthy"), ("i-2", "healthy")]}
    tasks = [format_task(t, p, health) for t, p in (task("i-1", "a"), task("i-2", "b"))]
    assert tasks[0]["target_health"] == "healthy"
    steady, reasons = judge({"desiredCount": 2, "runningCount": 2}, tasks, health)
    assert steady and reasons == []


def test_missing_tasks_and_unhealthy_targets_are_named():
    health = {"arn:tg": [("i-1", "healthy"), ("i-2", "unhealthy")]}
    tasks = [format_task(*task("i-1", "a"), health)]
    steady, reasons = judge({"desiredCount": 2, "runningCount": 1}, tasks, health)
    assert not steady
    assert "1 task(s) running, 2 desired" in reasons
    assert any("1 healthy target(s) of 2" in r and "i-2 unhealthy" in r for r in reasons)
    assert judge({}, [], {}) == (False, ["the service does not exist"])


def test_tasks_of_an_older_task_definition_mean_a_deployment_in_progress():
    health = {"arn:tg": [("i-1", "healthy"), ("i-2", "healthy")]}
    tasks = [format_task(t, p, health) for t, p in (task("i-1", "a"), task("i-2", "b"))]
    tasks[0]["task_definition_arn"] = "arn:aws:ecs:r:1:task-definition/web:1"
    tasks[1]["task_definition_arn"] = "arn:aws:ecs:r:1:task-definition/web:2"
    service = {"desiredCount": 2, "runningCount": 2, "taskDefinition": "arn:aws:ecs:r:1:task-definition/web:2"}
    steady, reasons = judge(service, tasks, health)
    assert not steady
    assert reasons == ["1 running task(s) of an older task definition than web:2 (deployment in progress)"]
    tasks[0]["task_definition_arn"] = service["taskDefinition"]
    assert judge(service, tasks, health) == (True, [])
    # The service may name its task definition as family:revision (the emulator echoes what it was given).
    service["taskDefinition"] = "web:2"
    assert judge(service, tasks, health) == (True, [])


def test_a_rolled_back_deployment_failed_for_good_and_the_events_say_why():
    events = [
        {"message": "(service web) rolling back to deployment ecs-svc/1."},
        {"message": "(service web) (deployment ecs-svc/2) deployment failed: tasks failed to start."},
        {"message": "(service web) has reached a steady state."},
    ]
    service = {"taskDefinition": "arn:aws:ecs:r:1:task-definition/web:3", "deployments": [], "events": events}
    failed, reasons = judge_deployment(service, "web:4")
    assert failed
    assert reasons == [
        "the service runs web:3, not web:4: its deployment was rolled back or replaced (ECS: (service web) "
        "(deployment ecs-svc/2) deployment failed: tasks failed to start.; (service web) rolling back to "
        "deployment ecs-svc/1.)"
    ]
    # The deployment of what the service runs: not failed, by ARN or by family:revision.
    assert judge_deployment(service, "web:3") == (False, [])
    assert judge_deployment(service, "arn:aws:ecs:r:1:task-definition/web:3") == (False, [])
    # Nothing to compare with: never failed.
    assert judge_deployment(service, None) == (False, [])
    assert judge_deployment({}, "web:3") == (False, [])


def test_a_failed_rollout_without_rollback_failed_for_good():
    deployment = {"taskDefinition": "web:4", "rolloutState": "FAILED", "rolloutStateReason": "tasks failed to start"}
    service = {"taskDefinition": "web:4", "deployments": [deployment]}
    assert judge_deployment(service, "web:4") == (True, ["the deployment of web:4 failed: tasks failed to start"])
    deployment["rolloutState"] = "IN_PROGRESS"
    assert judge_deployment(service, "web:4") == (False, [])
