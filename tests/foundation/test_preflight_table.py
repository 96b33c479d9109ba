"""Table-driven bad input: every case stops in playbooks/preflight.yml, before any AWS call.

All cases run in one ansible-playbook process, one inventory host per case (host vars = the case's
variables, strings where a user would type key=value), so the whole table takes seconds rather
than one playbook start-up per case. For each case the test asserts that the host failed and that
the message names the variable the user set. Requests reaching the emulator are counted in its
log: the static cases must make none at all (the preflight's only AWS call, the read-only
DescribeAvailabilityZones, comes after every static check), the region cases exactly one each,
and the account is the same before and after.
"""

from __future__ import annotations

import os
import re
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
import yaml
from conftest import aws_client
from taskmanager_tests.playbook import REPO, HostResult, run_host_cases

PLAYBOOK = Path(__file__).with_name("preflight_cases.yml")
X25, X33, X65 = "x" * 25, "a" * 33, "r" * 65
OWN_VPC = "vpc-0123456789abcdef0"
OWN_SUBNETS = ["subnet-0123456789abcdef0", "subnet-0123456789abcdef1"]

# (case id, the variables the user sets, the variable the message must name)
STATIC_CASES = [
    # shared inputs
    ("name-empty", {"taskmanager_name": ""}, "taskmanager_name"),
    ("name-too-long", {"taskmanager_name": X25}, "taskmanager_name"),
    ("name-upper-underscore", {"taskmanager_name": "Task_Manager"}, "taskmanager_name"),
    ("name-reserved-prefix", {"taskmanager_name": "ecs-stack"}, "taskmanager_name"),
    ("tags-string", {"taskmanager_tags": "Project=x"}, "taskmanager_tags"),
    ("tags-without-project", {"taskmanager_tags": {"Owner": "me"}}, "taskmanager_tags"),
    ("region-empty", {"taskmanager_aws_region": ""}, "taskmanager_aws_region"),
    ("region-malformed", {"taskmanager_aws_region": "EU_NORTH"}, "taskmanager_aws_region"),
    ("build-fleet-not-bool", {"taskmanager_build_fleet": "maybe"}, "taskmanager_build_fleet"),
    # network
    ("vpc-cidr", {"network_vpc_cidr": "10.0.0.0/33"}, "network_vpc_cidr"),
    ("subnet-cidrs-string", {"network_public_subnet_cidrs": "10.0.1.0/24"}, "network_public_subnet_cidrs"),
    (
        "subnet-outside-vpc",
        {"network_public_subnet_cidrs": ["10.0.1.0/24", "10.9.0.0/24"]},
        "network_public_subnet_cidrs",
    ),
    ("az-count-above-subnets", {"network_az_count": "3"}, "network_az_count"),
    ("az-count-zero", {"network_az_count": "0"}, "network_az_count"),
    ("az-pinned-too-few", {"network_availability_zones": ["eu-north-1a"]}, "network_availability_zones"),
    ("az-pinned-malformed", {"network_availability_zones": ["north", "south"]}, "network_availability_zones"),
    ("network-state", {"network_state": "gone"}, "network_state"),
    ("network-tags-no-project", {"network_tags": {"Owner": "me"}}, "network_tags"),
    # your own network (well-formed IDs here; tests/foundation/test_foundation_lookup.py checks them against AWS)
    ("own-vpc-malformed", {"network_vpc_id": "vpc-xyz", "network_public_subnet_ids": OWN_SUBNETS}, "network_vpc_id"),
    ("own-vpc-without-subnets", {"network_vpc_id": OWN_VPC}, "network_vpc_id / network_public_subnet_ids"),
    ("own-subnets-without-vpc", {"network_public_subnet_ids": OWN_SUBNETS}, "network_public_subnet_ids"),
    (
        "own-subnets-string",
        {"network_vpc_id": OWN_VPC, "network_public_subnet_ids": OWN_SUBNETS[0]},
        "network_public_subnet_ids",
    ),
    (
        "own-subnets-malformed",
        {"network_vpc_id": OWN_VPC, "network_public_subnet_ids": [OWN_SUBNETS[0], "sn-1"]},
        "network_public_subnet_ids",
    ),
    (
        "own-subnets-too-few",
        {"network_vpc_id": OWN_VPC, "network_public_subnet_ids": OWN_SUBNETS[:1]},
        "network_public_subnet_ids",
    ),
    (
        "own-subnets-twice",
        {"network_vpc_id": OWN_VPC, "network_public_subnet_ids": [OWN_SUBNETS[0], OWN_SUBNETS[0]]},
        "network_public_subnet_ids",
    ),
    # artifacts
    ("bucket-upper", {"artifacts_bucket_name": "Bad_Bucket"}, "artifacts_bucket_name"),
    ("bucket-short", {"artifacts_bucket_name": "ab"}, "artifacts_bucket_name"),
    ("bucket-dots", {"artifacts_bucket_name": "my..bucket"}, "artifacts_bucket_name"),
    ("bucket-prefix", {"artifacts_bucket_prefix": "Files"}, "artifacts_bucket_prefix"),
    (
        "package-missing",
        {"artifacts_upload_webapp": True, "artifacts_webapp_package": "/nonexistent/app.whl"},
        "artifacts_webapp_package",
    ),
    ("encryption-choice", {"artifacts_encryption": "DES"}, "artifacts_encryption"),
    ("kms-key", {"artifacts_kms_key_id": "not a key"}, "artifacts_kms_key_id"),
    ("versioning-not-bool", {"artifacts_versioning": "maybe"}, "artifacts_versioning"),
    ("webapp-prefix-space", {"artifacts_webapp_prefix": "web app/"}, "artifacts_webapp_prefix"),
    # iam
    ("ssm-path", {"iam_ssm_parameter_path": "no-slashes"}, "iam_ssm_parameter_path"),
    ("role-name-long", {"iam_role_name": X65}, "iam_role_name"),
    ("role-name-space", {"iam_role_name": "bad role"}, "iam_role_name"),
    ("profile-name-slash", {"iam_instance_profile_name": "bad/profile"}, "iam_instance_profile_name"),
    ("managed-policies-string", {"iam_managed_policies": "arn:aws:iam::aws:policy/X"}, "iam_managed_policies"),
    ("managed-policies-not-arn", {"iam_managed_policies": ["AdministratorAccess"]}, "iam_managed_policies"),
    # launch template
    ("ssh-from-anywhere", {"launch_template_admin_ssh_cidr": "0.0.0.0/0"}, "launch_template_admin_ssh_cidr"),
    ("ssh-cidr", {"launch_template_admin_ssh_cidr": "300.1.1.1/32"}, "launch_template_admin_ssh_cidr"),
    ("ssh-allow-any-not-bool", {"launch_template_admin_ssh_allow_any": "maybe"}, "launch_template_admin_ssh_allow_any"),
    ("template-name-short", {"launch_template_name": "ab"}, "launch_template_name"),
    ("web-sg-name", {"launch_template_security_group_name": "sg-web"}, "launch_template_security_group_name"),
    ("image-id", {"launch_template_image_id": "ami-xyz"}, "launch_template_image_id"),
    ("instance-type", {"launch_template_instance_type": "large"}, "launch_template_instance_type"),
    ("hop-limit", {"launch_template_imds_hop_limit": "65"}, "launch_template_imds_hop_limit"),
    ("volume-size", {"launch_template_volume_size": "0"}, "launch_template_volume_size"),
    ("http-port", {"launch_template_http_port": "0"}, "launch_template_http_port"),
    ("extra-sgs", {"launch_template_extra_security_group_ids": ["web"]}, "launch_template_extra_security_group_ids"),
    ("source-instance", {"launch_template_source_instance": {"id": "x"}}, "launch_template_source_instance"),
    ("imds-tokens", {"launch_template_imds_http_tokens": "maybe"}, "launch_template_imds_http_tokens"),
    ("webapp-env-key", {"launch_template_webapp_environment": {"BAD-NAME": "x"}}, "launch_template_webapp_environment"),
    # the fleet's load balancer
    ("alb-name-underscore", {"alb_name": "my_alb"}, "alb_name"),
    ("alb-name-long", {"alb_name": X33}, "alb_name"),
    ("alb-name-internal", {"alb_name": "internal-lb"}, "alb_name"),
    ("tg-name-hyphen", {"alb_target_group_name": "-tg"}, "alb_target_group_name"),
    ("alb-sg-name", {"alb_security_group_name": "sg-alb"}, "alb_security_group_name"),
    ("hc-interval", {"alb_health_check_interval": "1"}, "alb_health_check_interval"),
    ("hc-timeout-not-below-interval", {"alb_health_check_timeout": "30"}, "alb_health_check_timeout"),
    ("hc-healthy-threshold", {"alb_health_check_healthy_threshold": "11"}, "alb_health_check_healthy_threshold"),
    ("hc-matcher", {"alb_health_check_matcher": "abc"}, "alb_health_check_matcher"),
    ("hc-path", {"alb_health_check_path": "health"}, "alb_health_check_path"),
    ("target-port", {"alb_target_port": "70000"}, "alb_target_port"),
    ("deregistration-delay", {"alb_deregistration_delay": "4000"}, "alb_deregistration_delay"),
    ("ingress-cidr", {"alb_ingress_cidrs": ["203.0.113.0"]}, "alb_ingress_cidrs"),
    ("certificate-arn", {"alb_certificate_arn": "cert"}, "alb_certificate_arn"),
    ("idle-timeout", {"alb_idle_timeout": "0"}, "alb_idle_timeout"),
    # Auto Scaling
    ("min-above-desired", {"autoscaling_min_size": "3"}, "autoscaling_min_size"),
    ("max-zero", {"autoscaling_max_size": "0"}, "autoscaling_max_size"),
    ("cpu-target", {"autoscaling_cpu_target": "150"}, "autoscaling_cpu_target"),
    ("asg-name-colon", {"autoscaling_name": "a:b"}, "autoscaling_name"),
    ("grace-period", {"autoscaling_health_check_grace_period": "8000"}, "autoscaling_health_check_grace_period"),
    (
        "refresh-healthy-percentage",
        {"autoscaling_instance_refresh_min_healthy_percentage": "101"},
        "autoscaling_instance_refresh_min_healthy_percentage",
    ),
    ("scale-in-protection-not-bool", {"autoscaling_scale_in_protection": "maybe"}, "autoscaling_scale_in_protection"),
    ("template-version", {"autoscaling_launch_template_version": "latest"}, "autoscaling_launch_template_version"),
    # ECS
    ("ecs-container-port", {"ecs_ha_container_port": "70000"}, "ecs_ha_container_port"),
    ("ecs-hc-interval", {"ecs_ha_health_check_interval": "1"}, "ecs_ha_health_check_interval"),
    ("ecs-alb-name", {"ecs_ha_alb_name": "ecs_alb"}, "ecs_ha_alb_name"),
    ("ecs-tg-name-long", {"ecs_ha_target_group_name": X33}, "ecs_ha_target_group_name"),
    ("ecs-alb-sg-name", {"ecs_ha_alb_security_group_name": "sg-ecs"}, "ecs_ha_alb_security_group_name"),
    ("ecs-desired-count", {"ecs_ha_desired_count": "1"}, "ecs_ha_desired_count"),
    ("ecs-instance-type", {"ecs_ha_instance_type": "t3.nano"}, "ecs_ha_instance_type"),
    ("ecs-memory-too-large", {"ecs_ha_container_memory": "4096"}, "ecs_ha_container_memory"),
    ("ecs-log-retention", {"ecs_ha_log_retention_days": "10"}, "ecs_ha_log_retention_days"),
    ("ecs-capacity-provider", {"ecs_ha_capacity_provider_name": "ecs-cp"}, "ecs_ha_capacity_provider_name"),
    ("ecs-cluster-name", {"ecs_ha_cluster_name": "bad name"}, "ecs_ha_cluster_name"),
    (
        "ecs-target-capacity",
        {"ecs_ha_managed_scaling_target_capacity": "0"},
        "ecs_ha_managed_scaling_target_capacity",
    ),
    (
        "ecs-min-healthy",
        {"ecs_ha_deployment_minimum_healthy_percent": "50"},
        "ecs_ha_deployment_minimum_healthy_percent",
    ),
    ("ecs-hc-retries", {"ecs_ha_container_health_check_retries": "11"}, "ecs_ha_container_health_check_retries"),
    ("ecs-name", {"ecs_ha_name": "bad name"}, "ecs_ha_name"),
    ("ecs-image", {"ecs_ha_image": "bad image"}, "ecs_ha_image"),
    ("image-repository-upper", {"image_repository_name": "Task/WebApp"}, "image_repository_name"),
    ("image-base", {"image_base": "scratch"}, "image_base"),
    ("image-keep-zero", {"image_keep_images": "0"}, "image_keep_images"),
    ("image-debian-packages-string", {"image_debian_packages": "python3"}, "image_debian_packages"),
    ("ecs-task-role", {"ecs_ha_task_role_arn": "role"}, "ecs_ha_task_role_arn"),
    ("ecs-asg-min", {"ecs_ha_asg_min_size": "1"}, "ecs_ha_asg_min_size"),
    ("ecs-managed-scaling-not-bool", {"ecs_ha_managed_scaling": "maybe"}, "ecs_ha_managed_scaling"),
]

