"""Benchmark: "Run again with another preset" from the mask store against a fresh model run.

Run from the project folder::

    .venv/bin/python tests/benchmarks/bench_rerun.py            # 9 photos + 3 at 12 MP, 3 rounds
    .venv/bin/python tests/benchmarks/bench_rerun.py --quick    # 3 photos + 1 at 12 MP, 1 round

One warm process, as the window is after its first batch: the session exists and has run once
before any clock starts. Each image set is first cut out with ``transparent`` into the store;
then, per round, every rerun preset runs over the set three ways, back to back: the model
(``use_stored=False``, what every rerun cost before the store), the stored mask, and an edited
mask (the model's mask saved as an edit, as the editor's Save leaves it). Photos run one after
another on one worker, so s/image is a photo's latency. A second table times the mask alone
(model vs stored vs edited, at the job's working size), a third what the store adds to a first
run (the digest and the put). Writes the report to ``tests/benchmarks/rerun.md``.
"""

from __future__ import annotations

import argparse
import os
import shlex
import shutil
import statistics
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
PROJECT = HERE.parents[1]
sys.path.insert(0, str(PROJECT))  # this checkout's package, whatever the venv has installed

from bench_pipeline import PHOTOS, prepare  # noqa: E402
from bench_report import code_state, load_line, publish, run_lines  # noqa: E402
from bench_run import spread  # noqa: E402
from bench_worker import ForeignLoad  # noqa: E402
from PIL import Image  # noqa: E402

from fibuca_desktop.core.imaging.batch import Job  # noqa: E402
from fibuca_desktop.core.imaging.decode import Limits, decode  # noqa: E402
from fibuca_desktop.core.imaging.engine import EngineProvider, SessionTuning  # noqa: E402
from fibuca_desktop.core.imaging.mask_store import MaskStore  # noqa: E402
from fibuca_desktop.core.imaging.models import ModelStore  # noqa: E402
from fibuca_desktop.core.imaging.photo_masks import load_masks, working_mask  # noqa: E402
from fibuca_desktop.core.imaging.pipeline import Pipeline  # noqa: E402
from fibuca_desktop.core.imaging.presets import get_preset  # noqa: E402
from fibuca_desktop.core.imaging.render import fit_within  # noqa: E402
from fibuca_desktop.core.imaging.scheduler import machine_capacity  # noqa: E402

RESULTS = HERE / "rerun.md"
PRESETS = ("web", "square", "mask", "transparent")
WAYS = ("model", "stored", "edited")


class Bench:
    """The app's engines, warmed up, and the batches timed on them."""

    def __init__(self, root: Path) -> None:
        capacity = machine_capacity(None)
        self.threads = capacity.threads_per_inference
        self.engines = EngineProvider(ModelStore(), self.threads, SessionTuning.named("fast"), 1)
        self.engines.get("u2netp").predict(Image.new("RGB", (640, 480), (200, 120, 40)))
        self.root = root

    def batch(self, inputs: list[str], preset: str, masks, out: Path, use_stored=True) -> dict:
        """One preset over ``inputs`` on one worker: seconds per image and where masks came from."""
        pipeline = Pipeline(
            self.engines,
            get_preset(preset),
            "u2netp",
            Limits(),
            overwrite=True,
            masks=masks,
            use_stored=use_stored,
        )
        jobs = [
            Job(Path(name), out / f"{i:03d}-{Path(name).stem}") for i, name in enumerate(inputs)
        ]
        jobs = [Job(job.input, job.output.with_suffix(pipeline.preset.extension)) for job in jobs]
        foreign, clock = ForeignLoad(), time.perf_counter()
        results = [pipeline.process(job) for job in jobs]
        wall = time.perf_counter() - clock
        failed = [f"{r.input.name}: {r.message}" for r in results if r.status != "processed"]
        if failed:
            raise RuntimeError(f"{preset}: {failed}")
        return {
            "seconds": wall / len(jobs),
            "sources": sorted({r.mask for r in results}),
            "foreign": foreign.cores(),
        }

    def mask_only(self, inputs: list[str], masks, edited_masks) -> dict:
        """ms to get each photo's mask at the web preset's working size, each way, and how many
        cores other processes kept busy meanwhile."""
        times: dict = {way: [] for way in WAYS}
        foreign = ForeignLoad()
        for name in inputs:
            image = fit_within(decode(Path(name), Limits(), 800).image, 800)
            for way, store in (("model", None), ("stored", masks), ("edited", edited_masks)):
                clock = time.perf_counter()
                _, source, _ = working_mask(Path(name), image, "u2netp", self.engines, store, False)
                times[way].append((time.perf_counter() - clock) * 1000)
                assert source == way, (way, source)
        times["foreign"] = foreign.cores()
        return times


