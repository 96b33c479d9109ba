# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""ansible-playbook from the repository root, the way a user runs it, and what its output says."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import yaml

REPO = Path(__file__).resolve().parents[2]
# The virtualenv the suites run in (VENV: .venv, .venv-ansible14, or an absolute path).
VENV = (REPO / os.environ.get("VENV", ".venv")).resolve()
VENV_BIN = VENV / "bin"
# The modules' Python on the controller, as the inventories choose it (group_vars/all/controller.yml).
CONTROLLER_PYTHON = str(VENV_BIN / "module-python") if (VENV_BIN / "module-python").is_file() else sys.executable
# Where relative playbook paths resolve: this checkout, or an installed copy of the collection
# (scripts/test-ansible14.sh sets TASKMANAGER_PLAYBOOK_DIR to the one it installed from the tarball).
PLAYBOOK_DIR = Path(os.environ.get("TASKMANAGER_PLAYBOOK_DIR") or REPO)
# Every host's line: site.yml runs on localhost and on a controller host per stack (playbooks/stacks.yml).
RECAP = re.compile(r"^[\w.-]+\s+:\s+ok=(\d+)\s+changed=(\d+)\s+unreachable=(\d+)\s+failed=(\d+)", re.M)
ALLOWED_DEPRECATIONS = [
    re.compile(line)
    for line in (REPO / "tests/allowed-deprecations.txt").read_text().splitlines()
    if line.strip() and not line.startswith("#")
]


@dataclass
class PlaybookRun:
    rc: int
    stdout: str
    stderr: str
    seconds: float

    @property
    def output(self) -> str:
        """stdout, then stderr."""
        return self.stdout + self.stderr

    def _recaps(self) -> list[tuple[int, ...]]:
        found = RECAP.findall(self.output)
        assert found, f"no PLAY RECAP in the output (rc={self.rc}):\n{self.output[-3000:]}"
        return [tuple(int(n) for n in counts) for counts in found]

    @property
    def ok(self) -> int:
        return sum(recap[0] for recap in self._recaps())

    @property
    def changed(self) -> int:
        """Changed tasks over every PLAY RECAP of the output (an imported playbook prints one each)."""
        return sum(recap[1] for recap in self._recaps())

    @property
    def failed(self) -> int:
        return sum(recap[3] for recap in self._recaps())

    @property
    def deprecations(self) -> list[str]:
        """Deprecation warnings printed by the run, except those in tests/allowed-deprecations.txt."""
        return [
            line
            for line in self.output.splitlines()
            if "[DEPRECATION WARNING]" in line and not any(allowed.search(line) for allowed in ALLOWED_DEPRECATIONS)
        ]

    def tail(self, characters: int = 4000) -> str:
        return self.output[-characters:]


def run_playbook(
    playbook: str | Path,
    *args: str,
    inventories: tuple[str | Path, ...] = (),
    extra_vars: dict | None = None,
    env: dict | None = None,
    timeout: float = 1200,
) -> PlaybookRun:
    """``ansible-playbook [-i INVENTORY ...] PLAYBOOK ARGS... [-e JSON]`` from the repository root
    (a relative PLAYBOOK is in PLAYBOOK_DIR).

    The environment is this process's, with the repository's ansible.cfg, no colour, the
    virtualenv first on PATH, then ``env`` on top (an emulator's endpoint, for one)."""
    command = [str(VENV_BIN / "ansible-playbook")]
    for inventory in inventories:
        command += ["-i", str(inventory)]
    command += [str(PLAYBOOK_DIR / playbook), *args]
    if extra_vars is not None:
        command += ["-e", json.dumps(extra_vars)]
    full_env = dict(
        os.environ,
        ANSIBLE_CONFIG=str(REPO / "ansible.cfg"),
        ANSIBLE_NOCOLOR="1",
        ANSIBLE_FORCE_COLOR="0",
        PATH=f"{VENV_BIN}:{os.environ['PATH']}",
    )
    full_env.update(env or {})
    started = time.monotonic()
    done = subprocess.run(command, cwd=REPO, env=full_env, capture_output=True, text=True, timeout=timeout, check=False)
    return PlaybookRun(done.returncode, done.stdout, done.stderr, time.monotonic() - started)


@dataclass
class HostResult:
    """What one inventory host of a host-per-case run did."""

    failed: bool = False
    msg: str = ""  # the failed task's message
    changed: bool = False  # any task reported a change for this host
    tasks: list[str] | None = None  # the tasks that ran for this host (not skipped), in order


def run_host_cases(
    playbook: str | Path,
    cases: dict[str, dict],
    inventory: Path,
    *,
    extra_inventories: tuple[str | Path, ...] = (REPO / "inventories/local/hosts.yml",),
    env: dict | None = None,
    forks: int = 4,
) -> dict[str, HostResult]:
    """Run ``playbook`` once, one inventory host per case (group ``cases``; host vars = the case's
    variables), and return each case's result, read from the ``ansible.posix.json`` callback.

    One process for a whole table of bad inputs: ansible-playbook's start-up (a few seconds) is
    paid once instead of once per case. ``extra_inventories`` come first: by default the stack's
    static inventory, whose group_vars give every host the settings of ``inventories/local``."""
    base = {"ansible_connection": "local", "ansible_python_interpreter": CONTROLLER_PYTHON}
    hosts = {f"case_{name.replace('-', '_')}": {**base, **variables} for name, variables in cases.items()}
    inventory.write_text(yaml.safe_dump({"cases": {"hosts": hosts}}))
    proc = run_playbook(
        playbook,
        inventories=(*extra_inventories, inventory),
        env={"ANSIBLE_STDOUT_CALLBACK": "ansible.posix.json", "ANSIBLE_FORKS": str(forks), **(env or {})},
    )
    assert "{" in proc.stdout, f"no JSON report (rc={proc.rc}):\n{proc.tail()}"
    # raw_decode: the report ends where its object ends (a callback such as ansible.posix.timer,
    # which scripts/test-fleet.sh enables, prints a line after it).
    report, _end = json.JSONDecoder().raw_decode(proc.stdout, proc.stdout.index("{"))
    results = {host: HostResult(tasks=[]) for host in hosts}
    for play in report["plays"]:
        for task in play["tasks"]:
            for host, result in task["hosts"].items():
                if host not in results or result.get("skipped"):
                    continue
                results[host].tasks.append(task["task"]["name"])
                results[host].changed |= bool(result.get("changed"))
                if result.get("failed"):
                    results[host].failed, results[host].msg = True, str(result.get("msg", ""))
    return {name: results[f"case_{name.replace('-', '_')}"] for name in cases}
