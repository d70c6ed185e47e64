"""Polls one target on ``PollThreads``: never two polls at once, a deadline, failures back off.

A ``TargetPoller`` turns whatever its source returns (a ``Sample`` from ``LocalSource``, a
``HealthReading`` from the remote sources, or ``SourceDown``) into a ``Sample``, keeps it in a
``TargetHistory`` and feeds it to a ``StateMachine``. The caller drives it with ``tick`` once per
interval; a tick that finds a poll still in flight is skipped, so a hanging target never piles
up requests, and after consecutive failures the next 1, 2, 4 ... ticks are skipped (capped).

A poll has ``deadline_s`` to answer. One still running after it is DOWN ("no complete answer
within 1.6 s") at once, whatever its thread is doing, and every tick while it still runs adds
another DOWN sample; its late answer is dropped. ``stale`` says when the latest outcome is older
than the next one should have been (interval + deadline, plus any back-off).
"""

from __future__ import annotations

import contextlib
import logging
import math
import time
from collections.abc import Callable
from concurrent.futures import Future
from concurrent.futures import TimeoutError as FutureTimeout
from dataclasses import dataclass
from dataclasses import replace as dataclass_replace
from typing import Protocol

from .health_source import HealthReading
from .history import DAY_AT_1_S, TargetHistory
from .http_fetch import SourceDown, one_line
from .leak import DEFAULT_LEAK_MIN_SPAN_S, LeakVerdict, detect_leak
from .poll_threads import PollThreads
from .restarts import CrashLoop, Restart, RestartTracker
from .samples import (
    EXTERNAL_MB,
    GC_MS_PER_S,
    GC_SECONDS_TOTAL,
    HEAP_USED_MB,
    LAG_P99_MS,
    LOCAL_METRICS,
    PROCESS_START_TIME,
    REMOTE_METRICS,
    RESPONSE_MS,
    RSS_MB,
    SYSTEM_TOTAL_MB,
    ProcessIdentity,
    Sample,
)
from .thresholds import State, StateChange, StateMachine, Thresholds, Trend, trend

log = logging.getLogger(__name__)

MAX_BACKOFF_S = 30.0
TREND_WINDOW_S = 300.0
MAX_TIMEOUT_S = 5.0

LOCAL_JSON_METRICS = tuple(name for name in LOCAL_METRICS if name != SYSTEM_TOTAL_MB)
"""The local metrics in per-sample JSON: rssMB, systemAvailableMB, systemUsedPercent."""
# Series the leak detector judges, where a target reports them: a JavaScript leak grows the
# heap; a Buffer or native one grows external memory or RSS and not the heap.
LEAK_METRICS = (HEAP_USED_MB, EXTERNAL_MB, RSS_MB)
LEAK_LABELS = {HEAP_USED_MB: "heap", EXTERNAL_MB: "external", RSS_MB: "RSS"}
LEAK_EVERY_S = 10.0  # the verdict is judged again after this long (evidence moves slowly)
DEGRADED_SHARE_OF_DEADLINE = 0.75  # a response-time level above this would be DOWN first


class Source(Protocol):
    def poll(self) -> Sample | HealthReading:
        """Blocking, bounded read; remote sources raise ``SourceDown``."""
        ...


def http_timeout_for(interval_s: float) -> float:
    """A poll's total deadline, shorter than the interval, so a slow target cannot overlap."""
    if interval_s <= 0:
        raise ValueError("interval must be positive")
    return min(MAX_TIMEOUT_S, 0.8 * interval_s)


@dataclass(frozen=True)
class PollOutcome:
    """One completed poll: the sample and the (debounced) state after it.

    ``reason`` is the sample's own down reason when it has one (even while the debounced state
    is still OK), else the state machine's reason; None when OK.
    """

    target: str
    sample: Sample
    state: State
    reason: str | None
    change: StateChange | None
    trend: Trend
    metric_names: tuple[str, ...]
    leak: LeakVerdict | None = None  # the series to show: the first leaking, else the main one
    leak_metric: str | None = None  # which series ``leak`` is about
    leak_alert: str | None = None  # set once when a leak becomes suspected: notify it
    events: tuple[Restart | CrashLoop, ...] = ()  # restarts and crash loops seen at this poll
    restarts: int = 0  # since monitoring began
    main_metric: str | None = None  # the threshold metric

    @property
    def leak_text(self) -> str:
        """The Trend column: the verdict's text, naming the series when it is not the main one
        ("external leak +8.0 MB/min", a Buffer leak the heap does not show)."""
        if self.leak is None:
            return ""
        if self.leak.suspected and self.leak_metric != self.main_metric:
            return labelled(self.leak_metric or "", self.leak)
        return self.leak.text


