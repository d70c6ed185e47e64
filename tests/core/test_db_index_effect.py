"""What an index really did, on the real shop: a snapshot at the build, the workload run again,
then the measured change per call; an index no query uses; a snapshot that outlives the app."""

from __future__ import annotations

import contextlib
import json

import psycopg2
import pytest

from fibuca_desktop.core.database.index_build import IndexBuilder
from fibuca_desktop.core.database.index_effect import (
    HELPED,
    NO_CALLS,
    NOT_USED,
    Counters,
    Snapshot,
    SnapshotStore,
    compare,
    measure,
)
from fibuca_desktop.core.database.session import DatabaseSession
from fibuca_desktop.core.errors import UsageError
from tests.shop_schema import ORDERS_OF_USER, normalised, run_workload


@pytest.fixture(scope="module")
def measure_url(pg_cluster) -> str:
    """A private shop with the Prisma workload run once (the "before")."""
    url = pg_cluster.clone("shop_measure")
    workload(url)
    return url


def workload(url: str, rounds: int = 30) -> None:
    with contextlib.closing(psycopg2.connect(url)) as connection:
        connection.autocommit = True
        run_workload(connection, rounds)


@pytest.fixture
def store(tmp_path) -> SnapshotStore:
    return SnapshotStore(tmp_path / "index-snapshots.json")


def build(url: str, store: SnapshotStore, table: str, columns: tuple[str, ...], queries=()):
    with DatabaseSession(url, read_only=False) as session:
        builder = IndexBuilder(session, lock_timeout_s=30, snapshots=store)
        plan = builder.plan(table, columns, queries=queries)
        return builder.run(plan).index


def test_a_suggested_index_is_measured_as_helped_with_the_drop(measure_url, store):
    query = normalised(ORDERS_OF_USER)
    index = build(measure_url, store, "Order", ("userId", "createdAt"), (query,))
    with DatabaseSession(measure_url) as session:
        early = measure(session, index, store)
    assert early.verdict == NO_CALLS and early.index_scans == 0
    assert "measure again later" in early.summary
    workload(measure_url)  # the same pages again, now with the index
    with DatabaseSession(measure_url) as session:
        effect = measure(session, index, store)
    assert effect.verdict == HELPED and effect.index_scans >= 30
    [statement] = effect.statements
    assert statement.query == query and statement.verdict == HELPED
    assert (statement.calls_before, statement.calls_after) == (30, 30)
    assert statement.mean_ms_after < 0.5 * statement.mean_ms_before  # a seq scan gone
    assert statement.blocks_per_call_after < 0.1 * statement.blocks_per_call_before
    assert statement.rows_per_call_after == pytest.approx(statement.rows_per_call_before, rel=0.5)
    assert (
        effect.summary.startswith(f"{index}: helped: mean ") and "over 30 calls" in effect.summary
    )
    data = effect.to_json()
    assert set(data) >= {"index", "verdict", "statements", "indexScans"}
    assert set(data["statements"][0]) >= {
        "queryid",
        "callsBefore",
        "callsAfter",
        "meanMsBefore",
        "meanMsAfter",
        "blocksPerCallBefore",
        "blocksPerCallAfter",
    }


def test_an_index_no_query_uses_is_not_used(measure_url, store):
    index = build(measure_url, store, "Product", ("price",))
    workload(measure_url, rounds=5)
    with DatabaseSession(measure_url) as session:
        effect = measure(session, index, store)
    assert effect.verdict == NOT_USED and effect.index_scans == 0
    assert "not used: no scan of it since it was built" in effect.summary


def test_snapshots_survive_a_restart_and_a_broken_file_is_set_aside(measure_url, tmp_path):
    path = tmp_path / "snapshots.json"
    index = build(measure_url, SnapshotStore(path), "Tag", ("label",))
    kept = SnapshotStore(path)  # a new process reading the same file
    with DatabaseSession(measure_url) as session:
        snapshot = kept.get(session.target.server, "public", index)
    assert snapshot is not None and snapshot.table == "Tag" and snapshot.columns == ("label",)
    assert json.loads(path.read_text())["format"] == 1
    assert "s3cret" not in path.read_text()  # the database's address only, never a password
    path.write_text("{not json")
    broken = SnapshotStore(path)
    assert broken.get("x", "public", index) is None
    assert "set aside" in broken.problem and list(tmp_path.glob("snapshots.json.broken-*"))


def test_an_index_fibuca_did_not_build_says_why_it_cannot_be_measured(measure_url, store):
    with DatabaseSession(measure_url) as session, pytest.raises(UsageError, match="No snapshot"):
        measure(session, "Order_pkey", store)


def test_a_reset_of_the_statistics_counts_every_call_as_after():
    before = Counters("1", "q", calls=100, total_ms=1000.0, rows=100, blocks=100_000)
    snapshot = Snapshot(
        "h:5432/db", "public", "i", "t", ("c",), "2026-12-01T00:00:00+00:00", (before,)
    )
    now = {"1": Counters("1", "q", calls=10, total_ms=5.0, rows=10, blocks=40)}
    effect = compare(snapshot, now, scans=10)
    assert effect.verdict == HELPED and effect.statements[0].calls_after == 10
    assert "reset" in effect.note
    gone = compare(snapshot, {}, scans=3)
    assert gone.statements == () and "no longer in pg_stat_statements" in gone.note
