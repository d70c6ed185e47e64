"""Whatever a backend sends, the monitor reads it or says DOWN in a line (issue 10, 14 and 16).

Hostile bodies come from the real Node.js server (tests/monitor_server.js ``/hostile``); the
parsing details (prefixes, levels, trends) are checked on the parsers directly.
"""

from __future__ import annotations

import math
from collections.abc import Iterator

import numpy as np
import pytest

from fibuca_desktop.core.monitor.health_source import HealthSource, parse_health
from fibuca_desktop.core.monitor.http_fetch import SourceDown
from fibuca_desktop.core.monitor.metrics_source import MetricsSource, parse_prometheus
from fibuca_desktop.core.monitor.poll_threads import PollThreads
from fibuca_desktop.core.monitor.poller import TargetPoller
from fibuca_desktop.core.monitor.samples import HEAP_USED_MB, Sample
from fibuca_desktop.core.monitor.thresholds import State, StateMachine, Thresholds, trend
from tests.node_server import MB, NodeServer

HOSTILE = [
    "int400", "int5000", "negative400", "float400", "exp999", "nan", "stringInt", "topLevelInt",
    "status400", "statusNaN", "statusObject", "statusHuge", "deepArray", "deepObject",
    "deepMemory", "array", "string", "number", "null", "memoryArray", "memoryNested", "empty",
    "promInt400", "promNaN", "promLabels", "bytes",
]  # fmt: skip


@pytest.fixture(scope="module")
def server() -> Iterator[NodeServer]:
    node = NodeServer()
    yield node
    node.stop()


@pytest.mark.parametrize("kind", HOSTILE)
@pytest.mark.parametrize("source", [HealthSource, MetricsSource])
def test_a_hostile_body_is_a_reading_or_down_never_an_exception(server, source, kind):
    try:
        reading = source(f"{server.base}/hostile?kind={kind}", 5.0).poll()
    except SourceDown as down:
        assert down.reason.startswith("unparsable body: ")
        assert len(down.reason) < 160 and "\n" not in down.reason
        return
    for value in reading.metrics.values():
        assert value is None or (math.isfinite(value) and 0 <= value < 2**44)
    status = reading.backend_status
    assert status is None or (len(status) <= 40 and status.isprintable())


@pytest.mark.parametrize("kind", HOSTILE)
def test_a_poller_never_reports_an_unexpected_error_for_a_body(server, kind):
    threads = PollThreads()
    poller = TargetPoller(
        HealthSource(f"{server.base}/hostile?kind={kind}", 5.0), kind, threads, 1.0
    )
    try:
        poller.tick()
        outcome = poller.wait(10.0)
    finally:
        threads.shutdown(5.0)
    assert outcome is not None
    assert not (outcome.reason or "").startswith("unexpected error")


def test_a_400_digit_heap_is_a_gap_and_the_other_fields_still_count(server):
    reading = HealthSource(f"{server.base}/hostile?kind=int400", 5.0).poll()
    assert reading.metrics["heapUsedMB"] is None and reading.metrics["rssMB"] == 120
    assert reading.backend_status == "OK"


@pytest.mark.parametrize("digits", [20, 309, 310, 400, 4301, 20_000])
def test_integers_of_any_length(digits):
    reading = parse_health(f'{{"memory": {{"heapUsedMB": {"1" * digits}}}}}'.encode())
    value = reading.metrics["heapUsedMB"]
    assert value is None or value < 2**44


# --- /metrics: the exact name wins -------------------------------------------------------


def test_the_exact_name_beats_a_prefixed_one_on_a_real_server(server):
    reading = MetricsSource(f"{server.base}/metrics?decoy=app1_", 5.0).poll()
    sent = server.json("/last")
    assert reading.metrics["heapUsedMB"] == pytest.approx(sent["heapUsed"] / MB)
    assert reading.metrics["rssMB"] == pytest.approx(sent["rss"] / MB)


@pytest.mark.parametrize(
    ("text", "heap_bytes"),
    [
        ("app1_nodejs_heap_size_used_bytes 1\nnodejs_heap_size_used_bytes 2\n", 2),
        ("nodejs_heap_size_used_bytes 2\napp1_nodejs_heap_size_used_bytes 1\n", 2),
        ('a_nodejs_heap_size_used_bytes 1\nnodejs_heap_size_used_bytes{x="y"} 2\n', 2),
        ("x:nodejs_heap_size_used_bytes 1\nnodejs_heap_size_used_bytes 2\n", 2),
        ("app1_nodejs_heap_size_used_bytes 1\napp2_nodejs_heap_size_used_bytes 2\n", 1),
        ("app1:nodejs_heap_size_used_bytes 3\n", 3),
        ("xnodejs_heap_size_used_bytes 1\n", None),  # another metric, not a prefix
        ("xnodejs_heap_size_used_bytes 1\nb_nodejs_heap_size_used_bytes 4\n", 4),
    ],
)
def test_metric_name_choice(text, heap_bytes):
    heap = parse_prometheus(text)["heapUsedMB"]
    assert heap == (None if heap_bytes is None else heap_bytes / MB)


