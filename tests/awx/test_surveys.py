"""The job templates' surveys against AWX's survey rules and against the variables they feed.

Every question must pass AWX's own checks (awx_rules.survey_errors), name a variable that the
template's playbook really reads (a role option in meta/argument_specs.yml of a role the
playbook runs, a play variable, or an inventory variable), with a type, choices and default that
the role's argument spec or the play's own value agree with, so that the default answers run the
same build as a plain ansible-playbook run.
"""

from __future__ import annotations

import copy
import re
from pathlib import Path

import pytest
from awx_rules import discovered_playbooks, load_yaml, survey_errors

ROOT = Path(__file__).resolve().parents[2]
AWX = ROOT / "awx"
TEMPLATES = load_yaml(AWX / "job_templates.yml")["awx_job_templates"]
WORKFLOW = load_yaml(AWX / "workflow.yml")
SURVEY_TYPES = {
    "int": {"integer"},
    "float": {"float", "integer"},
    "str": {"text", "textarea", "password", "multiplechoice"},
    "bool": {"multiplechoice"},
    "list": {"multiselect"},
    # raw options (the preflight role's build flags) take any answer; the role checks them.
    "raw": {"text", "multiplechoice", "integer", "float"},
}


def role_options() -> dict[str, tuple[str, dict]]:
    options = {}
    for spec_file in sorted(ROOT.glob("roles/*/meta/argument_specs.yml")):
        role = spec_file.parents[1].name
        for entry in load_yaml(spec_file)["argument_specs"].values():
            for name, spec in (entry.get("options") or {}).items():
                options.setdefault(name, (role, spec))
    return options


INCLUDES = ("ansible.builtin.include_tasks", "ansible.builtin.import_tasks", "include_tasks", "import_tasks")


def included_task_files(tasks: list | None, base: Path) -> list[Path]:
    """The task files that these tasks include or import (blocks searched), relative to base."""
    found = []
    for task in tasks or []:
        for key in ("block", "rescue", "always"):
            found += included_task_files(task.get(key), base)
        for key in INCLUDES:
            target = task.get(key)
            target = target.get("file") if isinstance(target, dict) else target
            if target and "{{" not in target:
                found.append((base / target).resolve())
    return found


def playbook_tree(playbook: Path) -> list[Path]:
    """The playbook, every playbook it imports and every task file its plays include, recursively."""
    files, todo = [], [playbook]
    while todo:
        path = todo.pop()
        if path in files:
            continue
        files.append(path)
        for item in load_yaml(path) or []:
            target = item.get("ansible.builtin.import_playbook") or item.get("import_playbook")
            if target:
                todo.append((path.parent / target).resolve())
            elif "hosts" in item:
                for section in ("pre_tasks", "tasks", "post_tasks", "handlers"):
                    todo += included_task_files(item.get(section), path.parent)
            else:  # a task file
                todo += included_task_files([item], path.parent)
    return files


def play_vars(files: list[Path]) -> dict:
    found = {}
    for path in files:
        for play in load_yaml(path) or []:
            found.update(play.get("vars") or {})
    return found


def inventory_vars() -> dict:
    found = {}
    for path in sorted((ROOT / "inventories/aws/group_vars/all").glob("*.yml")):
        found.update(load_yaml(path))
    return found


def survey(name: str) -> dict:
    return load_yaml(AWX / "surveys" / f"{name}.yml")


