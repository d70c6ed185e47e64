"""Index names that never collide: Prisma's when free, a numbered one when another relation of
the schema has it, and the person's own when given (checked, never cut by PostgreSQL)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from psycopg2.extensions import cursor as Cursor

from fibuca_desktop.core.database.index_suggestion import fit_name, index_name
from fibuca_desktop.core.errors import UsageError

if TYPE_CHECKING:
    from fibuca_desktop.core.database.index_build import IndexPlan

_RELATION = """
SELECT c.relkind::text AS kind, x.indisvalid AS valid, t.relname::text AS "table",
    ARRAY(SELECT a.attname::text FROM unnest(x.indkey::int2[]) WITH ORDINALITY AS k(attnum, n)
          LEFT JOIN pg_attribute a ON a.attrelid = x.indrelid AND a.attnum = k.attnum
          ORDER BY k.n) AS columns
FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
LEFT JOIN pg_index x ON x.indexrelid = c.oid
LEFT JOIN pg_class t ON t.oid = x.indrelid
WHERE n.nspname = %s AND c.relname = %s
"""


def relation_named(cur: Cursor, schema: str, name: str) -> dict | None:
    """The relation (table, index, sequence, view...) called ``name`` in ``schema``, or None."""
    cur.execute(_RELATION, [schema, name])
    return cur.fetchone()


def taken_message(plan: IndexPlan, taken: dict) -> str:
    """Why a build cannot use ``plan.name``: the same index exists, or another relation has it."""
    if taken["table"] == plan.table and tuple(taken["columns"] or ()) == plan.columns:
        return f"The index {plan.name} on {plan.table} ({', '.join(plan.columns)}) exists already."
    what = f"an index on {taken['table']}" if taken["table"] else "another relation"
    return (
        f"The name {plan.name} is taken by {what} in schema {plan.schema}: choose another name "
        "(--name in the CLI, the name field in the Apply dialog)."
    )


def free_name(cur: Cursor, schema: str, table: str, columns: tuple[str, ...], unique: bool) -> str:
    """Prisma's name (``_key`` for unique), or with ``_2``, ``_3``... when another relation of
    the schema has it. The same index (or its INVALID leftover) keeps the name, so the build
    says "exists already" or offers the drop."""
    suffix = "key" if unique else "idx"
    name = index_name(table, columns, suffix)
    for number in range(2, 100):
        taken = relation_named(cur, schema, name)
        if taken is None:
            return name
        if taken["table"] == table and tuple(taken["columns"] or ()) == columns:
            return name
        stem = index_name(table, columns, suffix)[: -len(suffix) - 1]
        name = fit_name(stem, f"_{number}_{suffix}")
    raise UsageError(f"No free index name for {table} ({', '.join(columns)}): give one.")
