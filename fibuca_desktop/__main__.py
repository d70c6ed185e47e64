"""Entry point: ``fibuca-desktop`` and ``python -m fibuca_desktop``.

No subcommand opens the desktop window; ``process``, ``watch``, ``models``, ``masks``,
``monitor``, ``db``, ``self-test``, ``worker`` and ``cluster`` run headless.
"""

from __future__ import annotations

import argparse
import copy
import logging
import os
import sys
from pathlib import Path

from fibuca_desktop import __version__
from fibuca_desktop.cli import (
    cluster_command,
    db_command,
    masks_command,
    models_command,
    monitor_command,
    process_command,
    profiles_command,
    self_test_command,
    watch_command,
    worker_command,
)
from fibuca_desktop.cli.parser import (
    FibucaArgumentParser,
    SubcommandParser,
    number_in,
    verbosity,
)
from fibuca_desktop.cli.terminal import discard_stdout, printable
from fibuca_desktop.core.errors import FibucaError
from fibuca_desktop.core.process_memory import limit_malloc_arenas

log = logging.getLogger("fibuca_desktop")
EXIT_FAILED = 1
EXIT_INTERRUPTED = 130
EXIT_PIPE_CLOSED = 141  # 128 + SIGPIPE, as a shell reports a reader that stopped early
# After the window closes, the process ends within this many seconds whatever a thread or a
# peer does (app.run_gui arms the watchdog).
QUIT_DEADLINE_S = 8.0


def build_parser() -> argparse.ArgumentParser:
    parser = FibucaArgumentParser(
        prog="fibuca-desktop",
        description="Fibuca Desktop: remove photo backgrounds locally, watch the backend's memory, "
        "tune its database.",
    )
    parser.add_argument("--version", action="version", version=f"%(prog)s {__version__}")
    parser.add_argument(
        "-v",
        "--verbose",
        action="count",
        default=0,
        help="more log output on stderr (-vv for debug, with tracebacks)",
    )
    window = parser.add_argument_group("desktop window (no COMMAND)")
    window.add_argument(
        "--settings-file",
        type=Path,
        metavar="PATH",
        help="settings file to use instead of the one in your config folder",
    )
    window.add_argument(
        "--quit-after",
        type=number_in(int, 0, 2**31 - 1, " ms"),  # a Qt timer's range
        metavar="MS",
        help="start normally, then quit cleanly after MS milliseconds",
    )
    window.add_argument(
        "--no-crash-dialog",
        action="store_true",
        help="print unexpected errors to stderr instead of showing a dialog",
    )
    commands = parser.add_subparsers(
        dest="command", metavar="COMMAND", parser_class=SubcommandParser
    )
    process_command.add_parser(commands)
    watch_command.add_parser(commands)
    models_command.add_parser(commands)
    masks_command.add_parser(commands)
    profiles_command.add_parser(commands)
    monitor_command.add_parser(commands)
    db_command.add_parser(commands)
    self_test_command.add_parser(commands)
    worker_command.add_parser(commands)
    cluster_command.add_parser(commands)
    return parser


class _TerminalFormatter(logging.Formatter):
    """One line per record on the terminal; a logged traceback (a bug in one photo's job, say)
    only with -vv. Log files keep it whatever the verbosity: they format records themselves."""

    def __init__(self, tracebacks: bool) -> None:
        super().__init__("%(asctime)s %(levelname)s %(name)s: %(message)s", "%H:%M:%S")
        self.tracebacks = tracebacks

    def format(self, record: logging.LogRecord) -> str:
        if self.tracebacks or not (record.exc_info or record.stack_info):
            return super().format(record)
        brief = copy.copy(record)
        brief.exc_info = brief.exc_text = brief.stack_info = None
        return f"{super().format(brief)} (-vv shows the traceback)"


class _StderrHandler(logging.StreamHandler):
    """Writes to whatever ``sys.stderr`` is when a record comes, not the one it was made with
    (a replaced or closed stream would otherwise print "--- Logging error ---" per record)."""

    def __init__(self) -> None:
        super().__init__()

    @property
    def stream(self):
        return sys.stderr

    @stream.setter
    def stream(self, _value) -> None:  # StreamHandler.__init__ assigns it
        pass


def configure_logging(verbosity: int) -> None:
    """Configured here, for the whole process; every module logs through
    ``logging.getLogger(__name__)``. Calling it again (``main`` run twice in one process)
    replaces the terminal handler instead of adding a second one.

    stderr shows warnings (more with -v); the root logger passes INFO on so the window's log pane
    can show it.
    """
    stderr_level = logging.WARNING - 10 * min(verbosity, 2)
    handler = _StderrHandler()
    handler.setLevel(stderr_level)
    handler.setFormatter(_TerminalFormatter(tracebacks=verbosity >= 2))
    root = logging.getLogger()
    for previous in [h for h in root.handlers if isinstance(h, _StderrHandler)]:
        root.removeHandler(previous)
    root.addHandler(handler)
    root.setLevel(min(logging.INFO, stderr_level))


def main(argv: list[str] | None = None) -> int:
    limit_malloc_arenas()  # before any worker or onnxruntime thread exists
    parser = build_parser()
    args = parser.parse_args(argv)
    configure_logging(verbosity(args) or int(os.environ.get("FIBUCA_VERBOSE", "0") or 0))
    if args.command is None:
        from fibuca_desktop.app import run_gui  # Qt is imported only for the window

        return run_gui(
            args.settings_file,
            args.quit_after,
            not args.no_crash_dialog,
            quit_deadline_s=QUIT_DEADLINE_S,
        )
    return run_command(args)


def run_command(args: argparse.Namespace) -> int:
    """Run a subcommand; whatever escapes it becomes one line on stderr, never a traceback
    (the traceback is logged at debug level: -vv shows it)."""
    action = getattr(args, "action", None) or getattr(args, "db_action", None)
    name = " ".join(filter(None, ("fibuca-desktop", args.command, action)))
    try:
        return args.run(args)
    except KeyboardInterrupt:
        print(f"{name}: interrupted", file=sys.stderr)
        return EXIT_INTERRUPTED
    except BrokenPipeError:  # `... | head`: the reader has what it wanted; nothing to report
        discard_stdout()
        return EXIT_PIPE_CLOSED
    except FibucaError as error:  # a domain error's message already says what to do
        log.debug("%s failed", name, exc_info=True)
        print(f"{name}: error: {_one_line(error)}", file=sys.stderr)
        return EXIT_FAILED
    except Exception as error:
        log.debug("%s failed unexpectedly", name, exc_info=True)
        print(
            f"{name}: unexpected error ({type(error).__name__}: {_one_line(error)}). Run it "
            "again with -vv to see the details, and report them if it happens again.",
            file=sys.stderr,
        )
        return EXIT_FAILED


def _one_line(error: BaseException, limit: int = 300) -> str:
    lines = str(error).strip().splitlines()
    text = printable(lines[0]) if lines else type(error).__name__
    return text if len(text) <= limit else text[: limit - 3] + "..."


if __name__ == "__main__":
    sys.exit(main())
