#!/usr/bin/python

# Copyright: Contributors to the taskmanager.aws project
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)

DOCUMENTATION = r"""
---
module: instance_spread
version_added: 1.0.0
short_description: Measure how a load balancer spreads requests over the instances or tasks behind it
description:
  - Sends O(requests) HTTP GET requests with O(concurrency) workers to O(url) (typically the
    ALB's C(/instance) path) and finds out from each answer which EC2 instance or ECS task
    answered, from a JSON field or with a regular expression.
  - Reports the count per ID and per Availability Zone, errors by kind with a few samples, latency
    percentiles, requests per second, each ID's share against a fair share and a text summary.
  - Judges the spread against O(min_distinct), O(expected_ids) or the healthy targets of
    O(target_group_arn), O(max_error_rate), a chi-square balance test (O(min_balance_p_value)) and
    O(min_azs). A failed verdict fails the task with all the diagnostics and the failed criteria in
    plain words.
  - The module only reads; it never reports a change. Probing is safe, so it also probes in check mode.
  - AWS is only contacted when O(target_group_arn) is set; boto3 is only required then.
  - The run is bounded by O(time_budget); requests still running or not yet sent when it runs out
    are counted as errors of kind C(timeout) and C(not_sent).
  - Each worker keeps one HTTP/1.1 connection open (keep-alive) and sends its requests one after
    the other on it, as a browser does; an ALB balances every request on its own, kept-alive or
    not. For C(http://) URLs the O(concurrency) connections are served by one event loop in the
    module's process (no thread per worker); for C(https://) URLs each worker is a thread with its
    own kept TLS connection. In both, RV(requests_per_second) in the result is the throughput.
    After an error answer or a failed request the worker opens a new connection for its next
    request. A request on a kept connection that the server had closed while it was idle, before
    any byte of an answer, is sent once more on a new connection (what every HTTP client does), so
    it is not counted as an error; a target that resets new connections is still counted as
    C(connection_reset).
  - Requests use a new connection each only through a proxy from the environment (C(http_proxy),
    C(https_proxy), C(no_proxy)), which ansible.module_utils.urls handles (it speaks to the proxy;
    the kept connections do not). A redirect to another host or scheme is followed on a kept
    connection to that host.
author:
  - taskmanager.aws contributors (!UNKNOWN)
options:
  url:
    description:
      - The URL to probe, for example V(http://my-alb-123.eu-north-1.elb.amazonaws.com/instance).
    type: str
    required: true
  requests:
    description:
      - How many requests to send in total.
    type: int
    default: 100
  concurrency:
    description:
      - How many requests are in flight at once.
    type: int
    default: 10
  timeout:
    description:
      - Timeout in seconds of one request (connect and each read).
    type: float
    default: 5.0
  time_budget:
    description:
      - Overall time limit in seconds for all requests. When it runs out the module stops waiting and
        reports what it measured, so a hanging backend cannot make it hang.
    type: float
    default: 60.0
  headers:
    description:
      - Extra HTTP headers to send, for example C(Host) when O(url) uses an IP address.
      - C(Accept) defaults to C(application/json) so the task manager web app answers in JSON,
        which includes the Availability Zone.
    type: dict
    default: {}
  http_validate_certs:
    description:
      - Whether to validate the TLS certificate of O(url).
      - O(validate_certs) only applies to the AWS API calls.
    type: bool
    default: true
  id_field:
    description:
      - Dotted path of the field that holds the ID in a JSON answer, for example V(instance_id) or
        V(task.id).
      - When not set, the module uses the JSON keys C(instance_id) or C(task_id), else O(id_regex).
    type: str
  id_regex:
    description:
      - Regular expression that finds the ID in the answer. The group named C(id) is used, else
        the first group, else the whole match. A group named C(az) gives the Availability Zone.
      - "The default recognises EC2 instance IDs (C(i-) and 8 to 17 hex digits) and ECS task IDs
        (32 hex digits), for example in C(Du er koblet til instans: i-0123456789abcdef0)."
    type: str
  az_field:
    description:
      - Dotted path of the field that holds the Availability Zone in a JSON answer.
    type: str
    default: availability_zone
  expected_ids:
    description:
      - The IDs that must answer. Every one of them must answer and no other ID may answer.
      - Mutually exclusive with O(target_group_arn).
    type: list
    elements: str
  target_group_arn:
    description:
      - ARN of an ELBv2 target group. The module reads its healthy targets with
        C(DescribeTargetHealth) and uses them like O(expected_ids).
      - For target groups of type C(ip) (ECS tasks in C(awsvpc) mode) the target IDs are IP
        addresses that the answers cannot name; then only their number is used, as a lower bound
        for O(min_distinct), and a warning says so.
      - C(AWS_ENDPOINT_URL) or O(endpoint_url) point the call at another endpoint, for example a
        local emulator.
    type: str
  min_distinct:
    description:
      - At least this many distinct IDs must answer.
    type: int
    default: 2
  min_azs:
    description:
      - At least this many Availability Zones must show up in the answers. V(0) disables the test.
      - Needs answers that carry the zone (the web app's JSON answer does).
    type: int
    default: 0
  max_error_rate:
    description:
      - Largest allowed share of failed requests (HTTP errors, timeouts, refused or reset
        connections, answers without an ID), between V(0) and V(1).
    type: float
    default: 0.0
  min_balance_p_value:
    description:
      - Threshold of the balance test, a chi-square goodness of fit of the counts per ID against an
        even spread. The spread fails when its p-value is below this value, that is when an even
        spread with random noise would give such uneven counts less often than this.
      - The default V(0.001) lets ordinary noise pass and fails a starved or overloaded target.
        V(0) disables the test.
    type: float
    default: 0.001
  error_samples:
    description:
      - How many failed requests to describe in RV(error_samples).
    type: int
    default: 5
extends_documentation_fragment:
  - amazon.aws.common.modules
  - amazon.aws.region.modules
  - amazon.aws.boto3
"""

