"""``fibuca-desktop db``: the Database panel's inspections and index builds, headless.

``overview``, ``slow``, ``advise``, ``indexes``, ``overfetch``, ``measure``, ``blocked`` and
``budget`` only read, in read-only transactions (``budget`` prints ``ALTER SYSTEM`` lines for an
admin, never runs them). ``serialize`` runs one SELECT that ``overfetch`` found, under
``EXPLAIN (ANALYZE, SERIALIZE)`` in a read-only transaction with a timeout (PostgreSQL 17+), to
measure the bytes it really sends. ``apply`` builds one index with ``CREATE INDEX CONCURRENTLY``
after showing the exact SQL (and keeps the statements' counters, for ``measure``), and ``cancel``
cancels or terminates a blocking session after naming it; without a terminal to confirm on they
need ``--yes``. The URL defaults to ``$DATABASE_URL`` (Prisma's variable), which keeps the
password out of the process list; passwords are never printed.

Exit status: 0 on success, 1 on failure (with the reason on stderr), 2 on usage errors.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import sys
from pathlib import Path
from typing import TYPE_CHECKING

from fibuca_desktop.cli.parser import number_in
from fibuca_desktop.cli.terminal import printable
from fibuca_desktop.core.database.database_settings import (
    INSTANCES_RANGE,
    MAX_ADVISED,
    RAM_MB_RANGE,
)
from fibuca_desktop.core.errors import FibucaError, IndexBuildFailed

if TYPE_CHECKING:  # SQLAlchemy and psycopg2 load only when a db command runs, not for `process`
    from fibuca_desktop.core.database.index_build import BuildProgress
    from fibuca_desktop.core.database.session import DatabaseSession

log = logging.getLogger(__name__)

EXIT_OK, EXIT_FAILED, EXIT_USAGE = 0, 1, 2
SORT_KEYS = ("total", "mean", "calls", "rows")  # core.database.slow_queries.SORT_KEYS
_BIGINT = 2**63 - 1  # what pg_stat_statements counts in
_MILLISECONDS = number_in(float, 0, 1e9, " ms")
_COUNT = number_in(int, 0, _BIGINT)
# PostgreSQL's lock_timeout is whole milliseconds up to 2^31 - 1, and 0 means no limit at all.
_LOCK_SECONDS = number_in(float, 0.001, 2_147_483, " s")
_TREE_LIMIT = number_in(int, 1, 10_000)
_PID = number_in(int, 1, 2**31 - 1)
WRITE_ACTIONS = ("apply", "cancel")  # the only ones whose session is not read-only
_RAM_MB = number_in(int, *RAM_MB_RANGE, " MB")
_INSTANCES = number_in(int, *INSTANCES_RANGE)


def add_parser(commands) -> None:
    parser = commands.add_parser(
        "db",
        help="inspect the PostgreSQL database and build missing indexes",
        description="Read-only inspections of a PostgreSQL database (Prisma's included), and "
        "safe concurrent index builds.",
    )
    actions = parser.add_subparsers(dest="db_action", metavar="ACTION", required=True)
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument(
        "--url",
        default=os.environ.get("DATABASE_URL"),
        help="postgresql://USER[:PASSWORD]@HOST[:PORT]/DB (default: $DATABASE_URL); without a "
        "password, PGPASSWORD, ~/.pgpass and the OS keyring are tried",
    )
    common.add_argument("--json", action="store_true", help="one JSON object on stdout")
    thresholds = argparse.ArgumentParser(add_help=False)
    thresholds.add_argument(
        "--min-mean-ms",
        type=_MILLISECONDS,
        default=20.0,
        metavar="MS",
        help="statements at least this slow on average",
    )
    thresholds.add_argument(
        "--min-calls",
        type=_COUNT,
        default=100,
        metavar="N",
        help="statements called at least N times",
    )

    actions.add_parser("overview", parents=[common], help="server, connections, cache hit rate")
    slow = actions.add_parser("slow", parents=[common, thresholds], help="slow queries")
    slow.add_argument(
        "--sort", choices=SORT_KEYS, default="total", help="order by this column, largest first"
    )
    advise_parser = actions.add_parser(
        "advise", parents=[common, thresholds], help="index suggestions, verified with hypopg"
    )
    advise_parser.add_argument(
        "--min-rows", type=_COUNT, default=10_000, metavar="N", help="skip smaller tables"
    )
    advise_parser.add_argument(
        "--max-statements",
        type=number_in(int, 1, MAX_ADVISED),
        default=50,
        metavar="N",
        help="look at the N slowest statements above the thresholds (by total time)",
    )
    advise_parser.add_argument(
        "--migration", type=Path, metavar="FILE", help="also write the suggestions as SQL"
    )
    actions.add_parser("indexes", parents=[common], help="duplicate, unused, INVALID indexes")
    over = actions.add_parser(
        "overfetch",
        parents=[common],
        help="queries returning wide columns (Prisma without select): bytes per call",
    )
    over.add_argument(
        "--all",
        action="store_true",
        help="list every statement's reads, not only those returning wide columns",
    )
    over.add_argument(
        "--limit",
        type=number_in(int, 1, 10_000),
        default=100,
        metavar="N",
        help="look at the N statements that returned the most rows (default 100)",
    )
    # A subcommand, not `overfetch --measure`: it runs the statement (overfetch only plans), it
    # takes one statement and its values, and `measure` already names the index measurement.
    serialize = actions.add_parser(
        "serialize",
        parents=[common],
        help="run one SELECT under EXPLAIN (ANALYZE, SERIALIZE): the real bytes it sends "
        "(PostgreSQL 17+)",
    )
    serialize.add_argument(
        "statement",
        metavar="QUERYID",
        help="the statement's queryid (from `db overfetch --json`), or its text",
    )
    serialize.add_argument(
        "--param",
        action="append",
        default=[],
        metavar="VALUE",
        help="the value of $1, then $2, ... (once per placeholder, in order; bound, never pasted)",
    )
    serialize.add_argument(
        "--timeout",
        type=number_in(float, 0.001, 3600, " s"),
        default=10.0,
        metavar="S",
        help="cancel the statement after S seconds (default 10)",
    )
    measure = actions.add_parser(
        "measure",
        parents=[common],
        help="what an index built by Fibuca really did: statements' time and blocks per call",
    )
    measure.add_argument("index", metavar="INDEX", help="the index's name exactly")
    budget = actions.add_parser(
        "budget", parents=[common], help="worst-case memory and connections against the RAM"
    )
    # Checked in run(), before connecting, so a bad value is one line (no usage block).
    budget.add_argument("--ram-mb", default="500", metavar="N", help="the server's RAM in MB")
    budget.add_argument(
        "--instances", default="1", metavar="N", help="backend instances, each with a Prisma pool"
    )
    apply = actions.add_parser("apply", parents=[common], help="CREATE INDEX CONCURRENTLY")
    apply.add_argument("--table", required=True, help="table name exactly (case-sensitive)")
    apply.add_argument("--columns", required=True, help="A[,B...] exactly (case-sensitive)")
    apply.add_argument(
        "--name",
        help="the index name (default: Prisma's, TABLE_COLUMNS_idx; numbered when taken, with a "
        "hash when longer than PostgreSQL's 63 bytes)",
    )
    apply.add_argument(
        "--yes",
        action="store_true",
        help="do not ask for confirmation (an INVALID leftover of the same index is dropped "
        "and the build run again)",
    )
    apply.add_argument(
        "--lock-timeout",
        type=_LOCK_SECONDS,
        default=10.0,
        metavar="S",
        help="give up when the table stays locked this long",
    )
    blocked = actions.add_parser(
        "blocked", parents=[common], help="who is blocking whom now (the lock tree)"
    )
    blocked.add_argument(
        "--limit",
        type=_TREE_LIMIT,
        default=200,
        metavar="N",
        help="show at most N sessions, the most blocking first",
    )
    cancel = actions.add_parser(
        "cancel", parents=[common], help="cancel a blocking session's query, or terminate it"
    )
    cancel.add_argument("pid", type=_PID, metavar="PID", help="the pid `db blocked` shows")
    cancel.add_argument(
        "--terminate",
        action="store_true",
        help="end the whole session (rolls back its transaction and frees its locks); needed "
        "for a session idle in transaction",
    )
    cancel.add_argument("--yes", action="store_true", help="do not ask for confirmation")
    parser.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    problem = _budget_problem(args)
    if problem:
        _print(f"fibuca-desktop db {args.db_action}: error: {problem}", file=sys.stderr)
        return EXIT_USAGE
    if not args.url:
        _print("fibuca-desktop db: error: give --url or set DATABASE_URL", file=sys.stderr)
        return EXIT_USAGE
    problem = _migration_problem(getattr(args, "migration", None))
    if problem:  # before the advice runs, and never by creating folders
        _print(f"fibuca-desktop db {args.db_action}: error: --migration {problem}", file=sys.stderr)
        return EXIT_USAGE
    from fibuca_desktop.core.database.session import DatabaseSession

    try:
        # apply's reads (names, plan costs) wait for a lock as long as its build may.
        waits = getattr(args, "lock_timeout", None)
        with DatabaseSession(
            args.url, read_only=args.db_action not in WRITE_ACTIONS, lock_timeout_s=waits
        ) as session:
            if session.target.encoding_note:
                _print(f"note: {session.target.encoding_note}", file=sys.stderr)
            return ACTIONS[args.db_action](session, args)
    except KeyboardInterrupt:
        _print("interrupted", file=sys.stderr)
        return EXIT_FAILED
    except FibucaError as error:
        log.debug("db %s failed", args.db_action, exc_info=True)  # the traceback with -vv only
        _print(f"fibuca-desktop db {args.db_action}: {error}", file=sys.stderr)
        return EXIT_FAILED


def _print(*parts, **options) -> None:
    """print(), with what the database sent shown as text, never run as terminal commands."""
    print(*(printable(str(part)) for part in parts), **options)


def _migration_problem(path: Path | None) -> str | None:
    """Why ``path`` cannot take the migration file, or None (also when no file was asked for)."""
    if path is None:
        return None
    if path.is_dir():
        return f"{path} is a folder: name the file to write, e.g. {path / 'migration.sql'}"
    folder = path.parent
    if not folder.is_dir():
        return f"{path}: the folder {folder} does not exist; create it first"
    return None


def _budget_problem(args: argparse.Namespace) -> str | None:
    """Parse budget's numbers in place; what is wrong with them, or None."""
    for option, parse in (("ram_mb", _RAM_MB), ("instances", _INSTANCES)):
        if not hasattr(args, option):
            return None
        try:
            setattr(args, option, parse(str(getattr(args, option))))
        except argparse.ArgumentTypeError as error:
            return f"--{option.replace('_', '-')}: {error}"
    return None


