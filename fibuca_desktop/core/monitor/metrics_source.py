"""Remote ``GET /metrics``: Prometheus text as prom-client writes it, reduced to a few numbers.

Recognised by suffix, so a name prefix (``myapp_nodejs_heap_size_used_bytes``) is tolerated:

=========================================  ==================  ==================================
metric (any prefix)                        name here           where
=========================================  ==================  ==================================
``nodejs_heap_size_used_bytes``            heapUsedMB          ``HealthReading.metrics``
``nodejs_heap_size_total_bytes``           heapTotalMB         ``HealthReading.metrics``
``nodejs_external_memory_bytes``           externalMB          ``HealthReading.metrics``
``process_resident_memory_bytes``          rssMB               ``HealthReading.metrics``
``process_start_time_seconds``             processStartTime    ``HealthReading.runtime``, epoch s
``nodejs_eventloop_lag_p99_seconds``       lagP99Ms            ``HealthReading.runtime``, ms
``nodejs_eventloop_lag_seconds`` (0.99)    lagP99Ms            when there is no p99 gauge
``nodejs_gc_duration_seconds_sum``         gcSecondsTotal      ``HealthReading.runtime``, s
=========================================  ==================  ==================================

A prefix ends with ``_`` or ``:`` (``xnodejs_...`` is another metric). The exact name wins over
any prefixed one wherever it appears; among prefixed names only, the first in the text wins.
Labels are tolerated: the sample without labels is used when there is one, otherwise the sum of
that metric's labelled series (prom-client's default labels give exactly one; GC time is summed
over its ``kind``s). For the lag, the largest p99 of the labelled series is taken instead of a
sum, from the gauge, else a summary's ``quantile="0.99"``, else a histogram's buckets (as
PromQL's ``histogram_quantile(0.99, ...)`` over the buckets' totals since the process started).
``NaN``, infinities, negative and implausible values (over 2**64 bytes) are gaps.

The runtime figures are kept out of ``metrics`` on purpose: every key there becomes a series in
the history (float32: an epoch in seconds would lose minutes) and a CSV column.
The text is read by ``prom_text`` (prometheus_client, line by line tolerance, gzip and
OpenMetrics handled, see there); a body without any valid sample is ``unparsable``.
"""

from __future__ import annotations

import logging
import math

from fibuca_desktop.core.monitor import prom_text
from fibuca_desktop.core.monitor.health_source import METRIC_NAMES, HealthReading
from fibuca_desktop.core.monitor.http_fetch import HttpSource, SourceDown, mask_url
from fibuca_desktop.core.monitor.samples import (
    GC_SECONDS_TOTAL,
    LAG_P99_MS,
    PROCESS_START_TIME,
    RUNTIME_METRICS,
)

log = logging.getLogger(__name__)

_MB = 1024 * 1024
MAX_BYTES = float(2**64)
MAX_SECONDS = float(2**40)  # ~35,000 years: more is not a time (an epoch, a lag, GC seconds)
_LAG_FAMILY = "lagFamily"  # a lag summary or histogram, read when there is no p99 gauge
# Suffix -> (our name, the sample suffix we read, scale to our unit, largest plausible value).
SUFFIXES = {
    "nodejs_heap_size_used_bytes": ("heapUsedMB", "", 1 / _MB, MAX_BYTES),
    "nodejs_heap_size_total_bytes": ("heapTotalMB", "", 1 / _MB, MAX_BYTES),
    "nodejs_external_memory_bytes": ("externalMB", "", 1 / _MB, MAX_BYTES),
    "process_resident_memory_bytes": ("rssMB", "", 1 / _MB, MAX_BYTES),
    "process_start_time_seconds": (PROCESS_START_TIME, "", 1.0, MAX_SECONDS),
    "nodejs_eventloop_lag_p99_seconds": (LAG_P99_MS, "", 1000.0, MAX_SECONDS),
    "nodejs_gc_duration_seconds": (GC_SECONDS_TOTAL, "_sum", 1.0, MAX_SECONDS),
    "nodejs_eventloop_lag_seconds": (_LAG_FAMILY, "", 1000.0, MAX_SECONDS),
}
_SUBS = ("_sum", "_bucket")


def parse_prometheus(text: str, content_type: str = "") -> dict[str, float | None]:
    """Map a /metrics body to heapUsedMB, heapTotalMB, externalMB and rssMB (None for a gap).

    Raises ``SourceDown("unparsable body: ...")`` when the text holds no Prometheus sample at
    all (an HTML error page, JSON); a valid body without these metrics gives all gaps.
    """
    metrics = parse_exposition(text, content_type)
    return {name: metrics[name] for name in METRIC_NAMES}


