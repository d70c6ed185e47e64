"""Entry point: ``fibuca-desktop`` and ``python -m fibuca_desktop``.

No subcommand opens the desktop window; ``process`` and ``models`` run headless.
"""

from __future__ import annotations

import argparse
import logging
import os
import sys

from fibuca_desktop import __version__
from fibuca_desktop.cli import models_command, process_command
from fibuca_desktop.core.process_memory import limit_malloc_arenas

EXIT_USAGE = 2


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
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
        help="more log output on stderr (-vv for debug)",
    )
    commands = parser.add_subparsers(dest="command", metavar="COMMAND")
    process_command.add_parser(commands)
    models_command.add_parser(commands)
    return parser


def configure_logging(verbosity: int) -> None:
    """Configured once, here; every module logs through ``logging.getLogger(__name__)``."""
    level = logging.WARNING - 10 * min(verbosity, 2)
    logging.basicConfig(
        level=level,
        stream=sys.stderr,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
        datefmt="%H:%M:%S",
    )


def main(argv: list[str] | None = None) -> int:
    limit_malloc_arenas()  # before any worker or onnxruntime thread exists
    parser = build_parser()
    args = parser.parse_args(argv)
    configure_logging(args.verbose or int(os.environ.get("FIBUCA_VERBOSE", "0") or 0))
    if args.command is None:
        print(
            "The desktop window is not part of this build yet; use a subcommand:\n", file=sys.stderr
        )
        parser.print_help(sys.stderr)
        return EXIT_USAGE
    return args.run(args)


if __name__ == "__main__":
    sys.exit(main())
