# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The stress role on localhost: real stress-ng processes, measured from /proc."""

import os
import time

import cpu_probe
import pytest

NCPU = os.cpu_count()


def test_load_of_60_percent_is_measured_and_ends_by_itself(stress, state_dir):
    baseline = cpu_probe.idle_baseline(1.0)
    # Real-time workers: other engineers' tests share these cores (see cpu_probe's docstring).
    run = stress(stress_cpu_load=60, stress_duration=12, stress_realtime=True)
    assert run.rc == 0, run.output
    assert run.changed == 1, run.output
    pid, _start, workers, load, duration, began = cpu_probe.read_pidfile(state_dir)
    assert (workers, load, duration) == (NCPU, 60, 12)
    assert len(cpu_probe.group_pids(pid)) == workers + 2  # timeout, stress-ng parent, workers

    # Measure from 1 s after the start (workers settled into their busy/idle slices) to 1.5 s
    # before the end; on a busy machine the playbook itself may return a few seconds late.
    time.sleep(max(0.0, began + 1 - time.time()))
    window = min(6.0, began + duration - 1.5 - time.time())
    assert window >= 3, f"the playbook returned too late to measure ({run.seconds:.1f} s)"
    figures = cpu_probe.measure(pid, workers, window)
    print(
        f"\nbusy before the load {baseline:.1f}%  60% requested: per worker {figures['per_worker']:.1f}%, "
        f"machine {figures['machine']:.1f}%, per core "
        + ", ".join(f"{name} {value:.1f}%" for name, value in sorted(figures["per_core"].items()))
    )
    assert abs(figures["per_worker"] - 60) <= 10, figures
    expected_machine = min(100.0, 60 * workers / NCPU)
    assert figures["machine"] >= expected_machine - 10, figures

    # The load ends by itself at the duration, with nothing left behind.
    remaining = began + duration - time.time()
    assert cpu_probe.wait_group_gone(pid, remaining + 5), cpu_probe.group_pids(pid)
    assert time.time() - began < duration + 5
    status = stress(stress_state="stopped")
    assert status.rc == 0 and status.changed == 0, status.output


def test_stop_in_the_middle_ends_the_load_at_once(stress, state_dir):
    run = stress(stress_cpu_load=20, stress_duration=120)
    assert run.rc == 0 and run.changed == 1, run.output
    pid = cpu_probe.read_pidfile(state_dir)[0]
    assert cpu_probe.group_pids(pid)

    stop = stress(stress_state="stopped")
    assert stop.rc == 0 and stop.changed == 1, stop.output
    assert cpu_probe.wait_group_gone(pid, 1.0), cpu_probe.group_pids(pid)
    assert cpu_probe.read_pidfile(state_dir) is None
    again = stress(stress_state="stopped")
    assert again.rc == 0 and again.changed == 0, again.output


def test_second_start_does_not_double_the_load(stress, state_dir):
    first = stress(stress_cpu_load=20, stress_duration=60, stress_workers=1)
    assert first.rc == 0 and first.changed == 1, first.output
    pid = cpu_probe.read_pidfile(state_dir)[0]
    members = sorted(cpu_probe.group_pids(pid))
    assert len(members) == 3

    second = stress(stress_cpu_load=20, stress_duration=60, stress_workers=1)
    assert second.rc == 0 and second.changed == 0, second.output
    assert "Already running, nothing started" in second.output
    assert cpu_probe.read_pidfile(state_dir)[0] == pid
    assert sorted(cpu_probe.group_pids(pid)) == members
    assert _marked_groups(f"TASKMANAGER_STRESS={state_dir}") == {pid}


def _marked_groups(entry):
    """Process groups of the live processes whose environment holds entry (the role's marker)."""
    groups = set()
    for pid in filter(str.isdigit, os.listdir("/proc")):
        try:
            with open(f"/proc/{pid}/environ", "rb") as handle:
                if entry.encode() in handle.read().split(b"\0"):
                    groups.add(os.getpgid(int(pid)))
        except OSError:
            continue
    return groups


def test_wait_blocks_until_the_load_has_ended(stress, state_dir):
    run = stress(stress_cpu_load=20, stress_duration=3, stress_workers=1, stress_wait=True, stress_wait_poll=1)
    assert run.rc == 0 and run.changed == 1, run.output
    pid = cpu_probe.read_pidfile(state_dir)[0]
    assert run.seconds >= 3
    assert cpu_probe.wait_group_gone(pid, 1.0), cpu_probe.group_pids(pid)


@pytest.mark.parametrize(
    ("extra_vars", "message"),
    [
        ({"stress_cpu_load": 0}, "stress_cpu_load=0 is outside 1-100"),
        ({"stress_cpu_load": 150}, "stress_cpu_load=150 is outside 1-100"),
        ({"stress_duration": -5}, "stress_duration=-5 must be above 0"),
        ({"stress_duration": 3601}, "stress_duration=3601 must be above 0 and at most stress_max_duration=3600"),
        ({"stress_target": "notfleet"}, "host notfleet is not in the inventory group stress_fleet_group=fleet"),
        ({"stress_cpu_load": "lots"}, "stress_cpu_load"),
    ],
    ids=["load-0", "load-150", "negative-duration", "over-long-duration", "host-outside-fleet", "not-a-number"],
)
def test_bad_input_is_refused(stress, state_dir, extra_vars, message):
    run = stress(**extra_vars)
    assert run.rc != 0, run.output
    assert message in " ".join(run.output.split()), run.output
    assert cpu_probe.read_pidfile(state_dir) is None
    assert not (state_dir / "stress.log").exists()


def test_long_duration_is_accepted_when_overridden(stress, state_dir):
    run = stress(stress_cpu_load=5, stress_duration=3700, stress_workers=1, stress_allow_long=True)
    assert run.rc == 0 and run.changed == 1, run.output
    pid, _start, _workers, _load, duration, _began = cpu_probe.read_pidfile(state_dir)
    assert duration == 3700
    stop = stress(stress_state="stopped")
    assert stop.rc == 0 and stop.changed == 1, stop.output
    assert cpu_probe.wait_group_gone(pid, 1.0)