def _one_line(text: str, limit: int) -> str:
    """A query or note on one output line: newlines and runs of spaces become one space."""
    flat = " ".join(text.split())  # printable() later shows any control character left
    return flat if len(flat) <= limit else flat[: limit - 3] + "..."


def _emit(args, data: dict, text: str) -> int:
    _print(json.dumps(data, indent=None) if args.json else text)
    return EXIT_OK


def _overview(session: DatabaseSession, args) -> int:
    from fibuca_desktop.core.database.overview import overview

    view = session.run(overview)
    hit = "-" if view.cache_hit_rate is None else f"{view.cache_hit_rate:.1%}"
    lines = [
        f"{session.masked_url}",
        f"PostgreSQL {view.server_version}, database {view.database} "
        f"{view.database_bytes / 1e6:.1f} MB, cache hit rate {hit}",
        f"connections {view.connections} of {view.max_connections}: "
        + ", ".join(f"{state} {n}" for state, n in sorted(view.by_state.items())),
    ]
    lines += [
        f"  {c.connections:>3}  {c.client}  {c.user}  {c.application or '-'}"
        + ("  MORE THAN FIBUCA'S LIMIT OF 5" if c.over_limit else "")
        for c in view.clients
    ]
    for title, stuck in (
        ("idle in transaction", view.idle_in_transaction),
        ("running > 60 s", view.long_running),
    ):
        lines += [
            f"{title}: pid {s.pid} {s.seconds:.0f} s  {_one_line(s.query, 80)}" for s in stuck
        ]
    return _emit(args, view.to_json(), "\n".join(lines))


