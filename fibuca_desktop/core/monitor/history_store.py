"""Each target's monitor history on disk: 24 h of raw samples, then 30 days of minute bands.

The RAM ring buffers (``history.py``) hold the live 24 h and are gone when the app closes; this
store keeps what the 7 d and 30 d windows need and what a restarted app shows as yesterday. Past
24 h, samples become one row per minute and metric with min, max, mean and count, so both the
GC floor (the leak detector's minima) and the peaks survive downsampling. Older than 30 days is
deleted. Both happen a bounded chunk at a time on the writer thread, never as a rewrite.

The poller's thread only puts ``(target key, Sample)`` in a bounded queue (``append``): one
writer thread batches them into transactions (every ``batch_size`` samples or
``commit_interval_s``), in WAL mode, with its own connection; readers (``load``) get one
connection per thread and read a consistent snapshot. A disk too slow for the queue loses the
oldest queued samples, counted and warned about, and never blocks the poller. A broken or
locked file is set aside by ``history_file.prepare`` and the store starts fresh.

Wiring: one ``HistoryStore.open()`` for the app (show ``problem`` when set); every
``PollOutcome.sample`` a ``TargetPoller`` records goes to ``append(target_key(target), sample)``;
a graph opened on 7 d / 30 d asks ``load(key, now - window)``; ``close()`` after the polls stop.
"""

from __future__ import annotations

import collections
import logging
import sqlite3
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import numpy as np

from . import history_file
from .history_bands import MINUTE, RawPoints, StoredHistory, pivot_minutes
from .history_export import csv_rows, write_csv
from .history_key import target_key
from .history_rows import (
    aggregate,
    layout_text,
    minute_long,
    minute_rows,
    pack_values,
    parse_layouts,
    raw_long,
    raw_points,
)
from .samples import Sample

log = logging.getLogger(__name__)

__all__ = ["MINUTE", "HistoryStore", "StoredHistory", "target_key"]

RAW_SPAN_S = 86_400  # raw samples are kept this long, then downsampled to minutes
RETENTION_S = 30 * 86_400
CHUNK_S = 3600  # downsample at most this much of one target per step: short write locks
AUTO = "auto"  # raw points where they are kept, minutes before
RESOLUTIONS = (AUTO, MINUTE)
FREE_PAGES_KEPT = 2048  # past this many free pages (8 MB), return some to the disk
VACUUM_STEP = 512  # pages per step: a short write lock, never a whole-file VACUUM
_DELETE_RAW = "DELETE FROM raw WHERE target = ? AND t < ?"
_PRUNE = "DELETE FROM minute WHERE target = ? AND minute < ?"


