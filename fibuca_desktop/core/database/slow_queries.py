"""Slow queries from pg_stat_statements, or a sample of pg_stat_activity when it is missing.

PgHero's defaults: a query is slow when its mean time is at least 20 ms and it ran at least 100
times. Column names changed in PostgreSQL 13 (``total_time`` became ``total_exec_time``), so
they are read from the view itself. Without the extension the report says exactly how to enable
it and samples the queries running now instead.
"""

from __future__ import annotations

import logging
import time
from dataclasses import asdict, dataclass, field

from psycopg2 import sql
from psycopg2.extensions import cursor as Cursor

log = logging.getLogger(__name__)

SORT_KEYS = ("total", "mean", "calls", "rows")
HIDDEN = "<insufficient privilege>"  # what another role's query text reads as
# The rows of pg_stat_statements (which holds every database's) for this database whose text
# this role may read: the one filter of every reader here, over_fetch and index_effect; the
# statement binds HIDDEN for its %s.
VISIBLE_HERE = (
    "dbid = (SELECT oid FROM pg_database WHERE datname = current_database()) "
    "AND query IS DISTINCT FROM %s "
)


def statements_view(schema: str) -> sql.Composed:
    """``schema.pg_stat_statements``, quoted."""
    return sql.SQL("{}.{}").format(sql.Identifier(schema), sql.Identifier("pg_stat_statements"))


def starting_with(*keywords: str) -> str:
    """A condition: the text starts with one of ``keywords`` (or a parenthesis), after any
    comments a client put first (Prisma's sqlcommenter tags)."""
    return "query ~* '^\\s*(/\\*.*?\\*/\\s*)*(" + "|".join(keywords) + "|\\()' "


@dataclass(frozen=True)
class SlowQueryThresholds:
    min_mean_ms: float = 20.0
    min_calls: int = 100
    limit: int = 50


@dataclass(frozen=True)
class SlowQuery:
    query: str
    calls: int
    total_ms: float
    mean_ms: float
    rows: int | None
    source: str = "pg_stat_statements"


@dataclass
class SlowQueryReport:
    queries: list[SlowQuery] = field(default_factory=list)
    statements_available: bool = True
    message: str | None = None  # how to enable pg_stat_statements, when it is missing
    hidden: int = 0  # statements above the thresholds whose text this role may not read
    hidden_message: str | None = None  # how many, whose, and what to grant

    def sorted_by(self, key: str) -> list[SlowQuery]:
        """The queries sorted by ``total``, ``mean``, ``calls`` or ``rows``, largest first."""
        if key not in SORT_KEYS:
            raise ValueError(f"sort by one of {', '.join(SORT_KEYS)}, not {key!r}")
        attribute = {"total": "total_ms", "mean": "mean_ms"}.get(key, key)
        return sorted(self.queries, key=lambda q: getattr(q, attribute) or 0, reverse=True)

    def to_json(self) -> dict:
        return {
            "available": self.statements_available,
            "message": self.message,
            "hidden": self.hidden,
            "hidden_message": self.hidden_message,
            "queries": [asdict(query) for query in self.queries],
        }


def statements_schema(cur: Cursor) -> str | None:
    """The schema pg_stat_statements is installed in, or None."""
    cur.execute(
        "SELECT n.nspname::text AS schema FROM pg_extension e "
        "JOIN pg_namespace n ON n.oid = e.extnamespace WHERE e.extname = 'pg_stat_statements'"
    )
    row = cur.fetchone()
    return row["schema"] if row else None


def enable_instructions(cur: Cursor) -> str | None:
    """None when pg_stat_statements can be read; otherwise the exact steps to enable it."""
    # The library defines pg_stat_statements.max only when it is preloaded; unlike
    # shared_preload_libraries, any user may read it.
    cur.execute(
        "SELECT current_setting('pg_stat_statements.max', true) IS NOT NULL AS preloaded, "
        "current_database() AS db"
    )
    row = cur.fetchone()
    preloaded = row["preloaded"]
    created = statements_schema(cur) is not None
    if preloaded and created:
        return None
    steps = []
    if not preloaded:
        steps.append(
            "add it to postgresql.conf: shared_preload_libraries = 'pg_stat_statements' "
            "(keep any libraries already listed there, comma-separated), then restart PostgreSQL"
        )
    if not created:
        steps.append(
            f'run CREATE EXTENSION pg_stat_statements; in database "{row["db"]}" as a superuser'
        )
    return "pg_stat_statements is not enabled: " + "; ".join(steps) + "."


def slow_queries(
    cur: Cursor,
    thresholds: SlowQueryThresholds | None = None,
    sort: str = "total",
    sample_seconds: float = 1.0,
) -> SlowQueryReport:
    """Slow queries of the current database above ``thresholds``, sorted by ``sort``."""
    thresholds = thresholds or SlowQueryThresholds()
    message = enable_instructions(cur)
    if message is not None:
        log.info("pg_stat_statements missing; sampling pg_stat_activity")
        seen = sample_activity(cur, thresholds.min_mean_ms, sample_seconds)
        report = SlowQueryReport(seen, False, message)
        # Another role's session shows neither its query nor its state nor its timing.
        report.hidden, roles = _hidden_sessions(cur)
        noun, where = ("session", "connected now (their queries and timings)")
    else:
        queries, report_hidden, roles = _from_statements(cur, thresholds)
        report = SlowQueryReport(queries, hidden=report_hidden)
        noun, where = ("statement", "above the thresholds")
    if report.hidden:
        report.hidden_message = _hidden_message(cur, report.hidden, noun, roles, where)
    report.queries = report.sorted_by(sort)[: thresholds.limit]
    return report


