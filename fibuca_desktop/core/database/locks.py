"""Who holds the lock a statement of ours waited for: for a message that names them.

Inspections only need ``ACCESS SHARE`` locks, which nothing but ``ACCESS EXCLUSIVE`` (an open
``ALTER TABLE``, ``LOCK TABLE``, ``VACUUM FULL``, ``REINDEX``, ...) blocks, held or queued ahead of
us. An index build needs the table's other locks to go away, so for a build every session
holding a lock on the table is named. Read after our wait was cancelled (``lock_timeout``): the
holders still hold it then. pg_locks is readable by every role; the query text of another
role's session is ``<insufficient privilege>`` without pg_read_all_stats, and says so.
"""

from __future__ import annotations

from dataclasses import dataclass

from psycopg2.extensions import cursor as Cursor

_HOLDERS = """
SELECT l.pid, coalesce(a.usename::text, '?') AS user_name,
    coalesce(a.application_name, '') AS application, coalesce(a.state, '?') AS state,
    coalesce(extract(epoch FROM clock_timestamp() - coalesce(a.xact_start, a.query_start)), 0)
        AS seconds,
    coalesce(a.query, '') AS query, bool_and(l.granted) AS granted,
    string_agg(DISTINCT l.mode, ', ') AS modes,
    string_agg(DISTINCT coalesce(n.nspname || '.' || c.relname, l.relation::text), ', ')
        AS relations
FROM pg_locks l
LEFT JOIN pg_stat_activity a ON a.pid = l.pid
LEFT JOIN pg_class c ON c.oid = l.relation
LEFT JOIN pg_namespace n ON n.oid = c.relnamespace
WHERE l.locktype = 'relation' AND l.pid <> pg_backend_pid()
  AND l.database = (SELECT oid FROM pg_database WHERE datname = current_database())
  AND (%(table)s::text IS NULL AND l.mode = 'AccessExclusiveLock'
       OR l.relation = to_regclass(%(table)s::text) AND l.granted)
GROUP BY l.pid, a.usename, a.application_name, a.state, a.xact_start, a.query_start, a.query
ORDER BY bool_and(l.granted) DESC, seconds DESC
LIMIT 5
"""


# A concurrent build also waits for every transaction older than itself that holds a snapshot
# (phase "waiting for old snapshots"): those hold no lock on the table, so name them this way.
_OLD_TRANSACTIONS = """
SELECT a.pid, coalesce(a.usename::text, '?') AS user_name,
    coalesce(a.application_name, '') AS application, coalesce(a.state, '?') AS state,
    extract(epoch FROM clock_timestamp() - a.xact_start) AS seconds,
    coalesce(a.query, '') AS query, true AS granted, '' AS modes, '' AS relations
FROM pg_stat_activity a
WHERE a.datname = current_database() AND a.pid <> pg_backend_pid()
  AND a.xact_start < clock_timestamp() - make_interval(secs => %(older)s)
  AND (a.backend_xmin IS NOT NULL OR a.backend_xid IS NOT NULL)
  AND a.backend_type = 'client backend'
ORDER BY a.xact_start
LIMIT 5
"""


@dataclass(frozen=True)
class LockHolder:
    pid: int
    user: str
    application: str
    state: str
    seconds: float
    query: str
    granted: bool
    modes: str
    relations: str

    def describe(self) -> str:
        app = f", application {self.application!r}" if self.application else ""
        if not self.modes:
            what = "whose open transaction the build has to wait for"
        else:
            held = "holds" if self.granted else "is queued for"
            what = f"which {held} {self.modes} on {self.relations}"
        query = " ".join(self.query.split())[:80]
        return (
            f"pid {self.pid} (user {self.user}{app}, {self.state} for {self.seconds:.0f} s), "
            f"{what}" + (f" (last query: {query})" if query else "")
        )


def lock_holders(cur: Cursor, table: str | None = None) -> list[LockHolder]:
    """Sessions holding or queued for ``ACCESS EXCLUSIVE`` locks in this database, or with
    ``table`` (a quoted, qualified name) every session holding a lock on that table."""
    cur.execute(_HOLDERS, {"table": table})
    return [
        _holder(row, bool(row["granted"]), row["modes"], row["relations"]) for row in cur.fetchall()
    ]


def old_transactions(cur: Cursor, older_than_s: float) -> list[LockHolder]:
    """Sessions of this database whose transaction (with a snapshot) began more than
    ``older_than_s`` seconds ago: what a concurrent build waits for after its table scan."""
    cur.execute(_OLD_TRANSACTIONS, {"older": older_than_s})
    return [
        _holder(row, granted=True, modes="", relations="")  # no lock: a snapshot it waits for
        for row in cur.fetchall()
    ]


def _holder(row, granted: bool, modes: str, relations: str) -> LockHolder:
    """One session row of either query (pid, user, application, state, age, last query)."""
    return LockHolder(
        int(row["pid"]),
        row["user_name"],
        row["application"],
        row["state"],
        float(row["seconds"] or 0),
        row["query"],
        granted,
        modes,
        relations,
    )


def holders_text(holders: list[LockHolder]) -> str:
    """``held by pid ... ; pid ...`` and what to do, or what to look at when none was found."""
    if not holders:
        return (
            "the session holding it was gone by the time Fibuca looked; retry, and if it keeps "
            "happening look in pg_locks for ungranted locks."
        )
    names = "; ".join(holder.describe() for holder in holders)
    pids = ", ".join(str(holder.pid) for holder in holders)
    return (
        f"held by {names}. Wait for it to finish, or end it (SELECT pg_terminate_backend(pid) "
        f"for {pids}) if it is stuck."
    )
