# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The emulator fixes of localaws/emulator.py, each against the real moto server it patches."""

from __future__ import annotations

import hashlib
import json
import os
import re
import signal
import time
from collections import Counter

import pytest
from taskmanager_tests import registry as registry_api
from taskmanager_tests.emulator import start_local_aws

from localaws.emulator import database_address, load_balancer_address, port_octet


@pytest.fixture(scope="module")
def network(emulator):
    ec2 = emulator.client("ec2")
    vpc = ec2.create_vpc(CidrBlock="10.42.0.0/16")["Vpc"]["VpcId"]
    subnets = [
        ec2.create_subnet(VpcId=vpc, CidrBlock=f"10.42.{n}.0/24", AvailabilityZone=f"eu-north-1{zone}")["Subnet"][
            "SubnetId"
        ]
        for n, zone in ((1, "a"), (2, "b"), (3, "c"))
    ]
    image = ec2.describe_images(Owners=["amazon"])["Images"][0]["ImageId"]
    ec2.create_launch_template(
        LaunchTemplateName="fix-test", LaunchTemplateData={"ImageId": image, "InstanceType": "t3.micro"}
    )
    return {"vpc": vpc, "subnets": subnets}


def make_group(emulator, name: str, subnets: list[str], desired: int, **extra) -> list[dict]:
    """An Auto Scaling group of the test launch template; returns its instances."""
    autoscaling = emulator.client("autoscaling")
    autoscaling.create_auto_scaling_group(
        AutoScalingGroupName=name,
        LaunchTemplate={"LaunchTemplateName": "fix-test"},
        MinSize=0,
        MaxSize=9,
        DesiredCapacity=desired,
        VPCZoneIdentifier=",".join(subnets),
        **extra,
    )
    return autoscaling.describe_auto_scaling_groups(AutoScalingGroupNames=[name])["AutoScalingGroups"][0]["Instances"]


def zones_of(emulator, group: str) -> Counter:
    asg = emulator.client("autoscaling").describe_auto_scaling_groups(AutoScalingGroupNames=[group])
    return Counter(i["AvailabilityZone"] for i in asg["AutoScalingGroups"][0]["Instances"])


def test_auto_scaling_balances_instances_over_the_groups_azs(emulator, network):
    autoscaling = emulator.client("autoscaling")
    make_group(emulator, "spread-test", network["subnets"], 5)
    assert sorted(zones_of(emulator, "spread-test").values()) == [1, 2, 2]
    autoscaling.set_desired_capacity(AutoScalingGroupName="spread-test", DesiredCapacity=6)
    assert set(zones_of(emulator, "spread-test").values()) == {2}
    # The EC2 API agrees: each instance sits in a subnet of its AZ.
    ec2 = emulator.client("ec2")
    described = ec2.describe_instances(Filters=[{"Name": "tag:aws:autoscaling:groupName", "Values": ["spread-test"]}])
    subnet_zone = {
        s["SubnetId"]: s["AvailabilityZone"] for s in ec2.describe_subnets(SubnetIds=network["subnets"])["Subnets"]
    }
    for reservation in described["Reservations"]:
        for instance in reservation["Instances"]:
            assert subnet_zone[instance["SubnetId"]] == instance["Placement"]["AvailabilityZone"]
    autoscaling.delete_auto_scaling_group(AutoScalingGroupName="spread-test", ForceDelete=True)


def test_a_replacement_goes_to_the_az_that_lost_an_instance(emulator, network):
    autoscaling = emulator.client("autoscaling")
    instances = make_group(emulator, "refill-test", network["subnets"][:2], 2)
    in_b = next(i for i in instances if i["AvailabilityZone"] == "eu-north-1b")["InstanceId"]
    autoscaling.terminate_instance_in_auto_scaling_group(InstanceId=in_b, ShouldDecrementDesiredCapacity=False)
    assert zones_of(emulator, "refill-test") == Counter({"eu-north-1a": 1, "eu-north-1b": 1})
    autoscaling.delete_auto_scaling_group(AutoScalingGroupName="refill-test", ForceDelete=True)


