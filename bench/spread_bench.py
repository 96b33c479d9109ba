# Copyright: Contributors to the taskmanager.aws project
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Benchmark: instance_spread's probe against the seed's way (refresh by hand, automated as a
sequential ``curl`` loop) and against ``hey`` / ``wrk`` (the practical limit), in one run, through
one local HAProxy (127.0.0.1:18180) in front of three stand-in backends (127.0.0.1:18190-18192);
SPREAD_HOST and SPREAD_PORT_BASE move them (tests/spread/harness.py).

Prints requests/s for each and the ratios. Goals (issue 17): the module's engine (one kept-alive
connection per worker) at least 20 % of wrk with keep-alive on the same target, at least 10x the
curl loop, and 1000 requests judged in under 0.5 s on loopback. Exit status 1 when one is missed.
The engine and wrk run alternately in ``--rounds`` rounds (3), so that both see the same load on a
shared machine; the share of wrk is taken within each round and the median round is reported.

    .venv/bin/python bench/spread_bench.py [--requests 2000] [--concurrency 4] [--curl-requests 2000] \
        [--rounds 3] [--wrk-seconds 2] [--backends python|haproxy]
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import subprocess
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / ".build"))
sys.path.insert(0, str(REPO / "tests"))  # taskmanager_tests, which harness imports
sys.path.insert(0, str(REPO / "tests" / "spread"))

import harness  # noqa: E402

from ansible_collections.taskmanager.aws.plugins.module_utils import spread_probe, spread_stats, spread_verdict  # noqa: E402

IDS = ["i-0a1a1a1a1a1a1a1a1", "i-0b2b2b2b2b2b2b2b2", "i-0c3c3c3c3c3c3c3c3"]
AZS = ["eu-north-1a", "eu-north-1b", "eu-north-1c"]
FRONT = harness.frontend_port(0)
BACKENDS = [harness.backend_port(i) for i in range(3)]
URL = harness.url(FRONT)
HEADERS = {"Accept": "application/json"}


def engine(requests: int, concurrency: int) -> dict:
    """The module's engine (module_utils.spread_probe, _stats, _verdict) directly: probe, aggregate, verdict."""
    start = time.monotonic()
    samples, elapsed = spread_probe.run_probe(URL, requests=requests, concurrency=concurrency, headers=HEADERS)
    stats = spread_stats.aggregate(samples, elapsed)
    verdict = spread_verdict.evaluate(stats, expected_ids=IDS)
    total = time.monotonic() - start
    assert verdict["passed"], verdict["failures"]
    return {"seconds": total, "rps": requests / total, "p99_ms": stats["latency_ms"]["p99"]}


def module_run(requests: int, concurrency: int) -> dict:
    """The module as users run it: ansible localhost -m taskmanager.aws.instance_spread."""
    args = json.dumps({"url": URL, "requests": requests, "concurrency": concurrency, "expected_ids": IDS})
    env = dict(os.environ, ANSIBLE_LOAD_CALLBACK_PLUGINS="1", ANSIBLE_STDOUT_CALLBACK="ansible.posix.json")
    start = time.monotonic()
    proc = subprocess.run(
        [
            str(harness.BIN / "ansible"),
            "localhost",
            "-i",
            "localhost,",
            "-c",
            "local",
            "-e",
            f"ansible_python_interpreter={sys.executable}",
            "-m",
            "taskmanager.aws.instance_spread",
            "-a",
            args,
        ],
        cwd=REPO,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    total = time.monotonic() - start
    result = json.loads(proc.stdout)["plays"][0]["tasks"][0]["hosts"]["localhost"]
    assert proc.returncode == 0, result.get("msg")
    return {
        "seconds": total,
        "rps": requests / total,
        "inner_seconds": result["elapsed"],
        "inner_rps": result["requests_per_second"],
    }


def curl_loop(requests: int) -> dict:
    """The seed's refresh, automated: one curl process per request, one after the other."""
    curl = shutil.which("curl")
    seen = set()
    start = time.monotonic()
    for _request in range(requests):
        out = subprocess.run(
            [curl, "-s", "-H", "Accept: application/json", URL], capture_output=True, text=True, timeout=10, check=True
        ).stdout
        seen.add(json.loads(out)["instance_id"])
    total = time.monotonic() - start
    assert seen == set(IDS), seen
    return {"seconds": total, "rps": requests / total}


def hey(requests: int, concurrency: int, keepalive: bool) -> dict | None:
    path = shutil.which("hey")
    if not path:
        return None
    cmd = [path, "-n", str(requests), "-c", str(concurrency), "-H", "Accept: application/json"]
    if not keepalive:
        cmd.append("-disable-keepalive")
    out = subprocess.run(cmd + [URL], capture_output=True, text=True, timeout=120, check=True).stdout
    rps = float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1))
    return {"seconds": requests / rps, "rps": rps}


