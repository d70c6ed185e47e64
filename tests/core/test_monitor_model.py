"""Monitor model, headless: ring buffers, CSV export, threshold state machine, trend, psutil."""

from __future__ import annotations

import csv
import math
import os
import shutil
import subprocess
import sys
import time

import numpy as np
import psutil
import pytest

from fibuca_desktop.core.errors import OutputError
from fibuca_desktop.core.monitor.history import (
    DAY_AT_1_S,
    SeriesHistory,
    TargetHistory,
    measure_day_nbytes,
)
from fibuca_desktop.core.monitor.local_source import LocalSource
from fibuca_desktop.core.monitor.samples import (
    HEAP_USED_MB,
    MB,
    RSS_MB,
    SYSTEM_AVAILABLE_MB,
    SYSTEM_TOTAL_MB,
    SYSTEM_USED_PERCENT,
    Sample,
)
from fibuca_desktop.core.monitor.thresholds import (
    State,
    StateMachine,
    Thresholds,
    trend,
)

T0 = 1_700_000_000.0


# --- ring buffer ---------------------------------------------------------------------------


def test_ring_buffer_wraps_and_keeps_order():
    series = SeriesHistory(capacity=5)
    for i in range(8):
        series.append(T0 + i, float(i))
    times, values = series.window(3600)
    assert len(series) == 5
    assert list(times - T0) == [3, 4, 5, 6, 7]
    assert list(values) == [3, 4, 5, 6, 7]
    assert series.latest() == (T0 + 7, 7.0)


def test_window_selects_the_last_seconds_across_the_wrap():
    series = SeriesHistory(capacity=10)
    for i in range(14):  # wrapped: the buffer holds 4..13, split at index 4
        series.append(T0 + i, float(i))
    times, values = series.window(5)
    assert list(values) == [9, 10, 11, 12, 13]
    assert list(times - T0) == [9, 10, 11, 12, 13]
    times, values = series.window(3, now=T0 + 8)
    assert list(values) == [6, 7, 8] and list(times - T0) == [6, 7, 8]
    assert series.window(1, now=T0 - 100)[0].size == 0


def test_window_on_empty_and_partly_filled_buffers():
    series = SeriesHistory(capacity=100)
    assert series.latest() is None
    assert series.window(60)[0].size == 0
    series.append(T0, 1.0)
    series.append(T0 + 1, 2.0)
    assert list(series.window(60)[1]) == [1.0, 2.0]


def test_gaps_are_nan_and_earlier_times_are_dropped():
    series = SeriesHistory(capacity=4)
    series.append(T0, 1.0)
    series.append(T0 + 1, None)
    series.append(T0 + 2, float("nan"))
    assert series.append(T0 + 1.5, 9.0) is False
    _, values = series.window(60)
    assert values[0] == 1.0 and np.isnan(values[1]) and np.isnan(values[2])
    assert len(values) == 3


def test_a_day_at_one_second_stays_bounded():
    one = measure_day_nbytes(1)
    four = measure_day_nbytes(4)
    per_point = np.dtype(np.float64).itemsize + np.dtype(np.float32).itemsize
    assert one == DAY_AT_1_S * per_point == 1_036_800
    assert four == 4 * one < 4 * 2 * MB
    history = SeriesHistory()
    before = history.nbytes
    for i in range(DAY_AT_1_S + 1000):
        history.append(T0 + i, 1.0)
    assert history.nbytes == before and len(history) == DAY_AT_1_S


# --- target history and CSV ----------------------------------------------------------------


def _target_history() -> TargetHistory:
    history = TargetHistory(capacity=100)
    history.append(Sample(T0, {HEAP_USED_MB: 100.0, RSS_MB: 200.0}))
    history.append(Sample(T0 + 1, {HEAP_USED_MB: None, RSS_MB: None}, down_reason="refused"))
    history.append(Sample(T0 + 2, {}, down_reason="refused"))
    history.append(Sample(T0 + 3, {HEAP_USED_MB: 101.5, RSS_MB: 201.25, "externalMB": 3.0}))
    return history


