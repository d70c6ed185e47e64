"""EXPLAIN for a query with ``$n`` parameters, as pg_stat_statements shows it: the generic plan.

PostgreSQL 16+ plans it directly (``EXPLAIN (GENERIC_PLAN)``); before that the query is prepared
and executed under EXPLAIN with NULL for every parameter and ``plan_cache_mode =
force_generic_plan``, so the planner cannot look at the NULLs. Nothing runs: EXPLAIN without
ANALYZE only plans, inside the caller's read-only transaction, which is rolled back. A prepared
statement outlives a rollback, so it is always deallocated.
"""

from __future__ import annotations

import itertools
import logging
import re
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

import psycopg2
from psycopg2 import sql
from psycopg2.extensions import cursor as Cursor

from fibuca_desktop.core.database.statement_check import single_statement
from fibuca_desktop.core.errors import QueryFailed

if TYPE_CHECKING:
    from fibuca_desktop.core.database.session import DatabaseSession

log = logging.getLogger(__name__)

LARGE_TABLE_ROWS = 10_000
_names = itertools.count(1)


class PlanNotPermitted(QueryFailed):
    """The role may not read a table the query names (``table``, as PostgreSQL wrote it)."""

    def __init__(self, message: str, table: str | None) -> None:
        super().__init__(message)
        self.table = table


_DENIED_TABLE = re.compile(r"permission denied for (?:table|relation|view) (.+)$")


def generic_plan(cur: Cursor, query: str, *, verbose: bool = True, prune: bool = True) -> dict:
    """The JSON plan (the ``Plan`` object) of ``query``'s generic plan. Raises ``UsageError`` for
    anything but one SELECT/UPDATE/DELETE, ``QueryFailed`` when the server cannot plan it.

    ``prune=False`` plans with partition pruning off: with NULL for every parameter, pruning
    removes every partition of a partitioned table (``Subplans Removed``), leaving no scan to
    read columns from or to cost an index for; the advisor plans so."""
    statement, _kind = single_statement(query)
    options = "FORMAT JSON, VERBOSE" if verbose else "FORMAT JSON"
    cur.execute("SAVEPOINT fibuca_explain")
    if not prune:
        cur.execute("SELECT set_config('enable_partition_pruning', 'off', true)")
    try:
        if cur.connection.server_version >= 160000:
            cur.execute(sql.SQL(f"EXPLAIN (GENERIC_PLAN, {options}) ") + sql.SQL(statement))
            document = _first_value(cur.fetchone())
        else:
            document = _explain_prepared(cur, statement, options)
    except psycopg2.DatabaseError as error:
        if cur.connection.closed:
            raise  # the connection is gone; the session reports it
        cur.execute("ROLLBACK TO SAVEPOINT fibuca_explain")
        _deallocate_all_ours(cur)
        if isinstance(error, psycopg2.OperationalError):  # statement timeout, cancel
            raise
        message = str(error).splitlines()[0]
        if isinstance(error, psycopg2.errors.InsufficientPrivilege):
            table = _DENIED_TABLE.search(message)
            raise PlanNotPermitted(
                f"PostgreSQL cannot plan this query: {message}", table and table.group(1)
            ) from None
        raise QueryFailed(f"PostgreSQL cannot plan this query: {message}") from None
    if not prune:
        cur.execute("SELECT set_config('enable_partition_pruning', 'on', true)")
    cur.execute("RELEASE SAVEPOINT fibuca_explain")
    return document[0]["Plan"]


