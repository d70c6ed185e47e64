"""CREATE INDEX CONCURRENTLY on the real shop: progress, cancel, failure clean-up, read-only mode.

A writer's open transaction makes a concurrent build wait in its first phase ("waiting for writers
before build"), so progress is observed and cancel is exercised without depending on timing.
"""

from __future__ import annotations

import psycopg2
import pytest

from fibuca_desktop.core.database.index_build import BuildProgress, IndexBuilder
from fibuca_desktop.core.database.index_health import index_health
from fibuca_desktop.core.database.session import DatabaseSession
from fibuca_desktop.core.errors import IndexBuildFailed, UsageError, WriteRefused
from tests.shop_schema import open_writer

WAITING = "waiting for writers before build"  # the catalog entry exists from this phase on
STATUS_IN_TRANSACTION = psycopg2.extensions.STATUS_IN_TRANSACTION
PHASES = {
    "initializing",
    "waiting for writers before build",
    "building index: scanning table",
    "building index: sorting live tuples",
    "building index: loading tuples in tree",
    "waiting for writers before validation",
    "index validation: scanning index",
    "index validation: sorting tuples",
    "index validation: scanning table",
    "waiting for old snapshots",
    "waiting for readers before marking dead",
    "waiting for readers before dropping",
}


@pytest.fixture(scope="module")
def apply_url(pg_cluster) -> str:
    return pg_cluster.clone("shop_apply")


@pytest.fixture
def writable(apply_url):
    with DatabaseSession(apply_url, read_only=False) as session:
        yield session


def index_names(session) -> set[str]:
    """Every index of the schema, INVALID ones included."""
    return set(session.run(_index_names))


def _index_names(cur) -> list[str]:
    cur.execute("SELECT indexname FROM pg_indexes WHERE schemaname = 'public'")
    return [row["indexname"] for row in cur.fetchall()]


def test_read_only_mode_refuses_to_build(apply_url):
    with DatabaseSession(apply_url) as session:
        builder = IndexBuilder(session)
        plan = builder.plan("OrderItem", ("quantity",))  # planning only reads
        with pytest.raises(WriteRefused, match="Read-only mode is on"):
            builder.run(plan)
        with pytest.raises(WriteRefused):
            builder.drop_invalid("OrderItem_quantity_idx")
        assert "OrderItem_quantity_idx" not in index_names(session)


def test_build_with_live_progress_and_cost_before_after(writable, apply_url):
    builder = IndexBuilder(writable, lock_timeout_s=30, poll_s=0.01)
    plan = builder.plan("OrderItem", ("productId",))
    assert plan.sql == (
        'CREATE INDEX CONCURRENTLY "OrderItem_productId_idx" ON "public"."OrderItem" ("productId");'
    )
    readings: list[BuildProgress] = []
    with open_writer(apply_url, "OrderItem") as writer:

        def on_progress(reading: BuildProgress) -> None:
            readings.append(reading)
            if reading.phase == WAITING and writer.status == STATUS_IN_TRANSACTION:
                writer.commit()  # seen waiting for this writer: let the build go on

        result = builder.run(plan, on_progress)
    assert WAITING in {r.phase for r in readings}
    assert {r.phase for r in readings} <= PHASES
    assert result.index == "OrderItem_productId_idx" and result.valid
    assert result.cost_after < result.cost_before * 0.5
    assert set(result.to_json()) == {"index", "valid", "seconds"}
    assert "OrderItem_productId_idx" in index_names(writable)
    with pytest.raises(UsageError, match="exists already"):
        builder.run(plan)


def test_failed_build_leaves_an_invalid_index_that_is_dropped_before_retrying(writable):
    builder = IndexBuilder(writable)
    unique = builder.plan("Order", ("status",), unique=True)
    assert unique.sql.startswith('CREATE UNIQUE INDEX CONCURRENTLY "Order_status_key"')
    with pytest.raises(IndexBuildFailed) as caught:
        builder.run(unique)
    assert caught.value.invalid_index == "Order_status_key" and not caught.value.cancelled
    assert "could not create unique index" in str(caught.value)
    assert "left the INVALID index Order_status_key: drop it before retrying" in str(caught.value)
    assert [p.index for p in writable.run(index_health, "public").invalid] == ["Order_status_key"]
    with pytest.raises(IndexBuildFailed, match="is in the way"):
        builder.run(unique)
    with pytest.raises(UsageError, match="not an INVALID index"):
        builder.drop_invalid("Order_pkey")
    dropped = builder.drop_invalid("Order_status_key")
    assert dropped == 'DROP INDEX CONCURRENTLY IF EXISTS "public"."Order_status_key";'
    assert writable.run(index_health, "public").invalid == []
    result = builder.run(builder.plan("Order", ("status",)))
    assert (result.index, result.valid) == ("Order_status_idx", True)


