# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The ECS image on the local data plane: site.yml builds the web app image from the wheel with
buildah, pushes it to the ECR repository's URI (the data plane's real registry, Debian's
docker-registry) with the ECR authorization token's credentials, and the task definition names it
by digest; a re-run builds and pushes nothing; an image that cannot be pulled is rolled back by
ECS's deployment circuit breaker and makes site.yml fail at once with ECS's reason. Runs on the ECS
stack of the failover tests (conftest.ecs_stack)."""

from __future__ import annotations

import json
import re

from taskmanager_tests import registry as registry_api

CLUSTER, SERVICE, REPOSITORY = "taskmanager-ecs", "taskmanager-ecs-webapp", "taskmanager/webapp"
MANIFESTS = "application/vnd.oci.image.manifest.v1+json, application/vnd.docker.distribution.manifest.v2+json"


def service_image(local) -> str:
    ecs = local.client("ecs")
    service = ecs.describe_services(cluster=CLUSTER, services=[SERVICE])["services"][0]
    definition = ecs.describe_task_definition(taskDefinition=service["taskDefinition"])["taskDefinition"]
    return definition["containerDefinitions"][0]["image"]


def registry(url: str, method: str = "GET"):
    return registry_api.request(url, method, headers={"Accept": MANIFESTS})


def revision(arn_or_name: str) -> str:
    """family:revision (the service names it as CreateService was given it; tasks by ARN)."""
    return arn_or_name.rsplit("/", 1)[-1]


def running_definitions(local) -> set[str]:
    ecs = local.client("ecs")
    arns = ecs.list_tasks(cluster=CLUSTER, desiredStatus="RUNNING")["taskArns"]
    tasks = ecs.describe_tasks(cluster=CLUSTER, tasks=arns)["tasks"] if arns else []
    return {revision(t["taskDefinitionArn"]) for t in tasks if t["group"] == f"service:{SERVICE}"}


def test_the_task_definition_names_the_pushed_image_by_digest(ecs_stack):
    ecr = ecs_stack.client("ecr")
    repository = ecr.describe_repositories(repositoryNames=[REPOSITORY])["repositories"][0]
    assert repository["imageScanningConfiguration"]["scanOnPush"] is True
    assert json.loads(ecr.get_lifecycle_policy(repositoryName=REPOSITORY)["lifecyclePolicyText"])["rules"]
    tags = ecr.list_tags_for_resource(resourceArn=repository["repositoryArn"])["tags"]
    assert {"Key": "Project", "Value": "taskmanager"} in tags

    image = service_image(ecs_stack)
    uri = repository["repositoryUri"]
    assert re.fullmatch(re.escape(uri) + r"@sha256:[0-9a-f]{64}", image), image
    assert re.fullmatch(r"127\.\d+\.253\.1(:\d+)?/taskmanager/webapp", uri), uri
    digest = image.split("@", 1)[1]
    host, name = uri.split("/", 1)
    # The registry holds that manifest, under the content tag the play pushed.
    with registry(f"http://{host}/v2/{name}/manifests/{digest}", "HEAD") as answer:
        assert answer.headers["Docker-Content-Digest"] == digest
    with registry(f"http://{host}/v2/{name}/tags/list") as answer:
        pushed = json.load(answer)["tags"]
    assert len(pushed) == 1 and pushed[0].startswith("src-"), pushed
    assert "built and pushed" in ecs_stack.converge.output
    # The image is the wheel on a Debian base with the pinned requirements: its config says how it runs.
    with registry(f"http://{host}/v2/{name}/manifests/{digest}") as answer:
        manifest = json.load(answer)
    with registry(f"http://{host}/v2/{name}/blobs/{manifest['config']['digest']}") as answer:
        config = json.load(answer)["config"]
    assert config["User"] == "taskmanager"
    assert config["Cmd"][:3] == ["gunicorn", "-c", "/app/deploy/gunicorn.conf.py"]
    assert "TASKMANAGER_ENV=production" in config["Env"]
    # Every running task of the service runs this task definition (what the steady wait checked).
    service = ecs_stack.client("ecs").describe_services(cluster=CLUSTER, services=[SERVICE])["services"][0]
    assert running_definitions(ecs_stack) == {revision(service["taskDefinition"])}


def test_a_rerun_builds_and_pushes_nothing(ecs_stack):
    host, name = service_image(ecs_stack).split("@")[0].split("/", 1)
    with registry(f"http://{host}/v2/{name}/tags/list") as answer:
        before = json.load(answer)["tags"]
    extra = ("-e", json.dumps({"taskmanager_build_fleet": False}))
    run = ecs_stack.playbook("site.yml", *extra, timeout=1200)
    assert run.rc == 0, run.output[-4000:]
    assert run.changed == 0, re.findall(r"changed: \[localhost\].*", run.output)
    assert "in the repository already, nothing built" in run.output
    # --check on the converged ECS stack (image included) is molecule/ecs_ha's check step.
    with registry(f"http://{host}/v2/{name}/tags/list") as answer:
        assert json.load(answer)["tags"] == before


def test_an_image_that_cannot_be_pulled_is_rolled_back_and_fails_site_yml_naming_the_cause(ecs_stack):
    """ECS's deployment circuit breaker: three tasks that cannot pull the image fail the deployment,
    ECS rolls the service back to the task definition that served, and site.yml's wait stops at once
    (not at its time-out) naming the rollback, the pull error and the missing digest."""
    ecs = ecs_stack.client("ecs")
    good = service_image(ecs_stack)
    served = revision(ecs.describe_services(cluster=CLUSTER, services=[SERVICE])["services"][0]["taskDefinition"])
    missing = good.split("@")[0] + "@sha256:" + "0" * 64
    # A time-out far beyond the breaker's three failed starts: the message says which ended the wait.
    extra = {"taskmanager_build_fleet": False, "ecs_ha_steady_timeout": 300, "ecs_ha_steady_delay": 2}
    # --tags ecs: the foundation is looked up, not converged again (the re-run test converges it).
    only_ecs = ("--tags", "ecs", "-e")
    run = ecs_stack.playbook("site.yml", *only_ecs, json.dumps({**extra, "ecs_ha_image": missing}), timeout=1200)
    assert run.rc != 0
    assert "The ECS service does not serve: its deployment failed" in run.output, run.output[-4000:]
    message = run.output[run.output.find("The ECS service does not serve") :]
    assert "ecs_ha_steady_timeout" not in message.split("Running tasks")[0]
    assert f"the service runs {served}, not " in message and "rolling back" in message, message[:3000]
    assert "CannotPullContainerError" in message and missing in message, message[:3000]
    # Rolled back: the service and every running task are on the task definition that served.
    service = ecs.describe_services(cluster=CLUSTER, services=[SERVICE])["services"][0]
    assert revision(service["taskDefinition"]) == served and service_image(ecs_stack) == good
    assert running_definitions(ecs_stack) == {served}
    assert any("deployment failed: tasks failed to start" in e["message"] for e in service["events"])
    print(f"an image that cannot be pulled: rolled back, site.yml failed after {run.seconds:.1f} s (time-out 300 s)")
    # Back to the built image: a new deployment, and site.yml ends steady again.
    restored = ecs_stack.playbook("site.yml", *only_ecs, json.dumps({"taskmanager_build_fleet": False}), timeout=1200)
    assert restored.rc == 0, restored.output[-4000:]
    assert service_image(ecs_stack) == good
    service = ecs.describe_services(cluster=CLUSTER, services=[SERVICE])["services"][0]
    assert running_definitions(ecs_stack) == {revision(service["taskDefinition"])}
