"""Build one index on a live database without blocking writes: ``CREATE INDEX CONCURRENTLY``.

It runs in autocommit (it cannot run in a transaction) on its own fresh connection, never one of
the pool's read-only ones, with a ``lock_timeout`` so that it gives up instead of queueing behind
a long transaction, and no statement timeout (a build takes as long as it takes). Progress is read
from ``pg_stat_progress_create_index`` through the pool while it runs. A failed or cancelled
concurrent build leaves an INVALID index behind that slows every write; ``IndexBuildFailed``
names it, and ``drop_invalid`` removes it (concurrently too) so the build can be retried.
"""

from __future__ import annotations

import contextlib
import logging
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import TYPE_CHECKING

import psycopg2
from psycopg2.extensions import cursor as Cursor
from sqlalchemy.exc import SQLAlchemyError

from fibuca_desktop.core.database import catalog
from fibuca_desktop.core.database.connection import translate
from fibuca_desktop.core.database.explain import PlanNotPermitted, generic_plan
from fibuca_desktop.core.database.index_effect import SnapshotStore, take_snapshot
from fibuca_desktop.core.database.index_naming import free_name, relation_named, taken_message
from fibuca_desktop.core.database.index_progress import PHASES, BuildProgress, read_progress
from fibuca_desktop.core.database.index_suggestion import (
    IndexSuggestion,
    as_postgresql_keeps,
    check_name,
    quote,
)
from fibuca_desktop.core.database.locks import holders_text, lock_holders, old_transactions
from fibuca_desktop.core.errors import (
    DatabaseUnavailable,
    FibucaError,
    IndexBuildFailed,
    UsageError,
)

if TYPE_CHECKING:
    from fibuca_desktop.core.database.session import DatabaseSession

log = logging.getLogger(__name__)

__all__ = ["PHASES", "BuildProgress", "BuildResult", "IndexBuilder", "IndexPlan"]


@dataclass(frozen=True)
class IndexPlan:
    """What will run, shown to the person before anything does."""

    schema: str
    table: str
    columns: tuple[str, ...]
    name: str
    unique: bool
    sql: str
    queries: tuple[str, ...]
    # A partitioned table: (partition, its index's name) for each partition, built one by one
    # (CREATE INDEX CONCURRENTLY cannot build on a partitioned parent).
    partitions: tuple[tuple[str, str], ...] = ()
    statements: tuple[str, ...] = ()  # the steps, when there are several (``sql`` joins them)

    @property
    def steps(self) -> tuple[str, ...]:
        """The statements in the order they run (one for a plain table)."""
        return self.statements or (self.sql,)

    def renamed(self, name: str) -> IndexPlan:
        """The same index under a name the person chose (checked again when it runs)."""
        check_name(name)
        return _make_plan(
            self.schema, self.table, self.columns, name, self.unique, self.queries, self.partitions
        )


@dataclass(frozen=True)
class BuildResult:
    index: str
    valid: bool
    seconds: float
    cost_before: float | None
    cost_after: float | None

    def to_json(self) -> dict:
        return {"index": self.index, "valid": self.valid, "seconds": round(self.seconds, 3)}


