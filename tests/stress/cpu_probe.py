# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Measure the CPU load of a stress-ng run started by the stress role.

Two measurements over the same window:

* per-process: utime+stime of every process in the load's process group (from
  /proc/<pid>/stat), divided by window x workers. This is the load each worker really put on
  its core, and it is not inflated by anything else running on the machine (other engineers'
  tests share these 2 cores), so it is the one held to +-10 points of the target. Other
  processes can still take CPU away from the workers (on a saturated 2-core machine a 60%
  worker measured 20-40%), so the tests start the load with stress_realtime=true (SCHED_RR):
  the workers then get their slices whatever else runs.
* machine-wide: the busy share of the loaded cores from /proc/stat. Other load can only add to
  it, so it is held to a lower bound (target - 10); on an otherwise idle machine it equals the
  per-process figure.
"""

import os
import time
from pathlib import Path

CLK_TCK = os.sysconf("SC_CLK_TCK")


def _stat_fields(pid):
    """Fields of /proc/<pid>/stat after the command name (index 0 is the state)."""
    text = Path(f"/proc/{pid}/stat").read_text()
    return text[text.rindex(")") + 2 :].split()


def group_pids(pgid, include_zombies=False):
    pids = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            fields = _stat_fields(entry.name)
        except (FileNotFoundError, ProcessLookupError, ValueError):
            continue
        if int(fields[2]) == pgid and (include_zombies or fields[0] != "Z"):
            pids.append(int(entry.name))
    return pids


def group_cpu_seconds(pgid):
    """{pid: utime+stime in seconds} of the live processes of group pgid."""
    seconds = {}
    for pid in group_pids(pgid):
        try:
            fields = _stat_fields(pid)
        except (FileNotFoundError, ProcessLookupError):
            continue
        seconds[pid] = (int(fields[11]) + int(fields[12])) / CLK_TCK  # utime, stime
    return seconds


def cpu_times():
    """{'cpu': (busy, total), 'cpu0': ...} in ticks from /proc/stat."""
    result = {}
    for line in Path("/proc/stat").read_text().splitlines():
        if not line.startswith("cpu"):
            break
        name, *values = line.split()
        numbers = [int(value) for value in values[:8]]  # user nice system idle iowait irq softirq steal
        idle = numbers[3] + numbers[4]
        result[name] = (sum(numbers) - idle, sum(numbers))
    return result


def busy_percent(before, after, name="cpu"):
    busy = after[name][0] - before[name][0]
    total = after[name][1] - before[name][1]
    return 100.0 * busy / total if total else 0.0


def measure(pgid, workers, seconds):
    """Measure the load of group pgid over `seconds`; returns a dict of percentages."""
    cpu_before, proc_before, t_before = cpu_times(), group_cpu_seconds(pgid), time.monotonic()
    time.sleep(seconds)
    cpu_after, proc_after, t_after = cpu_times(), group_cpu_seconds(pgid), time.monotonic()
    window = t_after - t_before
    used = sum(proc_after[pid] - proc_before[pid] for pid in proc_after.keys() & proc_before.keys())
    return {
        "window_s": window,
        "per_worker": 100.0 * used / (window * workers),
        "machine": busy_percent(cpu_before, cpu_after),
        "per_core": {name: busy_percent(cpu_before, cpu_after, name) for name in cpu_after if name != "cpu"},
    }


def idle_baseline(seconds):
    """Machine-wide busy share with no load of ours."""
    before = cpu_times()
    time.sleep(seconds)
    return busy_percent(before, cpu_times())


def read_pidfile(state_dir):
    """(pid, starttime, workers, load, duration, began) of the role's pidfile, or None."""
    path = Path(state_dir) / "stress.pid"
    if not path.exists():
        return None
    return tuple(int(value) for value in path.read_text().split()[:6])


def wait_group_gone(pgid, timeout):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if not group_pids(pgid):
            return True
        time.sleep(0.1)
    return not group_pids(pgid)