def _hidden_sessions(cur: Cursor) -> tuple[int, list[str]]:
    cur.execute(
        "SELECT count(*) AS n, coalesce(array_agg(DISTINCT usename::text) "
        "FILTER (WHERE usename IS NOT NULL), '{}') AS roles FROM pg_stat_activity "
        "WHERE datname = current_database() AND pid <> pg_backend_pid() "
        "AND query IS NOT DISTINCT FROM %s",  # backend_type is hidden too
        [HIDDEN],
    )
    row = cur.fetchone()
    return int(row["n"]), sorted(row["roles"])


def _hidden_message(cur: Cursor, count: int, noun: str, roles: list[str], where: str) -> str:
    cur.execute("SELECT current_user::text AS name, quote_ident(current_user) AS quoted")
    me = cur.fetchone()
    whose = f" of role {', '.join(roles)}" if roles else " of other roles"
    statements = noun if count == 1 else f"{noun}s"
    verb = "is" if count == 1 else "are"
    return (
        f"{count} {statements}{whose} {where} {verb} hidden: role {me['name']} may not read other "
        f"roles' query texts. Grant it as a superuser: GRANT pg_read_all_stats TO {me['quoted']};"
    )


def _from_statements(
    cur: Cursor, thresholds: SlowQueryThresholds
) -> tuple[list[SlowQuery], int, list[str]]:
    """The visible slow queries, and how many hidden rows (and whose) are over the thresholds:
    without pg_read_all_stats another role's text is ``<insufficient privilege>`` (its numbers
    stay readable), so each hidden row is judged on its own, never folded into one."""
    schema = statements_schema(cur)
    cur.execute(
        "SELECT a.attname::text AS name FROM pg_attribute a JOIN pg_class c ON c.oid = a.attrelid "
        "JOIN pg_namespace n ON n.oid = c.relnamespace "
        "WHERE n.nspname = %s AND c.relname = 'pg_stat_statements' AND a.attnum > 0",
        [schema],
    )
    columns = {row["name"] for row in cur.fetchall()}
    total = "total_exec_time" if "total_exec_time" in columns else "total_time"  # PG 12 and older
    # One row per user and queryid: the mean is recomputed over the rows grouped by text.
    query = sql.SQL(
        "SELECT query, sum(calls)::bigint AS calls, sum({total}) AS total_ms, "
        "sum({total}) / greatest(sum(calls), 1) AS mean_ms, sum(rows)::bigint AS rows "
        "FROM {view} WHERE " + VISIBLE_HERE + "GROUP BY query "
        "HAVING sum(calls) >= %s AND sum({total}) / greatest(sum(calls), 1) >= %s"
    ).format(total=sql.Identifier(total), view=statements_view(schema))
    view = statements_view(schema)
    cur.execute(query, [HIDDEN, thresholds.min_calls, thresholds.min_mean_ms])
    visible = [
        SlowQuery(
            row["query"],
            int(row["calls"]),
            float(row["total_ms"]),
            float(row["mean_ms"]),
            int(row["rows"]),
        )
        for row in cur.fetchall()
    ]
    hidden = sql.SQL(
        "SELECT count(*) AS n, coalesce(array_agg(DISTINCT r.rolname::text) "
        "FILTER (WHERE r.rolname IS NOT NULL), '{{}}') AS roles "
        "FROM {view} s LEFT JOIN pg_roles r ON r.oid = s.userid "
        "WHERE s.dbid = (SELECT oid FROM pg_database WHERE datname = current_database()) "
        "AND s.query IS NOT DISTINCT FROM %s AND s.calls >= %s "
        "AND s.{total} / greatest(s.calls, 1) >= %s"
    ).format(total=sql.Identifier(total), view=view)
    cur.execute(hidden, [HIDDEN, thresholds.min_calls, thresholds.min_mean_ms])
    row = cur.fetchone()
    return visible, int(row["n"]), sorted(row["roles"])


def sample_activity(
    cur: Cursor, min_ms: float, seconds: float, every: float = 0.1
) -> list[SlowQuery]:
    """Queries seen running for at least ``min_ms`` in the current database over ``seconds``:
    ``calls`` counts the samples that saw them, ``mean_ms`` is the longest run seen."""
    seen: dict[str, list[float]] = {}
    deadline = time.monotonic() + seconds
    while True:
        cur.execute(
            "SELECT query, "
            "extract(epoch FROM clock_timestamp() - query_start) * 1000 AS ms "
            "FROM pg_stat_activity WHERE datname = current_database() AND state = 'active' "
            "AND pid <> pg_backend_pid() AND backend_type = 'client backend'"
        )
        for row in cur.fetchall():
            if row["ms"] is not None and float(row["ms"]) >= min_ms:
                seen.setdefault(row["query"], []).append(float(row["ms"]))
        if time.monotonic() >= deadline:
            break
        time.sleep(every)
    return [
        SlowQuery(query, len(runs), max(runs), max(runs), None, "pg_stat_activity")
        for query, runs in seen.items()
    ]
