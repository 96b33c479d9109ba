# Copyright: contributors to the taskmanager.aws collection
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations

DOCUMENTATION = r"""
name: cidr_problems
author: taskmanager.aws maintainers
version_added: 1.0.0
short_description: List the problems of a VPC CIDR block and its subnet blocks
description:
  - Checks, without any AWS call, that a VPC CIDR and a list of subnet CIDRs are valid IPv4
    blocks within the sizes AWS allows (/16 to /28), that every subnet lies inside the VPC and
    that no two subnets overlap.
  - Returns a list of problems in plain words; an empty list means the input is valid.
options:
  _input:
    description: The VPC CIDR block.
    type: str
    required: true
  subnet_cidrs:
    description: The subnet CIDR blocks.
    type: list
    elements: str
    required: true
"""

EXAMPLES = r"""
- name: Refuse bad network input before any AWS call
  ansible.builtin.assert:
    that: __problems | length == 0
    fail_msg: "network_vpc_cidr: {{ __problems | join('; ') }}"
  vars:
    __problems: "{{ network_vpc_cidr | taskmanager.aws.cidr_problems(network_public_subnet_cidrs) }}"
"""

RETURN = r"""
_value:
  description: The problems found, one sentence each; empty when the input is valid.
  type: list
  elements: str
"""

from ansible_collections.taskmanager.aws.plugins.module_utils.cidr import cidr_problems


class FilterModule:
    """CIDR validation filters."""

    def filters(self):
        return {"cidr_problems": cidr_problems}
