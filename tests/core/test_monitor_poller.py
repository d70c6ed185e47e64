"""TargetPoller: no overlapping polls, back-off after failures, states and the per-sample JSON."""

from __future__ import annotations

import threading
from collections.abc import Iterator

import pytest

from fibuca_desktop.core.monitor.health_source import HealthReading
from fibuca_desktop.core.monitor.http_fetch import SourceDown
from fibuca_desktop.core.monitor.local_source import LocalSource
from fibuca_desktop.core.monitor.poll_threads import PollThreads
from fibuca_desktop.core.monitor.poller import (
    LOCAL_JSON_METRICS,
    TargetPoller,
    http_timeout_for,
    to_json,
)
from fibuca_desktop.core.monitor.samples import RSS_MB, Sample
from fibuca_desktop.core.monitor.thresholds import State, Thresholds

JSON_KEYS = {"time", "target", "state", "reason", "metrics", "trend", "stale"}
# issue 14 adds, keeping the others
JSON_KEYS |= {"leak", "restarts", "latencyMs", "lagP99Ms"}
WAIT_S = 10.0  # generous upper bound for a poll that is ready at once


class FakeSource:
    """A remote-like source: heap values or failures from a script; can be held in flight."""

    def __init__(self, script: list[float | str] | None = None, default: float | str = 100.0):
        self.script = list(script or [])
        self.default = default
        self.calls = 0
        self.gate = threading.Event()
        self.gate.set()

    def poll(self) -> HealthReading:
        self.calls += 1
        assert self.gate.wait(WAIT_S), "test never released the poll"
        step = self.script.pop(0) if self.script else self.default
        if isinstance(step, str):
            raise SourceDown(step)
        metrics = {"heapUsedMB": step, "heapTotalMB": step + 10, "externalMB": 1.0}
        return HealthReading({**metrics, "rssMB": step + 50})


@pytest.fixture
def pool() -> Iterator:
    threads = PollThreads()
    yield threads
    assert threads.shutdown(WAIT_S)


def make_poller(source, pool, **kwargs) -> TargetPoller:
    return TargetPoller(source, "fake", pool, interval_s=kwargs.pop("interval_s", 1.0), **kwargs)


def run_ticks(poller: TargetPoller, ticks: int) -> tuple[list[int], list]:
    """Tick ``ticks`` times, letting each started poll finish; the ticks that polled, outcomes."""
    polled, outcomes = [], []
    for index in range(ticks):
        before = poller.source.calls
        poller.tick(float(index))
        outcome = poller.wait(WAIT_S)
        if poller.source.calls > before:
            polled.append(index)
            assert outcome is not None
            outcomes.append(outcome)
    return polled, outcomes


def test_a_real_local_source_gives_rss_and_system_memory(pool):
    source = LocalSource()
    poller = TargetPoller(
        source,
        source.label,
        pool,
        interval_s=1.0,
        thresholds=Thresholds(100_000, 200_000, RSS_MB),
        metric_names=LOCAL_JSON_METRICS,
    )
    assert poller.tick() is None  # the poll has only started
    outcome = poller.wait(WAIT_S)
    assert outcome is not None
    data = to_json(outcome)
    assert set(data) == JSON_KEYS
    assert set(data["metrics"]) == {"rssMB", "systemAvailableMB", "systemUsedPercent"}
    assert data["metrics"]["rssMB"] > 10
    assert 0 < data["metrics"]["systemUsedPercent"] < 100
    assert (data["target"], data["state"], data["reason"]) == ("this app", "OK", None)
    assert len(poller.history.series[RSS_MB]) == 1


def test_a_poll_in_flight_makes_ticks_skip_instead_of_piling_up(pool):
    source = FakeSource()
    source.gate.clear()
    poller = make_poller(source, pool)
    assert poller.tick(0.0) is None
    for now in (1.0, 2.0, 3.0):
        assert poller.tick(now) is None
    assert (source.calls, poller.skipped_ticks, poller.in_flight) == (1, 3, True)
    assert poller.wait(0.05) is None  # still held
    source.gate.set()
    outcome = poller.wait(WAIT_S)
    assert outcome is not None and outcome.sample.time == 0.0  # stamped when it was asked
    assert poller.collect() is None  # an outcome is delivered once
    poller.tick(4.0)
    assert poller.wait(WAIT_S) is not None
    assert (source.calls, poller.skipped_ticks) == (2, 3)


