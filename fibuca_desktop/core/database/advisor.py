"""``IndexAdvisor``: indexes for slow queries and for foreign keys, verified by the planner.

1. Slow queries (pg_stat_statements over the thresholds): their generic plans name the columns
   each sequential scan of a large table filters, joins and sorts on (``plan_columns``). Each
   candidate index is tried with hypopg on the one connection the advice runs on; the cheapest
   that at least halves the query's cost is kept (a shorter one wins when within 5% of it).
2. Foreign keys without an index on their columns (Prisma creates none on PostgreSQL): verified
   the same way against the lookup PostgreSQL runs on every delete or key update of the
   referenced row, ``SELECT 1 FROM ONLY child WHERE fk = $1``.

Never suggested: what an existing valid btree index already serves (leading columns), indexes on
tables under ``min_table_rows``, and a foreign-key index that a slow-query suggestion covers.
Without hypopg, candidates are kept only when the planner expects the scan to return at most 5% of
the table, and are marked unverified with the reason.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from psycopg2 import sql
from psycopg2.extensions import cursor as Cursor

from fibuca_desktop.core.database import catalog
from fibuca_desktop.core.database.explain import PlanNotPermitted, generic_plan
from fibuca_desktop.core.database.hypothetical import (
    MIN_SAVING,
    WhatIf,
    hypopg_missing_reason,
    saving,
)
from fibuca_desktop.core.database.index_suggestion import (
    FOREIGN_KEY,
    SLOW_QUERY,
    IndexSuggestion,
    quote,
)
from fibuca_desktop.core.database.plan_columns import ScanColumns, scans
from fibuca_desktop.core.database.slow_queries import SlowQueryThresholds, slow_queries
from fibuca_desktop.core.errors import QueryFailed, UsageError

if TYPE_CHECKING:
    from fibuca_desktop.core.database.session import DatabaseSession

log = logging.getLogger(__name__)

_SHORTER_WINS_WITHIN = 1.05


@dataclass(frozen=True)
class AdvisorSettings:
    min_table_rows: int = 10_000
    min_saving: float = MIN_SAVING
    max_unverified_fraction: float = 0.05
    thresholds: SlowQueryThresholds = field(default_factory=SlowQueryThresholds)


@dataclass(frozen=True)
class Rejected:
    """A candidate the planner did not find worth it (for the panel's "why not" list)."""

    table: str
    columns: tuple[str, ...]
    cost_before: float
    cost_after: float
    query: str


@dataclass
class Advice:
    suggestions: list[IndexSuggestion]
    hypopg_missing: str | None = None  # why suggestions are unverified
    statements_missing: str | None = None  # why there are no slow-query suggestions
    rejected: list[Rejected] = field(default_factory=list)
    schema: str = "public"
    schema_note: str | None = None  # which schema was looked at, and which others have tables
    statements_hidden: str | None = None  # slow statements of other roles this role cannot read
    unreadable: list[str] = field(default_factory=list)  # tables this role may not SELECT from
    unreadable_note: str | None = None  # which were skipped, and what to grant

    def to_json(self) -> dict:
        return {
            "suggestions": [s.to_json() for s in self.suggestions],
            "unreadable_tables": self.unreadable,
            "unreadable_note": self.unreadable_note,
        }


class IndexAdvisor:
    """One advice run in the caller's read-only transaction, on that one connection."""

    def __init__(self, cur: Cursor, schema: str, settings: AdvisorSettings | None = None) -> None:
        self._cur = cur
        self._schema = schema
        self._settings = settings or AdvisorSettings()
        self._indexes = catalog.indexes(cur, schema)
        self._rows = catalog.table_row_estimates(cur, schema)
        self._roots = catalog.partition_roots(cur, schema)
        self._what_if: WhatIf | None = None

    def advise(self) -> Advice:
        advice = Advice([], hypopg_missing=hypopg_missing_reason(self._cur), schema=self._schema)
        advice.schema_note = schema_note(self._cur, self._schema)
        if advice.hypopg_missing is None:
            self._what_if = WhatIf(self._cur)
            self._what_if.reset()
        try:
            report = slow_queries(self._cur, self._settings.thresholds, sample_seconds=0)
            advice.statements_missing = report.message
            advice.statements_hidden = report.hidden_message
            if report.statements_available:
                for query in report.queries:
                    self._for_query(query.query, advice)
            self._for_foreign_keys(advice)
        finally:
            if self._what_if is not None:
                self._what_if.reset()
        advice.suggestions = _merge(advice.suggestions)
        advice.unreadable_note = self._unreadable_note(advice.unreadable)
        return advice

    def _skip_unreadable(self, denied: PlanNotPermitted, advice: Advice, table: str = "") -> None:
        """A table this role may not read is skipped, never the whole advice; the note names it."""
        name = table or denied.table or "?"
        log.info("skipping what needs table %s: %s", name, denied)
        if name not in advice.unreadable:
            advice.unreadable.append(name)

    def _unreadable_note(self, tables: list[str]) -> str | None:
        if not tables:
            return None
        self._cur.execute("SELECT current_user::text AS name")
        role = quote(self._cur.fetchone()["name"])
        names = ", ".join(tables)
        grants = ", ".join(
            f"{quote(self._schema)}.{quote(t)}" if t in self._rows else t for t in tables
        )
        return (
            f"role {role} may not read {len(tables)} table(s) ({names}): their foreign keys and "
            "the slow queries on them were not checked. To include them, as the owner or a "
            f"superuser: GRANT SELECT ON {grants} TO {role};"
        )

    def _covered(self, table: str, columns: tuple[str, ...], any_order: bool) -> bool:
        return any(
            index.table == table and index.covers(columns, any_order) for index in self._indexes
        )

    def _for_query(self, query: str, advice: Advice) -> None:
        try:
            plan = generic_plan(self._cur, query, prune=False)
        except PlanNotPermitted as denied:
            self._skip_unreadable(denied, advice)
            return
        except (QueryFailed, UsageError) as error:
            log.info("skipping a query the planner cannot explain: %s", error)
            return
        before = float(plan["Total Cost"])
        min_rows = self._settings.min_table_rows
        for scan in scans(plan, self._schema, self._rows, min_rows, self._roots):
            candidates = [
                c
                for c in scan.candidates()
                if not self._covered(scan.table, c, any_order=set(c) <= set(scan.equality))
            ]
            if candidates:
                self._choose(scan, candidates, query, before, SLOW_QUERY, advice)

    def _choose(
        self,
        scan: ScanColumns,
        candidates: list[tuple[str, ...]],
        query: str,
        before: float,
        reason: str,
        advice: Advice,
    ) -> None:
        if self._what_if is None:
            fraction = scan.plan_rows / max(self._rows.get(scan.table, 0), 1)
            if fraction <= self._settings.max_unverified_fraction:
                advice.suggestions.append(
                    IndexSuggestion(
                        self._schema,
                        scan.table,
                        candidates[0],
                        reason,
                        False,
                        before,
                        None,
                        [query],
                        advice.hypopg_missing,
                    )
                )
            return
        costs = {c: self._what_if.cost_with(self._schema, scan.table, c, query) for c in candidates}
        cheapest = min(costs.values())
        best = min(
            (c for c, cost in costs.items() if cost <= cheapest * _SHORTER_WINS_WITHIN),
            key=lambda c: (len(c), costs[c]),
        )
        if saving(before, costs[best]) >= self._settings.min_saving:
            advice.suggestions.append(
                IndexSuggestion(
                    self._schema, scan.table, best, reason, True, before, costs[best], [query]
                )
            )
        else:
            advice.rejected.append(Rejected(scan.table, best, before, costs[best], query))

    def _for_foreign_keys(self, advice: Advice) -> None:
        for key in catalog.foreign_keys(self._cur, self._schema):
            if self._rows.get(key.table, 0) < self._settings.min_table_rows:
                continue
            if self._covered(key.table, key.columns, any_order=True):
                continue
            if any(
                s.table == key.table and set(s.columns[: len(key.columns)]) == set(key.columns)
                for s in advice.suggestions
            ):
                continue
            lookup = self._lookup_query(key.table, key.columns)
            try:
                plan = generic_plan(self._cur, lookup, verbose=True, prune=False)
            except PlanNotPermitted as denied:
                self._skip_unreadable(denied, advice, key.table)
                continue
            found = scans(
                plan, self._schema, self._rows, self._settings.min_table_rows, self._roots
            )
            if not found:
                continue  # the planner already has a way that is not a full scan
            scan = found[0]
            self._choose(
                scan, [key.columns], lookup, float(plan["Total Cost"]), FOREIGN_KEY, advice
            )

    def _lookup_query(self, table: str, columns: tuple[str, ...]) -> str:
        conditions = sql.SQL(" AND ").join(
            sql.SQL("{} = {}").format(sql.Identifier(column), sql.SQL(f"${n}"))
            for n, column in enumerate(columns, 1)
        )
        statement = sql.SQL("SELECT 1 FROM ONLY {} WHERE {}").format(
            catalog.qualified(self._schema, table), conditions
        )
        return statement.as_string(self._cur.connection)


def _merge(suggestions: list[IndexSuggestion]) -> list[IndexSuggestion]:
    """One suggestion per index; a suggestion whose columns lead another one on the same table
    is folded into it (that index serves both), its queries kept."""
    merged: list[IndexSuggestion] = []
    for suggestion in sorted(suggestions, key=lambda s: -len(s.columns)):
        home = next(
            (
                m
                for m in merged
                if m.table == suggestion.table
                and m.columns[: len(suggestion.columns)] == suggestion.columns
            ),
            None,
        )
        if home is None:
            merged.append(suggestion)
        else:
            home.queries.extend(q for q in suggestion.queries if q not in home.queries)
    return sorted(merged, key=lambda s: (s.table, s.columns))


_OTHER_SCHEMAS = """
SELECT n.nspname::text AS name, count(*) AS tables FROM pg_class c
JOIN pg_namespace n ON n.oid = c.relnamespace
WHERE c.relkind IN ('r', 'p') AND n.nspname <> %s AND n.nspname <> 'information_schema'
  AND n.nspname NOT LIKE 'pg\\_%%'
GROUP BY n.nspname ORDER BY count(*) DESC, n.nspname LIMIT 6
"""


def schema_note(cur: Cursor, schema: str) -> str:
    """Which schema the advice is for, and the other schemas with tables (how to pick one)."""
    cur.execute(_OTHER_SCHEMAS, [schema])
    others = cur.fetchall()
    note = f'advice for schema "{schema}" only (the URL\'s ?schema=, default public)'
    if not others:
        return note + "; no other schema has tables."
    listed = ", ".join(f'"{row["name"]}" ({row["tables"]} tables)' for row in others[:5])
    more = " and more" if len(others) > 5 else ""
    return (
        f"{note}; other schemas with tables: {listed}{more}. Add ?schema=NAME to the URL "
        "to advise on one of them."
    )


def advise(session: DatabaseSession, settings: AdvisorSettings | None = None) -> Advice:
    """Run the advisor on one pooled connection in a read-only, rolled-back transaction."""
    return session.run(lambda cur: IndexAdvisor(cur, session.schema, settings).advise())
