"""``fibuca-desktop monitor``: watch targets' memory headless, one line per target per sample.

Several targets at once (repeat ``--health`` / ``--metrics`` / ``--pm2``) are polled by the Monitor
tab's own
scheduling (``MonitorSchedule``): each on its own interval, each poll with a total deadline, so
one slow target never delays the others. ``--csv`` rows are appended and flushed as they come.

Exit status: 0 at the end of ``--duration``, on Ctrl-C, SIGTERM, SIGHUP or when standard output
is closed (``| head``; the CSV keeps every row), 1 when the CSV cannot be written, 2 on usage
errors.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import math
import signal
import sys
import time
from datetime import datetime
from urllib.parse import urlsplit

from fibuca_desktop.cli.terminal import discard_stdout
from fibuca_desktop.core.errors import OutputError
from fibuca_desktop.core.monitor.health_source import HealthSource
from fibuca_desktop.core.monitor.http_fetch import mask_url, token_from
from fibuca_desktop.core.monitor.leak import DEFAULT_LEAK_MIN_SPAN_S
from fibuca_desktop.core.monitor.local_source import LocalSource
from fibuca_desktop.core.monitor.metrics_source import MetricsSource
from fibuca_desktop.core.monitor.pm2_source import PM2_METRICS, Pm2Listing, Pm2Source, find_pm2
from fibuca_desktop.core.monitor.poller import (
    LOCAL_JSON_METRICS,
    PollOutcome,
    TargetPoller,
    http_timeout_for,
    to_json,
)
from fibuca_desktop.core.monitor.sample_log import SampleLog
from fibuca_desktop.core.monitor.samples import HEAP_USED_MB, REMOTE_METRICS, RSS_MB
from fibuca_desktop.core.monitor.schedule import MonitorSchedule
from fibuca_desktop.core.monitor.targets import PM2_LISTING_AGE_S, PM2_MIN_INTERVAL_S
from fibuca_desktop.core.monitor.thresholds import Thresholds

EXIT_OK, EXIT_FAILED, EXIT_USAGE = 0, 1, 2
EXIT_WAIT_S = 1.0  # at the end, how long polls still in flight may take (daemon threads after)


class _Usage(Exception):
    pass


class _Stop(Exception):
    """SIGTERM or SIGHUP: stop like Ctrl-C, keeping what was recorded."""


class _OutputGone(Exception):
    """Standard output was closed (``| head``, a terminal gone): stop, keeping the CSV."""


def add_parser(commands) -> None:
    parser = commands.add_parser(
        "monitor",
        help="watch backends' or a process's memory (one line per target per sample)",
        description="Poll targets every INTERVAL seconds and print each one's state "
        "(OK, WARNING, DEGRADED, CRITICAL, DOWN), key metrics, trend and leak verdict. "
        "Repeat --health, --metrics and --pm2 to watch several at once. Stops after "
        "--duration, Ctrl-C or SIGTERM.",
    )
    parser.add_argument(
        "--health", metavar="URL", action="append", default=[], help="a backend's /health URL"
    )
    parser.add_argument(
        "--metrics", metavar="URL", action="append", default=[], help="a Prometheus /metrics URL"
    )
    parser.add_argument(
        "--pm2",
        metavar="APP",
        action="append",
        default=[],
        help=f"an app PM2 runs here, by its name in `pm2 list` (RSS, CPU, restarts; asked at "
        f"most every {PM2_MIN_INTERVAL_S:g} s)",
    )
    parser.add_argument("--local", action="store_true", help="a process on this computer")
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
    parser.add_argument(
        "--csv",
        metavar="FILE",
        help="append every sample to FILE as it arrives (its folder must exist; an existing "
        "FILE with the same columns is continued, never truncated)",
    )
    parser.add_argument(
        "--leak-min-span",
        type=_positive_float,
        default=DEFAULT_LEAK_MIN_SPAN_S,
        metavar="S",
        help="seconds of samples (since the start or a restart) before a leak can be called "
        f"(default {DEFAULT_LEAK_MIN_SPAN_S:g})",
    )
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
        targets = _targets(args)
        # 10 MB of hysteresis as in the app, less for tiny test levels (it must stay below warn).
        hysteresis = min(10.0, args.warn / 10)
        for target in targets:
            target["thresholds"] = Thresholds(
                args.warn, args.critical, target.pop("metric"), hysteresis
            )
    except (_Usage, ValueError) as error:
        print(f"fibuca-desktop monitor: error: {error}", file=sys.stderr)
        return EXIT_USAGE
    capacity = 86_400
    if args.duration is not None:
        capacity = min(capacity, math.ceil(args.duration / args.interval) + 2)
    schedule = MonitorSchedule(args.interval)
    for target in targets:
        poller = TargetPoller(
            pool=schedule.threads,
            interval_s=target.pop("interval_s", args.interval),
            history_capacity=capacity,
            leak_min_span_s=args.leak_min_span,
            **target,
        )
        schedule.add(poller.target, poller)
    sample_log = None
    if args.csv:
        names = tuple(dict.fromkeys(n for t in targets for n in t["metric_names"]))
        try:
            sample_log = SampleLog(args.csv, names)
        except OutputError as error:
            print(f"fibuca-desktop monitor: error: {error}", file=sys.stderr)
            return EXIT_FAILED
    previous = _stop_on_signals()
    status = EXIT_OK
    try:
        _loop(schedule, args, sample_log)
    except (KeyboardInterrupt, _Stop):
        _say("")
    except _OutputGone:
        discard_stdout()
    except OutputError as error:
        print(f"fibuca-desktop monitor: error: {error}", file=sys.stderr)
        status = EXIT_FAILED
    finally:
        _restore_signals(previous)
        schedule.shutdown(EXIT_WAIT_S)
        if sample_log is not None:
            sample_log.close()
    if sample_log is not None and status == EXIT_OK:
        _say(f"wrote {sample_log.rows} samples to {args.csv}")
    return status


def _say(text: str) -> None:
    """A line on stderr, if there still is one (a closed terminal takes it too)."""
    with contextlib.suppress(OSError, ValueError):
        print(text, file=sys.stderr, flush=True)


def _stop_on_signals() -> dict:
    """SIGTERM (and SIGHUP, a closed terminal) end the run like Ctrl-C; the old handlers."""

    def stop(signum, frame) -> None:
        raise _Stop

    previous = {}
    for name in ("SIGTERM", "SIGHUP"):
        number = getattr(signal, name, None)
        if number is not None:
            previous[number] = signal.signal(number, stop)
    return previous


def _restore_signals(previous: dict) -> None:
    for number, handler in previous.items():
        signal.signal(number, handler)


def _targets(args: argparse.Namespace) -> list[dict]:
    """Each poller's source, target name, metric names and threshold metric; raises _Usage."""
    urls = [(HealthSource, url) for url in args.health] + [
        (MetricsSource, url) for url in args.metrics
    ]
    if not urls and not args.pm2 and not args.local:
        raise _Usage("one of the arguments --health --metrics --pm2 --local is required")
    if (urls or args.pm2) and args.local:
        raise _Usage("argument --local: not allowed with --health, --metrics or --pm2")
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
        return [
            {
                "source": source,
                "target": source.label,
                "metric_names": LOCAL_JSON_METRICS,
                "metric": RSS_MB,
            }
        ]
    targets = _pm2_targets(args.pm2, args.interval)
    if not urls:
        if args.token_env:
            raise _Usage("--token-env goes with --health or --metrics")
        return targets
    token = None
    if args.token_env:
        token = token_from(args.token_env, None)
        if token is None:
            raise _Usage(f"environment variable {args.token_env} is not set or empty")
    for kind, url in urls:
        try:
            parts = urlsplit(url)
            parts.port  # noqa: B018 (raises ValueError for a port that is not 0-65535)
        except ValueError as error:
            raise _Usage(f"invalid URL {mask_url(url)!r}: {error}") from None
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise _Usage(f"invalid URL {mask_url(url)!r}: expected http:// or https://")
        if any(t["target"] == mask_url(url) for t in targets):
            raise _Usage(f"{mask_url(url)} is given twice")
        targets.append(
            {
                "source": kind(url, http_timeout_for(args.interval), token=token),
                "target": mask_url(url),
                "metric_names": REMOTE_METRICS,
                "metric": HEAP_USED_MB,
            }
        )
    return targets