def _slow(session: DatabaseSession, args) -> int:
    from fibuca_desktop.core.database.slow_queries import SlowQueryThresholds, slow_queries

    thresholds = SlowQueryThresholds(args.min_mean_ms, args.min_calls)
    report = session.run(slow_queries, thresholds, args.sort)
    for note in (report.message, report.hidden_message):
        if note:
            _print(note, file=sys.stderr)
    lines = [
        f"{q.mean_ms:9.1f} ms mean  {q.calls:>8} calls  {q.total_ms / 1000:9.1f} s total  "
        f"{_one_line(q.query, 100)}"
        for q in report.queries
    ] or [
        "no visible query above the thresholds"
        if report.hidden
        else "no query above the thresholds"
    ]
    return _emit(args, report.to_json(), "\n".join(lines))


def _advise(session: DatabaseSession, args) -> int:
    from fibuca_desktop.core.database.advisor import AdvisorSettings, advise
    from fibuca_desktop.core.database.migration_export import prisma_snippet, write_migration
    from fibuca_desktop.core.database.slow_queries import SlowQueryThresholds

    settings = AdvisorSettings(
        min_table_rows=args.min_rows,
        thresholds=SlowQueryThresholds(args.min_mean_ms, args.min_calls, args.max_statements),
    )
    advice = advise(session, settings)
    notes = (advice.schema_note, advice.hypopg_missing, advice.statements_missing)
    for note in (*notes, advice.statements_hidden, advice.unreadable_note):
        if note:
            _print(f"note: {note}", file=sys.stderr)
    if args.migration is not None:
        write_migration(args.migration, advice.suggestions, overwrite=True)
        _print(f"wrote {len(advice.suggestions)} indexes to {args.migration}", file=sys.stderr)
    lines = []
    for s in advice.suggestions:
        cost = f"cost {s.cost_before:.1f}" + (
            f" -> {s.cost_after:.1f}" if s.cost_after is not None else " (unverified)"
        )
        lines += [f"{s.table} ({', '.join(s.columns)})  {s.reason}  {cost}", f"  {s.create_sql()}"]
    if advice.suggestions:
        lines += ["", "schema.prisma:", prisma_snippet(advice.suggestions)]
    return _emit(args, advice.to_json(), "\n".join(lines) or "no index to suggest")


