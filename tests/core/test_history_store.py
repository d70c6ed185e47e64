"""The on-disk monitor history: real SQLite files, the real writer thread, a simulated clock.

Days of samples are written in seconds by stamping them with injected times (the clock the
store uses to decide "older than 24 h / 30 days" is the same simulated one), never by sleeping.
"""

from __future__ import annotations

import csv
import os
import signal
import sqlite3
import subprocess
import sys
import textwrap
import warnings
from pathlib import Path

import numpy as np
import pytest

from fibuca_desktop.core.monitor import history_store
from fibuca_desktop.core.monitor.history import TargetHistory
from fibuca_desktop.core.monitor.history_file import APPLICATION_ID, default_history_path
from fibuca_desktop.core.monitor.history_store import (
    MINUTE,
    RAW_SPAN_S,
    RETENTION_S,
    HistoryStore,
    target_key,
)
from fibuca_desktop.core.monitor.samples import REMOTE_METRICS, Sample
from fibuca_desktop.core.monitor.targets import HEALTH, LOCAL, METRICS, MonitorTarget
from tests.small_disk import small_disk

ROOT = Path(__file__).parents[2]
START = 1_764_000_000.0  # a minute boundary (epoch seconds)
KEY = "health:http://127.0.0.1:3000/health"
DAY = 86_400


class Clock:
    """The simulated wall clock: the time of the newest sample written."""

    def __init__(self, now: float = START) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


def heap(i: np.ndarray) -> np.ndarray:
    """A seeded sawtooth with noise, in exact binary fractions (sums stay exact)."""
    rng = np.random.default_rng(14)
    return 100.0 + (i % 97) + rng.integers(0, 64, size=len(i)) / 8


def fill(store, clock, key, times, columns, chunk=10_000):
    """Append one sample per time, in chunks the writer commits before the next (the poller
    never bursts 10,000 samples at once; the queue would drop the oldest)."""
    for start in range(0, len(times), chunk):
        for row in range(start, min(start + chunk, len(times))):
            metrics = {name: column[row] for name, column in columns.items()}
            store.append(key, Sample(float(times[row]), metrics))
        clock.now = float(times[min(start + chunk, len(times)) - 1])
        assert store.flush(120)


@pytest.fixture
def clock():
    return Clock()


@pytest.fixture
def store_path(tmp_path):
    return tmp_path / "data" / "history.sqlite3"


def test_samples_with_gaps_come_back_after_a_reopen(store_path, clock):
    store = HistoryStore(store_path, clock=clock)
    assert store.usable and store.problem is None
    samples = [
        Sample(START + 1, {"heapUsedMB": 120.5, "rssMB": 300.25}),
        Sample(START + 2, {"heapUsedMB": None, "rssMB": float("nan")}, down_reason="refused"),
        Sample(START + 3, {"heapUsedMB": 121.0}),  # rssMB missing: a gap in it
        Sample(START + 4.5, {"heapUsedMB": 119.75, "rssMB": 301.0}),
    ]
    for sample in samples:
        store.append(KEY, sample)
    clock.now = START + 5
    store.close()

    again = HistoryStore(store_path, clock=clock)
    history = again.load(KEY, START)
    assert again.load("health:http://other/", START).raw.times.size == 0
    again.close()
    assert again.load(KEY, START).raw.times.size == 0  # closed
    assert history.raw.times.tolist() == [START + 1, START + 2, START + 3, START + 4.5]
    np.testing.assert_array_equal(history.raw.values["heapUsedMB"], [120.5, np.nan, 121, 119.75])
    np.testing.assert_array_equal(history.raw.values["rssMB"], [300.25, np.nan, np.nan, 301])
    assert history.names == ["heapUsedMB", "rssMB"]
    assert len(history.minutes.times) == 0


def test_the_window_bounds_are_since_exclusive_until_inclusive(store_path, clock):
    store = HistoryStore(store_path, clock=clock)
    for i in range(10):
        store.append(KEY, Sample(START + i, {"rssMB": float(i)}))
    assert store.flush()
    window = store.load(KEY, START + 2, START + 5)
    store.close()
    assert window.raw.times.tolist() == [START + 3, START + 4, START + 5]


