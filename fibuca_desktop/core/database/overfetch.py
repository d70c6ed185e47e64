"""Over-fetching: the statements that return wide columns nobody asked for, ranked by bytes.

Prisma's ``findMany()`` without ``select`` sends every column of the model's table, wide text and
JSON included, on every call; on a 500 MB server those bytes are what fills the backend's heap.
For each statement in pg_stat_statements that reads a table:

1. its generic plan (EXPLAIN VERBOSE, nothing runs) says which of the table's columns it
   returns: the top node's ``Output``, qualified by the scan's alias (bare names when the
   statement reads one table);
2. each column's average size: ``pg_stats.avg_width``, except where that cannot be trusted:
   a value stored out of line (TOAST) counts there as its 18-byte pointer, so for the
   toastable columns of a table whose TOAST relation holds data the size is measured with
   ``pg_column_size`` over a page sample (``TABLESAMPLE SYSTEM``, at most ``SAMPLE_ROWS`` rows);
3. bytes per call = rows per call (pg_stat_statements' rows / calls) x the returned columns'
   sizes; total bytes = that x calls.

A statement is **flagged** when it returns every column of a table that has wide columns (an
average of at least ``WIDE_BYTES``, or values TOAST keeps out of line). The fix is said in
Prisma's terms: the model and action from Prisma's SQL comment tag (``prismaQuery='Model.action:
shape'``, the sqlcommenter plugin) when the backend sends it, else from the table's name; the
``omit`` that drops the wide columns; and the bytes per call it saves.
"""

from __future__ import annotations

import base64
import binascii
import json
import logging
import math
import re
from dataclasses import dataclass, field, replace
from typing import TYPE_CHECKING
from urllib.parse import unquote

import psycopg2
from psycopg2 import sql
from psycopg2.extensions import cursor as Cursor

from fibuca_desktop.core.byte_size import human_bytes
from fibuca_desktop.core.database.explain import generic_plan
from fibuca_desktop.core.database.plan_columns import IDENTIFIER
from fibuca_desktop.core.database.plan_columns import unquote as unquote_name
from fibuca_desktop.core.database.slow_queries import (
    HIDDEN,
    VISIBLE_HERE,
    starting_with,
    statements_schema,
    statements_view,
)
from fibuca_desktop.core.database.statement_check import select_list_length
from fibuca_desktop.core.errors import FibucaError, UsageError

if TYPE_CHECKING:
    from fibuca_desktop.core.database.session import DatabaseSession

log = logging.getLogger(__name__)

WIDE_BYTES = 512  # an average value at least this large is a wide column
SAMPLE_ROWS = 3000  # rows sampled per table to measure values TOAST keeps out of line
DEFAULT_LIMIT = 100  # statements looked at: the ones returning the most rows in all
TOAST_POINTER_BYTES = 18  # what pg_stats.avg_width counts for a value stored out of line
_SCANS = {
    "Seq Scan",
    "Index Scan",
    "Index Only Scan",
    "Bitmap Heap Scan",
    "Tid Scan",
    "Tid Range Scan",
    "Sample Scan",
}
_SYSTEM_SCHEMAS = {"pg_catalog", "information_schema", "pg_toast"}
_QUALIFIED = re.compile(rf"^({IDENTIFIER})\.({IDENTIFIER})$")
_BARE = re.compile(rf"^({IDENTIFIER})$")
_COMMENT = re.compile(r"/\*(.*?)\*/\s*;?\s*$", re.DOTALL)
_TAG = re.compile(r"([A-Za-z0-9_.%-]+)='((?:[^'\\]|\\.)*)'")
MAX_TAG_TEXT = 4096  # a prismaQuery shape longer than this is not decoded


@dataclass(frozen=True)
class ColumnSize:
    """One column of a table: its average stored size and why it counts as wide."""

    name: str
    type: str
    avg_bytes: float
    out_of_line: bool = False  # TOAST keeps its values out of line (measured, not pg_stats)

    @property
    def wide(self) -> bool:
        return self.avg_bytes >= WIDE_BYTES or self.out_of_line


