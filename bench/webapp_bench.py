"""Benchmark: the seed's serving (Flask development server, ``app.run()``) against the production
setup (nginx with webapp/deploy/nginx-taskmanager.conf in front of gunicorn with
webapp/deploy/gunicorn.conf.py), in one run on this machine. gunicorn alone is measured too.

For GET /instance and GET /api/tasks?per_page=100 (100 tasks in the database) it runs wrk at a fixed
concurrency against each and prints requests/s, p99 latency and the ratios against the dev server.
Target (issue 3): /instance at least 5x the development server, p99 under 20 ms at concurrency 16.

    .venv/bin/python bench/webapp_bench.py [--duration 5] [--connections 16]

Ports: WEBAPP_BENCH_PORT (18090) and the next two.
"""

from __future__ import annotations

import argparse
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
SRC = REPO / "webapp" / "src"
CONF = REPO / "webapp" / "deploy" / "gunicorn.conf.py"
BIN = Path(sys.executable).parent
# Inside the web app's port allocation; WEBAPP_BENCH_PORT moves the three (shared machines).
_BASE = int(os.environ.get("WEBAPP_BENCH_PORT", "18090"))
DEV_PORT, PROD_PORT, NGINX_PORT = _BASE, _BASE + 1, _BASE + 2
PATHS = ("/instance", "/api/tasks?per_page=100")
UNITS = {"us": 0.001, "ms": 1.0, "s": 1000.0}
DEV, GUNICORN, PRODUCTION = "flask dev server", "gunicorn alone", "nginx + gunicorn"

sys.path.insert(0, str(REPO / "tests" / "webapp"))
from servers import nginx_in_front, stop  # noqa: E402 - the shipped nginx site on loopback; stopping servers


def wait_ready(url: str, proc: subprocess.Popen, timeout: float = 30) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"server for {url} exited with {proc.returncode}")
        try:
            with urllib.request.urlopen(url, timeout=2) as response:  # noqa: S310 - loopback http
                if response.status == 200:
                    return
        except (urllib.error.URLError, OSError):
            pass
        time.sleep(0.2)
    raise TimeoutError(url)


def wrk(url: str, seconds: int, connections: int) -> tuple[float, float]:
    """Return (requests/s, p99 in ms)."""
    out = subprocess.run(
        ["wrk", "-t2", f"-c{connections}", f"-d{seconds}s", "--latency", "--timeout", "5s", url],
        capture_output=True,
        text=True,
        timeout=seconds + 30,
        check=True,
    ).stdout
    rps = float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1))
    value, unit = re.search(r"^\s+99%\s+([\d.]+)(us|ms|s)\s*$", out, re.M).groups()
    errors = re.search(r"Non-2xx or 3xx responses: (\d+)", out)
    if errors:
        raise RuntimeError(f"{url}: {errors.group(1)} error responses\n{out}")
    return rps, float(value) * UNITS[unit]


def seed_tasks(env: dict, count: int) -> None:
    code = (
        "from taskmanager_webapp import create_app\n"
        "from taskmanager_webapp.cli import main\n"
        "assert main(['migrate']) == 0\n"
        "client = create_app().test_client()\n"
        f"for n in range({count}):\n"
        "    r = client.post('/api/tasks', json={'title': f'Oppgave {n}', 'description': 'x' * 200,"
        " 'status': ('todo', 'in_progress', 'done')[n % 3], 'due_date': '2026-12-24'})\n"
        "    assert r.status_code == 201, r.get_json()\n"
    )
    subprocess.run([sys.executable, "-c", code], env=env, check=True, timeout=300)


def start(cmd: list[str], env: dict, log: Path) -> subprocess.Popen:
    with open(log, "wb") as handle:
        return subprocess.Popen(cmd, env=env, stdout=handle, stderr=subprocess.STDOUT)


