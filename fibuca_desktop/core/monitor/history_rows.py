"""How samples and minute bands are packed into SQLite rows, and the per-minute aggregation.

One row per sample (``vals``: the sample's values as little-endian float64, NaN = gap) and one
per minute (``stats``: low, high, mean, count per metric), each naming its *layout*: which
metrics, in which order. Packing is what makes 30 days load in a fraction of a second: Python's
sqlite3 builds an object per row and per column, so a row per (sample, metric) made 24 h of four
metrics 345,600 rows and ~0.4 s; packed they are 86,400 small rows and one ``frombuffer``.

The aggregation treats a raw value as a one-sample band (low = high = value, count 1; a gap
count 0) and merges bands per (minute, metric) with fmin / fmax / weighted mean, so a minute
downsampled twice (a late sample after the wall clock stepped back) stays exact.
"""

from __future__ import annotations

import itertools
import struct
from functools import cache

import numpy as np

from .history_bands import MINUTE_FIELDS, RAW_FIELDS, VALUE_DTYPE, RawPoints

STATS = 4  # low, high, mean, count


@cache
def _packer(count: int) -> struct.Struct:
    return struct.Struct(f"<{count}d")


def pack_values(values: list[float | None]) -> bytes:
    """A sample's values (None = gap) as one blob."""
    return _packer(len(values)).pack(*[np.nan if v is None else v for v in values])


def layout_text(metric_ids: list[int] | tuple[int, ...]) -> str:
    return ",".join(str(i) for i in metric_ids)


def parse_layouts(rows) -> dict[int, tuple[int, ...]]:
    """``SELECT id, metrics FROM layouts`` as {layout id: metric ids}."""
    return {i: tuple(int(m) for m in text.split(",")) for i, text in rows}


def _grouped(rows: list, layouts: dict[int, tuple[int, ...]], width: int):
    """For each layout in ``rows`` (key, layout, blob): the rows' positions, their keys, their
    metric ids and their values as an array (rows x metrics x width)."""
    if not rows:
        return
    keys, kinds, blobs = zip(*rows, strict=True)
    keys, kinds = np.array(keys, np.int64), np.array(kinds, np.int64)
    single = bool((kinds == kinds[0]).all())
    for layout in [int(kinds[0])] if single else np.unique(kinds).tolist():
        metrics = layouts[layout]
        if len(metrics) == 0:
            continue
        where = np.arange(len(rows)) if single else np.flatnonzero(kinds == layout)
        blob = b"".join(blobs if single else [blobs[i] for i in where.tolist()])
        values = np.frombuffer(blob, "<f8").reshape(len(where), len(metrics), width)
        yield where, keys[where], np.asarray(metrics, np.int64), values


def raw_long(rows: list, layouts: dict[int, tuple[int, ...]]) -> np.ndarray:
    """Raw rows (t, layout, vals) ordered by t as ``RAW_FIELDS`` (t, metric, value), by t."""
    parts, order = [], []
    for where, times, metrics, values in _grouped(rows, layouts, 1):
        part = np.empty(values.shape[:2], RAW_FIELDS)
        part["t"] = times[:, None]
        part["metric"] = metrics[None, :]
        part["value"] = values[:, :, 0]
        parts.append(part.ravel())
        order.append(np.repeat(where, len(metrics)))
    if not parts:
        return np.empty(0, RAW_FIELDS)
    if len(parts) == 1:
        return parts[0]
    merged = np.concatenate(parts)
    return merged[np.argsort(np.concatenate(order), kind="stable")]


def raw_points(rows: list, layouts: dict[int, tuple[int, ...]], names: dict[int, str]):
    """Raw rows (t, layout, vals) ordered by t as ``RawPoints``: aligned float32 columns."""
    if not rows:
        return RawPoints()
    times = np.empty(len(rows), np.float64)
    columns: dict[int, np.ndarray] = {}
    for where, keys, metrics, values in _grouped(rows, layouts, 1):
        times[where] = keys / 1000.0
        for index, metric in enumerate(metrics.tolist()):
            if metric not in columns:
                columns[metric] = np.full(len(rows), np.nan, VALUE_DTYPE)
            columns[metric][where] = values[:, index, 0]
    ordered = {names.get(m, f"metric{m}"): columns[m] for m in sorted(columns)}
    return RawPoints(times, ordered)


def minute_long(rows: list, layouts: dict[int, tuple[int, ...]]) -> np.ndarray:
    """Minute rows (minute, layout, stats) ordered by minute as ``MINUTE_FIELDS``, by minute."""
    parts, order = [], []
    for where, minutes, metrics, stats in _grouped(rows, layouts, STATS):
        part = np.empty(stats.shape[:2], MINUTE_FIELDS)
        part["minute"] = minutes[:, None]
        part["metric"] = metrics[None, :]
        for index, name in enumerate(("low", "high", "mean", "n")):
            part[name] = stats[:, :, index]
        parts.append(part.ravel())
        order.append(np.repeat(where, len(metrics)))
    if not parts:
        return np.empty(0, MINUTE_FIELDS)
    merged = np.concatenate(parts)
    return merged if len(parts) == 1 else merged[np.argsort(np.concatenate(order), kind="stable")]


def aggregate(raw: np.ndarray, bands: np.ndarray | None = None) -> np.ndarray:
    """Per (minute, metric), sorted so: the bands of ``raw`` samples merged with ``bands``."""
    ones = np.empty(len(raw), MINUTE_FIELDS)
    ones["minute"] = raw["t"] // 60_000 * 60
    ones["metric"] = raw["metric"]
    ones["low"] = ones["high"] = ones["mean"] = raw["value"]
    ones["n"] = ~np.isnan(raw["value"])
    every = ones if bands is None or len(bands) == 0 else np.concatenate([bands, ones])
    if len(every) == 0:
        return every
    every = every[np.lexsort((every["metric"], every["minute"]))]
    change = np.empty(len(every), bool)
    change[0] = True
    change[1:] = (every["minute"][1:] != every["minute"][:-1]) | (
        every["metric"][1:] != every["metric"][:-1]
    )
    starts = np.flatnonzero(change)
    out = every[starts].copy()
    out["low"] = np.fmin.reduceat(every["low"], starts)
    out["high"] = np.fmax.reduceat(every["high"], starts)
    counts = np.add.reduceat(every["n"], starts)
    sums = np.add.reduceat(np.where(every["n"] > 0, every["mean"] * every["n"], 0.0), starts)
    with np.errstate(invalid="ignore", divide="ignore"):
        out["mean"] = np.where(counts > 0, sums / counts, np.nan)
    out["n"] = counts
    return out


def minute_rows(bands: np.ndarray, layout_id) -> list[tuple[int, int, bytes]]:
    """``aggregate``'s output as (minute, layout, stats) rows; ``layout_id(metric ids)``."""
    if len(bands) == 0:
        return []
    change = np.empty(len(bands), bool)
    change[0] = True
    change[1:] = bands["minute"][1:] != bands["minute"][:-1]
    bounds = [*np.flatnonzero(change).tolist(), len(bands)]
    stats = np.stack([bands["low"], bands["high"], bands["mean"], bands["n"]], axis=1)
    stats = stats.astype("<f8")
    rows = []
    for start, stop in itertools.pairwise(bounds):
        layout = layout_id(tuple(bands["metric"][start:stop].tolist()))
        rows.append((int(bands["minute"][start]), layout, stats[start:stop].tobytes()))
    return rows
