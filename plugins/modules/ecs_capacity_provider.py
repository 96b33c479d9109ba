#!/usr/bin/python

# Copyright: Contributors to the taskmanager.aws collection
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)

DOCUMENTATION = r"""
---
module: ecs_capacity_provider
version_added: 1.0.0
short_description: Manage Amazon ECS capacity providers backed by an Auto Scaling group
description:
  - Create, update and delete Amazon ECS capacity providers that use an EC2 Auto Scaling group.
  - An existing capacity provider is updated in place for what C(UpdateCapacityProvider) allows
    (O(managed_scaling), O(managed_termination_protection), O(managed_draining)) and its tags.
  - The Auto Scaling group of an existing capacity provider cannot be changed; the module fails
    with a clear message instead of replacing the capacity provider.
  - Only the options you give are compared, so AWS defaults never cause a change.
  - Attaching the capacity provider to a cluster is done with M(community.aws.ecs_cluster)
    (O(community.aws.ecs_cluster#module:capacity_providers)).
author:
  - taskmanager.aws contributors (!UNKNOWN)
options:
  name:
    description:
      - Name of the capacity provider. Names starting with V(aws), V(ecs) or V(fargate) are reserved by AWS.
    required: true
    type: str
  state:
    description:
      - V(present) creates or updates the capacity provider, V(absent) deletes it.
      - A capacity provider must be detached from every cluster (or the cluster deleted) before it can be deleted.
    choices: ['present', 'absent']
    default: present
    type: str
  auto_scaling_group_arn:
    description:
      - ARN (or name) of the Auto Scaling group that provides the capacity.
      - Required to create the capacity provider. Cannot be changed afterwards.
    type: str
  managed_scaling:
    description:
      - Managed scaling settings. Sub-options left out keep their current (or the AWS default) value.
    type: dict
    suboptions:
      status:
        description: Whether ECS manages the scale-in and scale-out of the Auto Scaling group.
        choices: ['ENABLED', 'DISABLED']
        type: str
      target_capacity:
        description: Target capacity utilization of the group, in percent (V(1) to V(100)).
        type: int
      minimum_scaling_step_size:
        description: Minimum number of instances added or removed at once (V(1) to V(10000)).
        type: int
      maximum_scaling_step_size:
        description: Maximum number of instances added or removed at once (V(1) to V(10000)).
        type: int
      instance_warmup_period:
        description: Seconds a new instance needs before it counts towards CloudWatch metrics (V(0) to V(10000)).
        type: int
  managed_termination_protection:
    description:
      - Whether ECS prevents the termination of instances that run tasks during scale-in.
      - V(ENABLED) requires managed scaling and scale-in protection on the Auto Scaling group.
    choices: ['ENABLED', 'DISABLED']
    type: str
  managed_draining:
    description:
      - Whether ECS drains container instances before the Auto Scaling group terminates them.
    choices: ['ENABLED', 'DISABLED']
    type: str
  tags:
    description:
      - Tags of the capacity provider. V(None) leaves the tags alone.
    type: dict
    aliases: ['resource_tags']
  purge_tags:
    description:
      - Remove tags that are not in O(tags). Only applies when O(tags) is given.
    type: bool
    default: true
  wait:
    description:
      - With O(state=absent), wait until AWS has finished deleting the capacity provider.
    type: bool
    default: true
  wait_timeout:
    description:
      - Seconds to wait with O(wait=true).
    type: int
    default: 300
notes:
  - Capacity providers are always described by name; the module never lists all of them.
  - A capacity provider in status V(INACTIVE) (deleted) counts as absent.
  - Supports check mode, and diff mode (C(--diff)) with the state before and after.
extends_documentation_fragment:
  - amazon.aws.common.modules
  - amazon.aws.region.modules
  - amazon.aws.boto3
"""

EXAMPLES = r"""
- name: Create a capacity provider with managed scaling for the container instance group
  taskmanager.aws.ecs_capacity_provider:
    name: taskmanager-ecs-cp
    auto_scaling_group_arn: "{{ asg.auto_scaling_group_arn }}"
    managed_scaling:
      status: ENABLED
      target_capacity: 100
      minimum_scaling_step_size: 1
      maximum_scaling_step_size: 2
      instance_warmup_period: 120
    managed_termination_protection: DISABLED
    tags:
      Project: taskmanager

- name: Lower the target capacity (updated in place)
  taskmanager.aws.ecs_capacity_provider:
    name: taskmanager-ecs-cp
    managed_scaling:
      target_capacity: 80

- name: Delete the capacity provider (detach it from its cluster first)
  taskmanager.aws.ecs_capacity_provider:
    name: taskmanager-ecs-cp
    state: absent
"""

RETURN = r"""
capacity_provider:
  description: The capacity provider after the change; empty with O(state=absent) once deleted.
  returned: always
  type: dict
  contains:
    capacity_provider_arn:
      description: ARN of the capacity provider.
      type: str
      sample: arn:aws:ecs:eu-north-1:123456789012:capacity-provider/taskmanager-ecs-cp
    name:
      description: Name of the capacity provider.
      type: str
      sample: taskmanager-ecs-cp
    status:
      description: V(ACTIVE) or V(INACTIVE).
      type: str
      sample: ACTIVE
    update_status:
      description: Status of the last update or delete.
      type: str
      sample: UPDATE_COMPLETE
    auto_scaling_group_provider:
      description: The Auto Scaling group settings.
      type: dict
      contains:
        auto_scaling_group_arn:
          description: ARN of the Auto Scaling group.
          type: str
        managed_scaling:
          description: Managed scaling settings (status, target_capacity, minimum_scaling_step_size,
            maximum_scaling_step_size, instance_warmup_period).
          type: dict
        managed_termination_protection:
          description: V(ENABLED) or V(DISABLED).
          type: str
        managed_draining:
          description: V(ENABLED) or V(DISABLED), when AWS reports it.
          type: str
    tags:
      description: Tags as a dict.
      type: dict
      sample: {"Project": "taskmanager"}
"""

