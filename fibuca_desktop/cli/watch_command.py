"""``fibuca-desktop watch INPUT -o OUTDIR``: process every photo that lands in a folder, once.

One line per photo on stdout (``--json``: one JSON object per line). Ctrl-C or SIGTERM stops
cleanly: running photos stop at a safe point and are done at the next start. Exit status 0,
1 when ``--once`` saw a failure or the watch stopped on an error, 2 on usage errors.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import signal
import sys
import threading

from fibuca_desktop.cli.masks_command import configured_store
from fibuca_desktop.cli.parser import number_in
from fibuca_desktop.cli.process_command import (
    add_photo_options,
    check_model,
    engines_for,
    limits_from,
    preset_from,
    profile_from,
)
from fibuca_desktop.core.errors import ModelUnavailable, UsageError
from fibuca_desktop.core.imaging.models import ModelStore, spec_for
from fibuca_desktop.core.imaging.pipeline import FAILED, PROCESSED, Pipeline
from fibuca_desktop.core.imaging.scheduler import Scheduler, machine_capacity
from fibuca_desktop.core.imaging.watch import FolderWatcher, WatchResult, WatchSettings

EXIT_OK, EXIT_FAILED, EXIT_USAGE = 0, 1, 2


def add_parser(commands) -> None:
    parser = commands.add_parser(
        "watch",
        help="process every photo that arrives in a folder (recursive), once",
        description="Watch a folder: each new or changed photo is processed once it is completely "
        "written; a journal in OUTDIR (.fibuca-watch.jsonl) keeps it from being done twice, also "
        "across restarts. Outputs mirror the folder's subfolders under OUTDIR.",
    )
    parser.add_argument("input", metavar="INPUT", help="the folder to watch")
    parser.add_argument("-o", "--output", required=True, metavar="OUTDIR", help="output folder")
    add_photo_options(parser)
    parser.add_argument("--json", action="store_true", help="print one JSON object per photo")
    watching = parser.add_argument_group("watching")
    watching.add_argument(
        "--once", action="store_true", help="process what is there now, then exit"
    )
    watching.add_argument(
        "--poll",
        action="store_true",
        help="scan the folder instead of asking the system for changes (network shares); "
        "used anyway when the system's watcher cannot start",
    )
    watching.add_argument(
        "--settle",
        type=number_in(float, 0.01, 60, " s"),
        default=0.5,
        metavar="S",
        help="seconds between the two checks that a file stopped changing",
    )
    watching.add_argument(
        "--queue",
        type=number_in(int, 0, 1000),
        default=2,
        metavar="N",
        help="photos waiting for a worker at most (the rest wait as names, not images)",
    )
    parser.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    try:
        if args.same_scale:
            raise UsageError(
                "--same-scale needs the whole batch before the first photo is framed; a watched "
                "folder never ends: use fibuca-desktop process --same-scale on the folder."
            )
        profile = profile_from(args)
        preset = profile.preset if profile else preset_from(args)
        capacity = machine_capacity(
            args.workers,
            args.memory_budget_mb,
            small_outputs=preset.small_output,
            model_mb=spec_for(args.model).activation_mb,
        )
    except UsageError as error:
        print(f"fibuca-desktop watch: error: {error}", file=sys.stderr)
        return EXIT_USAGE
    masks = None if args.no_mask_cache else configured_store()
    store = ModelStore()
    try:
        check_model(args.model, preset, store, masks, [])
    except ModelUnavailable as error:
        print(f"error: {error}", file=sys.stderr)
        return EXIT_FAILED
    if capacity.note:
        print(f"note: {capacity.note}", file=sys.stderr)
    engines, limits = engines_for(args, store, capacity), limits_from(args)
    # Replacing is safe: the pipeline only ever replaces an output our record says it made from
    # the same photo, which is what a changed photo needs.
    pipeline = Pipeline(engines, preset, args.model, limits, True, masks, profile=profile)
    settings = WatchSettings(settle_interval=args.settle, queue_size=args.queue, poll=args.poll)
    failures = []

    def on_result(watched: WatchResult) -> None:
        if watched.status == FAILED:
            failures.append(watched)
        print(_line(watched, args.json), flush=True)

    try:
        watcher = FolderWatcher(
            args.input,
            args.output,
            Scheduler(pipeline, capacity),
            preset.extension,
            settings,
            on_result,
        )
    except UsageError as error:
        print(f"fibuca-desktop watch: error: {error}", file=sys.stderr)
        return EXIT_USAGE
    stop = threading.Event()
    with _stopped_by_signals(stop):
        if not args.once:
            print(f"watching {watcher.input_dir} (Ctrl-C stops)", file=sys.stderr, flush=True)
        watcher.run(stop, once=args.once)
    if watcher.note:
        print(f"note: {watcher.note}", file=sys.stderr)
    if watcher.halted:
        print(f"fibuca-desktop watch: stopped: {watcher.halted}", file=sys.stderr)
        return EXIT_FAILED
    return EXIT_FAILED if args.once and failures else EXIT_OK


@contextlib.contextmanager
def _stopped_by_signals(stop: threading.Event):
    """SIGINT and SIGTERM only set ``stop``: the watcher finishes its step and journals."""

    def handler(_signum, _frame) -> None:
        stop.set()

    previous = {sig: signal.signal(sig, handler) for sig in (signal.SIGINT, signal.SIGTERM)}
    try:
        yield
    finally:
        for sig, old in previous.items():
            signal.signal(sig, old)


def _line(watched: WatchResult, as_json: bool) -> str:
    result = watched.result
    if as_json:
        item = {"input": str(result.input), "status": result.status}
        if result.status == PROCESSED:
            item |= {
                "output": str(result.output),
                "width": result.width,
                "height": result.height,
                "ms": round(result.ms, 1),
            }
            if result.preflight is not None:
                item["preflight"] = result.preflight.to_json()
        else:
            item["message"] = result.message
        return json.dumps(item, ensure_ascii=False)
    if result.status == PROCESSED:
        line = f"processed {result.input} -> {result.output}"
        if result.preflight is not None and not result.preflight.passed:
            line += f" (REJECTED by {result.preflight.profile}: "
            line += "; ".join(result.preflight.failures) + ")"
        return line
    label = "FAILED" if result.status == FAILED else result.status
    return f"{label} {result.input}: {result.message}"
