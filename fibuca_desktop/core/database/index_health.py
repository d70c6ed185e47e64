"""Indexes that cost writes and space for nothing: duplicate, unused and INVALID ones.

- duplicate: its key columns are the leading key columns of another valid index of the same kind
  on the same table (that index serves every lookup it serves); a unique or primary index is only
  a duplicate of an identical unique one, and an index backing a constraint is never reported.
- unused: never scanned since statistics were last reset (``idx_scan = 0``), neither unique nor
  primary nor backing a constraint. Read the count with care after a restart or a stats reset.
- invalid: left by a failed or cancelled ``CREATE INDEX CONCURRENTLY``; it is maintained on every
  write but never used. Drop it (``DROP INDEX CONCURRENTLY``) and build again.
"""

from __future__ import annotations

from dataclasses import dataclass

from psycopg2.extensions import cursor as Cursor

from fibuca_desktop.core.database.catalog import IndexInfo, indexes, qualified


@dataclass(frozen=True)
class IndexProblem:
    index: str
    table: str
    size_bytes: int
    covered_by: str | None = None
    drop_sql: str = ""


@dataclass(frozen=True)
class IndexHealth:
    duplicate: list[IndexProblem]
    unused: list[IndexProblem]
    invalid: list[IndexProblem]

    def to_json(self) -> dict:
        return {
            kind: [problem.__dict__ for problem in getattr(self, kind)]
            for kind in ("duplicate", "unused", "invalid")
        }


def index_health(cur: Cursor, schema: str) -> IndexHealth:
    """The three lists for ``schema``, read in the caller's (read-only) transaction."""
    found = indexes(cur, schema)

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
    unused = [
        problem(index)
        for index in found
        if index.valid
        and index.scans == 0
        and not (index.unique or index.primary or index.backs_constraint)
    ]
    invalid = [problem(index) for index in found if not index.valid]
    return IndexHealth(duplicate, unused, invalid)


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
