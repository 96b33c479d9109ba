# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The pure parts of localaws/metrics.py and localaws/scaling.py."""

from __future__ import annotations

import pytest

from localaws.metrics import Meter, utilization, v1_cpu_dirs
from localaws.scaling import decide, proposed_capacity, scale_in_points


@pytest.mark.parametrize(
    ("ready", "metric", "target", "expected"),
    [(1, 80, 70, 2), (1, 140, 70, 2), (1, 141, 70, 3), (2, 90, 70, 3), (1, 70, 70, 1), (3, 20, 70, 1), (0, 90, 70, 0)],
)
def test_proposed_capacity_is_awss_rule(ready, metric, target, expected):
    assert proposed_capacity(ready, metric, target) == expected


def test_scale_out_needs_three_datapoints_above_the_target():
    assert decide([90, 90], 1, 1, 0, 70, 1, 3, 60) is None
    assert decide([90, 60, 90], 1, 1, 0, 70, 1, 3, 60) is None
    decision = decide([90, 90, 90], 1, 1, 0, 70, 1, 3, 60)
    assert decision is not None and decision.desired == 2 and "AlarmHigh" in decision.reason


def test_scale_out_is_bounded_by_max_and_counts_warming_capacity():
    assert decide([100, 100, 100], 3, 3, 0, 10, 1, 3, 60) is None  # already at max
    assert decide([100, 100, 100], 1, 1, 0, 10, 1, 3, 60).desired == 3
    # one ready at 80 % and one warming: ceil(1 x 80 / 70) = 2 = desired, nothing more
    assert decide([80, 80, 80], 2, 1, 1, 70, 1, 3, 60) is None


def test_scale_in_needs_fifteen_minutes_below_ninety_percent_of_the_target():
    assert scale_in_points(60) == 15 and scale_in_points(300) == 3
    low = [10.0] * 14
    assert decide(low, 2, 2, 0, 70, 1, 3, 60) is None
    decision = decide([*low, 10.0], 2, 2, 0, 70, 1, 3, 60)
    assert decision is not None and decision.desired == 1 and "AlarmLow" in decision.reason
    assert decide([10.0] * 15, 2, 2, 1, 70, 1, 3, 60) is None  # an instance warming up
    assert decide([10.0] * 15, 2, 2, 0, 70, 1, 3, 60, scale_in_enabled=False) is None
    assert decide([64.0] * 15, 2, 2, 0, 70, 1, 3, 60) is None  # not below 63
    assert decide([10.0] * 15, 1, 1, 0, 70, 1, 3, 60) is None  # min


def test_twenty_percent_never_scales_out():
    assert decide([20.0] * 30, 1, 1, 0, 70, 1, 3, 60) is None


def test_utilization_is_percent_of_the_capacity():
    assert utilization(1.6, 2.0, 1.0) == pytest.approx(80.0)
    assert utilization(1.6, 1.0, 2.0) == pytest.approx(80.0)
    assert utilization(5.0, 1.0, 1.0) == 100.0
    assert utilization(1.0, 0.0, 1.0) == 0.0


def test_meter_gives_one_datapoint_per_period():
    meter = Meter("i-1", capacity=2.0, period=6.0)
    assert meter.sample(0.0, 10.0) is None
    assert meter.sample(3.0, 12.0) is None
    assert meter.sample(6.0, 19.6) == pytest.approx(80.0)
    assert meter.sample(12.0, 19.6) == pytest.approx(0.0)
    assert meter.sample(13.0, 1.0) is None  # counter reset (new cgroup): start over


def test_v1_cpu_dirs_handle_comounted_and_separate_hierarchies(tmp_path):
    (tmp_path / "cpu").mkdir()
    (tmp_path / "cpuacct").mkdir()
    assert v1_cpu_dirs("x/i-1", tmp_path) == [tmp_path / "cpu" / "x/i-1", tmp_path / "cpuacct" / "x/i-1"]
    joined = tmp_path / "joined"
    (joined / "cpu,cpuacct").mkdir(parents=True)
    (joined / "cpu").symlink_to(joined / "cpu,cpuacct")
    (joined / "cpuacct").symlink_to(joined / "cpu,cpuacct")
    assert v1_cpu_dirs("i-1", joined) == [joined / "cpu,cpuacct" / "i-1"]
