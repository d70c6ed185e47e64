"""RestartTracker: restarts told from identity signals, crash loops; real servers restarted."""

from __future__ import annotations

import json
import re
import shutil
import subprocess
import time
import uuid
from collections.abc import Iterator

import psutil
import pytest

from fibuca_desktop.core.monitor.health_source import HealthSource, parse_health
from fibuca_desktop.core.monitor.http_fetch import SourceDown, fetch
from fibuca_desktop.core.monitor.local_source import LocalSource
from fibuca_desktop.core.monitor.poll_threads import PollThreads
from fibuca_desktop.core.monitor.poller import TargetPoller, to_json
from fibuca_desktop.core.monitor.restarts import CrashLoop, Restart, RestartTracker
from fibuca_desktop.core.monitor.samples import RESPONSE_MS, Sample
from fibuca_desktop.core.monitor.samples import ProcessIdentity as Id
from tests.node_server import NodeServer

WAIT_S = 10.0


def restarts(events) -> list[Restart]:
    return [e for e in events if isinstance(e, Restart)]


def loops(events) -> list[CrashLoop]:
    return [e for e in events if isinstance(e, CrashLoop)]


# --- unit cases ------------------------------------------------------------------------------


def test_the_first_poll_is_a_baseline_and_steady_polls_are_no_restart():
    tracker = RestartTracker()
    assert tracker.update(100.0, Id(uptime_s=3500.0, start_time=1000.0, pid=7)) == []
    for step in range(1, 20):
        polled = Id(uptime_s=3500.0 + step, start_time=1000.0, pid=7)
        assert tracker.update(100.0 + step, polled) == []
    assert tracker.total == 0 and not tracker.in_crash_loop


def test_an_uptime_drop_is_a_restart_with_a_readable_reason():
    tracker = RestartTracker()
    tracker.update(0.0, Id(uptime_s=3512.0))
    [event] = tracker.update(1.0, Id(uptime_s=2.0))
    assert event == Restart(1.0, "restarted: uptime 3512 s -> 2 s", 1, 1)
    assert tracker.total == 1


@pytest.mark.parametrize(
    ("old", "new", "reason"),
    [
        (Id(pid=1234), Id(pid=5678), "restarted: new PID 1234 -> 5678"),
        (Id(restart_count=3), Id(restart_count=4), "restarted: PM2 restart count 3 -> 4"),
        (
            Id(start_time=1_700_000_000.0),
            Id(start_time=1_700_000_600.0),
            "restarted: process start time",
        ),
    ],
)
def test_each_signal_alone_tells_a_restart(old, new, reason):
    tracker = RestartTracker()
    tracker.update(0.0, old)
    [event] = tracker.update(1.0, new)
    assert event.reason.startswith(reason) and tracker.total == 1


def test_clock_jitter_is_no_restart():
    tracker = RestartTracker()
    tracker.update(0.0, Id(start_time=1000.0, uptime_s=50.0))
    # a start time computed from a wall clock wobbles; an uptime answered late looks smaller
    for t, start, uptime in [(1, 1001.4, 50.2), (2, 999.2, 51.1), (3, 1001.9, 51.5), (4, 1000, 54)]:
        assert tracker.update(float(t), Id(start_time=start, uptime_s=uptime)) == []
    assert tracker.total == 0


def test_a_start_time_moving_earlier_is_a_clock_change_not_a_restart():
    tracker = RestartTracker()
    tracker.update(0.0, Id(start_time=1000.0))
    assert tracker.update(1.0, Id(start_time=900.0)) == []
    assert tracker.update(2.0, Id(start_time=900.5)) == []  # the new value is the baseline
    assert tracker.total == 0


def test_down_polls_and_missing_signals_keep_the_last_known_values():
    tracker = RestartTracker()
    tracker.update(0.0, Id(uptime_s=100.0, pid=5))
    for t in range(1, 5):  # DOWN, and polls that carry nothing (a backend without uptime)
        assert tracker.update(float(t), None) == []
        assert tracker.update(t + 0.5, Id()) == []
    [event] = tracker.update(6.0, Id(uptime_s=1.0))
    assert "uptime 100 s -> 1 s" in event.reason


def test_a_restart_hidden_in_a_down_stretch_is_seen_from_the_uptime_growth():
    tracker = RestartTracker()
    tracker.update(0.0, Id(uptime_s=10.0))
    for t in range(1, 300, 30):
        tracker.update(float(t), None)  # DOWN (backed off) for 5 min; meanwhile it restarted
    [event] = tracker.update(300.0, Id(uptime_s=30.0))  # the new process outlived the old one
    assert "uptime 10 s -> 30 s (expected about 310 s)" in event.reason


def test_an_uptime_that_lags_without_a_down_poll_is_no_restart():
    """After this computer sleeps, a local server's uptime (monotonic) lags the wall clock."""
    tracker = RestartTracker()
    tracker.update(0.0, Id(uptime_s=10.0))
    assert tracker.update(3600.0, Id(uptime_s=20.0)) == []
    assert tracker.total == 0


