# Copyright: contributors to the taskmanager.aws collection
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations

DOCUMENTATION = r"""
name: input_problems
author: taskmanager.aws maintainers
version_added: 1.0.0
short_description: List the problems of role inputs checked against AWS rules
description:
  - Checks, without any AWS call, a list of inputs, each naming the variable the user sets, its value
    and its rules (type, whole-string pattern, forbidden pattern, integer bounds, choices, list elements,
    a precomputed cross-field truth value).
  - Returns one sentence per invalid variable, starting with the variable's name; an empty list means
    every input is valid.
options:
  _input:
    description:
      - The checks. Each is a dict with V(var), V(value) and any of V(type) (V(str), V(int), V(bool),
        V(dict), V(list)), V(pattern), V(not_pattern), V(min), V(max), V(choices), V(elements), V(ok)
        and V(rule) (the rule in plain words, used in the message).
    type: list
    elements: dict
    required: true
"""

EXAMPLES = r"""
- name: Refuse a bad load balancer name before any AWS call
  ansible.builtin.assert:
    that: __problems | length == 0
    fail_msg: "{{ __problems | join('; ') }}"
  vars:
    __problems: >-
      {{ [{'var': 'alb_name', 'value': alb_name, 'pattern': '[a-zA-Z0-9]([a-zA-Z0-9-]{0,30}[a-zA-Z0-9])?',
           'rule': '1-32 letters, digits or hyphens'}] | taskmanager.aws.input_problems }}
"""

RETURN = r"""
_value:
  description: The problems found, one sentence per variable, each starting with its name.
  type: list
  elements: str
"""

from ansible_collections.taskmanager.aws.plugins.module_utils.inputs import input_problems


class FilterModule:
    """Input validation filters."""

    def filters(self):
        return {"input_problems": input_problems}