def _indexes(session: DatabaseSession, args) -> int:
    from fibuca_desktop.core.database.index_health import index_health

    health = session.run(index_health, session.schema, session.built_in(session.schema))
    lines = []
    for kind in ("duplicate", "unused", "invalid", "not_judged"):
        for problem in getattr(health, kind):
            extra = f" (covered by {problem.covered_by})" if problem.covered_by else ""
            note = f"  ({problem.note})" if problem.note else ""
            label = "not judged yet" if kind == "not_judged" else kind
            lines.append(
                f"{label:9}  {problem.table}.{problem.index}{extra}  {problem.drop_sql}{note}"
            )
    return _emit(args, health.to_json(), "\n".join(lines) or "no problem found")


def _overfetch(session: DatabaseSession, args) -> int:
    from fibuca_desktop.core.byte_size import human_bytes
    from fibuca_desktop.core.database.overfetch import overfetch

    report = overfetch(session, args.limit, include_all=args.all)
    if report.message:
        _print(f"note: {report.message}", file=sys.stderr)
    lines = []
    for q in report.queries:
        what = "ALL COLUMNS" if q.all_columns else f"{len(q.returned)} columns"
        wide = f" (wide: {', '.join(q.wide_columns)})" if q.wide_columns else ""
        lines += [
            f"{human_bytes(q.bytes_per_call):>9}/call  x{q.calls} = "
            f"{human_bytes(q.total_bytes)}  {q.table}  {what}{wide}  "
            f"{q.rows_per_call:g} rows/call",
            f"  fix: {q.fix}",
            f"  {_one_line(q.query, 110)}",
        ]
    if not lines:
        lines = ["no query returns wide columns" if not args.all else "no query reads a table"]
    return _emit(args, report.to_json(), "\n".join(lines))


