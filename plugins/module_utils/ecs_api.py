# Copyright: Contributors to the taskmanager.aws collection
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)

"""Thin wrappers of the ECS and ELBv2 calls of this collection's modules, and their waiters.

Every wrapper retries through the client's retry decorator (``aws_retry=True``; clients come
from ``module.client(..., retry_decorator=AWSRetry.jittered_backoff())``) and turns botocore
errors into ``AnsibleTaskmanagerAWSError`` through one handler (``errors.py``).
"""

from __future__ import annotations

from ansible_collections.amazon.aws.plugins.module_utils.waiter import BaseWaiterFactory, custom_waiter_config
from ansible_collections.taskmanager.aws.plugins.module_utils.ecs_capacity_provider import find_capacity_provider
from ansible_collections.taskmanager.aws.plugins.module_utils.errors import ECSErrorHandler, ELBv2ErrorHandler


@ECSErrorHandler.list_error_handler("describe capacity provider")
def describe_capacity_provider(client, name):
    """The live capacity provider called ``name`` (API shape), or None.

    Always by name: DescribeCapacityProviders without names lists every provider.
    """
    response = client.describe_capacity_providers(capacityProviders=[name], include=["TAGS"], aws_retry=True)
    return find_capacity_provider(response.get("capacityProviders"), name)


@ECSErrorHandler.common_error_handler("create capacity provider")
def create_capacity_provider(client, **params):
    return client.create_capacity_provider(aws_retry=True, **params)["capacityProvider"]


@ECSErrorHandler.common_error_handler("update capacity provider")
def update_capacity_provider(client, name, auto_scaling_group_provider):
    return client.update_capacity_provider(
        name=name, autoScalingGroupProvider=auto_scaling_group_provider, aws_retry=True
    )["capacityProvider"]


@ECSErrorHandler.common_error_handler("delete capacity provider (is it still attached to a cluster?)")
def delete_capacity_provider(client, name):
    client.delete_capacity_provider(capacityProvider=name, aws_retry=True)


@ECSErrorHandler.common_error_handler("wait for the capacity provider to be deleted")
def wait_capacity_provider_deleted(client, name, timeout):
    waiter = ECSWaiterFactory().get_waiter(client, "capacity_provider_deleted")
    waiter.wait(capacityProviders=[name], WaiterConfig=custom_waiter_config(timeout=timeout, default_pause=5))


@ECSErrorHandler.list_error_handler("describe cluster")
def describe_cluster(client, name):
    """The ACTIVE cluster called ``name`` with its settings and tags, or None."""
    response = client.describe_clusters(clusters=[name], include=["SETTINGS", "TAGS"], aws_retry=True)
    return next((c for c in response.get("clusters", []) if c.get("status") == "ACTIVE"), None)


@ECSErrorHandler.common_error_handler("update cluster settings")
def update_cluster_settings(client, name, settings):
    client.update_cluster(cluster=name, settings=settings, aws_retry=True)


@ECSErrorHandler.common_error_handler("tag ECS resource")
def tag_resource(client, arn, tags):
    client.tag_resource(resourceArn=arn, tags=tags, aws_retry=True)


@ECSErrorHandler.common_error_handler("untag ECS resource")
def untag_resource(client, arn, keys):
    client.untag_resource(resourceArn=arn, tagKeys=keys, aws_retry=True)


@ECSErrorHandler.list_error_handler("describe service")
def describe_service(client, cluster, name):
    """The service called ``name`` unless it is INACTIVE (deleted), or None."""
    services = client.describe_services(cluster=cluster, services=[name], aws_retry=True).get("services", [])
    return next((s for s in services if s.get("status") != "INACTIVE"), None)


@ECSErrorHandler.common_error_handler("list and describe the service's tasks")
def describe_service_tasks(client, cluster, service_name, desired_status="RUNNING"):
    """The service's tasks of that desired status (at most 100: one DescribeTasks call)."""
    arns = client.list_tasks(
        cluster=cluster, serviceName=service_name, desiredStatus=desired_status, aws_retry=True
    ).get("taskArns", [])
    if not arns:
        return []
    return client.describe_tasks(cluster=cluster, tasks=arns[:100], aws_retry=True).get("tasks", [])


@ECSErrorHandler.common_error_handler("describe container instances")
def describe_container_instances(client, cluster, arns):
    if not arns:
        return []
    return client.describe_container_instances(cluster=cluster, containerInstances=arns, aws_retry=True).get(
        "containerInstances", []
    )


@ELBv2ErrorHandler.common_error_handler("describe target health")
def describe_target_health(client, target_group_arn):
    return client.describe_target_health(TargetGroupArn=target_group_arn, aws_retry=True).get(
        "TargetHealthDescriptions", []
    )


class ECSWaiterFactory(BaseWaiterFactory):
    @property
    def _waiter_model_data(self):
        return {
            "capacity_provider_deleted": {
                "operation": "DescribeCapacityProviders",
                "delay": 5,
                "maxAttempts": 60,
                "acceptors": [
                    {
                        "state": "success",
                        "matcher": "path",
                        "argument": "length(capacityProviders[?status != 'INACTIVE']) == `0`",
                        "expected": True,
                    },
                    {
                        "state": "retry",
                        "matcher": "path",
                        "argument": "length(capacityProviders[?status != 'INACTIVE']) > `0`",
                        "expected": True,
                    },
                ],
            },
        }