EXAMPLES = r"""
- name: Check that the ALB spreads requests over at least two instances
  taskmanager.aws.instance_spread:
    url: "http://{{ alb_dns_name }}/instance"
  delegate_to: localhost

- name: Check the spread against the healthy targets of the target group
  taskmanager.aws.instance_spread:
    url: "http://{{ alb_dns_name }}/instance"
    requests: 300
    concurrency: 20
    target_group_arn: "{{ alb_target_group_arn }}"
    min_azs: 2
  delegate_to: localhost
  register: spread

- name: Show the spread
  ansible.builtin.debug:
    var: spread.summary

- name: Probe by IP with a Host header and a custom ID pattern, allowing 1 % errors
  taskmanager.aws.instance_spread:
    url: https://203.0.113.10/whoami
    headers:
      Host: app.example.com
    http_validate_certs: false
    id_regex: "served by (?P<id>[a-z0-9-]+) in (?P<az>[a-z0-9-]+)"
    expected_ids: [web-1, web-2, web-3]
    max_error_rate: 0.01
    time_budget: 30
"""

RETURN = r"""
requests:
    description: Number of requests asked for.
    returned: always
    type: int
    sample: 100
sent:
    description: Number of requests sent before the time budget ran out.
    returned: always
    type: int
    sample: 100
not_sent:
    description: Number of requests not sent because the time budget ran out.
    returned: always
    type: int
    sample: 0
succeeded:
    description: Number of requests whose answer named an ID.
    returned: always
    type: int
    sample: 98
failed_requests:
    description: Number of requests that failed (any error kind).
    returned: always
    type: int
    sample: 2
counts:
    description: Answers per ID.
    returned: always
    type: dict
    sample: {"i-0123456789abcdef0": 51, "i-0fedcba9876543210": 47}
az_counts:
    description: Answers per Availability Zone, when the answers carry one.
    returned: always
    type: dict
    sample: {"eu-north-1a": 51, "eu-north-1b": 47}
distinct:
    description: Number of distinct IDs that answered.
    returned: always
    type: int
    sample: 2
errors:
    description: Failed requests per kind, for example C(http_500), C(timeout), C(connection_refused),
        C(connection_reset), C(unparseable), C(not_sent).
    returned: always
    type: dict
    sample: {"http_502": 2}
error_samples:
    description: A few failed requests with their kind and a short description.
    returned: always
    type: list
    elements: dict
    sample: [{"kind": "http_502", "detail": "HTTP 502 Bad Gateway"}]
error_rate:
    description: Share of failed requests among those sent.
    returned: always
    type: float
    sample: 0.02
latency_ms:
    description: Latency percentiles of the sent requests in milliseconds.
    returned: always
    type: dict
    sample: {"p50": 3.1, "p95": 7.9, "p99": 12.4, "max": 15.0, "mean": 3.8}
elapsed:
    description: Wall-clock seconds of the probe.
    returned: always
    type: float
    sample: 0.41
requests_per_second:
    description: Sent requests divided by RV(elapsed), the probe's throughput.
    returned: always
    type: float
    sample: 243.9
expected_ids:
    description: The IDs that had to answer (from O(expected_ids) or O(target_group_arn)), else null.
    returned: always
    type: list
    elements: str
    sample: ["i-0123456789abcdef0", "i-0fedcba9876543210"]
healthy_targets:
    description: IDs of the healthy targets read from O(target_group_arn).
    returned: when O(target_group_arn) is set
    type: list
    elements: str
    sample: ["i-0123456789abcdef0", "i-0fedcba9876543210"]
missing_ids:
    description: Expected IDs that never answered.
    returned: always
    type: list
    elements: str
    sample: []
unknown_ids:
    description: IDs that answered but were not expected.
    returned: always
    type: list
    elements: str
    sample: []
shares:
    description: Each ID's count and share of the answers against the fair share.
    returned: always
    type: list
    elements: dict
    contains:
        id:
            description: The instance or task ID.
            type: str
            returned: always
        count:
            description: Its number of answers.
            type: int
            returned: always
        share:
            description: Its share of the answers, between 0 and 1.
            type: float
            returned: always
        fair_share:
            description: The share of an even spread, 1 / number of IDs.
            type: float
            returned: always
        deviation:
            description: Relative deviation from the fair share, (share - fair_share) / fair_share.
            type: float
            returned: always
balance:
    description: The chi-square balance test; null when fewer than two IDs are known.
    returned: always
    type: dict
    contains:
        statistic:
            description: The chi-square statistic.
            type: float
            returned: always
        df:
            description: Degrees of freedom (number of IDs - 1).
            type: int
            returned: always
        p_value:
            description: Probability of counts at least this uneven under an even spread.
            type: float
            returned: always
        threshold:
            description: O(min_balance_p_value).
            type: float
            returned: always
        passed:
            description: Whether the p-value reaches the threshold.
            type: bool
            returned: always
    sample: {"statistic": 0.56, "df": 2, "p_value": 0.756, "threshold": 0.001, "passed": true}
passed:
    description: Whether every criterion passed (always true when the task succeeds).
    returned: always
    type: bool
    sample: true
failures:
    description: The failed criteria in plain words.
    returned: always
    type: list
    elements: str
    sample: ["expected ID(s) never answered: i-0fedcba9876543210"]
summary:
    description: One line per ID with its count, share, fair share and a text bar.
    returned: always
    type: list
    elements: str
    sample:
      - "i-0123456789abcdef0 51  52.0% (fair 50.0%) ##############################"
      - "i-0fedcba9876543210 47  48.0% (fair 50.0%) ###########################"
"""

