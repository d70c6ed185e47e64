"""What an index really did: pg_stat_statements before the build against the calls since.

Other tools show the planner's estimate. Here, just before ``CREATE INDEX CONCURRENTLY`` runs,
the counters of the statements the index is for are copied (``snapshot``): calls, total time,
rows and shared blocks (hit + read). pg_stat_statements is never reset: other tools and people
rely on it. Later, ``measure`` reads the same counters again and compares, per call, what ran
before the build with what ran since (the difference of the counters), and how often the index
itself was scanned (``pg_stat_user_indexes``). Snapshots are kept on disk
(``index-snapshots.json`` in the per-user data folder, written atomically), so the comparison
survives a restart of the app.

Which statements: the suggestion's own (the advisor's slow queries, matched by their text),
else, for an index applied by hand, the statements that name the table and the index's first
column (at most ``MAX_STATEMENTS``, the most called first).

Verdict per statement: **helped** when the mean time per call fell by at least
``HELPED_SHARE`` or the shared blocks per call by at least half, and the index was scanned;
**no change**; **not used** (the index was never scanned); **no calls yet**.
"""

from __future__ import annotations

import json
import logging
import os
import re
from dataclasses import asdict, dataclass, field, replace
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING

from psycopg2 import sql
from psycopg2.extensions import cursor as Cursor

from fibuca_desktop.core.atomic_write import write_atomically
from fibuca_desktop.core.data_folder import user_data_folder
from fibuca_desktop.core.database.slow_queries import (
    HIDDEN,
    VISIBLE_HERE,
    starting_with,
    statements_schema,
    statements_view,
)
from fibuca_desktop.core.errors import OutputError, UsageError

if TYPE_CHECKING:
    from fibuca_desktop.core.database.session import DatabaseSession

log = logging.getLogger(__name__)

FILE_NAME = "index-snapshots.json"
FORMAT = 1
MAX_STATEMENTS = 20
MAX_SNAPSHOTS = 500  # the oldest go first: a file that never grows without bound
HELPED_SHARE = 0.2  # a mean at least 20% lower is an effect, not noise
BLOCKS_SHARE = 0.5  # or half the shared blocks per call
HELPED, NO_CHANGE, NOT_USED, NO_CALLS = "helped", "no change", "not used", "no calls yet"


@dataclass(frozen=True)
class Counters:
    """One statement's pg_stat_statements counters (summed over the roles that ran it)."""

    queryid: str
    query: str
    calls: int
    total_ms: float
    rows: int
    blocks: int  # shared blocks hit + read

    def per_call(self) -> tuple[float | None, float | None, float | None]:
        """(mean ms, rows, blocks) per call; None without calls."""
        if self.calls <= 0:
            return None, None, None
        return self.total_ms / self.calls, self.rows / self.calls, self.blocks / self.calls


@dataclass(frozen=True)
class Snapshot:
    """The counters just before an index was built, and what the index is."""

    database: str  # host:port/database, never a user or a password
    schema: str
    index: str
    table: str
    columns: tuple[str, ...]
    taken_at: str  # ISO 8601, UTC
    statements: tuple[Counters, ...] = ()
    statements_available: bool = True  # pg_stat_statements could be read at the time

    @property
    def key(self) -> str:
        return f"{self.database} {self.schema}.{self.index}"


@dataclass(frozen=True)
class StatementEffect:
    queryid: str
    query: str
    calls_before: int
    calls_after: int
    mean_ms_before: float | None
    mean_ms_after: float | None
    rows_per_call_before: float | None
    rows_per_call_after: float | None
    blocks_per_call_before: float | None
    blocks_per_call_after: float | None
    verdict: str

    @property
    def change(self) -> str:
        """ "mean 41.2 -> 0.3 ms (-99%), blocks 1,250 -> 4 per call" (what the verdict rests on)."""
        parts = []
        if self.mean_ms_before and self.mean_ms_after is not None:
            drop = self.mean_ms_after / self.mean_ms_before - 1
            parts.append(
                f"mean {self.mean_ms_before:.2f} -> {self.mean_ms_after:.2f} ms ({drop:+.0%})"
            )
        if self.blocks_per_call_before is not None and self.blocks_per_call_after is not None:
            parts.append(
                f"blocks {self.blocks_per_call_before:,.0f} -> "
                f"{self.blocks_per_call_after:,.0f} per call"
            )
        return ", ".join(parts)

    def to_json(self) -> dict:
        def rounded(value: float | None) -> float | None:
            return None if value is None else round(value, 3)

        return {
            "queryid": self.queryid,
            "query": self.query,
            "callsBefore": self.calls_before,
            "callsAfter": self.calls_after,
            "meanMsBefore": rounded(self.mean_ms_before),
            "meanMsAfter": rounded(self.mean_ms_after),
            "rowsPerCallBefore": rounded(self.rows_per_call_before),
            "rowsPerCallAfter": rounded(self.rows_per_call_after),
            "blocksPerCallBefore": rounded(self.blocks_per_call_before),
            "blocksPerCallAfter": rounded(self.blocks_per_call_after),
            "verdict": self.verdict,
        }


