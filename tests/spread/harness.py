# Copyright: Contributors to the taskmanager.aws project
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Start and stop HAProxy and the stand-in backends by their own PIDs (the emulator, for
target_group_arn: ``taskmanager_tests.emulator``).

Used by the integration tests (tests/spread) and by bench/spread_bench.py.
Ports: HAProxy PORT_BASE + 0..9, backends PORT_BASE + 10..19, on the loopback address HOST; moto on
MOTO_PORT. Defaults 127.0.0.1, 18180 (so 18180-18199) and 5013; SPREAD_HOST, SPREAD_PORT_BASE and
SPREAD_MOTO_PORT move them, so two checkouts can run the suite or the benchmark side by side.
"""

import json
import os
import signal
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from taskmanager_tests.playbook import run_playbook as run_playbook_shared

HERE = Path(__file__).resolve().parent
REPO_ROOT = HERE.parents[1]
BIN = Path(sys.executable).parent
HAPROXY = os.environ.get("HAPROXY", "/usr/sbin/haproxy")
HOST = os.environ.get("SPREAD_HOST", "127.0.0.1")
PORT_BASE = int(os.environ.get("SPREAD_PORT_BASE", "18180"))
MOTO_PORT = int(os.environ.get("SPREAD_MOTO_PORT", "5013"))


def frontend_port(index):
    """Port of HAProxy frontend ``index`` (0-9)."""
    return PORT_BASE + index


def backend_port(index):
    """Port of stand-in backend ``index`` (0-9)."""
    return PORT_BASE + 10 + index


def url(port, path="/instance"):
    return f"http://{HOST}:{port}{path}"


def wait_port(port, timeout=10.0, host=HOST):
    """Wait until something accepts connections on ``port``; raise after ``timeout`` seconds."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            with socket.create_connection((host, port), timeout=0.2):
                return
        except OSError:
            time.sleep(0.05)
    raise RuntimeError(f"nothing listens on {host}:{port} after {timeout}s")


def port_free(port, host=HOST):
    try:
        with socket.create_connection((host, port), timeout=0.2):
            return False
    except OSError:
        return True


def stop(proc, timeout=5.0):
    """Stop one process we started, by its PID: SIGTERM, then SIGKILL."""
    if proc is None or proc.poll() is not None:
        return
    os.kill(proc.pid, signal.SIGTERM)
    try:
        proc.wait(timeout=timeout)
    except subprocess.TimeoutExpired:
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait(timeout=timeout)


def spawn(cmd, ports, timeout=10.0, **popen_kwargs):
    """Start ``cmd`` and wait until it listens on every port; stop it by PID if it does not."""
    for port in ports:
        if not port_free(port):
            raise RuntimeError(f"port {port} is already in use")
    popen_kwargs.setdefault("stdout", subprocess.DEVNULL)
    popen_kwargs.setdefault("stderr", subprocess.DEVNULL)
    proc = subprocess.Popen(cmd, **popen_kwargs)  # pylint: disable=consider-using-with
    try:
        for port in ports:
            wait_port(port, timeout=timeout)
    except RuntimeError:
        stop(proc)
        raise
    return proc


def start_backend(port, instance_id, az="eu-north-1a", mode="normal", hang_seconds=30.0):
    cmd = [sys.executable, str(HERE / "backend.py"), "--host", HOST, "--port", str(port), "--id", instance_id]
    cmd += ["--az", az]
    return spawn(cmd + ["--mode", mode, "--hang-seconds", str(hang_seconds)], [port])


WEBAPP_SRC = REPO_ROOT / "webapp" / "src"


def webapp_available():
    """True when the web app's gunicorn entry point can be imported (it is built by another area)."""
    if not (WEBAPP_SRC / "taskmanager_webapp" / "wsgi.py").is_file() or not (BIN / "gunicorn").exists():
        return False
    probe = subprocess.run(
        [sys.executable, "-c", "import taskmanager_webapp"],
        env=dict(os.environ, PYTHONPATH=str(WEBAPP_SRC)),
        capture_output=True,
        timeout=60,
        check=False,
    )
    return probe.returncode == 0


def start_webapp(port, instance_id, az, data_dir):
    """The real web app under gunicorn, answering /instance with TASKMANAGER_INSTANCE_ID."""
    env = dict(
        os.environ,
        PYTHONPATH=str(WEBAPP_SRC),
        TASKMANAGER_INSTANCE_ID=instance_id,
        TASKMANAGER_AZ=az,
        TASKMANAGER_DATA_DIR=str(data_dir),
        TASKMANAGER_ENV="development",
    )
    cmd = [str(BIN / "gunicorn"), "-b", f"{HOST}:{port}", "-w", "1", "-k", "gthread", "--threads", "4"]
    return spawn(cmd + ["taskmanager_webapp.wsgi:app"], [port], timeout=30, cwd=str(data_dir), env=env)


