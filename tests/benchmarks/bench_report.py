"""Turn the benchmark's measurements into the markdown report: tables, ratios, PASS/FAIL."""

from __future__ import annotations

import hashlib
import os
import platform
import subprocess
import sys
import time
from importlib.metadata import version
from pathlib import Path

from bench_run import Run, ratios, spread

# Targets from the issue.
SPEED_VS_REMBG = 3.0  # transparent at 12 MP: at least this many times rembg's images/s
RSS_VS_REMBG = 0.5  # ... at no more than this share of rembg's peak RSS
BYTES_VS_REMBG = 1.25  # ... with outputs at most this many times rembg's bytes
WEB_VS_BARE = 1.25  # web: seconds per image at most this many times bare inference
WEB_PEAK_MB = 300.0
GROWTH_TOLERANCE = 1.10  # a longer batch (or a serialised one) may peak at most 10% higher


def verdict(ok: bool) -> str:
    return "PASS" if ok else "**FAIL**"


def _find(runs: list[Run], name: str) -> Run:
    return next(run for run in runs if run.name == name)


def _rembg(runs: list[Run], image_set: str) -> Run:
    return next(run for run in runs if run.mode == "rembg" and run.image_set == image_set)


def code_state(project: Path) -> dict:
    """The commit, whether the package had uncommitted changes, and a digest of its sources."""

    def git(*args: str) -> str:
        run = subprocess.run(["git", *args], cwd=project, capture_output=True, text=True)
        return run.stdout.strip() if run.returncode == 0 else "?"

    digest = hashlib.sha256()
    for source in sorted((project / "fibuca_desktop").rglob("*.py")):
        digest.update(source.read_bytes())
    return {
        "commit": git("rev-parse", "--short", "HEAD"),
        "dirty": bool(git("status", "--porcelain", "fibuca_desktop")),
        "digest": digest.hexdigest()[:12],
    }


def code_lines(before: dict, after: dict) -> list[str]:
    """What code was measured; a warning when the sources changed before the run ended."""
    state = "with uncommitted changes" if before["dirty"] else "clean"
    line = f"Code: fibuca_desktop at commit {before['commit']} ({state}), sources sha256 "
    lines = [line + f"{before['digest']}  "]
    if after["digest"] != before["digest"]:
        lines.append(
            f"**Warning: the sources changed during the run (sha256 {after['digest']} at the "
            f"end, commit {after['commit']}); rows may mix two versions of the code.**  "
        )
    elif after["commit"] != before["commit"] or after["dirty"] != before["dirty"]:
        lines.append(f"The same sources were committed as {after['commit']} during the run.  ")
    return lines


def rss_agreement(runs: list[Run]) -> str:
    gap = max(abs(s["ru_maxrss_mb"] - s["peak_rss_mb"]) for run in runs for s in run.samples)
    return f"getrusage ru_maxrss agrees with VmHWM within {gap:.0f} MB in every process."


def model_line(runs: list[Run], model: Path, md5: str) -> str:
    """The model file, and whether every process resolved that same file."""
    paths = {s["model_path"] for run in runs for s in run.samples}
    if paths == {str(model)}:
        return (
            f"Model: `{model}` (md5 {md5}), resolved by rembg, bare onnxruntime and the pipeline "
            "alike (the pipeline runs its constant-scale rewrite of it)  "
        )
    return f"**Model files differ between rows: {sorted(paths)}** (expected `{model}`, md5 {md5})  "


def publish(report: str, output: Path) -> None:
    """Print the report, write it to ``output`` and say where (on stderr)."""
    print(report)
    output.write_text(report)
    print(f"written to {output}", file=sys.stderr)