# They pass every static check; the region's Availability Zones (one read-only call) refuse them.
REGION_CASES = [
    ("region-unknown", {"taskmanager_aws_region": "eu-nowhere-9"}, "taskmanager_aws_region"),
    (
        "az-from-another-region",
        {"network_availability_zones": ["us-east-1a", "us-east-1b"]},
        "network_availability_zones",
    ),
]
# Every spelling of a boolean that Ansible users type, from YAML and from key=value -e: accepted.
BOOLEAN_FORMS = [True, False, "true", "True", "yes", "1", "false", "False", "no", "0"]
BOOLEAN_INPUTS = [
    "database_access_purge_rules",
    "taskmanager_build_fleet",
    "taskmanager_build_ecs",
    "artifacts_versioning",
    "launch_template_admin_ssh_allow_any",
    "launch_template_detailed_monitoring",
    "alb_drop_invalid_header_fields",
    "alb_deletion_protection",
    "autoscaling_reset_desired_capacity",
    "autoscaling_scale_in_protection",
    "autoscaling_wait_for_instances",
    "autoscaling_disable_scale_in",
    "autoscaling_instance_refresh",
    "ecs_ha_managed_scaling",
]


def run_cases(cases: list[tuple[str, dict, str | None]], tmp_path: Path) -> dict[str, HostResult]:
    """Run the preflight for all cases; return {case id: its HostResult}.

    ansible-playbook's main process is the bottleneck with many hosts, so the cases are split
    between two playbook runs side by side (one per core of the CI machine).
    """
    chunks = [cases[i::2] for i in range(2)]
    with ThreadPoolExecutor(max_workers=2) as pool:
        parts = pool.map(lambda pair: run_table(pair[1], tmp_path / f"cases{pair[0]}.yml"), enumerate(chunks))
    return {name: result for part in parts for name, result in part.items()}


