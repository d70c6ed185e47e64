"""What the catalog says about one schema's tables, indexes and foreign keys.

Names come back exactly as stored (``Order``, ``userId``), case and quotes included; SQL built
from them goes through ``psycopg2.sql.Identifier``.
"""

from __future__ import annotations

from dataclasses import dataclass

import psycopg2
from psycopg2 import sql
from psycopg2.extensions import cursor as Cursor


@dataclass(frozen=True)
class IndexInfo:
    name: str
    table: str
    columns: tuple[str | None, ...]  # key columns in order; None for an expression
    unique: bool
    primary: bool
    valid: bool
    partial: bool
    method: str
    scans: int
    size_bytes: int
    backs_constraint: bool
    definition: str

    def covers(self, columns: tuple[str, ...], any_order: bool = False) -> bool:
        """Whether this index can serve a lookup on ``columns``: they are its leading columns
        (in any order when the lookup is on equality only)."""
        if not self.valid or self.partial or self.method != "btree":
            return False
        lead = self.columns[: len(columns)]
        if len(lead) < len(columns):
            return False
        return set(lead) == set(columns) if any_order else lead == columns


@dataclass(frozen=True)
class ForeignKey:
    name: str
    table: str
    columns: tuple[str, ...]
    referenced_table: str
    referenced_columns: tuple[str, ...]


_INDEXES = """
SELECT ic.relname::text AS name, tc.relname::text AS "table",
    ARRAY(SELECT a.attname::text
          FROM unnest(x.indkey::int2[]) WITH ORDINALITY AS k(attnum, n)
          LEFT JOIN pg_attribute a ON a.attrelid = x.indrelid AND a.attnum = k.attnum
          WHERE k.n <= x.indnkeyatts ORDER BY k.n) AS columns,
    x.indisunique AS unique, x.indisprimary AS primary, x.indisvalid AS valid,
    x.indpred IS NOT NULL AS partial, am.amname::text AS method,
    coalesce(s.idx_scan, 0) AS scans, pg_relation_size(x.indexrelid) AS size_bytes,
    EXISTS (SELECT 1 FROM pg_constraint c WHERE c.conindid = x.indexrelid
            AND c.conrelid = x.indrelid) AS backs_constraint,
    pg_get_indexdef(x.indexrelid) AS definition
FROM pg_index x
JOIN pg_class ic ON ic.oid = x.indexrelid
JOIN pg_class tc ON tc.oid = x.indrelid
JOIN pg_namespace n ON n.oid = tc.relnamespace
JOIN pg_am am ON am.oid = ic.relam
LEFT JOIN pg_stat_all_indexes s ON s.indexrelid = x.indexrelid
WHERE n.nspname = %s
ORDER BY tc.relname, ic.relname
"""

_FOREIGN_KEYS = """
SELECT c.conname::text AS name, tc.relname::text AS "table", rc.relname::text AS referenced,
    ARRAY(SELECT a.attname::text FROM unnest(c.conkey) WITH ORDINALITY AS k(attnum, n)
          JOIN pg_attribute a ON a.attrelid = c.conrelid AND a.attnum = k.attnum
          ORDER BY k.n) AS columns,
    ARRAY(SELECT a.attname::text FROM unnest(c.confkey) WITH ORDINALITY AS k(attnum, n)
          JOIN pg_attribute a ON a.attrelid = c.confrelid AND a.attnum = k.attnum
          ORDER BY k.n) AS referenced_columns
FROM pg_constraint c
JOIN pg_class tc ON tc.oid = c.conrelid
JOIN pg_namespace n ON n.oid = tc.relnamespace
JOIN pg_class rc ON rc.oid = c.confrelid
WHERE c.contype = 'f' AND n.nspname = %s
ORDER BY tc.relname, c.conname
"""


def indexes(cur: Cursor, schema: str) -> list[IndexInfo]:
    cur.execute(_INDEXES, [schema])
    return [
        IndexInfo(**{**row, "columns": tuple(row["columns"]), "scans": int(row["scans"])})
        for row in cur.fetchall()
    ]


