"""``fibuca-desktop process INPUT... -o OUTDIR``: remove backgrounds from files and folders.

Exit status: 0 when nothing failed, 1 when something failed, 2 on usage errors.
"""

from __future__ import annotations

import argparse
import json
import sys
import threading
import time
from collections import Counter

from fibuca_desktop.cli.masks_command import configured_store
from fibuca_desktop.cli.parser import number_in
from fibuca_desktop.cli.preflight_report import batch_scale, preflight_counts, print_preflight
from fibuca_desktop.cli.progress import ProgressBar
from fibuca_desktop.core.errors import ModelUnavailable, UsageError
from fibuca_desktop.core.imaging.batch import plan_batch
from fibuca_desktop.core.imaging.decode import Limits
from fibuca_desktop.core.imaging.engine import EngineProvider, SessionTuning
from fibuca_desktop.core.imaging.framing import ANCHORS
from fibuca_desktop.core.imaging.models import DEFAULT_MODEL, MODELS, ModelStore, spec_for
from fibuca_desktop.core.imaging.name_template import NameTemplate
from fibuca_desktop.core.imaging.optional_features import require_rembg
from fibuca_desktop.core.imaging.output_records import clean_stale_parts
from fibuca_desktop.core.imaging.photo_masks import EDITED, MODEL, STORED, all_stored
from fibuca_desktop.core.imaging.pipeline import PROCESSED, SKIPPED, Pipeline, refines
from fibuca_desktop.core.imaging.presets import (
    DEFAULT_EDGES,
    DEFAULT_PRESET,
    EDGES,
    PRESETS,
    Preset,
    get_preset,
)
from fibuca_desktop.core.imaging.scheduler import Scheduler, machine_capacity
from fibuca_desktop.core.process_memory import peak_rss_mb
from fibuca_desktop.core.profiles.profiles import Profile, get_profile

EXIT_OK, EXIT_FAILED, EXIT_USAGE = 0, 1, 2


def add_parser(commands) -> None:
    parser = commands.add_parser(
        "process",
        help="remove backgrounds from photos (files and folders, recursive)",
        description="Remove backgrounds locally. Originals are never modified; outputs mirror the "
        "input folders under OUTDIR and appear whole or not at all.",
    )
    parser.add_argument("inputs", nargs="+", metavar="INPUT", help="photo files or folders")
    parser.add_argument("-o", "--output", required=True, metavar="OUTDIR", help="output folder")
    add_photo_options(parser)
    parser.add_argument("--overwrite", action="store_true", help="replace existing outputs")
    parser.add_argument("--json", action="store_true", help="print one JSON object on stdout")
    parser.add_argument(
        "--broker",
        nargs="?",
        const="",
        metavar="URL",
        help="run on the workers of this Celery broker (redis://HOST:6379/0; --broker alone: "
        "$FIBUCA_BROKER_URL) instead of this computer; inputs and outputs must be on a folder "
        "the workers see (README, Run a batch on several computers)",
    )
    parser.add_argument(
        "--retries",
        type=number_in(int, 0, MAX_RETRIES),
        default=0,
        metavar="N",
        help="with --broker: send the photos that failed again, up to N more times (a worker "
        "that lost the shared drive for a moment; a broken photo fails each time)",
    )
    parser.add_argument(
        "--name",
        metavar="TEMPLATE",
        help="output file name without extension, from {stem} {ext} {preset} {profile} {width} "
        '{height} {n} (e.g. "{stem}-{preset}-{width}x{height}", {n:03} pads); the extension '
        "follows the format; a clash adds -2, -3 (default: the input's name)",
    )
    parser.set_defaults(run=run)


