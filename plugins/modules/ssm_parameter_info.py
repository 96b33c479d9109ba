#!/usr/bin/python

# Copyright: Contributors to the taskmanager.aws collection
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)

DOCUMENTATION = r"""
---
module: ssm_parameter_info
version_added: 1.0.0
short_description: Read AWS Systems Manager parameters by name
description:
  - Reads the named Parameter Store parameters with C(GetParameters) (ten names a call) and says which do not exist.
  - Never changes anything.
  - Unlike the P(amazon.aws.ssm_parameter#lookup) lookup, which runs in the controller's own process, a module
    takes its region from C(module_defaults) and its endpoint and credentials from the play's C(environment),
    the same as every other AWS task of a play.
author:
  - taskmanager.aws contributors (!UNKNOWN)
options:
  names:
    description:
      - Names of the parameters to read, at least one.
    required: true
    type: list
    elements: str
  decrypt:
    description:
      - Return the values of SecureString parameters decrypted (needs C(kms:Decrypt) on their key).
      - With V(false), a SecureString's value is its ciphertext; use V(false) when only the existence matters.
    type: bool
    default: true
notes:
  - Supports check mode.
  - With O(decrypt=true), set C(no_log) on the task, and on any task that uses the value.
extends_documentation_fragment:
  - amazon.aws.common.modules
  - amazon.aws.region.modules
  - amazon.aws.boto3
"""

EXAMPLES = r"""
- name: Read the database's master password
  taskmanager.aws.ssm_parameter_info:
    names:
      - /taskmanager/db_password
  register: db_password
  no_log: true

- name: Resolve the newest Amazon Linux 2023 AMI from its public parameter
  taskmanager.aws.ssm_parameter_info:
    names:
      - /aws/service/ami-amazon-linux-latest/al2023-ami-kernel-default-x86_64
    decrypt: false
  register: ami
"""

RETURN = r"""
parameters:
  description: The parameters found, by name.
  returned: always
  type: dict
  sample:
    /aws/service/ami-amazon-linux-latest/al2023-ami-kernel-default-x86_64:
      name: /aws/service/ami-amazon-linux-latest/al2023-ami-kernel-default-x86_64
      type: String
      value: ami-0123456789abcdef0
      version: 42
missing:
  description: The names of O(names) that do not exist, in the order given.
  returned: always
  type: list
  elements: str
  sample: ["/taskmanager/db_password"]
"""

from ansible_collections.amazon.aws.plugins.module_utils.modules import AnsibleAWSModule
from ansible_collections.amazon.aws.plugins.module_utils.retries import AWSRetry
from ansible_collections.taskmanager.aws.plugins.module_utils.errors import AnsibleTaskmanagerAWSError, SSMErrorHandler

BATCH = 10  # GetParameters takes at most ten names a call


@SSMErrorHandler.list_error_handler("read the parameters")
def get_parameters(client, names, decrypt):
    """The parameters one GetParameters call finds, or None when AWS answers ParameterNotFound
    (a missing Secrets Manager secret behind /aws/reference/...)."""
    return client.get_parameters(Names=names, WithDecryption=decrypt, aws_retry=True).get("Parameters", [])


def read_batch(client, names, decrypt):
    """The parameters found among up to ten names. A ParameterNotFound answer fails the whole
    call, so such a batch is read again name by name."""
    found = get_parameters(client, names, decrypt)
    if found is not None:
        return found
    if len(names) == 1:
        return []
    return [parameter for name in names for parameter in read_batch(client, [name], decrypt)]


def read_parameters(client, names, decrypt):
    """Every name once, in batches: ({name: parameter}, [missing names in the order given])."""
    unique = list(dict.fromkeys(names))
    found = {}
    for start in range(0, len(unique), BATCH):
        for parameter in read_batch(client, unique[start : start + BATCH], decrypt):
            found[parameter["Name"]] = {
                "name": parameter["Name"],
                "type": parameter.get("Type"),
                "value": parameter.get("Value"),
                "version": parameter.get("Version"),
            }
    return found, [name for name in unique if name not in found]


def main():
    argument_spec = {
        "names": {"type": "list", "elements": "str", "required": True},
        "decrypt": {"type": "bool", "default": True},
    }
    module = AnsibleAWSModule(argument_spec=argument_spec, supports_check_mode=True)
    if not module.params["names"]:
        module.fail_json(msg="names must list at least one parameter")
    client = module.client("ssm", retry_decorator=AWSRetry.jittered_backoff())
    try:
        found, missing = read_parameters(client, module.params["names"], module.params["decrypt"])
    except AnsibleTaskmanagerAWSError as e:
        module.fail_json_aws_error(e)
    module.exit_json(changed=False, parameters=found, missing=missing)


if __name__ == "__main__":
    main()
