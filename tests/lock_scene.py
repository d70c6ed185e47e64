"""Real lock waits for the "Blocked now" tests: a holder and waiters on their own connections.

``LockScene`` opens a ``holder`` connection that updates a row (or locks a table) in an open
transaction, and waiters that run the same statement from threads, so they wait for it (the
second waiter queues behind the first). Every waiter has a statement timeout as a safety net:
a test that fails never leaves a thread waiting forever. ``close()`` (also on failure: use it as
a context manager) rolls the holder back, joins the threads and closes every connection.
"""

from __future__ import annotations

import contextlib
import threading
import time

import psycopg2

WAITER_TIMEOUT_MS = 60_000
TABLE = "lock_target"


def create_target(url: str, table: str = TABLE) -> None:
    """A small table for the scenes to lock (one row, id 1), created once per database."""
    with contextlib.closing(psycopg2.connect(url)) as connection:
        connection.autocommit = True
        with connection.cursor() as cur:
            cur.execute(f'CREATE TABLE IF NOT EXISTS "{table}" (id int PRIMARY KEY, n int)')
            cur.execute(f'INSERT INTO "{table}" VALUES (1, 0) ON CONFLICT DO NOTHING')


class Waiter:
    """One session running ``statement`` on a thread; ``error`` is what ended it, if anything."""

    def __init__(self, url: str, name: str, statement: str) -> None:
        self.name = name
        self.connection = psycopg2.connect(
            url, application_name=name, options=f"-c statement_timeout={WAITER_TIMEOUT_MS}"
        )
        self.pid = self.connection.get_backend_pid()
        self.error: BaseException | None = None
        self.finished = threading.Event()
        self.thread = threading.Thread(target=self._run, args=(statement,), daemon=True)
        self.thread.start()

    def _run(self, statement: str) -> None:
        try:
            with self.connection.cursor() as cur:
                cur.execute(statement)
        except psycopg2.Error as error:
            self.error = error
        finally:
            self.finished.set()

    def close(self) -> None:
        self.thread.join(WAITER_TIMEOUT_MS / 1000 + 5)
        with contextlib.suppress(psycopg2.Error):
            self.connection.rollback()
        self.connection.close()


class LockScene:
    """``holder`` holds a lock; ``add_waiter`` starts a session that waits for it."""

    def __init__(
        self, url: str, observer, lock: str = "row", table: str = TABLE, holder: str = "holder"
    ) -> None:
        self.url = url
        self.observer = observer  # an autocommit connection that reads pg_stat_activity
        self.waiters: list[Waiter] = []
        self.holder = psycopg2.connect(url, application_name=holder)
        self.pid = self.holder.get_backend_pid()
        if lock == "row":
            self.statement = f'UPDATE "{table}" SET n = n + 1 WHERE id = 1'
            take = self.statement
        else:  # a table lock: every waiter waits for the holder directly
            self.statement = f'SELECT count(*) FROM "{table}"'
            take = f'LOCK TABLE "{table}" IN ACCESS EXCLUSIVE MODE'
        with self.holder.cursor() as cur:
            cur.execute(take)

    def add_waiter(self, name: str) -> Waiter:
        """Start ``name`` and return once it waits for a lock."""
        waiter = Waiter(self.url, name, self.statement)
        self.waiters.append(waiter)
        assert self.wait_until(lambda: self.waiting(waiter.pid)), f"{name} never waited"
        return waiter

    def waiting(self, pid: int) -> bool:
        with self.observer.cursor() as cur:
            cur.execute("SELECT wait_event_type FROM pg_stat_activity WHERE pid = %s", [pid])
            row = cur.fetchone()
        return row is not None and row[0] == "Lock"

    def gone(self, pid: int) -> bool:
        with self.observer.cursor() as cur:
            cur.execute("SELECT count(*) FROM pg_stat_activity WHERE pid = %s", [pid])
            return cur.fetchone()[0] == 0

    @staticmethod
    def wait_until(condition, timeout_s: float = 30.0) -> bool:
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            if condition():
                return True
            time.sleep(0.02)
        return False

    def close(self) -> None:
        with contextlib.suppress(psycopg2.Error):
            self.holder.rollback()
        with contextlib.suppress(psycopg2.Error):
            self.holder.close()
        for waiter in self.waiters:
            waiter.close()

    def __enter__(self) -> LockScene:
        return self

    def __exit__(self, *_exc) -> None:
        self.close()
