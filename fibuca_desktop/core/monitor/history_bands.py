"""What ``HistoryStore.load`` returns: raw points and minute bands, numpy arrays per metric.

Shaped for its two readers. The graph draws ``raw`` exactly like the RAM history's window
(shared times, one float32 column per metric, NaN = gap) and ``minutes`` as a min-max band
around the mean. The leak detector wants the GC floor: ``floor(name)`` joins the minute minima
to the raw points, so 30 days of evidence keep the level the heap returns to after collections.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

MINUTE = "minute"
RAW_FIELDS = np.dtype([("t", "i8"), ("metric", "i8"), ("value", "f8")])
MINUTE_FIELDS = np.dtype(
    [("minute", "i8"), ("metric", "i8"), ("low", "f8"), ("high", "f8"), ("mean", "f8"), ("n", "i8")]
)
VALUE_DTYPE = np.float32  # as the RAM history (history.py)


def _empty_times() -> np.ndarray:
    return np.empty(0, np.float64)


@dataclass(frozen=True)
class RawPoints:
    """Every sample kept raw: ``times`` (epoch s, ascending) and one aligned column per metric."""

    times: np.ndarray = field(default_factory=_empty_times)
    values: dict[str, np.ndarray] = field(default_factory=dict)


@dataclass(frozen=True)
class MinuteBands:
    """One row per minute (``times``: the minute's start, epoch s, ascending) and per metric:
    ``low``/``high``/``mean`` (float64, NaN when the minute had no value: a gap) and ``count``
    (samples with a value). A minute with no row at all had no samples (the app was closed)."""

    times: np.ndarray = field(default_factory=_empty_times)
    low: dict[str, np.ndarray] = field(default_factory=dict)
    high: dict[str, np.ndarray] = field(default_factory=dict)
    mean: dict[str, np.ndarray] = field(default_factory=dict)
    count: dict[str, np.ndarray] = field(default_factory=dict)


def reduce_bands(bands: MinuteBands, max_points: int) -> MinuteBands:
    """At most about ``max_points`` bands: consecutive minutes merged into equal time buckets,
    each keeping the lowest low, the highest high and the count-weighted mean, so a graph a
    thousand pixels wide draws 30 days in milliseconds and still shows the floor and the peaks.
    Bands with fewer points come back as they are."""
    n = len(bands.times)
    if n <= max_points or n == 0:
        return bands
    width = 60.0 * np.ceil((bands.times[-1] - bands.times[0] + 60.0) / 60.0 / max_points)
    bucket = ((bands.times - bands.times[0]) // width).astype(np.int64)
    starts = np.flatnonzero(np.concatenate(([True], np.diff(bucket) > 0)))
    low, high, mean, count = {}, {}, {}, {}
    for name in bands.mean:
        n_ = bands.count[name].astype(np.float64)
        weighted = np.where(np.isnan(bands.mean[name]), 0.0, bands.mean[name] * n_)
        total = np.add.reduceat(n_, starts)
        with np.errstate(invalid="ignore", divide="ignore"):
            mean[name] = np.where(total > 0, np.add.reduceat(weighted, starts) / total, np.nan)
        low[name] = np.fmin.reduceat(bands.low[name], starts)
        high[name] = np.fmax.reduceat(bands.high[name], starts)
        count[name] = total.astype(np.int32)
    times = bands.times[0] + bucket[starts] * width
    return MinuteBands(times, low, high, mean, count)


@dataclass(frozen=True)
class StoredHistory:
    """A window of one target: ``minutes`` (older) then ``raw`` (newer); they never overlap."""

    minutes: MinuteBands
    raw: RawPoints

    @classmethod
    def empty(cls) -> StoredHistory:
        return cls(MinuteBands(), RawPoints())

    @property
    def names(self) -> list[str]:
        """Every metric in the window, minute ones first, in the order they were first stored."""
        return list(dict.fromkeys([*self.minutes.mean, *self.raw.values]))

    def floor(self, name: str) -> tuple[np.ndarray, np.ndarray]:
        """Times and float64 values of ``name``'s lower envelope: each minute's minimum (at the
        minute's start), then the raw points; NaN where there was a gap."""
        low = self.minutes.low.get(name, np.full(len(self.minutes.times), np.nan))
        raw = self.raw.values.get(name, np.full(len(self.raw.times), np.nan, VALUE_DTYPE))
        times = np.concatenate([self.minutes.times, self.raw.times])
        return times, np.concatenate([low, raw.astype(np.float64)])


def _run_index(keys: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """For sorted ``keys``: the distinct keys, and each element's position among them."""
    starts = np.empty(len(keys), dtype=bool)
    starts[:1] = True
    np.not_equal(keys[1:], keys[:-1], out=starts[1:])
    return keys[starts], np.cumsum(starts) - 1


def _spread(
    rows: np.ndarray, index: np.ndarray, size: int, names: dict[int, str], column: str, dtype
):
    """One column per metric id in ``rows``, the values put at ``index``; NaN elsewhere."""
    out = {}
    for metric in np.unique(rows["metric"]).tolist():  # ids ascending: first-stored first
        mask = rows["metric"] == metric
        fill = 0 if np.issubdtype(dtype, np.integer) else np.nan
        values = np.full(size, fill, dtype=dtype)
        values[index[mask]] = rows[column][mask]
        out[names.get(metric, f"metric{metric}")] = values
    return out


def pivot_raw(rows: np.ndarray, names: dict[int, str]) -> RawPoints:
    """``RAW_FIELDS`` rows sorted by time, +inf for a gap, as aligned columns."""
    if len(rows) == 0:
        return RawPoints()
    rows["value"][np.isinf(rows["value"])] = np.nan
    keys, index = _run_index(rows["t"])
    values = _spread(rows, index, len(keys), names, "value", VALUE_DTYPE)
    return RawPoints(keys / 1000.0, values)


def pivot_minutes(rows: np.ndarray, names: dict[int, str]) -> MinuteBands:
    """``MINUTE_FIELDS`` rows sorted by minute, +inf for a gap, as aligned columns."""
    if len(rows) == 0:
        return MinuteBands()
    for column in ("low", "high", "mean"):
        rows[column][np.isinf(rows[column])] = np.nan
    keys, index = _run_index(rows["minute"])
    size = len(keys)
    return MinuteBands(
        keys.astype(np.float64),
        *(_spread(rows, index, size, names, c, np.float64) for c in ("low", "high", "mean")),
        _spread(rows, index, size, names, "n", np.int32),
    )
