"""Monitor history on disk: size for 30 days, cost of writing, time to load a window.

    .venv/bin/python tests/benchmarks/bench_history_store.py [--days 31] [--rounds 5]

One remote target (the 4 ``REMOTE_METRICS``) polled at 1 s for ``--days`` days (31 by default:
the last day prunes the oldest minutes, so the file is in its steady state), written through the
real ``HistoryStore`` and its writer thread with a simulated clock (samples are stamped with
injected times, so a month takes minutes, not a month). Values are a heap sawtooth with
non-integer MB, as real readings are (SQLite stores integral values smaller).

- **Disk size**: the file after the run (closed, so the WAL is checkpointed into it), and the
  pages in use (free pages past 8 MB are handed back a step at a time: auto_vacuum=INCREMENTAL).
- **Writing**: the writer thread's time in its batched transactions per sample, the downsampling
  and pruning per sample, and the caller's cost of ``append`` (the poller's thread). Baseline in
  the same run: one INSERT and COMMIT per sample on the caller's thread (SQLite's defaults).
- **Loading**: a fresh ``HistoryStore`` on the file (open, checks), then ``load`` for 5 min, 1 h,
  24 h, 7 d and 30 d (auto: raw 24 h + minutes; and minute resolution), median of ``--rounds``.
  Baseline: the RAM ring buffers' 24 h ``window``.

The report is printed and written to tests/benchmarks/history_store.md.
"""

from __future__ import annotations

import argparse
import sqlite3
import statistics
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

HERE = Path(__file__).parent
ROOT = HERE.parents[1]
sys.path.insert(0, str(ROOT))

from fibuca_desktop.core.monitor.history import TargetHistory  # noqa: E402
from fibuca_desktop.core.monitor.history_store import MINUTE, HistoryStore  # noqa: E402
from fibuca_desktop.core.monitor.samples import REMOTE_METRICS, Sample  # noqa: E402

DAY = 86_400
START = 1_764_000_000.0
KEY = "health:http://127.0.0.1:3000/health"
CHUNK = 19_000  # below the queue size: a burst bigger than it drops the oldest
WINDOWS = (("5 min", 300), ("1 h", 3600), ("24 h", DAY), ("7 d", 7 * DAY), ("30 d", 30 * DAY))


class Clock:
    def __init__(self) -> None:
        self.now = START

    def __call__(self) -> float:
        return self.now