def labelled(metric: str, verdict: LeakVerdict) -> str:
    """The verdict's text after its series' name: "heap leak +12 MB/min · critical in ..."."""
    return f"{LEAK_LABELS.get(metric, metric)} {verdict.text}"


class TargetPoller:
    """One target: its source, state machine and history, polled without overlap."""

    def __init__(
        self,
        source: Source,
        target: str,
        pool: PollThreads,
        interval_s: float,
        thresholds: Thresholds | None = None,
        metric_names: tuple[str, ...] = REMOTE_METRICS,
        history_capacity: int = DAY_AT_1_S,
        max_backoff_s: float = MAX_BACKOFF_S,
        trend_window_s: float = TREND_WINDOW_S,
        clock: Callable[[], float] = time.time,
        deadline_s: float | None = None,
        monotonic: Callable[[], float] = time.monotonic,
        leak_min_span_s: float = DEFAULT_LEAK_MIN_SPAN_S,
        restarts: RestartTracker | None = None,
    ) -> None:
        """``deadline_s`` defaults to the source's own ``timeout_s`` (HTTP sources), else to
        ``MAX_TIMEOUT_S``: a local read (a process scan on a busy machine) may take longer than
        a short interval without being DOWN, and its ticks skip meanwhile."""
        if interval_s <= 0:
            raise ValueError("interval must be positive")
        if deadline_s is None:
            deadline_s = getattr(source, "timeout_s", None) or MAX_TIMEOUT_S
        self.deadline_s = deadline_s
        self.source = source
        self.target = target
        self.interval_s = interval_s
        self.machine = StateMachine(thresholds)
        levels = self.machine.thresholds
        latest = DEGRADED_SHARE_OF_DEADLINE * deadline_s * 1000.0
        if levels.degraded_latency_ms > latest:  # a 1 s level under a 0.8 s deadline: DOWN first
            self.machine.thresholds = dataclass_replace(levels, degraded_latency_ms=latest)
        self.leak_min_span_s = leak_min_span_s
        self.restarts = restarts or RestartTracker()
        self._evidence_from: float | None = None  # the latest restart: leak evidence starts there
        self._leaks: dict[str, LeakVerdict] = {}
        self._judged_at: float | None = None
        self._alerted: set[str] = set()  # series whose leak was notified (since the restart)
        self._gc_last: tuple[float, float] | None = None  # (time, GC seconds total) last seen
        self.history = TargetHistory(history_capacity)
        self.metric_names = metric_names
        self.trend_window_s = trend_window_s
        self.max_backoff_ticks = max(1, math.floor(max_backoff_s / interval_s))
        self.skipped_ticks = 0  # a poll was still in flight
        self.backed_off_ticks = 0  # skipped because the target keeps failing
        self.consecutive_failures = 0
        self._pool = pool
        self._clock = clock
        self._monotonic = monotonic
        self._future: Future[Sample] | None = None
        self._started = 0.0  # monotonic time the poll in flight was started
        self._overran = False  # the poll in flight is past its deadline and reported DOWN
        self._backoff_left = 0
        self._fresh_until: float | None = None  # monotonic time the next outcome is due by

    @property
    def in_flight(self) -> bool:
        return self._future is not None and not self._future.done()

    def tick(self, now: float | None = None) -> PollOutcome | None:
        """Collect a finished poll (returned) and start the next one unless busy or backing off.

        ``now`` (epoch seconds, default the clock) stamps remote samples: the time asked.
        """
        now = self._clock() if now is None else now
        outcome = self.collect(now)
        if self._future is not None:
            self.skipped_ticks += 1
            log.debug("%s: poll still in flight, tick skipped", self.target)
            if self._overran and outcome is None:  # still no answer: DOWN again, not stale
                outcome = self.record(self._overrun_sample(now))
        elif self._backoff_left > 0:
            self._backoff_left -= 1
            self.backed_off_ticks += 1
        else:
            self._started, self._overran = self._monotonic(), False
            self._future = self._pool.submit(self._read, now)
        return outcome

    def wait(self, timeout_s: float) -> PollOutcome | None:
        """Wait up to ``timeout_s`` (and no longer than the deadline) for the poll in flight."""
        if self._future is None:
            return None
        if not self._overran:
            timeout_s = min(timeout_s, self.seconds_to_deadline())
        with contextlib.suppress(FutureTimeout):
            self._future.result(timeout=max(0.0, timeout_s))
        return self.collect()

    def seconds_to_deadline(self) -> float:
        """Seconds until the poll in flight overruns (inf when none is waiting to)."""
        if self._future is None or self._overran:
            return math.inf
        return max(0.0, self._started + self.deadline_s - self._monotonic())

    def collect(self, now: float | None = None) -> PollOutcome | None:
        """The outcome of a finished poll, or DOWN for one past its deadline, once; else None."""
        if self._future is None:
            return None
        if self._future.done():
            sample = self._future.result()  # _read never raises
            self._future = None
            if self._overran:  # already reported DOWN; a late answer is not news
                log.debug("%s: a late answer after the deadline was dropped", self.target)
                return None
            return self.record(sample)
        if self._overran or self.seconds_to_deadline() > 0:
            return None
        self._overran = True
        asked = self._clock() if now is None else now
        log.debug("%s: no answer within %.1f s", self.target, self.deadline_s)
        return self.record(self._overrun_sample(asked))

    def _overrun_sample(self, now: float) -> Sample:
        reason = f"no complete answer within {self.deadline_s:.1f} s"
        return Sample(now, {name: None for name in self.metric_names}, down_reason=reason)

    def stale(self, now: float | None = None) -> bool:
        """Whether the latest outcome is older than the next one was due (monotonic ``now``)."""
        if self._fresh_until is None:
            return False
        return (self._monotonic() if now is None else now) > self._fresh_until

    def record(self, sample: Sample) -> PollOutcome:
        """Put one sample in the history and the state machine, and update the back-off."""
        sample = self._with_timing(sample)
        if sample.is_down:
            self.consecutive_failures += 1
            self._backoff_left = min(2 ** (self.consecutive_failures - 1), self.max_backoff_ticks)
        else:
            self.consecutive_failures = 0
            self._backoff_left = 0
        waits = self.interval_s * (1 + self._backoff_left) + self.deadline_s
        self._fresh_until = self._monotonic() + waits
        self.history.append(sample)
        change = self.machine.update(sample)
        state = self.machine.state
        reason = sample.down_reason or self.machine.reason
        if state is None:  # no reading of the threshold metric yet: nothing to alarm about
            state = State.OK
            reason = reason or f"no {self.machine.thresholds.metric} reported yet"
        events = tuple(self.restarts.observe(sample))
        restarted = [event for event in events if isinstance(event, Restart)]
        if restarted:  # a new process: its memory starts over, so does the evidence
            self._evidence_from = restarted[-1].time
            self._judged_at, self._alerted = None, set()
        leaks = self.leaks(sample.time)
        main = self.machine.thresholds.metric
        suspects = tuple(name for name, verdict in leaks.items() if verdict.suspected)
        shown = suspects[0] if suspects and main not in suspects else main
        if shown not in leaks:
            shown = next(iter(leaks), None)
        alert = None
        fresh = [name for name in suspects if name not in self._alerted]
        if fresh:
            self._alerted.update(fresh)
            alert = "; ".join(labelled(name, leaks[name]) for name in fresh)
        return PollOutcome(
            self.target,
            sample,
            state,
            reason,
            change,
            self.trend(),
            self.metric_names,
            leak=leaks.get(shown) if shown else None,
            leak_metric=shown,
            leak_alert=alert,
            events=events,
            restarts=self.restarts.total,
            main_metric=main,
        )

    def _with_timing(self, sample: Sample) -> Sample:
        """The sample with its ``TIMING_SERIES`` among the metrics (those it has): response
        time, loop lag, and GC ms per second from the growth of the GC total since the last
        sample that had one (none across a restart, where the total starts over)."""
        timing = {}
        if sample.latency_ms is not None and math.isfinite(sample.latency_ms):
            timing[RESPONSE_MS] = sample.latency_ms
        lag = sample.runtime.get(LAG_P99_MS)
        if lag is not None and math.isfinite(lag):
            timing[LAG_P99_MS] = lag
        gc = sample.runtime.get(GC_SECONDS_TOTAL)
        if gc is not None and math.isfinite(gc):
            last, self._gc_last = self._gc_last, (sample.time, gc)
            if last is not None and sample.time > last[0] and gc >= last[1]:
                timing[GC_MS_PER_S] = 1000.0 * (gc - last[1]) / (sample.time - last[0])
        if not timing:
            return sample
        return dataclass_replace(sample, metrics=sample.metrics | timing)

    def leaks(self, now: float) -> dict[str, LeakVerdict]:
        """The leak verdict of each watched series, judged on the samples since the start or the
        latest restart, again at most every ``LEAK_EVERY_S`` (about 1.3 ms per series of 24 h)."""
        if self._judged_at is not None and now - self._judged_at < LEAK_EVERY_S:
            later = now - self._judged_at  # the evidence grew meanwhile, whatever the verdict
            return {
                name: dataclass_replace(verdict, evidence_seconds=verdict.evidence_seconds + later)
                for name, verdict in self._leaks.items()
            }
        self._judged_at = now
        names = [name for name in LEAK_METRICS if name in self.history.series]
        if not names:
            self._leaks = {}
            return self._leaks
        since = self._evidence_from
        span = self.history.capacity * self.interval_s if since is None else now - since + 1e-6
        times, columns = self.history.window(span, now)
        if since is not None:
            keep = times >= since
            times, columns = times[keep], {name: c[keep] for name, c in columns.items()}
        critical = self.machine.thresholds.critical_mb
        self._leaks = {
            name: detect_leak(times, columns[name], critical, self.leak_min_span_s)
            for name in names
        }
        return self._leaks

    def trend(self) -> Trend:
        """Growth of the threshold metric over the trend window, and time to critical."""
        t = self.machine.thresholds
        times, columns = self.history.window(self.trend_window_s)
        if t.metric not in columns:
            return Trend(0.0, None)
        return trend(times, columns[t.metric], self.trend_window_s, t.critical_mb)

    def _read(self, now: float) -> Sample:
        """Runs on the pool; never raises, so a failure is always a DOWN sample."""
        started = self._monotonic()
        try:
            result = self.source.poll()
        except SourceDown as down:
            return Sample(now, {name: None for name in self.metric_names}, down_reason=down.reason)
        except Exception as error:  # a bug in a source must not stop the monitoring
            # One line for the person; the traceback only at debug level (-vv, the log file).
            log.warning("%s: poll failed unexpectedly: %r", self.target, error)
            log.debug("%s: poll failure", self.target, exc_info=True)
            reason = one_line(f"unexpected error: {error or type(error).__name__}")
            return Sample(now, {name: None for name in self.metric_names}, down_reason=reason)
        if isinstance(result, Sample):
            return result
        identity = ProcessIdentity(  # which run answered: /health's uptime, /metrics' start
            start_time=result.runtime.get(PROCESS_START_TIME), uptime_s=result.uptime_s
        )
        identity = None if identity.empty else identity
        return Sample(
            now,
            dict(result.metrics),
            backend_status=result.backend_status,
            identity=identity,
            runtime=dict(result.runtime),
            latency_ms=(self._monotonic() - started) * 1000.0,
        )


def to_json(outcome: PollOutcome, stale: bool = False) -> dict:
    """The per-sample JSON object of the ``monitor`` command (issue 4), exactly these keys.

    ``stale`` is true when the outcome is shown later than its poller's next one was due.
    """
    metrics = {
        name: None if (value := outcome.sample.value(name)) is None else round(value, 3)
        for name in outcome.metric_names
    }
    seconds = outcome.trend.seconds_to_critical
    sample = outcome.sample
    lag = sample.runtime.get(LAG_P99_MS)
    leak = None
    if outcome.leak is not None:
        leak = outcome.leak.to_json() | {"metric": outcome.leak_metric}
    return {
        "time": round(outcome.sample.time, 3),
        "target": outcome.target,
        "state": str(outcome.state),
        "reason": outcome.reason,
        "metrics": metrics,
        "trend": {
            "mbPerMinute": round(outcome.trend.mb_per_minute, 3),
            "secondsToCritical": None if seconds is None else round(seconds, 1),
        },
        "stale": stale,
        "leak": leak,
        "restarts": outcome.restarts,
        "latencyMs": None if sample.latency_ms is None else round(sample.latency_ms, 1),
        "lagP99Ms": None if lag is None or not math.isfinite(lag) else round(lag, 1),
    }
