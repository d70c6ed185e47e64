"""Over-fetching on the real shop: the findMany without select over the wide ProductPage table
ranks first, its bytes match pg_column_size, and the focused query on it is not flagged."""

from __future__ import annotations

import base64
import contextlib
import json

import psycopg2
import pytest

from fibuca_desktop.core.database.overfetch import (
    WIDE_BYTES,
    find_overfetch,
    overfetch,
    prisma_call,
    prisma_shape,
    sql_comment_tags,
    table_columns,
)
from fibuca_desktop.core.database.session import DatabaseSession
from fibuca_desktop.core.errors import UsageError
from tests.shop_schema import PAGE_COLUMNS, PAGE_TITLES, PAGES_FIND_MANY, normalised

TOLERANCE = 0.20  # the bound on bytes against pg_column_size


@pytest.fixture(scope="module")
def report(shop_url):
    with DatabaseSession(shop_url) as session:
        return overfetch(session)


@pytest.fixture(scope="module")
def everything(shop_url):
    """Every statement's reads, wide or not."""
    with DatabaseSession(shop_url) as session:
        return overfetch(session, include_all=True)


def _truth_bytes_per_row(url: str, columns: tuple[str, ...]) -> float:
    """The average stored size of a ProductPage row's ``columns``, measured over every row."""
    sizes = " + ".join(f'coalesce(pg_column_size("{c}"), 0)' for c in columns)
    with contextlib.closing(psycopg2.connect(url)) as connection, connection.cursor() as cur:
        cur.execute(f'SELECT avg({sizes})::float8 FROM "ProductPage"')
        return cur.fetchone()[0]


def _entry(report, query: str, table: str = "ProductPage"):
    text = normalised(query)
    [entry] = [q for q in report.queries if q.query == text and q.table == table]
    return entry


def test_the_find_many_without_select_ranks_first_with_true_bytes(report, shop_url):
    first = report.queries[0]
    assert first.query == normalised(PAGES_FIND_MANY) and first.table == "ProductPage"
    assert first.flagged and first.all_columns
    assert set(first.wide_columns) == {"description", "specs"}
    assert first.rows_per_call == pytest.approx(20.0)
    truth = 20.0 * _truth_bytes_per_row(shop_url, PAGE_COLUMNS)
    assert first.bytes_per_call == pytest.approx(truth, rel=TOLERANCE)
    assert first.total_bytes == pytest.approx(first.bytes_per_call * first.calls)
    assert first.calls == 30
    # pg_stats alone would have counted the out-of-line description as its 18-byte pointer
    assert first.bytes_per_call > 20 * 2500
    wide = 20.0 * _truth_bytes_per_row(shop_url, ("description", "specs"))
    assert first.saved_bytes_per_call == pytest.approx(wide, rel=TOLERANCE)


def test_the_fix_is_said_in_prismas_terms(report):
    first = report.queries[0]
    assert first.call.tagged and first.call.client == "prisma.productPage.findMany"
    assert first.fix.startswith(
        "prisma.productPage.findMany({ omit: { description: true, specs: true } }) saves "
    )
    assert "kB per call" in first.fix and "select: { id: true, productId: true" in first.fix
    data = first.to_json()
    assert set(data) >= {
        "queryid",
        "query",
        "table",
        "allColumns",
        "rowsPerCall",
        "bytesPerCall",
        "totalBytes",
        "wideColumns",
        "fix",
    }
    assert data["wideColumns"] == ["description", "specs"] and data["allColumns"] is True
    assert isinstance(data["queryid"], str) and int(data["queryid"])


def test_the_focused_query_on_the_wide_table_is_not_flagged(report, everything, shop_url):
    assert [q.query for q in report.queries] == [normalised(PAGES_FIND_MANY)]  # the only one
    titles = _entry(everything, PAGE_TITLES)
    assert not titles.flagged and not titles.all_columns and titles.wide_columns == ()
    assert titles.returned == ("id", "title")
    truth = 20.0 * _truth_bytes_per_row(shop_url, ("id", "title"))
    assert titles.bytes_per_call == pytest.approx(truth, rel=TOLERANCE)
    assert titles.call == prisma_call(PAGE_TITLES, "ProductPage", 20.0)  # untagged: a guess
    assert titles.fix == "nothing to drop: no wide columns are returned"