def check_questions(template: dict) -> list[str]:
    """Problems of one template's survey beyond AWX's own rules."""
    problems = []
    playbook = ROOT / template["playbook"]
    files = playbook_tree(playbook)
    text = "\n".join(path.read_text(encoding="utf-8") for path in files)
    roles_run = set(re.findall(r"taskmanager\.aws\.(\w+)", text))
    options, pvars, ivars = role_options(), play_vars(files), inventory_vars()
    for question in survey(template["survey"])["spec"]:
        var, qtype = question["variable"], question["type"]
        default = question.get("default")
        if var in options and options[var][0] in roles_run:
            role, spec = options[var]
            kind = spec.get("type", "str")
            if qtype not in SURVEY_TYPES.get(kind, set()):
                problems.append(f"{var}: survey type {qtype} does not fit {role}'s type {kind}")
            choices = question.get("choices") or []
            if kind == "bool" and set(choices) - {"true", "false"}:
                problems.append(f"{var}: a bool question offers {choices}")
            if spec.get("choices") and set(choices) - {str(c) for c in spec["choices"]}:
                problems.append(f"{var}: choices {choices} are not all in {role}'s {spec['choices']}")
            literal = spec.get("default")
            templated = literal is None or "{{" in str(literal)
            if default is not None and not templated and str(default).lower() != str(literal).lower():
                problems.append(f"{var}: survey default {default!r} differs from {role}'s default {literal!r}")
        elif var in pvars:
            literal = pvars[var]
            if default is not None and "{{" not in str(literal) and str(default).lower() != str(literal).lower():
                problems.append(f"{var}: survey default {default!r} differs from the play's {literal!r}")
        elif var in ivars:
            if default is not None and "{{" not in str(ivars[var]) and str(default) != str(ivars[var]):
                problems.append(f"{var}: survey default {default!r} differs from inventories/aws {ivars[var]!r}")
        elif not re.search(rf"\b{re.escape(var)}\b", text):
            problems.append(f"{var}: no role run by {template['playbook']}, play or inventory reads it")
    return problems


PRESENT = [t for t in TEMPLATES if (ROOT / t["playbook"]).is_file()]


@pytest.mark.parametrize("template", TEMPLATES, ids=[t["name"] for t in TEMPLATES])
def test_survey_follows_awx_rules(template):
    assert survey_errors(survey(template["survey"])) == []


def test_workflow_survey_follows_awx_rules():
    assert survey_errors(survey(WORKFLOW["awx_workflow_survey"])) == []


@pytest.mark.parametrize("template", PRESENT, ids=[t["name"] for t in PRESENT])
def test_survey_variables_are_the_playbooks(template):
    assert check_questions(template) == []


def test_every_template_playbook_is_discoverable_or_awaited():
    found = discovered_playbooks(ROOT)
    for template in TEMPLATES:
        if template.get("requires_playbook") and not (ROOT / template["playbook"]).exists():
            continue
        assert template["playbook"] in found, f"AWX would not offer {template['playbook']}"


def test_the_rules_catch_bad_surveys():
    """The checks above can fail: each broken copy of a real survey is refused."""
    good = survey("build_stack")
    cases = {
        "default above max": ("network_az_count", {"default": 9}),
        "default not a choice": ("launch_template_instance_type", {"default": "t2.micro"}),
        "float min": ("autoscaling_min_size", {"min": 0.5}),
        "unknown type": ("autoscaling_max_size", {"type": "number"}),
        "string default for integer": ("ecs_ha_desired_count", {"default": "2"}),
    }
    for label, (var, change) in cases.items():
        broken = copy.deepcopy(good)
        next(q for q in broken["spec"] if q["variable"] == var).update(change)
        assert survey_errors(broken), label
    duplicated = copy.deepcopy(good)
    duplicated["spec"].append(duplicated["spec"][0])
    assert survey_errors(duplicated)


def test_the_variable_checks_catch_strangers(tmp_path, monkeypatch):
    template = next(t for t in TEMPLATES if t["name"] == "Build stack")
    real = survey("build_stack")
    broken = copy.deepcopy(real)
    broken["spec"].append({"question_name": "x", "variable": "no_such_variable", "type": "text", "required": False})
    next(q for q in broken["spec"] if q["variable"] == "autoscaling_max_size")["default"] = 4
    next(q for q in broken["spec"] if q["variable"] == "network_az_count")["type"] = "text"
    monkeypatch.setattr(__import__(__name__), "survey", lambda name: broken)
    problems = check_questions(template)
    assert any("no_such_variable" in p for p in problems)
    assert any("autoscaling_max_size" in p for p in problems)
    assert any("network_az_count" in p for p in problems)


def test_discovery_follows_awx(tmp_path):
    skipped = ("roles/x/tasks/main.yml", ".hidden/p.yml", "inventories/group_vars/p.yml")
    for rel in ("site.yml", "playbooks/a.yml", *skipped):
        (tmp_path / rel).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / rel).write_text("- hosts: localhost\n")
    (tmp_path / "playbooks/data.yml").write_text("key: value\n")
    assert discovered_playbooks(tmp_path) == {"site.yml", "playbooks/a.yml"}
