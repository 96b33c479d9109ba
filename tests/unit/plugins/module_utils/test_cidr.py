from __future__ import annotations

import pytest

from ansible_collections.taskmanager.aws.plugins.module_utils.cidr import cidr_problems, parse_ipv4_network


def test_valid_network_has_no_problems():
    assert cidr_problems("10.0.0.0/16", ["10.0.1.0/24", "10.0.2.0/24"]) == []


@pytest.mark.parametrize("value", ["10.0.0.0/33", "10.0.0.1/16", "300.0.0.0/16", "10.0.0.0", "", None, "fe80::/64"])
def test_invalid_cidrs_do_not_parse(value):
    assert parse_ipv4_network(value) is None


def test_invalid_vpc_cidr_is_named():
    problems = cidr_problems("10.0.0.0/33", ["10.0.1.0/24"])
    assert any("'10.0.0.0/33' is not a valid IPv4 CIDR" in p for p in problems)


def test_vpc_size_limits():
    assert any("/16 and /28" in p for p in cidr_problems("10.0.0.0/8", []))
    assert any("/16 and /28" in p for p in cidr_problems("10.0.0.0/29", []))


def test_subnet_outside_vpc():
    assert cidr_problems("10.0.0.0/16", ["10.1.0.0/24"]) == ["10.1.0.0/24 is not inside the VPC block 10.0.0.0/16"]


def test_overlapping_subnets():
    assert cidr_problems("10.0.0.0/16", ["10.0.1.0/24", "10.0.1.128/25"]) == ["10.0.1.128/25 overlaps 10.0.1.0/24"]