from ansible.module_utils.common.dict_transformations import camel_dict_to_snake_dict

from ansible_collections.amazon.aws.plugins.module_utils.modules import AnsibleAWSModule
from ansible_collections.amazon.aws.plugins.module_utils.retries import AWSRetry
from ansible_collections.taskmanager.aws.plugins.module_utils.ecs_api import (
    create_capacity_provider,
    delete_capacity_provider,
    describe_capacity_provider,
    update_capacity_provider,
    wait_capacity_provider_deleted,
)
from ansible_collections.taskmanager.aws.plugins.module_utils.ecs_capacity_provider import (
    apply_update,
    build_auto_scaling_group_provider,
    diff_auto_scaling_group_provider,
    format_capacity_provider,
    validate_params,
)
from ansible_collections.taskmanager.aws.plugins.module_utils.ecs_tags import ecs_tag_list, ensure_ecs_tags
from ansible_collections.taskmanager.aws.plugins.module_utils.errors import AnsibleTaskmanagerAWSError


def format_result(provider):
    return format_capacity_provider(provider, camel_dict_to_snake_dict)


def create(client, module, desired):
    name = module.params["name"]
    if not desired.get("autoScalingGroupArn"):
        module.fail_json(msg=f"auto_scaling_group_arn is required to create capacity provider {name}")
    if module.check_mode:
        tags = ecs_tag_list(module.params["tags"])
        return {"name": name, "status": "ACTIVE", "autoScalingGroupProvider": desired, "tags": tags}
    kwargs = {"name": name, "autoScalingGroupProvider": desired}
    if module.params["tags"]:
        kwargs["tags"] = ecs_tag_list(module.params["tags"])
    create_capacity_provider(client, **kwargs)
    return describe_capacity_provider(client, name)


def update(client, module, current, desired):
    """Return (changed, provider)."""
    name = module.params["name"]
    changes, immutable = diff_auto_scaling_group_provider(desired, current.get("autoScalingGroupProvider"))
    if immutable:
        module.fail_json(msg="; ".join(immutable), capacity_provider=format_result(current))
    changed = False
    provider = current
    if changes:
        changed = True
        if module.check_mode:
            provider = dict(current)
            provider["autoScalingGroupProvider"] = apply_update(current.get("autoScalingGroupProvider"), changes)
        else:
            update_capacity_provider(client, name, changes)
    if ensure_ecs_tags(
        client,
        module,
        provider.get("capacityProviderArn"),
        provider.get("tags"),
        module.params["tags"],
        module.params["purge_tags"],
    ):
        changed = True
    if changed and not module.check_mode:
        provider = describe_capacity_provider(client, name)
    return changed, provider


def ensure_present(client, module, current):
    params = module.params
    errors = validate_params(params["managed_scaling"], params["managed_termination_protection"])
    if errors:
        module.fail_json(msg="; ".join(errors))
    desired = build_auto_scaling_group_provider(
        params["auto_scaling_group_arn"],
        params["managed_scaling"],
        params["managed_termination_protection"],
        params["managed_draining"],
    )
    if current is None:
        return True, create(client, module, desired)
    return update(client, module, current, desired)


def ensure_absent(client, module, current):
    if current is None:
        return False, None
    if module.check_mode:
        return True, None
    name = module.params["name"]
    delete_capacity_provider(client, name)
    if module.params["wait"]:
        wait_capacity_provider_deleted(client, name, module.params["wait_timeout"])
    return True, None


def main():
    managed_scaling_spec = {
        "status": {"type": "str", "choices": ["ENABLED", "DISABLED"]},
        "target_capacity": {"type": "int"},
        "minimum_scaling_step_size": {"type": "int"},
        "maximum_scaling_step_size": {"type": "int"},
        "instance_warmup_period": {"type": "int"},
    }
    argument_spec = {
        "name": {"type": "str", "required": True},
        "state": {"type": "str", "default": "present", "choices": ["present", "absent"]},
        "auto_scaling_group_arn": {"type": "str"},
        "managed_scaling": {"type": "dict", "options": managed_scaling_spec},
        "managed_termination_protection": {"type": "str", "choices": ["ENABLED", "DISABLED"]},
        "managed_draining": {"type": "str", "choices": ["ENABLED", "DISABLED"]},
        "tags": {"type": "dict", "aliases": ["resource_tags"]},
        "purge_tags": {"type": "bool", "default": True},
        "wait": {"type": "bool", "default": True},
        "wait_timeout": {"type": "int", "default": 300},
    }
    module = AnsibleAWSModule(argument_spec=argument_spec, supports_check_mode=True)
    client = module.client("ecs", retry_decorator=AWSRetry.jittered_backoff())

    try:
        current = describe_capacity_provider(client, module.params["name"])
        if module.params["state"] == "present":
            changed, provider = ensure_present(client, module, current)
        else:
            changed, provider = ensure_absent(client, module, current)
    except AnsibleTaskmanagerAWSError as e:
        module.fail_json_aws_error(e)

    result = {"changed": changed, "capacity_provider": format_result(provider)}
    if module._diff:
        result["diff"] = {"before": format_result(current), "after": result["capacity_provider"]}
    module.exit_json(**result)


if __name__ == "__main__":
    main()