@dataclass(frozen=True)
class PrismaCall:
    """Which Prisma call sent a statement: from its ``prismaQuery`` tag, else a guess."""

    model: str
    action: str
    tagged: bool = False  # from Prisma's own comment tag

    @property
    def client(self) -> str:
        """How the backend's code names it: ``prisma.productPage.findMany``."""
        return f"prisma.{self.model[:1].lower()}{self.model[1:]}.{self.action}"


@dataclass(frozen=True)
class OverFetch:
    """One statement's reads of one table: what it returns, how many bytes, and the fix."""

    queryid: str
    query: str
    schema: str
    table: str
    calls: int
    rows_per_call: float
    returned: tuple[str, ...]
    all_columns: bool
    bytes_per_call: float
    wide_columns: tuple[str, ...]  # the wide ones among those returned
    saved_bytes_per_call: float  # by dropping the wide columns
    call: PrismaCall
    fix: str

    @property
    def total_bytes(self) -> float:
        return self.bytes_per_call * self.calls

    @property
    def flagged(self) -> bool:
        """Every column of a table with wide columns: Prisma's default without ``select``."""
        return self.all_columns and bool(self.wide_columns)

    def to_json(self) -> dict:
        return {
            "queryid": self.queryid,
            "query": self.query,
            "table": self.table,
            "schema": self.schema,
            "allColumns": self.all_columns,
            "rowsPerCall": round(self.rows_per_call, 3),
            "bytesPerCall": round(self.bytes_per_call, 1),
            "totalBytes": round(self.total_bytes, 1),
            "wideColumns": list(self.wide_columns),
            "flagged": self.flagged,
            "savedBytesPerCall": round(self.saved_bytes_per_call, 1),
            "prisma": self.call.client,
            "fix": self.fix,
        }


@dataclass
class OverFetchReport:
    queries: list[OverFetch] = field(default_factory=list)
    available: bool = True
    message: str | None = None  # why nothing could be read (pg_stat_statements missing)
    skipped: int = 0  # statements that could not be planned (not SELECT, denied, gone)

    def to_json(self) -> dict:
        return {
            "queries": [q.to_json() for q in self.queries],
            "available": self.available,
            "message": self.message,
            "skipped": self.skipped,
        }


def overfetch(
    session: DatabaseSession, limit: int = DEFAULT_LIMIT, include_all: bool = False
) -> OverFetchReport:
    """The report, read on one pooled connection in a read-only, rolled-back transaction."""
    return session.run(lambda cur: find_overfetch(cur, limit, include_all))


def find_overfetch(
    cur: Cursor, limit: int = DEFAULT_LIMIT, include_all: bool = False
) -> OverFetchReport:
    """The statements of this database that return wide columns (with ``include_all``: every
    statement's reads of every table), largest total bytes first."""
    if limit < 1:
        raise UsageError("the statement limit must be at least 1")
    view = statements_schema(cur)
    if view is None:
        return OverFetchReport(
            available=False,
            message="pg_stat_statements is not installed in this database: run CREATE "
            "EXTENSION pg_stat_statements; as a superuser (it must be in "
            "shared_preload_libraries)",
        )
    report = OverFetchReport()
    sizes = _TableSizes(cur)
    for row in _statements(cur, view, limit):
        try:
            reads = _reads(cur, row, sizes)
        except FibucaError as error:  # not a SELECT, a table we may not read, dropped since
            log.debug("over-fetch: %s skipped: %s", row["queryid"], error)
            report.skipped += 1
            continue
        report.queries += [found for found in reads if include_all or found.wide_columns]
    report.queries.sort(key=lambda q: q.total_bytes, reverse=True)
    return report


