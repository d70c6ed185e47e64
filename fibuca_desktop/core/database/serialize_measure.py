"""The real bytes a statement sends, measured on demand with PostgreSQL 17's ``EXPLAIN (ANALYZE,
SERIALIZE)``: the server runs it and converts every row to what the client would receive, then
sends only the plan, with the ``Output Volume`` those rows would have been.

The over-fetching finder (``overfetch.py``) estimates bytes per call without running anything;
this runs the statement once, so it is held to more than a plan: one SELECT (``WITH`` included)
that passes ``statement_check``, in the caller's READ ONLY transaction (checked, never assumed),
under its own ``statement_timeout`` and ``lock_timeout`` (``SET LOCAL``), rolled back with the
transaction. A statement that writes anyway (``nextval()``, a function that writes) is refused
by PostgreSQL there, and said so. ``$1..$n`` statements from pg_stat_statements are prepared and
measured with ``EXECUTE name(%s, ...)``, the values bound by the driver, then deallocated (a
prepared statement outlives a rollback).
"""

from __future__ import annotations

import itertools
import logging
import re
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

import psycopg2
from psycopg2 import sql
from psycopg2.extensions import cursor as Cursor

from fibuca_desktop.core.byte_size import human_bytes
from fibuca_desktop.core.database.explain import aborted
from fibuca_desktop.core.database.overfetch import statement_estimate
from fibuca_desktop.core.database.slow_queries import HIDDEN, statements_schema
from fibuca_desktop.core.database.statement_check import single_statement
from fibuca_desktop.core.errors import QueryFailed, UsageError

if TYPE_CHECKING:
    from fibuca_desktop.core.database.session import DatabaseSession

log = logging.getLogger(__name__)

SERIALIZE_VERSION_NUM = 170000  # EXPLAIN's SERIALIZE option is new in PostgreSQL 17
DEFAULT_TIMEOUT_S = 10.0
DEFAULT_LOCK_TIMEOUT_S = 2.0
MAX_PARAMETERS = 1000
_QUERYID = re.compile(r"^\s*-?[0-9]{1,20}\s*$")
_names = itertools.count(1)


class SerializeUnsupported(QueryFailed):
    """The server is older than PostgreSQL 17, so it cannot measure what a statement sends."""


@dataclass(frozen=True)
class SerializedBytes:
    """One run of a statement: the bytes its rows came to on the wire, and the estimate."""

    queryid: str | None
    query: str
    parameters: tuple[str, ...]
    rows: int
    output_kb: int  # EXPLAIN's Output Volume: kB, rounded up
    serialize_ms: float
    execution_ms: float
    estimated_bytes_per_call: float | None  # the over-fetch finder's, for pg_stat_statements' rows
    estimated_rows_per_call: float | None

    @property
    def output_bytes(self) -> int:
        return self.output_kb * 1024

    @property
    def summary(self) -> str:
        """One line a person reads: measured, and the estimate next to it."""
        text = (
            f"{human_bytes(self.output_bytes)} sent for {self.rows} rows (serializing "
            f"{self.serialize_ms:.1f} ms, execution {self.execution_ms:.1f} ms)"
        )
        if self.estimated_bytes_per_call is not None:
            text += (
                f"; estimated {human_bytes(self.estimated_bytes_per_call)} per call for "
                f"{self.estimated_rows_per_call:g} rows"
            )
        return text

    def to_json(self) -> dict:
        return {
            "queryid": self.queryid,
            "query": self.query,
            "parameters": list(self.parameters),
            "rows": self.rows,
            "outputKiloBytes": self.output_kb,
            "outputBytes": self.output_bytes,
            "serializeMs": round(self.serialize_ms, 3),
            "executionMs": round(self.execution_ms, 3),
            "estimatedBytesPerCall": None
            if self.estimated_bytes_per_call is None
            else round(self.estimated_bytes_per_call, 1),
            "estimatedRowsPerCall": self.estimated_rows_per_call,
        }


def serialized_bytes(
    session: DatabaseSession,
    statement: str,
    parameters: Sequence[str] = (),
    timeout_s: float = DEFAULT_TIMEOUT_S,
) -> SerializedBytes:
    """``measure_serialized`` on a pooled connection, in the session's read-only transaction."""
    lock_s = min(session.settings.lock_timeout_s, timeout_s)
    return session.run(measure_serialized, statement, parameters, timeout_s, lock_s)