class IndexBuilder:
    """Plans, runs, cancels and cleans up concurrent index builds for one ``DatabaseSession``."""

    def __init__(
        self,
        session: DatabaseSession,
        lock_timeout_s: float = 10.0,
        poll_s: float = 0.2,
        snapshots: SnapshotStore | None = None,
    ) -> None:
        self._session = session
        self._snapshots = snapshots  # None: the default file, opened at the first build
        self._lock_timeout_s = lock_timeout_s
        self._poll_s = poll_s
        self._pid: int | None = None
        self._cancelled = threading.Event()
        self._started: list[str] = []  # partition indexes whose build began (for the clean-up)

    def plan(
        self,
        table: str,
        columns: tuple[str, ...],
        *,
        unique: bool = False,
        queries: tuple[str, ...] = (),
        name: str | None = None,
    ) -> IndexPlan:
        """The exact SQL for an index on ``table`` (names exactly as in the database), named
        ``name`` or Prisma's way; an automatic name taken by another relation of the schema
        gets a number (``_2_idx``), a chosen one is refused with the reason."""
        schema = self._session.schema
        table = as_postgresql_keeps(table)  # a name longer than 63 bytes means what PG kept
        columns = tuple(as_postgresql_keeps(column) for column in columns)
        self._session.run(_check_names, schema, table, columns)
        if name is not None:
            check_name(name)
        else:
            name = self._session.run(free_name, schema, table, columns, unique)
        partitions = self._session.run(_partition_indexes, schema, table, columns, unique)
        return _make_plan(schema, table, columns, name, unique, queries, partitions)

    def plan_suggestion(self, suggestion: IndexSuggestion) -> IndexPlan:
        """The plan for a suggestion; the suggestion's own name unless another relation has it."""
        return self.plan(suggestion.table, suggestion.columns, queries=tuple(suggestion.queries))

    def run(
        self, plan: IndexPlan, on_progress: Callable[[BuildProgress], None] | None = None
    ) -> BuildResult:
        """Build the index, calling ``on_progress`` from this thread with each reading. Raises
        ``WriteRefused`` in read-only mode, ``IndexBuildFailed`` when the build fails."""
        self._session.require_writes(f"create the index {plan.name}")
        taken = self._session.run(relation_named, plan.schema, plan.name)
        if taken is not None:
            if taken["valid"] is False:
                raise IndexBuildFailed(
                    f"An INVALID index {plan.name} from an earlier build is in the way: drop it "
                    "first, then retry.",
                    plan.name,
                )
            raise UsageError(taken_message(plan, taken))
        before = self._cost(plan.queries)
        self._snapshot(plan)
        self._cancelled.clear()
        started = time.monotonic()
        try:
            error = self._build(plan, on_progress)
            seconds = time.monotonic() - started
            if error is not None:
                raise self._failure(plan, error, seconds)
        except DatabaseUnavailable as lost:  # the server went away under the build
            raise DatabaseUnavailable(
                f"{lost} The build of {plan.name} did not finish: once the server is back, "
                f"run it again; an INVALID {plan.name} it may have left is offered for dropping "
                "first (db apply --yes drops it)."
            ) from lost
        valid = bool(self._session.run(_index_state, plan.schema, plan.name))
        self._session.built_indexes[(plan.schema, plan.name)] = datetime.now(UTC)
        log.info("built %s in %.1f s (valid: %s)", plan.name, seconds, valid)
        return BuildResult(plan.name, valid, seconds, before, self._cost(plan.queries))

    @contextlib.contextmanager
    def _writer_cursor(self) -> Iterator:
        """A cursor on a fresh writable autocommit connection (closed after), with the lock
        timeout and no statement timeout; connection failures come out as domain errors."""
        engine = self._session.writer_engine()
        try:
            with engine.connect() as connection:
                raw = connection.connection.dbapi_connection
                with raw.cursor() as cur:
                    milliseconds = f"{int(self._lock_timeout_s * 1000)}"
                    cur.execute("SELECT set_config('lock_timeout', %s, false)", [milliseconds])
                    cur.execute("SET statement_timeout = 0")
                    yield cur
        except (SQLAlchemyError, psycopg2.Error) as error:
            raise translate(error, self._session.target, self._session.settings) from error
        finally:
            engine.dispose()

    def _build(self, plan: IndexPlan, on_progress) -> BaseException | None:
        outcome: list[BaseException | None] = []
        with self._writer_cursor() as cur:
            cur.execute("SELECT pg_backend_pid()")
            self._pid = cur.fetchone()[0]

            # Completion is an Event, not Thread.join/is_alive: a Ctrl-C that interrupts
            # join() can leave is_alive() False while the thread still runs (seen on 3.11).
            done = threading.Event()

            def build() -> None:
                try:
                    for statement in plan.steps:  # one by one: CONCURRENTLY needs its own
                        started = _concurrent_index(statement, plan)
                        if started:
                            self._started.append(started)
                        cur.execute(statement)
                    outcome.append(None)
                except psycopg2.Error as failure:
                    outcome.append(failure)
                finally:
                    done.set()

            threading.Thread(target=build, name="fibuca-db-index-build", daemon=True).start()
            try:
                self._watch(done, on_progress)
            except KeyboardInterrupt:  # Ctrl-C: a cancelled build, reported as such
                self._stop(done)
            except BaseException:
                self._stop(done)  # never close the connection under the running build
                raise
            finally:
                self._pid = None
        return outcome[0] if outcome else RuntimeError("the build thread ended without a result")

    def _watch(self, done: threading.Event, on_progress) -> None:
        while not done.is_set():
            reading = self._session.run(read_progress, self._pid)
            if reading is not None and on_progress is not None:
                on_progress(reading)
            done.wait(self._poll_s)

    def _stop(self, done: threading.Event) -> None:
        self._cancelled.set()
        while not done.is_set():
            if self._pid is not None:
                self._session.run(_cancel_backend, self._pid)
            done.wait(1.0)

    def _failure(self, plan: IndexPlan, error: BaseException, seconds: float) -> IndexBuildFailed:
        left = self._session.run(_index_state, plan.schema, plan.name)
        invalid = plan.name if left is False else None
        reason = str(error).strip().splitlines()[0] if str(error).strip() else type(error).__name__
        cancelled = self._cancelled.is_set() and isinstance(error, psycopg2.errors.QueryCanceled)
        if cancelled:
            message = f"The build of {plan.name} was cancelled."
        elif isinstance(error, psycopg2.errors.LockNotAvailable):
            table = catalog.qualified(plan.schema, plan.table)
            holders = self._session.run(
                lambda cur: lock_holders(cur, table.as_string(cur.connection))
            )
            what = f"a lock on {plan.table}"
            if not holders:  # no lock on the table: it waited for older transactions to end
                holders = self._session.run(old_transactions, seconds)
                what = "transactions older than the build to end" if holders else what
            message = (
                f"The build of {plan.name} waited more than {self._lock_timeout_s:g} s for "
                f"{what} (not an overloaded server): it is {holders_text(holders)}"
            )
        else:
            message = f"The build of {plan.name} failed: {reason}."
        if invalid:
            message += f" It left the INVALID index {invalid}: drop it before retrying."
        return IndexBuildFailed(message, invalid, cancelled)

    def cancel(self) -> bool:
        """Ask the server to cancel the running build; False when none is running."""
        pid = self._pid
        if pid is None:
            return False
        self._cancelled.set()
        return bool(self._session.run(_cancel_backend, pid))

    def drop_invalid(self, name: str) -> str:
        """``DROP INDEX CONCURRENTLY`` an INVALID index (refuses a valid one); returns the SQL.

        A partitioned table's index (INVALID until every partition's is attached) cannot be
        dropped concurrently: it is dropped plainly (no data to scan: a moment's lock), which
        takes the attached partition indexes with it, after the INVALID ones a failed build
        left unattached on partitions are dropped concurrently."""
        schema = self._session.schema
        self._session.require_writes(f"drop the index {name}")
        if self._session.run(_index_state, schema, name) is not False:
            raise UsageError(f"{name} is not an INVALID index of schema {schema}; not dropping it.")
        partitioned = self._session.run(catalog.relation_kind, schema, name) == "I"
        statements = []
        for leftover in self._started if partitioned else []:
            if self._session.run(_index_state, schema, leftover) is False:
                statements.append(
                    f"DROP INDEX CONCURRENTLY IF EXISTS {quote(schema)}.{quote(leftover)};"
                )
        concurrently = "" if partitioned else "CONCURRENTLY "
        statements.append(f"DROP INDEX {concurrently}IF EXISTS {quote(schema)}.{quote(name)};")
        with self._writer_cursor() as cur:
            for statement in statements:
                cur.execute(statement)
        self._started = []
        log.info("dropped invalid index %s", name)
        return "\n".join(statements)

    def _snapshot(self, plan: IndexPlan) -> None:
        """Keep the statements' counters of now, for measuring the index later (index_effect).
        A snapshot that cannot be taken or kept never stops the build: it is logged."""
        try:
            snapshot = self._session.run(
                take_snapshot,
                self._session.target.server,
                plan.schema,
                plan.name,
                plan.table,
                plan.columns,
                plan.queries,
            )
            (self._snapshots or SnapshotStore()).save(snapshot)
        except FibucaError as error:
            log.warning("%s: no measurement later: %s", plan.name, error)
            return
        log.info("%s: %d statement(s) kept to measure later", plan.name, len(snapshot.statements))

    def _cost(self, queries: tuple[str, ...]) -> float | None:
        """The plan cost of ``queries``, or None when this role may not plan them (the build
        itself then says what it needs)."""
        if not queries:
            return None
        try:
            return self._session.run(_total_cost, queries)
        except PlanNotPermitted as denied:
            log.info("no plan cost: %s", denied)
            return None


