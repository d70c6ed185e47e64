"""Overview, slow queries and EXPLAIN on the real shop."""

from __future__ import annotations

import contextlib
import threading
import time

import psycopg2
import pytest

from fibuca_desktop.core.database.explain import explain
from fibuca_desktop.core.database.overview import overview
from fibuca_desktop.core.database.session import DatabaseSession, PoolSettings
from fibuca_desktop.core.database.slow_queries import (
    SORT_KEYS,
    SlowQueryThresholds,
    slow_queries,
)
from fibuca_desktop.core.errors import QueryFailed, UsageError
from tests.shop_schema import ITEMS_OF_ORDER, ORDERS_BY_STATUS, ORDERS_OF_USER, normalised


def wait_for(condition, seconds: float = 20.0):
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        value = condition()
        if value:
            return value
        time.sleep(0.05)
    raise AssertionError("condition not reached")


SLEEP = "SELECT pg_sleep(60)"


@contextlib.contextmanager
def report_job(url: str):
    """Another client running a long query until the block ends (then it is cancelled)."""
    connection = psycopg2.connect(url, application_name="report-job")

    def run() -> None:
        with contextlib.suppress(psycopg2.errors.QueryCanceled), connection.cursor() as cur:
            cur.execute(SLEEP)

    job = threading.Thread(target=run)
    job.start()
    try:
        yield
    finally:
        connection.cancel()
        job.join()
        connection.close()


def test_overview_counts_clients_stuck_sessions_and_long_queries(pg_cluster, shop_url):
    api = [psycopg2.connect(shop_url, application_name="shop-api") for _ in range(7)]
    try:
        with api[0].cursor() as cur:
            cur.execute("SELECT 1")  # and leave the transaction open: idle in transaction
        with report_job(shop_url), DatabaseSession(shop_url) as session:

            def seen():
                view = session.run(overview, 0.3)
                return view if view.long_running else None

            view = wait_for(seen)
    finally:
        for connection in api:
            connection.close()
    assert view.server_version.startswith("15.")
    assert view.database == "shop" and view.database_bytes > 10_000_000
    assert view.max_connections == 60
    assert 0.0 < view.cache_hit_rate <= 1.0
    clients = {(c.application, c.client): c for c in view.clients}
    assert clients[("shop-api", "127.0.0.1")].connections == 7
    assert clients[("shop-api", "127.0.0.1")].over_limit
    assert not clients[("fibuca-desktop", "127.0.0.1")].over_limit
    assert view.by_application["shop-api"] == 7 and view.by_user["fibuca"] >= 9
    assert [s.application for s in view.idle_in_transaction] == ["shop-api"]
    assert [(s.application, s.query) for s in view.long_running] == [("report-job", SLEEP)]
    assert view.by_state["idle in transaction"] == 1 and view.by_state["active"] >= 2


def test_slow_queries_from_pg_stat_statements(shop_url):
    with DatabaseSession(shop_url) as session:
        low = SlowQueryThresholds(min_mean_ms=0.0, min_calls=30)
        report = session.run(slow_queries, low)
        pghero = session.run(slow_queries)
    assert report.statements_available and report.message is None
    texts = [q.query for q in report.queries]
    for query in (ORDERS_OF_USER, ITEMS_OF_ORDER, ORDERS_BY_STATUS):
        assert normalised(query) in texts
    assert (
        sum(t.startswith('SELECT "public"."User"."id", "public"."User"."email"') for t in texts)
        == 2
    )
    assert all(q.calls >= 30 and q.source == "pg_stat_statements" for q in report.queries)
    for key, attribute in zip(SORT_KEYS, ("total_ms", "mean_ms", "calls", "rows"), strict=True):
        values = [getattr(q, attribute) for q in report.sorted_by(key)]
        assert values == sorted(values, reverse=True)
    status = next(q for q in report.queries if q.query == normalised(ORDERS_BY_STATUS))
    assert status.rows == 30 * 15_000 and status.total_ms == pytest.approx(status.mean_ms * 30)
    assert pghero.queries == []  # nothing reaches 20 ms and 100 calls