def test_past_24_h_every_minute_keeps_exact_min_max_mean_and_count(store_path, clock):
    store = HistoryStore(store_path, clock=clock)
    seconds = 2 * DAY + 1800
    i = np.arange(seconds)
    times = START + i
    used = heap(i)
    rss = 400.0 + (i % 600) / 4
    rss[(i >= 3600) & (i < 3720)] = np.nan  # two minutes DOWN, an hour in
    used[5000:5030] = np.nan  # half a minute of gap inside one minute
    fill(store, clock, KEY, times, {"heapUsedMB": used, "rssMB": rss})
    assert store.flush(120, catch_up=True)
    history = store.load(KEY, START - 1)
    store.close()

    cutoff = (clock.now - RAW_SPAN_S) // 60 * 60
    older = times < cutoff
    minutes = history.minutes
    assert minutes.times.tolist() == list(np.arange(START, cutoff, 60.0))
    assert history.raw.times.tolist() == times[~older].tolist()
    for name, values in (("heapUsedMB", used), ("rssMB", rss)):
        per_minute = values[older].reshape(-1, 60)
        with warnings.catch_warnings():  # all-NaN minutes: NaN, as stored
            warnings.simplefilter("ignore", RuntimeWarning)
            low, high = np.nanmin(per_minute, axis=1), np.nanmax(per_minute, axis=1)
            mean = np.nanmean(per_minute, axis=1)
        np.testing.assert_array_equal(minutes.low[name], low)
        np.testing.assert_array_equal(minutes.high[name], high)
        np.testing.assert_allclose(minutes.mean[name], mean, rtol=1e-12)
        np.testing.assert_array_equal(minutes.count[name], np.sum(~np.isnan(per_minute), axis=1))
        raw = history.raw.values[name]
        np.testing.assert_array_equal(raw, values[~older].astype(np.float32))
    assert np.isnan(minutes.low["rssMB"][60:62]).all() and minutes.count["rssMB"][60] == 0
    assert minutes.count["heapUsedMB"][83] == 30  # 5000 // 60: half of it was a gap
    floor_times, floor = history.floor("heapUsedMB")
    assert floor_times.size == minutes.times.size + history.raw.times.size
    assert floor[0] == low_of(used, 0)


def low_of(values, minute):
    return float(np.nanmin(values[minute * 60 : minute * 60 + 60]))


def test_the_minute_resolution_aggregates_the_raw_day_on_the_fly(store_path, clock):
    store = HistoryStore(store_path, clock=clock)
    i = np.arange(DAY + 600)
    used = heap(i)
    fill(store, clock, KEY, START + i, {"heapUsedMB": used})
    assert store.flush(120, catch_up=True)
    auto = store.load(KEY, START - 1)
    banded = store.load(KEY, START - 1, resolution=MINUTE)
    store.close()
    assert auto.minutes.times.size == 9 and auto.raw.times.size == DAY + 60  # cut at +540 s
    assert banded.raw.times.size == 0
    assert banded.minutes.times.tolist() == list(START + np.arange(0, DAY + 600, 60.0))
    np.testing.assert_array_equal(banded.minutes.low["heapUsedMB"], used.reshape(-1, 60).min(1))
    np.testing.assert_array_equal(banded.minutes.high["heapUsedMB"], used.reshape(-1, 60).max(1))
    with pytest.raises(ValueError):
        store.load(KEY, START, resolution="hour")