def _make_plan(
    schema: str,
    table: str,
    columns: tuple[str, ...],
    name: str,
    unique: bool,
    queries: tuple[str, ...],
    partitions: tuple[tuple[str, str], ...] = (),
) -> IndexPlan:
    kind = "UNIQUE INDEX" if unique else "INDEX"
    listed = ", ".join(quote(c) for c in columns)
    if partitions:  # PostgreSQL's way for a partitioned table, each partition concurrently
        steps = [f"CREATE {kind} {quote(name)} ON ONLY {quote(schema)}.{quote(table)} ({listed});"]
        for partition, index in partitions:
            steps.append(
                f"CREATE {kind} CONCURRENTLY {quote(index)} ON {quote(schema)}.{quote(partition)} "
                f"({listed});"
            )
            steps.append(
                f"ALTER INDEX {quote(schema)}.{quote(name)} ATTACH PARTITION "
                f"{quote(schema)}.{quote(index)};"
            )
        statement = "\n".join(steps)
    else:
        steps = []
        statement = (
            f"CREATE {kind} CONCURRENTLY {quote(name)} ON {quote(schema)}.{quote(table)} "
            f"({listed});"
        )
    lookup = f"SELECT 1 FROM {quote(schema)}.{quote(table)} WHERE " + " AND ".join(
        f"{quote(c)} = ${n}" for n, c in enumerate(columns, 1)
    )
    return IndexPlan(
        schema,
        table,
        columns,
        name,
        unique,
        statement,
        queries or (lookup,),
        partitions,
        tuple(steps),
    )