def measure_set(bench: Bench, name: str, inputs: list[str], rounds: int) -> dict:
    folder = bench.root / name.replace(" ", "_")
    masks = MaskStore(folder / "masks")
    print(f"{name}: first run (transparent) into the store", file=sys.stderr, flush=True)
    bench.batch(inputs, "transparent", masks, folder / "first")
    shutil.copytree(masks.folder, folder / "edited-masks")
    edited = MaskStore(folder / "edited-masks")
    for input_name in inputs:  # the model's mask, saved as an edit at full resolution
        photo = load_masks(Path(input_name), "u2netp", bench.engines, edited)
        edited.put_edited_mask(photo.key, photo.model_mask)
    rows: dict[str, dict[str, list[dict]]] = {
        preset: {way: [] for way in WAYS} for preset in PRESETS
    }
    first: dict[str, list[dict]] = {"no store": [], "store": []}
    mask_ms = []
    for round_index in range(rounds):
        print(f"{name}: round {round_index + 1} of {rounds}", file=sys.stderr, flush=True)
        mask_ms.append(bench.mask_only(inputs, masks, edited))
        for preset in PRESETS:
            out = folder / "out" / preset
            rows[preset]["model"].append(bench.batch(inputs, preset, masks, out, use_stored=False))
            rows[preset]["stored"].append(bench.batch(inputs, preset, masks, out))
            rows[preset]["edited"].append(bench.batch(inputs, preset, edited, out))
        empty = MaskStore(folder / f"empty-{round_index}")
        first["no store"].append(bench.batch(inputs, "transparent", None, folder / "out" / "f"))
        first["store"].append(bench.batch(inputs, "transparent", empty, folder / "out" / "f"))
    for preset in PRESETS:
        for way in WAYS:
            sources = {s for sample in rows[preset][way] for s in sample["sources"]}
            assert sources == {way}, (preset, way, sources)
    return {
        "name": name,
        "images": len(inputs),
        "rows": rows,
        "first": first,
        "mask_ms": mask_ms,
    }


def _best(samples: list[dict]) -> float:
    return min(sample["seconds"] for sample in samples)


def _each(samples: list[dict]) -> list[float]:
    return [sample["seconds"] for sample in samples]


def _rounds(ratios: list[float]) -> str:
    return "; rounds " + ", ".join(f"{r:.1f}" for r in ratios) if len(ratios) > 1 else ""


