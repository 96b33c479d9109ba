# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Requested versus measured CPU load of the stress role on this machine (issue 7).

For 30%, 60% and 90% the role (playbooks/stress.yml on localhost, all cores) starts a load, the
load is measured for MEASURE seconds and stopped. Each load runs twice: with the default
scheduling (workers compete with everything else on the host) and with stress_realtime=true
(SCHED_RR, what the tests use). The baseline is the machine's busy share without our load,
measured in the same run just before each pair. Measurements: see tests/stress/cpu_probe.py.

    .venv/bin/python bench/stress_bench.py [--measure SECONDS]   (VENV picks the venv, default .venv)
"""

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "tests" / "stress"))

import cpu_probe  # noqa: E402

PLAYBOOK = str(REPO / (os.environ.get("VENV", ".venv")) / "bin" / "ansible-playbook")
INVENTORY = str(REPO / "tests" / "stress" / "inventory.yml")
CTL = str(REPO / "roles" / "stress" / "files" / "stress_ctl.sh")


def playbook(state_dir, **extra_vars):
    env = dict(os.environ, ANSIBLE_CONFIG=str(REPO / "ansible.cfg"))
    command = [
        PLAYBOOK,
        "-i",
        INVENTORY,
        "playbooks/stress.yml",
        "-e",
        json.dumps({"stress_state_dir": state_dir, **extra_vars}),
    ]
    started = time.monotonic()
    subprocess.run(command, cwd=REPO, env=env, check=True, capture_output=True, timeout=180)
    return time.monotonic() - started


def one_load(state_dir, load, realtime, measure):
    start_s = playbook(state_dir, stress_cpu_load=load, stress_duration=int(measure) + 30, stress_realtime=realtime)
    try:
        pid, _start, workers, *_rest = cpu_probe.read_pidfile(state_dir)
        time.sleep(1.0)
        figures = cpu_probe.measure(pid, workers, measure)
    finally:
        stop_s = playbook(state_dir, stress_state="stopped")
    return figures, start_s, stop_s


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--measure", type=float, default=5.0, help="seconds measured per load (default 5)")
    args = parser.parse_args()
    rows = []
    with tempfile.TemporaryDirectory(prefix="stress-bench-") as state_dir:
        try:
            for load in (30, 60, 90):
                baseline = cpu_probe.idle_baseline(2.0)
                default, start_s, stop_s = one_load(state_dir, load, False, args.measure)
                realtime = one_load(state_dir, load, True, args.measure)[0]
                rows.append((load, baseline, default, realtime, start_s, stop_s))
        finally:
            subprocess.run([CTL, "stop", state_dir], capture_output=True, timeout=30, check=False)

    print(f"stress role on {os.cpu_count()} cores, {args.measure:.0f} s measured per load, workers = all cores")
    header = (
        f"{'requested':>9} | {'busy w/o load':>13} | {'default/worker':>14} {'ratio':>5} | "
        f"{'realtime/worker':>15} {'ratio':>5} {'machine':>7} | {'start s':>7} {'stop s':>6}"
    )
    print(header)
    print("-" * len(header))
    for load, baseline, default, realtime, start_s, stop_s in rows:
        print(
            f"{load:>8}% | {baseline:>12.1f}% | {default['per_worker']:>13.1f}% {default['per_worker'] / load:>5.2f} | "
            f"{realtime['per_worker']:>14.1f}% {realtime['per_worker'] / load:>5.2f} {realtime['machine']:>6.1f}% | "
            f"{start_s:>7.1f} {stop_s:>6.1f}"
        )
    print(
        "busy w/o load: machine-wide busy share from /proc/stat just before (other processes); "
        "default/realtime: CPU time of the load's processes per worker per second (/proc/<pid>/stat); "
        "ratio = measured / requested; machine: /proc/stat busy share during the realtime run; "
        "start/stop s: wall time of the ansible-playbook run."
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
