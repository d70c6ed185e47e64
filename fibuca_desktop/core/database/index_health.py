"""Indexes that cost writes and space for nothing: duplicate, unused and INVALID ones.

- duplicate: its key columns are the leading key columns of another valid index of the same kind
  on the same table (that index serves every lookup it serves); a unique or primary index is only
  a duplicate of an identical unique one, and an index backing a constraint is never reported.
- unused: never scanned (``idx_scan = 0``), neither unique nor primary nor backing a constraint,
  and watched for at least ``MIN_UNUSED_DAYS``: from the later of when the statistics start
  (the database's ``stats_reset``, else the server's start, ``pg_postmaster_start_time()``:
  statistics can be older, never younger, so the window is never overstated) and when the
  index was created (the commit time of its catalog row where ``track_commit_timestamp`` is on,
  or the build time Fibuca recorded in this session). An index watched for less is "not judged
  yet" and gets no DROP; one whose creation time is unknown says so next to its DROP.
- invalid: left by a failed or cancelled ``CREATE INDEX CONCURRENTLY``; it is maintained on every
  write but never used. Drop it (``DROP INDEX CONCURRENTLY``) and build again.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta

from psycopg2.extensions import cursor as Cursor

from fibuca_desktop.core.database.catalog import IndexInfo, indexes, qualified


@dataclass(frozen=True)
class IndexProblem:
    index: str
    table: str
    size_bytes: int
    covered_by: str | None = None
    drop_sql: str = ""
    note: str | None = None  # for unused ones: how long it was watched, or why not judged


@dataclass(frozen=True)
class IndexHealth:
    duplicate: list[IndexProblem]
    unused: list[IndexProblem]
    invalid: list[IndexProblem]
    not_judged: list[IndexProblem] = field(default_factory=list)  # never scanned, watched < 7 d
    stats_since: datetime | None = None

    def to_json(self) -> dict:
        """Index names per problem (the details are in the text view), and since when the
        scan counts run."""
        data: dict = {
            kind: [problem.index for problem in getattr(self, kind)]
            for kind in ("duplicate", "unused", "invalid", "not_judged")
        }
        data["stats_since"] = self.stats_since.isoformat() if self.stats_since else None
        return data


MIN_UNUSED_DAYS = 7  # a weekly job's index must have had its chance to be scanned

_WINDOW = """
SELECT coalesce(d.stats_reset, pg_postmaster_start_time()) AS since,
    d.stats_reset IS NULL AS since_start, now() AS now,
    current_setting('track_commit_timestamp') = 'on' AS commit_times
FROM pg_stat_database d WHERE d.datname = current_database()
"""
_CREATED = """
SELECT c.relname::text AS name, pg_xact_commit_timestamp(c.xmin) AS created
FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
WHERE n.nspname = %s AND c.relkind IN ('i', 'I')
"""


def index_health(
    cur: Cursor,
    schema: str,
    built: Mapping[str, datetime] | None = None,
    min_days: float = MIN_UNUSED_DAYS,
) -> IndexHealth:
    """The lists for ``schema``, read in the caller's (read-only) transaction. ``built``: the
    indexes Fibuca built, by name, with when (for servers without commit timestamps)."""
    found = indexes(cur, schema)
    cur.execute(_WINDOW)
    window = cur.fetchone()
    created: dict[str, datetime] = {}
    if window["commit_times"]:
        cur.execute(_CREATED, [schema])
        created = {row["name"]: row["created"] for row in cur.fetchall() if row["created"]}
    created.update(built or {})

    def problem(index: IndexInfo, covered_by: str | None = None) -> IndexProblem:
        name = qualified(schema, index.name).as_string(cur.connection)
        return IndexProblem(
            index.name,
            index.table,
            index.size_bytes,
            covered_by,
            f"DROP INDEX CONCURRENTLY IF EXISTS {name};",
        )

    duplicate = []
    for index in found:
        other = _covering_other(index, found)
        if other is not None:
            duplicate.append(problem(index, other.name))
    unused, not_judged = [], []
    for index in found:
        if not index.valid or index.scans or index.unique or index.primary:
            continue
        if index.backs_constraint:
            continue
        start, why = _watched_from(window, created.get(index.name))
        days = (window["now"] - start) / timedelta(days=1)
        if days < min_days:
            note = (
                f"never scanned in its {_span(days)} of statistics (since {why}); judged after "
                f"{min_days:g} days"
            )
            not_judged.append(IndexProblem(index.name, index.table, index.size_bytes, note=note))
            continue
        note = f"never scanned in {_span(days)} (since {why})"
        if index.name not in created:
            note += (
                "; its creation time is unknown (track_commit_timestamp is off): check it is "
                "older than that before dropping it"
            )
        unused.append(replace(problem(index), note=note))
    invalid = [problem(index) for index in found if not index.valid]
    return IndexHealth(duplicate, unused, invalid, not_judged, window["since"])


def _watched_from(window: dict, created: datetime | None) -> tuple[datetime, str]:
    """Since when an index's scan count means something, and a phrase saying why."""
    start = window["since"]
    why = (
        f"the server started {start:%Y-%m-%d %H:%M}"
        if window["since_start"]
        else f"the statistics reset {start:%Y-%m-%d %H:%M}"
    )
    if created is not None and created > start:
        return created, f"it was created {created:%Y-%m-%d %H:%M}"
    return start, why


def _span(days: float) -> str:
    if days >= 2:
        return f"{days:.0f} days"
    hours = days * 24
    return f"{hours:.0f} h" if hours >= 1 else f"{hours * 60:.0f} min"


def _covering_other(index: IndexInfo, found: list[IndexInfo]) -> IndexInfo | None:
    if not index.valid or index.primary or index.backs_constraint or None in index.columns:
        return None
    for other in found:
        if other is index or other.table != index.table or not other.valid:
            continue
        if other.method != index.method or other.partial or index.partial:
            continue
        if other.columns[: len(index.columns)] != index.columns:
            continue
        if index.unique and not (other.unique and other.columns == index.columns):
            continue
        if other.columns == index.columns:
            # Identical: keep the stronger one (primary, constraint, unique), else the first name.
            mine, theirs = _strength(index), _strength(other)
            if mine > theirs or (mine == theirs and index.name < other.name):
                continue
        return other
    return None


def _strength(index: IndexInfo) -> tuple[bool, bool, bool]:
    return (index.primary, index.backs_constraint, index.unique)
