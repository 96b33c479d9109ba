#!/usr/bin/python

# Copyright: Contributors to the taskmanager.aws collection
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)

DOCUMENTATION = r"""
---
module: ecs_cluster_settings
version_added: 1.0.0
short_description: Manage the settings (container insights) and tags of an existing Amazon ECS cluster
description:
  - Sets the C(containerInsights) cluster setting and the tags of an existing ECS cluster, which
    M(community.aws.ecs_cluster) cannot do.
  - M(community.aws.ecs_tag) could set the tags, but fails on a cluster without tags against the moto emulator,
    which omits the empty C(tags) key.
  - Create the cluster first with M(community.aws.ecs_cluster).
author:
  - taskmanager.aws contributors (!UNKNOWN)
options:
  cluster:
    description: Name or ARN of the cluster.
    required: true
    type: str
  container_insights:
    description:
      - V(enabled) or V(enhanced) turns CloudWatch Container Insights on, V(disabled) turns it off.
    required: true
    choices: ['enabled', 'disabled', 'enhanced']
    type: str
  tags:
    description:
      - Tags of the cluster. V(None) leaves the tags alone.
    type: dict
    aliases: ['resource_tags']
  purge_tags:
    description:
      - Remove tags that are not in O(tags). Only applies when O(tags) is given.
    type: bool
    default: true
notes:
  - Supports check mode, and diff mode (C(--diff)) with the state before and after.
extends_documentation_fragment:
  - amazon.aws.common.modules
  - amazon.aws.region.modules
  - amazon.aws.boto3
"""

EXAMPLES = r"""
- name: Turn container insights on
  taskmanager.aws.ecs_cluster_settings:
    cluster: taskmanager-ecs
    container_insights: enabled
    tags:
      Project: taskmanager
"""

RETURN = r"""
settings:
  description: The cluster settings after the change, as a dict of name to value.
  returned: always
  type: dict
  sample: {"containerInsights": "enabled"}
tags:
  description: The tags of the cluster after the change.
  returned: always
  type: dict
  sample: {"Project": "taskmanager"}
"""

from ansible_collections.amazon.aws.plugins.module_utils.modules import AnsibleAWSModule
from ansible_collections.amazon.aws.plugins.module_utils.retries import AWSRetry
from ansible_collections.taskmanager.aws.plugins.module_utils.ecs_api import describe_cluster, update_cluster_settings
from ansible_collections.taskmanager.aws.plugins.module_utils.ecs_tags import ecs_tags_to_dict, ensure_ecs_tags
from ansible_collections.taskmanager.aws.plugins.module_utils.errors import AnsibleTaskmanagerAWSError


def settings_of(cluster):
    return {s["name"]: s["value"] for s in cluster.get("settings") or []}


def ensure_settings(client, module):
    """(changed, before, after): the cluster's settings and tags before and after."""
    name = module.params["cluster"]
    wanted = module.params["container_insights"]
    cluster = describe_cluster(client, name)
    if cluster is None:
        module.fail_json(msg=f"Cluster {name} does not exist or is not ACTIVE; create it first")
    settings = settings_of(cluster)
    before = {"settings": dict(settings), "tags": ecs_tags_to_dict(cluster.get("tags"))}
    settings_changed = settings.get("containerInsights") != wanted
    if settings_changed and not module.check_mode:
        update_cluster_settings(client, name, [{"name": "containerInsights", "value": wanted}])
    tags_changed = ensure_ecs_tags(
        client, module, cluster["clusterArn"], cluster.get("tags"), module.params["tags"], module.params["purge_tags"]
    )
    changed = settings_changed or tags_changed
    if changed and not module.check_mode:
        cluster = describe_cluster(client, name)
        settings = settings_of(cluster)
    elif settings_changed:
        settings["containerInsights"] = wanted
    return changed, before, {"settings": settings, "tags": ecs_tags_to_dict(cluster.get("tags"))}


def main():
    argument_spec = {
        "cluster": {"type": "str", "required": True},
        "container_insights": {"type": "str", "required": True, "choices": ["enabled", "disabled", "enhanced"]},
        "tags": {"type": "dict", "aliases": ["resource_tags"]},
        "purge_tags": {"type": "bool", "default": True},
    }
    module = AnsibleAWSModule(argument_spec=argument_spec, supports_check_mode=True)
    client = module.client("ecs", retry_decorator=AWSRetry.jittered_backoff())
    try:
        changed, before, after = ensure_settings(client, module)
    except AnsibleTaskmanagerAWSError as e:
        module.fail_json_aws_error(e)
    result = dict(changed=changed, **after)
    if module._diff:
        result["diff"] = {"before": before, "after": after}
    module.exit_json(**result)


if __name__ == "__main__":
    main()