def statement_estimate(cur: Cursor, queryid: str) -> list[OverFetch]:
    """The estimate for one pg_stat_statements entry of this database: its reads of every table
    (wide or not); [] when the entry is gone, never ran or cannot be planned."""
    schema = statements_schema(cur)
    if schema is None:
        return []
    cur.execute(
        sql.SQL(
            "SELECT queryid::text AS queryid, min(query) AS query, sum(calls)::bigint AS calls, "
            "sum(rows)::bigint AS rows FROM {view} WHERE "
            + VISIBLE_HERE
            + "AND queryid::text = %s AND "
            + starting_with("SELECT")
            + "GROUP BY queryid HAVING sum(calls) > 0"
        ).format(view=statements_view(schema)),
        [HIDDEN, queryid],
    )
    row = cur.fetchone()
    if row is None:
        return []
    try:
        return _reads(cur, row, _TableSizes(cur))
    except FibucaError as error:
        log.debug("over-fetch: no estimate for %s: %s", queryid, error)
        return []


def _reads(cur: Cursor, row: dict, sizes: _TableSizes) -> list[OverFetch]:
    """One statement's reads of each table it returns columns of, judged."""
    plan = generic_plan(cur, row["query"])
    return [
        _judge(row, schema, table, columns, sizes.of(schema, table))
        for (schema, table), columns in _returned(plan, row["query"]).items()
    ]


def _statements(cur: Cursor, schema: str, limit: int) -> list[dict]:
    """pg_stat_statements' SELECTs of this database that returned rows, most rows first. Only
    texts starting with SELECT: that also keeps out the entries of statements run inside EXPLAIN
    ANALYZE, whose text is the EXPLAIN's (``db serialize`` runs them so)."""
    cur.execute(
        sql.SQL(
            "SELECT queryid::text AS queryid, min(query) AS query, sum(calls)::bigint AS calls, "
            "sum(rows)::bigint AS rows FROM {view} WHERE "
            + VISIBLE_HERE
            + "AND calls > 0 AND rows > 0 AND "
            + starting_with("SELECT")
            + "GROUP BY queryid ORDER BY sum(rows) DESC LIMIT %s"
        ).format(view=statements_view(schema)),
        [HIDDEN, limit],
    )
    return cur.fetchall()


def _returned(plan: dict, query: str) -> dict[tuple[str, str], list[str]]:
    """The columns the statement hands back, by the (schema, table) they come from (the top
    Output without the sort keys that only ride along: see ``select_list_length``)."""
    outputs = plan.get("Output", [])
    selected = select_list_length(query)
    if selected is not None:
        outputs = outputs[:selected]
    scans: dict[str, tuple[str, str]] = {}
    _collect_scans(plan, scans)
    if not scans:
        return {}
    returned: dict[tuple[str, str], list[str]] = {}
    only = next(iter(scans.values())) if len(scans) == 1 else None
    for expression in outputs:
        qualified = _QUALIFIED.match(expression.strip())
        if qualified:
            where = scans.get(unquote_name(qualified.group(1)))
            column = unquote_name(qualified.group(2))
        elif only is not None and (bare := _BARE.match(expression.strip())):
            where, column = only, unquote_name(bare.group(1))
        else:
            continue  # an expression (count(*), a cast): no column of a table as such
        if where is not None and column not in returned.setdefault(where, []):
            returned[where].append(column)
    return returned


def _collect_scans(node: dict, scans: dict[str, tuple[str, str]]) -> None:
    if node.get("Node Type") in _SCANS and node.get("Relation Name"):
        schema = node.get("Schema") or "public"
        if schema not in _SYSTEM_SCHEMAS:
            scans[node.get("Alias") or node["Relation Name"]] = (schema, node["Relation Name"])
    for child in node.get("Plans", []):
        _collect_scans(child, scans)


def _judge(row: dict, schema: str, table: str, returned: list[str], columns: list[ColumnSize]):
    by_name = {column.name: column for column in columns}
    shown = [by_name[name] for name in returned if name in by_name]
    calls = int(row["calls"])
    rows_per_call = int(row["rows"]) / max(calls, 1)
    per_row = sum(column.avg_bytes for column in shown)
    wide = [column for column in shown if column.wide]
    saved = rows_per_call * sum(column.avg_bytes for column in wide)
    all_columns = bool(columns) and {c.name for c in columns} <= {c.name for c in shown}
    call = prisma_call(row["query"], table, rows_per_call)
    found = OverFetch(
        queryid=str(row["queryid"]),
        query=row["query"],
        schema=schema,
        table=table,
        calls=calls,
        rows_per_call=rows_per_call,
        returned=tuple(c.name for c in shown),
        all_columns=all_columns,
        bytes_per_call=rows_per_call * per_row,
        wide_columns=tuple(c.name for c in wide),
        saved_bytes_per_call=saved,
        call=call,
        fix="",
    )
    return _with_fix(found)