def _serialize(session: DatabaseSession, args) -> int:
    from fibuca_desktop.core.byte_size import human_bytes
    from fibuca_desktop.core.database.serialize_measure import serialized_bytes
    from fibuca_desktop.core.errors import UsageError

    try:
        found = serialized_bytes(session, args.statement, args.param, args.timeout)
    except UsageError as error:  # the wrong values for this statement: as argparse's errors
        _print(f"fibuca-desktop db serialize: error: {error}", file=sys.stderr)
        return EXIT_USAGE
    estimate = "-"
    if found.estimated_bytes_per_call is not None:
        estimate = (
            f"{human_bytes(found.estimated_bytes_per_call)}/call "
            f"({found.estimated_rows_per_call:g} rows/call)"
        )
    lines = [
        f"measured {human_bytes(found.output_bytes)} ({found.output_kb} kB) for {found.rows} "
        f"rows, serializing {found.serialize_ms:.2f} ms, execution {found.execution_ms:.2f} ms",
        f"  estimate (db overfetch): {estimate}",
        f"  {_one_line(found.query, 110)}",
    ]
    return _emit(args, found.to_json(), "\n".join(lines))


def _measure(session: DatabaseSession, args) -> int:
    from fibuca_desktop.core.database.index_effect import measure

    effect = measure(session, args.index)
    if effect.note:
        _print(f"note: {effect.note}", file=sys.stderr)
    lines = [effect.summary]
    for s in effect.statements:
        change = f"  {s.change}" if s.change and s.calls_after else ""
        lines.append(
            f"  {s.verdict:12}  {s.calls_before} calls before, {s.calls_after} since{change}  "
            f"{_one_line(s.query, 80)}"
        )
    return _emit(args, effect.to_json(), "\n".join(lines))


def _budget(session: DatabaseSession, args) -> int:
    from fibuca_desktop.core.database.budget import memory_budget

    budget = session.run(memory_budget, args.ram_mb, args.instances)
    for note in budget.notes:
        _print(f"note: {note}", file=sys.stderr)
    verdict = "fits" if budget.fits else "DOES NOT FIT"
    lines = [
        f"{session.masked_url}",
        f"worst case {budget.worst_case_mb:.1f} MB of {budget.ram_mb} MB RAM: {verdict}; "
        f"with the recommendations {budget.recommended_worst_case_mb:.1f} MB",
        "",
        f"{'setting':32} {'current':>9} {'recommended':>12}  why",
    ]
    lines += [
        f"{s.name:32} {s.current:>9} {s.recommended:>12}{' *' if s.changed else '  '} {s.why}"
        for s in budget.settings
    ]
    lines += ["", "connections by application_name:"]
    lines += [
        f"  {c.count:>4}  {c.application or '-'}" + ("  OVER THE LIMIT" if c.over_limit else "")
        for c in budget.connections
    ]
    lines += [
        "",
        f"Prisma: ?connection_limit={budget.connection_limit} in each of the {budget.instances} "
        "instance(s)' DATABASE_URL",
    ]
    script = budget.psql_script()
    if script:
        lines += ["", "-- as a superuser in psql (nothing was changed here):", *script]
    else:
        lines += ["", "no change recommended"]
    return _emit(args, budget.to_json(), "\n".join(lines))


def _apply(session: DatabaseSession, args, retried: bool = False) -> int:
    from fibuca_desktop.core.database.index_build import IndexBuilder

    columns = tuple(c.strip() for c in args.columns.split(",") if c.strip())
    builder = IndexBuilder(session, lock_timeout_s=args.lock_timeout)
    plan = builder.plan(args.table, columns, name=args.name)
    _print(plan.sql, file=sys.stderr)
    if not (args.yes or retried) and not _confirm("Run it on the live database?"):
        _print(
            "not confirmed: nothing was run (use --yes when there is no terminal)", file=sys.stderr
        )
        return EXIT_FAILED
    try:
        result = builder.run(plan, _show_progress)  # Ctrl-C cancels the build: IndexBuildFailed
    except IndexBuildFailed as error:
        _print(f"\nfibuca-desktop db apply: {error}", file=sys.stderr)  # after the progress line
        if error.invalid_index and (args.yes or _confirm(f"Drop {error.invalid_index} now?")):
            _print(builder.drop_invalid(error.invalid_index), file=sys.stderr)
            # --yes already confirmed the build: after the drop, build (once; a second failure
            # is reported, its leftover dropped, and the command fails).
            if not retried and not error.cancelled and (args.yes or _confirm("Retry the build?")):
                _print("dropped; building again", file=sys.stderr)
                return _apply(session, args, retried=True)
        return EXIT_FAILED
    except FibucaError:
        _print(file=sys.stderr)  # end the progress line; run() prints the message
        raise
    _print(file=sys.stderr)
    text = f"{result.index}: {'valid' if result.valid else 'INVALID'} in {result.seconds:.1f} s"
    if result.cost_before is not None and result.cost_after is not None:
        text += f", plan cost {result.cost_before:.1f} -> {result.cost_after:.1f}"
    return _emit(args, result.to_json(), text)


