"""Build stack, Verify spread and Teardown run the way AWX runs them, on the local emulator.

From a fresh clone of the committed project (conftest.job_dir: no .build/, no venv link,
taskmanager.aws installed from collections/requirements.yml into requirements_collections/),
each job template's playbook runs through ansible-runner from the job's private data dir with:
the AWX inventory's variables (rendered by playbooks/awx_configure.yml from awx/, plus
taskmanager_aws_emulator: true, which is what an inventory for the emulator says), extra vars
made from the survey's default answers, and the emulator's endpoint and dummy keys in the
environment (where the AWS credential would inject its keys). Each result is held against a
plain ansible-playbook run from this checkout.

To keep make test within its time budget, Build stack is answered "Build the EC2 fleet: false"
and "Build the ECS service: false" (the foundation only: preflight, the wheel built by the job,
network, bucket, IAM); molecule's default and ecs_ha scenarios prove the rest of the same roles.
AWX_TEST_FULL=1 keeps every default answer and builds the whole stack.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import subprocess
from pathlib import Path

import ansible_runner
import boto3
import pytest
import yaml
from conftest import ROOT, VENV_BIN, render_awx_config

REGION = "eu-north-1"
# Every host's line: site.yml runs on localhost and on a controller host per stack (playbooks/stacks.yml).
RECAP = re.compile(r"^[\w.-]+\s+:\s+ok=(\d+)\s+changed=(\d+)\s+unreachable=(\d+)\s+failed=(\d+)", re.M)
FULL = os.environ.get("AWX_TEST_FULL") == "1"
BUILD = {} if FULL else {"taskmanager_build_fleet": "false", "taskmanager_build_ecs": "false"}
ANSWERS = {"Build stack": BUILD, "Teardown": {"taskmanager_teardown_confirm": "teardown"}}


def survey_defaults(project: Path, survey: str) -> dict:
    """The extra vars AWX sends when every question keeps its default answer."""
    spec = yaml.safe_load((project / "awx/surveys" / f"{survey}.yml").read_text())["spec"]
    return {q["variable"]: q["default"] for q in spec if "default" in q}


def templates(project: Path) -> dict:
    data = yaml.safe_load((project / "awx/job_templates.yml").read_text())["awx_job_templates"]
    return {t["name"]: t for t in data}


@pytest.fixture(scope="module")
def job(job_dir: Path, endpoint: str):
    """Run one job template through ansible-runner, as AWX's job would."""
    project = job_dir / "project"
    variables = render_awx_config(project, job_dir / "awx_configure.json")["inventory_variables"]
    inventory = job_dir / "inventory"
    inventory.mkdir()
    (inventory / "hosts.json").write_text(
        json.dumps({"all": {"vars": {**variables, "taskmanager_aws_emulator": True}}})
    )
    env = {
        "AWS_ENDPOINT_URL": endpoint,
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",  # the emulator's dummy key, where AWX injects the credential's
        "ANSIBLE_CONFIG": str(project / "ansible.cfg"),
        # AWX: the synced collections first, then the project's ansible.cfg paths.
        "ANSIBLE_COLLECTIONS_PATH": f"{job_dir}/requirements_collections:{project}/.build",
        "PATH": f"{VENV_BIN}:{os.environ['PATH']}",
        "ANSIBLE_NOCOLOR": "1",
    }
    all_templates = templates(project)

    def launch(name: str, **answers):
        template = all_templates[name]
        extra = {**survey_defaults(project, template["survey"]), **ANSWERS.get(name, {}), **answers}
        result = ansible_runner.run(
            private_data_dir=str(job_dir),
            playbook=template["playbook"],
            extravars=extra,
            envvars=env,
            ident=re.sub(r"\W+", "-", name.lower()) + f"-{len(list((job_dir / 'artifacts').glob('*')))}",
            quiet=True,
            timeout=600,
        )
        return result, extra

    assert not (project / ".build/ansible_collections").exists()
    return launch


def plain(*args: str, endpoint: str, **env_extra: str) -> tuple[int, str]:
    """ansible-playbook from this checkout, the way the README runs it."""
    env = dict(
        os.environ,
        AWS_ENDPOINT_URL=endpoint,
        ANSIBLE_CONFIG=str(ROOT / "ansible.cfg"),
        ANSIBLE_NOCOLOR="1",
        PATH=f"{VENV_BIN}:{os.environ['PATH']}",
        **env_extra,
    )
    proc = subprocess.run(
        [str(VENV_BIN / "ansible-playbook"), "-i", "inventories/local", *args],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )
    return proc.returncode, proc.stdout + proc.stderr