def test_target_history_aligns_metrics_first_seen_late():
    times, columns = _target_history().window(60)
    assert list(times - T0) == [0, 1, 2, 3]
    assert list(columns) == [HEAP_USED_MB, RSS_MB, "externalMB"]
    assert np.isnan(columns["externalMB"][:3]).all() and columns["externalMB"][3] == 3.0
    assert np.isnan(columns[RSS_MB][1:3]).all() and columns[RSS_MB][3] == 201.25


def test_csv_round_trip_with_gaps_and_no_temp_left(tmp_path):
    path = tmp_path / "monitor.csv"
    path.write_text("old content")
    rows_written = _target_history().to_csv(path, seconds=2.5)  # shows T0+1 .. T0+3
    assert rows_written == 3
    assert sorted(p.name for p in tmp_path.iterdir()) == ["monitor.csv"]
    with path.open(newline="", encoding="utf-8") as handle:
        rows = list(csv.DictReader(handle))
    assert [float(r["epoch"]) for r in rows] == [T0 + 1, T0 + 2, T0 + 3]
    assert rows[0][HEAP_USED_MB] == "" and rows[0][RSS_MB] == ""
    assert rows[2][HEAP_USED_MB] == "101.5" and rows[2][RSS_MB] == "201.25"
    assert rows[2]["externalMB"] == "3"
    assert rows[2]["time"].startswith(time.strftime("%Y-%m-%dT%H:%M:%S", time.localtime(T0 + 3)))


def test_csv_failure_leaves_the_old_file_and_no_temp(tmp_path, monkeypatch):
    path = tmp_path / "monitor.csv"
    path.write_text("old content")

    def broken_replace(src, dst):
        raise OSError("disk full")

    monkeypatch.setattr(os, "replace", broken_replace)
    with pytest.raises(OutputError, match=r"Could not write .*monitor\.csv: disk full"):
        _target_history().to_csv(path, seconds=60)
    assert path.read_text() == "old content"
    assert [p.name for p in tmp_path.iterdir()] == ["monitor.csv"]


# --- state machine -------------------------------------------------------------------------


def _feed(machine: StateMachine, values, start: float = T0):
    """Feed heap values (None = DOWN); returns the changes and the state after each sample."""
    changes, states = [], []
    for i, value in enumerate(values):
        if value is None:
            sample = Sample(start + i, {}, down_reason="connection refused")
        else:
            sample = Sample(start + i, {HEAP_USED_MB: value})
        change = machine.update(sample)
        if change is not None:
            changes.append(change)
        states.append(machine.state)
    return changes, states


def test_up_through_the_levels_and_back_with_hysteresis():
    machine = StateMachine(Thresholds(min_samples=3))
    values = [300] * 3 + [360] * 3 + [460] * 3 + [445] * 4 + [439] * 3 + [345] * 4 + [339] * 3
    changes, states = _feed(machine, values)
    assert [(c.old, c.new) for c in changes] == [
        (None, State.OK),
        (State.OK, State.WARNING),
        (State.WARNING, State.CRITICAL),
        (State.CRITICAL, State.WARNING),
        (State.WARNING, State.OK),
    ]
    assert states[9:13] == [State.CRITICAL] * 4  # 445 is under 450 but within the hysteresis
    assert states[16:20] == [State.WARNING] * 4  # 345 likewise under 350
    assert [c.time - T0 for c in changes] == [0, 5, 8, 15, 22]
    assert machine.reason is None
    assert "439.0" in changes[3].reason and "critical" not in changes[3].reason


def test_going_up_uses_the_plain_thresholds():
    machine = StateMachine(Thresholds(min_samples=1))
    _, states = _feed(machine, [349.9, 350.0, 449.9, 450.0])
    assert states == [State.OK, State.WARNING, State.WARNING, State.CRITICAL]


def test_a_single_spike_does_not_change_state():
    machine = StateMachine(Thresholds(min_samples=3))
    changes, states = _feed(machine, [300, 500, 300, 500, 500, 300, 300])
    assert [c.new for c in changes] == [State.OK]
    assert states == [State.OK] * 7