def foreign_keys(cur: Cursor, schema: str) -> list[ForeignKey]:
    cur.execute(_FOREIGN_KEYS, [schema])
    return [
        ForeignKey(
            name=row["name"],
            table=row["table"],
            columns=tuple(row["columns"]),
            referenced_table=row["referenced"],
            referenced_columns=tuple(row["referenced_columns"]),
        )
        for row in cur.fetchall()
    ]


def table_row_estimates(cur: Cursor, schema: str) -> dict[str, float]:
    """Row estimates per table, partitioned table and materialized view of ``schema``.

    ``reltuples`` is -1 for a relation never analysed, which is every materialized view until
    someone runs ANALYZE on it and every partitioned parent until its own ANALYZE: read as 0,
    they would all look tiny. A partitioned parent counts its leaf partitions' rows; another
    never-analysed relation gets the planner's own estimate (from its size on disk)."""
    cur.execute(
        "SELECT c.relname::text AS name, c.relkind::text AS kind, c.reltuples::float8 AS n, "
        "(SELECT coalesce(sum(greatest(p.reltuples, 0)), 0)::float8 "
        " FROM pg_partition_tree(c.oid) t JOIN pg_class p ON p.oid = t.relid WHERE t.isleaf) "
        "AS leaves "
        "FROM pg_class c JOIN pg_namespace s ON s.oid = c.relnamespace "
        "WHERE s.nspname = %s AND c.relkind IN ('r', 'p', 'm')",
        [schema],
    )
    estimates = {}
    for row in cur.fetchall():
        rows = float(row["n"])
        if row["kind"] == "p":
            rows = max(rows, float(row["leaves"]))
        elif rows < 0:
            rows = _planner_rows(cur, schema, row["name"])
        estimates[row["name"]] = max(rows, 0.0)
    return estimates


def _planner_rows(cur: Cursor, schema: str, name: str) -> float:
    """What the planner expects ``SELECT FROM ONLY rel`` to return (it estimates a relation it
    has no statistics for from its pages); 0 when it cannot be planned (no privilege)."""
    statement = sql.SQL("EXPLAIN (FORMAT JSON) SELECT 1 FROM ONLY {}").format(
        qualified(schema, name)
    )
    cur.execute("SAVEPOINT fibuca_rows")
    try:
        cur.execute(statement)
    except psycopg2.Error:
        if cur.connection.closed:
            raise
        cur.execute("ROLLBACK TO SAVEPOINT fibuca_rows")
        return 0.0
    document = cur.fetchone()
    cur.execute("RELEASE SAVEPOINT fibuca_rows")
    value = next(iter(document.values())) if isinstance(document, dict) else document[0]
    return float(value[0]["Plan"]["Plan Rows"])


def partition_roots(cur: Cursor, schema: str) -> dict[str, str]:
    """Each partition of ``schema`` (at any level) by name, with the partitioned table at the top
    of its tree when that is in ``schema`` too: a scan of a partition is advice for the parent."""
    cur.execute(
        "SELECT c.relname::text AS name, r.relname::text AS root FROM pg_class c "
        "JOIN pg_namespace s ON s.oid = c.relnamespace "
        "JOIN pg_class r ON r.oid = pg_partition_root(c.oid) "
        "WHERE s.nspname = %s AND c.relispartition AND r.relnamespace = c.relnamespace",
        [schema],
    )
    return {row["name"]: row["root"] for row in cur.fetchall()}


def relation_kind(cur: Cursor, schema: str, name: str) -> str | None:
    """pg_class.relkind of ``schema.name`` (``r`` table, ``p`` partitioned table, ``m``
    materialized view, ``i`` index, ``I`` partitioned index, ...), or None when there is none."""
    cur.execute(
        "SELECT c.relkind::text AS kind FROM pg_class c "
        "JOIN pg_namespace s ON s.oid = c.relnamespace WHERE s.nspname = %s AND c.relname = %s",
        [schema, name],
    )
    row = cur.fetchone()
    return row["kind"] if row else None


def qualified(schema: str, table: str) -> sql.Composed:
    """``"schema"."table"``, quoted whatever the names hold."""
    return sql.SQL("{}.{}").format(sql.Identifier(schema), sql.Identifier(table))


def column_list(columns: tuple[str, ...]) -> sql.Composed:
    return sql.SQL(", ").join(sql.Identifier(column) for column in columns)
