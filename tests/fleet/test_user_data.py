"""The launch template's user data is valid cloud-config, its boot script passes shellcheck, and it
carries the names of the secrets, never their values."""

from __future__ import annotations

import shutil
import subprocess

import pytest
import yaml
from taskmanager_tests.playbook import run_playbook

SCRIPT_PATH = "/usr/local/sbin/taskmanager-bootstrap"


def render(out, **extra_vars):
    """Render the launch template's user data into ``out`` (no AWS call)."""
    result = run_playbook(
        "tests/fleet/render_user_data.yml", extra_vars={"launch_template_user_data_file": str(out), **extra_vars}
    )
    assert result.rc == 0, result.output
    return out


@pytest.fixture(scope="module")
def user_data(tmp_path_factory):
    return render(
        tmp_path_factory.mktemp("user_data") / "user-data.yml",
        artifacts_bucket_name="taskmanager-artifacts-123456789012-eu-north-1",
        artifacts_webapp_key="webapp/taskmanager_webapp-1.0.0-py3-none-any.whl",
    )


def _write_file(config: dict, path: str) -> str:
    return next(f["content"] for f in config["write_files"] if f["path"] == path)


def test_cloud_init_schema_accepts_user_data(user_data):
    assert user_data.read_text().startswith("#cloud-config\n")
    result = subprocess.run(
        ["cloud-init", "schema", "--config-file", str(user_data)], capture_output=True, text=True, check=False
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert "Valid cloud-config" in result.stdout


def test_cloud_init_schema_rejects_a_broken_config(tmp_path):
    """The validator really validates: a wrong type in a known key fails."""
    bad = tmp_path / "bad.yml"
    bad.write_text("#cloud-config\npackage_update: maybe\nruncmd: 42\n")
    result = subprocess.run(
        ["cloud-init", "schema", "--config-file", str(bad)], capture_output=True, text=True, check=False
    )
    assert result.returncode != 0


@pytest.mark.skipif(shutil.which("shellcheck") is None, reason="shellcheck is not installed")
def test_boot_script_passes_shellcheck(user_data, tmp_path):
    config = yaml.safe_load(user_data.read_text())
    script = tmp_path / "taskmanager-bootstrap"
    script.write_text(_write_file(config, SCRIPT_PATH))
    assert script.read_text().startswith("#!/usr/bin/env bash\n")
    result = subprocess.run(["shellcheck", "-S", "style", str(script)], capture_output=True, text=True, check=False)
    assert result.returncode == 0, result.stdout
    assert [SCRIPT_PATH] in config["runcmd"]


def test_user_data_installs_the_app_like_production(user_data):
    config = yaml.safe_load(user_data.read_text())
    assert {"python3", "python3-pip", "nginx"} <= set(config["packages"])
    bootstrap_env = _write_file(config, "/etc/taskmanager/bootstrap.env")
    assert "TASKMANAGER_BUCKET=taskmanager-artifacts-123456789012-eu-north-1" in bootstrap_env
    assert "TASKMANAGER_WHEEL_KEY=webapp/taskmanager_webapp-1.0.0-py3-none-any.whl" in bootstrap_env
    assert "TASKMANAGER_ROOT=/opt/taskmanager" in bootstrap_env
    script = _write_file(config, SCRIPT_PATH)
    for step in (
        "s3 cp",
        "python3 -m venv",
        'pip" install',
        "ssm get-parameter --with-decryption",
        "taskmanager.env",
        "gunicorn.conf.py",
        "systemctl enable --now",
        "nginx -t",
    ):
        assert step in script, step
    assert "set -x" not in script  # would print the secrets into the cloud-init log


def test_user_data_names_secrets_but_holds_no_values(tmp_path):
    out = render(
        tmp_path / "user-data.yml",
        artifacts_bucket_name="b",
        artifacts_webapp_key="webapp/x-1-py3-none-any.whl",
        launch_template_webapp_secret_parameters={"DATABASE_PASSWORD": "/taskmanager/prod/db_password"},
    )
    config = yaml.safe_load(out.read_text())
    secrets = _write_file(config, "/etc/taskmanager/secret-parameters")
    assert "DATABASE_PASSWORD=/taskmanager/prod/db_password" in secrets
    plain = _write_file(config, "/etc/taskmanager/environment")
    assert "DATABASE_PASSWORD" not in plain and "SECRET_KEY" not in plain
