# Copyright: contributors to the taskmanager.aws collection
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)

"""Pure input checks for the roles' preflight (no AWS calls).

A check is a dict naming the variable the user sets (``var``), its ``value`` and one or more
rules. Every rule that fails gives one sentence that starts with the variable's name, so that a
message always says what to change. Rules:

- ``type``: ``str``, ``int``, ``bool``, ``dict``, ``list`` (a list, never a string);
- ``aws``: the name of an AWS naming rule in ``AWS_RULES`` (pattern, forbidden pattern and words);
- ``optional``: with ``aws``, an empty string is accepted too (a default is looked up or derived);
- ``pattern``: the whole string must match this regular expression;
- ``not_pattern``: no part of the string may match this regular expression (``re.search``);
- ``min`` / ``max``: inclusive bounds of an integer;
- ``choices``: allowed values;
- ``elements``: a pattern every element of a list must match;
- ``ok``: a precomputed truth value (cross-field checks written in the role);
- ``rule``: the plain-words rule used in the message.
"""

from __future__ import annotations

import re
from collections.abc import Mapping

_OCTET = r"(25[0-5]|2[0-4][0-9]|1[0-9][0-9]|[1-9]?[0-9])"
_CIDR = rf"({_OCTET}\.){{3}}{_OCTET}/(3[0-2]|[12]?[0-9])"
_SG_CHARS = r"[a-zA-Z0-9 ._:/()#,@\[\]+=&;{}!$*-]"

