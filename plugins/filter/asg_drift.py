# Copyright: contributors to the taskmanager.aws collection
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations

DOCUMENTATION = r"""
name: asg_drift
author: taskmanager.aws maintainers
version_added: 1.0.0
short_description: The settings an existing Auto Scaling group does not have
description:
  - Compares the wanted settings of an Auto Scaling group with the group as M(amazon.aws.autoscaling_group_info)
    reads it, and returns the names of the settings that differ. No AWS call.
  - M(amazon.aws.autoscaling_group) reports a change for any existing group in check mode; calling it only when
    this list is not empty keeps C(--check) and re-runs at no change.
  - Known settings are C(min_size), C(max_size), C(desired_capacity), C(health_check_type),
    C(health_check_grace_period), C(default_cooldown), C(launch_template) (C(name:version)), C(subnets),
    C(target_group_arns), C(termination_policies), C(tags) (a dict; tags not propagated at launch differ), and
    C(metrics) (whether group metrics are collected). A setting left out, or null, is not compared.
options:
  _input:
    description: One result of M(amazon.aws.autoscaling_group_info); empty when the group does not exist (then
      every wanted setting is returned).
    type: dict
    required: true
  wanted:
    description: The wanted settings, by name.
    type: dict
    required: true
"""

EXAMPLES = r"""
- name: Update the group only where it differs
  amazon.aws.autoscaling_group:
    name: TaskManagerASG
    min_size: 1
    max_size: 3
  when: __drift | length > 0
  vars:
    __drift: "{{ group_info.results[0] | default({}) | taskmanager.aws.asg_drift({'min_size': 1, 'max_size': 3}) }}"
"""

RETURN = r"""
_value:
  description: The names of the settings that differ, in the order of the description.
  type: list
  elements: str
"""

from ansible_collections.taskmanager.aws.plugins.module_utils.autoscaling import asg_drift


class FilterModule:
    """Auto Scaling group drift filter."""

    def filters(self):
        return {"asg_drift": asg_drift}
