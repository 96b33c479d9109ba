"""The ansiballz_cache callback (plugins/callback/ansiballz_cache.py, on in ansible.cfg): a run
reuses the modules an earlier run packed, and packs again any whose files changed or are now
shadowed. Real ansible-playbook runs of a module of a collection made here; what the module
returns says which code ran."""

from __future__ import annotations

import os
import re
import shutil
import sys
from pathlib import Path

from taskmanager_tests.playbook import REPO, run_playbook

SUMMARY = re.compile(r"ansiballz_cache: (\d+) modules reused, (\d+) built again \(files changed\), (\d+) kept")
MODULE = """#!/usr/bin/python
from ansible.module_utils.basic import AnsibleModule
from ansible_collections.cachetest.demo.plugins.module_utils.value import VALUE


def main():
    AnsibleModule(argument_spec={}).exit_json(changed=False, value=VALUE)


if __name__ == "__main__":
    main()
"""
PLAYBOOK = """
- name: Run the module
  hosts: localhost
  connection: local
  gather_facts: false
  tasks:
    - name: Ask the module
      cachetest.demo.answer:
      register: answer

    - name: Say what it answered
      ansible.builtin.debug:
        msg: "VALUE={{ answer.value }}"
"""


def collection(root: Path, value: str) -> Path:
    """cachetest.demo under root, whose module answers value (from its module_utils)."""
    base = root / "ansible_collections" / "cachetest" / "demo"
    (base / "plugins" / "modules").mkdir(parents=True, exist_ok=True)
    (base / "plugins" / "module_utils").mkdir(parents=True, exist_ok=True)
    (base / "galaxy.yml").write_text("namespace: cachetest\nname: demo\nversion: 1.0.0\nauthors: [x]\n")
    (base / "plugins" / "modules" / "answer.py").write_text(MODULE)
    return set_value(base, value)


def set_value(base: Path, value: str, mtime: float | None = None) -> Path:
    utils = base / "plugins" / "module_utils" / "value.py"
    utils.write_text(f"VALUE = {value!r}\n")
    if mtime is not None:  # same size, another time: only the time tells the files apart
        os.utime(utils, (mtime, mtime))
    return base


def run(tmp_path: Path, roots: list[Path]) -> tuple[str, tuple[int, int, int]]:
    """One run: what the module answered, and the callback's (reused, built again, kept)."""
    (tmp_path / "play.yml").write_text(PLAYBOOK)
    done = run_playbook(
        tmp_path / "play.yml",
        "-vv",
        inventories=("localhost,",),
        extra_vars={"ansible_python_interpreter": sys.executable},
        env={
            "ANSIBLE_COLLECTIONS_PATH": ":".join([*map(str, roots), str(REPO / ".build")]),
            "TASKMANAGER_ANSIBALLZ_CACHE": str(tmp_path / "cache"),
        },
        timeout=300,
    )
    assert done.rc == 0, done.tail()
    value = re.search(r"msg: VALUE=(\w+)", done.stdout)
    summary = SUMMARY.search(done.stdout)
    assert value and summary, done.tail()
    return value[1], tuple(int(number) for number in summary.groups())


def test_a_run_reuses_what_the_last_packed_and_packs_again_what_changed(tmp_path):
    base = collection(tmp_path / "later", "one")
    shadow = tmp_path / "shadow"  # an earlier collection path, without this collection for now
    (shadow / "ansible_collections").mkdir(parents=True)
    roots = [shadow, tmp_path / "later"]

    assert run(tmp_path, roots) == ("one", (0, 0, 1))  # packed, kept
    assert run(tmp_path, roots) == ("one", (1, 0, 0))  # reused

    # The module_utils file changes (same size): the module is packed again, with the new code.
    mtime = (base / "plugins" / "module_utils" / "value.py").stat().st_mtime + 10
    set_value(base, "two", mtime)
    assert run(tmp_path, roots) == ("two", (0, 1, 1))
    assert run(tmp_path, roots) == ("two", (1, 0, 0))

    # The same collection appears in the earlier path: its copy is the one Ansible packs now.
    collection(shadow, "six")
    assert run(tmp_path, roots) == ("six", (0, 1, 1))

    # The cache is its owner's only.
    for folder in (tmp_path / "cache").iterdir():
        assert folder.stat().st_mode & 0o077 == 0, folder

    # A run from a collection path that is then removed (a temporary install): the next run
    # removes that path's folder of the cache, and keeps the others.
    before = set((tmp_path / "cache").iterdir())
    temporary = tmp_path / "temporary"
    collection(temporary, "seven")
    assert run(tmp_path, [temporary]) == ("seven", (0, 0, 1))
    made = set((tmp_path / "cache").iterdir()) - before
    assert len(made) == 1
    shutil.rmtree(temporary)
    assert run(tmp_path, roots) == ("six", (1, 0, 0))
    assert set((tmp_path / "cache").iterdir()) == before
