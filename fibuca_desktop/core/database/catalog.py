"""What the catalog says about one schema's tables, indexes and foreign keys.

Names come back exactly as stored (``Order``, ``userId``), case and quotes included; SQL built
from them goes through ``psycopg2.sql.Identifier``.
"""

from __future__ import annotations

from dataclasses import dataclass

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
    """Planner row estimates per ordinary or partitioned table (0 when never analysed)."""
    cur.execute(
        "SELECT c.relname::text AS name, greatest(c.reltuples, 0) AS n FROM pg_class c "
        "JOIN pg_namespace s ON s.oid = c.relnamespace "
        "WHERE s.nspname = %s AND c.relkind IN ('r', 'p')",
        [schema],
    )
    return {row["name"]: float(row["n"]) for row in cur.fetchall()}


def qualified(schema: str, table: str) -> sql.Composed:
    """``"schema"."table"``, quoted whatever the names hold."""
    return sql.SQL("{}.{}").format(sql.Identifier(schema), sql.Identifier(table))


def column_list(columns: tuple[str, ...]) -> sql.Composed:
    return sql.SQL(", ").join(sql.Identifier(column) for column in columns)