def add_photo_options(parser: argparse.ArgumentParser) -> None:
    """The preset, model and limits options, shared by ``process`` and ``watch``
    (``preset_from`` reads them back)."""
    parser.add_argument(
        "--preset",
        choices=sorted(PRESETS),
        help=f"output recipe (default {DEFAULT_PRESET})",
    )
    parser.add_argument(
        "--profile",
        metavar="NAME",
        help="export for a shop or marketplace (amazon, shopify, ebay, etsy, google, or your own: "
        "`fibuca-desktop profiles list`); every output is checked against its rules",
    )
    parser.add_argument(
        "--model",
        default=DEFAULT_MODEL,
        choices=sorted(MODELS),
        metavar="NAME",
        help=f"model (default {DEFAULT_MODEL})",
    )
    parser.add_argument(
        "--workers",
        type=_positive_int,
        metavar="N",
        help="parallel jobs (default: from cores and free memory; never more than the memory "
        "budget holds, which is said when it caps the number)",
    )
    parser.add_argument(
        "--no-mask-cache",
        action="store_true",
        help="run the model on every photo, ignoring (and not adding to) the stored masks and "
        "edits (`fibuca-desktop masks path`)",
    )
    options = parser.add_argument_group("preset options")
    options.add_argument(
        "--max-side", type=int, metavar="PX", help="longest side (square: the canvas side)"
    )
    options.add_argument(
        "--format",
        choices=("png", "jpeg", "jpg", "webp"),
        help="file format (default: the preset's; mask: png or jpeg); the extension follows it",
    )
    options.add_argument(
        "--quality",
        type=int,
        metavar="1-100",
        help="JPEG and WebP quality (default: the preset's, 85 for web)",
    )
    options.add_argument("--bg", metavar="COLOR", help="transparent, a colour name or #rrggbb")
    options.add_argument(
        "--margin",
        type=float,
        metavar="FRACTION",
        help="square: space around the subject (0.05 = 5%% of the side)",
    )
    options.add_argument(
        "--fill",
        type=number_in(float, 0.05, 1.0),
        metavar="F",
        help="canvas presets and profiles: the share of the canvas the product takes along its "
        "longer side (0.85 = 85%%)",
    )
    options.add_argument(
        "--anchor",
        choices=ANCHORS,
        help="canvas presets and profiles: centre the product, or stand it on the bottom margin "
        "(shoes, bottles)",
    )
    options.add_argument(
        "--same-scale",
        action="store_true",
        help="canvas presets and profiles, for a batch shot with a fixed camera: one scale for "
        "every photo, chosen so the largest product meets the fill (a small jar stays small)",
    )
    options.add_argument(
        "--edges",
        choices=EDGES,
        help="how the cut-out's edge is made: refined follows the full-resolution photo's edges "
        "and estimates their true colours; rembg gives rembg's edges exactly. No effect with "
        f"--alpha-matting, which replaces the edge (default: {DEFAULT_EDGES})",
    )
    options.add_argument(
        "--alpha-matting",
        action="store_true",
        help="refine hair and soft edges with rembg's alpha matting (slow; uses rembg); it "
        "replaces the edge, so --edges has no effect",
    )
    limits = parser.add_argument_group("limits")
    limits.add_argument(
        "--max-file-mb",
        type=_positive_int,
        default=40,
        metavar="MB",
        help="larger input files are refused",
    )
    limits.add_argument(
        "--max-megapixels",
        type=_positive_int,
        default=64,
        metavar="MP",
        help="larger images are refused from their header, before any pixel is decoded",
    )
    limits.add_argument(
        "--memory-budget-mb",
        type=_positive_int,
        metavar="MB",
        help="memory the batch may use (default: half the available memory)",
    )
    limits.add_argument(
        "--tuning",
        choices=("fast", "lean", "default"),
        default="fast",
        help="onnxruntime session options (README, Engine tuning)",
    )


MAX_RETRIES = 10


def _positive_int(text: str) -> int:
    try:
        value = int(text.strip())
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"{text!r} is not a whole number; give a number such as 2"
        ) from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"{text} must be at least 1")
    return value


def profile_from(args: argparse.Namespace) -> Profile | None:
    """The chosen export profile with the options given, or None; raises UsageError."""
    if not getattr(args, "profile", None):
        return None
    if args.preset:
        raise UsageError(
            f"--preset {args.preset} and --profile {args.profile}: a profile brings its own "
            "preset; give one of them."
        )
    profile = get_profile(args.profile)
    return profile.with_preset(_with_options(profile.preset, args))