def _with_fix(found: OverFetch) -> OverFetch:
    if not found.wide_columns:
        return replace(found, fix="nothing to drop: no wide columns are returned")
    omitted = ", ".join(f"{_field(name)}: true" for name in found.wide_columns)
    kept = [name for name in found.returned if name not in found.wide_columns]
    saving = f"saves {human_bytes(found.saved_bytes_per_call)} per call"
    if found.all_columns:
        fix = f"{found.call.client}({{ omit: {{ {omitted} }} }}) {saving}"
        if kept:
            chosen = ", ".join(f"{_field(name)}: true" for name in kept[:6])
            more = ", ..." if len(kept) > 6 else ""
            fix += f"; or select only what the page shows: select: {{ {chosen}{more} }}"
    else:
        fix = (
            f"{found.call.client}: the select asks for wide columns; drop them where the page "
            f"does not show them ({omitted}): {saving}"
        )
    return replace(found, fix=fix)


def _field(column: str) -> str:
    """The Prisma field for a column: its name (a field renamed with @map is not known here)."""
    return column if re.fullmatch(r"[A-Za-z_][A-Za-z0-9_]*", column) else json.dumps(column)


# --- Prisma's comment tags ------------------------------------------------------------------


def sql_comment_tags(query: str) -> dict[str, str]:
    """The sqlcommenter tags of a statement's trailing comment (``/*key='value',...*/``), URL
    decoded; {} when there is none. Never evaluates anything."""
    match = _COMMENT.search(query[-MAX_TAG_TEXT:])
    if match is None:
        return {}
    tags = {}
    for key, value in _TAG.findall(match.group(1)):
        tags[unquote(key)] = unquote(value.replace("\\'", "'"))
    return tags


def prisma_call(query: str, table: str, rows_per_call: float) -> PrismaCall:
    """The Prisma model and action behind a statement: its ``prismaQuery`` tag (``User.findMany:
    <shape>``), else the table's name (Prisma's default model name) and findMany, or findFirst
    for a statement that returns at most one row per call."""
    tag = sql_comment_tags(query).get("prismaQuery", "")
    head = tag.split(":", 1)[0]
    if "." in head:
        model, action = head.split(".", 1)
        if model and action and _plain(model) and _plain(action):
            return PrismaCall(model, action, tagged=True)
    action = "findFirst" if rows_per_call <= 1 else "findMany"
    return PrismaCall(table, action)


def prisma_shape(query: str) -> dict | None:
    """The query shape of the ``prismaQuery`` tag (base64url JSON), or None when absent or not
    JSON. Parsed as data only."""
    tag = sql_comment_tags(query).get("prismaQuery", "")
    if ":" not in tag:
        return None
    encoded = tag.split(":", 1)[1]
    if len(encoded) > MAX_TAG_TEXT:
        return None
    try:
        raw = base64.urlsafe_b64decode(encoded + "=" * (-len(encoded) % 4))
        shape = json.loads(raw.decode("utf-8"))
    except (binascii.Error, ValueError, UnicodeDecodeError, RecursionError):
        return None
    return shape if isinstance(shape, dict) else None


def _plain(name: str) -> bool:
    return re.fullmatch(r"[A-Za-z_][A-Za-z0-9_]{0,62}", name) is not None


# --- column sizes ---------------------------------------------------------------------------


class _TableSizes:
    """Each table's columns with their average stored size, read once per table."""

    def __init__(self, cur: Cursor) -> None:
        self.cur = cur
        self._cache: dict[tuple[str, str], list[ColumnSize]] = {}

    def of(self, schema: str, table: str) -> list[ColumnSize]:
        key = (schema, table)
        if key not in self._cache:
            self._cache[key] = table_columns(self.cur, schema, table)
        return self._cache[key]


