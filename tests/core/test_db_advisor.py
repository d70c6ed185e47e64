"""Index advisor, index health and export on the real shop (tests/shop_schema.py, 254k rows)."""

from __future__ import annotations

import contextlib

import psycopg2
import pytest

from fibuca_desktop.core.database.advisor import AdvisorSettings, advise
from fibuca_desktop.core.database.index_health import index_health
from fibuca_desktop.core.database.index_suggestion import FOREIGN_KEY, SLOW_QUERY
from fibuca_desktop.core.database.migration_export import (
    migration_sql,
    prisma_lines,
    write_migration,
)
from fibuca_desktop.core.database.session import DatabaseSession
from fibuca_desktop.core.database.slow_queries import SlowQueryThresholds
from tests.shop_schema import (
    ITEMS_OF_ORDER,
    ORDERS_BY_STATUS,
    ORDERS_OF_EMAIL,
    ORDERS_OF_USER,
    ORDERS_WITH_PRODUCT,
    ROWS,
    normalised,
)

# The workload runs each query 30 times, in about 10 ms at most: lower PgHero's thresholds.
TEST_SETTINGS = AdvisorSettings(thresholds=SlowQueryThresholds(min_mean_ms=0.0, min_calls=30))

EXPECTED = {
    ("Order", ("userId", "createdAt"), SLOW_QUERY),
    ("OrderItem", ("orderId",), SLOW_QUERY),
    ("OrderItem", ("productId",), SLOW_QUERY),  # Prisma's `some` filter, alias "t1"
    ('Audit "Log"', ('actor"Id',), FOREIGN_KEY),
}


@pytest.fixture(scope="module")
def advice(pg_cluster, shop_url):
    """The advice verified by hypopg (skips, saying why, where the server has no hypopg)."""
    pg_cluster.require_hypopg()
    with DatabaseSession(shop_url) as session:
        return advise(session, TEST_SETTINGS)


def test_the_shop_is_big_enough():
    assert sum(ROWS.values()) >= 200_000


def test_expected_suggestions_and_nothing_else(advice):
    assert advice.hypopg_missing is None and advice.statements_missing is None
    assert {(s.table, s.columns, s.reason) for s in advice.suggestions} == EXPECTED


def test_every_suggestion_is_verified_by_hypopg_at_half_the_cost_or_better(advice):
    for suggestion in advice.suggestions:
        assert suggestion.verified, suggestion
        assert suggestion.cost_after <= suggestion.cost_before * 0.5, suggestion


def test_slow_query_suggestions_name_their_queries(advice):
    by_index = {(s.table, s.columns): s for s in advice.suggestions}
    assert by_index[("Order", ("userId", "createdAt"))].queries == [normalised(ORDERS_OF_USER)]
    assert by_index[("OrderItem", ("orderId",))].queries == [normalised(ITEMS_OF_ORDER)]
    assert by_index[("OrderItem", ("productId",))].queries == [normalised(ORDERS_WITH_PRODUCT)]
    # The foreign key "Order"."userId" is served by the (userId, createdAt) suggestion: not twice.
    assert not any(s.columns == ("userId",) for s in advice.suggestions)


def test_candidates_that_save_too_little_are_rejected_with_their_costs(advice):
    rejected = {(r.table, r.columns): r for r in advice.rejected}
    # status has 4 values: an index on it would still read a quarter of the table.
    status = rejected[("Order", ("status",))]
    assert status.query == normalised(ORDERS_BY_STATUS)
    assert status.cost_after > status.cost_before * 0.5
    # 10 categories: the foreign key's lookup would read a tenth of Product.
    assert ("Product", ("categoryId",)) in rejected
    # The hash join's key: with ~100 users matching the LIKE, the hash join stays cheaper.
    join = rejected[("Order", ("userId",))]
    assert join.query == normalised(ORDERS_OF_EMAIL) and join.cost_after >= join.cost_before * 0.5
    assert set(rejected) == {
        ("Order", ("status",)),
        ("Product", ("categoryId",)),
        ("Order", ("userId",)),
    }


def test_without_hypopg_the_same_indexes_are_suggested_unverified(pg_cluster, plain_url):
    with DatabaseSession(plain_url) as session:
        plain = advise(session, TEST_SETTINGS)
    assert plain.hypopg_missing.startswith(pg_cluster.hypopg_missing_message())
    assert "CREATE EXTENSION hypopg" in plain.hypopg_missing
    assert {(s.table, s.columns, s.reason) for s in plain.suggestions} == EXPECTED
    for suggestion in plain.suggestions:
        assert not suggestion.verified
        assert suggestion.cost_after is None
        assert suggestion.note == plain.hypopg_missing


