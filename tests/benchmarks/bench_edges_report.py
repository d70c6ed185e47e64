"""The edge benchmark's markdown report: per-image metrics, ratios against rembg, PASS/FAIL."""

from __future__ import annotations

import hashlib
import math
from pathlib import Path

from bench_report import WEB_PEAK_MB, WEB_VS_BARE, load_line, run_lines, timing_text, verdict
from bench_run import Run, ratios, spread

BASE = "rembg"  # every ratio is against rembg's default cut-out
OURS = "ours edges=refined"
MATTING = "rembg alpha matting"
# Issue 11's targets, on the geometric mean of per-image ratios against rembg's default.
QUALITY_TARGETS = (
    ("sad", "<=", 0.35),
    ("gradient", "<=", 0.15),
    ("composite", "<=", 0.45),
    ("boundary_iou", ">=", 1.12),
)
AT_LEAST_AS_GOOD_AS_MATTING = (("sad", "<="), ("gradient", "<="), ("boundary_iou", ">="))
IOU_DROP = 0.002  # whole-image IoU may fall at most this far below rembg's, on any image
COST_TARGETS = {  # row: (at least x rembg's images/s, at most x rembg's peak RSS)
    "transparent 12 MP edges=refined": (2.5, 0.55),
    "transparent 12 MP edges=rembg": (3.0, 0.5),
}
COLUMNS = (
    ("sad", "SAD", 2),
    ("mse", "MSE", 5),
    ("gradient", "gradient", 2),
    ("boundary_iou", "Boundary IoU", 4),
    ("iou", "IoU", 4),
    ("composite_green", "composite green", 2),
    ("composite_black", "composite black", 2),
)


def geometric_mean_ratio(scores: dict, method: str, metric: str, base: str = BASE):
    """exp(mean(log(method / base))) over the images both have; (value, images)."""
    logs = []
    for per_method in scores.values():
        ours, theirs = per_method.get(method), per_method.get(base)
        if ours is None or theirs is None:
            continue
        logs.append(math.log(max(ours[metric], 1e-12) / max(theirs[metric], 1e-12)))
    return (math.exp(sum(logs) / len(logs)) if logs else float("nan")), len(logs)


def _holds(value: float, sense: str, limit: float) -> bool:
    return value <= limit if sense == "<=" else value >= limit


def header_lines(quality: dict, context: dict) -> list[str]:
    model = Path(context["model"])
    md5 = hashlib.md5(model.read_bytes(), usedforsecurity=False).hexdigest()
    paths = {cut["model_path"] for cut in quality["cutouts"].values()}
    same = "every method resolved this file" if paths == {str(model)} else f"**files: {paths}**"
    width, height = context["size"]
    return [
        "# Benchmark: edges, ours against rembg (u2netp)",
        "",
        *run_lines(context, ("onnxruntime", "pillow", "numpy", "scipy", "rembg", "pymatting")),
        f"Model: `{model}` (md5 {md5}); {same}  ",
        load_line(context),
        f"Set: {width}x{height}, seed {context['seed']}. Run time: quality "
        f"{context['quality_seconds']:.0f} s, total {context['total_seconds']:.0f} s",
        "",
    ]


def set_lines(quality: dict) -> list[str]:
    samples = quality["generated"]["samples"]
    listed = ", ".join(
        f"{s['case']} on {s['backdrop']} ({s['seconds']:.1f} s, {s['jpeg_bytes'] / 1e6:.1f} MB)"
        for s in samples
    )
    return [
        "Photos: tests/matting_set.py (exact alpha and foreground; I = aF + (1-a)B in 8-bit sRGB, "
        f"then sensor noise and JPEG q92): {listed}. Generation peak RSS "
        f"{quality['generated']['peak_rss_mb']:.0f} MB.",
        "",
        "Each method runs in a fresh process: imports, session and one warm-up cut-out of a "
        "640x480 photo are untimed; then every photo is timed (decode, mask, edges, PNG "
        "written) and its own peak RSS taken (VmHWM reset before each photo). rembg: "
        "`remove(bytes, session=new_session('u2netp'), ...)`; ours: the transparent preset "
        "through `Pipeline.process` as `fibuca-desktop process` assembles it, one worker. Metrics "
        "(tests/matting_metrics.py) in a band of 0.4% of the diagonal around the true edge plus "
        "every soft truth pixel: SAD (sum / 1000), MSE (mean), gradient error (sum / 1000), "
        "Boundary IoU, whole-image IoU, composite error (mean |RGB| difference over the band, "
        "8-bit levels) on green and black.",
    ]