def test_terminated_instances_leave_their_target_groups(emulator, network):
    elbv2, autoscaling = emulator.client("elbv2"), emulator.client("autoscaling")
    group = elbv2.create_target_group(Name="leave-test", Protocol="HTTP", Port=80, VpcId=network["vpc"])
    arn = group["TargetGroups"][0]["TargetGroupArn"]
    make_group(emulator, "leave-test", network["subnets"][:2], 2, TargetGroupARNs=[arn])
    before = {d["Target"]["Id"] for d in elbv2.describe_target_health(TargetGroupArn=arn)["TargetHealthDescriptions"]}
    victim = sorted(before)[0]
    autoscaling.terminate_instance_in_auto_scaling_group(InstanceId=victim, ShouldDecrementDesiredCapacity=False)
    after = {d["Target"]["Id"] for d in elbv2.describe_target_health(TargetGroupArn=arn)["TargetHealthDescriptions"]}
    assert victim not in after
    assert len(after) == 2  # the replacement is registered
    autoscaling.delete_auto_scaling_group(AutoScalingGroupName="leave-test", ForceDelete=True)
    elbv2.delete_target_group(TargetGroupArn=arn)


def test_load_balancer_dns_name_is_a_stable_loopback_address(emulator, network):
    elbv2 = emulator.client("elbv2")
    first = elbv2.create_load_balancer(Name="dns-test", Subnets=network["subnets"][:2])["LoadBalancers"][0]
    other = elbv2.create_load_balancer(Name="dns-other", Subnets=network["subnets"][:2])["LoadBalancers"][0]
    assert re.fullmatch(rf"127\.{port_octet(emulator.port)}\.254\.\d+", first["DNSName"])
    assert first["DNSName"] == load_balancer_address("dns-test", emulator.port)
    assert other["DNSName"] != first["DNSName"]
    elbv2.delete_load_balancer(LoadBalancerArn=first["LoadBalancerArn"])
    again = elbv2.create_load_balancer(Name="dns-test", Subnets=network["subnets"][:2])["LoadBalancers"][0]
    assert again["DNSName"] == first["DNSName"]  # same name, same address, run after run
    for lb in (again, other):
        elbv2.delete_load_balancer(LoadBalancerArn=lb["LoadBalancerArn"])


def test_a_new_application_load_balancer_lists_awss_default_attributes(emulator, network):
    elbv2 = emulator.client("elbv2")
    lb = elbv2.create_load_balancer(Name="attr-test", Subnets=network["subnets"][:2])["LoadBalancers"][0]
    arn = lb["LoadBalancerArn"]

    def attributes():
        return {
            a["Key"]: a["Value"] for a in elbv2.describe_load_balancer_attributes(LoadBalancerArn=arn)["Attributes"]
        }

    listed = attributes()
    assert listed["idle_timeout.timeout_seconds"] == "60"
    assert listed["routing.http.drop_invalid_header_fields.enabled"] == "false"
    assert listed["routing.http2.enabled"] == "true"
    elbv2.modify_load_balancer_attributes(
        LoadBalancerArn=arn, Attributes=[{"Key": "routing.http.drop_invalid_header_fields.enabled", "Value": "true"}]
    )
    assert attributes()["routing.http.drop_invalid_header_fields.enabled"] == "true"
    elbv2.delete_load_balancer(LoadBalancerArn=arn)


def test_without_a_data_plane_target_health_is_motos(emulator, network):
    """With the data plane off, DescribeTargetHealth answers as moto does (tests/dataplane/
    test_dataplane.py shows the measured states once the data plane runs)."""
    elbv2, ec2 = emulator.client("elbv2"), emulator.client("ec2")
    arn = elbv2.create_target_group(Name="health-test", Protocol="HTTP", Port=80, VpcId=network["vpc"])["TargetGroups"][
        0
    ]["TargetGroupArn"]
    image = ec2.describe_images(Owners=["amazon"])["Images"][0]["ImageId"]
    ids = [
        i["InstanceId"]
        for i in ec2.run_instances(ImageId=image, MinCount=2, MaxCount=2, SubnetId=network["subnets"][0])["Instances"]
    ]
    elbv2.register_targets(TargetGroupArn=arn, Targets=[{"Id": i, "Port": 80} for i in ids])
    states = {
        d["Target"]["Id"]: d["TargetHealth"]["State"]
        for d in elbv2.describe_target_health(TargetGroupArn=arn)["TargetHealthDescriptions"]
    }
    assert states == dict.fromkeys(ids, "healthy")  # this emulator runs without a data plane: moto's answer
    ec2.terminate_instances(InstanceIds=ids)
    elbv2.delete_target_group(TargetGroupArn=arn)