def _explain_prepared(cur: Cursor, statement: str, options: str):
    name = sql.Identifier(f"fibuca_plan_{next(_names)}")
    cur.execute(sql.SQL("PREPARE {} AS ").format(name) + sql.SQL(statement))
    try:
        cur.execute("SET LOCAL plan_cache_mode = force_generic_plan")
        cur.execute(
            "SELECT cardinality(parameter_types) AS n FROM pg_prepared_statements WHERE name = %s",
            [name.strings[0]],
        )
        count = _first_value(cur.fetchone()) or 0
        nulls = sql.SQL(", ").join([sql.SQL("NULL")] * count)
        arguments = sql.SQL("({})").format(nulls) if count else sql.SQL("")
        cur.execute(sql.SQL(f"EXPLAIN ({options}) EXECUTE {{}}{{}}").format(name, arguments))
        return _first_value(cur.fetchone())
    finally:
        if not aborted(cur):
            cur.execute(sql.SQL("DEALLOCATE {}").format(name))


def aborted(cur: Cursor) -> bool:
    return cur.connection.get_transaction_status() == psycopg2.extensions.TRANSACTION_STATUS_INERROR


def _deallocate_all_ours(cur: Cursor) -> None:
    cur.execute("SELECT name FROM pg_prepared_statements WHERE name LIKE 'fibuca\\_plan\\_%%'")
    for row in cur.fetchall():
        cur.execute(sql.SQL("DEALLOCATE {}").format(sql.Identifier(_first_value(row))))


def _first_value(row):
    if row is None:
        return None
    return next(iter(row.values())) if isinstance(row, dict) else row[0]


@dataclass
class PlanNode:
    """One node of a plan, with what the panel shows and whether it scans a large table whole."""

    node_type: str
    total_cost: float
    startup_cost: float
    plan_rows: float
    relation: str | None = None
    schema: str | None = None
    alias: str | None = None
    index_name: str | None = None
    conditions: dict[str, object] = field(default_factory=dict)
    table_rows: float | None = None
    large_seq_scan: bool = False
    children: list[PlanNode] = field(default_factory=list)

    def walk(self):
        yield self
        for child in self.children:
            yield from child.walk()


_CONDITION_KEYS = ("Filter", "Index Cond", "Recheck Cond", "Hash Cond", "Merge Cond")
_CONDITION_KEYS += ("Join Filter", "Sort Key")


def plan_tree(cur: Cursor, plan: dict, large_table_rows: int = LARGE_TABLE_ROWS) -> PlanNode:
    """The JSON plan as ``PlanNode``s; sequential scans of tables over ``large_table_rows``
    (pg_class estimate) are flagged."""
    node = PlanNode(
        node_type=plan["Node Type"],
        total_cost=float(plan["Total Cost"]),
        startup_cost=float(plan["Startup Cost"]),
        plan_rows=float(plan["Plan Rows"]),
        relation=plan.get("Relation Name"),
        schema=plan.get("Schema"),
        alias=plan.get("Alias"),
        index_name=plan.get("Index Name"),
        conditions={key: plan[key] for key in _CONDITION_KEYS if key in plan},
    )
    if node.relation is not None:
        node.table_rows = table_rows(cur, node.schema or "public", node.relation)
        node.large_seq_scan = (
            node.node_type == "Seq Scan" and (node.table_rows or 0) >= large_table_rows
        )
    node.children = [plan_tree(cur, child, large_table_rows) for child in plan.get("Plans", [])]
    return node


def table_rows(cur: Cursor, schema: str, table: str) -> float | None:
    """The planner's row estimate for a table (pg_class.reltuples), None when never analysed."""
    cur.execute(
        "SELECT c.reltuples AS n FROM pg_class c JOIN pg_namespace s ON s.oid = c.relnamespace "
        "WHERE s.nspname = %s AND c.relname = %s",
        [schema, table],
    )
    row = cur.fetchone()
    value = _first_value(row)
    return None if value is None or value < 0 else float(value)


def explain(
    session: DatabaseSession, query: str, large_table_rows: int = LARGE_TABLE_ROWS
) -> PlanNode:
    """The generic plan of one query as a tree, in a rolled-back read-only transaction."""

    def work(cur: Cursor):
        return plan_tree(cur, generic_plan(cur, query), large_table_rows)

    return session.run(work)
