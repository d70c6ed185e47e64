"""``fibuca-desktop monitor``: watch one target's memory headless, one line per sample.

Exit status: 0 at the end of ``--duration`` or on Ctrl-C, 1 when the CSV cannot be written,
2 on usage errors.
"""

from __future__ import annotations

import argparse
import json
import math
import sys
import time
from datetime import datetime
from urllib.parse import urlsplit

from fibuca_desktop.core.errors import OutputError
from fibuca_desktop.core.monitor.health_source import HealthSource
from fibuca_desktop.core.monitor.http_fetch import mask_url, token_from
from fibuca_desktop.core.monitor.local_source import LocalSource
from fibuca_desktop.core.monitor.metrics_source import MetricsSource
from fibuca_desktop.core.monitor.poller import (
    LOCAL_JSON_METRICS,
    PollOutcome,
    TargetPoller,
    http_timeout_for,
    make_poll_pool,
    to_json,
)
from fibuca_desktop.core.monitor.samples import HEAP_USED_MB, REMOTE_METRICS, RSS_MB
from fibuca_desktop.core.monitor.thresholds import Thresholds

EXIT_OK, EXIT_FAILED, EXIT_USAGE = 0, 1, 2


class _Usage(Exception):
    pass


def add_parser(commands) -> None:
    parser = commands.add_parser(
        "monitor",
        help="watch a backend's or a process's memory (one line per sample)",
        description="Poll one target every INTERVAL seconds and print its state "
        "(OK, WARNING, CRITICAL, DOWN), key metrics and trend. Stops after --duration or Ctrl-C.",
    )
    target = parser.add_mutually_exclusive_group(required=True)
    target.add_argument("--health", metavar="URL", help="a backend's /health URL")
    target.add_argument("--metrics", metavar="URL", help="a Prometheus /metrics URL")
    target.add_argument("--local", action="store_true", help="a process on this computer")
    local = parser.add_argument_group("local target (with --local; default this process)")
    local.add_argument("--pid", type=int, metavar="PID", help="the process with this PID")
    local.add_argument("--process", metavar="NAME", help="every process with this name")
    parser.add_argument(
        "--interval", type=_positive_float, default=1.0, metavar="S", help="seconds (default 1)"
    )
    parser.add_argument(
        "--duration",
        type=_positive_float,
        metavar="S",
        help="stop after S seconds (default: until Ctrl-C)",
    )
    parser.add_argument(
        "--warn", type=_positive_float, default=350.0, metavar="MB", help="default 350"
    )
    parser.add_argument(
        "--critical", type=_positive_float, default=450.0, metavar="MB", help="default 450"
    )
    parser.add_argument("--csv", metavar="FILE", help="write the samples to FILE at the end")
    parser.add_argument("--json", action="store_true", help="one JSON object per line")
    parser.add_argument(
        "--token-env",
        metavar="NAME",
        help="send a bearer token read from environment variable NAME (never printed)",
    )
    parser.set_defaults(run=run)


def _positive_float(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a number") from None
    if not math.isfinite(value) or value <= 0:
        raise argparse.ArgumentTypeError(f"{text} must be a positive number")
    return value


def run(args: argparse.Namespace) -> int:
    try:
        poller_args = _target(args)
        # 10 MB of hysteresis as in the app, less for tiny test levels (it must stay below warn).
        hysteresis = min(10.0, args.warn / 10)
        thresholds = Thresholds(args.warn, args.critical, poller_args.pop("metric"), hysteresis)
    except (_Usage, ValueError) as error:
        print(f"fibuca-desktop monitor: error: {error}", file=sys.stderr)
        return EXIT_USAGE
    capacity = 86_400
    if args.duration is not None:
        capacity = min(capacity, math.ceil(args.duration / args.interval) + 2)
    pool = make_poll_pool(1)
    poller = TargetPoller(
        pool=pool,
        interval_s=args.interval,
        thresholds=thresholds,
        history_capacity=capacity,
        **poller_args,
    )
    try:
        _loop(poller, args)
    except KeyboardInterrupt:
        print(file=sys.stderr)
    finally:
        pool.shutdown(wait=False, cancel_futures=True)
    if args.csv:
        try:
            rows = poller.history.to_csv(args.csv, math.inf)
        except OutputError as error:
            print(f"error: {error}", file=sys.stderr)
            return EXIT_FAILED
        print(f"wrote {rows} samples to {args.csv}", file=sys.stderr)
    return EXIT_OK


def _target(args: argparse.Namespace) -> dict:
    """The poller's source, target name, metric names and threshold metric; raises _Usage."""
    if not args.local and (args.pid is not None or args.process):
        raise _Usage("--pid and --process go with --local")
    if args.warn >= args.critical:
        raise _Usage("--warn must be below --critical")
    if args.local:
        if args.token_env:
            raise _Usage("--token-env goes with --health or --metrics")
        try:
            source = LocalSource(args.pid, args.process)
        except ValueError as error:
            raise _Usage(str(error)) from None
        return {
            "source": source,
            "target": source.label,
            "metric_names": LOCAL_JSON_METRICS,
            "metric": RSS_MB,
        }
    url = args.health or args.metrics
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise _Usage(f"invalid URL {mask_url(url)!r}: expected http:// or https://")
    token = None
    if args.token_env:
        token = token_from(args.token_env, None)
        if token is None:
            raise _Usage(f"environment variable {args.token_env} is not set or empty")
    kind = HealthSource if args.health else MetricsSource
    source = kind(url, http_timeout_for(args.interval), token=token)
    return {
        "source": source,
        "target": mask_url(url),
        "metric_names": REMOTE_METRICS,
        "metric": HEAP_USED_MB,
    }


def _loop(poller: TargetPoller, args: argparse.Namespace) -> None:
    """Tick every interval on the monotonic clock; print each sample as soon as it completes."""
    start = time.monotonic()
    end = math.inf if args.duration is None else start + args.duration
    next_tick = start
    while next_tick < end:
        _show(poller.tick(time.time()), args.json)
        # After a stall (a suspended laptop) tick once at once rather than in a burst.
        next_tick = max(next_tick + args.interval, time.monotonic())
        deadline = min(next_tick, end)
        _show(poller.wait(deadline - time.monotonic()), args.json)
        remaining = deadline - time.monotonic()
        if remaining > 0:
            time.sleep(remaining)
    _show(poller.collect(), args.json)


def _show(outcome: PollOutcome | None, as_json: bool) -> None:
    if outcome is None:
        return
    if as_json:
        print(json.dumps(to_json(outcome)), flush=True)
        return
    data = to_json(outcome)
    clock = datetime.fromtimestamp(data["time"]).strftime("%H:%M:%S")
    values = "  ".join(
        f"{name} {'-' if value is None else f'{value:.1f}'}"
        for name, value in data["metrics"].items()
    )
    trend = data["trend"]
    line = f"{clock}  {data['state']:<8}  {values}  trend {trend['mbPerMinute']:+.1f} MB/min"
    if trend["secondsToCritical"] is not None:
        line += f" (critical in {trend['secondsToCritical'] / 60:.0f} min)"
    if data["reason"]:
        line += f"  [{data['reason']}]"
    print(line, flush=True)