from ansible_collections.amazon.aws.plugins.module_utils.botocore import check_sdk_version_supported
from ansible_collections.amazon.aws.plugins.module_utils.exceptions import AnsibleBotocoreError
from ansible_collections.amazon.aws.plugins.module_utils.modules import AnsibleAWSModule
from ansible_collections.amazon.aws.plugins.module_utils.retries import AWSRetry
from ansible_collections.taskmanager.aws.plugins.module_utils.ecs_api import describe_target_health
from ansible_collections.taskmanager.aws.plugins.module_utils.errors import AnsibleTaskmanagerAWSError
from ansible_collections.taskmanager.aws.plugins.module_utils.spread_probe import compile_id_regex, run_probe
from ansible_collections.taskmanager.aws.plugins.module_utils.spread_stats import aggregate
from ansible_collections.taskmanager.aws.plugins.module_utils.spread_verdict import evaluate, summary_lines


def healthy_target_ids(module, target_group_arn):
    """IDs of the targets in state healthy."""
    try:
        check_sdk_version_supported(warn=module.warn)
    except AnsibleBotocoreError as e:
        module.fail_json(msg=str(e))
    client = module.client("elbv2", retry_decorator=AWSRetry.jittered_backoff())
    try:
        descriptions = describe_target_health(client, target_group_arn)
    except AnsibleTaskmanagerAWSError as e:
        module.fail_json_aws_error(e)
    return sorted({d["Target"]["Id"] for d in descriptions if d.get("TargetHealth", {}).get("State") == "healthy"})


