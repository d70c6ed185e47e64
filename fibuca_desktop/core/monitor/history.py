"""Fixed-size ring buffers of samples: 24 h at 1 s per series in bounded, preallocated memory."""

from __future__ import annotations

import csv
import io
import logging
from datetime import datetime
from pathlib import Path

import numpy as np

from fibuca_desktop.core.atomic_write import write_atomically

from .samples import Sample

log = logging.getLogger(__name__)

DAY_AT_1_S = 86_400
TIME_DTYPE = np.float64  # epoch seconds need float64: float32 would round to minutes
VALUE_DTYPE = np.float32  # MB and percent; NaN marks a gap


class SeriesHistory:
    """The last ``capacity`` (time, value) points of one metric; the oldest are overwritten.

    Times must not decrease (one poller appends); an earlier time is dropped, so a wall clock
    stepping back cannot scramble the order ``window`` relies on.
    """

    def __init__(self, capacity: int = DAY_AT_1_S) -> None:
        if capacity < 1:
            raise ValueError("capacity must be at least 1")
        self.capacity = capacity
        self._times = np.full(capacity, np.nan, dtype=TIME_DTYPE)
        self._values = np.full(capacity, np.nan, dtype=VALUE_DTYPE)
        self._next = 0
        self._count = 0

    def __len__(self) -> int:
        return self._count

    @property
    def nbytes(self) -> int:
        """Bytes held by the buffers; fixed at construction, whatever is appended."""
        return self._times.nbytes + self._values.nbytes

    def append(self, time: float, value: float | None) -> bool:
        """Add a point (None or NaN = gap); returns False if ``time`` is before the latest."""
        latest = self.latest()
        if latest is not None and time < latest[0]:
            log.debug("dropped a point at %s, before the latest %s", time, latest[0])
            return False
        self._times[self._next] = time
        self._values[self._next] = np.nan if value is None else value
        self._next = (self._next + 1) % self.capacity
        self._count = min(self._count + 1, self.capacity)
        return True

    def latest(self) -> tuple[float, float] | None:
        """The newest (time, value), value NaN for a gap; None when empty."""
        if self._count == 0:
            return None
        index = (self._next - 1) % self.capacity
        return float(self._times[index]), float(self._values[index])

    def first_time(self) -> float | None:
        """The oldest point's time (where the RAM history begins); None when empty."""
        if self._count == 0:
            return None
        return float(self._times[self._next if self._count == self.capacity else 0])

    def _segments(self) -> list[slice]:
        """Slices of the buffers, oldest first."""
        if self._count < self.capacity:
            return [slice(0, self._count)]
        return [slice(self._next, self.capacity), slice(0, self._next)]

    def window(self, seconds: float, now: float | None = None) -> tuple[np.ndarray, np.ndarray]:
        """Copies of the points with ``now - seconds < time <= now``, oldest first.

        ``now`` defaults to the latest point's time, so a window always ends at the newest data.
        """
        latest = self.latest()
        if latest is None:
            return np.empty(0, TIME_DTYPE), np.empty(0, VALUE_DTYPE)
        now = latest[0] if now is None else now
        times, values = [], []
        for part in self._segments():
            segment = self._times[part]
            start = np.searchsorted(segment, now - seconds, side="right")
            stop = np.searchsorted(segment, now, side="right")
            times.append(segment[start:stop])
            values.append(self._values[part][start:stop])
        return np.concatenate(times), np.concatenate(values)


class TargetHistory:
    """One ``SeriesHistory`` per metric of one target, created when a metric is first seen.

    Every sample appends to every known series (a missing metric is a gap), so the series stay
    aligned in time and a DOWN stretch shows as a gap in all of them.
    """

    def __init__(self, capacity: int = DAY_AT_1_S) -> None:
        self.capacity = capacity
        self.series: dict[str, SeriesHistory] = {}

    @property
    def nbytes(self) -> int:
        return sum(series.nbytes for series in self.series.values())

    def append(self, sample: Sample) -> None:
        for name in sample.metrics:
            if name not in self.series:
                self.series[name] = SeriesHistory(self.capacity)
        for name, series in self.series.items():
            series.append(sample.time, sample.value(name))

    def latest_time(self) -> float | None:
        times = [point[0] for s in self.series.values() if (point := s.latest()) is not None]
        return max(times) if times else None

    def first_time(self) -> float | None:
        """The oldest sample's time: before it, only the history on disk knows."""
        times = [t for s in self.series.values() if (t := s.first_time()) is not None]
        return min(times) if times else None

    def window(
        self, seconds: float, now: float | None = None
    ) -> tuple[np.ndarray, dict[str, np.ndarray]]:
        """Shared times (oldest first) and one aligned value column per metric, NaN = gap."""
        now = self.latest_time() if now is None else now
        if now is None:
            return np.empty(0, TIME_DTYPE), {}
        parts = {name: s.window(seconds, now) for name, s in self.series.items()}
        times = np.unique(np.concatenate([t for t, _ in parts.values()]))
        columns = {}
        for name, (series_times, values) in parts.items():
            column = np.full(times.shape, np.nan, dtype=VALUE_DTYPE)
            column[np.searchsorted(times, series_times)] = values
            columns[name] = column
        return times, columns

    def to_csv(self, path: str | Path, seconds: float, now: float | None = None) -> int:
        """Write the shown window atomically; returns the number of rows.

        Columns: local ISO 8601 time, epoch seconds, then one per metric (gaps left empty).
        """
        path = Path(path)
        times, columns = self.window(seconds, now)

        def write(handle) -> None:
            text = io.TextIOWrapper(handle, encoding="utf-8", newline="")
            writer = csv.writer(text)
            writer.writerow(["time", "epoch", *columns])
            for row, epoch in enumerate(times):
                iso = datetime.fromtimestamp(epoch).astimezone().isoformat(timespec="seconds")
                cells = [_cell(column[row]) for column in columns.values()]
                writer.writerow([iso, f"{epoch:.3f}", *cells])
            text.flush()
            text.detach()  # the caller closes the file after fsync

        write_atomically(path, write, overwrite=True)
        return len(times)


def _cell(value: np.float32) -> str:
    return "" if np.isnan(value) else f"{float(value):.7g}"


def measure_day_nbytes(series: int, seconds: int = DAY_AT_1_S, interval_s: float = 1.0) -> int:
    """Bytes one target needs to keep ``seconds`` of history at ``interval_s`` for ``series``.

    Measured on real buffers (not computed), for the README: 24 h x 1 s is 1,036,800 bytes
    (about 0.99 MiB) per series, 4,147,200 bytes (about 3.96 MiB) for 4 series.
    """
    capacity = round(seconds / interval_s)
    history = TargetHistory(capacity)
    history.append(Sample(0.0, {f"series{i}": 0.0 for i in range(series)}))
    return history.nbytes
