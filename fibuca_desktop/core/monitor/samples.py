"""One reading of one monitored target, as every source (local, /health, /metrics) reports it."""

from __future__ import annotations

import math
from dataclasses import dataclass, field

# Metric names, spelled as in the per-sample JSON. Remote targets (a Node server):
HEAP_USED_MB = "heapUsedMB"
HEAP_TOTAL_MB = "heapTotalMB"
EXTERNAL_MB = "externalMB"
RSS_MB = "rssMB"
# Runtime figures a /metrics target may also report (metrics_source.py). Not in REMOTE_METRICS:
# they travel in ``HealthReading.runtime`` / ``Sample.runtime``; the poller derives the timing
# series below from them.
PROCESS_START_TIME = "processStartTime"  # epoch seconds
LAG_P99_MS = "lagP99Ms"  # event-loop lag, 99th percentile, milliseconds
GC_SECONDS_TOTAL = "gcSecondsTotal"  # time spent in GC since the process started, seconds
RUNTIME_METRICS = (PROCESS_START_TIME, LAG_P99_MS, GC_SECONDS_TOTAL)
# Timing series, in ms, that the poller adds to a sample's metrics for the graph, the history and
# the CSV (never the JSON's "metrics", which keeps its keys): our measured response time of the
# poll, the event-loop lag p99, and GC time per second of wall time (ms/s: 50 is a 5% share).
RESPONSE_MS = "responseMs"
GC_MS_PER_S = "gcMsPerS"
# PM2 targets (pm2_source.py) report CPU and, through PM2's agent, event-loop latency
# percentiles (not prom-client's lag p99: another measure, kept apart).
CPU_PERCENT = "cpuPercent"
LOOP_LATENCY_MS = "loopLatencyMs"
LOOP_LATENCY_P95_MS = "loopLatencyP95Ms"
TIMING_SERIES = (RESPONSE_MS, LAG_P99_MS, GC_MS_PER_S, LOOP_LATENCY_P95_MS)
# Local targets (this computer) add:
SYSTEM_AVAILABLE_MB = "systemAvailableMB"
SYSTEM_USED_PERCENT = "systemUsedPercent"
SYSTEM_TOTAL_MB = "systemTotalMB"

REMOTE_METRICS = (HEAP_USED_MB, HEAP_TOTAL_MB, EXTERNAL_MB, RSS_MB)
LOCAL_METRICS = (RSS_MB, SYSTEM_AVAILABLE_MB, SYSTEM_USED_PERCENT, SYSTEM_TOTAL_MB)

MB = 1024 * 1024


@dataclass(frozen=True)
class ProcessIdentity:
    """Which run of a process answered one poll: what restart detection compares between polls.

    Every field is optional, since each source knows only some: ``start_time`` (epoch seconds:
    /metrics' ``process_start_time_seconds`` or psutil's create time), ``uptime_s`` (/health's
    ``uptime``), ``pid`` (local processes, PM2) and ``restart_count`` (PM2's own count). Kept
    apart from ``Sample.metrics`` on purpose: none of these is a series to plot, log or export.
    """

    start_time: float | None = None
    uptime_s: float | None = None
    pid: int | None = None
    restart_count: int | None = None

    @property
    def empty(self) -> bool:
        return all(
            v is None for v in (self.start_time, self.uptime_s, self.pid, self.restart_count)
        )


@dataclass(frozen=True)
class Sample:
    """Metrics of one target at ``time`` (epoch seconds); a missing or unknown value is None.

    ``down_reason`` set means the target was DOWN for this sample (unreachable, exited, denied);
    the metrics it could still read (e.g. system memory) may be present. ``identity`` (None when
    the source has none) feeds restart detection and is never a metric. ``runtime`` holds a
    /metrics target's ``RUNTIME_METRICS`` (loop lag, GC time), ``latency_ms`` our own measured
    response time of the poll (remote targets): both for the DEGRADED state and the JSON, and
    neither a series of the history.
    """

    time: float
    metrics: dict[str, float | None] = field(default_factory=dict)
    backend_status: str | None = None
    down_reason: str | None = None
    identity: ProcessIdentity | None = None
    runtime: dict[str, float | None] = field(default_factory=dict)
    latency_ms: float | None = None

    @property
    def is_down(self) -> bool:
        return self.down_reason is not None

    def value(self, name: str) -> float | None:
        """The metric as a finite float, or None when absent, unknown or not a number."""
        value = self.metrics.get(name)
        if value is None:
            return None
        value = float(value)
        return value if math.isfinite(value) else None


def plausible_number(value: object, upper: float, max_text: int = 100) -> float | None:
    """A finite number in 0..``upper`` from a JSON number or a numeric string of at most
    ``max_text`` characters ("6.49"; 0: no strings); else None (a gap, never an error)."""
    if isinstance(value, bool):
        return None
    if isinstance(value, str):
        if len(value) > max_text:
            return None
        try:
            value = float(value)  # also strips surrounding whitespace
        except ValueError:
            return None
    if not isinstance(value, int | float):
        return None
    try:
        number = float(value)
    except OverflowError:  # an integer too large for a float
        return None
    return number if math.isfinite(number) and 0 <= number <= upper else None
