"""Benchmark: this pipeline against ``rembg.remove`` and bare onnxruntime, each in a fresh process.

Run from the project folder::

    .venv/bin/python tests/benchmarks/bench_pipeline.py            # all photos, 3 rounds: ~4 min
    .venv/bin/python tests/benchmarks/bench_pipeline.py --quick    # 3 photos, 1 round: ~1 min

Prints a markdown report and writes it to ``tests/benchmarks/results.md``. This driver imports
neither numpy nor Pillow so that it stays small: on Linux a child's ``ru_maxrss`` starts at the
parent's resident size (README). Image preparation and IoU run in child processes as well.
The report states the commit and a digest of the package's sources at the start, and warns when
they changed before the run ended (rows from two versions of the code are not comparable).
"""

from __future__ import annotations

import argparse
import json
import os
import shlex
import shutil
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

from bench_report import code_state, publish, render_report
from bench_run import Run

HERE = Path(__file__).resolve().parent
PROJECT = HERE.parents[1]
PHOTOS = PROJECT / "tests" / "fixtures" / "photos"
WORKER = HERE / "bench_worker.py"
RESULTS = HERE / "results.md"
MODEL = Path("~/.u2net/u2netp.onnx").expanduser()
MEGAPIXELS = 12
GROWTH_REPEAT = 3  # the memory-growth check runs the 12 MP list this many times over
VARIANT_TIMEOUT = 900


@dataclass
class Variant:
    """One fresh-process measurement: a worker mode and its spec."""

    name: str
    mode: str
    image_set: str  # "photos" | "12 MP"
    inputs: list[str]
    preset: str = ""
    workers: int | None = None
    tuning: str = ""
    jobs_budget_mb: int | None = None
    group: str = "main"  # "main" | "growth"
    edges: str = ""  # --edges refined | rembg; "" = the preset's default


def run_worker(
    mode: str, spec: dict, worker: Path = WORKER, timeout: float = VARIANT_TIMEOUT
) -> dict:
    """Run ``bench_worker.py MODE SPEC`` (or another ``worker`` script) in a fresh interpreter
    and parse its JSON line."""
    completed = subprocess.run(
        [sys.executable, str(worker), mode, json.dumps(spec)],
        capture_output=True,
        text=True,
        timeout=timeout,
        cwd=PROJECT,
        check=False,
    )
    if completed.returncode != 0:
        raise RuntimeError(f"worker {mode} failed ({completed.returncode}):\n{completed.stderr}")
    return json.loads(completed.stdout.strip().splitlines()[-1])


def measure_once(variant: Variant, output_dir: Path) -> dict:
    """One fresh process for ``variant``; returns the worker's JSON report."""
    spec = {
        "name": variant.name,
        "inputs": variant.inputs,
        "preset": variant.preset,
        "workers": variant.workers,
        "tuning": variant.tuning or "fast",
        "jobs_budget_mb": variant.jobs_budget_mb,
        "edges": variant.edges,
        "model_path": str(MODEL),
        "output_dir": str(output_dir),
    }
    print(f"  {variant.name} ({len(variant.inputs)} images)", file=sys.stderr, flush=True)
    return run_worker(variant.mode, spec)


def measure(variants: list[Variant], rounds: int, out_root: Path) -> list[Run]:
    """Measure every variant ``rounds`` times, round-robin so that a slow spell of the machine
    hits all variants alike. Outputs of round 0 are kept for the IoU; later ones are deleted."""
    samples: dict[str, list[dict]] = {variant.name: [] for variant in variants}
    for round_index in range(rounds):
        print(f"round {round_index + 1} of {rounds}", file=sys.stderr, flush=True)
        for variant in variants:
            output_dir = out_root / f"round{round_index}" / variant.name.replace(" ", "_")
            samples[variant.name].append(measure_once(variant, output_dir))
            if round_index > 0:
                shutil.rmtree(output_dir, ignore_errors=True)
    return [
        Run(
            variant.name,
            variant.mode,
            variant.image_set,
            variant.preset,
            variant.workers,
            variant.tuning,
            variant.jobs_budget_mb,
            variant.group,
            samples[variant.name],
            str(out_root / "round0" / variant.name.replace(" ", "_")),
        )
        for variant in variants
    ]


def measure_cli(inputs: list[str], out_dir: Path) -> dict:
    """The real CLI end to end (process start, imports and session creation included)."""
    command = [
        str(Path(sys.executable).parent / "fibuca-desktop"),
        "process",
        *inputs,
        "-o",
        str(out_dir),
        "--json",
        "--overwrite",
    ]
    print("  running CLI transparent (end to end)...", file=sys.stderr, flush=True)
    started = time.perf_counter()
    completed = subprocess.run(
        command, capture_output=True, text=True, timeout=VARIANT_TIMEOUT, cwd=PROJECT, check=False
    )
    wall = time.perf_counter() - started
    if completed.returncode != 0:
        raise RuntimeError(f"CLI failed ({completed.returncode}):\n{completed.stderr}")
    report = json.loads(completed.stdout)
    return {
        "wall_seconds": wall,
        "images": len(report["processed"]),
        "batch_seconds": report["seconds"],
        "peak_rss_mb": report["peak_rss_mb"],
        "failed": report["failed"],
        "command": shlex.join(command),
    }


