#!/usr/bin/python

# Copyright: Contributors to the taskmanager.aws collection
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)

DOCUMENTATION = r"""
---
module: ec2_console_output_info
version_added: 1.0.0
short_description: The console output (boot log) of EC2 instances
description:
  - Reads the console output of each instance with ec2:GetConsoleOutput, the way EC2 shows an
    instance's boot log (cloud-init, and what services write to the console).
  - Returns the whole text, and the lines that report an error, so that a failed wait can say why an
    instance never served.
  - No module of amazon.aws or community.aws reads the console output.
  - Never changes anything.
author:
  - taskmanager.aws contributors (!UNKNOWN)
options:
  instance_ids:
    description: IDs of the instances. An instance that does not exist is returned with an empty output.
    required: true
    type: list
    elements: str
  error_pattern:
    description: A Python regular expression; lines that match it are returned in RV(instances[].errors).
    type: str
    default: "(?i)error|failed|denied|refused|traceback"
  max_errors:
    description: At most this many error lines per instance (the last ones).
    type: int
    default: 5
notes:
  - Supports check mode.
extends_documentation_fragment:
  - amazon.aws.common.modules
  - amazon.aws.region.modules
  - amazon.aws.boto3
"""

EXAMPLES = r"""
- name: Read why the instances did not turn healthy
  taskmanager.aws.ec2_console_output_info:
    instance_ids: ["i-0123456789abcdef0"]
  register: console

- name: Show the error lines
  ansible.builtin.debug:
    msg: "{{ console.instances | map(attribute='errors') | flatten }}"
"""

RETURN = r"""
instances:
  description: One entry per requested instance, in the order given.
  returned: always
  type: list
  elements: dict
  contains:
    instance_id:
      description: The instance ID.
      type: str
      sample: i-0123456789abcdef0
    output:
      description: The console output (EC2 keeps the last 64 KB), empty when there is none yet.
      type: str
      sample: "taskmanager-bootstrap: done"
    errors:
      description: The last lines of the output that match O(error_pattern).
      type: list
      elements: str
      sample: ["OperationalError: (1045, \"Access denied for user 'taskmanager'\")"]
"""

import re

from ansible_collections.amazon.aws.plugins.module_utils.modules import AnsibleAWSModule
from ansible_collections.amazon.aws.plugins.module_utils.retries import AWSRetry
from ansible_collections.taskmanager.aws.plugins.module_utils.errors import AnsibleTaskmanagerAWSError, EC2ErrorHandler


@EC2ErrorHandler.list_error_handler("read the console output", {})
def get_console_output(client, instance_id):
    """GetConsoleOutput of one instance; {} for an instance that does not exist (any more)."""
    return client.get_console_output(aws_retry=True, InstanceId=instance_id)


def error_lines(text, pattern, limit):
    """The last `limit` non-empty lines of `text` that match `pattern`."""
    matcher = re.compile(pattern)
    found = [line.strip() for line in text.splitlines() if line.strip() and matcher.search(line)]
    return found[-limit:] if limit > 0 else []


def main():
    argument_spec = {
        "instance_ids": {"type": "list", "elements": "str", "required": True},
        "error_pattern": {"type": "str", "default": "(?i)error|failed|denied|refused|traceback"},
        "max_errors": {"type": "int", "default": 5},
    }
    module = AnsibleAWSModule(argument_spec=argument_spec, supports_check_mode=True)
    try:
        re.compile(module.params["error_pattern"])
    except re.error as e:
        module.fail_json(msg=f"error_pattern is not a regular expression: {e}")
    ec2 = module.client("ec2", retry_decorator=AWSRetry.jittered_backoff())
    instances = []
    for instance_id in module.params["instance_ids"]:
        try:
            answer = get_console_output(ec2, instance_id)
        except AnsibleTaskmanagerAWSError as e:
            module.fail_json_aws_error(e)
        text = answer.get("Output") or ""  # base64 on the wire; botocore decodes it
        instances.append(
            {
                "instance_id": instance_id,
                "output": text,
                "errors": error_lines(text, module.params["error_pattern"], module.params["max_errors"]),
            }
        )
    module.exit_json(changed=False, instances=instances)


if __name__ == "__main__":
    main()
