"""Ending a blocker: cancel its query (``pg_cancel_backend``) or terminate its session
(``pg_terminate_backend``), as the "Blocked now" page and ``db cancel`` offer.

A write: refused in read-only mode before anything reaches the server, never aimed at the
connection running it, parameters bound, and reported in one line a person can act on (a cancel
of a session idle in transaction does nothing and keeps its locks: it says so). A prepared
transaction (pid 0 in the lock tree) has no session to signal.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import TYPE_CHECKING

import psycopg2

from fibuca_desktop.core.database.blocking import PREPARED_PID
from fibuca_desktop.core.errors import UsageError

if TYPE_CHECKING:
    from psycopg2.extensions import cursor as Cursor

    from fibuca_desktop.core.database.session import DatabaseSession

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class EndResult:
    """What happened: ``outcome`` is cancelled, terminated, no effect, gone or not permitted."""

    pid: int
    outcome: str
    message: str

    def to_json(self) -> dict:
        return {"pid": self.pid, "outcome": self.outcome, "message": self.message}


def end_session(session: DatabaseSession, pid: int, *, terminate: bool = False) -> EndResult:
    """Cancel the query of ``pid`` (``pg_cancel_backend``), or with ``terminate`` end its whole
    session (``pg_terminate_backend``, which also rolls back its transaction and frees its
    locks). Raises ``WriteRefused`` in read-only mode, ``UsageError`` for Fibuca's own pid."""
    verb = "terminate" if terminate else "cancel"
    session.require_writes(f"{verb} another session (pid {pid})")
    if pid == PREPARED_PID:
        raise UsageError(
            "pid 0 is a prepared transaction, with no session to signal: end it with COMMIT "
            "PREPARED or ROLLBACK PREPARED (its gid is in pg_prepared_xacts)."
        )
    if not 0 < pid < 2**31:
        raise UsageError(f"{pid} is not a process id: give the pid shown by `db blocked`.")
    return session.run(_signal, int(pid), terminate)


_TARGET = """
SELECT pid, pg_backend_pid() AS own, current_user::text AS me,
    coalesce(usename::text, '') AS user_name,
    coalesce(application_name, '') AS application, coalesce(state, '') AS state
FROM pg_stat_activity WHERE pid = %(pid)s
"""


def describe_session(cur: Cursor, pid: int) -> str | None:
    """``user ..., application ..., STATE`` for the confirmation, or None when it is gone."""
    cur.execute(_TARGET, {"pid": pid})
    target = cur.fetchone()
    if target is None:
        return None
    return f"{_who(target)}, {target['state'] or 'no state'}"


def _signal(cur: Cursor, pid: int, terminate: bool) -> EndResult:
    """Look the session up, refuse our own, send the signal; one line says what came of it."""
    cur.execute(_TARGET, {"pid": pid})
    target = cur.fetchone()
    if target is None:
        return EndResult(pid, "gone", f"pid {pid} is already gone: nothing to {_verb(terminate)}.")
    if target["own"] == pid:
        raise UsageError(
            f"pid {pid} is the connection Fibuca is using for this request: refusing to end it."
        )
    who = _who(target)
    function = "pg_terminate_backend" if terminate else "pg_cancel_backend"
    try:
        cur.execute(f"SELECT {function}(%(pid)s) AS sent", {"pid": pid})
    except psycopg2.errors.InsufficientPrivilege as error:
        log.debug("%s(%s) refused", function, pid, exc_info=True)
        return EndResult(pid, "not permitted", _not_permitted(pid, who, target["me"], error))
    if not cur.fetchone()["sent"]:
        return EndResult(pid, "gone", f"pid {pid} ({who}) was gone before the signal reached it.")
    if terminate:
        return EndResult(
            pid, "terminated", f"Terminated pid {pid} ({who}): its transaction is rolled back."
        )
    if target["state"].startswith("idle"):
        return EndResult(
            pid,
            "no effect",
            f"pid {pid} ({who}) is {target['state']}: there is no query to cancel and it keeps "
            "its locks; terminate it to free them.",
        )
    return EndResult(pid, "cancelled", f"Cancelled the running query of pid {pid} ({who}).")


def _verb(terminate: bool) -> str:
    return "terminate" if terminate else "cancel"


def _who(target) -> str:
    app = f", application {target['application']!r}" if target["application"] else ""
    return f"user {target['user_name'] or '?'}{app}"


def _not_permitted(pid: int, who: str, me: str, error: psycopg2.Error) -> str:
    reason = getattr(error.diag, "message_primary", None) or "permission denied"
    return (
        f"Not permitted to end pid {pid} ({who}): {reason}. Connect as its user, or have an "
        f"admin run GRANT pg_signal_backend TO {me}; (a superuser's session only a superuser "
        "can end)."
    )