def test_tiny_tables_and_default_thresholds(shop_url):
    with DatabaseSession(shop_url) as session:
        # PgHero's defaults (20 ms, 100 calls): the workload is not slow; foreign keys remain.
        default = advise(session)
        huge = advise(session, AdvisorSettings(min_table_rows=1_000_000))
    assert {s.reason for s in default.suggestions} == {FOREIGN_KEY}
    assert huge.suggestions == []


def test_a_suggestion_is_not_repeated_once_its_index_exists(pg_cluster):
    pg_cluster.require_hypopg()
    url = pg_cluster.clone("shop_covered", ("pg_stat_statements", "hypopg"))
    with contextlib.closing(psycopg2.connect(url)) as connection, connection.cursor() as cur:
        connection.autocommit = True
        cur.execute('CREATE INDEX "by_product" ON "OrderItem" ("productId", "quantity")')
    with DatabaseSession(url) as session:
        tables = {(s.table, s.columns) for s in advise(session, TEST_SETTINGS).suggestions}
    assert ("OrderItem", ("productId",)) not in tables
    assert ('Audit "Log"', ('actor"Id',)) in tables


def test_duplicate_unused_and_invalid_indexes(shop_url):
    with DatabaseSession(shop_url) as session:
        health = session.run(index_health, session.schema)
    assert [(p.index, p.covered_by) for p in health.duplicate] == [
        ("User_email_idx", "User_email_key")
    ]
    # Built during this test session: too young to be called unused (7 days by default) ...
    assert health.unused == []
    assert {"Product_name_idx", "User_email_idx"} <= {p.index for p in health.not_judged}
    assert all(p.drop_sql == "" and "judged after 7 days" in p.note for p in health.not_judged)
    with DatabaseSession(shop_url) as session:  # ... as they are once they had their chance
        aged = session.run(index_health, session.schema, None, 0)
    assert [p.index for p in aged.unused] == ["Product_name_idx", "User_email_idx"]
    assert [p.index for p in health.invalid] == ["Order_status_key"]
    assert (
        health.invalid[0].drop_sql
        == 'DROP INDEX CONCURRENTLY IF EXISTS "public"."Order_status_key";'
    )


def test_sql_and_prisma_quote_every_identifier(advice):
    audit = next(s for s in advice.suggestions if s.table == 'Audit "Log"')
    assert audit.create_sql() == (
        'CREATE INDEX CONCURRENTLY "Audit ""Log""_actor""Id_idx" '
        'ON "public"."Audit ""Log""" ("actor""Id");'
    )
    order = next(s for s in advice.suggestions if s.table == "Order")
    assert order.to_json()["sql"] == (
        'CREATE INDEX CONCURRENTLY "Order_userId_createdAt_idx" '
        'ON "public"."Order" ("userId", "createdAt");'
    )
    assert order.to_json()["prisma"] == "@@index([userId, createdAt])"


def test_export_as_migration_and_prisma_lines(advice, tmp_path, shop_url):
    chosen = [s for s in advice.suggestions if s.table in ("Order", "OrderItem")]
    target = tmp_path / "prisma" / "migrations" / "20261128_fibuca_indexes" / "migration.sql"
    assert write_migration(target, chosen)
    text = target.read_text()
    assert text == migration_sql(chosen)
    assert text.count("-- CreateIndex") == 3
    assert 'CREATE INDEX IF NOT EXISTS "OrderItem_productId_idx" ON "public"."OrderItem"' in text
    assert not write_migration(target, chosen)  # never overwrites unless asked
    assert prisma_lines(chosen) == {
        "Order": ["@@index([userId, createdAt])"],
        "OrderItem": ["@@index([orderId])", "@@index([productId])"],
    }
    # The migration really runs, twice (IF NOT EXISTS), in a transaction rolled back after.
    with contextlib.closing(psycopg2.connect(shop_url)) as connection, connection.cursor() as cur:
        for _ in range(2):
            cur.execute(text)
        cur.execute(
            "SELECT count(*) FROM pg_indexes WHERE indexname = ANY(%s)",
            [[s.name for s in chosen]],
        )
        assert cur.fetchone()[0] == 3
        connection.rollback()