def samples(first: int, count: int) -> list[Sample]:
    i = np.arange(first, first + count)
    heap = 80.0 + (i % 613) * 0.0731 + (i // 3600) * 0.0123 + np.sin(i) * 0.37
    columns = [heap, heap * 1.41 + 3.3, heap * 0.07 + 1.9, heap * 2.03 + 61.7]
    rows = np.stack(columns, axis=1).tolist()
    return [
        Sample(START + n, dict(zip(REMOTE_METRICS, row, strict=True)))
        for n, row in zip(i.tolist(), rows, strict=True)
    ]


def timed(store: HistoryStore, name: str) -> list[float]:
    """Wrap the store's method ``name`` (called on the writer thread) to sum its time."""
    spent = [0.0]
    method = getattr(store, name)

    def wrapper(*args):
        started = time.perf_counter()
        try:
            return method(*args)
        finally:
            spent[0] += time.perf_counter() - started

    setattr(store, name, wrapper)
    return spent


def write_month(path: Path, days: int) -> dict:
    clock = Clock()
    store = HistoryStore(path, clock=clock)
    writing, maintaining = timed(store, "_write"), timed(store, "_maintain")
    total = days * DAY
    append_s = 0.0
    started = time.perf_counter()
    for first in range(0, total, CHUNK):
        batch = samples(first, min(CHUNK, total - first))
        began = time.perf_counter()
        for sample in batch:
            store.append(KEY, sample)
        append_s += time.perf_counter() - began
        clock.now = batch[-1].time
        store.flush(600, catch_up=True)  # as at 1 s polling, where downsampling keeps pace
    store.close()
    return {
        "samples": total,
        "dropped": store.dropped,
        "wall_s": time.perf_counter() - started,
        "write_us": writing[0] / total * 1e6,
        "maintain_us": maintaining[0] / total * 1e6,
        "append_us": append_s / total * 1e6,
    }


def per_sample_commits(path: Path, count: int = 2000) -> float:
    """Baseline: µs per sample committed one by one on the caller's thread."""
    conn = sqlite3.connect(path, isolation_level=None)
    conn.execute(
        "CREATE TABLE raw (target INTEGER, t INTEGER, metric INTEGER, value REAL,"
        " PRIMARY KEY (target, t, metric)) WITHOUT ROWID"
    )
    started = time.perf_counter()
    for sample in samples(0, count):
        conn.execute("BEGIN")
        for metric, name in enumerate(sample.metrics):
            conn.execute(
                "INSERT INTO raw VALUES (1, ?, ?, ?)",
                (round(sample.time * 1000), metric, sample.metrics[name]),
            )
        conn.execute("COMMIT")
    spent = time.perf_counter() - started
    conn.close()
    return spent / count * 1e6


def disk(path: Path) -> dict:
    with sqlite3.connect(path) as conn:
        page = conn.execute("PRAGMA page_size").fetchone()[0]
        pages = conn.execute("PRAGMA page_count").fetchone()[0]
        free = conn.execute("PRAGMA freelist_count").fetchone()[0]
        raw = conn.execute("SELECT count(*) FROM raw").fetchone()[0]
        minutes = conn.execute("SELECT count(*) FROM minute").fetchone()[0]
    conn.close()
    return {
        "file_mb": path.stat().st_size / 1e6,
        "used_mb": (pages - free) * page / 1e6,
        "raw_rows": raw,
        "minute_rows": minutes,
    }


def loads(path: Path, end: float, rounds: int) -> tuple[float, list[tuple[str, float, int]]]:
    started = time.perf_counter()
    store = HistoryStore(path, clock=lambda: end)
    open_s = time.perf_counter() - started
    rows = []
    for label, seconds in WINDOWS:
        for resolution in ("auto", MINUTE) if seconds > DAY else ("auto",):
            times, points = [], 0
            for _ in range(rounds):
                began = time.perf_counter()
                history = store.load(KEY, end - seconds, resolution=resolution)
                times.append(time.perf_counter() - began)
                points = history.raw.times.size + history.minutes.times.size
            name = label if resolution == "auto" else f"{label}, minute bands only"
            rows.append((name, statistics.median(times), points))
    store.close()
    ram = TargetHistory(DAY)
    for sample in samples(0, DAY):
        ram.append(sample)
    times = []
    for _ in range(rounds):
        began = time.perf_counter()
        ram.window(DAY)
        times.append(time.perf_counter() - began)
    rows.append(("baseline: RAM ring buffers, 24 h window", statistics.median(times), DAY))
    return open_s, rows


def report(days: int, written: dict, size: dict, baseline_us: float, open_s, rows) -> str:
    lines = [
        "# Monitor history on disk (`bench_history_store.py`)",
        "",
        f"One remote target, 4 metrics, 1 s polling, {days} days written through the writer "
        f"thread ({written['samples']:,} samples in {written['wall_s']:.0f} s, "
        f"{written['dropped']} dropped).",
        "",
        "| Disk | Value |",
        "|---|---|",
        f"| file size (30 days kept: 24 h raw + minutes) | **{size['file_mb']:.1f} MB** |",
        f"| pages in use | {size['used_mb']:.1f} MB |",
        f"| raw rows / minute rows | {size['raw_rows']:,} / {size['minute_rows']:,} |",
        "",
        "| Writing, per sample (4 metrics) | µs | vs one commit per sample |",
        "|---|---|---|",
        f"| writer thread: batched INSERTs + COMMIT | {written['write_us']:.1f} "
        f"| {baseline_us / written['write_us']:.0f}x cheaper |",
        f"| writer thread: downsampling + pruning | {written['maintain_us']:.1f} | |",
        f"| caller (poller thread): `append` | {written['append_us']:.2f} "
        f"| {baseline_us / written['append_us']:.0f}x cheaper |",
        f"| baseline: one INSERT + COMMIT per sample, caller's thread | {baseline_us:.0f} | 1x |",
        "",
        f"Reopening the file (checks included): {open_s * 1000:.0f} ms.",
        "",
        "| Load window | median ms | points (raw + minutes) |",
        "|---|---|---|",
    ]
    lines += [f"| {name} | {seconds * 1000:.1f} | {points:,} |" for name, seconds, points in rows]
    return "\n".join(lines) + "\n"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--days", type=int, default=31)
    parser.add_argument("--rounds", type=int, default=5)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="bench-history-") as folder:
        path = Path(folder) / "history.sqlite3"
        written = write_month(path, args.days)
        size = disk(path)
        baseline_us = per_sample_commits(Path(folder) / "baseline.sqlite3")
        end = START + args.days * DAY - 1
        open_s, rows = loads(path, end, args.rounds)
    text = report(args.days, written, size, baseline_us, open_s, rows)
    print(text)
    (HERE / "history_store.md").write_text(text, encoding="utf-8")


if __name__ == "__main__":
    main()
