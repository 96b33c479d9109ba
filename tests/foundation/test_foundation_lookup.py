"""Your own VPC and subnets checked against AWS, and the foundation looked up for --tags fleet.

- Every bad case of your own network (a VPC that does not exist, a subnet of another VPC,
  subnets in one AZ, a subnet without public addresses or without a route to an internet
  gateway) stops in the network role, the first role that touches AWS, with a message naming the
  variable, and creates nothing. All cases run in one ansible-playbook process (one host each).
- site.yml itself stops there too, before anything is built.
- `site.yml --tags fleet` on an account without the foundation fails with a message that says
  so, and builds nothing, with the network built by the collection and with your own.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from conftest import aws_client, run_playbook
from test_preflight_table import run_table

CASES_PLAYBOOK = Path(__file__).with_name("network_cases.yml")
MISSING_VPC = "vpc-0123456789abcdef0"
MISSING_SUBNET = "subnet-0123456789abcdef0"
NO_FOUNDATION = "The foundation does not exist yet: run site.yml without --tags, or with --tags foundation"


@pytest.fixture(scope="module")
def own(endpoint):
    """Two VPCs of 'yours', built with boto3 as a user would have: subnets good and bad."""
    ec2 = aws_client("ec2", endpoint)
    made = {"vpcs": [], "igws": []}

    def subnet(vpc, cidr, az, public=True):
        subnet_id = ec2.create_subnet(VpcId=vpc, CidrBlock=cidr, AvailabilityZone=az)["Subnet"]["SubnetId"]
        if public:
            ec2.modify_subnet_attribute(SubnetId=subnet_id, MapPublicIpOnLaunch={"Value": True})
        return subnet_id

    vpc = ec2.create_vpc(CidrBlock="10.50.0.0/16")["Vpc"]["VpcId"]
    other_vpc = ec2.create_vpc(CidrBlock="10.60.0.0/16")["Vpc"]["VpcId"]
    made["vpcs"] += [vpc, other_vpc]
    igw = ec2.create_internet_gateway()["InternetGateway"]["InternetGatewayId"]
    made["igws"].append(igw)
    ec2.attach_internet_gateway(InternetGatewayId=igw, VpcId=vpc)
    public = ec2.create_route_table(VpcId=vpc)["RouteTable"]["RouteTableId"]
    ec2.create_route(RouteTableId=public, DestinationCidrBlock="0.0.0.0/0", GatewayId=igw)
    ids = {
        "a": subnet(vpc, "10.50.1.0/24", "eu-north-1a"),
        "b": subnet(vpc, "10.50.2.0/24", "eu-north-1b"),
        "a_again": subnet(vpc, "10.50.3.0/24", "eu-north-1a"),
        "b_no_public_ip": subnet(vpc, "10.50.4.0/24", "eu-north-1b", public=False),
        "b_no_route": subnet(vpc, "10.50.5.0/24", "eu-north-1b"),
        "other_vpc_b": subnet(other_vpc, "10.60.2.0/24", "eu-north-1b"),
    }
    for name in ("a", "b", "a_again", "b_no_public_ip"):
        ec2.associate_route_table(RouteTableId=public, SubnetId=ids[name])
    # b_no_route keeps the VPC's main route table, which has no default route.
    yield {"vpc": vpc, "other_vpc": other_vpc, **ids}
    for association in ec2.describe_route_tables(RouteTableIds=[public])["RouteTables"][0]["Associations"]:
        ec2.disassociate_route_table(AssociationId=association["RouteTableAssociationId"])
    for subnet_id in ids.values():
        ec2.delete_subnet(SubnetId=subnet_id)
    ec2.delete_route_table(RouteTableId=public)
    ec2.detach_internet_gateway(InternetGatewayId=igw, VpcId=vpc)
    ec2.delete_internet_gateway(InternetGatewayId=igw)
    for vpc_id in made["vpcs"]:
        ec2.delete_vpc(VpcId=vpc_id)


@pytest.fixture
def account(endpoint):
    """What the account holds that the stack would create, to compare before and after."""

    def snapshot():
        ec2 = aws_client("ec2", endpoint)
        return {
            "vpcs": sorted(v["VpcId"] for v in ec2.describe_vpcs()["Vpcs"]),
            "subnets": sorted(s["SubnetId"] for s in ec2.describe_subnets()["Subnets"]),
            "security_groups": sorted(g["GroupId"] for g in ec2.describe_security_groups()["SecurityGroups"]),
            "route_tables": sorted(t["RouteTableId"] for t in ec2.describe_route_tables()["RouteTables"]),
            "buckets": sorted(b["Name"] for b in aws_client("s3", endpoint).list_buckets()["Buckets"]),
            "roles": sorted(r["RoleName"] for r in aws_client("iam", endpoint).list_roles()["Roles"]),
            "parameters": sorted(p["Name"] for p in aws_client("ssm", endpoint).describe_parameters()["Parameters"]),
            "databases": [
                d["DBInstanceIdentifier"] for d in aws_client("rds", endpoint).describe_db_instances()["DBInstances"]
            ],
        }

    return snapshot


def _cases(own):
    """(case id, variables, what the message must contain), each naming the variable to change."""
    vpc = own["vpc"]
    return [
        (
            "missing-vpc",
            {"network_vpc_id": MISSING_VPC, "network_public_subnet_ids": [own["a"], own["b"]]},
            f"network_vpc_id: there is no VPC {MISSING_VPC}",
        ),
        (
            "missing-subnet",
            {"network_vpc_id": vpc, "network_public_subnet_ids": [own["a"], MISSING_SUBNET]},
            f"network_public_subnet_ids: there is no subnet {MISSING_SUBNET}",
        ),
        (
            "subnet-of-another-vpc",
            {"network_vpc_id": vpc, "network_public_subnet_ids": [own["a"], own["other_vpc_b"]]},
            f"network_public_subnet_ids: {own['other_vpc_b']} is in {own['other_vpc']}, not in network_vpc_id {vpc}",
        ),
        (
            "one-az",
            {"network_vpc_id": vpc, "network_public_subnet_ids": [own["a"], own["a_again"]]},
            "network_public_subnet_ids: give one subnet per Availability Zone",
        ),
        (
            "no-public-ip",
            {"network_vpc_id": vpc, "network_public_subnet_ids": [own["a"], own["b_no_public_ip"]]},
            f"network_public_subnet_ids: {own['b_no_public_ip']} does not give instances a public IPv4 address",
        ),
        (
            "no-route",
            {"network_vpc_id": vpc, "network_public_subnet_ids": [own["a"], own["b_no_route"]]},
            f"network_public_subnet_ids: {own['b_no_route']} has no route 0.0.0.0/0 to an internet gateway",
        ),
        (
            "pinned-azs-differ",
            {
                "network_vpc_id": vpc,
                "network_public_subnet_ids": [own["a"], own["b"]],
                "network_availability_zones": ["eu-north-1a", "eu-north-1c"],
            },
            "network_availability_zones: eu-north-1a, eu-north-1c are not the Availability Zones of",
        ),
    ]


def test_bad_own_network_fails_naming_the_variable_and_creates_nothing(own, account, tmp_path):
    cases = _cases(own)
    # Good: your order is kept, and the AZ list follows it.
    good = {"network_vpc_id": own["vpc"], "network_public_subnet_ids": [own["b"], own["a"]]}
    before = account()
    results = run_table([*cases, ("good", good, None)], tmp_path / "cases.yml", CASES_PLAYBOOK)
    problems = [
        f"{name}: {'lacks ' + repr(expected) if results[name].failed else 'passed'}: {results[name].msg[:400]}"
        for name, _variables, expected in cases
        if not results[name].failed or expected not in results[name].msg
    ]
    assert not problems, "\n".join(problems)
    assert not results["good"].failed, results["good"].msg
    assert account() == before


def test_site_stops_at_a_bad_own_network_before_building_anything(own, account, endpoint):
    before = account()
    bad = f'{{"network_vpc_id": "{own["vpc"]}", "network_public_subnet_ids": ["{own["a"]}", "{own["a_again"]}"]}}'
    run = run_playbook("site.yml", "-e", bad, endpoint=endpoint)
    assert run.rc != 0, run.output[-3000:]
    assert "network_public_subnet_ids: give one subnet per Availability Zone" in run.output, run.output[-3000:]
    assert account() == before


@pytest.mark.parametrize("network", ["built", "yours"])
def test_tags_fleet_without_the_foundation_fails_clearly(own, account, endpoint, network):
    extra = []
    if network == "yours":
        extra = [
            "-e",
            f'{{"network_vpc_id": "{own["vpc"]}", "network_public_subnet_ids": ["{own["a"]}", "{own["b"]}"]}}',
        ]
    before = account()
    run = run_playbook("site.yml", "--tags", "fleet", *extra, endpoint=endpoint)
    assert run.rc != 0, run.output[-3000:]
    assert NO_FOUNDATION in " ".join(run.output.split()), run.output[-3000:]
    assert "the instance profile TaskManagerInstanceProfile" in " ".join(run.output.split()), run.output[-3000:]
    assert ("the VPC taskmanager-vpc" in run.output) == (network == "built")
    assert not run.deprecations, run.deprecations
    assert account() == before