def test_one_instance_can_be_two_targets_on_two_ports(emulator, network):
    """ECS bridge mode: two tasks on one instance are two targets (instance:port)."""
    elbv2, ec2 = emulator.client("elbv2"), emulator.client("ec2")
    arn = elbv2.create_target_group(Name="ports-test", Protocol="HTTP", Port=80, VpcId=network["vpc"])["TargetGroups"][
        0
    ]["TargetGroupArn"]
    image = ec2.describe_images(Owners=["amazon"])["Images"][0]["ImageId"]
    instance = ec2.run_instances(ImageId=image, MinCount=1, MaxCount=1, SubnetId=network["subnets"][0])["Instances"][0]
    targets = [{"Id": instance["InstanceId"], "Port": port} for port in (32768, 32769)]
    elbv2.register_targets(TargetGroupArn=arn, Targets=targets)
    described = elbv2.describe_target_health(TargetGroupArn=arn)["TargetHealthDescriptions"]
    assert sorted(d["Target"]["Port"] for d in described) == [32768, 32769]
    elbv2.deregister_targets(TargetGroupArn=arn, Targets=targets[:1])
    described = elbv2.describe_target_health(TargetGroupArn=arn)["TargetHealthDescriptions"]
    assert [d["Target"]["Port"] for d in described] == [32769]
    ec2.terminate_instances(InstanceIds=[instance["InstanceId"]])
    elbv2.delete_target_group(TargetGroupArn=arn)


def test_create_service_keeps_the_grace_period_the_placement_and_the_deployment_configuration(emulator, network):
    ecs = emulator.client("ecs")
    ecs.create_cluster(clusterName="fix10")
    ecs.register_task_definition(
        family="fix10", containerDefinitions=[{"name": "web", "image": "nginx", "memory": 128}]
    )
    strategy = [
        {"type": "spread", "field": "attribute:ecs.availability-zone"},
        {"type": "spread", "field": "instanceId"},
    ]
    deployment = {
        "minimumHealthyPercent": 100,
        "maximumPercent": 200,
        "deploymentCircuitBreaker": {"enable": True, "rollback": True},
    }
    ecs.create_service(
        cluster="fix10",
        serviceName="web",
        taskDefinition="fix10",
        desiredCount=0,
        healthCheckGracePeriodSeconds=45,
        placementStrategy=strategy,
        deploymentConfiguration=deployment,
    )
    service = ecs.describe_services(cluster="fix10", services=["web"])["services"][0]
    assert service["healthCheckGracePeriodSeconds"] == 45
    assert service["placementStrategy"] == strategy
    assert service["deploymentConfiguration"] == deployment
    ecs.delete_service(cluster="fix10", service="web", force=True)
    ecs.delete_cluster(cluster="fix10")


def test_launch_template_versions_can_be_deleted_and_numbers_are_not_reused(emulator, network):
    ec2 = emulator.client("ec2")
    image = ec2.describe_images(Owners=["amazon"])["Images"][0]["ImageId"]
    created = ec2.create_launch_template(
        LaunchTemplateName="fix11", LaunchTemplateData={"ImageId": image, "InstanceType": "t3.micro"}
    )["LaunchTemplate"]
    for size in ("t3.small", "t3.medium"):
        ec2.create_launch_template_version(
            LaunchTemplateName="fix11", LaunchTemplateData={"ImageId": image, "InstanceType": size}
        )
    answer = ec2.delete_launch_template_versions(LaunchTemplateName="fix11", Versions=["1", "3"])
    assert [v["VersionNumber"] for v in answer["SuccessfullyDeletedLaunchTemplateVersions"]] == [3]
    assert [v["VersionNumber"] for v in answer["UnsuccessfullyDeletedLaunchTemplateVersions"]] == [1]  # the default
    ec2.create_launch_template_version(
        LaunchTemplateName="fix11", LaunchTemplateData={"ImageId": image, "InstanceType": "t3.large"}
    )
    versions = ec2.describe_launch_template_versions(LaunchTemplateName="fix11")["LaunchTemplateVersions"]
    assert sorted(v["VersionNumber"] for v in versions) == [1, 2, 4]
    four = ec2.describe_launch_template_versions(LaunchTemplateName="fix11", Versions=["4"])["LaunchTemplateVersions"]
    assert four[0]["LaunchTemplateData"]["InstanceType"] == "t3.large"
    ec2.delete_launch_template(LaunchTemplateId=created["LaunchTemplateId"])


