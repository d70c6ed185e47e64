"""Ask the planner what an index would save before anyone builds it (hypopg, as Dexter does).

hypopg's indexes exist only in the backend that created them and only in its memory: nothing is
written, so this runs inside the read-only transaction. All calls for one advice run on the same
checked-out connection and are reset afterwards, so no other request sees them.
"""

from __future__ import annotations

import logging

from psycopg2 import sql
from psycopg2.extensions import cursor as Cursor

from fibuca_desktop.core.database.catalog import column_list, qualified
from fibuca_desktop.core.database.explain import aborted, generic_plan

log = logging.getLogger(__name__)

MIN_SAVING = 0.5  # Dexter's default: keep an index only when it halves the query's cost


def hypopg_missing_reason(cur: Cursor) -> str | None:
    """None when hypopg can be used here; otherwise why not and what to do."""
    cur.execute(
        "SELECT EXISTS (SELECT 1 FROM pg_extension WHERE extname = 'hypopg') AS created, "
        "EXISTS (SELECT 1 FROM pg_available_extensions WHERE name = 'hypopg') AS available, "
        "current_setting('server_version_num')::int / 10000 AS major"
    )
    row = cur.fetchone()
    if row["created"]:
        return None
    create = "run CREATE EXTENSION hypopg; in this database (it writes nothing)"
    if row["available"]:
        return f"hypopg is installed on the server but not enabled: {create}"
    return (
        f"hypopg is not installed on the server: install it (Debian/Ubuntu: "
        f"postgresql-{row['major']}-hypopg), then {create}"
    )


class WhatIf:
    """Plan costs of queries with and without one hypothetical index at a time."""

    def __init__(self, cur: Cursor) -> None:
        self._cur = cur

    def cost(self, query: str) -> float:
        """The generic plan's total cost with the current (hypothetical) indexes."""
        # pruning off: a hypothetical index on a partitioned parent is seen in every partition
        return float(generic_plan(self._cur, query, verbose=False, prune=False)["Total Cost"])

    def cost_with(self, schema: str, table: str, columns: tuple[str, ...], query: str) -> float:
        """The cost of ``query`` if ``table`` had a btree index on ``columns``."""
        statement = sql.SQL("CREATE INDEX ON {} ({})").format(
            qualified(schema, table), column_list(columns)
        )
        self._cur.execute(
            "SELECT indexrelid FROM hypopg_create_index(%s)",
            [statement.as_string(self._cur.connection)],
        )
        try:
            return self.cost(query)
        finally:
            self.reset()

    def reset(self) -> None:
        """Forget every hypothetical index of this backend (skipped when the transaction is
        already aborted: the connection then goes back to the pool rolled back, and a
        hypothetical index left in it only affects EXPLAIN, never a real plan)."""
        if not aborted(self._cur):
            self._cur.execute("SELECT hypopg_reset()")


def saving(before: float, after: float) -> float:
    return 0.0 if before <= 0 else (before - after) / before
