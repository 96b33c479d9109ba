"""The built collection tarball works on its own: converge, teardown, audit, teardown again.

(`--check` on the converged foundation is molecule default's check step, from the same files.)"""

from __future__ import annotations

import subprocess

import pytest
from conftest import run_playbook
from taskmanager_tests.playbook import REPO, VENV_BIN


@pytest.fixture(scope="module")
def installed(tmp_path_factory):
    build = tmp_path_factory.mktemp("build")
    dest = tmp_path_factory.mktemp("collections")
    subprocess.run(
        [str(VENV_BIN / "ansible-galaxy"), "collection", "build", "--output-path", str(build), str(REPO)],
        check=True,
        capture_output=True,
    )
    (tarball,) = build.glob("taskmanager-aws-*.tar.gz")
    subprocess.run(
        [
            str(VENV_BIN / "ansible-galaxy"),
            "collection",
            "install",
            "--force",
            "--no-deps",
            "-p",
            str(dest),
            str(tarball),
        ],
        check=True,
        capture_output=True,
    )
    assert (dest / "ansible_collections/taskmanager/aws/roles/network/tasks/main.yml").is_file()
    config = dest / "ansible.cfg"
    # Only the installed copy (and the ansible package's own collections) on the path.
    config.write_text(f"[defaults]\ncollections_path = {dest}\nstdout_callback = ansible.builtin.default\n")
    return config


def test_installed_collection_converges_and_tears_down(installed, endpoint):
    wheel = sorted((REPO / ".build/dist").glob("taskmanager_webapp-*.whl"))
    assert wheel, "run `make webapp-dist` first"
    extra = ("-e", f"artifacts_webapp_package={wheel[-1]}")

    converge = run_playbook("taskmanager.aws.infra", *extra, endpoint=endpoint, config=installed)
    assert converge.rc == 0, converge.output[-4000:]
    assert converge.changed > 0
    assert converge.deprecations == []

    teardown = run_playbook("taskmanager.aws.teardown", endpoint=endpoint, config=installed)
    assert teardown.rc == 0, teardown.output[-4000:]
    assert "Audit clean" in teardown.output
    assert teardown.deprecations == []
    again = run_playbook("taskmanager.aws.teardown", endpoint=endpoint, config=installed)
    assert again.rc == 0 and again.changed == 0