def test_down_after_min_samples_failures_then_recovery():
    machine = StateMachine(Thresholds(min_samples=3))
    changes, states = _feed(machine, [300, None, None, 300, None, None, None, None, 300, 300, 300])
    assert [(c.old, c.new) for c in changes] == [
        (None, State.OK),
        (State.OK, State.DOWN),
        (State.DOWN, State.OK),
    ]
    assert states[3] == State.OK and states[6] == State.DOWN
    assert changes[1].reason == "connection refused" and changes[1].time == T0 + 6
    assert states[-1] == State.OK and changes[2].time == T0 + 10


def test_samples_without_the_metric_carry_no_opinion():
    machine = StateMachine(Thresholds(min_samples=2))
    _feed(machine, [300])
    assert machine.update(Sample(T0 + 1, {HEAP_USED_MB: 400})) is None
    assert machine.update(Sample(T0 + 2, {RSS_MB: 900})) is None
    change = machine.update(Sample(T0 + 3, {HEAP_USED_MB: 400}))
    assert change is not None and change.new == State.WARNING
    assert machine.reason is not None and "400.0" in machine.reason


def test_local_targets_watch_rss_and_ratio_is_never_used():
    machine = StateMachine(Thresholds(metric=RSS_MB, min_samples=1))
    # A healthy Node heap is ~96% full; only the absolute RSS decides.
    sample = Sample(T0, {HEAP_USED_MB: 96.0, "heapTotalMB": 100.0, RSS_MB: 120.0})
    assert machine.update(sample).new == State.OK
    assert machine.update(Sample(T0 + 1, {HEAP_USED_MB: 96.0, RSS_MB: 500.0})).new == "CRITICAL"


@pytest.mark.parametrize(
    "kwargs",
    [
        {"warning_mb": 450, "critical_mb": 350},
        {"hysteresis_mb": -1},
        {"min_samples": 0},
    ],
)
def test_invalid_thresholds_are_refused(kwargs):
    with pytest.raises(ValueError):
        Thresholds(**kwargs)


# --- trend ---------------------------------------------------------------------------------


def test_trend_on_linear_growth():
    times = T0 + np.arange(0, 600, 1.0)
    values = 300.0 + 2.0 * (times - T0) / 60.0  # 2 MB per minute, ends at ~320 MB
    values[100:110] = np.nan
    result = trend(times, values, window_s=300, critical_mb=450.0)
    assert result.mb_per_minute == pytest.approx(2.0, rel=1e-6)
    assert result.seconds_to_critical == pytest.approx((450.0 - values[-1]) / (2.0 / 60), rel=1e-6)


@pytest.mark.parametrize("per_minute", [0.0, -3.0])
def test_flat_or_shrinking_series_have_no_time_to_critical(per_minute):
    times = T0 + np.arange(0, 300, 1.0)
    result = trend(times, 300.0 + per_minute * (times - T0) / 60, critical_mb=450.0)
    assert result.seconds_to_critical is None
    assert result.mb_per_minute == pytest.approx(per_minute, abs=1e-9)


def test_trend_needs_enough_points_and_span():
    times = T0 + np.arange(0, 20, 1.0)  # 20 s only
    assert trend(times, times - T0, critical_mb=450.0).seconds_to_critical is None
    assert trend(times[:4] * 10, times[:4], critical_mb=450).mb_per_minute == 0.0
    assert trend(np.array([]), np.array([])).mb_per_minute == 0.0


def test_no_time_to_critical_once_above_it():
    times = T0 + np.arange(0, 120, 1.0)
    assert trend(times, 460.0 + (times - T0), critical_mb=450.0).seconds_to_critical is None


# --- local source (real processes) ---------------------------------------------------------


def _wait_for(condition, timeout: float = 10.0):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        result = condition()
        if result:
            return result
        time.sleep(0.02)
    pytest.fail("the spawned process did not appear in time")


def _kill_tree(process: subprocess.Popen) -> None:
    try:
        children = psutil.Process(process.pid).children(recursive=True)
    except psutil.NoSuchProcess:
        children = []
    for child in [*children]:
        child.kill()
    process.kill()
    process.wait(timeout=10)
    psutil.wait_procs(children, timeout=10)