def median_row(rows: list[dict], key: str = "rps") -> dict:
    """The row with the median ``key`` (the middle one of an odd number)."""
    return sorted(rows, key=lambda row: row[key])[len(rows) // 2]


def wrk(concurrency: int, seconds: int = 3) -> dict | None:
    path = shutil.which("wrk")
    if not path:
        return None
    out = subprocess.run(
        [path, "-t2", f"-c{concurrency}", f"-d{seconds}s", "-H", "Accept: application/json", URL],
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    ).stdout
    rps = float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1))
    return {"seconds": None, "rps": rps}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--requests", type=int, default=2000)
    # 4 workers: on 2 CPUs the GIL makes more threads slower on loopback (10 is measured too, see docs).
    parser.add_argument("--concurrency", type=int, default=4)
    parser.add_argument("--curl-requests", type=int, default=2000)
    parser.add_argument("--rounds", type=int, default=3, help="alternating rounds of the engine and wrk")
    parser.add_argument("--wrk-seconds", type=int, default=2)
    parser.add_argument(
        "--backends",
        choices=["python", "haproxy"],
        default="python",
        help="python: the stand-in backend.py processes of the tests; haproxy: bodies served by HAProxy "
        "itself (no Python CPU on the server side, so the client is what is measured)",
    )
    args = parser.parse_args()

    procs = []
    proxy = None
    static = {}
    try:
        for port, ident, az in zip(BACKENDS, IDS, AZS, strict=True):
            if args.backends == "python":
                procs.append(harness.start_backend(port, ident, az=az))
            else:
                static[port] = json.dumps({"instance_id": ident, "availability_zone": az})
        proxy = harness.HAProxy({"bench": (FRONT, [(port, 1) for port in BACKENDS])}, static=static).start()
        engine(200, args.concurrency)  # warm-up

        # The engine and wrk alternate, round after round, so that both see the same load; each
        # ratio is taken within its round, and the median round is reported.
        rounds = []
        for _round in range(args.rounds):
            rounds.append(
                {
                    "engine": engine(args.requests, args.concurrency),
                    "thousand": engine(1000, args.concurrency),
                    "wrk": wrk(args.concurrency, seconds=args.wrk_seconds),
                }
            )
        engine_row = median_row([r["engine"] for r in rounds])
        thousand = median_row([r["thousand"] for r in rounds], key="seconds")
        wrk_row = median_row([r["wrk"] for r in rounds]) if rounds[0]["wrk"] else None
        wrk_shares = sorted(r["engine"]["rps"] / r["wrk"]["rps"] for r in rounds) if wrk_row else []

        rows = {}
        rows[f"module engine, {args.requests} req, c={args.concurrency} (median)"] = engine_row
        rows[f"module engine, 1000 req, c={args.concurrency} (median)"] = thousand
        rows[f"module via `ansible -m`, {args.requests} req (incl. start-up)"] = module_run(
            args.requests, args.concurrency
        )
        rows[f"curl loop, {args.curl_requests} req, sequential"] = curl = curl_loop(args.curl_requests)
        rows[f"hey, {args.requests} req, c={args.concurrency}, new connection each"] = hey_row = hey(
            args.requests, args.concurrency, keepalive=False
        )
        rows[f"hey, {args.requests} req, c={args.concurrency}, keep-alive"] = hey(
            args.requests, args.concurrency, keepalive=True
        )
        rows[f"wrk, {args.wrk_seconds} s, c={args.concurrency}, keep-alive (median)"] = wrk_row
    finally:
        if proxy:
            proxy.stop()
        for proc in procs:
            harness.stop(proc)

    print(f"{'run':<62} {'seconds':>8} {'req/s':>8} {'x curl':>7}")
    for name, row in rows.items():
        if row is None:
            print(f"{name:<62} {'n/a':>8}")
            continue
        seconds = f"{row['seconds']:.2f}" if row.get("seconds") else "-"
        print(f"{name:<62} {seconds:>8} {row['rps']:>8.0f} {row['rps'] / curl['rps']:>7.1f}")
        if "inner_seconds" in row:
            print(
                f"{'  of which the probe inside the module':<62} {row['inner_seconds']:>8.2f} {row['inner_rps']:>8.0f}"
            )
    ratio = engine_row["rps"] / curl["rps"]
    judged = ", ".join(f"{r['thousand']['seconds']:.2f}" for r in rounds)
    checks = [
        (f"module engine / curl loop: {ratio:.1f}x (goal >= 10x)", ratio >= 10),
        (
            f"1000 requests judged in {thousand['seconds']:.2f} s, median of {args.rounds} ({judged}) (goal < 0.5 s)",
            thousand["seconds"] < 0.5,
        ),
    ]
    if wrk_row:
        share = wrk_shares[len(wrk_shares) // 2]
        each = ", ".join(f"{value * 100:.0f}" for value in wrk_shares)
        checks.append(
            (
                f"module engine / wrk keep-alive: {share * 100:.0f} %, median of {args.rounds} rounds ({each}) "
                "(goal >= 20 %)",
                share >= 0.2,
            )
        )
    print()
    for text, passed in checks:
        print(f"{text}: {'PASS' if passed else 'FAIL'}")
    if hey_row:
        print(f"module engine / hey (new connections): {engine_row['rps'] / hey_row['rps']:.2f}")
    print(f"backends: {args.backends}")
    print(f"load average during the run: {os.getloadavg()[0]:.2f} on {os.cpu_count()} CPUs")
    return 0 if all(passed for _text, passed in checks) else 1


if __name__ == "__main__":
    sys.exit(main())