# AWS naming rules: (whole-string pattern, forbidden pattern or None, the rule in plain words).
AWS_RULES = {
    "project_name": (
        r"[a-z0-9]([a-z0-9-]{0,22}[a-z0-9])?",
        r"^(aws|ecs|fargate|internal-|xn--|sthree-)",
        "1-24 lower-case letters, digits or hyphens, not starting or ending with a hyphen nor with "
        "aws, ecs, fargate, internal-, xn-- or sthree- (it prefixes bucket, load balancer, ECS and IAM names)",
    ),
    "elb_name": (
        r"[a-zA-Z0-9]([a-zA-Z0-9-]{0,30}[a-zA-Z0-9])?",
        r"^internal-",
        "1-32 letters, digits or hyphens, not starting or ending with a hyphen nor with internal-",
    ),
    "sg_name": (_SG_CHARS + "{1,255}", r"(?i)^sg-", "1-255 letters, digits, spaces and ._-:/()#,@[]+=&;{}!$*, not sg-"),
    "sg_description": (_SG_CHARS + "{0,255}", None, "at most 255 letters, digits, spaces and ._-:/()#,@[]+=&;{}!$*"),
    "iam_role_name": (r"[\w+=,.@-]{1,64}", None, "1-64 letters, digits and +=,.@_-"),
    "iam_profile_name": (r"[\w+=,.@-]{1,128}", None, "1-128 letters, digits and +=,.@_-"),
    "ecs_name": (r"[a-zA-Z0-9_-]{1,255}", None, "1-255 letters, digits, hyphens and underscores"),
    "capacity_provider_name": (
        r"[a-zA-Z0-9_-]{1,255}",
        r"(?i)^(aws|ecs|fargate)",
        "1-255 letters, digits, hyphens and underscores, not starting with aws, ecs or fargate",
    ),
    "launch_template_name": (r"[a-zA-Z0-9()./_-]{3,128}", None, "3-128 letters, digits and ( ) . / _ -"),
    "asg_name": (r"[^:]{1,255}", None, "1-255 characters without ':'"),
    "log_group_name": (r"[.\-_/#A-Za-z0-9]{1,512}", None, "1-512 letters, digits and . - _ / #"),
    "bucket_name": (
        r"[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]",
        r"\.\.|\.-|-\.|^xn--|^sthree-|-s3alias$|--ol-s3$|^[0-9]+\.[0-9]+\.[0-9]+\.[0-9]+$",
        "3-63 lower-case letters, digits, dots and hyphens, starting and ending with a letter or digit",
    ),
    "ssm_parameter_name": (r"/?[a-zA-Z0-9_./-]{1,1011}", None, "an SSM parameter name such as /aws/service/..."),
    "ssm_path": (r"/([A-Za-z0-9_.-]+/)*", None, "a path such as /taskmanager/ (starts and ends with /)"),
    "s3_prefix": (r"[a-zA-Z0-9!_.*'()/-]{0,1000}", None, "an S3 key prefix such as webapp/"),
    "region": (r"[a-z]{2}(-[a-z]+)+-[0-9]", None, "an AWS region such as eu-north-1"),
    "cidr": (_CIDR, None, "an IPv4 CIDR such as 203.0.113.10/32"),
    "instance_type": (r"[a-z][a-z0-9-]*\.[a-z0-9]+", None, "an instance type such as t3.micro"),
    "ami_id": (r"ami-[0-9a-f]{8,17}", None, "an AMI ID (ami-...)"),
    "vpc_id": (r"vpc-[0-9a-f]{8,17}", None, "a VPC ID (vpc-...)"),
    "subnet_id": (r"subnet-[0-9a-f]{8,17}", None, "a subnet ID (subnet-...)"),
    "sg_id": (r"sg-[0-9a-f]{8,17}", None, "a security group ID (sg-...)"),
    "key_name": (r"[\x20-\x7e]{1,255}", None, "an EC2 key pair name (1-255 ASCII characters)"),
    "image": (r"[a-zA-Z0-9][a-zA-Z0-9._/:@-]{0,254}", None, "a container image such as repo/name:tag"),
    "iam_role_arn": (r"arn:aws[a-z-]*:iam::[0-9]{12}:role/[\w+=,.@/-]+", None, "an IAM role ARN"),
    "iam_policy_arn": (r"arn:aws[a-z-]*:iam::([0-9]{12}|aws):policy/[\w+=,.@/-]+", None, "an IAM policy ARN"),
    "certificate_arn": (r"arn:aws[a-z-]*:(acm|iam):\S+", None, "an ACM or IAM certificate ARN"),
    "kms_key": (r"(arn:aws[a-z-]*:kms:\S+|alias/[a-zA-Z0-9/_-]+|[0-9a-f-]{36})", None, "a KMS key ID, ARN or alias"),
    "env_name": (r"[A-Za-z_][A-Za-z0-9_]*", None, "an environment variable name (letters, digits, _)"),
    "http_path": (r"/[^ ]{0,1023}", None, "a path starting with /, at most 1024 characters, no spaces"),
    "http_codes": (r"[1-5][0-9][0-9]([-,][1-5][0-9][0-9])*", None, "HTTP codes such as 200, 200,302 or 200-399"),
    "abs_path": (r"/[^\0]*", None, "an absolute path"),
    "unit_name": (r"[a-zA-Z0-9:_.@-]{1,255}", None, "a systemd unit name (letters, digits and :_.@-)"),
    "python_package": (r"[A-Za-z0-9]([A-Za-z0-9._-]*[A-Za-z0-9])?", None, "a Python package name"),
}

BOOL_WORDS = {"true", "false", "yes", "no", "on", "off", "1", "0", "y", "n", "t", "f"}


def as_int(value):
    """Return value as an int when it is one (or a string of one), else None. Booleans are not ints."""
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return value
    if isinstance(value, float) and value.is_integer():
        return int(value)
    if isinstance(value, str) and re.fullmatch(r"\s*[+-]?[0-9]+\s*", value):
        return int(value)
    return None


def is_bool_like(value):
    """True for the forms Ansible's `| bool` and argument_specs accept: booleans, 0/1, yes/no, true/false..."""
    if isinstance(value, bool):
        return True
    if isinstance(value, int):
        return value in (0, 1)
    return isinstance(value, str) and value.strip().lower() in BOOL_WORDS


