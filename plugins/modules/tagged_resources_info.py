#!/usr/bin/python

# Copyright: Contributors to the taskmanager.aws collection
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)

DOCUMENTATION = r"""
---
module: tagged_resources_info
version_added: 1.0.0
short_description: List the ECS, ECR, RDS and SSM resources that carry a tag
description:
  - Lists, per kind, the resources of the region that carry the tag O(tag_key)=O(tag_value) and
    still exist - ECS clusters (ACTIVE), ECS capacity providers (ACTIVE), ECR repositories, RDS DB
    instances, RDS DB subnet groups and SSM parameters - and the ACTIVE task definition revisions
    of the families in O(task_definition_families) (task definitions are matched by family, since
    they are commonly registered untagged).
  - The teardown audit of the collection uses it; no amazon.aws or community.aws module lists these
    kinds by tag. Each kind is one line of the module's table (C(KINDS)).
  - Never changes anything.
author:
  - taskmanager.aws contributors (!UNKNOWN)
options:
  tag_key:
    description: Key of the tag that marks the resources.
    required: true
    type: str
  tag_value:
    description: Value of that tag.
    required: true
    type: str
  kinds:
    description: The kinds to list; empty lists every kind.
    type: list
    elements: str
    default: []
    choices: [ecs_cluster, ecs_capacity_provider, ecs_task_definition, ecr_repository, rds_db_instance,
              rds_db_subnet_group, ssm_parameter]
  task_definition_families:
    description: Task definition families whose ACTIVE revisions count as the project's.
    type: list
    elements: str
    default: []
notes:
  - Supports check mode.
extends_documentation_fragment:
  - amazon.aws.common.modules
  - amazon.aws.region.modules
  - amazon.aws.boto3
"""

EXAMPLES = r"""
- name: Find what a teardown left
  taskmanager.aws.tagged_resources_info:
    tag_key: Project
    tag_value: taskmanager
    task_definition_families: [taskmanager-ecs-webapp]
  register: left

- name: Fail on leftovers
  ansible.builtin.assert:
    that: left.resources | length == 0
    fail_msg: "Left: {{ left.resources | map(attribute='label') | join(', ') }}"
"""

RETURN = r"""
resources:
  description: The matching resources, by kind in the order of O(kinds), then by name.
  returned: always
  type: list
  elements: dict
  contains:
    kind:
      description: The kind, one of O(kinds).
      type: str
      sample: ecs_cluster
    name:
      description: The resource's name (a task definition as family:revision).
      type: str
      sample: taskmanager-ecs
    label:
      description: Kind and name for a message.
      type: str
      sample: ECS cluster taskmanager-ecs
"""

from ansible_collections.amazon.aws.plugins.module_utils.modules import AnsibleAWSModule
from ansible_collections.amazon.aws.plugins.module_utils.retries import AWSRetry
from ansible_collections.taskmanager.aws.plugins.module_utils.errors import AnsibleTaskmanagerAWSError, ListErrorHandler


def key_value(tags, key="Key", value="Value"):
    return {t[key]: t[value] for t in tags or []}


def pages(client, operation, result_key, **params):
    return client.get_paginator(operation).paginate(**params).build_full_result().get(result_key, [])


def ecs_clusters(client, params):
    arns = list(pages(client, "list_clusters", "clusterArns"))
    for start in range(0, len(arns), 100):
        described = client.describe_clusters(aws_retry=True, clusters=arns[start : start + 100], include=["TAGS"])
        for cluster in described.get("clusters", []):
            if cluster.get("status") == "ACTIVE":
                yield cluster["clusterName"], key_value(cluster.get("tags"), "key", "value")


def ecs_capacity_providers(client, params):
    token = None
    while True:
        page = client.describe_capacity_providers(
            aws_retry=True, include=["TAGS"], **({"nextToken": token} if token else {})
        )
        for provider in page.get("capacityProviders", []):
            if provider.get("status") == "ACTIVE":
                yield provider["name"], key_value(provider.get("tags"), "key", "value")
        token = page.get("nextToken")
        if not token:
            return


