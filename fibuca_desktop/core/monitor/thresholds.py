"""Per-target state (OK / WARNING / DEGRADED / CRITICAL / DOWN) with hysteresis and debounce,
and the least-squares trend (kept for the JSON's ``trend``; leaks are judged by leak.py).

Thresholds apply to an absolute size in MB (default heap used, Fibuca's 350 / 450 MB), never to
heapUsed / heapTotal: V8 keeps the heap nearly full, so that ratio reads ~96% on a healthy server.

DEGRADED: the server answers, but slowly: our own measured response time of the poll over
``degraded_latency_ms`` (default 1 s) or the event-loop lag's p99 from prom-client over
``degraded_lag_ms`` (200 ms), for ``min_samples`` polls in a row like every change. It ranks
above WARNING (users feel it now; a warning is about later) and below CRITICAL and DOWN.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from enum import StrEnum

import numpy as np

from .samples import HEAP_USED_MB, LAG_P99_MS, Sample


class State(StrEnum):
    OK = "OK"
    WARNING = "WARNING"
    DEGRADED = "DEGRADED"
    CRITICAL = "CRITICAL"
    DOWN = "DOWN"


@dataclass
class Thresholds:
    """Levels in MB on one metric; leaving a level downwards needs ``hysteresis_mb`` of margin."""

    warning_mb: float = 350.0
    critical_mb: float = 450.0
    metric: str = HEAP_USED_MB
    hysteresis_mb: float = 10.0
    min_samples: int = 3
    degraded_latency_ms: float = 1000.0
    degraded_lag_ms: float = 200.0

    def __post_init__(self) -> None:
        if not (self.degraded_latency_ms > 0 and self.degraded_lag_ms > 0):
            raise ValueError("the DEGRADED levels must be positive")
        if not 0 < self.warning_mb < self.critical_mb:
            raise ValueError("warning_mb must be positive and below critical_mb")
        if not 0 <= self.hysteresis_mb < self.warning_mb:
            raise ValueError("hysteresis_mb must be between 0 and warning_mb")
        if self.min_samples < 1:
            raise ValueError("min_samples must be at least 1")


@dataclass(frozen=True)
class StateChange:
    """A transition to notify about; ``old`` is None for the first state of a target."""

    old: State | None
    new: State
    reason: str
    time: float


class StateMachine:
    """Turns samples into a debounced state: a change needs ``min_samples`` agreeing samples.

    The first sample sets the state at once (so the badge shows something). A sample without
    the metric and not DOWN carries no opinion: it neither counts towards nor resets a change.
    """

    def __init__(self, thresholds: Thresholds | None = None) -> None:
        self.thresholds = thresholds or Thresholds()
        self.state: State | None = None
        self._reason: str | None = None
        self._pending: State | None = None
        self._pending_count = 0

    @property
    def reason(self) -> str | None:
        """Why the target is in its state (latest agreeing sample); None when OK."""
        return None if self.state == State.OK else self._reason

    def classify(self, sample: Sample) -> tuple[State, str] | None:
        """The state this sample alone points to, given the current state (for hysteresis).

        Reasons name the configured levels; a state held by the hysteresis says so and where
        it clears ("critical at 450 MB until below 440 MB").
        """
        if sample.down_reason is not None:
            return State.DOWN, sample.down_reason
        memory = self._memory(sample)
        # Not from the first poll alone: its connection and the first parse are the slowest.
        slow = self._slowness(sample) if self.state is not None else None
        if slow and (memory is None or memory[0] in (State.OK, State.WARNING)):
            if memory is not None and memory[0] == State.WARNING:
                slow = f"{slow}; {memory[1]}"
            return State.DEGRADED, slow
        return memory

    def _slowness(self, sample: Sample) -> str | None:
        """Why the sample says the server is slow, or None."""
        t = self.thresholds
        latency = sample.latency_ms
        if latency is not None and latency > t.degraded_latency_ms:
            return f"response {_ms(latency)} > {_ms(t.degraded_latency_ms)}"
        lag = sample.runtime.get(LAG_P99_MS)
        if lag is not None and math.isfinite(lag) and lag > t.degraded_lag_ms:
            return f"event-loop lag p99 {_ms(lag)} > {_ms(t.degraded_lag_ms)}"
        return None

    def _memory(self, sample: Sample) -> tuple[State, str] | None:
        t = self.thresholds
        value = sample.value(t.metric)
        if value is None:
            return None
        critical, warning = t.critical_mb, t.warning_mb
        if self.state == State.CRITICAL:
            critical -= t.hysteresis_mb
        if self.state in (State.CRITICAL, State.WARNING):
            warning -= t.hysteresis_mb
        shown = f"{t.metric} {value:.1f} MB"
        if value >= critical:
            if value >= t.critical_mb:
                return State.CRITICAL, f"{shown} >= critical {t.critical_mb:g} MB"
            return State.CRITICAL, (
                f"{shown}, critical at {t.critical_mb:g} MB until below {critical:g} MB"
            )
        if value >= warning:
            if value >= t.warning_mb:
                return State.WARNING, f"{shown} >= warning {t.warning_mb:g} MB"
            return State.WARNING, (
                f"{shown}, warning at {t.warning_mb:g} MB until below {warning:g} MB"
            )
        return State.OK, f"{shown} < warning {t.warning_mb:g} MB"

    def update(self, sample: Sample) -> StateChange | None:
        """Feed one sample; returns the change exactly when the state changes."""
        verdict = self.classify(sample)
        if verdict is None:
            return None
        new, reason = verdict
        if new == self.state:
            self._pending, self._pending_count, self._reason = None, 0, reason
            return None
        if new == self._pending:
            self._pending_count += 1
        else:
            self._pending, self._pending_count = new, 1
        if self.state is not None and self._pending_count < self.thresholds.min_samples:
            return None
        change = StateChange(self.state, new, reason, sample.time)
        self.state, self._reason = new, reason
        self._pending, self._pending_count = None, 0
        return change


def _ms(milliseconds: float) -> str:
    """'320 ms' below a second, else '1.4 s'."""
    if milliseconds < 1000:
        return f"{milliseconds:.0f} ms"
    return f"{milliseconds / 1000:.1f} s"


@dataclass(frozen=True)
class Trend:
    mb_per_minute: float
    seconds_to_critical: float | None


NO_TREND = Trend(0.0, None)
SEGMENTS = 4  # a trend must grow in each quarter of its window


def trend(
    times: np.ndarray,
    values: np.ndarray,
    window_s: float = 300.0,
    critical_mb: float | None = None,
    min_points: int = 5,
    min_span_s: float = 30.0,
) -> Trend:
    """Least-squares growth over the last ``window_s`` and, when growing, time to ``critical_mb``.

    Gaps (NaN) are ignored. Too few points or too short a span gives no trend (0, None), so a
    fresh target does not flash a wild estimate. A step is not a trend: the growth must show in
    each of ``SEGMENTS`` equal parts of the window (a model loading once, even over several
    seconds, raises one or two of them, wherever the step falls as the window slides), and
    the rate given is the least of the whole's and the parts', so a step does not inflate a
    real leak either.
    """
    times = np.asarray(times, dtype=np.float64)
    values = np.asarray(values, dtype=np.float64)
    keep = ~np.isnan(values) & ~np.isnan(times)
    times, values = times[keep], values[keep]
    if times.size == 0:
        return NO_TREND
    recent = times > times[-1] - window_s
    times, values = times[recent], values[recent]
    if times.size < min_points or times[-1] - times[0] < min_span_s:
        return NO_TREND
    slope = _slope(times, values)  # MB per second
    # Each point in one part: [start, end) for the first ones, the last one closed.
    edges = np.linspace(times[0], times[-1], SEGMENTS + 1)
    part_of = np.minimum(np.searchsorted(edges, times, side="right") - 1, SEGMENTS - 1)
    parts = [_slope(times[part_of == i], values[part_of == i]) for i in range(SEGMENTS)]
    rates = [slope, *parts]
    if any(rate is None for rate in rates) or len({math.copysign(1, r) for r in rates}) > 1:
        return NO_TREND  # flat, or the growth is in some parts only: a step
    slope = math.copysign(min(abs(r) for r in rates), slope)
    seconds = None
    current = float(values[-1])
    if critical_mb is not None and slope > 0 and current < critical_mb:
        seconds = (critical_mb - current) / slope
    return Trend(slope * 60.0 if math.isfinite(slope) else 0.0, seconds)


def _slope(times: np.ndarray, values: np.ndarray) -> float | None:
    """Least-squares slope, or None for fewer than two distinct times."""
    if times.size < 2 or times[-1] == times[0]:
        return None
    dt = times - times.mean()
    return float(np.dot(dt, values - values.mean()) / np.dot(dt, dt))