class HistoryStore:
    """The history file of all targets; ``append`` from any thread, ``close`` once."""

    def __init__(
        self,
        path: Path,
        clock: Callable[[], float] = time.time,
        batch_size: int = 500,
        commit_interval_s: float = 2.0,
        queue_size: int = 20_000,  # ~9 MB of queued samples: 5.5 h of one target at 1 s
        busy_timeout_s: float = 1.0,
    ) -> None:
        """Open (or create, or set aside and recreate) ``path``; never raises for a bad file.

        ``problem`` is then a one-line message for the person (None when all was well), and
        ``usable`` False means appends are dropped and loads are empty this session.
        ``clock`` (epoch seconds) decides what is older than 24 h and 30 days.
        """
        self.path = Path(path)
        self.clock = clock
        self.batch_size = batch_size
        self.commit_interval_s = commit_interval_s
        self.busy_timeout_s = busy_timeout_s
        opened = history_file.prepare(self.path, busy_timeout_s)
        self.usable, self.problem, self.kept_as = opened.usable, opened.problem, opened.kept_as
        self.dropped = 0  # samples lost: queue overflow (disk too slow) or a failed write
        self.written = 0  # samples committed
        self._queue: collections.deque[tuple[str, Sample]] = collections.deque(maxlen=queue_size)
        self._cond = threading.Condition()
        self._caught_up = False  # no downsampling or pruning left to do
        self._closing = False
        self._flush_asked = 0  # flush() calls so far; the writer serves them in order
        self._flush_served = 0  # taken up by the writer's current pass
        self._flush_done = 0  # passes finished: samples committed, one maintenance step run
        self._readers: list = []
        self._local = threading.local()
        self._writer = None
        if self.usable:
            self._writer = threading.Thread(target=self._run, name="history-writer", daemon=True)
            self._writer.start()

    @classmethod
    def open(cls, path: Path | None = None, **options) -> HistoryStore:
        """The store at ``path``, by default ``history_file.default_history_path()``."""
        return cls(path or history_file.default_history_path(), **options)

    # The caller's side: cheap, never blocks on the disk.

    def append(self, target_key: str, sample: Sample) -> None:
        """Queue one sample of ``target_key`` (see ``target_key``); the oldest is dropped
        (counted, warned) when the writer is that far behind."""
        if not self.usable or self._closing:
            return
        with self._cond:
            if len(self._queue) == self._queue.maxlen:
                self.dropped += 1
                if self.dropped & (self.dropped - 1) == 0:  # 1, 2, 4, 8...: warned, not flooded
                    log.warning(
                        "monitor history: the disk is too slow, %d samples dropped so far",
                        self.dropped,
                    )
            self._queue.append((target_key, sample))
            if len(self._queue) >= self.batch_size:
                self._cond.notify_all()

    def flush(self, timeout_s: float = 30.0, catch_up: bool = False) -> bool:
        """Wait until every sample appended so far is committed (and, with ``catch_up``, all
        downsampling and pruning is done); False on timeout or an unusable store."""
        if self._writer is None or not self._writer.is_alive():
            return False
        with self._cond:
            self._flush_asked += 1
            ticket = self._flush_asked  # served by a pass that starts after this call
            self._cond.notify_all()
            return self._cond.wait_for(
                lambda: self._flush_done >= ticket and (self._caught_up or not catch_up),
                timeout_s,
            )

    def close(self, timeout_s: float = 10.0) -> None:
        """Commit what is queued, stop the writer and close every connection; loads are then
        empty."""
        with self._cond:
            self._closing = True
            self._cond.notify_all()
        if self._writer is not None:
            self._writer.join(timeout_s)
            if self._writer.is_alive():
                log.warning("monitor history: the writer did not finish within %.0f s", timeout_s)
        for conn in self._readers:
            conn.close()
        self._readers.clear()

    # Reading: any thread, its own connection.

    def load(
        self, target_key: str, since: float, until: float | None = None, resolution: str = AUTO
    ) -> StoredHistory:
        """The target's points with ``since < time <= until`` (epoch seconds, ``until``
        default: no end). ``AUTO``: raw points where kept (the last 24 h) and minute bands
        before; ``MINUTE``: minute bands over the whole window (the raw part aggregated on
        the fly), for a 7 d or 30 d graph that draws one band."""
        if resolution not in RESOLUTIONS:
            raise ValueError(f"resolution must be one of {', '.join(RESOLUTIONS)}")
        if not self.usable or self._closing:
            return StoredHistory.empty()
        try:
            return self._load(target_key, since, until, resolution)
        except sqlite3.Error as error:  # damaged since it was opened, disk gone: no crash
            self.problem = (
                f"The monitor history {self.path} could not be read ({error}); "
                "the graph shows what this session recorded."
            )
            log.warning("%s", self.problem)
            return StoredHistory.empty()

    def _load(
        self, target_key: str, since: float, until: float | None, resolution: str
    ) -> StoredHistory:
        conn = self._reader()
        since_ms = round(since * 1000)
        until_ms = 2**62 if until is None else round(until * 1000)
        conn.execute("BEGIN")  # one snapshot: the writer may downsample between the queries
        try:
            row = conn.execute("SELECT id FROM targets WHERE key = ?", (target_key,)).fetchone()
            if row is None:
                return StoredHistory.empty()
            target = row[0]
            names = dict(conn.execute("SELECT id, name FROM metrics"))
            layouts = parse_layouts(conn.execute("SELECT id, metrics FROM layouts"))
            first = conn.execute(
                "SELECT min(t) FROM raw WHERE target = ? AND t > ? AND t <= ?",
                (target, since_ms, until_ms),
            ).fetchone()[0]
            raw_start_s = (until_ms if first is None else first) / 1000
            minute_part = conn.execute(
                "SELECT minute, layout, stats FROM minute"
                " WHERE target = ? AND minute > ? AND minute < ? ORDER BY minute",
                (target, since - 60, raw_start_s),
            ).fetchall()
            raw_part = conn.execute(
                "SELECT t, layout, vals FROM raw WHERE target = ? AND t > ? AND t <= ? ORDER BY t",
                (target, since_ms, until_ms),
            ).fetchall()
        finally:
            if conn.in_transaction:
                conn.rollback()  # a read-only snapshot: nothing to commit
        minutes = minute_long(minute_part, layouts)
        if resolution == MINUTE:
            both = np.concatenate([minutes, aggregate(raw_long(raw_part, layouts))])
            return StoredHistory(pivot_minutes(both, names), RawPoints())
        return StoredHistory(pivot_minutes(minutes, names), raw_points(raw_part, layouts, names))

    def export_rows(
        self, target_key: str, since: float, until: float | None = None
    ) -> Iterator[list[str]]:
        """CSV rows (header first) of the window; format in ``history_export``."""
        return csv_rows(self.load(target_key, since, until))

    def export_csv(
        self, target_key: str, path: str | Path, since: float, until: float | None = None
    ) -> int:
        """Write the window's CSV atomically; the row count. Raises ``OutputError``."""
        return write_csv(self.load(target_key, since, until), path)

    def target_keys(self) -> list[str]:
        """Every target with history, for a settings page or a cleanup."""
        if not self.usable or self._closing:
            return []
        return [key for (key,) in self._reader().execute("SELECT key FROM targets ORDER BY key")]

    def _reader(self):
        conn = getattr(self._local, "conn", None)
        if conn is None:
            conn = history_file.connect(self.path, self.busy_timeout_s)
            conn.execute("PRAGMA query_only = ON")
            self._local.conn = conn
            self._readers.append(conn)
        return conn

    # The writer thread.

    def _run(self) -> None:
        try:
            conn = history_file.connect(self.path, self.busy_timeout_s)
        except Exception as error:  # the file vanished or the disk went away since prepare
            log.warning("monitor history: cannot open %s for writing: %s", self.path, error)
            self.usable = False
            return
        ids = _Ids()
        more = True
        try:
            while True:
                with self._cond:
                    self._cond.wait_for(
                        lambda: (
                            len(self._queue) >= self.batch_size
                            or self._closing
                            or self._flush_asked > self._flush_served
                        ),
                        0 if more and not self._closing else self.commit_interval_s,
                    )
                    batch = list(self._queue)
                    self._queue.clear()
                    closing = self._closing
                    served = self._flush_served = self._flush_asked
                if batch:
                    self._write(conn, batch, ids)
                more = False if closing else self._maintain(conn, ids)
                with self._cond:
                    self._flush_done = served
                    self._caught_up = not more
                    self._cond.notify_all()
                    if closing and not self._queue:
                        return
        finally:
            conn.close()

    def _write(self, conn, batch: list[tuple[str, Sample]], ids: _Ids) -> None:
        try:
            conn.execute("BEGIN IMMEDIATE")
            rows = []
            for key, sample in batch:
                names = tuple(sample.metrics)
                rows.append(
                    (
                        ids.target(conn, key),
                        round(sample.time * 1000),
                        ids.layout_of(conn, names),
                        pack_values([sample.value(name) for name in names]),
                    )
                )
            conn.executemany("INSERT OR REPLACE INTO raw VALUES (?, ?, ?, ?)", rows)
            conn.execute("COMMIT")
            self.written += len(batch)
        except Exception as error:  # disk full, file deleted, I/O error: lose this batch only
            if conn.in_transaction:
                conn.rollback()
            ids.clear()  # ids created in the rolled-back transaction are gone
            with self._cond:  # append counts overflow under the same lock
                self.dropped += len(batch)
            log.warning("monitor history: %d samples not written: %s", len(batch), error)

    def _maintain(self, conn, ids: _Ids) -> bool:
        """One chunk of downsampling and pruning per target, one step of returning free pages;
        True while work remains."""
        now = self.clock()
        cutoff_ms = int((now - RAW_SPAN_S) // 60 * 60 * 1000)  # a minute boundary
        oldest_minute = now - RETENTION_S
        more = False
        try:
            for (target,) in conn.execute("SELECT id FROM targets").fetchall():
                first = conn.execute("SELECT min(t) FROM raw WHERE target = ?", (target,))
                first_ms = first.fetchone()[0]
                conn.execute("BEGIN IMMEDIATE")
                if first_ms is not None and first_ms < cutoff_ms:
                    stop_ms = min(cutoff_ms, (first_ms // 60_000 * 60 + CHUNK_S) * 1000)
                    self._downsample(conn, ids, target, first_ms, stop_ms)
                    more = more or stop_ms < cutoff_ms
                conn.execute(_PRUNE, (target, oldest_minute))
                conn.execute("COMMIT")
            if conn.execute("PRAGMA freelist_count").fetchone()[0] > FREE_PAGES_KEPT:
                conn.execute(f"PRAGMA incremental_vacuum({VACUUM_STEP})").fetchall()
                more = True
        except Exception as error:
            if conn.in_transaction:
                conn.rollback()
            ids.clear()
            log.warning("monitor history: downsampling postponed: %s", error)
            return False
        return more

    @staticmethod
    def _downsample(conn, ids: _Ids, target: int, first_ms: int, stop_ms: int) -> None:
        """Raw rows before ``stop_ms`` become minute rows, merged with any already there."""
        layouts = parse_layouts(conn.execute("SELECT id, metrics FROM layouts"))
        raw = conn.execute(
            "SELECT t, layout, vals FROM raw WHERE target = ? AND t < ? ORDER BY t",
            (target, stop_ms),
        ).fetchall()
        old = conn.execute(  # only after the wall clock stepped back past a downsampled minute
            "SELECT minute, layout, stats FROM minute"
            " WHERE target = ? AND minute >= ? AND minute < ? ORDER BY minute",
            (target, first_ms // 60_000 * 60, stop_ms // 1000),
        ).fetchall()
        bands = aggregate(raw_long(raw, layouts), minute_long(old, layouts))
        rows = minute_rows(bands, lambda metrics: ids.layout(conn, metrics))
        conn.executemany(
            "INSERT OR REPLACE INTO minute VALUES (?, ?, ?, ?)", [(target, *r) for r in rows]
        )
        conn.execute(_DELETE_RAW, (target, stop_ms))


class _Ids:
    """The writer's cache of target, metric and layout ids, created on first use inside the
    open transaction (and forgotten when that transaction is rolled back)."""

    def __init__(self) -> None:
        self.clear()

    def clear(self) -> None:
        self.targets: dict[str, int] = {}
        self.metrics: dict[str, int] = {}
        self.layouts: dict[tuple[int, ...], int] = {}
        self.by_names: dict[tuple[str, ...], int] = {}

    def target(self, conn, key: str) -> int:
        found = self.targets.get(key)
        return found if found is not None else _id(conn, "targets", "key", key, self.targets)

    def layout(self, conn, metrics: tuple[int, ...]) -> int:
        found = self.layouts.get(metrics)
        if found is None:
            cache: dict[str, int] = {}
            found = _id(conn, "layouts", "metrics", layout_text(metrics), cache)
            self.layouts[metrics] = found
        return found

    def layout_of(self, conn, names: tuple[str, ...]) -> int:
        found = self.by_names.get(names)
        if found is None:
            metrics = tuple(
                self.metrics.get(n) or _id(conn, "metrics", "name", n, self.metrics) for n in names
            )
            found = self.by_names[names] = self.layout(conn, metrics)
        return found


def _id(conn, table: str, column: str, value: str, cache: dict[str, int]) -> int:
    """The id of ``value`` in a name table, created on first use (inside the open transaction)."""
    conn.execute(f"INSERT OR IGNORE INTO {table} ({column}) VALUES (?)", (value,))
    (found,) = conn.execute(f"SELECT id FROM {table} WHERE {column} = ?", (value,)).fetchone()
    cache[value] = found
    return found
