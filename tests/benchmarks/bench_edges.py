"""Benchmark: edge quality and cost of our cut-outs against rembg's, same u2netp file (issue 11).

Run from the project folder::

    .venv/bin/python tests/benchmarks/bench_edges.py                  # 12 MP, all cases
    .venv/bin/python tests/benchmarks/bench_edges.py --quick          # 2000x1500, 3 cases
    .venv/bin/python tests/benchmarks/bench_edges.py --cases hair fur --skip-matting

Quality: the synthetic matting set (tests/matting_set.py, exact truth) is cut out by rembg
(default, ``decontaminate=True``, ``alpha_matting=True``) and by this project's transparent
preset with ``--edges rembg`` and ``--edges refined``, each method in a fresh process, then
scored (tests/matting_metrics.py). Cost: the transparent preset at 12 MP with the default
workers (and web), refined and rembg edges against ``rembg.remove``, rows as bench_pipeline.py
measures them, on the fixture photos upscaled to 12 MP. The report is printed and written to
``tests/benchmarks/edges.md``. Like bench_pipeline.py, this driver imports neither numpy nor
Pillow, so that it stays small (a child's ru_maxrss starts at its parent's size).
"""

from __future__ import annotations

import argparse
import os
import shlex
import sys
import tempfile
import time
from pathlib import Path

from bench_edges_report import render_report
from bench_edges_worker import METHODS
from bench_pipeline import MODEL, PHOTOS, Variant, measure, prepare, run_worker
from bench_report import code_state, publish

HERE = Path(__file__).resolve().parent
PROJECT = HERE.parents[1]
WORKER = HERE / "bench_edges_worker.py"
RESULTS = HERE / "edges.md"
CASES = ("box", "bottle", "mug", "ring", "defocus", "fur", "hair")  # tests/matting_set.CASES
QUICK_CASES = ("mug", "defocus", "hair")
METHOD_TIMEOUT = 3600  # alpha matting: ~14 s a 12 MP photo, plus numba's compilation


def parse_size(text: str) -> tuple[int, int]:
    width, _, height = text.lower().partition("x")
    try:
        size = int(width), int(height)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not WIDTHxHEIGHT") from None
    if min(size) < 64:
        raise argparse.ArgumentTypeError(f"{text!r} is too small: at least 64x64")
    return size


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--quick",
        action="store_true",
        help=f"2000x1500, cases {' '.join(QUICK_CASES)}; throughput on 3 photos, 1 round",
    )
    parser.add_argument("--size", type=parse_size, help="WIDTHxHEIGHT of the set (4000x3000)")
    parser.add_argument("--cases", nargs="+", choices=CASES, help="which cases (all)")
    parser.add_argument("--seed", type=int, default=0, help="the set's seed (0)")
    parser.add_argument(
        "--skip-matting", action="store_true", help="leave out rembg alpha matting (slow)"
    )
    parser.add_argument(
        "--skip-throughput", action="store_true", help="quality only: no 12 MP throughput rows"
    )
    parser.add_argument("--photos", type=int, metavar="N", help="throughput on the first N photos")
    parser.add_argument("--rounds", type=int, metavar="N", help="throughput rounds (3)")
    parser.add_argument("--output", type=Path, default=RESULTS, help="markdown file to write")
    args = parser.parse_args(argv)
    if args.quick:
        args.size = args.size or (2000, 1500)
        args.cases = args.cases or list(QUICK_CASES)
        args.photos = args.photos or 3
        args.rounds = args.rounds or 1
    args.size = args.size or (4000, 3000)
    args.cases = args.cases or list(CASES)
    args.rounds = args.rounds or 3
    return args


def edges_worker(mode: str, spec: dict) -> dict:
    return run_worker(mode, spec, WORKER, METHOD_TIMEOUT)


def measure_quality(args: argparse.Namespace, root: Path) -> dict:
    print(f"generating {len(args.cases)} samples at {args.size[0]}x{args.size[1]}", file=sys.stderr)
    spec = {"cases": args.cases, "size": args.size, "seed": args.seed, "folder": str(root / "set")}
    generated = edges_worker("generate", spec)
    inputs = [sample["image"] for sample in generated["samples"]]
    methods = [m for m in METHODS if not (args.skip_matting and m == "rembg alpha matting")]
    cutouts, outputs = {}, {}
    for method in methods:
        print(f"  {method} ({len(inputs)} photos)", file=sys.stderr, flush=True)
        outputs[method] = str(root / "out" / method.replace(" ", "_").replace("=", "-"))
        spec = {"method": method, "inputs": inputs, "output_dir": outputs[method]}
        cutouts[method] = edges_worker("cutout", spec)
    print("  scoring", file=sys.stderr, flush=True)
    scored = edges_worker("score", {"inputs": inputs, "outputs": outputs})
    return {"generated": generated, "cutouts": cutouts, **scored}


def plan_throughput(large: list[str]) -> list[Variant]:
    """rembg, then ours with both edges, the CLI's default workers; web beside bare inference."""
    rows = [Variant("bare inference", "bare", "320x320", large)]
    rows.append(Variant("rembg 12 MP", "rembg", "12 MP", large))
    for preset in ("transparent", "web"):
        for edges in ("rembg", "refined"):
            name = f"{preset} 12 MP edges={edges}"
            rows.append(Variant(name, "ours", "12 MP", large, preset, None, "fast", edges=edges))
    return rows


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    program = [os.path.relpath(sys.executable, PROJECT), os.path.relpath(__file__, PROJECT)]
    command = shlex.join([*program, *(sys.argv[1:] if argv is None else argv)])
    # every child imports this checkout's fibuca_desktop and tests, whatever is installed
    os.environ["PYTHONPATH"] = os.pathsep.join(
        [str(PROJECT), *filter(None, [os.environ.get("PYTHONPATH")])]
    )
    load_before, started, code = os.getloadavg(), time.perf_counter(), code_state(PROJECT)
    with tempfile.TemporaryDirectory(prefix="fibuca-edges-") as temp:
        root = Path(temp)
        quality = measure_quality(args, root)
        quality_seconds = time.perf_counter() - started
        runs, sizes = [], {}
        if not args.skip_throughput:
            photos = sorted(str(p) for p in PHOTOS.iterdir() if p.suffix == ".jpg")
            prepared = prepare(photos[: args.photos], root)
            sizes = prepared["sizes"]
            print(f"throughput, {args.rounds} round(s)", file=sys.stderr, flush=True)
            runs = measure(plan_throughput(prepared["large"]), args.rounds, root / "throughput")
    context = {
        "command": command,
        "size": args.size,
        "seed": args.seed,
        "rounds": args.rounds,
        "load_before": load_before,
        "load_after": os.getloadavg(),
        "quality_seconds": quality_seconds,
        "total_seconds": time.perf_counter() - started,
        "model": str(MODEL),
        "code": code,
        "code_after": code_state(PROJECT),
        "sizes": sizes,
    }
    report = render_report(quality, runs, context)
    publish(report, args.output)
    return 0


if __name__ == "__main__":
    sys.exit(main())