def run_table(
    cases: list[tuple[str, dict, str | None]], inventory: Path, playbook: Path = PLAYBOOK
) -> dict[str, HostResult]:
    """One ansible-playbook run of a table of (case id, variables, expected) rows, one host each."""
    base = {
        # Only the package case looks for the wheel (a file system check, the slowest one).
        "artifacts_upload_webapp": False,
        "taskmanager_dist_dir": str(REPO / ".build/dist"),
    }
    # The stack's static inventory only: inventories/local also holds the fleet's aws_ec2 source,
    # which lists instances (one DescribeInstances) when Ansible loads it, before any play runs.
    return run_host_cases(
        playbook,
        {name: {**base, **variables} for name, variables, _expected in cases},
        inventory,
        env={"AWS_MAX_ATTEMPTS": "1"},
    )


def emulator_requests() -> int:
    """Requests the emulator has answered so far (one log line each)."""
    log = REPO / f".state/local-aws-{os.environ.get('LOCAL_AWS_PORT', '5555')}/moto.log"
    assert log.exists(), f"no emulator log at {log}: run through scripts/test-foundation.sh"
    return sum(1 for line in log.read_text().splitlines() if '"' in line and " HTTP/1.1" in line)


@pytest.fixture(scope="module")
def account(endpoint):
    """A snapshot of what the account holds, to compare before and after."""

    def client(service):
        return aws_client(service, endpoint)

    def snapshot():
        return {
            "vpcs": sorted(v["VpcId"] for v in client("ec2").describe_vpcs()["Vpcs"]),
            "security_groups": sorted(g["GroupId"] for g in client("ec2").describe_security_groups()["SecurityGroups"]),
            "buckets": sorted(b["Name"] for b in client("s3").list_buckets()["Buckets"]),
            "roles": sorted(r["RoleName"] for r in client("iam").list_roles()["Roles"]),
            "load_balancers": [
                b["LoadBalancerArn"] for b in client("elbv2").describe_load_balancers()["LoadBalancers"]
            ],
            "clusters": client("ecs").list_clusters()["clusterArns"],
        }

    return snapshot