def per_image_table(quality: dict) -> list[str]:
    head = " | ".join(title for _, title, _ in COLUMNS)
    lines = [
        f"| photo | method | s | peak RSS MB | {head} |",
        "|---|---|--:|--:|" + "--:|" * len(COLUMNS),
    ]
    for image, per_method in quality["scores"].items():
        for method, cut in quality["cutouts"].items():
            timing = next(t for t in cut["per_image"] if t["image"] == image)
            scores = per_method.get(method)
            cells = (
                [f"{scores[key]:.{digits}f}" for key, _, digits in COLUMNS]
                if scores
                else ["failed"] * len(COLUMNS)
            )
            lines.append(
                f"| {image} | {method} | {timing['seconds']:.2f} | {timing['peak_rss_mb']:.0f} | "
                + " | ".join(cells)
                + " |"
            )
    return lines


def summary_table(quality: dict) -> list[str]:
    keys = [*(key for key, _, _ in COLUMNS), "composite"]
    titles = [*(title for _, title, _ in COLUMNS), "composite"]
    lines = [
        "| method | s/image (mean) | peak RSS MB (max) | setup s | other load | "
        + " | ".join(f"{t} x" for t in titles)
        + " |",
        "|---|--:|--:|--:|--:|" + "--:|" * len(keys),
    ]
    for method, cut in quality["cutouts"].items():
        seconds = [t["seconds"] for t in cut["per_image"]]
        peak = max(t["peak_rss_mb"] for t in cut["per_image"])
        cells = [f"{geometric_mean_ratio(quality['scores'], method, k)[0]:.3f}" for k in keys]
        lines.append(
            f"| {method} | {sum(seconds) / len(seconds):.2f} | {peak:.0f} | "
            f"{cut['setup_seconds']:.1f} | {cut['foreign_cores']:.2f} | " + " | ".join(cells) + " |"
        )
    cuts = quality["cutouts"]
    if OURS in cuts and "ours edges=rembg" in cuts:
        extra = [
            a["seconds"] - b["seconds"]
            for a, b in zip(
                cuts[OURS]["per_image"], cuts["ours edges=rembg"]["per_image"], strict=True
            )
        ]
        lines += [
            "",
            f"Refinement cost per photo (refined - rembg edges, same pipeline): "
            f"{spread(extra, 2, ' s')}.",
        ]
    differences = quality.get("max_alpha_difference_vs_rembg", {})
    if differences:
        worst = max(largest for largest, _ in differences.values())
        pixels = sum(count for _, count in differences.values())
        state = "identical" if worst == 0 else f"{pixels} pixels differ, by at most {worst}/255"
        lines.append(
            f"`--edges rembg` against rembg's alpha over {len(differences)} photos: {state}."
        )
    failures = [f"- {m}: {f}" for m, c in cuts.items() for f in c["failed"]]
    return lines + (["", "Failed:", *failures] if failures else [])


def quality_targets(quality: dict) -> list[str]:
    scores = quality["scores"]
    lines = ["| target (ours refined) | measured | verdict |", "|---|---|---|"]
    if not any(OURS in per for per in scores.values()):
        return [*lines, "| - | ours edges=refined did not run | **FAIL** |"]
    for metric, sense, limit in QUALITY_TARGETS:
        value, images = geometric_mean_ratio(scores, OURS, metric)
        lines.append(
            f"| {metric} {sense} {limit:g}x rembg | **{value:.3f}x** (geometric mean of "
            f"{images} photos) | {verdict(_holds(value, sense, limit))} |"
        )
    if any(MATTING in per for per in scores.values()):
        for metric, sense in AT_LEAST_AS_GOOD_AS_MATTING:
            value, images = geometric_mean_ratio(scores, OURS, metric, MATTING)
            lines.append(
                f"| {metric} at least as good as rembg alpha matting ({sense} 1x) | "
                f"**{value:.3f}x** of alpha matting's ({images} photos) | "
                f"{verdict(_holds(value, sense, 1.0))} |"
            )
    else:
        lines.append("| at least as good as rembg alpha matting | not run (--skip-matting) | - |")
    drops = {
        image: per[OURS]["iou"] - per[BASE]["iou"]
        for image, per in scores.items()
        if per.get(OURS) and per.get(BASE)
    }
    worst = min(drops, key=drops.get)
    lines.append(
        f"| whole-image IoU at most {IOU_DROP} below rembg's on every photo | worst "
        f"**{drops[worst]:+.4f}** ({worst}) | {verdict(drops[worst] >= -IOU_DROP)} |"
    )
    return lines