def test_one_restart_seen_by_two_signals_in_one_poll_counts_once():
    tracker = RestartTracker()
    tracker.update(0.0, Id(pid=1, uptime_s=60.0, start_time=1000.0))
    [event] = tracker.update(1.0, Id(pid=2, uptime_s=1.0, start_time=1060.0))
    assert event.restarts == 1 and tracker.total == 1
    assert "new PID 1 -> 2" in event.reason and "uptime 60 s -> 1 s" in event.reason


def test_one_restart_seen_by_two_signals_in_two_polls_counts_once():
    tracker = RestartTracker()
    tracker.update(0.0, Id(pid=1, restart_count=3))
    assert len(tracker.update(1.0, Id(pid=2))) == 1  # the count is missing from this poll
    assert tracker.update(2.0, Id(pid=2, restart_count=4)) == []  # the same restart
    assert tracker.total == 1
    # a count that grew by more than was seen adds the difference; a new PID is one more
    [event] = restarts(tracker.update(3.0, Id(pid=2, restart_count=6)))
    assert event.restarts == 2 and tracker.total == 3
    assert len(restarts(tracker.update(4.0, Id(pid=3, restart_count=6)))) == 1
    assert tracker.total == 4


def test_a_pm2_count_reset_is_no_restart_and_the_next_increase_counts():
    tracker = RestartTracker()
    tracker.update(0.0, Id(restart_count=9))
    assert tracker.update(1.0, Id(restart_count=0)) == []  # `pm2 reset`
    assert len(tracker.update(2.0, Id(restart_count=1))) == 1 and tracker.total == 1


def test_a_huge_pm2_count_jump_stays_bounded():
    tracker = RestartTracker()
    tracker.update(0.0, Id(restart_count=0))
    [event, loop] = tracker.update(1.0, Id(restart_count=10**12))
    assert event.restarts == 10**12 and isinstance(loop, CrashLoop)
    assert len(tracker._restart_times) <= 10_000


def test_three_restarts_within_an_hour_are_one_crash_loop_notified_once():
    tracker = RestartTracker()
    tracker.update(0.0, Id(pid=100))
    notified = []
    for index, t in enumerate([600.0, 1200.0, 1800.0, 2400.0, 3000.0], start=1):
        events = tracker.update(t, Id(pid=100 + index))
        assert len(restarts(events)) == 1
        notified += loops(events)
    assert [loop.time for loop in notified] == [1800.0]  # the third restart, once
    assert notified[0].reason == "crash loop: 3 restarts within 1 h"
    assert tracker.in_crash_loop and tracker.total == 5
    # an hour with no restart ends the episode; a new loop later is notified again
    tracker.update(3000.0 + 3601.0, Id(pid=105))
    assert not tracker.in_crash_loop
    later = []
    for index, t in enumerate([9000.0, 9010.0, 9020.0], start=6):
        later += loops(tracker.update(t, Id(pid=100 + index)))
    assert [loop.time for loop in later] == [9020.0]


def test_restarts_spread_over_more_than_the_window_are_no_crash_loop():
    tracker = RestartTracker(loop_restarts=3, loop_window_s=3600.0)
    tracker.update(0.0, Id(pid=1))
    events = []
    for index in range(1, 8):
        events += tracker.update(index * 1801.0, Id(pid=1 + index))
    assert len(restarts(events)) == 7 and loops(events) == [] and not tracker.in_crash_loop


def test_the_crash_loop_size_and_window_are_configurable():
    tracker = RestartTracker(loop_restarts=2, loop_window_s=60.0)
    tracker.update(0.0, Id(pid=1))
    assert loops(tracker.update(10.0, Id(pid=2))) == []
    [loop] = loops(tracker.update(20.0, Id(pid=3)))
    assert loop.reason == "crash loop: 2 restarts within 1 min"
    with pytest.raises(ValueError):
        RestartTracker(loop_restarts=0)


def test_observe_takes_a_sample_and_a_down_sample_carries_no_identity():
    tracker = RestartTracker()
    tracker.observe(Sample(0.0, identity=Id(uptime_s=100.0)))
    assert tracker.observe(Sample(1.0, down_reason="refused", identity=Id(uptime_s=0.5))) == []
    assert len(tracker.observe(Sample(2.0, identity=Id(uptime_s=1.0)))) == 1


# --- /health's uptime ------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("sent", "expected"),
    [
        ("3512.25", 3512.25),
        ("0", 0.0),
        ("-1", None),
        ("NaN", None),
        ("Infinity", None),
        ('"3512"', None),
        ("true", None),
        ("null", None),
        ("[1]", None),
        ("9" * 400, None),
        ("1e300", None),
    ],
)
def test_health_uptime_is_a_finite_non_negative_number_or_nothing(sent, expected):
    body = f'{{"status": "OK", "memory": {{"heapUsedMB": 10}}, "uptime": {sent}}}'.encode()
    reading = parse_health(body)
    assert reading.uptime_s == expected
    assert "uptime" not in reading.metrics and reading.metrics["heapUsedMB"] == 10


