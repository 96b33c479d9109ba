# Copyright: contributors to the taskmanager.aws collection
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)

"""Pure input checks for the roles' preflight (no AWS calls).

A check is a dict naming the variable the user sets (``var``), its ``value`` and one or more
rules. Every rule that fails gives one sentence that starts with the variable's name, so that a
message always says what to change. Rules:

- ``type``: ``str``, ``int``, ``bool``, ``dict``, ``list`` (a list, never a string);
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
            problems.append(f"{var} must be a whole number {span}{suffix}{got}")
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
