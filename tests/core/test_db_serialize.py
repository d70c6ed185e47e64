"""The real bytes a statement sends (EXPLAIN (ANALYZE, SERIALIZE)) on a real PostgreSQL 17: the
findMany without select comes to what pg_column_size says its rows hold, values are bound,
and a wrong count, a write, a timeout and a PostgreSQL 15 server each get their own message."""

from __future__ import annotations

import contextlib

import psycopg2
import pytest

from fibuca_desktop.core.database.serialize_measure import (
    SerializeUnsupported,
    serialized_bytes,
)
from fibuca_desktop.core.database.session import DatabaseSession
from fibuca_desktop.core.database.statement_check import placeholder_count
from fibuca_desktop.core.errors import QueryFailed, UsageError
from tests.core.test_db_overfetch import _truth_bytes_per_row
from tests.shop_schema import PAGE_COLUMNS, PAGE_TITLES, PAGES_FIND_MANY, normalised

# Measured on the shop: 71 kB (Output Volume, whole kB rounded up) against 71.1 kB of
# pg_column_size, 0.2 % apart: the description is uncompressed hex, so its text is its stored
# size, and the JSON's text is about its jsonb size. The bound leaves room for the kB rounding.
MARGIN = 0.05


def queryid_of(url: str, query: str) -> str:
    return _entry(url, query)[0]


def _entry(url: str, query: str) -> tuple[str, int, int]:
    """(queryid, calls, rows) of the workload's statement in pg_stat_statements."""
    with contextlib.closing(psycopg2.connect(url)) as connection, connection.cursor() as cur:
        cur.execute(
            "SELECT queryid::text, calls, rows FROM pg_stat_statements "
            "WHERE query = %s AND toplevel",
            [normalised(query)],
        )
        return cur.fetchone()


@pytest.fixture(scope="module")
def session17(shop17_url):
    with DatabaseSession(shop17_url) as session:
        yield session


def test_find_many_bytes_match_pg_column_size_and_the_estimate(session17, shop17_url):
    queryid, calls, rows = _entry(shop17_url, PAGES_FIND_MANY)
    found = serialized_bytes(session17, queryid, ["20", "0"])
    assert found.queryid == queryid and found.query == normalised(PAGES_FIND_MANY)
    # the measuring run is counted under its PREPARE, never as a call of the app's statement
    assert _entry(shop17_url, PAGES_FIND_MANY) == (queryid, calls, rows)
    assert found.rows == 20
    truth = 20 * _truth_bytes_per_row(shop17_url, PAGE_COLUMNS)
    assert found.output_bytes == pytest.approx(truth, rel=MARGIN)
    assert found.estimated_rows_per_call == pytest.approx(20.0)
    assert found.estimated_bytes_per_call == pytest.approx(truth, rel=0.20)  # the finder's bound
    assert found.execution_ms > 0 and found.serialize_ms > 0
    assert "sent for 20 rows" in found.summary and "estimated" in found.summary
    titles = serialized_bytes(session17, queryid_of(shop17_url, PAGE_TITLES), ["20", "0"])
    assert titles.rows == 20 and titles.output_bytes < found.output_bytes / 20


def test_values_are_bound_not_pasted(session17):
    five = serialized_bytes(session17, normalised(PAGE_TITLES), ["5", "10"])
    assert five.rows == 5 and five.queryid is not None  # the text is a known entry
    sneaky = 'SELECT "id" FROM "ProductPage" WHERE "title" = $1'
    assert serialized_bytes(session17, sneaky, ["x' OR '1'='1"]).rows == 0
    assert serialized_bytes(session17, sneaky, ["Product 7 page"]).rows == 1


def test_a_wrong_number_of_values_says_how_many_and_how(session17, shop17_url):
    queryid = queryid_of(shop17_url, PAGES_FIND_MANY)
    with pytest.raises(UsageError) as error:
        serialized_bytes(session17, queryid, ["20"])
    message = str(error.value)
    assert "needs 2 parameter value(s) ($1 bigint, $2 bigint) and got 1" in message
    assert "--param VALUE" in message
    with pytest.raises(UsageError, match="takes no parameters, but 1 value"):
        serialized_bytes(session17, 'SELECT count(*) FROM "Tag"', ["1"])
    with pytest.raises(UsageError, match="cannot run the statement with these values"):
        serialized_bytes(session17, queryid, ["twenty", "0"])
    # nothing prepared is left behind on the pooled connections
    assert session17.run(_ours) == 0
    assert placeholder_count(normalised(PAGES_FIND_MANY)) == 2
    assert placeholder_count("SELECT '$3', \"$4\" FROM t WHERE a = $1 /* $9 */") == 1


def _ours(cur) -> int:
    cur.execute("SELECT count(*) AS n FROM pg_prepared_statements WHERE name LIKE 'fibuca%%'")
    return cur.fetchone()["n"]


def test_a_statement_calling_nextval_is_refused_by_the_read_only_transaction(
    session17, pg17_cluster
):
    with contextlib.closing(pg17_cluster.admin("shop17")) as admin, admin.cursor() as cur:
        cur.execute("CREATE SEQUENCE IF NOT EXISTS page_views")
        cur.execute("GRANT USAGE ON SEQUENCE page_views TO fibuca")
    statement = 'SELECT nextval(\'page_views\'), "id" FROM "ProductPage" LIMIT $1'
    with pytest.raises(QueryFailed) as error:
        serialized_bytes(session17, statement, ["3"])
    message = str(error.value)
    assert "refused to run this statement in a read-only transaction" in message
    assert "cannot execute nextval() in a read-only transaction" in message
    with contextlib.closing(pg17_cluster.admin("shop17")) as admin, admin.cursor() as cur:
        cur.execute("SELECT last_value, is_called FROM page_views")
        assert cur.fetchone() == (1, False)  # never advanced
    with pytest.raises(UsageError, match="Only SELECT, UPDATE and DELETE"):
        serialized_bytes(session17, 'INSERT INTO "Tag" VALUES ($1, $2, $3)', ["t", "c1", "x"])
    with pytest.raises(UsageError, match="Only a SELECT"):
        serialized_bytes(session17, 'DELETE FROM "Tag" WHERE "id" = $1', ["t1"])
    assert session17.run(_ours) == 0


def test_the_statement_timeout_cancels_it_with_a_clear_message(session17):
    with pytest.raises(QueryFailed) as error:
        serialized_bytes(session17, "SELECT pg_sleep($1)", ["30"], timeout_s=0.5)
    assert "longer than the measuring timeout (0.5 s) and was cancelled" in str(error.value)
    assert session17.run(_ours) == 0
    assert serialized_bytes(session17, "SELECT pg_sleep($1)", ["0"]).rows == 1  # works again


def test_an_unknown_queryid_says_where_to_find_one(session17):
    with pytest.raises(UsageError, match="No statement with queryid 12345"):
        serialized_bytes(session17, "12345")


def test_postgresql_15_says_it_needs_17(shop_url):
    with DatabaseSession(shop_url) as session, pytest.raises(SerializeUnsupported) as error:
        serialized_bytes(session, normalised(PAGE_TITLES), ["5", "0"])
    message = str(error.value)
    assert "needs PostgreSQL 17 or later (this server is 15." in message