@pytest.fixture
def pool() -> Iterator[PollThreads]:
    threads = PollThreads()
    yield threads
    assert threads.shutdown(WAIT_S)


def test_uptime_reaches_the_sample_identity_but_no_output(pool):
    server = NodeServer()
    try:
        poller = TargetPoller(HealthSource(server.base + "/health", 2.0), "node", pool, 1.0)
        poller.tick()
        outcome = poller.wait(WAIT_S)
        sent = server.json("/last")
    finally:
        server.stop()
    assert outcome is not None and not outcome.sample.is_down
    assert outcome.sample.identity == Id(uptime_s=sent["uptime"])
    assert "uptime" not in json.dumps(to_json(outcome))
    # the metrics and the history: the target's own, and our measured response time only
    assert set(outcome.sample.metrics) == {*poller.metric_names, RESPONSE_MS}
    assert set(poller.history.series) == {*poller.metric_names, RESPONSE_MS}  # no uptime curve


# --- a real Node server, stopped and started again -------------------------------------------


def _start_time(server: NodeServer) -> float:
    """process_start_time_seconds from the real /metrics text (prom-client's spelling)."""
    text = fetch(server.base + "/metrics", 5.0).decode()
    return float(re.search(r"^process_start_time_seconds (\S+)$", text, re.MULTILINE)[1])


def _wait_until_up_for(source: HealthSource, seconds: float) -> None:
    """Let the server live long enough that its restart is more than clock jitter."""
    deadline = time.monotonic() + WAIT_S
    while (source.poll().uptime_s or 0.0) < seconds:
        assert time.monotonic() < deadline, "the server's uptime did not grow"
        time.sleep(0.2)


class Watched:
    """One real server watched through /health (uptime) and /metrics (start time)."""

    def __init__(self, tracker: RestartTracker) -> None:
        self.server = NodeServer()
        self.tracker = tracker
        self.events: list[Restart | CrashLoop] = []

    @property
    def health(self) -> HealthSource:
        return HealthSource(self.server.base + "/health", 2.0)

    def poll(self) -> None:
        now = time.time()
        try:
            uptime = self.health.poll().uptime_s
            start = _start_time(self.server)
        except SourceDown:
            self.events += self.tracker.update(now, None)
            return
        self.events += self.tracker.update(now, Id(start_time=start, uptime_s=uptime))

    def restart(self) -> None:
        _wait_until_up_for(self.health, 3.0)
        self.poll()
        port = self.server.port
        self.server.stop()
        self.poll()  # DOWN: connection refused
        self.server = NodeServer(port=port)
        self.poll()


def test_a_real_server_restarted_is_one_restart_seen_through_health_and_metrics():
    watched = Watched(RestartTracker())
    try:
        watched.poll()
        first_start = _start_time(watched.server)
        watched.restart()
        watched.poll()
        assert _start_time(watched.server) > first_start
    finally:
        watched.server.stop()
    [event] = watched.events
    assert re.search(r"process start time .* -> ", event.reason)
    assert re.search(r"uptime \d+ s -> [01] s", event.reason)
    assert watched.tracker.total == 1 and not watched.tracker.in_crash_loop


def test_a_real_server_restarted_three_times_quickly_is_a_crash_loop():
    watched = Watched(RestartTracker(loop_restarts=3))
    try:
        watched.poll()
        for _ in range(3):
            watched.restart()
        watched.poll()
    finally:
        watched.server.stop()
    assert len(restarts(watched.events)) == 3
    [loop] = loops(watched.events)
    assert loop.reason == "crash loop: 3 restarts within 1 h" and watched.tracker.in_crash_loop


# --- a real local process, by name -----------------------------------------------------------


def test_a_local_process_started_again_under_its_name_is_a_restart(tmp_path):
    name = "fibrst" + uuid.uuid4().hex[:6]  # unique: never another session's process
    program = tmp_path / name
    shutil.copy(shutil.which("sleep"), program)
    source, tracker, events = LocalSource(process_name=name), RestartTracker(), []
    first = subprocess.Popen([str(program), "600"])
    try:
        events += tracker.observe(source.poll())
        events += tracker.observe(source.poll())
        first.kill()
        first.wait(WAIT_S)
        down = source.poll()
        assert down.is_down
        events += tracker.observe(down)
        second = subprocess.Popen([str(program), "600"])
        try:
            sample = source.poll()
            started = psutil.Process(second.pid).create_time()
            events += tracker.observe(sample)
        finally:
            second.kill()
            second.wait(WAIT_S)
    finally:
        first.kill()
        first.wait(WAIT_S)
    assert sample.identity.pid == second.pid
    assert sample.identity.start_time == started
    [event] = events
    assert event.reason.startswith(f"restarted: new PID {first.pid} -> {second.pid}")
