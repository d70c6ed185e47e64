"""Polls past their deadline, stale values and starvation (issue 10, item 7), on PollThreads."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator

import pytest

from fibuca_desktop.core.monitor.health_source import HealthReading, HealthSource
from fibuca_desktop.core.monitor.poll_threads import PollThreads
from fibuca_desktop.core.monitor.poller import TargetPoller, to_json
from fibuca_desktop.core.monitor.schedule import MonitorSchedule
from fibuca_desktop.core.monitor.thresholds import State
from tests.node_server import NodeServer

MODES = ("body", "headers", "chunked")
WAIT_S = 10.0


@pytest.fixture(scope="module")
def server() -> Iterator[NodeServer]:
    node = NodeServer()
    yield node
    node.stop()


class GatedSource:
    """Answers at once until ``gate`` is cleared; then blocks until it is set again."""

    def __init__(self) -> None:
        self.gate = threading.Event()
        self.gate.set()
        self.calls = 0

    def poll(self) -> HealthReading:
        self.calls += 1
        assert self.gate.wait(WAIT_S), "the test never released the poll"
        return HealthReading({"heapUsedMB": 100.0})


class FakeClock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def test_a_poll_past_its_deadline_is_down_while_its_thread_still_runs():
    threads, clock, source = PollThreads(), FakeClock(), GatedSource()
    poller = TargetPoller(source, "stuck", threads, 1.0, deadline_s=0.8, monotonic=clock)
    try:
        source.gate.clear()
        poller.tick(0.0)
        assert poller.collect() is None  # running, within its deadline
        clock.now += 0.81
        outcome = poller.collect()
        assert outcome is not None and poller.in_flight
        assert to_json(outcome)["reason"] == "no complete answer within 0.8 s"
        # Each later tick while it still hangs is DOWN again, so the state turns DOWN.
        outcomes = [poller.tick(float(t)) for t in (1, 2)]
        assert [o.sample.down_reason for o in outcomes] == [outcome.reason] * 2
        assert outcomes[-1].state == State.DOWN and source.calls == 1  # never two in flight
        source.gate.set()  # the late answer is dropped, not shown as fresh
        assert poller.wait(WAIT_S) is None
        assert not poller.in_flight
    finally:
        source.gate.set()
        assert threads.shutdown(WAIT_S)


def test_stale_after_interval_plus_deadline():
    clock = FakeClock()
    poller = TargetPoller(GatedSource(), "a", PollThreads(), 1.0, deadline_s=0.8, monotonic=clock)
    assert not poller.stale()  # nothing shown yet
    poller.tick(0.0)
    assert poller.wait(WAIT_S) is not None
    clock.now += 1.79
    assert not poller.stale()
    clock.now += 0.02
    assert poller.stale()


def test_stuck_targets_never_starve_a_healthy_one(server):
    """Eight targets hanging in socket reads, one healthy: it is polled every interval."""
    schedule = MonitorSchedule(0.2)
    hanging = [
        TargetPoller(
            HealthSource(f"{server.base}/trickle/{mode}?ms=500", 5.0), name, schedule.threads, 0.2
        )
        for name, mode in [(f"slow{i}", MODES[i % 3]) for i in range(8)]
    ]
    healthy = TargetPoller(HealthSource(server.base + "/health", 5.0), "ok", schedule.threads, 0.2)
    for poller in [*hanging, healthy]:
        schedule.add(poller.target, poller)
    seen: list[str] = []
    deadline = time.monotonic() + WAIT_S
    finished = schedule.threads.finished
    while seen.count("ok") < 5 and time.monotonic() < deadline:
        finished.clear()
        seen += [name for name, _ in schedule.heartbeat()]
        finished.wait(schedule.seconds_to_next())
    assert seen.count("ok") >= 5, seen
    assert not any(name.startswith("slow") for name in seen)  # all still within 5 s
    assert schedule.threads.running <= 9  # one poll per target at most
    assert schedule.shutdown(WAIT_S)  # the hanging reads are ended from outside


def test_shutdown_ends_polls_blocked_on_trickling_peers_at_once(server):
    threads = PollThreads()
    sources = [HealthSource(f"{server.base}/trickle/{mode}?ms=500", 5.0) for mode in MODES]
    futures = [threads.submit(source.poll) for source in sources]
    assert threads.running == 3
    assert threads.shutdown(3.0)  # well before the 5 s deadlines
    assert threads.running == 0
    assert all(future.exception() is not None for future in futures)
    with pytest.raises(RuntimeError):
        threads.submit(sources[0].poll)


def test_a_poller_with_a_longer_interval_is_asked_at_its_own_pace():
    """A PM2 target (every 2 s) beside others at the schedule's 0.5 s, on a stepped clock."""
    clock = [0.0]
    schedule = MonitorSchedule(0.5, monotonic=lambda: clock[0])
    fast, slow = GatedSource(), GatedSource()
    for name, source, interval in (("fast", fast, 0.5), ("slow", slow, 2.0)):
        poller = TargetPoller(source, name, schedule.threads, interval, deadline_s=5.0)
        schedule.add(name, poller)
    for step in range(16):  # 8 s of heartbeats, 0.5 s apart
        clock[0] = step * 0.5
        schedule.heartbeat()
        for poller in schedule.pollers.values():
            poller.wait(WAIT_S)
    assert (fast.calls, slow.calls) == (16, 4)
    assert schedule.shutdown(WAIT_S)