def test_instances_keep_their_version_and_a_refresh_without_a_data_plane_replaces_them_at_once(emulator, network):
    """Fixes 19, 20 and 21: each instance reports the version it was launched from; an instance
    refresh (SkipMatching) replaces exactly those of another version, from a version whose user data
    was given to CreateLaunchTemplateVersion; one refresh at a time, and none left to cancel."""
    ec2, autoscaling = emulator.client("ec2"), emulator.client("autoscaling")
    image = ec2.describe_images(Owners=["amazon"])["Images"][0]["ImageId"]
    data = {"ImageId": image, "InstanceType": "t3.micro", "UserData": "djE="}  # base64 of "v1"
    template = ec2.create_launch_template(LaunchTemplateName="fix20", LaunchTemplateData=data)["LaunchTemplate"]
    spec = {"LaunchTemplateId": template["LaunchTemplateId"], "Version": "1"}
    autoscaling.create_auto_scaling_group(
        AutoScalingGroupName="refresh-test",
        LaunchTemplate=spec,
        MinSize=2,
        MaxSize=4,
        DesiredCapacity=2,
        VPCZoneIdentifier=",".join(network["subnets"]),
    )
    ec2.create_launch_template_version(
        LaunchTemplateId=template["LaunchTemplateId"], LaunchTemplateData={**data, "UserData": "djI="}
    )
    autoscaling.update_auto_scaling_group(AutoScalingGroupName="refresh-test", LaunchTemplate={**spec, "Version": "2"})
    # A scale-out launches from version 2; the first two stay on version 1.
    autoscaling.set_desired_capacity(AutoScalingGroupName="refresh-test", DesiredCapacity=3)

    def members():
        groups = autoscaling.describe_auto_scaling_groups(AutoScalingGroupNames=["refresh-test"])
        return {i["InstanceId"]: i["LaunchTemplate"]["Version"] for i in groups["AutoScalingGroups"][0]["Instances"]}

    before = members()
    assert sorted(before.values()) == ["1", "1", "2"], before
    started = autoscaling.start_instance_refresh(
        AutoScalingGroupName="refresh-test", Preferences={"SkipMatching": True, "MinHealthyPercentage": 90}
    )
    after = members()
    assert set(after.values()) == {"2"} and len(after) == 3
    kept = {i for i, version in before.items() if version == "2"}
    assert set(after) & set(before) == kept  # the matching instance is skipped, the others replaced
    user_data = ec2.describe_instance_attribute(InstanceId=sorted(set(after) - kept)[0], Attribute="userData")
    assert user_data["UserData"]["Value"] == "djI="
    refreshes = autoscaling.describe_instance_refreshes(AutoScalingGroupName="refresh-test")["InstanceRefreshes"]
    assert [(r["InstanceRefreshId"], r["Status"], r["PercentageComplete"]) for r in refreshes] == [
        (started["InstanceRefreshId"], "Successful", 100)
    ]
    with pytest.raises(autoscaling.exceptions.ClientError, match="ActiveInstanceRefreshNotFound"):
        autoscaling.cancel_instance_refresh(AutoScalingGroupName="refresh-test")
    autoscaling.delete_auto_scaling_group(AutoScalingGroupName="refresh-test", ForceDelete=True)


def test_a_launch_templates_own_tags_stay_off_its_version_data(emulator):
    """Fix 16: CreateLaunchTemplate's TagSpecifications tag the template; the version data keeps
    only the tags it was given for the instances it launches."""
    ec2 = emulator.client("ec2")
    image = ec2.describe_images(Owners=["amazon"])["Images"][0]["ImageId"]
    instance_tags = {"ResourceType": "instance", "Tags": [{"Key": "Name", "Value": "web"}]}
    created = ec2.create_launch_template(
        LaunchTemplateName="fix16",
        LaunchTemplateData={"ImageId": image, "InstanceType": "t3.micro", "TagSpecifications": [instance_tags]},
        TagSpecifications=[{"ResourceType": "launch-template", "Tags": [{"Key": "Project", "Value": "fix16"}]}],
    )["LaunchTemplate"]
    assert created["Tags"] == [{"Key": "Project", "Value": "fix16"}]
    described = ec2.describe_launch_templates(LaunchTemplateNames=["fix16"])["LaunchTemplates"][0]
    assert described["Tags"] == [{"Key": "Project", "Value": "fix16"}]
    version = ec2.describe_launch_template_versions(LaunchTemplateName="fix16")["LaunchTemplateVersions"][0]
    assert version["LaunchTemplateData"]["TagSpecifications"] == [instance_tags]
    assert version["LaunchTemplateData"]["InstanceType"] == "t3.micro"
    ec2.delete_launch_template(LaunchTemplateId=created["LaunchTemplateId"])