def table_columns(cur: Cursor, schema: str, table: str) -> list[ColumnSize]:
    """The table's columns with their average size per row: pg_stats' avg_width, measured with
    pg_column_size on a sample for toastable columns when the table's TOAST relation holds data
    (pg_stats counts an out-of-line value as its pointer); a column without statistics gets
    its type's fixed length, else 0 (NULL)."""
    cur.execute(
        "SELECT a.attname::text AS name, format_type(a.atttypid, a.atttypmod) AS type, "
        "a.attlen AS length, a.attstorage IN ('x', 'e') AS toastable, s.avg_width, "
        "s.null_frac, c.reltuples::float8 AS tuples, "
        "coalesce(pg_relation_size(nullif(c.reltoastrelid, 0)), 0) AS toast_bytes "
        "FROM pg_attribute a JOIN pg_class c ON c.oid = a.attrelid "
        "JOIN pg_namespace n ON n.oid = c.relnamespace "
        "LEFT JOIN pg_stats s ON s.schemaname = n.nspname AND s.tablename = c.relname "
        "AND s.attname = a.attname "
        "WHERE n.nspname = %s AND c.relname = %s AND a.attnum > 0 AND NOT a.attisdropped "
        "ORDER BY a.attnum",
        [schema, table],
    )
    rows = cur.fetchall()
    if not rows:
        return []
    measured: dict[str, float] = {}
    toasted = [r["name"] for r in rows if r["toastable"] and r["toast_bytes"] > 0]
    if toasted:
        measured = _sampled_sizes(cur, schema, table, toasted, float(rows[0]["tuples"]))
    columns = []
    for row in rows:
        stats = None
        if row["avg_width"] is not None:  # avg_width is over the non-NULL values
            stats = float(row["avg_width"]) * (1.0 - float(row["null_frac"] or 0.0))
        elif row["length"] > 0:
            stats = float(row["length"])
        size = measured.get(row["name"], stats if stats is not None else 0.0)
        out_of_line = (
            row["name"] in measured
            and row["avg_width"] is not None
            and float(row["avg_width"]) <= 2 * TOAST_POINTER_BYTES
            and size > 4 * TOAST_POINTER_BYTES
        )
        columns.append(ColumnSize(row["name"], row["type"], size, out_of_line))
    return columns


def _sampled_sizes(
    cur: Cursor, schema: str, table: str, names: list[str], tuples: float
) -> dict[str, float]:
    """Average pg_column_size (NULL as 0) of ``names`` over about ``SAMPLE_ROWS`` rows read
    from a page sample; {} when the sample is empty (a table not analysed yet, or emptied)."""
    percent = 100.0 if tuples <= SAMPLE_ROWS else max(0.01, 100.0 * SAMPLE_ROWS / tuples)
    averages = sql.SQL(", ").join(
        sql.SQL("avg(coalesce(pg_column_size(t.{}), 0))::float8 AS {}").format(
            sql.Identifier(name), sql.Identifier(f"c{number}")
        )
        for number, name in enumerate(names)
    )
    statement = sql.SQL(
        "SELECT count(*) AS n, {averages} FROM (SELECT * FROM {table} TABLESAMPLE SYSTEM (%s) "
        "LIMIT %s) t"
    ).format(averages=averages, table=sql.Identifier(schema, table))
    cur.execute("SAVEPOINT fibuca_sizes")
    try:
        cur.execute(statement, [percent, 2 * SAMPLE_ROWS])
        row = cur.fetchone()
    except psycopg2.Error:  # a table we may not read, a timeout: its pg_stats widths stand
        if cur.connection.closed:
            raise
        cur.execute("ROLLBACK TO SAVEPOINT fibuca_sizes")
        log.debug("over-fetch: could not sample %s.%s", schema, table, exc_info=True)
        return {}
    cur.execute("RELEASE SAVEPOINT fibuca_sizes")
    if not row["n"]:
        return {}
    averages_by_name = {name: row[f"c{number}"] for number, name in enumerate(names)}
    return {
        name: float(value)
        for name, value in averages_by_name.items()
        if value is not None and math.isfinite(float(value))
    }
