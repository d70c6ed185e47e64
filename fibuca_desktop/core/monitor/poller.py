"""Polls one target on a shared, bounded thread pool: never two polls at once, failures back off.

A ``TargetPoller`` turns whatever its source returns (a ``Sample`` from ``LocalSource``, a
``HealthReading`` from the remote sources, or ``SourceDown``) into a ``Sample``, keeps it in a
``TargetHistory`` and feeds it to a ``StateMachine``. The caller drives it with ``tick`` once per
interval; a tick that finds a poll still in flight is skipped, so a hanging target never piles
up requests, and after consecutive failures the next 1, 2, 4 ... ticks are skipped (capped).
"""

from __future__ import annotations

import logging
import math
import time
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from concurrent.futures import TimeoutError as FutureTimeout
from dataclasses import dataclass
from typing import Protocol

from .health_source import HealthReading
from .history import DAY_AT_1_S, TargetHistory
from .http_fetch import SourceDown
from .samples import LOCAL_METRICS, REMOTE_METRICS, SYSTEM_TOTAL_MB, Sample
from .thresholds import State, StateChange, StateMachine, Thresholds, Trend, trend

log = logging.getLogger(__name__)

POOL_THREADS = 4
MAX_BACKOFF_S = 30.0
TREND_WINDOW_S = 300.0
MAX_TIMEOUT_S = 5.0

LOCAL_JSON_METRICS = tuple(name for name in LOCAL_METRICS if name != SYSTEM_TOTAL_MB)
"""The local metrics in per-sample JSON: rssMB, systemAvailableMB, systemUsedPercent."""


class Source(Protocol):
    def poll(self) -> Sample | HealthReading:
        """Blocking, bounded read; remote sources raise ``SourceDown``."""
        ...


def make_poll_pool(threads: int = POOL_THREADS) -> ThreadPoolExecutor:
    """The monitor's polling pool: create once, share between targets, shut down on exit."""
    return ThreadPoolExecutor(max_workers=threads, thread_name_prefix="monitor-poll")


def http_timeout_for(interval_s: float) -> float:
    """A request timeout shorter than the interval, so a slow target cannot overlap its polls."""
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


class TargetPoller:
    """One target: its source, state machine and history, polled without overlap."""

    def __init__(
        self,
        source: Source,
        target: str,
        pool: ThreadPoolExecutor,
        interval_s: float,
        thresholds: Thresholds | None = None,
        metric_names: tuple[str, ...] = REMOTE_METRICS,
        history_capacity: int = DAY_AT_1_S,
        max_backoff_s: float = MAX_BACKOFF_S,
        trend_window_s: float = TREND_WINDOW_S,
        clock: Callable[[], float] = time.time,
    ) -> None:
        if interval_s <= 0:
            raise ValueError("interval must be positive")
        self.source = source
        self.target = target
        self.interval_s = interval_s
        self.machine = StateMachine(thresholds)
        self.history = TargetHistory(history_capacity)
        self.metric_names = metric_names
        self.trend_window_s = trend_window_s
        self.max_backoff_ticks = max(1, math.floor(max_backoff_s / interval_s))
        self.skipped_ticks = 0  # a poll was still in flight
        self.backed_off_ticks = 0  # skipped because the target keeps failing
        self.consecutive_failures = 0
        self._pool = pool
        self._clock = clock
        self._future: Future[Sample] | None = None
        self._backoff_left = 0

    @property
    def in_flight(self) -> bool:
        return self._future is not None and not self._future.done()

    def tick(self, now: float | None = None) -> PollOutcome | None:
        """Collect a finished poll (returned) and start the next one unless busy or backing off.

        ``now`` (epoch seconds, default the clock) stamps remote samples: the time asked.
        """
        now = self._clock() if now is None else now
        outcome = self.collect()
        if self._future is not None:
            self.skipped_ticks += 1
            log.debug("%s: poll still in flight, tick skipped", self.target)
        elif self._backoff_left > 0:
            self._backoff_left -= 1
            self.backed_off_ticks += 1
        else:
            self._future = self._pool.submit(self._read, now)
        return outcome

    def wait(self, timeout_s: float) -> PollOutcome | None:
        """Wait up to ``timeout_s`` for the poll in flight; its outcome, or None."""
        if self._future is None:
            return None
        try:
            self._future.result(timeout=max(0.0, timeout_s))
        except FutureTimeout:
            return None
        return self.collect()

    def collect(self) -> PollOutcome | None:
        """The outcome of a finished poll, once; None while it runs or when there is none."""
        if self._future is None or not self._future.done():
            return None
        sample = self._future.result()  # _read never raises
        self._future = None
        return self.record(sample)

    def record(self, sample: Sample) -> PollOutcome:
        """Put one sample in the history and the state machine, and update the back-off."""
        if sample.is_down:
            self.consecutive_failures += 1
            self._backoff_left = min(2 ** (self.consecutive_failures - 1), self.max_backoff_ticks)
        else:
            self.consecutive_failures = 0
            self._backoff_left = 0
        self.history.append(sample)
        change = self.machine.update(sample)
        state = self.machine.state
        reason = sample.down_reason or self.machine.reason
        if state is None:  # no reading of the threshold metric yet: nothing to alarm about
            state = State.OK
            reason = reason or f"no {self.machine.thresholds.metric} reported yet"
        return PollOutcome(
            self.target, sample, state, reason, change, self.trend(), self.metric_names
        )

    def trend(self) -> Trend:
        """Growth of the threshold metric over the trend window, and time to critical."""
        t = self.machine.thresholds
        times, columns = self.history.window(self.trend_window_s)
        if t.metric not in columns:
            return Trend(0.0, None)
        return trend(times, columns[t.metric], self.trend_window_s, t.critical_mb)

    def _read(self, now: float) -> Sample:
        """Runs on the pool; never raises, so a failure is always a DOWN sample."""
        try:
            result = self.source.poll()
        except SourceDown as down:
            return Sample(now, {name: None for name in self.metric_names}, down_reason=down.reason)
        except Exception as error:  # a bug in a source must not stop the monitoring
            log.exception("%s: poll failed unexpectedly", self.target)
            reason = f"unexpected error: {error or type(error).__name__}"
            return Sample(now, {name: None for name in self.metric_names}, down_reason=reason)
        if isinstance(result, Sample):
            return result
        return Sample(now, dict(result.metrics), backend_status=result.backend_status)


def to_json(outcome: PollOutcome) -> dict:
    """The per-sample JSON object of the ``monitor`` command (issue 4), exactly these keys."""
    metrics = {
        name: None if (value := outcome.sample.value(name)) is None else round(value, 3)
        for name in outcome.metric_names
    }
    seconds = outcome.trend.seconds_to_critical
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
    }
