"""The advisor's blind spots, on the real shop: statements with CTEs (MATERIALIZED and NOT), a
materialized view never analysed, and a partitioned table whose partitions are analysed but not
the parent; the partitioned one applied the way PostgreSQL allows (ON ONLY, each partition
CONCURRENTLY, ATTACH), and cleaned up when a partition's build fails."""

from __future__ import annotations

import contextlib
import random

import psycopg2
import pytest

from fibuca_desktop.core.database import catalog
from fibuca_desktop.core.database.advisor import AdvisorSettings, advise
from fibuca_desktop.core.database.index_build import IndexBuilder
from fibuca_desktop.core.database.index_effect import SnapshotStore
from fibuca_desktop.core.database.session import DatabaseSession
from fibuca_desktop.core.database.slow_queries import SlowQueryThresholds
from fibuca_desktop.core.errors import IndexBuildFailed
from tests.shop_schema import normalised

BLIND_SPOTS = """
CREATE TABLE "Event" ("id" TEXT NOT NULL, "userId" TEXT NOT NULL, "kind" TEXT NOT NULL,
    "at" TIMESTAMP(3) NOT NULL) PARTITION BY RANGE ("at");
CREATE TABLE "Event_2024" PARTITION OF "Event" FOR VALUES FROM ('2024-01-01') TO ('2025-01-01');
CREATE TABLE "Event_2025" PARTITION OF "Event" FOR VALUES FROM ('2025-01-01') TO ('2026-01-01');
CREATE TABLE "Event_2026" PARTITION OF "Event" FOR VALUES FROM ('2026-01-01') TO ('2027-01-01');
INSERT INTO "Event" SELECT 'e' || g, 'u' || (1 + (g * 7) % 20000), 'view',
    timestamp '2024-01-01' + g * interval '20 minutes' FROM generate_series(1, 60000) g;
ANALYZE "Event_2024"; ANALYZE "Event_2025"; ANALYZE "Event_2026";
CREATE MATERIALIZED VIEW "UserOrderStats" AS SELECT "userId", count(*) AS "orders",
    sum("total") AS "spent" FROM "Order" GROUP BY "userId";
"""
CTE_MATERIALIZED = (
    'WITH "u" AS MATERIALIZED (SELECT "id", "email" FROM "public"."User" WHERE "name" = %s) '
    'SELECT "u"."id", "u"."email" FROM "u" OFFSET %s'
)
CTE_INLINED = (
    'WITH "p" AS NOT MATERIALIZED (SELECT "id", "sku" FROM "public"."Product" '
    'WHERE "name" = %s) SELECT "p"."id" FROM "p" OFFSET %s'
)
MATVIEW = 'SELECT "orders", "spent" FROM "public"."UserOrderStats" WHERE "userId" = %s OFFSET %s'
PARTITIONED = 'SELECT "id", "kind" FROM "public"."Event" WHERE "userId" = %s OFFSET %s'
LOW = AdvisorSettings(thresholds=SlowQueryThresholds(min_mean_ms=0, min_calls=30))
EXPECTED = {
    ("User", ("name",)),
    ("Product", ("name",)),
    ("UserOrderStats", ("userId",)),
    ("Event", ("userId",)),
}


def blind_workload(url: str, rounds: int = 30) -> None:
    rng = random.Random(7)
    with contextlib.closing(psycopg2.connect(url)) as connection:
        connection.autocommit = True
        with connection.cursor() as cur:
            for _ in range(rounds):
                cur.execute(CTE_MATERIALIZED, [f"User {rng.randint(1, 20000)}", 0])
                cur.execute(CTE_INLINED, [f"Product {rng.randint(1, 12000)}", 0])
                cur.execute(MATVIEW, [f"u{rng.randint(1, 20000)}", 0])
                cur.execute(PARTITIONED, [f"u{rng.randint(1, 20000)}", 0])


@pytest.fixture(scope="module")
def blind_url(pg_cluster) -> str:
    pg_cluster.require_hypopg()
    url = pg_cluster.clone("shop_blind", ("pg_stat_statements", "hypopg"))
    with contextlib.closing(psycopg2.connect(url)) as connection:
        connection.autocommit = True
        with connection.cursor() as cur:
            cur.execute(BLIND_SPOTS)
    blind_workload(url)
    return url


def suggestions(url: str) -> dict:
    with DatabaseSession(url) as session:
        advice = advise(session, LOW)
    return {(s.table, s.columns): s for s in advice.suggestions}