def _pm2_targets(apps: list[str], interval_s: float) -> list[dict]:
    """One target per PM2 app, all on one listing (one `pm2 jlist` per round); raises _Usage."""
    if not apps:
        return []
    if find_pm2() is None:
        raise _Usage("--pm2: PM2 is not installed here (pm2 not found on PATH)")
    listing = Pm2Listing(max_age_s=PM2_LISTING_AGE_S)
    targets = []
    for app in apps:
        if not app.strip() or not app.isprintable():
            raise _Usage(f"--pm2 {app!r}: give an app's name as `pm2 list` shows it")
        if any(t["source"].name == app for t in targets):
            raise _Usage(f"--pm2 {app} is given twice")
        targets.append(
            {
                "source": Pm2Source(listing, name=app),
                "target": f"PM2 {app}",
                "metric_names": PM2_METRICS,
                "metric": RSS_MB,
                "interval_s": max(interval_s, PM2_MIN_INTERVAL_S),
            }
        )
    return targets


def _loop(schedule: MonitorSchedule, args: argparse.Namespace, sample_log: SampleLog | None):
    """Heartbeat whenever a poll ends or one is due; show each outcome as soon as it exists."""
    end = math.inf if args.duration is None else time.monotonic() + args.duration
    finished = schedule.threads.finished
    while True:
        finished.clear()  # before the heartbeat: a poll ending after it wakes the wait below
        for _, outcome in schedule.heartbeat():
            _emit(outcome, args.json, sample_log)
        left = end - time.monotonic()
        if left <= 0:
            break
        finished.wait(min(left, schedule.seconds_to_next()))
    # What finished by the end still counts; what is still running is dropped.
    for poller in schedule.pollers.values():
        outcome = poller.collect()
        if outcome is not None:
            _emit(outcome, args.json, sample_log)


def _emit(outcome: PollOutcome, as_json: bool, sample_log: SampleLog | None) -> None:
    if sample_log is not None:
        sample_log.append(outcome)  # flushed before the line is shown
    _show(outcome, as_json)


def _show(outcome: PollOutcome, as_json: bool) -> None:
    try:
        _print(outcome, as_json)
    except OSError:  # EPIPE, EIO: nobody reads the lines any more
        raise _OutputGone from None


def _print(outcome: PollOutcome, as_json: bool) -> None:
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
    line = f"{clock}  {data['target']}  {data['state']:<8}  {values}"
    line += f"  trend {trend['mbPerMinute']:+.1f} MB/min"
    if trend["secondsToCritical"] is not None:
        line += f" (critical in {trend['secondsToCritical'] / 60:.0f} min)"
    if outcome.leak_text:
        line += f"  {outcome.leak_text}"
    if data["restarts"]:
        line += f"  restarts {data['restarts']}"
    if data["reason"]:
        line += f"  [{data['reason']}]"
    for event in outcome.events:  # "restarted: uptime 3512 s -> 2 s", a crash loop
        line += f"  [{event.reason}]"
    print(line, flush=True)
