#!/usr/bin/env python
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Print one JSON line about an Auto Scaling group for the stress role's scale watch.

    asg_metrics.py ASG_NAME [PERIOD_SECONDS]

cpu: the group's average CPUUtilization (AWS/EC2, dimension AutoScalingGroupName) over the
newest datapoint of the last 10 minutes, or null when CloudWatch has none (moto alone has none;
the local data plane publishes it); activities: the newest scaling activities; healthy: how many
of the group's InService instances are healthy in every target group of the group; policy: the
group's target-tracking policy on ASGAverageCPUUtilization (target, warm-up); period: the
monitoring period its launch template implies (60 s detailed, 300 s basic); health_check: the
first target group's interval, timeout and healthy threshold (for the expected scale-out time).
Neither amazon.aws nor community.aws has a
module for GetMetricStatistics or DescribeScalingActivities, hence this helper. Credentials,
region and endpoint come from the environment (the play's `environment:`).
"""

import datetime
import json
import sys

import boto3
from botocore.exceptions import BotoCoreError, ClientError


def newest_cpu(cloudwatch, asg_name, period):
    end = datetime.datetime.now(datetime.timezone.utc)  # noqa: UP017 - also runs on older Pythons
    response = cloudwatch.get_metric_statistics(
        Namespace="AWS/EC2",
        MetricName="CPUUtilization",
        Dimensions=[{"Name": "AutoScalingGroupName", "Value": asg_name}],
        StartTime=end - datetime.timedelta(minutes=10),
        EndTime=end,
        Period=period,
        Statistics=["Average"],
    )
    points = sorted(response.get("Datapoints", []), key=lambda point: point["Timestamp"])
    return round(points[-1]["Average"], 1) if points else None


def newest_activities(autoscaling, asg_name, count=3):
    response = autoscaling.describe_scaling_activities(AutoScalingGroupName=asg_name, MaxRecords=count)
    return [
        {
            "start_time": str(activity.get("StartTime", "")),
            "status": activity.get("StatusCode", ""),
            "description": activity.get("Description", ""),
        }
        for activity in response.get("Activities", [])
    ]


def group_details(autoscaling, ec2, elbv2, asg_name):
    """healthy, policy, period and health_check of the group (see the module docstring)."""
    details = {"healthy": None, "policy": None, "period": None, "health_check": None}
    groups = autoscaling.describe_auto_scaling_groups(AutoScalingGroupNames=[asg_name])["AutoScalingGroups"]
    if not groups:
        return details
    group = groups[0]
    in_service = {i["InstanceId"] for i in group.get("Instances", []) if i.get("LifecycleState") == "InService"}
    healthy = set(in_service)
    for arn in group.get("TargetGroupARNs", []):
        states = elbv2.describe_target_health(TargetGroupArn=arn)["TargetHealthDescriptions"]
        healthy &= {t["Target"]["Id"] for t in states if t["TargetHealth"]["State"] == "healthy"}
    details["healthy"] = len(healthy)
    for policy in autoscaling.describe_policies(AutoScalingGroupName=asg_name).get("ScalingPolicies", []):
        config = policy.get("TargetTrackingConfiguration") or {}
        if (config.get("PredefinedMetricSpecification") or {}).get(
            "PredefinedMetricType"
        ) == "ASGAverageCPUUtilization":
            details["policy"] = {
                "name": policy["PolicyName"],
                "target": config.get("TargetValue"),
                "warmup": policy.get("EstimatedInstanceWarmup", group.get("DefaultCooldown")),
            }
    template = group.get("LaunchTemplate") or {}
    if template.get("LaunchTemplateId") or template.get("LaunchTemplateName"):
        selector = (
            {"LaunchTemplateId": template["LaunchTemplateId"]}
            if template.get("LaunchTemplateId")
            else {"LaunchTemplateName": template["LaunchTemplateName"]}
        )
        versions = ec2.describe_launch_template_versions(Versions=[template.get("Version") or "$Default"], **selector)
        data = versions["LaunchTemplateVersions"][0]["LaunchTemplateData"] if versions["LaunchTemplateVersions"] else {}
        details["period"] = 60 if (data.get("Monitoring") or {}).get("Enabled") else 300
    if group.get("TargetGroupARNs"):
        target_group = elbv2.describe_target_groups(TargetGroupArns=group["TargetGroupARNs"][:1])["TargetGroups"][0]
        details["health_check"] = {
            "interval": target_group.get("HealthCheckIntervalSeconds"),
            "timeout": target_group.get("HealthCheckTimeoutSeconds"),
            "healthy_threshold": target_group.get("HealthyThresholdCount"),
        }
    return details


def main(argv):
    asg_name = argv[1]
    period = int(argv[2]) if len(argv) > 2 else 60
    result = {"cpu": None, "activities": [], "errors": [], "healthy": None, "policy": None, "period": None}
    try:
        result["cpu"] = newest_cpu(boto3.client("cloudwatch"), asg_name, period)
    except (BotoCoreError, ClientError) as error:
        result["errors"].append(f"cloudwatch: {error}")
    try:
        result["activities"] = newest_activities(boto3.client("autoscaling"), asg_name)
    except (BotoCoreError, ClientError) as error:
        result["errors"].append(f"autoscaling: {error}")
    try:
        result.update(
            group_details(
                boto3.client("autoscaling"),
                boto3.client("ec2"),
                boto3.client("elbv2"),
                asg_name,
            )
        )
    except (BotoCoreError, ClientError, KeyError, IndexError) as error:
        result["errors"].append(f"group: {error}")
    print(json.dumps(result, default=str))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
