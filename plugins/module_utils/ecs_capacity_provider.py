# Copyright: Contributors to the taskmanager.aws collection
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)

"""Pure logic of the ecs_capacity_provider module: no boto3, no AWS calls.

Builds the ``autoScalingGroupProvider`` structure of the ECS API from module
parameters, validates combinations that argument_spec cannot express, and
computes what UpdateCapacityProvider has to change (and what cannot change).
"""

from __future__ import annotations

# module option name -> ECS API key, for the managed_scaling sub-options
MANAGED_SCALING_KEYS = {
    "status": "status",
    "target_capacity": "targetCapacity",
    "minimum_scaling_step_size": "minimumScalingStepSize",
    "maximum_scaling_step_size": "maximumScalingStepSize",
    "instance_warmup_period": "instanceWarmupPeriod",
}

# Ranges the ECS API accepts (CreateCapacityProvider / UpdateCapacityProvider)
MANAGED_SCALING_RANGES = {
    "target_capacity": (1, 100),
    "minimum_scaling_step_size": (1, 10000),
    "maximum_scaling_step_size": (1, 10000),
    "instance_warmup_period": (0, 10000),
}


def build_managed_scaling(managed_scaling):
    """Translate the managed_scaling option into the API's managedScaling dict.

    Sub-options left unset (None) are omitted so that AWS keeps (or picks) its value.
    Returns None when nothing was requested.
    """
    if not managed_scaling:
        return None
    result = {}
    for option, api_key in MANAGED_SCALING_KEYS.items():
        value = managed_scaling.get(option)
        if value is not None:
            result[api_key] = value
    return result or None


def build_auto_scaling_group_provider(
    auto_scaling_group_arn=None,
    managed_scaling=None,
    managed_termination_protection=None,
    managed_draining=None,
):
    """Return the autoScalingGroupProvider dict for the ECS API (None values dropped)."""
    provider = {}
    if auto_scaling_group_arn:
        provider["autoScalingGroupArn"] = auto_scaling_group_arn
    scaling = build_managed_scaling(managed_scaling)
    if scaling:
        provider["managedScaling"] = scaling
    if managed_termination_protection:
        provider["managedTerminationProtection"] = managed_termination_protection
    if managed_draining:
        provider["managedDraining"] = managed_draining
    return provider


def validate_params(managed_scaling=None, managed_termination_protection=None):
    """Return a list of error messages for combinations the ECS API rejects."""
    errors = []
    scaling = managed_scaling or {}
    for option, (low, high) in MANAGED_SCALING_RANGES.items():
        value = scaling.get(option)
        if value is not None and not low <= value <= high:
            errors.append(f"managed_scaling.{option} must be between {low} and {high}, got {value}")
    low_step = scaling.get("minimum_scaling_step_size")
    high_step = scaling.get("maximum_scaling_step_size")
    if low_step is not None and high_step is not None and low_step > high_step:
        errors.append(
            "managed_scaling.minimum_scaling_step_size "
            f"({low_step}) must not exceed managed_scaling.maximum_scaling_step_size ({high_step})"
        )
    if managed_termination_protection == "ENABLED" and scaling.get("status") == "DISABLED":
        errors.append("managed_termination_protection=ENABLED requires managed_scaling.status=ENABLED")
    return errors


def asg_reference_matches(requested, current_arn):
    """True when the requested Auto Scaling group (ARN or bare name) designates current_arn."""
    if not requested or not current_arn:
        return requested == current_arn
    if requested.startswith("arn:"):
        return requested == current_arn
    # An ASG ARN ends in ":autoScalingGroupName/<name>"
    return current_arn.rsplit("autoScalingGroupName/", 1)[-1] == requested


def diff_auto_scaling_group_provider(desired, current):
    """Compare a desired autoScalingGroupProvider with the current one.

    Only keys present in ``desired`` are compared, so options the user left out never cause
    a change. Returns ``(update, immutable)``: ``update`` is the autoScalingGroupProvider
    payload for UpdateCapacityProvider (empty when nothing changes; managedScaling is sent
    complete, current values overlaid with the desired ones), ``immutable`` lists messages
    about requested changes that UpdateCapacityProvider cannot make.
    """
    current = current or {}
    update = {}
    immutable = []

    wanted_arn = desired.get("autoScalingGroupArn")
    current_arn = current.get("autoScalingGroupArn")
    if wanted_arn and not asg_reference_matches(wanted_arn, current_arn):
        immutable.append(
            "auto_scaling_group_arn cannot be changed on an existing capacity provider "
            f"(current {current_arn}, requested {wanted_arn}); delete the capacity provider "
            "(state=absent) and create it again, or use another name"
        )

    wanted_scaling = desired.get("managedScaling") or {}
    current_scaling = current.get("managedScaling") or {}
    if any(current_scaling.get(key) != value for key, value in wanted_scaling.items()):
        merged = dict(current_scaling)
        merged.update(wanted_scaling)
        update["managedScaling"] = merged

    for key in ("managedTerminationProtection", "managedDraining"):
        if key in desired and desired[key] != current.get(key):
            update[key] = desired[key]

    return update, immutable


def apply_update(current, update):
    """Return the autoScalingGroupProvider that results from applying ``update`` (for check mode)."""
    result = dict(current or {})
    for key, value in update.items():
        result[key] = dict(value) if isinstance(value, dict) else value
    return result


def find_capacity_provider(providers, name):
    """Pick the live capacity provider called ``name`` from a DescribeCapacityProviders answer.

    A provider in status INACTIVE has been deleted and counts as absent.
    """
    for provider in providers or []:
        if provider.get("name") == name and provider.get("status") != "INACTIVE":
            return provider
    return None


def format_capacity_provider(provider, camel_to_snake):
    """snake_case result of a capacity provider, tags as a dict (converter passed in, no imports here)."""
    if not provider:
        return {}
    result = camel_to_snake(provider, ignore_list=["tags"])
    result["tags"] = {tag["key"]: tag["value"] for tag in provider.get("tags") or []}
    return result