def test_row_estimates_see_the_view_and_the_partitioned_parent(blind_url):
    with DatabaseSession(blind_url) as session:
        rows = session.run(catalog.table_row_estimates, "public")
        roots = session.run(catalog.partition_roots, "public")
    assert rows["Event"] == pytest.approx(60_000, rel=0.05)  # its partitions' rows
    assert rows["UserOrderStats"] > 10_000  # the planner's estimate from its pages, not 0
    assert roots == {"Event_2024": "Event", "Event_2025": "Event", "Event_2026": "Event"}


def test_ctes_a_materialized_view_and_a_partitioned_table_each_get_their_index(blind_url):
    found = suggestions(blind_url)
    assert set(found) >= EXPECTED
    for key in EXPECTED:
        assert found[key].verified and found[key].cost_after < found[key].cost_before / 2
    assert normalised(CTE_MATERIALIZED) in found[("User", ("name",))].queries
    assert normalised(CTE_INLINED) in found[("Product", ("name",))].queries
    assert normalised(PARTITIONED) in found[("Event", ("userId",))].queries
    assert not any(table.startswith("Event_") for table, _ in found)  # the parent, not each


def test_the_partitioned_index_is_built_on_only_the_parent_then_attached(blind_url, tmp_path):
    store = SnapshotStore(tmp_path / "snapshots.json")
    with DatabaseSession(blind_url, read_only=False) as session:
        builder = IndexBuilder(session, lock_timeout_s=30, snapshots=store)
        plan = builder.plan_suggestion(suggestions(blind_url)[("Event", ("userId",))])
        assert (
            plan.steps[0] == 'CREATE INDEX "Event_userId_idx" ON ONLY "public"."Event" ("userId");'
        )
        assert plan.steps[1:3] == (
            'CREATE INDEX CONCURRENTLY "Event_2024_userId_idx" ON "public"."Event_2024" '
            '("userId");',
            'ALTER INDEX "public"."Event_userId_idx" ATTACH PARTITION '
            '"public"."Event_2024_userId_idx";',
        )
        assert len(plan.steps) == 7 and plan.sql == "\n".join(plan.steps)
        result = builder.run(plan)
        assert result.valid and result.cost_after < result.cost_before / 2
        attached = session.run(_attached, "Event_userId_idx")
        matview = builder.run(builder.plan_suggestion(suggestions(blind_url)[MATVIEW_KEY]))
    assert attached == ["Event_2024_userId_idx", "Event_2025_userId_idx", "Event_2026_userId_idx"]
    assert matview.valid
    left = suggestions(blind_url)
    assert ("Event", ("userId",)) not in left and MATVIEW_KEY not in left


MATVIEW_KEY = ("UserOrderStats", ("userId",))


def _attached(cur, parent: str) -> list[str]:
    cur.execute(
        "SELECT c.relname::text AS name FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid "
        "WHERE i.inhparent = %s::regclass ORDER BY 1",
        [f'"public"."{parent}"'],
    )
    return [row["name"] for row in cur.fetchall()]


def test_a_failed_partition_build_is_cleaned_up_parent_and_leftovers(blind_url):
    """A writer on one partition holds its build past the lock timeout: the build fails, the
    parent index is INVALID (not every partition attached), and the clean-up drops the parent
    (with the attached partition indexes) and the INVALID one left on the blocked partition."""
    writer = psycopg2.connect(blind_url, application_name="shop-api")
    try:
        with writer.cursor() as cur:
            cur.execute('UPDATE "Event_2025" SET "kind" = "kind" WHERE "id" = %s', ["e20000"])
        with DatabaseSession(blind_url, read_only=False) as session:
            builder = IndexBuilder(session, lock_timeout_s=1)
            plan = builder.plan("Event", ("kind",))
            with pytest.raises(IndexBuildFailed) as failed:
                builder.run(plan)
            writer.rollback()
            assert failed.value.invalid_index == "Event_kind_idx"
            dropped = builder.drop_invalid("Event_kind_idx")
            names = session.run(_index_names)
    finally:
        writer.close()
    assert 'DROP INDEX IF EXISTS "public"."Event_kind_idx";' in dropped
    assert not any("kind" in name for name in names), names


def _index_names(cur) -> list[str]:
    cur.execute("SELECT indexname FROM pg_indexes WHERE schemaname = 'public'")
    return [row["indexname"] for row in cur.fetchall()]