def measure(results: dict, name: str, base: str, args) -> None:
    for path in PATHS:
        wrk(base + path, 1, args.connections)  # warm-up: workers, caches, connections
        results[(name, path)] = wrk(base + path, args.duration, args.connections)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", maxsplit=1)[0])
    parser.add_argument("--duration", type=int, default=5, help="seconds of load per measurement")
    parser.add_argument("--connections", type=int, default=16)
    parser.add_argument("--tasks", type=int, default=100)
    args = parser.parse_args()
    if not shutil.which("wrk"):
        print("wrk is not installed (Debian package wrk)", file=sys.stderr)
        return 2

    work = Path(tempfile.mkdtemp(prefix="webapp-bench-"))
    env = {
        "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
        "PYTHONPATH": str(SRC),
        "TASKMANAGER_DATA_DIR": str(work),
        "TASKMANAGER_IMDS": "off",
        "TASKMANAGER_INSTANCE_ID": "i-0bench000000000001",
        "TASKMANAGER_AZ": "eu-north-1a",
        "SECRET_KEY": "bench-only",
    }
    seed_tasks(env, args.tasks)
    servers = {
        # The seed's way: python3 app.py -> app.run() (Werkzeug development server, threaded).
        DEV: (
            [
                sys.executable,
                "-c",
                f"from taskmanager_webapp import create_app; create_app().run('127.0.0.1', {DEV_PORT})",
            ],
            {**env, "TASKMANAGER_ENV": "development"},
            DEV_PORT,
        ),
        # gunicorn with the shipped config (workers from CPU count, gthread, access log on); in
        # production nginx with the shipped site sits in front of it (measured with the same gunicorn).
        GUNICORN: (
            [str(BIN / "gunicorn"), "-c", str(CONF), "taskmanager_webapp.wsgi:app"],
            {**env, "TASKMANAGER_ENV": "production", "TASKMANAGER_BIND": f"127.0.0.1:{PROD_PORT}"},
            PROD_PORT,
        ),
    }
    results: dict[tuple[str, str], tuple[float, float]] = {}
    procs: list[subprocess.Popen] = []
    try:
        for name, (cmd, server_env, port) in servers.items():
            proc = start(cmd, server_env, work / f"{port}.log")
            procs.append(proc)
            base = f"http://127.0.0.1:{port}"
            wait_ready(base + "/health", proc)
            measure(results, name, base, args)
            if name == GUNICORN:
                with nginx_in_front(work / "nginx", PROD_PORT, NGINX_PORT) as nginx:
                    front = f"http://127.0.0.1:{NGINX_PORT}"
                    wait_ready(front + "/health", nginx)
                    measure(results, PRODUCTION, front, args)
            stop(proc)
    finally:
        for proc in procs:
            stop(proc)
        shutil.rmtree(work, ignore_errors=True)

    print(f"\nwrk -t2 -c{args.connections} -d{args.duration}s on loopback, {os.cpu_count()} CPUs, {args.tasks} tasks")
    print(f"{'server':24} {'path':26} {'req/s':>10} {'p99 ms':>8}")
    for (name, path), (rps, p99) in results.items():
        print(f"{name:24} {path:26} {rps:10.0f} {p99:8.1f}")
    print()
    for name in (GUNICORN, PRODUCTION):
        for path in PATHS:
            (dev_rps, dev_p99), (rps, p99) = results[(DEV, path)], results[(name, path)]
            print(f"{name:18} {path:26} {rps / dev_rps:6.2f}x the dev server, p99 {dev_p99:.1f} -> {p99:.1f} ms")
    inst_ratio = results[(PRODUCTION, "/instance")][0] / results[(DEV, "/instance")][0]
    inst_p99 = results[(PRODUCTION, "/instance")][1]
    ok = True
    for label, passed in (
        (f"/instance >= 5x the development server ({inst_ratio:.2f}x)", inst_ratio >= 5),
        (f"/instance p99 < 20 ms in the production setup ({inst_p99:.1f} ms)", inst_p99 < 20),
    ):
        ok &= passed
        print(f"target {'met' if passed else 'MISSED'}: {label}")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