def test_narrow_tables_read_whole_are_not_flagged(everything):
    """Prisma's findMany on "Order" returns every column, but none of them is wide: listed with
    ``include_all`` (it moves more bytes than any other statement), never flagged."""
    orders = [q for q in everything.queries if q.table == "Order" and q.all_columns]
    assert orders and not any(q.flagged for q in orders)
    assert all(q.wide_columns == () for q in everything.queries if q.table != "ProductPage")
    assert [q.query for q in everything.queries if q.flagged] == [normalised(PAGES_FIND_MANY)]
    totals = [q.total_bytes for q in everything.queries]
    assert totals == sorted(totals, reverse=True)


def test_a_join_counts_each_tables_columns_by_alias(everything):
    """ORDERS_OF_EMAIL returns two "Order" columns and none of the joined "User" alias j1."""
    joined = [q for q in everything.queries if "INNER JOIN" in q.query]
    assert [(q.table, q.returned) for q in joined] == [("Order", ("id", "total"))]


def test_column_sizes_measure_what_toast_keeps_out_of_line(shop_url):
    with DatabaseSession(shop_url) as session:
        columns = {c.name: c for c in session.run(table_columns, "public", "ProductPage")}
    assert columns["description"].out_of_line and columns["description"].wide
    assert columns["description"].avg_bytes > 2500
    assert columns["specs"].avg_bytes >= WIDE_BYTES and not columns["specs"].out_of_line
    assert not columns["title"].wide and columns["updatedAt"].avg_bytes == 8


def test_the_statement_limit_is_kept_and_checked(shop_url):
    with DatabaseSession(shop_url) as session:
        few = session.run(find_overfetch, 2, True)
        with pytest.raises(UsageError):
            session.run(find_overfetch, 0)
    statements = {q.queryid for q in few.queries}
    assert len(statements) <= 2


def test_without_pg_stat_statements_it_says_how_to_enable_it(pg_cluster):
    url = pg_cluster.clone("shop_no_statements", extensions=())
    with DatabaseSession(url) as session:
        report = overfetch(session)
    assert not report.available and report.queries == []
    assert "CREATE EXTENSION pg_stat_statements" in report.message


# --- Prisma's comment tags, as data ----------------------------------------------------------


def _tagged(value: str) -> str:
    return f"SELECT 1 FROM \"User\" /*prismaQuery='{value}',traceparent='00-ab-cd-01'*/"


def test_sqlcommenter_tags_are_decoded():
    shape = base64.urlsafe_b64encode(json.dumps({"where": {"id": 1}}).encode()).rstrip(b"=")
    query = _tagged(f"User.findUnique:{shape.decode()}")
    assert sql_comment_tags(query) == {
        "prismaQuery": f"User.findUnique:{shape.decode()}",
        "traceparent": "00-ab-cd-01",
    }
    assert prisma_call(query, "User", 1.0).client == "prisma.user.findUnique"
    assert prisma_shape(query) == {"where": {"id": 1}}
    escaped = "SELECT 1 /*note='it%27s%20here',prismaQuery='Post.count'*/"
    assert sql_comment_tags(escaped) == {"note": "it's here", "prismaQuery": "Post.count"}


@pytest.mark.parametrize(
    "value",
    ["", "queryRaw", "User.", ".findMany", "User.find Many", "__import__('os').x:e30", "a.b:!!!"],
)
def test_odd_tags_fall_back_to_the_table_and_never_run(value):
    call = prisma_call(_tagged(value), "Product", 5.0)
    if value == "a.b:!!!":
        assert call.client == "prisma.a.b" and prisma_shape(_tagged(value)) is None
    else:
        assert (call.model, call.action, call.tagged) == ("Product", "findMany", False)
    assert prisma_call("SELECT 1", "Product", 1.0).action == "findFirst"
