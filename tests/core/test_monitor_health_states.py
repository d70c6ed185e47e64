"""Issue 14 wired into the poller: DEGRADED from the response time and the event-loop lag, the
leak verdict on every outcome (notified once), and restarts splitting the leak evidence.

Real Node servers throughout (tests/monitor_server.js; tests/benchmarks/leak_server.js, whose
heap saws with real garbage collection, at 20x time); a restart is fed to the poller's own
``record`` as the sources report it (a new uptime), since only its effect on the evidence is
under test here (test_restarts.py restarts real servers).
"""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor

import numpy as np
import pytest

from fibuca_desktop.core.monitor.health_source import HealthSource
from fibuca_desktop.core.monitor.http_fetch import fetch
from fibuca_desktop.core.monitor.leak import COLLECTING, LEAK, NO_LEAK
from fibuca_desktop.core.monitor.metrics_source import MetricsSource
from fibuca_desktop.core.monitor.poll_threads import PollThreads
from fibuca_desktop.core.monitor.poller import TargetPoller, to_json
from fibuca_desktop.core.monitor.restarts import Restart
from fibuca_desktop.core.monitor.samples import EXTERNAL_MB, HEAP_USED_MB, ProcessIdentity, Sample
from fibuca_desktop.core.monitor.thresholds import State, StateMachine, Thresholds
from tests.node_server import NodeServer, start_leak_server

SPEED = 20.0


@pytest.fixture
def pool() -> Iterator[PollThreads]:
    threads = PollThreads()
    yield threads
    threads.shutdown(5.0)


@pytest.fixture
def server() -> Iterator[NodeServer]:
    node = NodeServer()
    yield node
    node.stop()


def poll_until(poller: TargetPoller, count: int, clock=time.time) -> list:
    outcomes = []
    deadline = time.monotonic() + 60
    while len(outcomes) < count and time.monotonic() < deadline:
        outcome = poller.tick(clock())
        if outcome is None:
            outcome = poller.wait(10.0)
        if outcome is not None:
            outcomes.append(outcome)
    assert len(outcomes) == count, "the server stopped answering"
    return outcomes


# --- DEGRADED ---------------------------------------------------------------------------------


def sample(latency_ms=None, lag_ms=None, heap=100.0) -> Sample:
    return Sample(
        time.time(), {HEAP_USED_MB: heap}, runtime={"lagP99Ms": lag_ms}, latency_ms=latency_ms
    )


def test_degraded_needs_the_level_held_and_ranks_between_warning_and_critical():
    machine = StateMachine(Thresholds(350, 450, degraded_latency_ms=500, degraded_lag_ms=100))
    assert machine.classify(sample(latency_ms=499)) == (
        State.OK,
        "heapUsedMB 100.0 MB < warning 350 MB",
    )
    machine.update(sample(latency_ms=5000))  # the first poll: its slowness is not counted
    assert machine.state == State.OK
    assert [machine.update(sample(latency_ms=900)) for _ in range(2)] == [None, None]
    change = machine.update(sample(latency_ms=900))  # the third in a row: it stays slow
    assert (change.old, change.new) == (State.OK, State.DEGRADED)
    assert change.reason == "response 900 ms > 500 ms"
    state, reason = machine.classify(sample(lag_ms=250, heap=360))
    assert state == State.DEGRADED
    assert reason == "event-loop lag p99 250 ms > 100 ms; heapUsedMB 360.0 MB >= warning 350 MB"
    assert machine.classify(sample(latency_ms=900, heap=460))[0] == State.CRITICAL
    assert machine.classify(sample(lag_ms=float("nan")))[0] == State.OK


