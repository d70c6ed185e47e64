"""The pooled SQLAlchemy engine on psycopg2, and the translation of its failures.

Pool size 5 by default (Fibuca's connection limit) with no overflow: the panel never holds more
connections than that, however many requests are waiting. Pre-ping replaces connections that died
with a server restart, so a session recovers by itself once the server is back. Every connection
is read-only by default at the server (``default_transaction_read_only``) and has a statement
timeout; only the index builder opens a writable connection, on its own.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

import psycopg2
from sqlalchemy import create_engine, event
from sqlalchemy.engine import Engine
from sqlalchemy.exc import DBAPIError
from sqlalchemy.exc import TimeoutError as PoolTimeout
from sqlalchemy.pool import NullPool, QueuePool

from fibuca_desktop.core.database.credentials import connect_with_keyring
from fibuca_desktop.core.database.database_url import DatabaseTarget
from fibuca_desktop.core.database.url_parts import ENCODE_HINT
from fibuca_desktop.core.errors import DatabaseUnavailable, QueryFailed, UsageError

log = logging.getLogger(__name__)

APPLICATION_NAME = "fibuca-desktop"


@dataclass(frozen=True)
class PoolSettings:
    """How many connections, how long to wait for one, how long a statement may run."""

    size: int = 5
    timeout_s: float = 10.0
    recycle_s: int = 1800
    connect_timeout_s: int = 5
    statement_timeout_s: float = 15.0
    lock_timeout_s: float = 5.0  # below the statement timeout: a wait on a lock says so

    def __post_init__(self) -> None:
        if self.size < 1:
            raise ValueError("the pool needs at least one connection")


def make_engine(target: DatabaseTarget, settings: PoolSettings, *, pooled: bool = True) -> Engine:
    """A pooled engine (read-only connections), or with ``pooled=False`` one that opens a fresh
    writable autocommit connection per use (for index builds)."""
    options = f"-c statement_timeout={int(settings.statement_timeout_s * 1000)}"
    if pooled:
        options += " -c default_transaction_read_only=on"
        options += f" -c lock_timeout={int(settings.lock_timeout_s * 1000)}"
    connect_args = {
        "application_name": APPLICATION_NAME,
        "connect_timeout": settings.connect_timeout_s,
        "options": options,
        **target.secret_args,
    }
    if pooled:
        engine = create_engine(
            target.url,
            poolclass=QueuePool,
            pool_size=settings.size,
            max_overflow=0,
            pool_timeout=settings.timeout_s,
            pool_pre_ping=True,
            pool_recycle=settings.recycle_s,
            connect_args=connect_args,
        )
    else:
        # Autocommit: nothing to roll back on return, so no "reset" that logs a traceback
        # when the server went away under a build.
        engine = create_engine(
            target.url,
            poolclass=NullPool,
            isolation_level="AUTOCOMMIT",
            pool_reset_on_return=None,
            connect_args=connect_args,
        )
    user = target.url.username or ""

    @event.listens_for(engine, "do_connect")
    def _connect(dialect, _record, cargs, cparams):
        # A password in the URL or PGPASSWORD/.pgpass is libpq's business; the keyring is last.
        return connect_with_keyring(dialect.loaded_dbapi, cparams, user, target.server)

    log.info("engine for %s (pool %s)", target.masked, settings.size if pooled else "none")
    return engine


_MID_SESSION = (
    "server closed the connection unexpectedly",
    "terminating connection due to administrator command",
    "connection already closed",
    "ssl syscall error",
    "could not receive data from server",
    "connection to server was lost",
    "cursor already closed",
)


# What a server that is stopping or starting says to a new connection: "lost" is then right.
_SERVER_STOPPING = (
    "shutting down",
    "starting up",
    "not yet accepting connections",
    "in recovery mode",
)


def translate(
    error: BaseException,
    target: DatabaseTarget,
    settings: PoolSettings,
    *,
    connecting: bool = False,
) -> Exception:
    """A domain exception for a driver or pool error; never contains the password.
    ``connecting``: the error came while opening a connection, so nothing was "lost"."""
    if isinstance(error, DatabaseUnavailable | QueryFailed | UsageError):
        return error
    server = target.server
    if isinstance(error, PoolTimeout):
        return DatabaseUnavailable(
            f"All {settings.size} connections to {server} stayed busy for "
            f"{settings.timeout_s:g} s; wait for the running inspections to finish or raise "
            "the pool size."
        )
    original = error.orig if isinstance(error, DBAPIError) else error
    text = str(original).strip()
    lowered = text.lower()
    user = target.url.username or ""
    if isinstance(original, psycopg2.errors.LockNotAvailable):
        return DatabaseUnavailable(
            f"{server}: the query waited more than {settings.lock_timeout_s:g} s for a lock "
            "another session holds on a table it reads (not an overloaded server)."
        )
    if isinstance(original, psycopg2.errors.QueryCanceled):
        if "statement timeout" in lowered:
            return DatabaseUnavailable(
                f"{server} did not finish the query within the statement timeout "
                f"({settings.statement_timeout_s:g} s); it was cancelled. The server may be "
                "overloaded, or the timeout is too short for this database."
            )
        return QueryFailed(f"The query was cancelled on {server}.")
    if "password authentication failed" in lowered:
        return DatabaseUnavailable(
            f"Wrong password for user {user!r} on {server}: check the password in the URL, "
            f"PGPASSWORD, ~/.pgpass or the OS keyring ({ENCODE_HINT})."
        )
    if (
        "invalid dsn" in lowered
        or "invalid connection option" in lowered
        or (lowered.startswith("invalid") and "value" in lowered)
    ):
        return UsageError(
            f"The URL for {server} has an option PostgreSQL's client refuses "
            f"({_first_line(text)}): fix or remove it."
        )
    if "no password supplied" in lowered:
        return DatabaseUnavailable(
            f"{server} wants a password for user {user!r}: put it in the URL, PGPASSWORD, "
            "~/.pgpass or the OS keyring."
        )
    if "server does not support ssl" in lowered:
        mode = target.url.query.get("sslmode", "require")
        return DatabaseUnavailable(
            f"{server} does not accept TLS (SSL) connections, but the URL asks for "
            f"sslmode={mode}: turn TLS on at the server (ssl = on, with a certificate), or use "
            "sslmode=prefer (or disable) where the network is trusted."
        )
    if ("ssl" in lowered and "syscall" not in lowered) or "certificate" in lowered:
        return DatabaseUnavailable(
            f"The TLS (SSL) connection to {server} failed: {_first_line(text)}. Check sslmode "
            "and the certificate files (sslrootcert, sslcert, sslkey) named in the URL."
        )
    if "does not exist" in lowered and "database" in lowered:
        return DatabaseUnavailable(
            f"The database {target.url.database!r} does not exist on {server}: check the "
            "database name in the URL."
        )
    if "does not exist" in lowered and "role" in lowered:
        return DatabaseUnavailable(f"There is no user {user!r} on {server}: check the URL.")
    if "connection refused" in lowered or "no such file or directory" in lowered:
        return DatabaseUnavailable(
            f"PostgreSQL is not running at {server} (connection refused): start the server, or "
            "check the host and port in the URL."
        )
    if "timeout expired" in lowered:
        return DatabaseUnavailable(
            f"No answer from {server} within {settings.connect_timeout_s} s: check the host, the "
            "network or VPN, and that the server accepts connections."
        )
    if "could not translate host name" in lowered:
        return DatabaseUnavailable(
            f"Unknown host in {target.masked}: check the host in the URL ({ENCODE_HINT}, or "
            "part of it is read as the host)."
        )
    if "too many connections" in lowered or "remaining connection slots" in lowered:
        return DatabaseUnavailable(
            f"{server} refuses new connections (max_connections reached): close idle clients."
        )
    if "session is read-only" in lowered and "target_session_attrs" in target.url.query:
        return UsageError(
            f"{server}: target_session_attrs={target.url.query['target_session_attrs']} in the "
            "URL cannot be met, because Fibuca's inspections use read-only sessions: use "
            "target_session_attrs=primary, or remove it (Fibuca connects to one host only)."
        )
    stopping = any(marker in lowered for marker in _SERVER_STOPPING)
    if connecting and not stopping and not any(marker in lowered for marker in _MID_SESSION):
        return DatabaseUnavailable(
            f"Could not connect to {server}: {_first_line(text)}. Check the URL and its "
            "options (sslmode, gssencmode, target_session_attrs, ...)."
        )
    if any(marker in lowered for marker in _MID_SESSION) or isinstance(
        original, psycopg2.OperationalError | psycopg2.InterfaceError
    ):
        return DatabaseUnavailable(
            f"The connection to {server} was lost (the server stopped or restarted): "
            f"{_first_line(text)}. Retry once it is back; Fibuca reconnects by itself."
        )
    return QueryFailed(f"{server} refused the query: {_first_line(text)}")


def _first_line(text: str) -> str:
    return text.splitlines()[0] if text else "no detail"
