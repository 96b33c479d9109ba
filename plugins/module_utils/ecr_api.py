# Copyright: Contributors to the taskmanager.aws collection
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)

"""Thin wrappers of the ECR calls of ``ecr_image``, each with one error handler (``errors.py``).

Clients come from ``module.client("ecr", retry_decorator=AWSRetry.jittered_backoff())``.
"""

from __future__ import annotations

from ansible_collections.taskmanager.aws.plugins.module_utils.errors import ECRErrorHandler


@ECRErrorHandler.list_error_handler("describe repository")
def describe_repository(client, name, registry_id=None):
    """The repository called ``name``, or None when it does not exist."""
    registry = {"registryId": registry_id} if registry_id else {}
    return client.describe_repositories(repositoryNames=[name], aws_retry=True, **registry)["repositories"][0]


@ECRErrorHandler.common_error_handler("get an authorization token")
def get_authorization_token(client, registry_id=None):
    """(token, proxy endpoint) of the registry."""
    registry = {"registryIds": [registry_id]} if registry_id else {}
    data = client.get_authorization_token(aws_retry=True, **registry)["authorizationData"][0]
    return data["authorizationToken"], data["proxyEndpoint"]


@ECRErrorHandler.common_error_handler("list the repository's tags")
def list_tags(client, arn):
    return {
        t["Key"]: t["Value"] for t in client.list_tags_for_resource(resourceArn=arn, aws_retry=True).get("tags", [])
    }


@ECRErrorHandler.common_error_handler("tag the repository")
def tag_resource(client, arn, tags):
    client.tag_resource(resourceArn=arn, tags=[{"Key": k, "Value": v} for k, v in tags.items()], aws_retry=True)


@ECRErrorHandler.common_error_handler("untag the repository")
def untag_resource(client, arn, keys):
    client.untag_resource(resourceArn=arn, tagKeys=keys, aws_retry=True)
