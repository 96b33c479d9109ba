#!/usr/bin/env python
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Print one JSON line about an Auto Scaling group for the stress role's scale watch.

    asg_metrics.py ASG_NAME REGION [PERIOD_SECONDS]

cpu: the group's average CPUUtilization (AWS/EC2, dimension AutoScalingGroupName) over the
newest datapoint of the last 10 minutes, or null when CloudWatch has none (the emulator never
has any); activities: the newest scaling activities. Neither amazon.aws nor community.aws has a
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


def main(argv):
    asg_name, region = argv[1], argv[2]
    period = int(argv[3]) if len(argv) > 3 else 60
    result = {"cpu": None, "activities": [], "errors": []}
    try:
        result["cpu"] = newest_cpu(boto3.client("cloudwatch", region_name=region), asg_name, period)
    except (BotoCoreError, ClientError) as error:
        result["errors"].append(f"cloudwatch: {error}")
    try:
        result["activities"] = newest_activities(boto3.client("autoscaling", region_name=region), asg_name)
    except (BotoCoreError, ClientError) as error:
        result["errors"].append(f"autoscaling: {error}")
    print(json.dumps(result))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
