"""``fibuca-desktop cluster status --broker URL``: workers online, their concurrency, photos
running and queued. Exit status 0, 1 when the broker cannot be reached, 2 on usage errors."""

from __future__ import annotations

import argparse
import json
import sys

from fibuca_desktop.cli.worker_command import add_broker_option
from fibuca_desktop.core.errors import UsageError

EXIT_OK, EXIT_USAGE = 0, 2


def add_parser(commands) -> None:
    parser = commands.add_parser(
        "cluster",
        help="the workers of a broker: who is online, what runs, what waits",
        description="Ask a broker's workers what they are doing (needs the cluster extra).",
    )
    actions = parser.add_subparsers(dest="action", metavar="ACTION", required=True)
    status = actions.add_parser("status", help="workers online, concurrency, running and queued")
    add_broker_option(status)
    status.add_argument("--json", action="store_true", help="print one JSON object on stdout")
    status.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    from fibuca_desktop.cluster.imports import require_celery

    try:
        require_celery()
        from fibuca_desktop.cluster.broker_url import parse_broker_url

        broker = parse_broker_url(args.broker)
    except UsageError as error:
        print(f"fibuca-desktop cluster status: error: {error}", file=sys.stderr)
        return EXIT_USAGE
    from fibuca_desktop.cluster.status import cluster_status

    status = cluster_status(broker)  # BrokerUnavailable: one line, exit 1 (__main__)
    if args.json:
        print(json.dumps(status, indent=2))
        return EXIT_OK
    workers = status["workers"]
    print(
        f"{status['broker']}: {_count(len(workers), 'worker')} online, "
        f"{_count(status['running'], 'photo')} running, {status['queued']} queued"
    )
    for worker in workers:
        print(
            f"  {worker['name']}  concurrency {worker['concurrency']}  running "
            f"{worker['running']}  reserved {worker['reserved']}"
        )
    return EXIT_OK


def _count(number: int, noun: str) -> str:
    return f"{number} {noun}{'' if number == 1 else 's'}"
