# Copyright: Contributors to the taskmanager.aws collection
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)

"""Tags of ECS resources (lower-case ``key``/``value`` lists), shared by the ECS modules of this collection."""

from __future__ import annotations

from ansible_collections.amazon.aws.plugins.module_utils.tagging import (
    ansible_dict_to_boto3_tag_list,
    boto3_tag_list_to_ansible_dict,
    compare_aws_tags,
)
from ansible_collections.taskmanager.aws.plugins.module_utils.ecs_api import tag_resource, untag_resource


def ecs_tags_to_dict(tag_list):
    """ECS tag list (possibly missing, as the moto emulator omits an empty one) to a dict."""
    return boto3_tag_list_to_ansible_dict(tag_list or [], "key", "value")


def ecs_tag_list(tags):
    return ansible_dict_to_boto3_tag_list(tags or {}, "key", "value")


def ensure_ecs_tags(client, module, resource_arn, current_tag_list, tags, purge_tags):
    """Bring the tags of ``resource_arn`` to ``tags``; True when something changed (or would, in check mode).

    ``tags=None`` leaves the tags alone. ``client`` is a boto3 ECS client with a retry decorator;
    AWS errors raise ``AnsibleTaskmanagerAWSError`` (``errors.py``).
    """
    if tags is None:
        return False
    to_set, to_remove = compare_aws_tags(ecs_tags_to_dict(current_tag_list), tags, purge_tags)
    if not to_set and not to_remove:
        return False
    if module.check_mode:
        return True
    if to_remove:
        untag_resource(client, resource_arn, to_remove)
    if to_set:
        tag_resource(client, resource_arn, ecs_tag_list(to_set))
    return True
