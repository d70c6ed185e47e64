"""The two places that read text without a server: statement checks and plan conditions.

Conditions are written exactly as EXPLAIN (VERBOSE) prints them on PostgreSQL 15.
"""

from __future__ import annotations

import pytest

from fibuca_desktop.core.database.plan_columns import ScanColumns, comparison, conjuncts, scans
from fibuca_desktop.core.database.statement_check import select_list_length, single_statement
from fibuca_desktop.core.errors import UsageError


@pytest.mark.parametrize(
    ("text", "kind"),
    [
        ("SELECT 1;", "SELECT"),
        ("  -- a comment; with a semicolon\n  select ';' as x  ", "SELECT"),
        ('/* ; */ UPDATE "a;b" SET "c;" = $1 WHERE id = $2', "UPDATE"),
        ("delete from t where x = $$;$$ or y = $tag$ ; $tag$", "DELETE"),
        ("SELECT E'it\\'s; fine' FROM t", "SELECT"),
        ("SELECT 'it''s; fine' FROM t", "SELECT"),
        # common table expressions: the statement after them counts
        ('WITH "o" AS MATERIALIZED (SELECT 1 FROM t) SELECT * FROM "o"', "SELECT"),
        ("WITH a AS NOT MATERIALIZED (SELECT 1), b (x) AS (SELECT 2) DELETE FROM t", "DELETE"),
        (
            "WITH RECURSIVE r(n) AS (VALUES (1) UNION ALL SELECT n + 1 FROM r) SELECT n FROM r",
            "SELECT",
        ),
    ],
)
def test_single_statements_are_accepted(text, kind):
    assert single_statement(text)[1] == kind


@pytest.mark.parametrize(
    ("text", "why"),
    [
        ("SELECT 1; DROP TABLE t", "several"),
        ("INSERT INTO t VALUES ($1)", "not INSERT"),
        ("WITH d AS (DELETE FROM t RETURNING *) SELECT * FROM d", "not WITH"),
        ("WITH a AS (SELECT 1) INSERT INTO t SELECT * FROM a", "not INSERT"),
        ("EXPLAIN ANALYZE DELETE FROM t", "not EXPLAIN"),
        ("SELECT 'unclosed", "unclosed quote"),
        ("SELECT $x$ unclosed", "unclosed dollar"),
        ("SELECT 1 /* unclosed", "unclosed /*"),
        ("", "not this"),
    ],
)
def test_anything_else_is_refused(text, why):
    with pytest.raises(UsageError, match=why):
        single_statement(text)


def test_conjuncts_split_on_top_level_and_only():
    assert conjuncts('(("Order"."userId" = $1) AND ("Order".status = $2))') == [
        '"Order"."userId" = $1',
        '"Order".status = $2',
    ]
    assert conjuncts("((\"Order\".note = 'a AND b'::text) AND (x.y > 1))") == [
        "\"Order\".note = 'a AND b'::text",
        "x.y > 1",
    ]
    assert conjuncts('(("Order"."userId" = $1) OR ("Order".status = $2))') == []


@pytest.mark.parametrize(
    ("term", "expected"),
    [
        ('"Order"."userId" = $1', ("userId", "=", False)),
        ('$1 < "Order"."createdAt"', ("createdAt", ">", False)),
        ('"Order".status = ANY ($1)', ("status", "=", False)),
        ('"Order"."userId" = j1.id', ("userId", "=", True)),
        ('"Order"."total" <> $1', None),  # no index helps "not equal"
        ('("Order"."userId")::text = $1', None),  # a cast on the column
        ('lower("Order".status) = $1', None),  # a function of the column
        ('"Order".status ~~ $1', None),  # LIKE
        ('"Order"."createdAt" > "Order"."paidAt"', None),  # two columns of the same row
        ('"User".id = $1', None),  # another table
    ],
)
def test_comparisons_are_read_conservatively(term, expected):
    assert comparison(term, "Order") == expected


def test_quoted_names_with_quotes_inside():
    assert comparison('"Audit ""Log"""."actor""Id" = $1', 'Audit "Log"') == ('actor"Id', "=", False)


def test_candidates_from_a_prisma_plan():
    plan = {
        "Node Type": "Limit",
        "Plans": [
            {
                "Node Type": "Sort",
                "Sort Key": ['"Order"."createdAt" DESC'],
                "Plans": [
                    {
                        "Node Type": "Seq Scan",
                        "Schema": "public",
                        "Relation Name": "Order",
                        "Alias": "Order",
                        "Plan Rows": 3,
                        "Filter": '(("Order"."userId" = $1) AND ("Order"."createdAt" >= $2))',
                    }
                ],
            }
        ],
    }
    (scan,) = scans(plan, "public", {"Order": 60_000}, 10_000)
    assert (scan.equality, scan.range, scan.sort) == (["userId"], ["createdAt"], ["createdAt"])
    # Equality + sort and equality + range give the same index; equality alone is tried too.
    assert scan.candidates() == [("userId", "createdAt"), ("userId",)]
    assert scans(plan, "public", {"Order": 500}, 10_000) == []  # a small table
    assert scans(plan, "sales", {"Order": 60_000}, 10_000) == []  # another schema


def test_candidates_are_capped_and_unique():
    scan = ScanColumns("public", "T", "T", 1, ["a", "b", "c", "d"], [], ["j"], [])
    assert scan.candidates() == [("a", "b", "c"), ("j",)]


def test_build_progress_fraction_follows_the_phases_and_their_counts():
    from fibuca_desktop.core.database.index_build import PHASES, BuildProgress

    def at(phase, blocks=(0, 0), tuples=(0, 0)):
        return BuildProgress(phase, *blocks, *tuples).fraction

    assert at("initializing") == 0.0
    assert at("building index: scanning table", blocks=(50, 100)) == pytest.approx(2.5 / 10)
    assert at("index validation: scanning table", tuples=(1, 4)) == pytest.approx(8.25 / 10)
    assert at("waiting for old snapshots", blocks=(9, 3)) == 1.0  # counts never overshoot
    assert at("a phase of a newer PostgreSQL") == 0.0
    assert len(PHASES) == 10


@pytest.mark.parametrize(
    ("query", "count"),
    [
        ('SELECT "t"."a", "t"."b" FROM "t" ORDER BY "t"."c" DESC', 2),  # c rides along, unseen
        ("SELECT DISTINCT ON (a, b) a, f(b, c) FROM t", 2),
        ('select "x", "from" , \'a,b\' from t', 3),  # quoted commas and names are no FROM
        ("SELECT count(*) FROM t", 1),
        ("SELECT (SELECT max(x) FROM u), a FROM t /* , b */", 2),
        ("SELECT a AS fromage FROM t", 1),
        ("SELECT * FROM t", None),
        ("SELECT t.*, 1 FROM t", None),
        ("SELECT 1", None),  # no FROM: nothing to tell it by
        ("UPDATE t SET a = 1", None),
        ("SELECT 'unclosed FROM t", None),
    ],
)
def test_the_select_list_is_counted_at_the_top_level(query, count):
    assert select_list_length(query) == count
