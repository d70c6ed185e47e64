"""``DatabaseSession``: the one service the Database panel and ``fibuca-desktop db`` receive.

It owns the bounded connection pool and a small bounded worker pool, so inspections never run on
the UI thread and never open more connections than the pool size, however many are requested.
Each inspection runs in a read-only transaction with a statement timeout and is rolled back.
Read-only mode (on by default) refuses every write before it reaches the server.
"""

from __future__ import annotations

import contextlib
import logging
import threading
from collections.abc import Callable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, replace
from datetime import datetime
from typing import TypeVar

import psycopg2
import psycopg2.extras
from sqlalchemy.engine import Engine
from sqlalchemy.exc import SQLAlchemyError

from fibuca_desktop.core.database.connection import PoolSettings, make_engine, translate
from fibuca_desktop.core.database.database_url import DatabaseTarget, parse_database_url
from fibuca_desktop.core.database.locks import holders_text, lock_holders
from fibuca_desktop.core.errors import DatabaseUnavailable, WriteRefused

log = logging.getLogger(__name__)

T = TypeVar("T")


@dataclass(frozen=True)
class PoolStatus:
    """What the panel shows: the limit, connections in use, open but idle, requests waiting."""

    size: int
    checked_out: int
    idle: int
    waiting: int


class DatabaseSession:
    """Pooled, read-only-by-default access to one database.

    ``submit(work)`` runs ``work(cursor)`` on a worker and returns a future; ``run(work)`` does
    the same on the calling thread. The cursor returns rows as dicts. Failures come out as
    ``DatabaseUnavailable`` (connection, password, timeout) or ``QueryFailed``.
    """

    def __init__(
        self,
        url: str,
        settings: PoolSettings | None = None,
        *,
        read_only: bool = True,
        workers: int | None = None,
        lock_timeout_s: float | None = None,
    ) -> None:
        self.target: DatabaseTarget = parse_database_url(url)
        if settings is None:
            settings = PoolSettings(size=self.target.connection_limit or PoolSettings.size)
        if lock_timeout_s is not None:  # how long a read may wait for a lock (db apply's)
            statement_s = max(settings.statement_timeout_s, lock_timeout_s + 5)
            settings = replace(
                settings, lock_timeout_s=lock_timeout_s, statement_timeout_s=statement_s
            )
        self.settings = settings
        self.read_only = read_only
        self.engine: Engine = make_engine(self.target, settings)
        worker_count = workers or min(settings.size, 4)
        self._executor = ThreadPoolExecutor(worker_count, thread_name_prefix="fibuca-db")
        self._waiting = 0
        self._lock = threading.Lock()
        # (schema, index) -> when Fibuca built it: an index this young is not "unused" yet.
        self.built_indexes: dict[tuple[str, str], datetime] = {}

    @property
    def schema(self) -> str:
        return self.target.schema

    def built_in(self, schema: str) -> dict[str, datetime]:
        """The indexes built through this session in ``schema``, with when."""
        return {name: at for (where, name), at in self.built_indexes.items() if where == schema}

    @property
    def masked_url(self) -> str:
        return self.target.masked

    def submit(self, work: Callable[..., T], *args) -> Future[T]:
        """Run ``work(cursor, *args)`` in a read-only transaction on a worker thread."""
        return self._executor.submit(self.run, work, *args)

    def run(self, work: Callable[..., T], *args) -> T:
        """Run ``work(cursor, *args)`` in a read-only transaction here; always rolled back."""
        with self.cursor() as cur:
            return work(cur, *args)

    @contextlib.contextmanager
    def cursor(self) -> Iterator[psycopg2.extensions.cursor]:
        """A dict cursor in a read-only transaction on a pooled connection (rolled back after)."""
        dict_rows = psycopg2.extras.RealDictCursor
        with self.connection() as raw, raw.cursor(cursor_factory=dict_rows) as cur:
            cur.execute("SET TRANSACTION READ ONLY")
            cur.execute(
                "SELECT set_config('statement_timeout', %s, true)",
                [f"{int(self.settings.statement_timeout_s * 1000)}"],
            )
            yield cur

    @contextlib.contextmanager
    def connection(self) -> Iterator[psycopg2.extensions.connection]:
        """One pooled DBAPI connection for a unit of work that needs connection state (hypopg,
        prepared statements); rolled back and returned to the pool after. A connection that broke
        is discarded, so the next request gets a fresh one."""
        with self._lock:
            self._waiting += 1
        try:
            try:
                sa_connection = self.engine.connect()
            finally:
                with self._lock:
                    self._waiting -= 1
        except (SQLAlchemyError, psycopg2.Error) as error:
            raise translate(error, self.target, self.settings, connecting=True) from error
        with sa_connection:
            raw = sa_connection.connection.dbapi_connection
            try:
                yield raw
            except (SQLAlchemyError, psycopg2.Error) as error:
                if raw.closed:  # the server went away: never hand this one out again
                    sa_connection.invalidate()
                domain = translate(error, self.target, self.settings)
                if isinstance(getattr(error, "orig", error), psycopg2.errors.LockNotAvailable):
                    domain = DatabaseUnavailable(f"{domain} It is {self._holders(raw)}")
                raise domain from error
            finally:
                if not sa_connection.invalidated:
                    with contextlib.suppress(psycopg2.Error):
                        raw.rollback()

    def _holders(self, raw: psycopg2.extensions.connection) -> str:
        """Who holds the lock we waited for, read on the same connection after its rollback."""
        try:
            raw.rollback()
            with raw.cursor(cursor_factory=psycopg2.extras.RealDictCursor) as cur:
                return holders_text(lock_holders(cur))
        except psycopg2.Error as error:
            log.info("could not read pg_locks: %s", type(error).__name__)
            return "held by another session (pg_locks could not be read)."

    def require_writes(self, action: str) -> None:
        """Raise ``WriteRefused`` in read-only mode; call before anything that writes."""
        if self.read_only:
            raise WriteRefused(
                f"Read-only mode is on, so Fibuca will not {action}. Turn read-only mode off for "
                "this connection first (the CLI does so for `db apply`, after confirmation)."
            )

    def writer_engine(self) -> Engine:
        """A new engine whose every connection is fresh, writable and autocommit (index builds)."""
        self.require_writes("open a writable connection")
        return make_engine(self.target, self.settings, pooled=False)

    def pool_status(self) -> PoolStatus:
        pool = self.engine.pool
        with self._lock:
            waiting = self._waiting
        return PoolStatus(self.settings.size, pool.checkedout(), pool.checkedin(), waiting)

    def close(self) -> None:
        """Stop accepting work, wait for running inspections, close every connection."""
        self._executor.shutdown(wait=True, cancel_futures=True)
        self.engine.dispose()

    def __enter__(self) -> DatabaseSession:
        return self

    def __exit__(self, *_exc) -> None:
        self.close()