def haproxy_config(frontends, static=None):
    """HAProxy configuration; ``frontends`` maps a name to (port, [(server_port, weight), ...]).

    ``static`` maps a port to a JSON body that HAProxy itself serves there (``http-request
    return``): backends that cost no Python CPU, for the benchmark.
    """
    lines = [
        "global",
        "    maxconn 4096",
        "defaults",
        "    mode http",
        "    timeout connect 1s",
        "    timeout client 30s",
        "    timeout server 30s",
        # A check fails on an error, not on a slow answer: a backend that a loaded machine leaves
        # unscheduled for 200 ms (the check interval, and without this its time-out) would leave
        # the rotation for a moment and shift the round robin's counts by one.
        "    timeout check 5s",
        "    retries 2",
        "    option redispatch 1",
    ]
    for port, body in (static or {}).items():
        lines += [
            f"frontend static_{port}",
            f"    bind {HOST}:{port}",
            f"    http-request return status 200 content-type application/json string '{body}'",
        ]
    for name, (port, servers) in frontends.items():
        lines += [
            f"frontend fe_{name}",
            f"    bind {HOST}:{port}",
            f"    default_backend be_{name}",
            f"backend be_{name}",
            "    balance roundrobin",
        ]
        for index, (server_port, weight) in enumerate(servers):
            lines.append(f"    server s{index} {HOST}:{server_port} weight {weight} check inter 200ms fall 1 rise 1")
    return "\n".join(lines) + "\n"


class HAProxy:
    """HAProxy in the foreground (-db) from a config in a temporary directory; stop() by PID."""

    def __init__(self, frontends, static=None):
        self.frontends = frontends
        self.static = static or {}
        self.tmp = tempfile.TemporaryDirectory(prefix="spread-haproxy-")
        self.config = Path(self.tmp.name) / "haproxy.cfg"
        self.config.write_text(haproxy_config(frontends, self.static))
        self.proc = None
        self.log = None

    def start(self):
        subprocess.run([HAPROXY, "-c", "-q", "-f", str(self.config)], check=True, timeout=120)
        # Kept open while HAProxy runs, closed in stop().
        self.log = open(Path(self.tmp.name) / "haproxy.log", "wb")  # noqa: SIM115  pylint: disable=consider-using-with
        ports = [port for port, _servers in self.frontends.values()] + list(self.static)
        cmd = [HAPROXY, "-db", "-f", str(self.config)]
        try:
            self.proc = spawn(cmd, ports, stdout=self.log, stderr=subprocess.STDOUT)
        except RuntimeError:
            self.stop()
            raise
        return self

    def stop(self):
        stop(self.proc)
        if self.log:
            self.log.close()
        self.tmp.cleanup()


def run_playbook_full(extra_vars, playbook=None, env=None, check=False, timeout=180):
    """Run a playbook like a user does (JSON callback); return (rc, instance_spread result, output, seconds)."""
    run = run_playbook_shared(
        playbook or HERE / "probe.yml",
        "-c",
        "local",
        *(["--check"] if check else []),
        inventories=("localhost,",),
        extra_vars=dict(extra_vars, ansible_python_interpreter=sys.executable),
        env={"ANSIBLE_STDOUT_CALLBACK": "ansible.posix.json", "ANSIBLE_LOAD_CALLBACK_PLUGINS": "1", **(env or {})},
        timeout=timeout,
    )
    try:
        output = json.loads(run.stdout)
    except ValueError as e:
        raise AssertionError(f"no JSON output (rc={run.rc}): {run.stdout[-2000:]} {run.stderr[-2000:]}") from e
    results = [
        task["hosts"]["localhost"]
        for play in output["plays"]
        for task in play["tasks"]
        if task["hosts"].get("localhost", {}).get("action") == "taskmanager.aws.instance_spread"
    ]
    if not results:
        raise AssertionError(f"instance_spread did not run (rc={run.rc}): {run.stdout[-3000:]}")
    return run.rc, results[0], output, run.seconds


def run_playbook(extra_vars, env=None, check=False, timeout=180):
    """Run tests/spread/probe.yml; return (rc, instance_spread result, seconds)."""
    rc, result, _output, seconds = run_playbook_full(extra_vars, env=env, check=check, timeout=timeout)
    return rc, result, seconds


def task_messages(output):
    """Every task result's msg, to find what the playbook told the user."""
    return [
        json.dumps(task["hosts"]["localhost"].get("msg", ""))
        for play in output["plays"]
        for task in play["tasks"]
        if "localhost" in task["hosts"]
    ]
