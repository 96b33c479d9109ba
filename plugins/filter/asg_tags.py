# Copyright: contributors to the taskmanager.aws collection
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations

DOCUMENTATION = r"""
name: asg_tags
author: taskmanager.aws maintainers
version_added: 1.0.0
short_description: Tags as amazon.aws.autoscaling_group wants them, sorted
description:
  - Turns a dict of tags into the list that M(amazon.aws.autoscaling_group) takes, each tag propagated to
    the instances the group launches, values as strings, sorted by key.
  - Sorted because the module reports a change on every run for tags in another order than AWS returns them.
options:
  _input:
    description: "The tags, C({key: value})."
    type: dict
    required: true
"""

EXAMPLES = r"""
- name: Create the group with its tags
  amazon.aws.autoscaling_group:
    name: TaskManagerASG
    tags: "{{ {'Project': 'taskmanager', 'Name': 'taskmanager-web'} | taskmanager.aws.asg_tags }}"
"""

RETURN = r"""
_value:
  description: "One C({key: value, propagate_at_launch: true}) per tag, sorted by key."
  type: list
  elements: dict
"""

from ansible_collections.taskmanager.aws.plugins.module_utils.autoscaling import asg_tags


class FilterModule:
    """Auto Scaling group tag filter."""

    def filters(self):
        return {"asg_tags": asg_tags}
