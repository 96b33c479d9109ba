#!/usr/bin/python

# Copyright: Contributors to the taskmanager.aws collection
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)

DOCUMENTATION = r"""
---
module: ecr_repository_info
version_added: 1.0.0
short_description: List Amazon ECR repositories with their tags
description:
  - Lists the ECR repositories of the registry, each with its URI, ARN and tags, so that a teardown
    audit can find the repositories that carry a tag.
  - community.aws has no ECR info module (M(community.aws.ecs_ecr) manages one named repository).
  - Never changes anything.
author:
  - taskmanager.aws contributors (!UNKNOWN)
options:
  registry_id:
    description: AWS account ID of the registry. The caller's account when not given.
    type: str
notes:
  - Supports check mode.
extends_documentation_fragment:
  - amazon.aws.common.modules
  - amazon.aws.region.modules
  - amazon.aws.boto3
"""

EXAMPLES = r"""
- name: Find the repositories of the project
  taskmanager.aws.ecr_repository_info:
  register: ecr

- name: Show those tagged Project=taskmanager
  ansible.builtin.debug:
    msg: "{{ ecr.repositories | selectattr('tags.Project', 'defined') | map(attribute='name') }}"
"""

RETURN = r"""
repositories:
  description: The repositories, sorted by name.
  returned: always
  type: list
  elements: dict
  sample:
    - name: taskmanager/webapp
      uri: 123456789012.dkr.ecr.eu-north-1.amazonaws.com/taskmanager/webapp
      arn: arn:aws:ecr:eu-north-1:123456789012:repository/taskmanager/webapp
      tags: {"Project": "taskmanager"}
"""

try:  # noqa: SIM105 (the amazon.aws idiom; AnsibleAWSModule reports a missing botocore)
    import botocore
except ImportError:
    pass  # handled by AnsibleAWSModule

from ansible_collections.amazon.aws.plugins.module_utils.modules import AnsibleAWSModule
from ansible_collections.amazon.aws.plugins.module_utils.retries import AWSRetry


def main():
    module = AnsibleAWSModule(argument_spec={"registry_id": {"type": "str"}}, supports_check_mode=True)
    ecr = module.client("ecr", retry_decorator=AWSRetry.jittered_backoff())
    registry = {"registryId": module.params["registry_id"]} if module.params["registry_id"] else {}
    repositories = []
    try:
        for page in ecr.get_paginator("describe_repositories").paginate(**registry):
            for repository in page.get("repositories", []):
                tags = ecr.list_tags_for_resource(aws_retry=True, resourceArn=repository["repositoryArn"])
                repositories.append(
                    {
                        "name": repository["repositoryName"],
                        "uri": repository["repositoryUri"],
                        "arn": repository["repositoryArn"],
                        "tags": {t["Key"]: t["Value"] for t in tags.get("tags", [])},
                    }
                )
    except (botocore.exceptions.ClientError, botocore.exceptions.BotoCoreError) as e:
        module.fail_json_aws(e, msg="Couldn't list the ECR repositories")
    module.exit_json(changed=False, repositories=sorted(repositories, key=lambda r: r["name"]))


if __name__ == "__main__":
    main()