def test_thirty_days_of_1_s_samples_keep_30_days_and_prune_older(store_path, clock):
    """31 days at 1 s (2.7 million samples, one metric) through the real writer."""
    store = HistoryStore(store_path, clock=clock)
    seconds = 31 * DAY
    i = np.arange(seconds)
    fill(store, clock, KEY, START + i, {"heapUsedMB": 100.0 + (i % 60)}, chunk=19_999)
    assert store.flush(300, catch_up=True)
    assert store.dropped == 0 and store.written == seconds
    history = store.load(KEY, START - 1)
    store.close()
    end = START + seconds - 1
    minutes = history.minutes.times
    assert minutes[-1] + 60 == history.raw.times[0]
    cutoff = (end - RAW_SPAN_S) // 60 * 60
    assert history.raw.times[0] == cutoff and history.raw.times.size == end - cutoff + 1
    assert minutes[0] == -(-(end - RETENTION_S) // 60) * 60  # the first minute not too old
    assert np.all(np.diff(minutes) == 60)
    assert set(history.minutes.low["heapUsedMB"]) == {100.0}
    assert set(history.minutes.high["heapUsedMB"]) == {159.0}
    with sqlite3.connect(store_path) as conn:
        oldest = conn.execute("SELECT min(minute) FROM minute").fetchone()[0]
    assert oldest >= end - RETENTION_S


def test_a_late_sample_merges_into_its_downsampled_minute(store_path, clock):
    """The wall clock stepped back past a downsampled minute: min/max/mean/count stay exact."""
    store = HistoryStore(store_path, clock=clock)
    i = np.arange(120)
    fill(store, clock, KEY, START + i, {"rssMB": 10.0 + i % 60})
    clock.now = START + DAY + 600
    assert store.flush(catch_up=True)
    store.append(KEY, Sample(START + 30.5, {"rssMB": 500.0}))
    store.append(KEY, Sample(START + 31.5, {"rssMB": 1.0}))
    assert store.flush(catch_up=True)
    minutes = store.load(KEY, START - 1).minutes
    store.close()
    values = np.concatenate([10.0 + np.arange(60), [500.0, 1.0]])
    assert minutes.low["rssMB"][0] == 1.0 and minutes.high["rssMB"][0] == 500.0
    assert minutes.count["rssMB"][0] == 62
    assert minutes.mean["rssMB"][0] == pytest.approx(values.mean(), rel=1e-12)


def test_a_full_queue_drops_the_oldest_and_counts_them(store_path, clock):
    store = HistoryStore(
        store_path, clock=clock, queue_size=10, batch_size=1000, commit_interval_s=600
    )
    assert store.flush()  # the writer is now idle, waiting for a flush: nothing leaves the queue
    for i in range(25):
        store.append(KEY, Sample(START + i, {"rssMB": float(i)}))
    assert store.dropped == 15
    assert store.flush()
    kept = store.load(KEY, START - 1).raw.values["rssMB"]
    store.close()
    assert kept.tolist() == [float(i) for i in range(15, 25)]


def test_a_writer_killed_mid_run_leaves_a_readable_file_missing_at_most_a_batch(store_path):
    code = textwrap.dedent(
        f"""
        import sys
        from fibuca_desktop.core.monitor.history_store import HistoryStore
        from fibuca_desktop.core.monitor.samples import Sample
        store = HistoryStore({str(store_path)!r}, clock=lambda: {START + 100}, batch_size=50,
                             commit_interval_s=0.05)
        for i in range(10**9):
            store.append("k", Sample({START} + i, {{"rssMB": float(i), "heapUsedMB": 1.0}}))
            if i % 500 == 499:
                store.flush()
                print(i + 1, flush=True)  # every sample before it is committed
        """
    )
    child = subprocess.Popen(
        [sys.executable, "-c", code],
        cwd=ROOT,
        env={**os.environ, "PYTHONPATH": str(ROOT)},
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert int(child.stdout.readline()) == 500
        os.kill(child.pid, signal.SIGKILL)
        assert child.wait(30) == -signal.SIGKILL
    finally:
        child.kill()
    reports = [500, *map(int, child.stdout.read().split())]
    child.stdout.close()
    committed = reports[-1]
    with sqlite3.connect(store_path) as conn:
        assert conn.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
    store = HistoryStore(store_path, clock=Clock(START + 100))
    assert store.problem is None
    rss = store.load("k", START - 1).raw.values["rssMB"]
    store.close()
    assert rss.size >= committed
    assert rss.tolist() == [float(i) for i in range(rss.size)]  # a prefix: no holes
    assert rss.size <= committed + 500  # the next report would have said so


def _random_bytes(path: Path) -> None:
    path.write_bytes(np.random.default_rng(1).bytes(64 * 1024))


def _truncated(path: Path) -> None:
    store = HistoryStore(path, clock=Clock())
    for i in range(20_000):
        store.append(KEY, Sample(START + i, {"rssMB": float(i), "heapUsedMB": 2.0}))
    store.close()
    with sqlite3.connect(path) as conn:
        conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    size = path.stat().st_size
    with path.open("r+b") as handle:
        handle.truncate(size // 2)


def _other_app(path: Path) -> None:
    with sqlite3.connect(path) as conn:
        conn.execute("CREATE TABLE contacts (name TEXT, phone TEXT)")
        conn.execute("INSERT INTO contacts VALUES ('Ana', '555')")
    conn.close()


def _newer_schema(path: Path) -> None:
    with sqlite3.connect(path) as conn:
        conn.execute("CREATE TABLE raw (x)")
        conn.execute(f"PRAGMA application_id = {APPLICATION_ID}")
        conn.execute("PRAGMA user_version = 99")
    conn.close()


@pytest.mark.parametrize(
    ("make", "words"),
    [
        (_random_bytes, "is not a database"),
        (_truncated, "is damaged"),
        (_other_app, "another program's database"),
        (_newer_schema, "schema version 99"),
    ],
)
def test_a_broken_file_is_set_aside_and_a_fresh_one_started(store_path, clock, make, words):
    store_path.parent.mkdir(parents=True)
    make(store_path)
    original = store_path.read_bytes()
    store = HistoryStore(store_path, clock=clock)
    assert store.usable
    assert words in store.problem and "\n" not in store.problem
    assert store.kept_as.name.startswith("history.sqlite3.broken-")
    assert store.kept_as.name in store.problem
    assert store.kept_as.read_bytes() == original
    store.append(KEY, Sample(START, {"rssMB": 5.0}))
    assert store.flush()
    assert store.load(KEY, START - 1).raw.values["rssMB"].tolist() == [5.0]
    store.close()
    again = HistoryStore(store_path, clock=clock)
    again.close()
    assert again.problem is None


def test_a_file_damaged_while_open_gives_an_empty_load_and_a_message(store_path, clock):
    store = HistoryStore(store_path, clock=clock)
    fill(store, clock, KEY, START + np.arange(20_000), {"rssMB": np.arange(20_000) + 0.5})
    with sqlite3.connect(store_path) as conn:
        conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    conn.close()
    with store_path.open("r+b") as handle:  # every page but the first (the schema) overwritten
        handle.seek(4096)
        handle.write(np.random.default_rng(3).bytes(store_path.stat().st_size - 4096))
    history = store.load(KEY, START - 1)
    assert history.raw.times.size == 0
    assert "could not be read" in store.problem and "\n" not in store.problem
    store.append(KEY, Sample(START + 30_000, {"rssMB": 1.0}))
    store.flush()  # the writer meets the damage too: it logs and drops, it does not stop
    store.close()
    again = HistoryStore(store_path, clock=clock)
    again.close()
    assert again.kept_as is not None and again.usable  # set aside at the next start


@pytest.mark.parametrize("wal", [False, True], ids=["rollback-journal", "wal"])
def test_a_file_locked_by_another_process_is_set_aside(store_path, clock, wal):
    store_path.parent.mkdir(parents=True)
    if wal:  # our own format, held by another process writing in one long transaction
        HistoryStore(store_path, clock=clock).close()
    code = textwrap.dedent(
        f"""
        import sqlite3, sys
        conn = sqlite3.connect({str(store_path)!r}, isolation_level=None)
        conn.execute("BEGIN EXCLUSIVE")
        conn.execute("CREATE TABLE held (x)")
        print("locked", flush=True)
        sys.stdin.read()
        """
    )
    holder = subprocess.Popen(
        [sys.executable, "-c", code], stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True
    )
    try:
        assert holder.stdout.readline().strip() == "locked"
        store = HistoryStore(store_path, clock=clock, busy_timeout_s=0.2)
        assert store.usable and "locked by another program" in store.problem
        assert store.kept_as.exists()
        store.append(KEY, Sample(START, {"rssMB": 5.0}))
        assert store.flush()
        assert store.load(KEY, START - 1).raw.values["rssMB"].tolist() == [5.0]
        store.close()
    finally:
        holder.stdin.close()
        holder.wait(30)
        holder.stdout.close()


def test_a_read_only_folder_keeps_no_history_and_never_raises(tmp_path, clock):
    with small_disk(tmp_path / "ro", "size=1m") as disk:
        HistoryStore(disk / "kept.sqlite3", clock=clock).close()
        subprocess.run(["mount", "-o", "remount,ro", str(disk)], check=True)
        for name in ("history.sqlite3", "kept.sqlite3"):  # absent, then present
            store = HistoryStore(disk / name, clock=clock)
            assert not store.usable
            assert "not kept this session" in store.problem and "\n" not in store.problem
            store.append(KEY, Sample(START, {"rssMB": 5.0}))
            assert not store.flush()
            assert store.load(KEY, START - 1).raw.times.size == 0
            assert next(store.export_rows(KEY, START - 1)) == ["time", "epoch"]
            store.close()


def test_a_full_disk_loses_batches_not_the_app(tmp_path, clock):
    with small_disk(tmp_path / "small", "size=256k") as disk:
        store = HistoryStore(disk / "history.sqlite3", clock=clock, batch_size=200)
        for i in range(20_000):
            store.append(KEY, Sample(START + i, {name: float(i) for name in REMOTE_METRICS}))
            if i % 1000 == 999:
                store.flush()
        assert store.flush()
        assert store.dropped > 0 and store.written > 0
        assert store.load(KEY, START - 1).raw.times.size == store.written
        store.close()


def test_the_key_is_the_definition_without_secrets():
    base = MonitorTarget("api", HEALTH, url="https://admin:s3cret@API.example.com:8443/health")
    key = target_key(base)
    assert key == "health:https://api.example.com:8443/health"
    renamed = MonitorTarget("renamed", HEALTH, url="https://api.example.com:8443/health")
    assert target_key(renamed) == key
    with_query = MonitorTarget("m", METRICS, url="http://h/metrics?token=abc123")
    assert "abc123" not in target_key(with_query) and "?sha256=" in target_key(with_query)
    assert target_key(with_query) != target_key(
        MonitorTarget("m", METRICS, url="http://h/metrics?token=x")
    )
    assert target_key(MonitorTarget("me", LOCAL)) == "local:this-app"
    named = MonitorTarget("n", LOCAL, process_name="node", include_children=True)
    assert target_key(named) == "local:name:node+children"
    assert target_key(MonitorTarget("p", LOCAL, pid=42)) == "local:pid:42"
    assert target_key(MonitorTarget("v6", HEALTH, url="http://[::1]:3000/h")).startswith(
        "health:http://[::1]:3000/h"
    )


def test_the_csv_of_a_day_matches_the_ram_history_and_longer_ones_add_bands(
    store_path, clock, tmp_path
):
    store = HistoryStore(store_path, clock=clock)
    ram = TargetHistory(2 * DAY)
    i = np.arange(DAY + 180)
    values = {name: 100.0 + k + (i % 50) / 4 for k, name in enumerate(REMOTE_METRICS)}
    values["rssMB"][-10:] = np.nan
    for row in range(len(i)):
        sample = Sample(START + row, {name: values[name][row] for name in REMOTE_METRICS})
        ram.append(sample)
        store.append(KEY, sample)
        if row % 10_000 == 0:
            clock.now = START + row
            store.flush()
    clock.now = START + len(i) - 1
    assert store.flush(catch_up=True)

    ram_csv = tmp_path / "ram.csv"
    ram.to_csv(ram_csv, 3600)
    day = list(store.export_rows(KEY, clock.now - 3600))
    with ram_csv.open(newline="", encoding="utf-8") as handle:
        assert day == list(csv.reader(handle))

    month = tmp_path / "month.csv"
    assert store.export_csv(KEY, month, clock.now - 30 * DAY) == 2 + DAY + 60  # cut at +120 s
    store.close()
    with month.open(newline="", encoding="utf-8") as handle:
        rows = list(csv.reader(handle))
    header = rows[0]
    assert header[:6] == ["time", "epoch", *REMOTE_METRICS]
    assert header[6:8] == ["heapUsedMB min", "heapUsedMB max"] and header[-1] == "interval_s"
    first = dict(zip(header, rows[1], strict=True))
    assert first["epoch"] == f"{START:.3f}" and first["interval_s"] == "60"
    assert float(first["heapUsedMB min"]) == 100.0 and float(first["heapUsedMB max"]) == 112.25
    last = dict(zip(header, rows[-1], strict=True))
    assert last["rssMB"] == "" and last["interval_s"] == "" and last["heapUsedMB min"] == ""


def test_pages_freed_by_downsampling_are_handed_back_step_by_step(store_path, monkeypatch):
    """Two days written while the app's clock stood still (a backlog), then downsampled."""
    monkeypatch.setattr(history_store, "FREE_PAGES_KEPT", 64)
    clock = Clock()
    store = HistoryStore(store_path, clock=clock)
    i = np.arange(2 * DAY)
    fill(store, Clock(), KEY, START + i, {name: 0.1 + i for name in REMOTE_METRICS})
    with sqlite3.connect(store_path) as conn:
        pages_before = conn.execute("PRAGMA page_count").fetchone()[0]
    conn.close()
    clock.now = START + 2 * DAY - 1
    assert store.flush(120, catch_up=True)
    with sqlite3.connect(store_path) as conn:
        assert conn.execute("PRAGMA freelist_count").fetchone()[0] <= 64
        pages_after = conn.execute("PRAGMA page_count").fetchone()[0]
    conn.close()
    store.close()
    assert pages_after < pages_before * 0.75


def test_the_file_lives_in_the_per_user_data_folder(tmp_path, monkeypatch):
    monkeypatch.delenv("FIBUCA_HISTORY_FILE", raising=False)
    monkeypatch.setenv("XDG_DATA_HOME", str(tmp_path / "data"))
    if sys.platform.startswith("linux"):
        expected = tmp_path / "data" / "fibuca-desktop" / "history.sqlite3"
        assert default_history_path() == expected
    monkeypatch.setenv("FIBUCA_HISTORY_FILE", str(tmp_path / "elsewhere.sqlite3"))
    store = HistoryStore.open()
    store.close()
    assert store.path == tmp_path / "elsewhere.sqlite3" and store.path.exists()