def wait_for_log_quiet(previous: int) -> int:
    """The emulator writes its log line after answering: give it a moment to settle."""
    for _attempt in range(20):
        time.sleep(0.1)
        now = emulator_requests()
        if now == previous:
            return now
        previous = now
    return previous


def test_table_has_at_least_sixty_static_cases():
    assert len(STATIC_CASES) >= 60
    assert len({case[0] for case in STATIC_CASES}) == len(STATIC_CASES)


def test_every_static_case_fails_before_any_aws_call(tmp_path, account):
    before_state = account()
    before = wait_for_log_quiet(emulator_requests())
    started = time.monotonic()
    results = run_cases(STATIC_CASES, tmp_path)
    elapsed = time.monotonic() - started
    after = wait_for_log_quiet(emulator_requests())
    print(f"{len(STATIC_CASES)} static cases in {elapsed:.1f} s")
    problems = [
        f"{name}: {'passed' if not results[name].failed else 'message does not name ' + variable}: "
        f"{results[name].msg[:300]}"
        for name, _variables, variable in STATIC_CASES
        if not results[name].failed or variable not in results[name].msg
    ]
    assert not problems, "\n".join(problems)
    assert after - before == 0, f"the static cases made {after - before} AWS requests"
    assert account() == before_state


def test_region_cases_fail_on_the_one_read_only_call(tmp_path, account):
    # One host per spelling, every boolean input of site.yml's roles set to it.
    good = [(f"bool-{i}", dict.fromkeys(BOOLEAN_INPUTS, form), None) for i, form in enumerate(BOOLEAN_FORMS)]
    good.append(("defaults", {}, None))
    cases = REGION_CASES + good
    before_state = account()
    before = wait_for_log_quiet(emulator_requests())
    results = run_cases(cases, tmp_path)
    after = wait_for_log_quiet(emulator_requests())
    for name, _variables, variable in REGION_CASES:
        assert results[name].failed, f"{name} passed"
        assert variable in results[name].msg, f"{name}: {results[name].msg[:500]}"
    refused = {name: results[name].msg[:300] for name, _variables, _variable in good if results[name].failed}
    assert not refused, refused
    # One DescribeAvailabilityZones per case, nothing else.
    assert after - before == len(cases), f"{after - before} AWS requests for {len(cases)} cases"
    assert account() == before_state