def supports_serialize(cur: Cursor) -> bool:
    return cur.connection.server_version >= SERIALIZE_VERSION_NUM


def measure_serialized(
    cur: Cursor,
    statement: str,
    parameters: Sequence[str] = (),
    timeout_s: float = DEFAULT_TIMEOUT_S,
    lock_timeout_s: float = DEFAULT_LOCK_TIMEOUT_S,
) -> SerializedBytes:
    """Run ``statement`` (a pg_stat_statements queryid, or a statement's text) once under
    ``EXPLAIN (ANALYZE, SERIALIZE, BUFFERS, FORMAT JSON)`` with ``parameters`` for its
    ``$1..$n``. Raises ``SerializeUnsupported`` before PostgreSQL 17, ``UsageError`` for a
    statement that is not one SELECT or gets the wrong number of values, ``QueryFailed`` when
    it writes, runs out of time or fails."""
    if not supports_serialize(cur):
        version = _version_text(cur.connection.server_version)
        raise SerializeUnsupported(
            "Measuring the bytes a statement sends (EXPLAIN (ANALYZE, SERIALIZE)) needs "
            f"PostgreSQL 17 or later (this server is {version}); the over-fetching estimate "
            "still works here."
        )
    if timeout_s <= 0 or lock_timeout_s <= 0:
        raise UsageError("the measuring timeouts must be above 0 s")
    if len(parameters) > MAX_PARAMETERS:
        raise UsageError(f"at most {MAX_PARAMETERS} parameter values can be given")
    queryid, text = _resolve(cur, statement)
    text, kind = single_statement(text)
    if kind != "SELECT":
        raise UsageError(
            f"Only a SELECT (or WITH ... SELECT) can be measured, because measuring runs it; "
            f"this is {kind}."
        )
    cur.execute("SHOW transaction_read_only")
    if next(iter(cur.fetchone().values())) != "on":  # never run it where it could write
        raise UsageError("the statement is measured only inside a READ ONLY transaction")
    cur.execute("SET LOCAL statement_timeout = %s", [f"{int(timeout_s * 1000)}ms"])
    cur.execute("SET LOCAL lock_timeout = %s", [f"{int(lock_timeout_s * 1000)}ms"])
    document = _explain(cur, text, [str(value) for value in parameters], timeout_s)
    top = document["Plan"]
    serialization = document.get("Serialization") or {}
    estimate = statement_estimate(cur, queryid) if queryid is not None else []
    rows_per_call = estimate[0].rows_per_call if estimate else None
    return SerializedBytes(
        queryid=queryid,
        query=text,
        parameters=tuple(str(value) for value in parameters),
        rows=round(float(top.get("Actual Rows", 0)) * float(top.get("Actual Loops", 1))),
        output_kb=int(serialization.get("Output Volume", 0)),
        serialize_ms=float(serialization.get("Time", 0.0)),
        execution_ms=float(document.get("Execution Time", 0.0)),
        estimated_bytes_per_call=sum(q.bytes_per_call for q in estimate) if estimate else None,
        estimated_rows_per_call=None if rows_per_call is None else round(rows_per_call, 3),
    )


def _version_text(number: int) -> str:
    major = number // 10000
    return f"{major}.{number % 10000}" if major >= 10 else f"{major}.{number // 100 % 100}"