def plan_variants(photos: list[str], large: list[str]) -> list[Variant]:
    """The side-by-side rows, each next to what it is compared with (measured in rounds)."""
    sets = (("photos", photos), ("12 MP", large))
    variants = [Variant("bare inference", "bare", "320x320", photos)]
    for image_set, inputs in sets:
        variants += ours_variants("web", image_set, inputs)
    for image_set, inputs in sets:
        variants.append(Variant(f"rembg {image_set}", "rembg", image_set, inputs))
        variants += ours_variants("transparent", image_set, inputs)
    return variants


def ours_variants(preset: str, image_set: str, inputs: list[str]) -> list[Variant]:
    """Workers 1 and 2 with the default tuning; at 12 MP also the other tunings."""
    setups = [(1, "fast"), (2, "fast")]
    if image_set == "12 MP":
        setups += [(1, "lean"), (2, "lean"), (1, "default")]
    return [
        Variant(
            f"{preset} {image_set} w{workers}" + ("" if tuning == "fast" else f" {tuning}"),
            "ours",
            image_set,
            inputs,
            preset,
            workers,
            tuning,
        )
        for workers, tuning in setups
    ]


def plan_growth(large: list[str]) -> list[Variant]:
    """Memory growth: a short and a long (repeated) 12 MP batch per preset, measured once."""
    short, long = large[: min(5, len(large))], large * GROWTH_REPEAT
    return [
        Variant(
            f"{preset} 12 MP w2 x{len(inputs)}",
            "ours",
            "12 MP",
            inputs,
            preset,
            2,
            "fast",
            group="growth",
        )
        for preset in ("transparent", "web")
        for inputs in (short, long)
    ]


def budget_variant(large: list[str], one_job_mb: float) -> Variant:
    """Two workers whose jobs budget (after the model's reservation) fits one 12 MP job only:
    the scheduler must run the jobs one at a time."""
    budget = int(one_job_mb) + 1
    name = f"transparent 12 MP w2, jobs budget {budget} MB"
    return Variant(name, "ours", "12 MP", large, "transparent", 2, "fast", budget, "growth")


def iou_for(ours: Run, rembg: Run) -> dict:
    pairs = []
    for name in sorted(os.listdir(ours.output_dir)):
        theirs = Path(rembg.output_dir) / name
        if theirs.exists():
            pairs.append([str(Path(ours.output_dir) / name), str(theirs)])
    return run_worker("iou", {"pairs": pairs})


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="3 photos, 1 round")
    parser.add_argument("--images", type=int, metavar="N", help="use the first N photos")
    parser.add_argument("--rounds", type=int, metavar="N", help="rounds of the main rows (3)")
    parser.add_argument("--output", type=Path, default=RESULTS, help="markdown file to write")
    args = parser.parse_args(argv)
    if args.quick:
        args.images = args.images or 3
        args.rounds = args.rounds or 1
    args.rounds = args.rounds or 3
    return args


def prepare(photos: list[str], root: Path) -> dict:
    print(f"preparing {len(photos)} photos and {MEGAPIXELS} MP upscales in {root}", file=sys.stderr)
    spec = {
        "photos": photos,
        "megapixels": MEGAPIXELS,
        "original_dir": str(root / "in" / "photos"),
        "large_dir": str(root / "in" / "12mp"),
    }
    return run_worker("prepare", spec)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    program = [os.path.relpath(sys.executable, PROJECT), os.path.relpath(__file__, PROJECT)]
    command = shlex.join([*program, *(sys.argv[1:] if argv is None else argv)])
    photos = sorted(str(p) for p in PHOTOS.iterdir() if p.suffix == ".jpg")[: args.images]
    load_before, started, code = os.getloadavg(), time.perf_counter(), code_state(PROJECT)
    with tempfile.TemporaryDirectory(prefix="fibuca-bench-") as temp:
        root = Path(temp)
        prepared = prepare(photos, root)
        large = prepared["large"]
        runs = measure(plan_variants(prepared["original"], large), args.rounds, root / "out")
        print("memory growth", file=sys.stderr, flush=True)
        runs += measure(plan_growth(large), 1, root / "growth")
        one_job_mb = max(
            r.data["estimate_mb_max"] for r in runs if r.name.startswith("transparent 12 MP")
        )
        runs += measure([budget_variant(large, one_job_mb)], 1, root / "budget")
        cli = measure_cli(large, root / "cli")
        ious = {
            image_set: iou_for(
                next(r for r in runs if r.name == f"transparent {image_set} w1"),
                next(r for r in runs if r.name == f"rembg {image_set}"),
            )
            for image_set in ("photos", "12 MP")
        }
    context = {
        "command": command,
        "rounds": args.rounds,
        "load_before": load_before,
        "load_after": os.getloadavg(),
        "total_seconds": time.perf_counter() - started,
        "sizes": prepared["sizes"],
        "model": str(MODEL),
        "code": code,
        "code_after": code_state(PROJECT),
        "cli": cli,
        "ious": ious,
        "one_job_mb": one_job_mb,
    }
    report = render_report(runs, context)
    publish(report, args.output)
    return 0


if __name__ == "__main__":
    sys.exit(main())