def test_a_finished_poll_is_returned_by_the_next_tick(pool):
    source = FakeSource()
    poller = make_poller(source, pool)
    poller.tick(0.0)
    poller._future.result(WAIT_S)  # finished, not yet collected
    outcome = poller.tick(1.0)
    assert outcome is not None and outcome.sample.time == 0.0
    assert poller.wait(WAIT_S) is not None  # and the tick started the next poll
    assert source.calls == 2


def test_failures_back_off_1_2_4_ticks_capped_and_reset_on_success(pool):
    source = FakeSource(["connection refused"] * 5, default=100.0)
    poller = make_poller(source, pool, max_backoff_s=4.0)
    polled, outcomes = run_ticks(poller, 24)
    # Failures at 0, 2, 5, 10, 15 (skips 1, 2, 4, then capped at 4); success from 20 on.
    assert polled == [0, 2, 5, 10, 15, 20, 21, 22, 23]
    assert poller.backed_off_ticks == 1 + 2 + 4 + 4 + 4
    assert poller.skipped_ticks == 0
    assert [o.sample.is_down for o in outcomes] == [True] * 5 + [False] * 4
    assert poller.consecutive_failures == 0


def test_down_carries_the_reason_and_empty_metrics(pool):
    poller = make_poller(FakeSource(["no complete answer within 0.8 s"]), pool)
    _, (outcome,) = run_ticks(poller, 1)
    data = to_json(outcome)
    assert (data["state"], data["reason"]) == ("DOWN", "no complete answer within 0.8 s")
    assert data["metrics"] == dict.fromkeys(("heapUsedMB", "heapTotalMB", "externalMB", "rssMB"))
    assert data["trend"] == {"mbPerMinute": 0.0, "secondsToCritical": None}


def test_a_blip_shows_its_reason_before_the_state_turns_down(pool):
    source = FakeSource([100.0, "connection refused", "connection refused", "connection refused"])
    poller = make_poller(source, pool, max_backoff_s=1.0)
    _, outcomes = run_ticks(poller, 7)
    states = [(o.state, o.reason) for o in outcomes]
    blip = (State.OK, "connection refused")
    assert states == [(State.OK, None), blip, blip, (State.DOWN, "connection refused")]


def test_a_source_bug_becomes_down_not_a_dead_poller(pool):
    class Broken:
        calls = 0

        def poll(self):
            self.calls += 1
            raise KeyError("heap")

    poller = make_poller(Broken(), pool)
    _, (outcome,) = run_ticks(poller, 1)
    assert outcome.state == State.DOWN
    assert outcome.reason.startswith("unexpected error")


def test_states_follow_the_thresholds_with_debounce(pool):
    source = FakeSource([100.0, 400.0, 400.0, 400.0, 500.0, 500.0, 500.0])
    poller = make_poller(source, pool)
    _, outcomes = run_ticks(poller, 7)
    assert [o.state for o in outcomes] == [State.OK] * 3 + [State.WARNING] * 3 + [State.CRITICAL]
    assert "critical 450 MB" in outcomes[-1].reason


def test_trend_and_time_to_critical_come_from_the_history(pool):
    poller = make_poller(FakeSource(), pool)
    for second in range(0, 61, 5):  # +1 MB per 5 s = 12 MB/min
        heap = 300.0 + second / 5
        outcome = poller.record(Sample(1000.0 + second, {"heapUsedMB": heap}))
    data = to_json(outcome)
    assert data["trend"]["mbPerMinute"] == pytest.approx(12.0, rel=1e-3)
    assert data["trend"]["secondsToCritical"] == pytest.approx((450 - 312) / 12 * 60, rel=1e-3)


def test_the_http_timeout_stays_below_the_interval():
    for interval in (0.1, 0.2, 1.0, 5.0, 60.0):
        assert 0 < http_timeout_for(interval) < interval
    assert http_timeout_for(60.0) == 5.0
    with pytest.raises(ValueError):
        http_timeout_for(0)