def _concurrent_index(statement: str, plan: IndexPlan) -> str | None:
    """The partition index a step builds concurrently, or None for the other steps."""
    concurrent = statement.startswith(
        f"CREATE {'UNIQUE ' if plan.unique else ''}INDEX CONCURRENTLY "
    )
    for _partition, index in plan.partitions:
        if concurrent and f" {quote(index)} ON " in statement:
            return index
    return None


def _partition_indexes(
    cur: Cursor, schema: str, table: str, columns: tuple[str, ...], unique: bool
) -> tuple[tuple[str, str], ...]:
    """(partition, index name) for each partition of ``table`` when it is partitioned, else ().
    Refuses a tree more than one level deep: its sub-partitioned tables need their own
    ON ONLY index and attachments, level by level."""
    if catalog.relation_kind(cur, schema, table) != "p":
        return ()
    cur.execute(
        "SELECT c.relname::text AS name, c.relkind = 'p' AS nested FROM pg_inherits i "
        "JOIN pg_class c ON c.oid = i.inhrelid JOIN pg_namespace n ON n.oid = c.relnamespace "
        "WHERE i.inhparent = (SELECT p.oid FROM pg_class p JOIN pg_namespace s "
        "ON s.oid = p.relnamespace WHERE s.nspname = %s AND p.relname = %s) ORDER BY 1",
        [schema, table],
    )
    children = cur.fetchall()
    nested = [row["name"] for row in children if row["nested"]]
    if nested:
        raise UsageError(
            f"{table} has sub-partitioned partitions ({', '.join(nested[:3])}): build their "
            "indexes level by level (CREATE INDEX ON ONLY, then ATTACH PARTITION)."
        )
    if not children:
        raise UsageError(f"{table} is partitioned but has no partitions yet: nothing to index.")
    return tuple(
        (row["name"], free_name(cur, schema, row["name"], columns, unique)) for row in children
    )


def _total_cost(cur: Cursor, queries: tuple[str, ...]) -> float:
    return sum(float(generic_plan(cur, query, verbose=False)["Total Cost"]) for query in queries)


def _check_names(cur: Cursor, schema: str, table: str, columns: tuple[str, ...]) -> None:
    rows = catalog.table_row_estimates(cur, schema)
    if table not in rows:
        close = sorted(name for name in rows if name.lower() == table.lower())
        hint = f" (did you mean {close[0]!r}? names are case-sensitive)" if close else ""
        raise UsageError(f"There is no table {table!r} in schema {schema!r}{hint}.")
    cur.execute(
        "SELECT a.attname::text AS name FROM pg_attribute a "
        "WHERE a.attrelid = %s::regclass AND a.attnum > 0 AND NOT a.attisdropped",
        [catalog.qualified(schema, table).as_string(cur.connection)],
    )
    known = {row["name"] for row in cur.fetchall()}
    missing = [column for column in columns if column not in known]
    if missing or not columns:
        raise UsageError(
            f"Table {table!r} has no column {', '.join(map(repr, missing)) or '(none given)'}; "
            f"its columns are {', '.join(sorted(known))}."
        )


def _index_state(cur: Cursor, schema: str, name: str) -> bool | None:
    """True for a valid index, False for an INVALID one, None when there is none."""
    cur.execute(
        "SELECT x.indisvalid AS valid FROM pg_index x JOIN pg_class c ON c.oid = x.indexrelid "
        "JOIN pg_namespace n ON n.oid = c.relnamespace WHERE n.nspname = %s AND c.relname = %s",
        [schema, name],
    )
    row = cur.fetchone()
    return None if row is None else bool(row["valid"])


def _cancel_backend(cur: Cursor, pid: int) -> bool:
    cur.execute("SELECT pg_cancel_backend(%s) AS sent", [pid])
    return bool(cur.fetchone()["sent"])