def test_this_process_and_system_memory():
    sample = LocalSource().poll()
    memory = psutil.virtual_memory()
    assert sample.down_reason is None
    assert sample.metrics[RSS_MB] == pytest.approx(psutil.Process().memory_info().rss / MB, abs=5)
    assert sample.metrics[SYSTEM_TOTAL_MB] == memory.total / MB
    used = (memory.total - memory.available) / memory.total * 100
    assert sample.metrics[SYSTEM_USED_PERCENT] == pytest.approx(used, abs=2)
    assert sample.metrics[SYSTEM_AVAILABLE_MB] == pytest.approx(memory.available / MB, rel=0.05)


def test_by_name_then_down_when_it_exits(tmp_path):
    name = f"fbsleep{os.getpid() % 100000}"  # unique, so no other process of that name exists
    binary = tmp_path / name
    shutil.copy(shutil.which("sleep"), binary)
    process = subprocess.Popen([str(binary), "30"])
    try:
        source = LocalSource(process_name=name)
        sample = _wait_for(lambda: (s := source.poll()).down_reason is None and s)
        assert sample.metrics[RSS_MB] == pytest.approx(
            psutil.Process(process.pid).memory_info().rss / MB, abs=1
        )
        by_pid = LocalSource(pid=process.pid)
        assert by_pid.poll().down_reason is None
        process.kill()
        _wait_for(lambda: psutil.Process(process.pid).status() == psutil.STATUS_ZOMBIE)
        assert by_pid.poll().down_reason == f"process {process.pid} has exited"  # zombie
    finally:
        process.kill()
        process.wait(timeout=10)
    down = source.poll()
    assert down.down_reason == f"no process named {name}"
    assert down.metrics[RSS_MB] is None and down.metrics[SYSTEM_TOTAL_MB] > 0
    assert by_pid.poll().down_reason == f"process {process.pid} has exited"


GRANDPARENT = """
import subprocess, sys
child = subprocess.Popen([sys.executable, "-c", sys.argv[1]])
child.wait()
"""
GRANDCHILD = (
    "import time; b = bytes(range(256)) * 240_000; print('ready', flush=True); time.sleep(60)"
)


def test_children_are_summed_when_asked():
    parent = subprocess.Popen(
        [sys.executable, "-c", GRANDPARENT, GRANDCHILD], stdout=subprocess.PIPE, text=True
    )
    try:
        assert parent.stdout.readline().strip() == "ready"  # the grandchild holds ~60 MB
        grandchild = _wait_for(lambda: psutil.Process(parent.pid).children(recursive=True))[0]
        alone = LocalSource(pid=parent.pid).poll().metrics[RSS_MB]
        family = LocalSource(pid=parent.pid, include_children=True).poll().metrics[RSS_MB]
        expected = (
            psutil.Process(parent.pid).memory_info().rss + grandchild.memory_info().rss
        ) / MB
        assert family == pytest.approx(expected, abs=2)
        assert family - alone > 50
    finally:
        _kill_tree(parent)


def test_access_denied_gives_a_clear_reason(monkeypatch):
    def denied(self):
        raise psutil.AccessDenied(self.pid)

    monkeypatch.setattr(psutil.Process, "memory_info", denied)
    sample = LocalSource().poll()
    assert sample.down_reason is not None and "access denied" in sample.down_reason
    assert not math.isnan(sample.metrics[SYSTEM_USED_PERCENT])


def test_pid_and_name_together_are_refused():
    with pytest.raises(ValueError):
        LocalSource(pid=1, process_name="init")
    assert LocalSource(pid=2**22 + 12345).poll().down_reason == "no process with PID 4206649"


def test_csv_export_gets_normal_file_permissions(tmp_path):
    """Like any saved document: readable by others as the umask allows, not private 0600."""
    umask = os.umask(0)
    os.umask(umask)
    history = TargetHistory(capacity=10)
    history.append(Sample(1000.0, {"rssMB": 12.5}))
    path = tmp_path / "memory.csv"
    history.to_csv(path, seconds=60, now=1001.0)
    assert path.stat().st_mode & 0o777 == 0o666 & ~umask
