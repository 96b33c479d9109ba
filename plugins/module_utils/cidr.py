# Copyright: contributors to the taskmanager.aws collection
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)

"""Pure CIDR checks for input validation (no AWS calls, no netaddr)."""

from __future__ import annotations

import ipaddress

# AWS limits for a VPC's primary IPv4 block and its subnets.
VPC_MIN_PREFIX = 16
VPC_MAX_PREFIX = 28


def parse_ipv4_network(value):
    """Return an IPv4Network for a strict CIDR string (host bits zero), or None."""
    if not isinstance(value, str) or "/" not in value:
        return None
    try:
        net = ipaddress.ip_network(value, strict=True)
    except ValueError:
        return None
    if net.version != 4:
        return None
    return net


def cidr_problems(vpc_cidr, subnet_cidrs):
    """Return a list of plain-language problems with a VPC CIDR and its subnet CIDRs.

    An empty list means the input is valid: every CIDR parses, the VPC block is within the
    sizes AWS allows, every subnet lies inside the VPC, and no two subnets overlap.
    """
    problems = []
    vpc = parse_ipv4_network(vpc_cidr)
    if vpc is None:
        problems.append(f"{vpc_cidr!r} is not a valid IPv4 CIDR block (example: 10.0.0.0/16)")
    elif not VPC_MIN_PREFIX <= vpc.prefixlen <= VPC_MAX_PREFIX:
        problems.append(f"{vpc_cidr} must have a prefix between /{VPC_MIN_PREFIX} and /{VPC_MAX_PREFIX}")

    if isinstance(subnet_cidrs, str):
        # Not character by character: one sentence that says what is wrong.
        problems.append(f"the subnet CIDRs must be a list such as [10.0.1.0/24, 10.0.2.0/24], not {subnet_cidrs!r}")
        return problems
    subnets = []
    for cidr in subnet_cidrs or []:
        net = parse_ipv4_network(cidr)
        if net is None:
            problems.append(f"{cidr!r} is not a valid IPv4 CIDR block (example: 10.0.1.0/24)")
            continue
        if not VPC_MIN_PREFIX <= net.prefixlen <= VPC_MAX_PREFIX:
            problems.append(f"{cidr} must have a prefix between /{VPC_MIN_PREFIX} and /{VPC_MAX_PREFIX}")
        if vpc is not None and not net.subnet_of(vpc):
            problems.append(f"{cidr} is not inside the VPC block {vpc_cidr}")
        for other in subnets:
            if net.overlaps(other):
                problems.append(f"{cidr} overlaps {other}")
        subnets.append(net)
    return problems