def _type_problem(kind, value):
    if kind == "int":
        return None if as_int(value) is not None else "must be a whole number"
    if kind == "bool":
        return None if is_bool_like(value) else "must be a boolean (true/false, yes/no, 1/0)"
    if kind == "dict":
        return None if isinstance(value, Mapping) else "must be a dictionary (a YAML mapping), not a string"
    if kind == "list":
        return None if isinstance(value, (list, tuple)) else "must be a list (YAML or JSON list), not a string"
    if kind == "str":
        return None if isinstance(value, str) else "must be a string"
    raise ValueError(f"unknown type {kind!r}")


def _tag_problems(var, value):
    """AWS tags: a mapping of keys (1-128 characters, not aws:...) to values (at most 256 characters)."""
    if not isinstance(value, Mapping):
        return [f"{var} must be a dictionary of tags (a YAML mapping {{Project: x}}), not a string (got {value!r})"]
    bad = [
        key
        for key, val in value.items()
        if not (isinstance(key, str) and 1 <= len(key) <= 128 and not key.lower().startswith("aws:"))
        or len(str(val)) > 256
    ]
    if bad:
        return [f"{var} has invalid tags {bad!r}: keys 1-128 characters, not aws:..., values at most 256 characters"]
    return []


def check_problems(check):
    """Return the problems of one check, each a sentence starting with the variable's name."""
    var = check["var"]
    value = check.get("value")
    rule = check.get("rule", "")
    got = f" (got {value!r})"
    suffix = f": {rule}" if rule else ""
    kind = check.get("type")
    if kind:
        problem = _type_problem(kind, value)
        if problem:
            return [f"{var} {problem}{got}"]
    problems = []
    if "aws" in check:
        pattern, forbidden, words = AWS_RULES[check["aws"]]
        empty_ok = check.get("optional") and value in ("", None)
        if not empty_ok and not (
            isinstance(value, str) and re.fullmatch(pattern, value) and not (forbidden and re.search(forbidden, value))
        ):
            problems.append(f"{var} is invalid: {words}{', or empty' if check.get('optional') else ''}{suffix}{got}")
    if "tags" in check:
        problems.extend(_tag_problems(var, value))
    if "pattern" in check and not (isinstance(value, str) and re.fullmatch(check["pattern"], value)):
        problems.append(f"{var} is invalid{suffix}{got}")
    if "not_pattern" in check and isinstance(value, str) and re.search(check["not_pattern"], value):
        problems.append(f"{var} is invalid{suffix}{got}")
    if "min" in check or "max" in check:
        number = as_int(value)
        low, high = check.get("min"), check.get("max")
        if number is None or (low is not None and number < low) or (high is not None and number > high):
            if low is not None and high is not None:
                span = f"{low}-{high}"
            else:
                span = f">= {low}" if low is not None else f"<= {high}"
            problems.append(f"{var} must be a whole number {span}{' ' + rule if rule else ''}{got}")
    if "choices" in check and value not in check["choices"]:
        problems.append(f"{var} must be one of {', '.join(map(str, check['choices']))}{got}")
    if "elements" in check:
        if not isinstance(value, (list, tuple)):
            problems.append(f"{var} must be a list, not a string{got}")
        else:
            bad = [item for item in value if not (isinstance(item, str) and re.fullmatch(check["elements"], item))]
            if bad:
                problems.append(f"{var} has invalid entries {bad!r}{suffix}")
    if "ok" in check and not check["ok"]:
        problems.append(f"{var} is invalid{suffix}{got}")
    # One sentence per variable is enough: several rules often say the same thing.
    return problems[:1]


def input_problems(checks):
    """Return the problems of a list of checks; empty when every input is valid."""
    problems = []
    for check in checks or []:
        problems.extend(check_problems(check))
    return problems