def throughput_lines(runs: list[Run]) -> list[str]:
    rembg = next(run for run in runs if run.mode == "rembg")
    lines = [
        "| row | images | s/image best | s/image median (rounds) | images/s best | x rembg "
        "images/s | peak RSS MB | x rembg peak | other load |",
        "|---|--:|--:|--:|--:|--:|--:|--:|--:|",
    ]
    for run in runs:
        speed = rembg.best_seconds_per_image / run.best_seconds_per_image
        lines.append(
            f"| {run.name} | {run.images} | {run.best_seconds_per_image:.3f} | "
            f"{spread(run.seconds_per_image_each, 3)} | {run.images_per_second:.2f} | "
            f"{speed:.2f}x | {spread(run.peak_each, 0)} | {run.peak_mb / rembg.peak_mb:.2f}x | "
            f"{spread(run.foreign_each, 2)} |"
        )
    capacities = sorted({f"{r.name}: {r.data['capacity']}" for r in runs if r.mode == "ours"})
    return [
        *lines,
        "",
        "Workers as the CLI picks them (`Capacity.describe()`): " + "; ".join(capacities) + ".",
    ]


def cost_targets(runs: list[Run]) -> list[str]:
    rembg = next(run for run in runs if run.mode == "rembg")
    bare = next(run for run in runs if run.mode == "bare")
    lines = ["| target | row | measured | verdict |", "|---|---|---|---|"]
    for run in runs:
        if run.name in COST_TARGETS:
            speed_min, rss_max = COST_TARGETS[run.name]
            speed = rembg.best_seconds_per_image / run.best_seconds_per_image
            per_round = ratios(rembg.seconds_per_image_each, run.seconds_per_image_each)
            rss = run.peak_mb / rembg.peak_mb
            lines += [
                f"| >= {speed_min:g}x rembg images/s | {run.name} | "
                f"{timing_text(speed, per_round)} | {verdict(speed >= speed_min)} |",
                f"| peak RSS <= {rss_max:g}x rembg | {run.name} | **{rss:.2f}x** "
                f"({run.peak_mb:.0f} vs {rembg.peak_mb:.0f} MB) | {verdict(rss <= rss_max)} |",
            ]
        elif run.preset == "web":
            ratio = run.best_seconds_per_image / bare.best_seconds_per_image
            per_round = ratios(run.seconds_per_image_each, bare.seconds_per_image_each)
            lines += [
                f"| s/image <= {WEB_VS_BARE:g}x bare inference | {run.name} | "
                f"{timing_text(ratio, per_round)} | {verdict(ratio <= WEB_VS_BARE)} |",
                f"| peak RSS <= {WEB_PEAK_MB:g} MB | {run.name} | **{run.peak_mb:.0f} MB** | "
                f"{verdict(run.peak_mb <= WEB_PEAK_MB)} |",
            ]
    return lines


def render_report(quality: dict, runs: list[Run], context: dict) -> str:
    lines = [
        *header_lines(quality, context),
        *set_lines(quality),
        "",
        "## Quality targets (issue 11)",
        "",
        *quality_targets(quality),
        "",
        "## Against rembg's default: geometric mean of per-photo ratios",
        "",
        "Errors (SAD, MSE, gradient, composite): below 1 is better; IoUs: above 1 is better.",
        "",
        *summary_table(quality),
        "",
        "## Per photo",
        "",
        *per_image_table(quality),
    ]
    if runs:
        sizes = ", ".join(f"{name} -> {b[0]}x{b[1]}" for name, (_, b) in context["sizes"].items())
        lines += [
            "",
            "## Cost: 12 MP, default workers",
            "",
            f"Rows as tests/benchmarks/bench_pipeline.py measures them (fresh process each, "
            f"{context['rounds']} round(s) round-robin, best round for timing, median peak "
            f"RSS), on the fixture photos upscaled to ~12 MP JPEG q92: {sizes}.",
            "",
            *cost_targets(runs),
            "",
            *throughput_lines(runs),
        ]
    return "\n".join(lines) + "\n"
