# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Unit tests of the ecs_capacity_provider module.

Most run the module's main() in-process against moto's ``mock_aws``; the last class runs it
against a real moto server when TASKMANAGER_ECS_MOTO_URL points at one (scripts/test-ecs.sh
starts it), the way ansible-playbook talks to the emulator.
"""

from __future__ import annotations

import json
import os

import boto3
import pytest
from ansible.module_utils.testing import patch_module_args

from ansible_collections.taskmanager.aws.plugins.modules import (
    ecs_capacity_provider,
    ecs_capacity_provider_info,
    ecs_cluster_settings,
)

REGION = "eu-north-1"
ASG_ARN = "arn:aws:autoscaling:eu-north-1:123456789012:autoScalingGroup:u-1:autoScalingGroupName/ecs-asg"
SCALING = {"status": "ENABLED", "target_capacity": 100, "maximum_scaling_step_size": 2, "instance_warmup_period": 60}


def run_module(capsys, check_mode=False, diff=False, **args):
    """Run the module's main() and return its JSON result (failures included)."""
    args.setdefault("region", REGION)
    if check_mode:
        args["_ansible_check_mode"] = True
    if diff:
        args["_ansible_diff"] = True
    with patch_module_args(args), pytest.raises(SystemExit):
        ecs_capacity_provider.main()
    out = capsys.readouterr().out
    return json.loads(out)


@pytest.fixture
def aws(mock_aws_account):
    return boto3.client("ecs", region_name=REGION)


def describe(ecs, name="cp1"):
    providers = ecs.describe_capacity_providers(capacityProviders=[name], include=["TAGS"])["capacityProviders"]
    return providers[0] if providers else None


def test_create_then_idempotent(aws, capsys):
    first = run_module(
        capsys,
        name="cp1",
        auto_scaling_group_arn=ASG_ARN,
        managed_scaling=SCALING,
        managed_termination_protection="DISABLED",
        tags={"Project": "taskmanager"},
    )
    assert first["changed"] is True
    cp = first["capacity_provider"]
    assert cp["name"] == "cp1" and cp["status"] == "ACTIVE"
    assert cp["auto_scaling_group_provider"]["auto_scaling_group_arn"] == ASG_ARN
    assert cp["auto_scaling_group_provider"]["managed_scaling"]["maximum_scaling_step_size"] == 2
    assert cp["tags"] == {"Project": "taskmanager"}
    live = describe(aws)
    assert live["autoScalingGroupProvider"]["managedScaling"]["status"] == "ENABLED"
    assert live["autoScalingGroupProvider"]["managedScaling"]["instanceWarmupPeriod"] == 60

    second = run_module(
        capsys,
        name="cp1",
        auto_scaling_group_arn=ASG_ARN,
        managed_scaling=SCALING,
        managed_termination_protection="DISABLED",
        tags={"Project": "taskmanager"},
    )
    assert second["changed"] is False
    assert second["capacity_provider"] == cp


def test_create_check_mode_creates_nothing(aws, capsys):
    result = run_module(capsys, check_mode=True, name="cp1", auto_scaling_group_arn=ASG_ARN, managed_scaling=SCALING)
    assert result["changed"] is True
    assert result["capacity_provider"]["name"] == "cp1"
    assert describe(aws) is None


def test_create_requires_asg(aws, capsys):
    result = run_module(capsys, name="cp1", managed_scaling=SCALING)
    assert result.get("failed") is True
    assert "auto_scaling_group_arn is required" in result["msg"]
    assert describe(aws) is None


def test_invalid_scaling_fails_before_any_call(aws, capsys):
    result = run_module(capsys, name="cp1", auto_scaling_group_arn=ASG_ARN, managed_scaling={"target_capacity": 0})
    assert result.get("failed") is True
    assert "managed_scaling.target_capacity" in result["msg"]
    assert describe(aws) is None


def test_update_in_place(aws, capsys):
    run_module(capsys, name="cp1", auto_scaling_group_arn=ASG_ARN, managed_scaling=SCALING)
    checked = run_module(capsys, check_mode=True, name="cp1", managed_scaling={"target_capacity": 75})
    assert checked["changed"] is True
    assert checked["capacity_provider"]["auto_scaling_group_provider"]["managed_scaling"]["target_capacity"] == 75
    assert describe(aws)["autoScalingGroupProvider"]["managedScaling"]["targetCapacity"] == 100

    result = run_module(capsys, name="cp1", managed_scaling={"target_capacity": 75})
    assert result["changed"] is True
    live = describe(aws)["autoScalingGroupProvider"]["managedScaling"]
    assert live["targetCapacity"] == 75
    assert live["maximumScalingStepSize"] == 2  # untouched options keep their value
    assert run_module(capsys, name="cp1", managed_scaling={"target_capacity": 75})["changed"] is False