def test_a_slow_real_server_is_degraded_and_recovers(pool, server):
    thresholds = Thresholds(350, 450, degraded_latency_ms=300, min_samples=2)
    slow = HealthSource(server.base + "/slow/health?ms=600", 3.0)
    poller = TargetPoller(slow, "slow", pool, 1.0, thresholds=thresholds, deadline_s=3.0)
    outcomes = poll_until(poller, 3)
    # the first poll alone never says DEGRADED (a cold connection); then 2 slow ones in a row
    assert [o.state for o in outcomes] == [State.OK, State.OK, State.DEGRADED]
    assert all(o.sample.latency_ms >= 600 for o in outcomes)
    data = to_json(outcomes[-1])
    assert data["state"] == "DEGRADED" and data["latencyMs"] >= 600
    assert data["reason"].startswith("response ") and data["reason"].endswith(" ms > 300 ms")
    poller.source = HealthSource(server.base + "/health", 3.0)
    assert [o.state for o in poll_until(poller, 2)] == [State.DEGRADED, State.OK]


def test_a_blocked_event_loop_is_degraded_by_its_lag(pool, server):
    # prom-client's nodejs_eventloop_lag_p99_seconds, measured by the real server itself
    source = MetricsSource(server.base + "/metrics?runtime=1", 5.0)
    poller = TargetPoller(source, "busy", pool, 1.0, deadline_s=5.0)
    assert poll_until(poller, 1)[0].state == State.OK
    for _ in range(3):
        for _ in range(4):  # 4 x 300 ms of blocking between scrapes: the p99 reads ~300 ms
            fetch(server.base + "/block?ms=300", 5.0)
        outcome = poll_until(poller, 1)[0]
    assert outcome.state == State.DEGRADED
    assert outcome.reason.startswith("event-loop lag p99 ")
    assert to_json(outcome)["lagP99Ms"] > 200


def test_a_response_level_above_the_deadline_is_lowered_below_it(pool, server):
    # At 1 s polling the deadline is 0.8 s: a 1 s level could never be reached before DOWN.
    poller = TargetPoller(HealthSource(server.base + "/health", 0.8), "fast", pool, 1.0)
    assert poller.machine.thresholds.degraded_latency_ms == pytest.approx(600.0)


# --- leaks on a real heap -----------------------------------------------------------------------


SETTLE_S = 15.0  # real seconds a leak server runs before it is polled


def run_poller(
    leak_mb_per_min: float, seed: int, kind: str = "heap", virtual_s: float = 300.0
) -> tuple[list, list]:
    """Poll a leak server as the app does, its samples stamped with virtual time (20x), leak
    evidence from 200 virtual seconds.

    The server runs ``SETTLE_S`` first (its leak starts with the polling): a young Node
    process's RSS creeps up ~5 MB over its first real seconds whatever it does (allocator, code
    space), which at 20x would read as a virtual 1 MB/min for minutes. In real time that is over
    within the first cycles, where the detector never looks.
    """
    process, base = start_leak_server(
        leak_mb_per_min, seed, SPEED, leak_start_s=SETTLE_S * SPEED, kind=kind
    )
    threads = PollThreads()
    try:
        time.sleep(SETTLE_S)
        started = time.monotonic()

        def virtual() -> float:
            return (time.monotonic() - started) * SPEED

        source = HealthSource(base + "/health", 2.0)
        poller = TargetPoller(
            source, "leaky", threads, 1.0, deadline_s=2.0, leak_min_span_s=200.0, clock=virtual
        )
        outcomes = []
        while virtual() < virtual_s:
            outcomes.extend(poll_until(poller, 1, virtual))
            time.sleep(1.0 / SPEED)
        floors = json.loads(fetch(base + "/floors", 5.0))
    finally:
        threads.shutdown(5.0)
        process.kill()
        process.communicate(timeout=10)
    return outcomes, floors


@pytest.fixture(scope="module")
def leak_runs() -> dict[str, tuple[list, list]]:
    """A healthy server, a heap leak and a Buffer leak (40 MB per virtual minute), at once."""
    runs = {"healthy": (0.0, 1, "heap"), "heap": (40.0, 2, "heap"), "buffer": (40.0, 3, "buffer")}
    with ThreadPoolExecutor(len(runs)) as pool:
        done = {name: pool.submit(run_poller, *args) for name, args in runs.items()}
        return {name: future.result() for name, future in done.items()}