def run_lines(context: dict, packages: tuple[str, ...]) -> list[str]:
    """How a report was made, as every report starts: command, date, machine, the versions of
    ``packages`` and the code's state."""
    versions = ", ".join(f"{name} {version(name)}" for name in packages)
    return [
        f"Command: `{context['command']}`  ",
        f"Date: {time.strftime('%Y-%m-%d %H:%M %Z')}  ",
        f"Machine: {os.cpu_count()} CPUs, {platform.platform()}, Python "
        f"{platform.python_version()}  ",
        f"Versions: {versions}  ",
        *code_lines(context["code"], context["code_after"]),
    ]


def load_line(context: dict) -> str:
    load = "; ".join(
        f"{a:.2f} {b:.2f} {c:.2f}" for a, b, c in (context["load_before"], context["load_after"])
    )
    return f"Load average (1/5/15 min) before; after: {load}  "


def header_lines(runs: list[Run], context: dict) -> list[str]:
    model = Path(context["model"])
    md5 = hashlib.md5(model.read_bytes(), usedforsecurity=False).hexdigest()
    return [
        "# Benchmark: Fibuca pipeline vs rembg.remove (u2netp)",
        "",
        *run_lines(context, ("onnxruntime", "pillow", "numpy", "rembg")),
        model_line(runs, model, md5),
        load_line(context),
        f"Total run time: {context['total_seconds']:.0f} s; main rows measured in "
        f"{context['rounds']} round(s), round-robin; growth rows once",
        "",
        "Every row is a fresh process. Imports, session creation and one warm-up inference are "
        "excluded from throughput in every row (shown as *setup s*); s/image = batch wall time / "
        "images, so with 2 workers it is the effective time per image, *latency* is the median "
        "time of one image. Peak RSS is the process's own high-water mark (VmHWM), median over "
        "rounds. The machine is shared: *other load* is how many of its cores other processes "
        "kept busy while a row was timed (from /proc/stat; 1.0 = one core taken, which slows "
        "two-thread inference 2-3x). Other load only adds time, so timing verdicts compare the "
        "best round of each row; the round-by-round ratios are shown beside them. "
        "`wN` = N workers (the CLI default here is w2); tunings are `SessionTuning` names.",
        "",
    ]


def main_table(runs: list[Run]) -> list[str]:
    lines = [
        "| variant | set | images | s/image best | s/image median (rounds) | images/s best | "
        "latency s | peak RSS MB | RSS after setup MB | output MB | bytes vs rembg | setup s | "
        "other load |",
        "|---|---|--:|--:|--:|--:|--:|--:|--:|--:|--:|--:|--:|",
    ]
    for run in runs:
        if run.group != "main":
            continue
        ratio = ""
        if run.preset == "transparent":
            ratio = f"{run.output_bytes / _rembg(runs, run.image_set).output_bytes:.3f}x"
        output = f"{run.output_bytes / 1e6:.2f}" if run.output_bytes else "-"
        lines.append(
            f"| {run.name} | {run.image_set} | {run.images} | {run.best_seconds_per_image:.3f} | "
            f"{spread(run.seconds_per_image_each, 3)} | {run.images_per_second:.2f} | "
            f"{run.latency:.3f} | {spread(run.peak_each, 0)} | "
            f"{run.median_of('rss_after_setup_mb'):.0f} | {output} | {ratio} | "
            f"{run.median_of('setup_seconds'):.2f} | {spread(run.foreign_each, 2)} |"
        )
    rembg_import = [
        f"{r.image_set} {r.median_of('import_seconds'):.2f} s" for r in runs if r.mode == "rembg"
    ]
    ours_import = max(r.median_of("import_seconds") for r in runs if r.mode == "ours")
    capacities = {r.name.split(" ")[-1]: r.data["capacity"] for r in runs if r.mode == "ours"}
    lines += [
        "",
        "Capacity (`Capacity.describe()`): "
        + "; ".join(
            f"{name}: {text}" for name, text in sorted(capacities.items()) if name[0] == "w"
        ),
        "",
        f"Import time, part of *setup s*: rembg ({'; '.join(rembg_import)}); "
        f"fibuca core at most {ours_import:.2f} s.",
    ]
    return lines


