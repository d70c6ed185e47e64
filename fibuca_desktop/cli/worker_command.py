"""``fibuca-desktop worker --broker URL``: process photos sent by ``process --broker`` on this
machine (README, "Run a batch on several computers"). Needs the ``cluster`` extra; Celery is
imported only here, when the command runs.

Exit status: 0 when stopped (Ctrl-C, SIGTERM), 1 when the broker cannot be used, 2 on usage errors.
"""

from __future__ import annotations

import argparse
import logging
import sys

from fibuca_desktop.cli.parser import verbosity
from fibuca_desktop.cli.process_command import _positive_int
from fibuca_desktop.core.errors import UsageError

EXIT_OK, EXIT_FAILED, EXIT_USAGE = 0, 1, 2


def add_broker_option(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--broker",
        metavar="URL",
        help="the Celery broker, redis://HOST:6379/0 (default: $FIBUCA_BROKER_URL; a password "
        "may come from $FIBUCA_BROKER_PASSWORD or the keyring instead of the URL)",
    )


def add_parser(commands) -> None:
    parser = commands.add_parser(
        "worker",
        help="process photos sent to a broker by `process --broker` (needs the cluster extra)",
        description="A Celery worker running the same pipeline as a local batch, one model "
        "session per process. Inputs and outputs must be on a folder every machine sees; "
        "--path-map translates paths where this machine mounts it elsewhere.",
    )
    add_broker_option(parser)
    parser.add_argument(
        "--concurrency",
        type=_positive_int,
        metavar="N",
        help="photos at once, each in its own process with its own model session (default: "
        "from cores and free memory, as a local batch)",
    )
    parser.add_argument(
        "--path-map",
        action="append",
        default=[],
        metavar="FROM=TO",
        help="a path under FROM on the submitting machine is under TO here (repeatable)",
    )
    parser.add_argument(
        "--memory-budget-mb",
        type=_positive_int,
        metavar="MB",
        help="memory this worker may use (default: half the available memory)",
    )
    parser.add_argument("--name", metavar="NAME", help="worker name (default: fibuca-PID@host)")
    parser.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    from fibuca_desktop.cluster.imports import require_celery

    try:
        require_celery()
        from fibuca_desktop.cluster.broker_url import parse_broker_url
        from fibuca_desktop.cluster.job_spec import PathMap
        from fibuca_desktop.cluster.worker import run_worker, worker_capacity

        broker = parse_broker_url(args.broker)
        maps = [PathMap.parse(text) for text in args.path_map]
        capacity = worker_capacity(args.concurrency, args.memory_budget_mb)
    except UsageError as error:
        print(f"fibuca-desktop worker: error: {error}", file=sys.stderr)
        return EXIT_USAGE
    if capacity.note:
        print(f"note: {capacity.note}", file=sys.stderr)
    level = logging.getLevelName(logging.WARNING - 10 * min(verbosity(args), 2))
    print(
        f"worker: {capacity.workers} processes on {broker.shown}; Ctrl-C stops after the "
        "running photos",
        file=sys.stderr,
    )
    return run_worker(broker, capacity, maps, level, args.name)
