"""Input validation shared by the JSON API and the HTML forms (one set of rules, one set of messages)."""

from __future__ import annotations

import datetime as dt
import re
import unicodedata

from .i18n import t
from .models import DESCRIPTION_MAX, STATUSES, TITLE_MAX

TASK_FIELDS = ("title", "description", "status", "due_date")
DATE_RE = re.compile(r"^\d{4}-\d{2}-\d{2}$")
MIN_DATE = dt.date(1000, 1, 1)  # MySQL DATE starts here
PER_PAGE_MAX = 100
PAGE_MAX = 1_000_000


def _clean_text(value, field: str, errors: dict, maximum: int, multiline: bool) -> str | None:
    if not isinstance(value, str):
        errors[field] = [t("err_not_string")]
        return None
    allowed = "\n\r\t" if multiline else ""
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        errors[field] = [t("err_bad_text")]
        return None
    if any(unicodedata.category(ch) == "Cc" and ch not in allowed for ch in value):
        errors[field] = [t("err_bad_text")]
        return None
    value = value.strip()
    if len(value) > maximum:
        errors[field] = [t("err_too_long", max=maximum)]
        return None
    return value


def parse_date(value, errors: dict, field: str = "due_date") -> dt.date | None:
    if value is None or value == "":
        return None
    if isinstance(value, str) and DATE_RE.match(value):
        try:
            parsed = dt.date.fromisoformat(value)
        except ValueError:
            parsed = None
        if parsed and parsed >= MIN_DATE:
            return parsed
    errors[field] = [t("err_date")]
    return None


def validate_task(data, partial: bool = False) -> tuple[dict, dict]:
    """Return ``(clean, errors)``; ``errors`` maps a field name to a list of messages."""
    errors: dict[str, list[str]] = {}
    if not isinstance(data, dict):
        return {}, {"body": [t("err_body")]}
    clean: dict = {}
    for key in data:
        if key not in TASK_FIELDS:
            errors[str(key)] = [t("err_unknown_field")]
    if "title" in data:
        title = _clean_text(data["title"], "title", errors, TITLE_MAX, multiline=False)
        if title == "":
            errors["title"] = [t("err_required")]
        elif title is not None:
            clean["title"] = title
    elif not partial:
        errors["title"] = [t("err_required")]
    if "description" in data and data["description"] is not None:
        description = _clean_text(data["description"], "description", errors, DESCRIPTION_MAX, multiline=True)
        if description is not None:
            clean["description"] = description
    elif not partial:
        clean["description"] = ""
    if "status" in data:
        if data["status"] in STATUSES:
            clean["status"] = data["status"]
        else:
            errors["status"] = [t("err_status", choices=", ".join(STATUSES))]
    elif not partial:
        clean["status"] = "todo"
    if "due_date" in data:
        clean["due_date"] = parse_date(data["due_date"], errors)
    elif not partial:
        clean["due_date"] = None
    return clean, errors


def int_arg(args, name: str, default: int, minimum: int, maximum: int, errors: dict) -> int:
    raw = args.get(name)
    if raw is None:
        return default
    try:
        value = int(raw, 10)
    except ValueError:
        value = None
    if value is None or not minimum <= value <= maximum or not raw.strip().lstrip("+-").isdigit():
        errors[name] = [t("err_integer", min=minimum, max=maximum)]
        return default
    return value


def status_arg(args, errors: dict) -> str | None:
    status = args.get("status")
    if status in (None, ""):
        return None
    if status not in STATUSES:
        errors["status"] = [t("err_status", choices=", ".join(STATUSES))]
        return None
    return status