def preset_from(args: argparse.Namespace) -> Preset:
    """The chosen preset (or profile's preset) with the options given (those not given keep
    the preset's own); raises UsageError for a value or combination that cannot be written."""
    profile = profile_from(args)
    if profile is not None:
        return profile.preset
    return _with_options(get_preset(args.preset or DEFAULT_PRESET), args)


def _with_options(preset: Preset, args: argparse.Namespace) -> Preset:
    if getattr(args, "same_scale", False) and not preset.canvas:
        raise UsageError(
            "--same-scale places every product on one canvas at one scale: use the square "
            "preset or a profile."
        )
    return preset.with_options(
        max_side=args.max_side,
        format=args.format,
        quality=args.quality,
        background=args.bg,
        margin=args.margin,
        alpha_matting=args.alpha_matting or None,
        edges=args.edges,
        fill=getattr(args, "fill", None),
        anchor=getattr(args, "anchor", None),
    )


def engines_for(args: argparse.Namespace, store: ModelStore, capacity) -> EngineProvider:
    """The model sessions for ``capacity``, tuned as ``--tuning`` says (process and watch)."""
    return EngineProvider(
        store,
        capacity.threads_per_inference,
        SessionTuning.named(args.tuning),
        capacity.inference_slots,
    )


def limits_from(args: argparse.Namespace) -> Limits:
    return Limits(args.max_file_mb * 1024 * 1024, args.max_megapixels * 1_000_000)


def run(args: argparse.Namespace) -> int:
    _printable_names()
    try:
        profile = profile_from(args)
        preset = profile.preset if profile else preset_from(args)
        template = NameTemplate.parse(args.name) if args.name is not None else None
        naming = (template, preset, profile.name if profile else "")
        plan = plan_batch(args.inputs, args.output, preset.extension, *naming)
        if args.retries and args.broker is None:
            raise UsageError("--retries goes with --broker (a local batch fails the same again)")
        if args.broker is not None:
            if args.same_scale:
                raise UsageError(
                    "--same-scale measures every photo before the batch runs, which is not "
                    "done on workers yet; run it without --broker."
                )
            from fibuca_desktop.cli.cluster_process import run_on_workers

            return run_on_workers(args, plan, preset, profile)
        capacity = machine_capacity(
            args.workers,
            args.memory_budget_mb,
            small_outputs=preset.small_output,
            model_mb=spec_for(args.model).activation_mb,
        )
    except UsageError as error:
        print(f"fibuca-desktop process: error: {error}", file=sys.stderr)
        return EXIT_USAGE
    masks = None if args.no_mask_cache else configured_store()
    store = ModelStore()
    try:
        check_model(args.model, preset, store, masks, [job.input for job in plan.jobs])
    except ModelUnavailable as error:
        print(f"error: {error}", file=sys.stderr)
        return EXIT_FAILED
    if capacity.note:
        print(f"note: {capacity.note}", file=sys.stderr)
    for stale in clean_stale_parts(job.output.parent for job in plan.jobs):
        print(f"note: removed {stale}, left by an interrupted run", file=sys.stderr)
    engines, limits = engines_for(args, store, capacity), limits_from(args)
    pipeline = Pipeline(engines, preset, args.model, limits, args.overwrite, masks, profile=profile)
    scheduler = Scheduler(pipeline, capacity)
    if args.same_scale:
        pipeline.scale = batch_scale(scheduler, plan.jobs, preset)
        if pipeline.scale is None:
            print("note: --same-scale found no product in any photo", file=sys.stderr)
    bar = ProgressBar(len(plan.jobs))
    results = []

    def on_result(result) -> None:
        results.append(result)
        bar.update(result.status, result.input.name, result.message)

    cancel = threading.Event()
    started = time.perf_counter()
    try:
        scheduler.run_batch(plan.jobs, on_result, cancel)
    except KeyboardInterrupt:
        cancel.set()
        print("\ncancelling: running photos finish, queued ones are dropped", file=sys.stderr)
    seconds = time.perf_counter() - started
    report = _report(plan, results, seconds)
    if scheduler.halted:
        report["stopped_early"] = scheduler.halted
    if args.json:
        print(json.dumps(report, indent=2))
    else:
        _print_summary(report, preset.name, capacity.describe())
        print_preflight(report)
    return EXIT_FAILED if report["failed"] else EXIT_OK