def test_a_security_group_another_groups_rule_refers_to_is_not_deleted(emulator, network):
    """Fix 22: DependencyViolation while a rule of another group names it, in or out; its own
    rules naming itself do not hold it; deleted once the rules that name it are revoked."""
    from botocore.exceptions import ClientError

    ec2 = emulator.client("ec2")
    client, database, proxy = (
        ec2.create_security_group(GroupName=f"fix22-{name}", Description=name, VpcId=network["vpc"])["GroupId"]
        for name in ("client", "database", "proxy")
    )

    def naming(group_id: str, port: int) -> dict:
        return {"IpProtocol": "tcp", "FromPort": port, "ToPort": port, "UserIdGroupPairs": [{"GroupId": group_id}]}

    mysql_from_client, to_client = naming(client, 3306), naming(client, 80)
    ec2.authorize_security_group_ingress(GroupId=database, IpPermissions=[mysql_from_client])
    ec2.authorize_security_group_ingress(GroupId=client, IpPermissions=[naming(client, 80)])
    ec2.authorize_security_group_egress(GroupId=proxy, IpPermissions=[to_client])

    def delete_refused(group_id: str) -> str:
        with pytest.raises(ClientError) as refused:
            ec2.delete_security_group(GroupId=group_id)
        return refused.value.response["Error"]["Code"]

    assert delete_refused(client) == "DependencyViolation"
    ec2.revoke_security_group_ingress(GroupId=database, IpPermissions=[mysql_from_client])
    assert delete_refused(client) == "DependencyViolation"  # the proxy's egress still names it
    ec2.revoke_security_group_egress(GroupId=proxy, IpPermissions=[to_client])
    ec2.delete_security_group(GroupId=client)  # its own rule naming itself does not hold it
    for group_id in (database, proxy):
        ec2.delete_security_group(GroupId=group_id)
    left = ec2.describe_security_groups(Filters=[{"Name": "group-name", "Values": ["fix22-*"]}])["SecurityGroups"]
    assert left == []


def test_rds_endpoints_are_loopback_addresses_with_resource_ids_of_their_own(emulator):
    """Fix 12: an endpoint that reaches a server, one resource ID per instance, gp3's baseline."""
    rds = emulator.client("rds")
    described = []
    for name in ("fix-db-a", "fix-db-b"):
        rds.create_db_instance(
            DBInstanceIdentifier=name,
            Engine="mysql",
            DBInstanceClass="db.t3.micro",
            AllocatedStorage=20,
            StorageType="gp3",
            MasterUsername="admin1",
            MasterUserPassword="not-printed-anywhere",
        )
        described.append(rds.describe_db_instances(DBInstanceIdentifier=name)["DBInstances"][0])
    try:
        for db in described:
            address = db["Endpoint"]["Address"]
            assert address == database_address(db["DBInstanceIdentifier"], emulator.port)
            assert re.fullmatch(rf"127\.{port_octet(emulator.port)}\.252\.\d+", address)
            assert db["Endpoint"]["Port"] == 3306
            assert (db["StorageThroughput"], db["Iops"]) == (125, 3000)
            # Without a data plane nothing serves it, and moto's "available" stands.
            assert db["DBInstanceStatus"] == "available"
        assert described[0]["DbiResourceId"] != described[1]["DbiResourceId"]
    finally:
        for name in ("fix-db-a", "fix-db-b"):
            rds.delete_db_instance(DBInstanceIdentifier=name, SkipFinalSnapshot=True)