def timing_text(ratio: float, per_round: list[float]) -> str:
    """A best-of-rounds ratio, then the round-by-round ratios for the reader to judge."""
    text = f"**{ratio:.2f}x** best vs best"
    if len(per_round) > 1:
        text += f"; round by round {spread(per_round, 2, 'x')}"
    return text


def transparent_targets(run: Run, rembg: Run) -> list[str]:
    speed = rembg.best_seconds_per_image / run.best_seconds_per_image
    speed_rounds = ratios(rembg.seconds_per_image_each, run.seconds_per_image_each)
    rss = run.peak_mb / rembg.peak_mb
    size = run.output_bytes / rembg.output_bytes
    return [
        f"| transparent 12 MP >= {SPEED_VS_REMBG:g}x rembg images/s | {run.name} | "
        f"{timing_text(speed, speed_rounds)} ({run.images_per_second:.2f} vs "
        f"{rembg.images_per_second:.2f} images/s) | {verdict(speed >= SPEED_VS_REMBG)} |",
        f"| transparent 12 MP peak RSS <= {RSS_VS_REMBG:g}x rembg | {run.name} | "
        f"**{rss:.2f}x** ({run.peak_mb:.0f} vs {rembg.peak_mb:.0f} MB) | "
        f"{verdict(rss <= RSS_VS_REMBG)} |",
        f"| transparent 12 MP bytes <= {BYTES_VS_REMBG:g}x rembg | {run.name} | "
        f"**{size:.3f}x** ({run.output_bytes / 1e6:.1f} vs {rembg.output_bytes / 1e6:.1f} MB) | "
        f"{verdict(size <= BYTES_VS_REMBG)} |",
    ]


def web_targets(run: Run, bare: Run) -> list[str]:
    ratio = run.best_seconds_per_image / bare.best_seconds_per_image
    per_round = ratios(run.seconds_per_image_each, bare.seconds_per_image_each)
    return [
        f"| web s/image <= {WEB_VS_BARE:g}x bare inference | {run.name} | "
        f"{timing_text(ratio, per_round)} ({run.best_seconds_per_image:.3f} vs "
        f"{bare.best_seconds_per_image:.3f} s) | {verdict(ratio <= WEB_VS_BARE)} |",
        f"| web peak RSS <= {WEB_PEAK_MB:g} MB | {run.name} | "
        f"**{run.peak_mb:.0f} MB** (rounds {', '.join(f'{p:.0f}' for p in run.peak_each)}) | "
        f"{verdict(run.peak_mb <= WEB_PEAK_MB)} |",
    ]


def target_table(runs: list[Run]) -> list[str]:
    lines = ["| target | row | measured | verdict |", "|---|---|---|---|"]
    ours = [run for run in runs if run.group == "main" and run.mode == "ours"]
    for run in ours:
        if run.preset == "transparent" and run.image_set == "12 MP":
            lines += transparent_targets(run, _rembg(runs, "12 MP"))
    for run in ours:
        if run.preset == "web":
            lines += web_targets(run, _find(runs, "bare inference"))
    return lines