def parse_exposition(text: str, content_type: str = "") -> dict[str, float | None]:
    """``parse_prometheus``'s four, plus ``samples.RUNTIME_METRICS`` (None for a gap)."""
    selected = prom_text.select(text, lambda name: _ours(name) is not None)
    if selected.samples == 0:
        raise SourceDown("unparsable body: no Prometheus samples found")
    openmetrics = prom_text.is_openmetrics(text, content_type)
    series: dict[str, dict[tuple, float]] = {}  # exposition name -> labels -> value (last wins)
    candidates: dict[str, list[str]] = {}  # suffix -> exposition family names, in text order
    for sample in prom_text.parse(selected, openmetrics):
        ours = _ours(sample.name)
        if ours is None:
            continue
        suffix, family, sub = ours
        read = ("", "_bucket") if SUFFIXES[suffix][0] == _LAG_FAMILY else (SUFFIXES[suffix][1],)
        if sub not in read:
            continue  # e.g. the GC histogram's buckets
        names = candidates.setdefault(suffix, [])
        if family not in names:
            names.append(family)
        labels = tuple(sorted(sample.labels.items()))
        series.setdefault(sample.name, {})[labels] = _as_float(sample.value)
    metrics: dict[str, float | None] = {}
    for suffix, (ours, sub, scale, limit) in SUFFIXES.items():
        names = candidates.get(suffix, [])
        family = suffix if suffix in names else (names[0] if names else None)
        if family is None:
            metrics[ours] = None
        elif ours == _LAG_FAMILY:
            metrics[ours] = _lag_quantile(series, family, scale, limit)
        else:
            combine = max if ours == LAG_P99_MS else math.fsum
            metrics[ours] = _total(series.get(family + sub, {}), scale, limit, combine)
    if metrics[LAG_P99_MS] is None:
        metrics[LAG_P99_MS] = metrics[_LAG_FAMILY]
    return {name: metrics[name] for name in (*METRIC_NAMES, *RUNTIME_METRICS)}


def _ours(name: str) -> tuple[str, str, str] | None:
    """(suffix, family name, sample suffix) for an exposition name we read, else None."""
    for sub in ("", *_SUBS):
        if sub and not name.endswith(sub):
            continue
        family = name[: len(name) - len(sub)]
        for suffix in SUFFIXES:
            if family == suffix or (family.endswith(suffix) and family[-len(suffix) - 1] in "_:"):
                return suffix, family, sub
    return None


def _as_float(value: float) -> float:
    """prometheus_client gives an int for an integer text, however many digits: inf past float."""
    try:
        return float(value)
    except OverflowError:
        return math.inf


def _plausible(value: float, limit: float) -> bool:
    return math.isfinite(value) and 0 <= value <= limit


def _total(values: dict[tuple, float], scale: float, limit: float, combine) -> float | None:
    """The unlabelled value, else ``combine`` of the labelled ones; any implausible one: a gap."""
    chosen = [values[()]] if () in values else list(values.values())
    if not chosen or not all(_plausible(v, limit) for v in chosen):
        return None
    return combine(chosen) * scale


def _lag_quantile(series: dict, family: str, scale: float, limit: float) -> float | None:
    """p99 from a summary's 0.99 quantiles (largest), else from histogram buckets."""
    quantiles = [
        value
        for labels, value in series.get(family, {}).items()
        if any(k == "quantile" and _is(v, 0.99) for k, v in labels)
    ]
    if quantiles:
        return max(quantiles) * scale if all(_plausible(v, limit) for v in quantiles) else None
    buckets: dict[float, float] = {}  # le -> cumulative count summed over the other labels
    for labels, count in series.get(family + "_bucket", {}).items():
        le = dict(labels).get("le")
        bound = _float(le)
        if bound is None or not (math.isfinite(count) and count >= 0):
            return None
        buckets[bound] = buckets.get(bound, 0.0) + count
    p99 = histogram_quantile(0.99, buckets)
    return None if p99 is None or not _plausible(p99, limit) else p99 * scale


def histogram_quantile(q: float, buckets: dict[float, float]) -> float | None:
    """PromQL's ``histogram_quantile``: linear inside the bucket holding the rank; None when
    there is no ``+Inf`` bucket or no observation. The +Inf bucket answers its lower bound."""
    if math.inf not in buckets or buckets[math.inf] <= 0:
        return None
    bounds = sorted(buckets)
    counts = [buckets[b] for b in bounds]
    for i in range(1, len(counts)):  # counts must not fall (PromQL fixes them the same way)
        counts[i] = max(counts[i], counts[i - 1])
    rank = q * counts[-1]
    for i, (bound, count) in enumerate(zip(bounds, counts, strict=True)):
        if count >= rank:
            if bound == math.inf:
                return bounds[-2] if len(bounds) > 1 else None
            lower, below = (bounds[i - 1], counts[i - 1]) if i else (min(0.0, bound), 0.0)
            if count == below:
                return bound
            return lower + (bound - lower) * (rank - below) / (count - below)
    return None


def _float(text: str | None) -> float | None:
    if text is None or not prom_text.NUMBER.fullmatch(text):
        return None
    return float(text)


def _is(text: str, number: float) -> bool:
    value = _float(text)
    return value is not None and value == number


class MetricsSource(HttpSource):
    """Polls one service's /metrics URL; ``poll`` returns a reading or raises ``SourceDown``.

    The reading has the same shape as /health's, with no backend status or timestamp, plus
    ``runtime`` (start time, loop lag p99, GC seconds; None when the service does not tell).
    """

    def poll(self) -> HealthReading:
        """Fetch and parse once; blocking, bounded by ``timeout_s``."""
        body = self._fetch_body()
        text = body.data.decode("utf-8", errors="replace")
        found = parse_exposition(text, body.content_type)
        metrics = {name: found[name] for name in METRIC_NAMES}
        runtime = {name: found[name] for name in RUNTIME_METRICS}
        log.debug("%s: %s %s", mask_url(self.url), metrics, runtime)
        return HealthReading(metrics=metrics, runtime=runtime)