def test_cancel_a_running_build(writable, apply_url):
    builder = IndexBuilder(writable, lock_timeout_s=30, poll_s=0.01)
    plan = builder.plan("OrderItem", ("price",))
    with open_writer(apply_url, "OrderItem"), pytest.raises(IndexBuildFailed) as caught:
        builder.run(plan, lambda reading: reading.phase == WAITING and builder.cancel())
    assert caught.value.cancelled and caught.value.invalid_index == "OrderItem_price_idx"
    assert str(caught.value).startswith("The build of OrderItem_price_idx was cancelled.")
    builder.drop_invalid("OrderItem_price_idx")
    assert "OrderItem_price_idx" not in index_names(writable)
    assert not builder.cancel()  # nothing running


def test_lock_timeout_gives_up_without_leaving_anything(writable, apply_url):
    builder = IndexBuilder(writable, lock_timeout_s=0.3)
    plan = builder.plan("OrderItem", ("quantity",))
    locker = psycopg2.connect(apply_url)
    try:
        with locker.cursor() as cur:
            cur.execute('LOCK TABLE "OrderItem" IN SHARE UPDATE EXCLUSIVE MODE')
        with pytest.raises(IndexBuildFailed, match=r"waited more than 0\.3 s for a lock") as caught:
            builder.run(plan)
    finally:
        locker.rollback()
        locker.close()
    assert caught.value.invalid_index is None
    assert "OrderItem_quantity_idx" not in index_names(writable)


@pytest.mark.parametrize("isolation", ["REPEATABLE READ", "SERIALIZABLE"])
def test_a_wait_for_an_older_transaction_names_it(writable, apply_url, isolation):
    """A transaction holding a snapshot, on another table, makes the build wait (no lock on the
    table): the message said "the session holding it was gone" while it was still there."""
    builder = IndexBuilder(writable, lock_timeout_s=0.5)
    plan = builder.plan("OrderItem", ("quantity", "orderId"))
    older = psycopg2.connect(apply_url, application_name="old-snapshot")
    try:
        with older.cursor() as cur:
            cur.execute(f"BEGIN ISOLATION LEVEL {isolation}")
            cur.execute('SELECT count(*) FROM "User"')
            cur.execute("SELECT pg_backend_pid()")
            pid = cur.fetchone()[0]
        with pytest.raises(IndexBuildFailed) as caught:
            builder.run(plan)
    finally:
        older.rollback()
        older.close()
    message = str(caught.value)
    assert "transactions older than the build" in message
    assert f"pid {pid} (user " in message and "application 'old-snapshot'" in message
    assert f"pg_terminate_backend(pid) for {pid}" in message
    assert "was gone" not in message
    if caught.value.invalid_index:
        builder.drop_invalid(caught.value.invalid_index)


def test_names_are_exact_and_case_sensitive(writable):
    builder = IndexBuilder(writable)
    with pytest.raises(UsageError, match="did you mean 'Order'"):
        builder.plan("order", ("userId",))
    with pytest.raises(UsageError, match="has no column 'userid'"):
        builder.plan("Order", ("userid",))
    plan = builder.plan('Audit "Log"', ('actor"Id',))
    assert plan.sql == (
        'CREATE INDEX CONCURRENTLY "Audit ""Log""_actor""Id_idx" '
        'ON "public"."Audit ""Log""" ("actor""Id");'
    )
    result = builder.run(plan)
    assert result.valid and result.cost_after < result.cost_before


def test_a_progress_callback_that_fails_stops_the_build(writable, apply_url):
    """The caller going away (a closed panel) must not leave a build running on its own."""
    builder = IndexBuilder(writable, lock_timeout_s=30, poll_s=0.01)
    plan = builder.plan("OrderItem", ("quantity", "price"))

    def closed_panel(reading: BuildProgress) -> None:
        if reading.phase == WAITING:
            raise RuntimeError("panel closed")

    with open_writer(apply_url, "OrderItem"), pytest.raises(RuntimeError, match="panel closed"):
        builder.run(plan, closed_panel)
    assert writable.run(_builds_running) == 0
    builder.drop_invalid(plan.name)  # the cancelled build's INVALID index
    assert plan.name not in index_names(writable)


def _builds_running(cur) -> int:
    cur.execute("SELECT count(*) AS n FROM pg_stat_progress_create_index")
    return cur.fetchone()["n"]
