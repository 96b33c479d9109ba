# Copyright: Contributors to the taskmanager.aws collection
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)

"""Tags of ECS resources (lower-case ``key``/``value`` lists), shared by the ECS modules of this collection."""

from __future__ import annotations

try:  # noqa: SIM105 (the amazon.aws idiom; AnsibleAWSModule reports a missing botocore)
    import botocore
except ImportError:
    pass  # the modules using this fail through AnsibleAWSModule

from ansible_collections.amazon.aws.plugins.module_utils.tagging import (
    ansible_dict_to_boto3_tag_list,
    boto3_tag_list_to_ansible_dict,
    compare_aws_tags,
)


def ecs_tags_to_dict(tag_list):
    """ECS tag list (possibly missing, as the moto emulator omits an empty one) to a dict."""
    return boto3_tag_list_to_ansible_dict(tag_list or [], "key", "value")


def ecs_tag_list(tags):
    return ansible_dict_to_boto3_tag_list(tags or {}, "key", "value")


def ensure_ecs_tags(client, module, resource_arn, current_tag_list, tags, purge_tags):
    """Bring the tags of ``resource_arn`` to ``tags``; True when something changed (or would, in check mode).

    ``tags=None`` leaves the tags alone. ``client`` is a boto3 ECS client with a retry decorator.
    """
    if tags is None:
        return False
    to_set, to_remove = compare_aws_tags(ecs_tags_to_dict(current_tag_list), tags, purge_tags)
    if not to_set and not to_remove:
        return False
    if module.check_mode:
        return True
    try:
        if to_remove:
            client.untag_resource(resourceArn=resource_arn, tagKeys=to_remove, aws_retry=True)
        if to_set:
            client.tag_resource(resourceArn=resource_arn, tags=ecs_tag_list(to_set), aws_retry=True)
    except (botocore.exceptions.ClientError, botocore.exceptions.BotoCoreError) as e:
        module.fail_json_aws(e, msg=f"Couldn't update the tags of {resource_arn}")
    return True