def alerted(outcomes: list) -> list[str]:
    """Every leak alert, split per series ("heap leak +40 MB/min · …; RSS leak …")."""
    return [part for o in outcomes if o.leak_alert for part in o.leak_alert.split("; ")]


def test_the_poller_never_calls_the_sawtooth_a_leak(leak_runs):
    healthy, _ = leak_runs["healthy"]
    assert alerted(healthy) == []
    assert healthy[0].leak.status == COLLECTING
    assert healthy[0].leak_text == "collecting evidence (0 of 3.3 min)"
    assert healthy[-1].leak.status == NO_LEAK
    assert healthy[-1].leak_text == "sawtooth, no leak"


def test_the_poller_calls_a_real_heap_leak_once_with_its_rate(leak_runs):
    leaking, floors = leak_runs["heap"]
    alerts = alerted(leaking)
    assert alerts and alerts[0].startswith("heap leak +"), alerts
    series = [alert.split(" leak +")[0] for alert in alerts]
    assert len(series) == len(set(series)), alerts  # each series notified once
    assert "external" not in series  # the leak is on the heap (RSS, which holds it, may grow)
    last = leaking[-1]
    assert last.leak.status == LEAK and last.leak_metric == HEAP_USED_MB
    assert last.leak_text.startswith("leak +") and "critical in" in last.leak_text
    f = np.array(floors)
    f = f[f[:, 0] >= SETTLE_S * SPEED]  # the collections since the leak began
    true_rate = np.polyfit(f[:, 0], f[:, 1], 1)[0] * 60
    data = to_json(last)
    assert data["leak"]["suspected"] is True and data["leak"]["metric"] == HEAP_USED_MB
    assert data["leak"]["floorMbPerMinute"] == pytest.approx(true_rate, rel=0.2)
    low, high = data["leak"]["secondsToCritical"]
    assert 0 < low <= high
    assert data["restarts"] == 0


def test_a_buffer_leak_is_called_in_external_memory_not_the_heap(leak_runs):
    leaking, _ = leak_runs["buffer"]
    alerts = alerted(leaking)
    series = {alert.split(" leak +")[0] for alert in alerts}
    assert "external" in series and "heap" not in series, alerts
    last = leaking[-1]
    # heap (the threshold metric) saws without a leak; the Trend column names the one that grows
    assert last.leak_metric == EXTERNAL_MB and last.leak.status == LEAK
    rate = to_json(last)["leak"]["floorMbPerMinute"]
    assert rate == pytest.approx(40.0, rel=0.2)


# --- restarts split the evidence ----------------------------------------------------------------


class _Nothing:
    def poll(self):  # never polled: samples are recorded directly
        raise AssertionError


def test_a_restart_starts_the_leak_evidence_over_and_is_counted(pool):
    poller = TargetPoller(_Nothing(), "node", pool, 1.0, leak_min_span_s=120.0)
    rng = np.random.default_rng(3)
    uptime = 0.0
    start = 1_000_000.0
    outcomes = []
    for second in range(400):  # a leak of 30 MB/min under a 20 s sawtooth
        t = start + second
        uptime += 1
        heap = 60 + 30 * second / 60 + 25 * ((second % 20) / 20) + rng.normal(0, 0.3)
        outcomes.append(
            poller.record(
                Sample(t, {HEAP_USED_MB: heap}, identity=ProcessIdentity(uptime_s=uptime))
            )
        )
    assert outcomes[-1].leak.status == LEAK
    t = start + 400
    restarted = poller.record(Sample(t, {HEAP_USED_MB: 60.0}, identity=ProcessIdentity(uptime_s=1)))
    (event,) = restarted.events
    assert isinstance(event, Restart) and event.reason == "restarted: uptime 400 s -> 1 s"
    assert restarted.restarts == 1 and to_json(restarted)["restarts"] == 1
    assert restarted.leak.status == COLLECTING and restarted.leak.evidence_seconds == 0
    assert restarted.leak_text == "collecting evidence (0 of 2 min)"
