"""AWX's rules, written down so the tests can hold the project to them without an AWX server.

- Survey specs: the checks of AWX's survey_spec endpoint (awx/api/views JobTemplateSurveySpec
  ``_validate_spec_data``) and of a launch with the default answers (text min/max are lengths,
  integer/float min/max are values, a multiplechoice answer is one of the choices).
- Playbook discovery: a project's playbooks are the .yml/.yaml files outside any path element
  named roles, tasks, group_vars or host_vars or starting with a dot, with a line that starts a
  play (hosts:, include:, import_playbook:) (awx/main/utils/ansible.py).
"""

from __future__ import annotations

import re
from pathlib import Path

import yaml

ALLOWED_TYPES = {
    "text": (str,),
    "textarea": (str,),
    "password": (str,),
    "multiplechoice": (str,),
    "multiselect": (str,),
    "integer": (int,),
    "float": (float, int),
}
PLAYBOOK_LINE = re.compile(r"^\s*?-?\s*?(?:hosts|include|import_playbook):\s*?.*?$")


def survey_errors(survey: dict) -> list[str]:
    """Everything AWX would refuse in this survey spec, or in a launch with its defaults."""
    errors: list[str] = []
    for field, kind in (("name", str), ("description", str), ("spec", list)):
        if not isinstance(survey.get(field), kind):
            errors.append(f"field {field!r} missing or not a {kind.__name__}")
    spec = survey.get("spec")
    if not isinstance(spec, list) or not spec:
        return errors + ["'spec' has no questions"]
    seen: set[str] = set()
    for idx, item in enumerate(spec):
        where = f"question {idx} ({item.get('variable') if isinstance(item, dict) else item!r})"
        if not isinstance(item, dict):
            errors.append(f"{where}: not a mapping")
            continue
        for field in ("type", "question_name", "variable", "required"):
            kind = bool if field == "required" else str
            if not isinstance(item.get(field), kind):
                errors.append(f"{where}: {field!r} missing or not a {kind.__name__}")
        variable = item.get("variable")
        if variable in seen:
            errors.append(f"{where}: variable duplicated")
        seen.add(variable)
        if isinstance(variable, str) and not re.fullmatch(r"[A-Za-z_][A-Za-z0-9_]*", variable):
            errors.append(f"{where}: {variable!r} is not a valid Ansible variable name")
        qtype = item.get("type")
        if qtype not in ALLOWED_TYPES:
            errors.append(f"{where}: type {qtype!r} is not one of {sorted(ALLOWED_TYPES)}")
            continue
        default = item.get("default", "")
        has_default = "default" in item and default != ""
        if has_default and (isinstance(default, bool) or not isinstance(default, ALLOWED_TYPES[qtype])):
            errors.append(f"{where}: default {default!r} is not of type {qtype}")
        for key in ("min", "max"):
            if item.get(key) is not None and (isinstance(item[key], bool) or not isinstance(item[key], int)):
                errors.append(f"{where}: {key} must be an integer")
        if qtype in ("multiplechoice", "multiselect"):
            choices = item.get("choices")
            if isinstance(choices, str):
                choices = [c for c in choices.splitlines() if c.strip()]
            if not isinstance(choices, list) or not choices:
                errors.append(f"{where}: {qtype} needs choices")
                continue
            if not all(isinstance(c, str) for c in choices):
                errors.append(f"{where}: choices must be strings")
            if has_default:
                defaults = default.splitlines() if isinstance(default, str) else default
                if qtype == "multiplechoice" and len(defaults) > 1:
                    errors.append(f"{where}: a multiplechoice has one default")
                if any(d not in choices for d in defaults):
                    errors.append(f"{where}: default {default!r} is not among the choices {choices}")
        low, high = item.get("min"), item.get("max")
        if has_default and qtype in ("text", "textarea", "password"):
            size = len(default)
            if (low is not None and size < low) or (high is not None and size > high):
                errors.append(f"{where}: default {default!r} is {size} characters, outside {low}..{high}")
        numeric = isinstance(default, (int, float)) and not isinstance(default, bool)
        out_of_range = numeric and ((low is not None and default < low) or (high is not None and default > high))
        if has_default and qtype in ("integer", "float") and out_of_range:
            errors.append(f"{where}: default {default} is outside {low}..{high}")
    return errors


def skip_directory(relative_dir: str) -> bool:
    parts = Path(relative_dir).parts
    if "roles" in parts or "tasks" in parts or "group_vars" in parts or "host_vars" in parts:
        return True
    return any(part.startswith(".") for part in parts)


def discovered_playbooks(project: Path) -> set[str]:
    """The playbooks AWX offers for a job template of this project."""
    found = set()
    for path in project.rglob("*"):
        if path.suffix not in (".yml", ".yaml") or not path.is_file():
            continue
        rel = path.relative_to(project)
        if skip_directory(str(rel.parent)):
            continue
        lines = path.read_text(encoding="utf-8", errors="ignore").splitlines()
        if any(PLAYBOOK_LINE.match(line) for line in lines) or (lines and lines[0].startswith("$ANSIBLE_VAULT;")):
            found.add(str(rel))
    return found


def load_yaml(path: Path):
    return yaml.safe_load(path.read_text(encoding="utf-8"))