@dataclass(frozen=True)
class IndexEffect:
    index: str
    verdict: str
    statements: tuple[StatementEffect, ...]
    index_scans: int
    built_at: str
    note: str | None = None  # a reset of the statistics, statements that are gone

    @property
    def summary(self) -> str:
        """One line: the verdict with the clearest measured change behind it."""
        helped = [s for s in self.statements if s.verdict == HELPED]
        if self.verdict == HELPED and helped:
            return f"{self.index}: helped: {helped[0].change} over {helped[0].calls_after} calls"
        if self.verdict == NOT_USED:
            return f"{self.index}: not used: no scan of it since it was built ({self.built_at})"
        if self.verdict == NO_CALLS:
            return f"{self.index}: no calls yet of the statements it is for; measure again later"
        return f"{self.index}: no change in the statements it is for ({self.index_scans} scans)"

    def to_json(self) -> dict:
        return {
            "index": self.index,
            "verdict": self.verdict,
            "statements": [s.to_json() for s in self.statements],
            "indexScans": self.index_scans,
            "builtAt": self.built_at,
            "note": self.note,
        }


# --- reading the counters -------------------------------------------------------------------


def _view(cur: Cursor) -> sql.Composable | None:
    schema = statements_schema(cur)
    if schema is None:
        return None
    return statements_view(schema)


_COUNTERS = (
    "SELECT queryid::text AS queryid, min(query) AS query, sum(calls)::bigint AS calls, "
    "sum(total_exec_time)::float8 AS total_ms, sum(rows)::bigint AS rows, "
    "sum(shared_blks_hit + shared_blks_read)::bigint AS blocks FROM {view} WHERE "
    + VISIBLE_HERE
    # the statements an index can serve; not utility ones (our own PREPARE for plan costs)
    + "AND "
    + starting_with("SELECT", "WITH", "UPDATE", "DELETE", "INSERT")
)


def _counters(rows: list[dict]) -> tuple[Counters, ...]:
    return tuple(
        Counters(
            str(row["queryid"]),
            row["query"],
            int(row["calls"]),
            float(row["total_ms"]),
            int(row["rows"]),
            int(row["blocks"]),
        )
        for row in rows
    )


def statements_for(
    cur: Cursor, table: str, columns: tuple[str, ...], queries: tuple[str, ...] = ()
) -> tuple[Counters, ...] | None:
    """The counters of the statements an index on ``table (columns)`` is for: ``queries`` (as
    pg_stat_statements shows them) when it has them, else those that name the table and the
    first column. None when pg_stat_statements cannot be read."""
    view = _view(cur)
    if view is None:
        return None
    group = sql.SQL("GROUP BY queryid ORDER BY sum(calls) DESC LIMIT %s")
    if queries:
        statement = sql.SQL(_COUNTERS + "AND query = ANY(%s) ").format(view=view) + group
        cur.execute(statement, [HIDDEN, list(queries), MAX_STATEMENTS])
        found = _counters(cur.fetchall())
        if found:
            return found
    patterns = [_mention(table), _mention(columns[0])] if columns else [_mention(table)]
    statement = sql.SQL(_COUNTERS + "AND query ~ %s AND query ~ %s ").format(view=view) + group
    cur.execute(statement, [HIDDEN, patterns[0], patterns[-1], MAX_STATEMENTS])
    return _counters(cur.fetchall())


def _mention(name: str) -> str:
    """A POSIX regex for ``name`` as an identifier: quoted, or bare when it is a plain lower-case
    name (PostgreSQL folds bare names to lower case)."""
    quoted = re.escape('"' + name.replace('"', '""') + '"')
    if re.fullmatch(r"[a-z_][a-z0-9_]*", name):
        return f"({quoted}|\\m{name}\\M)"
    return quoted