def test_without_the_extension_say_how_and_sample_activity(pg_cluster):
    url = pg_cluster.clone("shop_nostats", extensions=())
    with report_job(url), DatabaseSession(url) as session:
        wait_for(lambda: session.run(_running, SLEEP))
        report = session.run(slow_queries, SlowQueryThresholds(min_mean_ms=0.0), "total", 0.2)
    assert not report.statements_available
    assert report.message == (
        "pg_stat_statements is not enabled: run CREATE EXTENSION pg_stat_statements; "
        'in database "shop_nostats" as a superuser.'
    )
    assert [(q.query, q.source) for q in report.queries] == [(SLEEP, "pg_stat_activity")]


def _running(cur, query: str) -> bool:
    cur.execute("SELECT count(*) AS n FROM pg_stat_activity WHERE query = %s", [query])
    return cur.fetchone()["n"] > 0


def test_explain_gives_the_generic_plan_as_a_tree(shop_url):
    with DatabaseSession(shop_url) as session:
        tree = explain(session, normalised(ORDERS_OF_USER))
    nodes = list(tree.walk())
    assert [n.node_type for n in nodes] == ["Limit", "Sort", "Seq Scan"]
    scan = nodes[-1]
    assert (scan.relation, scan.schema, scan.large_seq_scan) == ("Order", "public", True)
    assert scan.table_rows == pytest.approx(60_000, rel=0.05)
    assert scan.conditions == {"Filter": '("Order"."userId" = $1)'}
    assert nodes[1].conditions == {"Sort Key": ['"Order"."createdAt" DESC']}
    assert tree.total_cost >= scan.total_cost > 0


def test_explain_update_delete_and_quoted_names_without_running_them(shop_url):
    with DatabaseSession(shop_url, PoolSettings(size=1)) as session:
        update = explain(session, 'UPDATE "Order" SET "status" = $1 WHERE "userId" = $2;')
        delete = explain(session, 'DELETE FROM "Audit ""Log""" WHERE "actor""Id" = $1')
        small = explain(session, 'SELECT * FROM "Tag" WHERE "categoryId" = $1')
        assert update.node_type == "ModifyTable" and update.children[0].large_seq_scan
        assert delete.children[0].relation == 'Audit "Log"'
        assert small.node_type == "Seq Scan" and not small.large_seq_scan  # 50 rows
        assert session.run(_scalar, 'SELECT count(*) AS n FROM "Audit ""Log"""') == 12_000
        assert session.run(_prepared) == 0  # nothing left behind on the connection


def test_explain_refuses_anything_but_one_select_update_delete(shop_url):
    with DatabaseSession(shop_url, PoolSettings(size=1)) as session:
        for text in (
            'INSERT INTO "Tag" VALUES ($1, $2, $3)',
            'SELECT 1; DROP TABLE "Order"',
            'DROP TABLE "Order"',
            'WITH x AS (DELETE FROM "Tag" RETURNING *) SELECT * FROM x',
        ):
            with pytest.raises(UsageError):
                explain(session, text)
        with pytest.raises(QueryFailed, match='relation "Missing" does not exist'):
            explain(session, 'SELECT * FROM "Missing" WHERE id = $1')
        assert session.run(_prepared) == 0
        assert session.run(_scalar, 'SELECT count(*) AS n FROM "Order"') == 60_000


def _scalar(cur, query: str):
    cur.execute(query)
    return cur.fetchone()["n"]


def _prepared(cur) -> int:
    cur.execute("SELECT count(*) AS n FROM pg_prepared_statements")
    return cur.fetchone()["n"]


def test_without_the_library_preloaded_say_so(pg_cluster):
    """The extension exists but the server was started without the library (restarted twice)."""
    url = pg_cluster.clone("shop_nopreload")
    with contextlib.closing(pg_cluster.admin()) as admin, admin.cursor() as cur:
        cur.execute("ALTER SYSTEM SET shared_preload_libraries = 'plpgsql'")
    pg_cluster.stop()
    pg_cluster.start()
    try:
        with DatabaseSession(url) as session:
            report = session.run(slow_queries, SlowQueryThresholds(), "total", 0.0)
    finally:
        with contextlib.closing(pg_cluster.admin()) as admin, admin.cursor() as cur:
            cur.execute("ALTER SYSTEM RESET shared_preload_libraries")
        pg_cluster.stop()
        pg_cluster.start()
    assert not report.statements_available
    assert report.message == (
        "pg_stat_statements is not enabled: add it to postgresql.conf: shared_preload_libraries "
        "= 'pg_stat_statements' (keep any libraries already listed there, comma-separated), "
        "then restart PostgreSQL."
    )