def _resolve(cur: Cursor, statement: str) -> tuple[str | None, str]:
    """(queryid, text): a queryid is looked up in pg_stat_statements (its top-level SELECT
    text); a text is taken as is, with the queryid of an entry with exactly that text."""
    view = statements_schema(cur)
    table = None if view is None else sql.Identifier(view, "pg_stat_statements")
    if _QUERYID.match(statement):
        queryid = statement.strip()
        if table is None:
            raise UsageError(
                "pg_stat_statements is not installed in this database, so a queryid cannot be "
                "looked up: give the statement's text instead"
            )
        cur.execute(
            sql.SQL(
                "SELECT query FROM {} WHERE queryid::text = %s AND query IS DISTINCT FROM %s "
                "AND dbid = (SELECT oid FROM pg_database WHERE datname = current_database()) "
                "AND query !~* '^\\s*EXPLAIN\\M' ORDER BY calls DESC LIMIT 1"
            ).format(table),
            [queryid, HIDDEN],
        )
        row = cur.fetchone()
        if row is None:
            raise UsageError(
                f"No statement with queryid {queryid} in pg_stat_statements of this database "
                "(or its text is hidden from this role): take one from `db overfetch --json` or "
                "`db slow --json`"
            )
        return queryid, row["query"]
    if table is None:
        return None, statement
    cur.execute(
        sql.SQL(
            "SELECT queryid::text AS queryid FROM {} WHERE query = %s "
            "AND dbid = (SELECT oid FROM pg_database WHERE datname = current_database()) LIMIT 1"
        ).format(table),
        [statement.strip()],
    )
    row = cur.fetchone()
    return (row["queryid"] if row else None), statement


def _explain(cur: Cursor, text: str, values: list[str], timeout_s: float) -> dict:
    options = "ANALYZE, SERIALIZE, BUFFERS, FORMAT JSON"
    name = sql.Identifier(f"fibuca_serialize_{next(_names)}")
    cur.execute("SAVEPOINT fibuca_serialize")
    prepared = False
    try:
        cur.execute(sql.SQL("PREPARE {} AS ").format(name) + sql.SQL(text))
        prepared = True
        cur.execute(
            "SELECT parameter_types::text[] AS types FROM pg_prepared_statements WHERE name = %s",
            [name.strings[0]],
        )
        types = cur.fetchone()["types"] or []
        if len(types) != len(values):
            raise UsageError(_count_message(types, values))
        arguments = sql.SQL("({})").format(sql.SQL(", ").join([sql.Placeholder()] * len(values)))
        execute = sql.SQL(f"EXPLAIN ({options}) EXECUTE {{}}{{}}").format(
            name, arguments if values else sql.SQL("")
        )
        cur.execute(execute, values)
        document = next(iter(cur.fetchone().values()))
    except psycopg2.DatabaseError as error:
        if cur.connection.closed:
            raise  # the connection is gone; the session reports it
        cur.execute("ROLLBACK TO SAVEPOINT fibuca_serialize")
        raise _refused(error, timeout_s) from None
    finally:
        if prepared and not cur.connection.closed and not aborted(cur):
            cur.execute(sql.SQL("DEALLOCATE {}").format(name))
    cur.execute("RELEASE SAVEPOINT fibuca_serialize")
    return document[0]


def _count_message(types: list[str], values: list[str]) -> str:
    wanted = ", ".join(f"${n} {kind}" for n, kind in enumerate(types, 1))
    if not types:
        return (
            f"This statement takes no parameters, but {len(values)} value(s) were given: "
            "leave them out"
        )
    return (
        f"This statement needs {len(types)} parameter value(s) ({wanted}) and got "
        f"{len(values)}: give one value per placeholder, in order (`--param VALUE` once for "
        "each, or the fields of the dialog)"
    )


def _refused(error: psycopg2.DatabaseError, timeout_s: float) -> Exception:
    message = str(error).strip().splitlines()[0] if str(error).strip() else type(error).__name__
    if isinstance(error, psycopg2.errors.ReadOnlySqlTransaction):
        return QueryFailed(
            f"PostgreSQL refused to run this statement in a read-only transaction ({message}): "
            "it writes (a sequence's nextval(), a function that changes data), so its bytes are "
            "not measured; measure a copy without the writing call"
        )
    if isinstance(error, psycopg2.errors.QueryCanceled):
        return QueryFailed(
            f"The statement ran longer than the measuring timeout ({timeout_s:g} s) and was "
            "cancelled; nothing was measured. Allow more time (`--timeout S`) or measure it with "
            "values that return fewer rows"
        )
    if isinstance(error, psycopg2.errors.LockNotAvailable):
        return QueryFailed(
            f"The statement waited too long for a lock another session holds ({message}); "
            "nothing was measured. Try again when that session is done"
        )
    if isinstance(error, psycopg2.DataError | psycopg2.errors.SyntaxError):
        return UsageError(f"PostgreSQL cannot run the statement with these values: {message}")
    return QueryFailed(f"PostgreSQL could not measure this statement: {message}")
