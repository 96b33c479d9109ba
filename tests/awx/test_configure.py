"""playbooks/awx_configure.yml: what it would send to AWX, and ansible-lint against awx.awx's specs."""

from __future__ import annotations

import shutil
import subprocess

import pytest
import yaml
from conftest import ROOT, VENV_BIN, render_awx_config


@pytest.fixture(scope="module")
def rendered(tmp_path_factory) -> dict:
    return render_awx_config(ROOT, tmp_path_factory.mktemp("awx-render") / "awx.json")


def load(rel: str):
    return yaml.safe_load((ROOT / rel).read_text())


def test_job_templates_carry_their_surveys(rendered):
    templates = load("awx/job_templates.yml")["awx_job_templates"]
    present = [t["name"] for t in templates if (ROOT / t["playbook"]).is_file()]
    assert [t["name"] for t in rendered["job_templates"]] == present
    assert rendered["left_out"] == [t["name"] for t in templates if t["name"] not in present]
    assert all(t.get("requires_playbook") for t in templates if t["name"] in rendered["left_out"])
    for template in rendered["job_templates"]:
        assert template["survey_spec"] == load(f"awx/surveys/{template['survey']}.yml")


def test_workflow_links_only_kept_nodes(rendered):
    nodes = {n["identifier"]: n for n in rendered["workflow_nodes"]}
    names = {t["name"] for t in rendered["job_templates"]}
    for node in nodes.values():
        assert node["unified_job_template"]["name"] in names
        for kind in ("success_nodes", "failure_nodes", "always_nodes"):
            assert {link["identifier"] for link in node["related"][kind]} <= set(nodes)
    assert nodes["build"]["related"]["success_nodes"] == [{"identifier": "verify"}]
    assert nodes["build"]["related"]["failure_nodes"] == [{"identifier": "teardown_after_failed_build"}]
    assert nodes["teardown_after_failed_build"]["extra_data"] == {"taskmanager_teardown_confirm": "teardown"}
    if (ROOT / "playbooks/failover_test.yml").is_file():
        assert nodes["scale"]["related"]["success_nodes"] == [{"identifier": "failover"}]
    else:
        assert "failover" not in nodes and nodes["scale"]["related"]["success_nodes"] == []


def test_inventory_equals_inventories_aws(rendered):
    settings = load("awx/inventory.yml")
    expected = {}
    for rel in settings["awx_inventory_group_vars_files"]:
        expected.update(load(rel))
    for key in settings["awx_inventory_variables_left_out"]:
        expected.pop(key)
    expected.update(settings["awx_inventory_extra_variables"])
    assert rendered["inventory_variables"] == expected
    source = dict(rendered["source_vars"])
    compose = dict(source.pop("compose"))
    extras = settings["awx_inventory_source_fleet_compose"]
    assert {k: compose.pop(k) for k in extras} == extras
    assert {**source, "compose": compose} == load("inventories/aws/fleet.aws_ec2.yml")
    # Every setting the fleet group gets from group_vars/fleet.yml, the AWX inventory gives too.
    assert set(load("inventories/aws/group_vars/fleet.yml")) == set(extras) | set(
        settings["awx_inventory_extra_variables"]
    )


def lint(folder) -> subprocess.CompletedProcess:
    return subprocess.run(
        [str(VENV_BIN / "ansible-lint"), "--strict", "--format=pep8", "playbooks/awx_configure.yml"],
        cwd=folder,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )


def test_lint_checks_awx_module_arguments(tmp_path):
    """ansible-lint's args rule checks module arguments against the modules' own specs. It is
    experimental: a profile leaves it out and its findings are warnings. Lint strict with it
    enabled, and show that a wrong awx.awx argument fails."""
    (tmp_path / "playbooks").mkdir()
    shutil.copytree(ROOT / "awx", tmp_path / "awx")
    # The project's configuration, plus the args rule, which a profile leaves out (experimental).
    config = (ROOT / ".ansible-lint").read_text() + "enable_list:\n  - args\n"
    (tmp_path / ".ansible-lint").write_text(config)
    playbook = (ROOT / "playbooks/awx_configure.yml").read_text()
    (tmp_path / "playbooks/awx_configure.yml").write_text(playbook)
    clean = lint(tmp_path)
    assert clean.returncode == 0, clean.stdout + clean.stderr
    broken = playbook.replace(
        "            scm_clean: true\n", "            scm_clean: true\n            scm_cleanup: true\n"
    )
    assert broken != playbook
    (tmp_path / "playbooks/awx_configure.yml").write_text(broken)
    refused = lint(tmp_path)
    assert refused.returncode != 0
    assert "scm_cleanup" in refused.stdout + refused.stderr


def test_secrets_are_no_log():
    """Every task that hands AWX a secret hides it from the log."""
    tasks = []
    for play in load("playbooks/awx_configure.yml"):
        for task in play["tasks"]:
            tasks.extend(task.get("block", [task]))
    secret_tasks = [t for t in tasks if "awx.awx.credential" in t]
    assert secret_tasks
    assert all(t.get("no_log") is True for t in secret_tasks)
    assert all("lookup('ansible.builtin.env'" in str(t["awx.awx.credential"]["inputs"]) for t in secret_tasks)