def growth_table(runs: list[Run], one_job_mb: float) -> list[str]:
    lines = ["| check | measured | verdict |", "|---|---|---|"]
    for preset in ("transparent", "web"):
        short, long = (
            r
            for r in runs
            if r.group == "growth" and r.preset == preset and r.jobs_budget_mb is None
        )
        ok = long.peak_mb <= short.peak_mb * GROWTH_TOLERANCE
        lines.append(
            f"| {preset} 12 MP w2: peak with {long.images} images <= {GROWTH_TOLERANCE:g}x peak "
            f"with {short.images} | {long.peak_mb:.0f} vs {short.peak_mb:.0f} MB | {verdict(ok)} |"
        )
    for preset in ("transparent", "web"):
        one, two = _find(runs, f"{preset} 12 MP w1"), _find(runs, f"{preset} 12 MP w2")
        estimate = max(s["estimate_mb_max"] for s in one.samples)
        allowed = one.peak_mb + estimate
        lines.append(
            f"| {preset} 12 MP: w2 peak <= w1 peak + one more job's scheduler estimate "
            f"({estimate:.0f} MB) | {two.peak_mb:.0f} vs {one.peak_mb:.0f} MB (allowed "
            f"{allowed:.0f}) | {verdict(two.peak_mb <= allowed)} |"
        )
    budget = next(r for r in runs if r.jobs_budget_mb is not None)
    one = _find(runs, "transparent 12 MP w1")
    ok = budget.peak_mb <= one.peak_mb * GROWTH_TOLERANCE
    lines.append(
        f"| {budget.name} (one job at a time): peak <= {GROWTH_TOLERANCE:g}x w1 peak | "
        f"{budget.peak_mb:.0f} vs {one.peak_mb:.0f} MB; {budget.seconds_per_image:.2f} s/image; "
        f"jobs reserved at most {budget.data['budget_peak_mb']:.0f} of "
        f"{budget.data['scheduler_jobs_budget_mb']:.0f} MB | {verdict(ok)} |"
    )
    measured = [s["peak_rss_mb"] - s["rss_after_setup_mb"] for s in one.samples]
    lines += [
        "",
        f"Scheduler estimate for the largest 12 MP transparent job: {one_job_mb:.0f} MB (the "
        "model's working memory is reserved separately, once per inference slot); "
        f"measured growth of one job over the set-up process (peak - RSS after setup, w1): "
        f"{spread(measured, 0, ' MB')}.",
    ]
    return lines


def iou_lines(ious: dict) -> list[str]:
    lines = [
        "| set | min IoU | mean IoU | lowest IoU | bytes vs rembg per image | largest ratio |",
        "|---|--:|--:|---|--:|---|",
    ]
    for image_set, result in ious.items():
        lowest = min(result["per_image"], key=result["per_image"].get)
        ratios_ = result["bytes_ratio"]
        largest = max(ratios_, key=ratios_.get)
        lines.append(
            f"| {image_set} | {result['min']:.4f} | {result['mean']:.4f} | {lowest} | "
            f"{min(ratios_.values()):.3f}-{ratios_[largest]:.3f}x | {largest} |"
        )
    return lines


def cli_lines(cli: dict) -> list[str]:
    return [
        f"`{cli['command']}` (temporary paths): {cli['images']} images in "
        f"{cli['wall_seconds']:.1f} s wall including process start, imports and session "
        f"creation ({cli['batch_seconds']:.1f} s batch as the CLI reports it), peak RSS "
        f"{cli['peak_rss_mb']:.0f} MB (ru_maxrss), {len(cli['failed'])} failed."
    ]


def render_report(runs: list[Run], context: dict) -> str:
    failures = sorted(
        {f"- {r.name}: {message}" for r in runs for s in r.samples for message in s["failed"]}
    )
    sizes = ", ".join(
        f"{name} {a[0]}x{a[1]} -> {b[0]}x{b[1]}" for name, (a, b) in context["sizes"].items()
    )
    lines = [
        *header_lines(runs, context),
        f"Inputs: the photos in tests/fixtures/photos as they are, and the same photos upright, "
        f"on white, LANCZOS-upscaled to ~12 MP and saved as JPEG q92: {sizes}.",
        "",
        "## Measurements",
        "",
        *main_table(runs),
        "",
        "## Targets",
        "",
        *target_table(runs),
        "",
        "## Mask agreement and file size (transparent w1 vs rembg, alpha >= 128)",
        "",
        *iou_lines(context["ious"]),
        "",
        "## Memory growth",
        "",
        *growth_table(runs, context["one_job_mb"]),
        "",
        rss_agreement(runs),
        "",
        "## CLI end to end (12 MP, transparent, default workers)",
        "",
        *cli_lines(context["cli"]),
    ]
    if failures:
        lines += ["", "## Failed images", "", *failures]
    return "\n".join(lines) + "\n"