def test_changed_asg_fails_clearly(aws, capsys):
    run_module(capsys, name="cp1", auto_scaling_group_arn=ASG_ARN)
    result = run_module(capsys, name="cp1", auto_scaling_group_arn=ASG_ARN.replace("ecs-asg", "other"))
    assert result.get("failed") is True
    assert "auto_scaling_group_arn cannot be changed" in result["msg"]
    assert describe(aws)["autoScalingGroupProvider"]["autoScalingGroupArn"] == ASG_ARN


def test_tags_added_and_purged(aws, capsys):
    run_module(capsys, name="cp1", auto_scaling_group_arn=ASG_ARN, tags={"Project": "taskmanager", "Old": "1"})
    kept = run_module(capsys, name="cp1", tags={"Project": "taskmanager", "New": "2"}, purge_tags=False)
    assert kept["changed"] is True
    assert kept["capacity_provider"]["tags"] == {"Project": "taskmanager", "Old": "1", "New": "2"}
    purged = run_module(capsys, name="cp1", tags={"Project": "taskmanager"})
    assert purged["changed"] is True
    tags = {
        t["key"]: t["value"]
        for t in aws.list_tags_for_resource(resourceArn=describe(aws)["capacityProviderArn"])["tags"]
    }
    assert tags == {"Project": "taskmanager"}
    assert run_module(capsys, name="cp1")["changed"] is False  # tags omitted: left alone


def test_delete_check_mode_and_idempotent(aws, capsys):
    run_module(capsys, name="cp1", auto_scaling_group_arn=ASG_ARN)
    assert run_module(capsys, check_mode=True, name="cp1", state="absent")["changed"] is True
    assert describe(aws) is not None
    result = run_module(capsys, name="cp1", state="absent")
    assert result["changed"] is True and result["capacity_provider"] == {}
    assert describe(aws) is None
    assert run_module(capsys, name="cp1", state="absent")["changed"] is False


def test_diff_shows_the_change(aws, capsys):
    created = run_module(capsys, diff=True, name="cp1", auto_scaling_group_arn=ASG_ARN, managed_scaling=SCALING)
    assert created["diff"]["before"] == {}
    assert created["diff"]["after"] == created["capacity_provider"]
    changed = dict(SCALING, target_capacity=80)
    result = run_module(
        capsys, check_mode=True, diff=True, name="cp1", auto_scaling_group_arn=ASG_ARN, managed_scaling=changed
    )
    before = result["diff"]["before"]["auto_scaling_group_provider"]["managed_scaling"]["target_capacity"]
    after = result["diff"]["after"]["auto_scaling_group_provider"]["managed_scaling"]["target_capacity"]
    assert (before, after) == (100, 80)
    removed = run_module(capsys, diff=True, name="cp1", state="absent")
    assert removed["diff"]["before"]["name"] == "cp1" and removed["diff"]["after"] == {}
    assert "diff" not in run_module(capsys, name="cp1", state="absent")  # only with --diff


def test_aws_errors_go_through_the_one_handler(aws, capsys, monkeypatch):
    import botocore

    from ansible_collections.amazon.aws.plugins.module_utils.modules import AnsibleAWSModule

    class Denied:
        def describe_capacity_providers(self, **kwargs):
            raise botocore.exceptions.ClientError(
                {"Error": {"Code": "AccessDeniedException", "Message": "not allowed"}}, "DescribeCapacityProviders"
            )

    monkeypatch.setattr(AnsibleAWSModule, "client", lambda self, service, **kw: Denied())
    result = run_module(capsys, name="cp1", auto_scaling_group_arn=ASG_ARN)
    assert result["failed"] is True
    assert result["msg"].startswith("Failed to describe capacity provider")
    assert result["error"]["code"] == "AccessDeniedException"


def test_delete_waits_with_the_declared_waiter(aws, capsys, monkeypatch):
    from ansible_collections.taskmanager.aws.plugins.module_utils import ecs_api

    run_module(capsys, name="cp1", auto_scaling_group_arn=ASG_ARN)
    waited = []
    original = ecs_api.ECSWaiterFactory.get_waiter

    def get_waiter(self, client, name):
        waited.append(name)
        return original(self, client, name)

    monkeypatch.setattr(ecs_api.ECSWaiterFactory, "get_waiter", get_waiter)
    assert run_module(capsys, name="cp1", state="absent", wait_timeout=10)["changed"] is True
    assert waited == ["capacity_provider_deleted"]
    assert run_module(capsys, name="cp2", state="absent")["changed"] is False
    assert waited == ["capacity_provider_deleted"]  # nothing deleted, nothing awaited