def ecs_task_definitions(client, params):
    for family in params["task_definition_families"]:
        for arn in pages(client, "list_task_definitions", "taskDefinitionArns", familyPrefix=family, status="ACTIVE"):
            name = arn.rsplit("/", 1)[-1]
            if name.rsplit(":", 1)[0] == family:
                yield name, None  # matched by family, not by tag


def ecr_repositories(client, params):
    for repo in pages(client, "describe_repositories", "repositories"):
        tags = client.list_tags_for_resource(aws_retry=True, resourceArn=repo["repositoryArn"]).get("tags")
        yield repo["repositoryName"], key_value(tags)


def rds_db_instances(client, params):
    for db in pages(client, "describe_db_instances", "DBInstances"):
        yield db["DBInstanceIdentifier"], key_value(db.get("TagList"))


def rds_db_subnet_groups(client, params):
    for group in pages(client, "describe_db_subnet_groups", "DBSubnetGroups"):
        tags = client.list_tags_for_resource(aws_retry=True, ResourceName=group["DBSubnetGroupArn"]).get("TagList")
        yield group["DBSubnetGroupName"], key_value(tags)


def ssm_parameters(client, params):
    wanted = [{"Key": f"tag:{params['tag_key']}", "Values": [params["tag_value"]]}]
    for parameter in pages(client, "describe_parameters", "Parameters", ParameterFilters=wanted):
        yield parameter["Name"], {params["tag_key"]: params["tag_value"]}


# kind: (label, boto3 service, lister). A lister yields (name, tags), tags None when the kind is
# matched otherwise (by family). Add a kind here, to the `kinds` choices, and to the docs.
KINDS = {
    "ecs_cluster": ("ECS cluster", "ecs", ecs_clusters),
    "ecs_capacity_provider": ("ECS capacity provider", "ecs", ecs_capacity_providers),
    "ecs_task_definition": ("ECS task definition", "ecs", ecs_task_definitions),
    "ecr_repository": ("ECR repository", "ecr", ecr_repositories),
    "rds_db_instance": ("RDS DB instance", "rds", rds_db_instances),
    "rds_db_subnet_group": ("RDS DB subnet group", "rds", rds_db_subnet_groups),
    "ssm_parameter": ("SSM parameter", "ssm", ssm_parameters),
}


@ListErrorHandler.common_error_handler("list the resources")
def matching(lister, client, params):
    """Names of one kind whose tag matches (or that the lister matched otherwise), sorted."""
    return sorted(
        name
        for name, tags in lister(client, params)
        if tags is None or tags.get(params["tag_key"]) == params["tag_value"]
    )


def find(module, kinds):
    params = module.params
    clients = {}
    found = []
    for kind in kinds:
        label, service, lister = KINDS[kind]
        if service not in clients:
            clients[service] = module.client(service, retry_decorator=AWSRetry.jittered_backoff())
        try:
            matches = matching(lister, clients[service], params)
        except AnsibleTaskmanagerAWSError as e:
            module.fail_json_aws_error(
                AnsibleTaskmanagerAWSError(message=f"Failed to list the {label}s", exception=e.exception)
            )
        found.extend({"kind": kind, "name": name, "label": f"{label} {name}"} for name in matches)
    return found


def main():
    module = AnsibleAWSModule(
        argument_spec=dict(
            tag_key=dict(type="str", required=True, no_log=False),
            tag_value=dict(type="str", required=True),
            kinds=dict(type="list", elements="str", default=[], choices=list(KINDS)),
            task_definition_families=dict(type="list", elements="str", default=[]),
        ),
        supports_check_mode=True,
    )
    kinds = module.params["kinds"] or list(KINDS)
    module.exit_json(changed=False, resources=find(module, kinds))


if __name__ == "__main__":
    main()
