#!/usr/bin/python

# Copyright: Contributors to the taskmanager.aws collection
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)

DOCUMENTATION = r"""
---
module: ecs_capacity_provider_info
version_added: 1.0.0
short_description: Describe Amazon ECS capacity providers by name
description:
  - Returns the named ECS capacity providers that exist (status V(ACTIVE)); names that do not exist are left out.
  - Never changes anything.
author:
  - taskmanager.aws contributors (!UNKNOWN)
options:
  names:
    description:
      - Names (or ARNs) of the capacity providers to describe, at least one; the module never lists all
        capacity providers of the account.
    required: true
    type: list
    elements: str
notes:
  - Supports check mode.
extends_documentation_fragment:
  - amazon.aws.common.modules
  - amazon.aws.region.modules
  - amazon.aws.boto3
"""

EXAMPLES = r"""
- name: Describe the capacity provider of the ECS service
  taskmanager.aws.ecs_capacity_provider_info:
    names:
      - taskmanager-ecs-cp
  register: cp_info

- name: Check that managed scaling is on
  ansible.builtin.assert:
    that: cp_info.capacity_providers[0].auto_scaling_group_provider.managed_scaling.status == 'ENABLED'
"""

RETURN = r"""
capacity_providers:
  description: The capacity providers found, in the order of O(names), in the shape that
    M(taskmanager.aws.ecs_capacity_provider) returns (snake_case keys, tags as a dict).
  returned: always
  type: list
  elements: dict
  sample:
    - name: taskmanager-ecs-cp
      status: ACTIVE
      capacity_provider_arn: arn:aws:ecs:eu-north-1:123456789012:capacity-provider/taskmanager-ecs-cp
      auto_scaling_group_provider:
        auto_scaling_group_arn: arn:aws:autoscaling:eu-north-1:123456789012:autoScalingGroup:...
        managed_scaling: {"status": "ENABLED", "target_capacity": 100}
        managed_termination_protection: DISABLED
      tags: {"Project": "taskmanager"}
"""

from ansible.module_utils.common.dict_transformations import camel_dict_to_snake_dict

from ansible_collections.amazon.aws.plugins.module_utils.modules import AnsibleAWSModule
from ansible_collections.amazon.aws.plugins.module_utils.retries import AWSRetry
from ansible_collections.taskmanager.aws.plugins.module_utils.ecs_api import describe_capacity_provider
from ansible_collections.taskmanager.aws.plugins.module_utils.ecs_capacity_provider import format_capacity_provider
from ansible_collections.taskmanager.aws.plugins.module_utils.errors import AnsibleTaskmanagerAWSError


def main():
    argument_spec = {"names": {"type": "list", "elements": "str", "required": True}}
    module = AnsibleAWSModule(argument_spec=argument_spec, supports_check_mode=True)
    if not module.params["names"]:
        module.fail_json(msg="names must list at least one capacity provider")
    client = module.client("ecs", retry_decorator=AWSRetry.jittered_backoff())
    try:
        providers = [describe_capacity_provider(client, name) for name in module.params["names"]]
    except AnsibleTaskmanagerAWSError as e:
        module.fail_json_aws_error(e)
    module.exit_json(
        changed=False,
        capacity_providers=[format_capacity_provider(p, camel_dict_to_snake_dict) for p in providers if p],
    )


if __name__ == "__main__":
    main()