def changed(output: str) -> int:
    found = RECAP.findall(output)
    assert found, output[-3000:]
    return sum(int(counts[1]) for counts in found)


def output_of(result) -> str:
    return result.stdout.read()


def aws(service: str, endpoint: str):
    return boto3.client(
        service,
        endpoint_url=endpoint,
        region_name=REGION,
        aws_access_key_id="testing",
        aws_secret_access_key="testing",  # noqa: S106 - the emulator's dummy credentials
    )


def project_vpcs(endpoint: str) -> list:
    return aws("ec2", endpoint).describe_vpcs(Filters=[{"Name": "tag:Project", "Values": ["taskmanager"]}])["Vpcs"]


def spread_result(result) -> dict:
    for event in result.events:
        data = event.get("event_data", {})
        if event.get("event") == "runner_on_ok" and data.get("task_action", "").endswith("instance_spread"):
            return data["res"]
    raise AssertionError("no instance_spread result among the job's events")


def test_build_stack(job, endpoint):
    result, extra = job("Build stack")
    text = output_of(result)
    assert result.status == "successful", text[-4000:]
    assert extra["taskmanager_aws_region"] == REGION
    assert changed(text) > 0
    # The wheel the job built (no make) is the one `make webapp-dist` builds, byte for byte.
    wheel = next((ROOT / ".build/dist").glob("taskmanager_webapp-*.whl"))
    s3 = aws("s3", endpoint)
    bucket = next(b["Name"] for b in s3.list_buckets()["Buckets"] if b["Name"].startswith("taskmanager-files-"))
    head = s3.head_object(Bucket=bucket, Key=f"webapp/{wheel.name}")
    assert head["ETag"].strip('"') == hashlib.md5(wheel.read_bytes()).hexdigest()  # noqa: S324 - S3's ETag
    assert len(project_vpcs(endpoint)) == 1
    groups = aws("autoscaling", endpoint).describe_auto_scaling_groups()["AutoScalingGroups"]
    if FULL:
        assert [g["DesiredCapacity"] for g in groups if g["AutoScalingGroupName"] == "TaskManagerASG"] == [
            extra["autoscaling_desired_capacity"]
        ]
    else:
        assert groups == []


def test_plain_run_finds_the_same_stack(endpoint):
    """A plain site.yml run with the same answers has nothing left to do: same resources, same wheel."""
    rc, text = plain("site.yml", "-e", json.dumps(BUILD), endpoint=endpoint)
    assert rc == 0, text[-4000:]
    assert changed(text) == 0, text[-4000:]


def test_verify_spread(job, endpoint, stand_in_url):
    # No data plane on the emulator: a local stand-in answers for the load balancer (README, Proving it).
    answers = {"verify_spread_url": stand_in_url, "verify_spread_target_group_name": ""}
    result, extra = job("Verify spread", **answers)
    assert result.status == "successful", output_of(result)[-4000:]
    awx = spread_result(result)
    assert awx["passed"] is True and awx["distinct"] == 2 and awx["succeeded"] == extra["verify_spread_requests"]
    rc, text = plain(
        "playbooks/verify_spread.yml",
        "-e",
        json.dumps(answers),
        endpoint=endpoint,
        ANSIBLE_STDOUT_CALLBACK="ansible.posix.json",
    )
    assert rc == 0, text[-4000:]
    tasks = [task for play in json.loads(text)["plays"] for task in play["tasks"]]
    mine = next(
        t["hosts"]["localhost"]
        for t in tasks
        if t["hosts"].get("localhost", {}).get("action", "").endswith("instance_spread")
    )
    for key in ("passed", "distinct", "succeeded", "requests", "failures"):
        assert mine[key] == awx[key], key
    assert sorted(mine["counts"]) == sorted(awx["counts"])


def test_teardown_refuses_a_wrong_confirmation(job, endpoint):
    result = job("Teardown", taskmanager_teardown_confirm="no")[0]
    assert result.status == "failed"
    assert 'answer "teardown"' in output_of(result)
    assert len(project_vpcs(endpoint)) == 1, "the refused teardown removed something"


def test_teardown(job, endpoint):
    result = job("Teardown")[0]
    text = output_of(result)
    assert result.status == "successful", text[-4000:]
    plays = [e["event_data"]["play"] for e in result.events if e.get("event") == "playbook_on_play_start"]
    assert any("udit" in play for play in plays), plays  # the leftover audit ran (and passed: the job succeeded)
    assert project_vpcs(endpoint) == []
    buckets = [b["Name"] for b in aws("s3", endpoint).list_buckets()["Buckets"]]
    assert not [b for b in buckets if b.startswith("taskmanager-files-")]