def check_model(model: str, preset: Preset, store: ModelStore, masks, photos) -> None:
    """Fail once, clearly, instead of once per photo (raises ModelUnavailable); a missing rembg
    first, so nobody downloads a model this installation cannot run. No model is needed when
    every photo's mask is stored."""
    if preset.alpha_matting:
        require_rembg("Alpha matting")
    try:
        if not spec_for(model).lean:
            require_rembg(f"Model {model}")
        store.path(model)
    except ModelUnavailable:
        # A preset that reduces a photo may take a mask made from a reduced copy (StoredMask).
        reduced = bool(preset.decode_side() or preset.max_side)
        if masks is None or not all_stored(photos, model, masks, not refines(preset), not reduced):
            raise
        note = f"note: model {model} is not available; every photo's mask is stored"
        print(note, file=sys.stderr)


def _printable_names() -> None:
    """A file name that is not UTF-8 (an old archive's ``caf\xe9.jpg``) reaches Python with
    escapes that a strict UTF-8 terminal refuses: print it with backslashes, never a crash."""
    for stream in (sys.stdout, sys.stderr):
        if getattr(stream, "errors", None) == "strict" and hasattr(stream, "reconfigure"):
            stream.reconfigure(errors="backslashreplace")


def _report(plan, results, seconds: float) -> dict:
    order = {job.input: index for index, job in enumerate(plan.jobs)}
    results = sorted(results, key=lambda r: order[r.input])
    processed = [
        {
            "input": str(r.input),
            "output": str(r.output),
            "width": r.width,
            "height": r.height,
            "ms": round(r.ms, 1),
            "mask": r.mask,
            "review": r.review,
        }
        | ({"notes": r.notes} if r.notes else {})
        | ({"preflight": r.preflight.to_json()} if r.preflight else {})
        for r in results
        if r.status == PROCESSED
    ]
    skipped = [
        {"input": str(r.input), "output": str(r.output), "reason": r.message}
        for r in results
        if r.status == SKIPPED
    ]
    skipped += [{"input": str(i.input), "output": None, "reason": i.reason} for i in plan.ignored]
    failed = [
        {"input": str(r.input), "error": r.message}
        for r in results
        if r.status not in (PROCESSED, SKIPPED)
    ]
    done = {r.input for r in results}
    failed += [
        {"input": str(job.input), "error": "cancelled before it started"}
        for job in plan.jobs
        if job.input not in done
    ]
    report = {
        "processed": processed,
        "skipped": skipped,
        "failed": failed,
        "seconds": round(seconds, 3),
        "peak_rss_mb": round(peak_rss_mb(), 1),
    }
    checked = [item["preflight"] for item in processed if "preflight" in item]
    if checked:
        report["preflight"] = preflight_counts(checked)
    return report


def _print_summary(report: dict, preset: str, capacity: str) -> None:
    out = sys.stdout
    print(
        f"{len(report['processed'])} processed, {len(report['skipped'])} skipped, "
        f"{len(report['failed'])} failed in {report['seconds']:.1f} s "
        f"(preset {preset}; {capacity}; peak memory {report['peak_rss_mb']:.0f} MB)",
        file=out,
    )
    sources = Counter(item["mask"] for item in report["processed"])
    if sources[STORED] or sources[EDITED]:
        print(
            f"  masks: {sources[STORED]} stored, {sources[EDITED]} edited, "
            f"{sources[MODEL]} from the model",
            file=out,
        )
    for item in report["processed"]:
        if item["review"]:
            print(f"  check   {item['output']}: {'; '.join(item['review'])}", file=out)
    for item in report["skipped"]:
        print(f"  skipped {item['input']}: {item['reason']}", file=out)
    for item in report["failed"]:
        print(f"  FAILED  {item['input']}: {item['error']}", file=out)
    if "stopped_early" in report:
        print(f"Stopped early: {report['stopped_early']}", file=out)