def test_waiter_times_out_on_a_provider_that_stays(aws):
    from ansible_collections.taskmanager.aws.plugins.module_utils import ecs_api
    from ansible_collections.taskmanager.aws.plugins.module_utils.errors import AnsibleTaskmanagerAWSError

    aws.create_capacity_provider(name="stays", autoScalingGroupProvider={"autoScalingGroupArn": ASG_ARN})
    monkeypatched = dict(ecs_api.ECSWaiterFactory()._waiter_model_data["capacity_provider_deleted"], delay=0)
    factory = ecs_api.ECSWaiterFactory()
    factory._model.__init__({"version": 2, "waiters": {"capacity_provider_deleted": monkeypatched}})
    with pytest.raises(AnsibleTaskmanagerAWSError, match="Timeout trying to"):
        ecs_api.ECSErrorHandler.common_error_handler("wait")(
            lambda: factory.get_waiter(aws, "capacity_provider_deleted").wait(
                capacityProviders=["stays"], WaiterConfig={"Delay": 0, "MaxAttempts": 2}
            )
        )()


@pytest.mark.skipif(not os.environ.get("TASKMANAGER_ECS_MOTO_URL"), reason="needs a moto server (scripts/test-ecs.sh)")
class TestAgainstMotoServer:
    """Same module code, real HTTP to a moto server, as ansible-playbook does."""

    @pytest.fixture
    def server(self, monkeypatch):
        url = os.environ["TASKMANAGER_ECS_MOTO_URL"]
        monkeypatch.setenv("AWS_ENDPOINT_URL", url)
        monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
        monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
        ecs = boto3.client("ecs", region_name=REGION, endpoint_url=url)
        yield ecs
        if describe(ecs, "unit-server-cp"):
            ecs.delete_capacity_provider(capacityProvider="unit-server-cp")

    def test_lifecycle(self, server, capsys):
        args = {
            "name": "unit-server-cp",
            "auto_scaling_group_arn": ASG_ARN,
            "managed_scaling": SCALING,
            "tags": {"Project": "taskmanager"},
        }
        assert run_module(capsys, **args)["changed"] is True
        assert run_module(capsys, **args)["changed"] is False
        assert describe(server, "unit-server-cp")["autoScalingGroupProvider"]["managedScaling"]["targetCapacity"] == 100
        assert run_module(capsys, name="unit-server-cp", state="absent")["changed"] is True
        assert describe(server, "unit-server-cp") is None


def run_info(capsys, **args):
    args.setdefault("region", REGION)
    with patch_module_args(args), pytest.raises(SystemExit):
        ecs_capacity_provider_info.main()
    return json.loads(capsys.readouterr().out)


def test_info_returns_existing_only(aws, capsys):
    created = run_module(capsys, name="cp1", auto_scaling_group_arn=ASG_ARN, managed_scaling=SCALING)
    result = run_info(capsys, names=["cp1", "missing"])
    assert result["changed"] is False
    assert result["capacity_providers"] == [created["capacity_provider"]]
    assert run_info(capsys, names=["missing"])["capacity_providers"] == []


def test_cluster_settings_insights_and_tags(aws, capsys):
    def run(check_mode=False, **args):
        args.setdefault("region", REGION)
        if check_mode:
            args["_ansible_check_mode"] = True
        with patch_module_args(args), pytest.raises(SystemExit):
            ecs_cluster_settings.main()
        return json.loads(capsys.readouterr().out)

    assert run(cluster="nope", container_insights="enabled")["failed"] is True
    aws.create_cluster(clusterName="c1", settings=[{"name": "containerInsights", "value": "disabled"}])
    args = {"cluster": "c1", "container_insights": "enabled", "tags": {"Project": "taskmanager"}}
    checked = run(check_mode=True, **args)
    assert checked["changed"] is True and checked["settings"]["containerInsights"] == "enabled"
    live = aws.describe_clusters(clusters=["c1"], include=["SETTINGS", "TAGS"])["clusters"][0]
    assert live["settings"] == [{"name": "containerInsights", "value": "disabled"}]

    done = run(**args)
    assert done["changed"] is True
    assert done["settings"]["containerInsights"] == "enabled" and done["tags"] == {"Project": "taskmanager"}
    assert run(**args)["changed"] is False
    assert run(cluster="c1", container_insights="enabled", tags={})["changed"] is True  # purge
    live = aws.describe_clusters(clusters=["c1"], include=["TAGS"])["clusters"][0]
    assert not live.get("tags")