def test_without_a_data_plane_the_console_output_is_motos(emulator, network):
    """Fix 13 reads the data plane's boot log; without one, moto's sample text stands."""
    ec2 = emulator.client("ec2")
    image = ec2.describe_images(Owners=["amazon"])["Images"][0]["ImageId"]
    instance = ec2.run_instances(ImageId=image, MinCount=1, MaxCount=1)["Instances"][0]["InstanceId"]
    try:
        # botocore decodes the base64 Output itself.
        assert "Linux version" in ec2.get_console_output(InstanceId=instance)["Output"]
    finally:
        ec2.terminate_instances(InstanceIds=[instance])


def test_capacity_providers_are_listed_without_names(emulator):
    """Fix 14: DescribeCapacityProviders with no names lists every provider (moto alone answers HTTP 500)."""
    ecs = emulator.client("ecs")
    arn = "arn:aws:autoscaling:eu-north-1:123456789012:autoScalingGroup:0:autoScalingGroupName/cp-list-test"
    ecs.create_capacity_provider(name="cp-list-test", autoScalingGroupProvider={"autoScalingGroupArn": arn})
    try:
        assert "cp-list-test" in [p["name"] for p in ecs.describe_capacity_providers()["capacityProviders"]]
    finally:
        ecs.delete_capacity_provider(capacityProvider="cp-list-test")
    assert "cp-list-test" not in [p["name"] for p in ecs.describe_capacity_providers()["capacityProviders"]]


def push_image(registry: str, name: str, tag: str) -> None:
    """A tagged image of one config blob, pushed with the registry's HTTP API (as buildah pushes)."""
    config = json.dumps({"architecture": "amd64", "os": "linux", "rootfs": {"type": "layers", "diff_ids": []}})
    digest = "sha256:" + hashlib.sha256(config.encode()).hexdigest()
    with registry_api.request(f"http://{registry}/v2/{name}/blobs/uploads/", "POST") as answer:
        upload = answer.headers["Location"]
    upload = upload if upload.startswith("http") else f"http://{registry}{upload}"
    blob = f"{upload}{'&' if '?' in upload else '?'}digest={digest}"
    registry_api.request(blob, "PUT", config.encode(), {"Content-Type": "application/octet-stream"}).close()
    media_type = "application/vnd.oci.image.manifest.v1+json"
    manifest = {
        "schemaVersion": 2,
        "mediaType": media_type,
        "config": {"mediaType": "application/vnd.oci.image.config.v1+json", "digest": digest, "size": len(config)},
        "layers": [],
    }
    url = f"http://{registry}/v2/{name}/manifests/{tag}"
    registry_api.request(url, "PUT", json.dumps(manifest).encode(), {"Content-Type": media_type}).close()


def test_a_deleted_repository_takes_its_images_and_refuses_unless_forced(emulator):
    """Fix 15: the images are the registry's. DeleteRepository refuses a repository holding one unless
    forced, and then deletes its images too, so a new repository of the same name is empty (moto sees no
    image, deletes the repository, and leaves the images for the next one to find)."""
    ecr = emulator.client("ecr")
    uri = ecr.create_repository(repositoryName="fix-test/app")["repository"]["repositoryUri"]
    registry, name = uri.split("/", 1)
    push_image(registry, name, "v1")
    assert registry_api.tags(registry, name) == ["v1"]
    with pytest.raises(ecr.exceptions.RepositoryNotEmptyException):
        ecr.delete_repository(repositoryName="fix-test/app")
    assert registry_api.tags(registry, name) == ["v1"]
    ecr.delete_repository(repositoryName="fix-test/app", force=True)
    assert registry_api.tags(registry, name) == []
    ecr.create_repository(repositoryName="fix-test/app")
    try:
        assert registry_api.tags(registry, name) == []
    finally:
        ecr.delete_repository(repositoryName="fix-test/app")