def validate_params(module):
    params = module.params
    for name in ("requests", "concurrency"):
        if params[name] < 1:
            module.fail_json(msg=f"{name} must be at least 1, got {params[name]}")
    for name in ("timeout", "time_budget"):
        if params[name] <= 0:
            module.fail_json(msg=f"{name} must be greater than 0, got {params[name]}")
    for name in ("max_error_rate", "min_balance_p_value"):
        if not 0.0 <= params[name] <= 1.0:
            module.fail_json(msg=f"{name} must be between 0 and 1, got {params[name]}")
    for name in ("min_distinct", "min_azs", "error_samples"):
        if params[name] < 0:
            module.fail_json(msg=f"{name} must not be negative, got {params[name]}")
    try:
        compile_id_regex(params["id_regex"])
    except ValueError as e:
        module.fail_json(msg=str(e))


def check_spread(module):
    params = module.params
    expected_ids = params["expected_ids"]
    expected_count = None
    extra = {}
    if params["target_group_arn"]:
        healthy = healthy_target_ids(module, params["target_group_arn"])
        extra["healthy_targets"] = healthy
        if not healthy:
            module.fail_json(
                msg=f"Target group {params['target_group_arn']} has no healthy targets", healthy_targets=healthy
            )
        if all(target.startswith("i-") for target in healthy):
            expected_ids = healthy
        else:
            expected_count = len(healthy)
            module.warn(
                "The target group's targets are not EC2 instances; only their number "
                f"({expected_count}) is compared with the distinct IDs that answer"
            )

    headers = {"Accept": "application/json"}
    headers.update({str(k): str(v) for k, v in params["headers"].items()})
    samples, elapsed = run_probe(
        params["url"],
        requests=params["requests"],
        concurrency=params["concurrency"],
        timeout=params["timeout"],
        time_budget=params["time_budget"],
        headers=headers,
        validate_certs=params["http_validate_certs"],
        id_field=params["id_field"],
        id_regex=params["id_regex"],
        az_field=params["az_field"],
    )
    stats = aggregate(samples, elapsed, max_error_samples=params["error_samples"])
    if stats["not_sent"]:
        stats["errors"]["not_sent"] = stats["not_sent"]
    verdict = evaluate(
        stats,
        expected_ids=expected_ids,
        min_distinct=params["min_distinct"],
        max_error_rate=params["max_error_rate"],
        min_balance_p_value=params["min_balance_p_value"],
        min_azs=params["min_azs"],
        expected_count=expected_count,
    )
    result = dict(changed=False, **stats, **verdict, **extra)
    result["summary"] = summary_lines(verdict["shares"], stats["az_counts"])
    if not verdict["passed"]:
        module.fail_json(msg="Spread check failed: " + "; ".join(verdict["failures"]), **result)
    result["msg"] = f"{stats['succeeded']} of {stats['requests']} requests answered by {verdict['distinct']} ID(s)"
    return result


def main():
    argument_spec = dict(
        url=dict(type="str", required=True),
        requests=dict(type="int", default=100),
        concurrency=dict(type="int", default=10),
        timeout=dict(type="float", default=5.0),
        time_budget=dict(type="float", default=60.0),
        headers=dict(type="dict", default={}),
        http_validate_certs=dict(type="bool", default=True),
        id_field=dict(type="str"),
        id_regex=dict(type="str"),
        az_field=dict(type="str", default="availability_zone"),
        expected_ids=dict(type="list", elements="str"),
        target_group_arn=dict(type="str"),
        min_distinct=dict(type="int", default=2),
        min_azs=dict(type="int", default=0),
        max_error_rate=dict(type="float", default=0.0),
        min_balance_p_value=dict(type="float", default=0.001),
        error_samples=dict(type="int", default=5),
    )

    module = AnsibleAWSModule(
        argument_spec=argument_spec,
        mutually_exclusive=[["expected_ids", "target_group_arn"]],
        supports_check_mode=True,
        check_boto3=False,
    )
    validate_params(module)
    module.exit_json(**check_spread(module))


if __name__ == "__main__":
    main()
