"""module-python (scripts/module_python.py, installed by `make venv` as .venv/bin/module-python):
the inventories' Python for the controller's modules. Each pipelined module run is forked from a
warm server; it must end exactly as a plain python run would, and leave no process behind."""

from __future__ import annotations

import base64
import io
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
import zipfile
from pathlib import Path

import pytest
from taskmanager_tests.playbook import REPO, run_playbook

MODULE_PYTHON = Path(sys.executable).parent / "module-python"
sys.path.insert(0, str(REPO / "scripts"))
import module_python  # noqa: E402

pytestmark = pytest.mark.skipif(not MODULE_PYTHON.is_file(), reason="make venv installs module-python")

# Each task reports the command line of its module's parent: the server (module-python --serve)
# or, without one, the shell that Ansible's local connection starts.
PLAYBOOK = """
- hosts: localhost
  gather_facts: false
  vars:
    ansible_connection: local
  tasks:
    - name: Parent of the module ({{ item }})
      ansible.builtin.shell: tr '\\0' ' ' </proc/$(awk '{print $4}' /proc/$PPID/stat)/cmdline
      args:
        chdir: /tmp
      changed_when: false
      register: parents
      loop: [1, 2, 3]
    - name: The environment keyword reaches the module
      ansible.builtin.command: printenv TASKMANAGER_PROBE
      environment:
        TASKMANAGER_PROBE: "probe {{ 6 * 7 }}"
      changed_when: false
      register: probe
    - name: A module that fails
      ansible.builtin.command: sh -c 'echo out; echo err >&2; exit 3'
      register: failing
      failed_when: false
    - name: A module file that is not there
      ansible.builtin.stat:
        path: /nonexistent/taskmanager
      register: missing
    - name: Report
      ansible.builtin.debug:
        msg: "{{ {'parents': parents.results | map(attribute='stdout') | list, 'probe': probe.stdout,
                  'failing': [failing.rc, failing.stdout, failing.stderr],
                  'missing': missing.stat.exists} | to_json }}"
"""


def _report(tmp_path: Path, interpreter: str) -> dict:
    playbook = tmp_path / "probe.yml"
    playbook.write_text(PLAYBOOK)
    run = run_playbook(
        playbook,
        extra_vars={"ansible_python_interpreter": interpreter},
        env={"ANSIBLE_STDOUT_CALLBACK": "ansible.posix.json"},
        timeout=300,
    )
    assert run.rc == 0, run.tail()
    tasks = json.loads(run.stdout[run.stdout.index("{") :])["plays"][0]["tasks"]
    return json.loads(tasks[-1]["hosts"]["localhost"]["msg"])


def _servers() -> list[str]:
    found = []
    for proc in Path("/proc").iterdir():
        try:
            cmdline = (proc / "cmdline").read_bytes().replace(b"\0", b" ").decode()
        except OSError:
            continue
        if str(MODULE_PYTHON) in cmdline and module_python.SERVE in cmdline:
            found.append(cmdline)
    return found


def test_module_runs_end_as_from_a_plain_python_and_the_server_ends_with_ansible(tmp_path):
    warm = _report(tmp_path, str(MODULE_PYTHON))
    plain = _report(tmp_path, sys.executable)
    # The first run starts the server and waits for it, as the next ones do: all are its children.
    assert all(module_python.SERVE in parent for parent in warm["parents"]), warm["parents"]
    assert not any(module_python.SERVE in parent for parent in plain["parents"]), plain["parents"]
    for report in (warm, plain):
        assert report["probe"] == "probe 42"
        assert report["failing"] == [3, "out", "err"]
        assert report["missing"] is False
    # The server stops within a second of its ansible-playbook; the wait is bounded at a minute
    # for a machine where the gate runs at idle priority beside busy ones.
    for _attempt in range(600):
        if not _servers():
            break
        time.sleep(0.1)
    assert not _servers()


@pytest.fixture
def server(tmp_path):
    """A server owned by this test process, on a socket path where a dead server left its socket."""
    path = str(tmp_path / "s.sock")
    import socket

    stale = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    stale.bind(path)
    stale.close()
    proc = subprocess.Popen([str(MODULE_PYTHON), module_python.SERVE, path, str(os.getpid())])
    for _attempt in range(100):
        if module_python.handoff_probe(path):
            break
        time.sleep(0.05)
    yield path
    proc.terminate()
    proc.wait(timeout=60)


def _handoff(path: str, script: str, cwd: Path, env: dict) -> subprocess.CompletedProcess:
    scripts = str(REPO / "scripts")
    code = f"import sys; sys.path.insert(0, {scripts!r}); import module_python as m; sys.exit(m.handoff({path!r}))"
    return subprocess.run(
        [sys.executable, "-c", code],
        input=script,
        capture_output=True,
        text=True,
        cwd=cwd,
        env={**os.environ, **env},
        timeout=30,
        check=False,
    )