def current_counters(cur: Cursor, queryids: list[str]) -> dict[str, Counters] | None:
    view = _view(cur)
    if view is None:
        return None
    statement = sql.SQL(_COUNTERS + "AND queryid::text = ANY(%s) GROUP BY queryid").format(
        view=view
    )
    cur.execute(statement, [HIDDEN, queryids])
    return {c.queryid: c for c in _counters(cur.fetchall())}


def index_scans(cur: Cursor, schema: str, index: str) -> int | None:
    """How often the index was scanned since the statistics began; None when it is gone. A
    partitioned table's index has no scans of its own: its partitions' indexes are summed."""
    cur.execute(
        "SELECT coalesce(sum(s.idx_scan), 0)::bigint AS scans FROM pg_class c "
        "JOIN pg_namespace n ON n.oid = c.relnamespace "
        "CROSS JOIN LATERAL (SELECT c.oid AS relid WHERE c.relkind = 'i' "
        "  UNION ALL SELECT t.relid FROM pg_partition_tree(c.oid) t "
        "  WHERE c.relkind = 'I' AND t.isleaf) leaf "
        "LEFT JOIN pg_stat_user_indexes s ON s.indexrelid = leaf.relid "
        "WHERE n.nspname = %s AND c.relname = %s AND c.relkind IN ('i', 'I') GROUP BY c.oid",
        [schema, index],
    )
    row = cur.fetchone()
    return None if row is None else int(row["scans"])


# --- snapshot and measure -------------------------------------------------------------------


def take_snapshot(
    cur: Cursor,
    database: str,
    schema: str,
    index: str,
    table: str,
    columns: tuple[str, ...],
    queries: tuple[str, ...] = (),
) -> Snapshot:
    """The counters now, for an index about to be built."""
    found = statements_for(cur, table, columns, queries)
    return Snapshot(
        database=database,
        schema=schema,
        index=index,
        table=table,
        columns=tuple(columns),
        taken_at=datetime.now(UTC).isoformat(timespec="seconds"),
        statements=found or (),
        statements_available=found is not None,
    )


def compare(snapshot: Snapshot, now: dict[str, Counters], scans: int) -> IndexEffect:
    """The effect, from the snapshot's counters and the current ones."""
    effects, notes = [], []
    for before in snapshot.statements:
        after = now.get(before.queryid)
        if after is None:
            notes.append(f"statement {before.queryid} is no longer in pg_stat_statements")
            continue
        if after.calls < before.calls:  # pg_stat_statements was reset since: all is "after"
            since = after
            notes.append("pg_stat_statements was reset after the build: every call counts as after")
        else:
            since = Counters(
                after.queryid,
                after.query,
                after.calls - before.calls,
                after.total_ms - before.total_ms,
                after.rows - before.rows,
                after.blocks - before.blocks,
            )
        effects.append(_effect(before, since, scans))
    return IndexEffect(
        index=snapshot.index,
        verdict=_overall(effects, scans),
        statements=tuple(effects),
        index_scans=scans,
        built_at=snapshot.taken_at,
        note="; ".join(dict.fromkeys(notes)) or None,
    )


def _effect(before: Counters, since: Counters, scans: int) -> StatementEffect:
    mean_b, rows_b, blocks_b = before.per_call()
    mean_a, rows_a, blocks_a = since.per_call()
    if since.calls <= 0:
        verdict = NO_CALLS
    elif scans <= 0:
        verdict = NOT_USED
    elif _lower(mean_a, mean_b, HELPED_SHARE) or _lower(blocks_a, blocks_b, BLOCKS_SHARE):
        verdict = HELPED
    else:
        verdict = NO_CHANGE
    return StatementEffect(
        before.queryid,
        before.query,
        before.calls,
        since.calls,
        mean_b,
        mean_a,
        rows_b,
        rows_a,
        blocks_b,
        blocks_a,
        verdict,
    )


def _lower(after: float | None, before: float | None, share: float) -> bool:
    return after is not None and before is not None and before > 0 and after <= before * (1 - share)


def _overall(effects: list[StatementEffect], scans: int) -> str:
    called = [e for e in effects if e.calls_after > 0]
    if scans <= 0:
        return NOT_USED if called or not effects else NO_CALLS
    if any(e.verdict == HELPED for e in called):
        return HELPED
    return NO_CHANGE if called else NO_CALLS


