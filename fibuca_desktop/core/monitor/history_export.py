"""CSV of a stored window (7 d, 30 d): the RAM history's columns, plus min/max for minutes.

A window of raw points only (the last 24 h) has exactly ``TargetHistory.to_csv``'s columns:
local ISO 8601 time, epoch seconds, one column per metric, gaps left empty. A window reaching
past 24 h starts with one row per minute (its time is the minute's start; the metric columns
hold the minute's mean) and adds, after the metric columns, ``<metric> min`` and ``<metric>
max`` for each metric and ``interval_s`` (60 on minute rows, empty on raw rows), so a
spreadsheet that reads the first columns sees one continuous series and the bands survive.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Iterator
from datetime import datetime
from pathlib import Path

import numpy as np

from fibuca_desktop.core.atomic_write import write_atomically

from .history_bands import StoredHistory


def csv_rows(history: StoredHistory) -> Iterator[list[str]]:
    """The header, then one row per minute (older) and per raw point (newer)."""
    names = history.names
    minutes, raw = history.minutes, history.raw
    banded = len(minutes.times) > 0
    extra = [f"{name} {side}" for name in names for side in ("min", "max")] if banded else []
    yield ["time", "epoch", *names, *extra, *(["interval_s"] if banded else [])]
    for row, epoch in enumerate(minutes.times):
        means = [_cell(minutes.mean, name, row) for name in names]
        bands = [_cell(side, name, row) for name in names for side in (minutes.low, minutes.high)]
        yield [_iso(epoch), f"{epoch:.3f}", *means, *bands, "60"]
    blanks = [""] * (len(extra) + 1) if banded else []
    for row, epoch in enumerate(raw.times):
        yield [_iso(epoch), f"{epoch:.3f}", *[_cell(raw.values, n, row) for n in names], *blanks]


def write_csv(history: StoredHistory, path: str | Path) -> int:
    """Write ``csv_rows`` atomically; returns the number of rows (without the header).
    Raises ``OutputError``."""
    count = -1

    def write(handle) -> None:
        nonlocal count
        text = io.TextIOWrapper(handle, encoding="utf-8", newline="")
        writer = csv.writer(text)
        for row in csv_rows(history):
            writer.writerow(row)
            count += 1
        text.flush()
        text.detach()  # the caller closes the file after fsync

    write_atomically(Path(path), write, overwrite=True)
    return count


def _iso(epoch: float) -> str:
    return datetime.fromtimestamp(epoch).astimezone().isoformat(timespec="seconds")


def _cell(columns: dict[str, np.ndarray], name: str, row: int) -> str:
    column = columns.get(name)
    if column is None or np.isnan(column[row]):
        return ""
    return f"{float(column[row]):.7g}"