# --- the reason shows the configured levels -----------------------------------------------


@pytest.mark.parametrize(
    ("warning", "critical", "hysteresis"), [(350, 450, 10), (1000, 1500, 10), (100, 200, 5)]
)
def test_reasons_show_the_configured_levels_not_the_exit_levels(warning, critical, hysteresis):
    machine = StateMachine(Thresholds(warning, critical, hysteresis_mb=hysteresis, min_samples=1))
    walk = [critical + 5, critical - hysteresis / 2, warning + 1, warning - hysteresis / 2]
    reasons = []
    for second, value in enumerate(walk):
        machine.update(Sample(float(second), {HEAP_USED_MB: value}))
        reasons.append((machine.state, machine.reason))
    assert reasons[0] == (State.CRITICAL, f"heapUsedMB {walk[0]:.1f} MB >= critical {critical} MB")
    state, held = reasons[1]
    assert state == State.CRITICAL and f"critical at {critical} MB" in held
    assert (
        f"critical {critical - hysteresis:g}" not in held
        and f"until below {critical - hysteresis:g} MB" in held
    )
    assert reasons[2][1] == f"heapUsedMB {walk[2]:.1f} MB >= warning {warning} MB"
    assert f"warning at {warning} MB" in reasons[3][1]


# --- a step is not a trend -----------------------------------------------------------------


def series(seconds: int, step_at: float | None, step_mb: float, leak_per_min: float, noise: float):
    rng = np.random.default_rng(7)
    times = 1000.0 + np.arange(seconds, dtype=np.float64)
    values = 300.0 + leak_per_min * (times - times[0]) / 60 + rng.normal(0, noise, seconds)
    if step_at is not None:
        values[times - times[0] >= step_at * seconds] += step_mb
    return times, values


@pytest.mark.parametrize("step_mb", [50, 500])
@pytest.mark.parametrize("step_at", [0.1, 0.5, 0.8, 0.97])
@pytest.mark.parametrize("seconds", [40, 120, 300])
def test_a_step_is_not_a_trend(seconds, step_at, step_mb):
    """A model loading (RSS +500 MB at once) must not read as '+118 MB/min · critical in 9 min'."""
    times, values = series(seconds, step_at, step_mb, 0.0, 0.5)
    result = trend(times, values, 300.0, critical_mb=1500.0)
    assert abs(result.mb_per_minute) < 2.0, result


@pytest.mark.parametrize("leak", [1.0, 5.0, 30.0])
@pytest.mark.parametrize("step_mb", [0, 300])
def test_a_real_leak_still_shows_even_after_a_step(leak, step_mb):
    times, values = series(300, 0.3 if step_mb else None, step_mb, leak, 0.5)
    result = trend(times, values, 300.0, critical_mb=5000.0)
    assert result.mb_per_minute == pytest.approx(leak, rel=0.25)
    assert result.seconds_to_critical is not None


@pytest.mark.parametrize("kind", ["escapes", "longPhrase", "location", "loop"])
@pytest.mark.parametrize("source", [HealthSource, MetricsSource])
def test_what_a_peer_says_in_its_status_line_becomes_one_short_printable_reason(
    server, source, kind
):
    with pytest.raises(SourceDown) as down:
        source(f"{server.base}/raw?kind={kind}", 5.0).poll()
    reason = down.value.reason
    assert reason.startswith("HTTP ") or kind == "location"
    assert reason.isprintable() and len(reason) <= 160, reason[:300]
    assert "\x1b" not in str(down.value)
    if kind == "loop":
        assert "loop" in reason


@pytest.mark.parametrize(
    "reason", ["a\nb", "\x1b[2J" + "x" * 10_000, "tab\there", "\u202eevil", "\x00\x07"]
)
def test_every_down_reason_is_one_printable_line(reason):
    text = SourceDown(reason).reason
    assert text.isprintable() and len(text) <= 160 and "\n" not in text


@pytest.mark.parametrize("ramp_s", [1, 5, 15, 30])
@pytest.mark.parametrize("before_s", [40, 300])
def test_a_step_is_not_a_trend_at_any_moment_after_it_even_when_it_takes_seconds(ramp_s, before_s):
    """A model loading raises RSS over a few seconds, not in one sample; watched every second
    after it (the step crossing the middle of the window), it never reads as a leak."""
    rng = np.random.default_rng(11)
    seconds = before_s + 300
    times = 1000.0 + np.arange(seconds, dtype=np.float64)
    rise = np.clip((np.arange(seconds) - before_s) / ramp_s, 0.0, 1.0) * 118.0
    values = 200.0 + rise + rng.normal(0, 0.5, seconds)
    for end in range(before_s, seconds):
        result = trend(times[: end + 1], values[: end + 1], 300.0, critical_mb=450.0)
        assert result.mb_per_minute < 2.0, (end - before_s, result)
        seconds_left = result.seconds_to_critical
        assert seconds_left is None or seconds_left > 3600, (end - before_s, result)