def measure(
    session: DatabaseSession, index: str, store: SnapshotStore | None = None
) -> IndexEffect:
    """The effect of ``index`` (in the session's schema) since Fibuca built it."""
    return session.run(measure_in, session.target.server, session.schema, index, store)


def measure_in(
    cur: Cursor, database: str, schema: str, index: str, store: SnapshotStore | None = None
) -> IndexEffect:
    """``measure`` on a cursor (the panel's workers); raises ``UsageError`` for an index Fibuca
    has no snapshot of, or one dropped since."""
    snapshot = (store or SnapshotStore()).get(database, schema, index)
    if snapshot is None:
        raise UsageError(
            f"No snapshot of {index}: Fibuca measures the indexes it built itself (the Apply "
            "button or db apply), from the statistics it kept just before the build."
        )
    return measure_snapshot(cur, snapshot)


def measure_snapshot(cur: Cursor, snapshot: Snapshot) -> IndexEffect:
    scans = index_scans(cur, snapshot.schema, snapshot.index)
    if scans is None:
        raise UsageError(f"The index {snapshot.index} is gone (dropped since it was built).")
    now = current_counters(cur, [s.queryid for s in snapshot.statements]) or {}
    effect = compare(snapshot, now, scans)
    if not snapshot.statements_available:
        note = "pg_stat_statements could not be read at the build: only the index's scans count"
        effect = replace(effect, note=note)
    return effect


# --- the snapshots on disk ------------------------------------------------------------------


def default_snapshot_path() -> Path:
    """``$FIBUCA_INDEX_SNAPSHOTS``, else ``index-snapshots.json`` in the per-user data folder."""
    override = os.environ.get("FIBUCA_INDEX_SNAPSHOTS")
    return Path(override).expanduser() if override else user_data_folder() / FILE_NAME


@dataclass
class SnapshotStore:
    """The snapshots by database and index, one JSON file; a damaged file is set aside (renamed
    ``.broken-<time>``) with a warning and a new one started, never a crash."""

    path: Path = field(default_factory=default_snapshot_path)
    problem: str | None = None

    def _read(self) -> dict[str, dict]:
        try:
            data = json.loads(self.path.read_text(encoding="utf-8"))
        except FileNotFoundError:
            return {}
        except (OSError, ValueError) as error:
            self._set_aside(f"could not be read ({error})")
            return {}
        if not isinstance(data, dict) or data.get("format") != FORMAT:
            self._set_aside("is not a snapshot file this version knows")
            return {}
        snapshots = data.get("snapshots")
        return snapshots if isinstance(snapshots, dict) else {}

    def _set_aside(self, why: str) -> None:
        stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ")
        aside = self.path.with_name(f"{self.path.name}.broken-{stamp}")
        try:
            os.replace(self.path, aside)
        except OSError:
            aside = self.path
        self.problem = f"The index snapshot file {self.path} {why}; it was set aside as {aside}."
        log.warning("%s", self.problem)

    def get(self, database: str, schema: str, index: str) -> Snapshot | None:
        entry = self._read().get(f"{database} {schema}.{index}")
        if not isinstance(entry, dict):
            return None
        try:
            statements = tuple(Counters(**s) for s in entry.get("statements", []))
            fields = {k: v for k, v in entry.items() if k != "statements"}
            fields["columns"] = tuple(fields.get("columns", ()))
            return Snapshot(**fields, statements=statements)
        except (TypeError, ValueError):
            log.warning("index snapshot %s.%s is damaged; ignored", schema, index)
            return None

    def save(self, snapshot: Snapshot) -> None:
        """Add (or replace) one snapshot; raises ``OutputError`` when the file cannot be written."""
        snapshots = self._read()
        entry = asdict(snapshot)
        entry["columns"] = list(snapshot.columns)
        snapshots.pop(snapshot.key, None)
        snapshots[snapshot.key] = entry
        while len(snapshots) > MAX_SNAPSHOTS:
            snapshots.pop(next(iter(snapshots)))
        text = json.dumps({"format": FORMAT, "snapshots": snapshots}, indent=1)
        try:
            write_atomically(
                self.path, lambda handle: handle.write(text.encode("utf-8")), overwrite=True
            )
        except OutputError as error:
            raise OutputError(f"The index snapshot could not be kept: {error}") from None
