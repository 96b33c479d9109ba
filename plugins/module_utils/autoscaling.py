# Copyright: Contributors to the taskmanager.aws collection
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)

"""Auto Scaling group helpers of the ``asg_tags`` and ``asg_drift`` filters (no AWS call).

``amazon.aws.autoscaling_group`` reports a change for tags in another order than AWS returns
them, and for any existing group in check mode. The ``autoscaling`` role (for the web fleet, and
with ``autoscaling_spec`` for the ECS container instances) passes sorted tags, and calls the
module only when :func:`asg_drift` finds a setting that differs from the group as
``amazon.aws.autoscaling_group_info`` reads it.
"""

from __future__ import annotations

# The settings asg_drift compares, in the order it reports them.
SETTINGS = (
    "min_size",
    "max_size",
    "desired_capacity",
    "health_check_type",
    "health_check_grace_period",
    "default_cooldown",
    "launch_template",
    "subnets",
    "target_group_arns",
    "termination_policies",
    "tags",
    "metrics",
)


def asg_tags(tags):
    """``{key: value}`` as the module's tag list, sorted by key, values as strings, every tag
    propagated to the instances the group launches."""
    return [{key: str(tags[key]), "propagate_at_launch": True} for key in sorted(tags)]


def _have(group):
    """The settings of a group read by autoscaling_group_info, in the shape of asg_drift's ``wanted``."""
    template = group.get("launch_template") or {}
    return {
        "min_size": group.get("min_size"),
        "max_size": group.get("max_size"),
        "desired_capacity": group.get("desired_capacity"),
        "health_check_type": group.get("health_check_type"),
        "health_check_grace_period": group.get("health_check_grace_period"),
        "default_cooldown": group.get("default_cooldown"),
        "launch_template": f"{template.get('launch_template_name', '')}:{template.get('version', '')}",
        "subnets": sorted(s for s in (group.get("vpc_zone_identifier") or "").split(",") if s),
        "target_group_arns": sorted(group.get("target_group_arns") or []),
        "termination_policies": list(group.get("termination_policies") or []),
        "tags": {
            tag["key"]: tag["value"] if tag.get("propagate_at_launch") else f"{tag['value']} (not propagated)"
            for tag in group.get("tags") or []
        },
        "metrics": bool(group.get("enabled_metrics")),
    }


def _wanted(wanted):
    """``wanted`` normalised: numbers as int, lists sorted where AWS keeps no order, tags as strings."""
    out = {}
    for key in SETTINGS:
        if key not in wanted or wanted[key] is None:
            continue  # not managed here: left to whoever owns it (the capacity provider, say)
        value = wanted[key]
        if key in ("min_size", "max_size", "desired_capacity", "health_check_grace_period", "default_cooldown"):
            value = int(value)
        elif key in ("subnets", "target_group_arns"):
            value = sorted(value)
        elif key == "termination_policies":
            value = list(value)
        elif key == "tags":
            value = {k: str(v) for k, v in value.items()}
        elif key == "metrics":
            value = bool(value)
        out[key] = value
    unknown = set(wanted) - set(SETTINGS)
    if unknown:
        raise ValueError(f"asg_drift: unknown settings {', '.join(sorted(unknown))}; known: {', '.join(SETTINGS)}")
    return out


def asg_drift(group, wanted):
    """The settings of ``wanted`` that the existing ``group`` does not have, in SETTINGS order.

    ``group`` is one result of autoscaling_group_info (empty: the group does not exist, and every
    setting of ``wanted`` is reported). A setting missing from ``wanted``, or None, is not compared.
    """
    want = _wanted(wanted)
    if not group:
        return list(want)
    have = _have(group)
    return [key for key in want if want[key] != have[key]]