def render(sets: list[dict], context: dict) -> str:
    lines = [
        "# Benchmark: Run again with another preset, from the mask store (issue 12)",
        "",
        *run_lines(context, ("onnxruntime", "pillow", "numpy")),
        load_line(context),
        f"Total run time: {context['total_seconds']:.0f} s; {context['rounds']} round(s); "
        f"onnxruntime on {context['threads']} threads; sets: "
        + "; ".join(f"{s['name']} ({s['images']} images)" for s in sets),
        "",
        "One warm process (session created and run once before any clock). Each set was first "
        "cut out with `transparent` into the store; then per round each preset ran over the set "
        "three ways back to back: *model* (`use_stored=False`: every rerun before the store), "
        "*stored* (the stored raw mask, stretched) and *edited* (an edit at full resolution, "
        "resized). One worker, photos one after another: s/image is a photo's latency, from the "
        "file to the output written. *Speed-up* is model / stored, best round against best round "
        "(other processes only ever add time), then round by round.",
        "",
        "## Run again, per photo",
        "",
        "| set | preset | model s/image | stored s/image | edited s/image | speed-up stored | "
        "speed-up edited | other load |",
        "|---|---|--:|--:|--:|--:|--:|--:|",
    ]
    for result in sets:
        for preset in PRESETS:
            row = result["rows"][preset]
            model, stored, edited = (row[way] for way in WAYS)
            by_round = [m / s for m, s in zip(_each(model), _each(stored), strict=True)]
            load = [s["foreign"] for way in WAYS for s in row[way]]
            lines.append(
                f"| {result['name']} | {preset} | {spread(_each(model), 3)} | "
                f"{spread(_each(stored), 3)} | {spread(_each(edited), 3)} | "
                f"**{_best(model) / _best(stored):.1f}x**{_rounds(by_round)} | "
                f"{_best(model) / _best(edited):.1f}x | {max(load):.2f} |"
            )
    lines += [
        "",
        "## The mask alone (web's working size: the photo fitted in 800 px)",
        "",
        "| set | model ms | stored ms (read + bilinear stretch) | edited ms (read + reduction) "
        "| other load |",
        "|---|--:|--:|--:|--:|",
    ]
    for result in sets:
        rounds = result["mask_ms"]
        best = {  # each photo's best round, then the median over the photos
            way: statistics.median(min(r[way][i] for r in rounds) for i in range(result["images"]))
            for way in WAYS
        }
        lines.append(
            f"| {result['name']} | {best['model']:.1f} | {best['stored']:.1f} | "
            f"{best['edited']:.1f} | {spread([r['foreign'] for r in rounds], 2)} |"
        )
    lines += [
        "",
        "Each photo's best round, median over the set's photos. *model* is `predict` (the "
        "320x320 input made from the photo, inference, the stretch); *stored* reads a ~6 KB PNG "
        "(its CRCs verified) and stretches it; *edited* reads the full-resolution edit and "
        "reduces it.",
        "",
        "## What the store adds to a first run (transparent: the digest of the file, the put)",
        "",
        "| set | without a store s/image | with a store s/image | added ms/image |",
        "|---|--:|--:|--:|",
    ]
    for result in sets:
        without, with_store = result["first"]["no store"], result["first"]["store"]
        added = (_best(with_store) - _best(without)) * 1000
        lines.append(
            f"| {result['name']} | {spread(_each(without), 3)} | {spread(_each(with_store), 3)} "
            f"| {added:+.1f} |"
        )
    lines += ["", "Best round against best round; a difference within the rounds' spread is noise."]
    return "\n".join(lines) + "\n"


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="3 photos, one 12 MP, 1 round")
    parser.add_argument("--images", type=int, metavar="N", help="the first N fixture photos")
    parser.add_argument("--large", type=int, metavar="N", help="12 MP photos (default 3)")
    parser.add_argument("--rounds", type=int, metavar="N", help="rounds (default 3)")
    parser.add_argument("--output", type=Path, default=RESULTS, help="markdown file to write")
    args = parser.parse_args(argv)
    if args.quick:
        args.images, args.large, args.rounds = args.images or 3, args.large or 1, args.rounds or 1
    args.large, args.rounds = args.large or 3, args.rounds or 3
    return args


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    program = [os.path.relpath(sys.executable, PROJECT), os.path.relpath(__file__, PROJECT)]
    command = shlex.join([*program, *(sys.argv[1:] if argv is None else argv)])
    photos = sorted(str(p) for p in PHOTOS.iterdir() if p.suffix == ".jpg")[: args.images]
    load_before, started, code = os.getloadavg(), time.perf_counter(), code_state(PROJECT)
    with tempfile.TemporaryDirectory(prefix="fibuca-bench-rerun-") as temp:
        root = Path(temp)
        prepared = prepare(photos[: max(args.large, 1)], root)
        bench = Bench(root)
        sets = [
            measure_set(bench, "photos", [str(p) for p in photos], args.rounds),
            measure_set(bench, "12 MP", prepared["large"][: args.large], args.rounds),
        ]
        threads = bench.threads
    context = {
        "command": command,
        "rounds": args.rounds,
        "threads": threads,
        "load_before": load_before,
        "load_after": os.getloadavg(),
        "total_seconds": time.perf_counter() - started,
        "code": code,
        "code_after": code_state(PROJECT),
    }
    report = render(sets, context)
    publish(report, args.output)
    return 0


if __name__ == "__main__":
    sys.exit(main())