def test_the_registry_holds_nothing_a_new_emulator_did_not_push(tmp_path):
    """Fix 15: the registry's images end with their emulator. A stopped emulator leaves none on disk,
    and one started after a crash (emulator and registry killed) starts with an empty registry."""
    local = start_local_aws(int(os.environ.get("DATAPLANE_REGISTRY_PORT", "5020")), dataplane=False)
    data = local.state_dir / "registry" / "data"
    try:
        uri = local.client("ecr").create_repository(repositoryName="fix-test/left")["repository"]["repositoryUri"]
        registry, name = uri.split("/", 1)
        push_image(registry, name, "v1")
        assert registry_api.tags(registry, name) == ["v1"] and data.is_dir()
        for pid_file in ("moto.pid", "registry.pid"):
            os.kill(int((local.state_dir / pid_file).read_text()), signal.SIGKILL)
        started = local.script("start", timeout=180)
        assert started.returncode == 0, started.stdout + started.stderr
        local.client("ecr").create_repository(repositoryName="fix-test/left")
        assert registry_api.tags(registry, name) == []
        push_image(registry, name, "v2")
    finally:
        local.stop()
    assert not data.exists()


@pytest.fixture(scope="module")
def slow_emulator():
    """The emulator alone with a latency profile (fix 17): ALBs provision for 4 s, RDS creates for 5 s."""
    local = start_local_aws(int(os.environ.get("DATAPLANE_SLOW_PORT", "5019")), dataplane=False, latency="alb=4,rds=5")
    yield local
    local.script("stop")


def test_with_a_latency_profile_load_balancers_and_databases_take_their_time(slow_emulator):
    """Fix 17: provisioning (targets initial) for 4 s, then active (moto's healthy); creating for 5 s."""
    ec2, elbv2, rds = (slow_emulator.client(name) for name in ("ec2", "elbv2", "rds"))
    vpc = ec2.create_vpc(CidrBlock="10.43.0.0/16")["Vpc"]["VpcId"]
    subnets = [
        ec2.create_subnet(VpcId=vpc, CidrBlock=f"10.43.{n}.0/24", AvailabilityZone=f"eu-north-1{zone}")
        for n, zone in ((1, "a"), (2, "b"))
    ]
    subnets = [subnet["Subnet"]["SubnetId"] for subnet in subnets]
    image = ec2.describe_images(Owners=["amazon"])["Images"][0]["ImageId"]
    instance = ec2.run_instances(ImageId=image, MinCount=1, MaxCount=1, SubnetId=subnets[0])["Instances"][0]
    created = time.monotonic()  # before both creates: what is seen before created + 4 s is young
    lb = elbv2.create_load_balancer(Name="slow-lb", Subnets=subnets)["LoadBalancers"][0]
    lb_created = time.monotonic()  # after its create: what is seen after lb_created + 4 s is not
    rds.create_db_instance(
        DBInstanceIdentifier="slow-db",
        Engine="mysql",
        DBInstanceClass="db.t3.micro",
        AllocatedStorage=20,
        MasterUsername="admin1",
        MasterUserPassword="not-printed-anywhere",
    )
    db_created = time.monotonic()
    group = elbv2.create_target_group(Name="slow-tg", Protocol="HTTP", Port=80, VpcId=vpc)["TargetGroups"][0]
    elbv2.create_listener(
        LoadBalancerArn=lb["LoadBalancerArn"],
        Protocol="HTTP",
        Port=80,
        DefaultActions=[{"Type": "forward", "TargetGroupArn": group["TargetGroupArn"]}],
    )
    elbv2.register_targets(TargetGroupArn=group["TargetGroupArn"], Targets=[{"Id": instance["InstanceId"], "Port": 80}])

    def seen():
        state = elbv2.describe_load_balancers(Names=["slow-lb"])["LoadBalancers"][0]["State"]["Code"]
        (health,) = elbv2.describe_target_health(TargetGroupArn=group["TargetGroupArn"])["TargetHealthDescriptions"]
        db = rds.describe_db_instances(DBInstanceIdentifier="slow-db")["DBInstances"][0]["DBInstanceStatus"]
        return state, health["TargetHealth"]["State"], db

    early = seen()
    assert time.monotonic() - created < 3.5, "the calls above took too long to see the profile"
    assert early == ("provisioning", "initial", "creating")
    time.sleep(max(0.0, lb_created + 4.1 - time.monotonic()))
    assert seen()[:2] == ("active", "healthy")
    time.sleep(max(0.0, db_created + 5.1 - time.monotonic()))
    assert seen() == ("active", "healthy", "available")
    assert seen()[2] == "available"  # and it stays so
    rds.delete_db_instance(DBInstanceIdentifier="slow-db", SkipFinalSnapshot=True)
    elbv2.delete_load_balancer(LoadBalancerArn=lb["LoadBalancerArn"])