def _blocked(session: DatabaseSession, args) -> int:
    from fibuca_desktop.core.database.blocking import blocking_tree

    tree = session.run(blocking_tree, args.limit)
    if tree.truncated:
        _print(
            f"note: showing the {tree.limit} most blocking sessions; more are blocked "
            "(raise --limit)",
            file=sys.stderr,
        )
    lines = [_tree_line(depth, node) for depth, node in tree.walk()]
    return _emit(args, tree.to_json(), "\n".join(lines) or "no session is blocked")


def _tree_line(depth: int, node) -> str:
    if node.repeated:
        return f"{'  ' * depth}pid {node.pid} (also here; listed above)"
    parts = [
        f"pid {node.pid}",
        node.application or "-",
        node.user or "-",
        node.state or "-",
        f"{node.wait_seconds:.1f} s",
        node.wait_event or "-",
        f"blocks {node.blocks}",
        node.query,
    ]
    return "  " * depth + "  ".join(parts)


def _cancel(session: DatabaseSession, args) -> int:
    from fibuca_desktop.core.database.session_ending import describe_session, end_session

    who = session.run(describe_session, args.pid)
    if who is None:
        verb = "terminate" if args.terminate else "cancel"
        return _ended(args, args.pid, "gone", f"pid {args.pid} is already gone: nothing to {verb}.")
    what = "Terminate the session of" if args.terminate else "Cancel the running query of"
    question = f"{what} pid {args.pid} ({who}) on {session.masked_url}?"
    if not args.yes and not _confirm(question):
        _print(question, file=sys.stderr)
        _print(
            "not confirmed: nothing was sent (use --yes when there is no terminal)",
            file=sys.stderr,
        )
        return EXIT_FAILED
    result = end_session(session, args.pid, terminate=args.terminate)
    return _ended(args, result.pid, result.outcome, result.message)


def _ended(args, pid: int, outcome: str, message: str) -> int:
    """Cancelled, terminated or gone: done (exit 0); no effect or not permitted: exit 1."""
    failed = outcome in ("no effect", "not permitted")
    if args.json:
        _print(json.dumps({"pid": pid, "outcome": outcome, "message": message}))
    elif failed:
        _print(f"fibuca-desktop db cancel: {message}", file=sys.stderr)
    else:
        _print(message)
    return EXIT_FAILED if failed else EXIT_OK


def _confirm(question: str) -> bool:
    """Ask on the terminal; False without one (CI, pipes): nothing is ever assumed."""
    if not sys.stdin.isatty():
        return False
    try:
        answer = input(f"{question} [y/N] ")
    except EOFError:  # Ctrl-D: no answer is a no
        _print(file=sys.stderr)
        return False
    return answer.strip().lower() in ("y", "yes")


def _show_progress(reading: BuildProgress) -> None:
    line = f"\r{reading.phase}"
    if reading.blocks_total:
        line += f"  blocks {reading.blocks_done}/{reading.blocks_total}"
    if reading.tuples_total:
        line += f"  tuples {reading.tuples_done}/{reading.tuples_total}"
    print(f"{line:<90}", end="", file=sys.stderr, flush=True)  # phases: a fixed set


ACTIONS = {
    "overview": _overview,
    "slow": _slow,
    "advise": _advise,
    "indexes": _indexes,
    "overfetch": _overfetch,
    "serialize": _serialize,
    "measure": _measure,
    "budget": _budget,
    "apply": _apply,
    "blocked": _blocked,
    "cancel": _cancel,
}