@pytest.mark.parametrize(
    ("script", "rc", "stdout", "stderr"),
    [
        ("import os; print(os.getcwd(), os.environ['PROBE'])", 0, "{cwd} probe\n", ""),
        ("import sys; print('x'); sys.exit(3)", 3, "x\n", ""),
        ("import sys; sys.exit('gone')", 1, "", "gone\n"),
        ("raise ValueError('boom')", 1, "", "ValueError: boom\n"),
        ("import atexit; atexit.register(print, 'at exit')", 0, "at exit\n", ""),
        ("import subprocess; print(subprocess.run(['true']).returncode)", 0, "0\n", ""),
    ],
)
def test_a_run_ends_as_python_ends(server, tmp_path, script, rc, stdout, stderr):
    env = {"PROBE": "probe"}
    done = _handoff(server, script, tmp_path, env)
    plain = subprocess.run(
        [sys.executable],
        input=script,
        capture_output=True,
        text=True,
        cwd=tmp_path,
        env={**os.environ, **env},
        check=False,
    )
    stdout = stdout.format(cwd=tmp_path)
    assert (done.returncode, done.stdout) == (rc, stdout) == (plain.returncode, plain.stdout)
    assert done.stderr.endswith(stderr) and plain.stderr.endswith(stderr)


# What a run's first botocore session holds parsed, before it makes any client itself.
PARSED = """
import botocore.session
loader = botocore.session.Session().get_component("data_loader")
print(sorted(key[1] for key in loader._cache if key[0] == "load_service_model" and key[2] == "service-2"))
"""


def test_a_run_starts_with_the_servers_parsed_aws_models_and_frozen_heap(server, tmp_path):
    served = _handoff(server, PARSED, tmp_path, {})
    assert served.returncode == 0, served.stderr
    assert eval(served.stdout) == sorted(module_python.WARM_SERVICES)  # noqa: S307 - a list this test printed
    # The server's heap is out of the runs' garbage collections (gc.freeze before the forks).
    frozen = _handoff(server, "import gc; print(gc.get_freeze_count() > 0)", tmp_path, {})
    assert frozen.stdout == "True\n", frozen.stderr
    # Another AWS_DATA_PATH can hold other models: that run's session parses its own.
    other = _handoff(server, PARSED, tmp_path, {"AWS_DATA_PATH": str(tmp_path)})
    plain = subprocess.run([sys.executable], input=PARSED, capture_output=True, text=True, check=False)
    assert other.stdout == plain.stdout == "[]\n", (other.stderr, plain.stderr)


def test_no_server_means_no_handoff(tmp_path):
    assert module_python.handoff(str(tmp_path / "none.sock")) is None
    assert module_python.handoff_probe(str(tmp_path / "none.sock")) is False


def test_a_temporary_folder_too_deep_for_a_unix_socket_means_no_server(tmp_path, monkeypatch):
    short = tempfile.mkdtemp(prefix="mp")
    monkeypatch.setattr(tempfile, "tempdir", short)
    assert module_python.socket_path(1).startswith(short)
    shutil.rmtree(short)
    deep = tmp_path / ("d" * 100)
    deep.mkdir()
    monkeypatch.setattr(tempfile, "tempdir", str(deep))
    assert module_python.socket_path(1) is None


def test_arguments_run_the_plain_python():
    done = subprocess.run(
        [str(MODULE_PYTHON), "-c", "import sys; print(sys.argv)"], capture_output=True, text=True, check=True
    )
    assert done.stdout == "['-c']\n"


def _source(files: dict[str, bytes]) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        for name, data in files.items():
            archive.writestr(name, data)
    return b"_ansiballz_main(\nzip_data='" + base64.b64encode(buffer.getvalue()) + b"',\n)"


def test_a_zip_with_other_versions_of_the_servers_files_is_told_apart():
    known = module_python.preload()
    basic = Path(sys.modules["ansible.module_utils.basic"].__file__).read_bytes()
    version = known[0]["__version__"]
    stub = f'from pkgutil import extend_path\n__path__=extend_path(__path__,__name__)\n__version__="{version}"\n'
    same = {"ansible/__init__.py": stub.encode(), "ansible/module_utils/basic.py": basic, "x/own.py": b"pass"}
    assert module_python.zip_mismatch(_source(same), known) is False
    assert module_python.zip_mismatch(_source({**same, "ansible/module_utils/basic.py": basic + b"#"}), known)
    older = stub.replace(version, "0.1").encode()
    assert module_python.zip_mismatch(_source({**same, "ansible/__init__.py": older}), known)
    assert module_python.zip_mismatch(b"no zip here", known)


def test_a_module_utils_file_that_warns_on_import_is_left_to_the_runs_that_import_it(tmp_path, monkeypatch):
    from ansible.module_utils.common import warnings

    (tmp_path / "mp_clean.py").write_text("VALUE = 1\n")
    (tmp_path / "mp_warns.py").write_text(
        "import mp_clean_too\n"
        "from ansible.module_utils.common import warnings\n"
        "warnings.deprecate('old', version='9.9')\n"
    )
    (tmp_path / "mp_clean_too.py").write_text("VALUE = 2\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    deprecations = dict(warnings._global_deprecations)
    module_python.quiet_import("mp_clean")
    module_python.quiet_import("mp_warns")
    module_python.quiet_import("mp_missing")
    assert "mp_clean" in sys.modules
    assert not {"mp_warns", "mp_clean_too", "mp_missing"} & set(sys.modules)
    assert warnings._global_deprecations == deprecations
    del sys.modules["mp_clean"]