# Checked by the argument spec alone: choices, a path only tasks_from render_user_data reads, the
# whole-spec inputs of the alb role (checked key by key through the table), and those of the
# launch_template and autoscaling roles (the ECS role's own table checks the variables behind them).
SPEC_ONLY = {
    "launch_template_user_data_file",
    "alb_spec",
    "alb_spec_var_names",
    "launch_template_spec",
    "launch_template_spec_var_names",
    "autoscaling_spec",
}
# Checked by a task of the role's validate.yml instead: the package exists (a file system check).
CHECKED_BY_TASK = {"artifacts_dist_dir", "artifacts_webapp_package"}


def test_every_argument_spec_option_has_a_rule():
    """Every option of every role site.yml applies has a check-table entry or argument-spec choices."""
    missing = []
    for role in (
        "network",
        "artifacts",
        "iam",
        "secrets",
        "database",
        "launch_template",
        "alb",
        "autoscaling",
        "image",
        "ecs_ha",
    ):
        options = yaml.safe_load((REPO / f"roles/{role}/meta/argument_specs.yml").read_text())["argument_specs"]
        table = (REPO / f"roles/{role}/vars/main.yml").read_text()
        named = {name for entry in re.findall(r"var: \"?([a-z_ /]+)", table) for name in entry.split(" / ")}
        # Names chosen in a template ('artifacts_bucket_name' if ... else ...) and the ECS load
        # balancer's inputs, which the alb table checks under these names (__ecs_ha_alb_var_names).
        named |= set(re.findall(r"'([a-z]+_[a-z_]+)'", table))
        named |= set(re.findall(r"^  [a-z_]+: (ecs_ha_[a-z_]+)$", table, re.M))
        named |= {f"alb_{key}" for key in re.findall(r"__alb_names\.([a-z_]+)", table)}
        missing += [
            name
            for name, spec in options["main"]["options"].items()
            if name not in named and "choices" not in spec and name not in SPEC_ONLY | CHECKED_BY_TASK
        ]
    assert not missing, f"options without a rule in their role's check table: {missing}"
