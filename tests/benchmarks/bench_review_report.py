"""The markdown report of bench_review.py: hit and false-alarm rates, per flag and photo, cost."""

from __future__ import annotations

import math
import re
from dataclasses import dataclass

import numpy as np
from bench_report import load_line, run_lines

from fibuca_desktop.core.imaging import review
from fibuca_desktop.core.imaging.review import Signs

GROUPS = ("tuning", "held out", "fixtures")
THRESHOLDS = (
    "MAX_SIDE",
    "SOFT_LOW",
    "SOFT_HIGH",
    "SOFT_RADIUS",
    "SOFT_SHARE",
    "TOUCH_SHARE",
    "ALLOWED_SIDE",
    "TINY_SHARE",
    "HUGE_SHARE",
    "PART_SHARE",
    "EDGE_OFFSET",
    "SIMILAR_DELTA_E",
    "SIMILAR_SHARE",
)


@dataclass
class Row:
    name: str
    group: str  # one of GROUPS
    scenario: str
    failed: bool  # built photos: IoU < 0.9 with the truth; fixtures: judged by eye
    why: str
    signs: Signs
    flags: list[str]
    truth_flags: list[str] | None  # the true mask's own flags (None: no truth)

    @property
    def about_the_photo(self) -> bool:
        """Every flag raised is raised by the true mask too."""
        if self.truth_flags is None:
            return False
        return set(map(flag_kind, self.flags)) <= set(map(flag_kind, self.truth_flags))


def flag_kind(flag: str) -> str:
    """A flag without its numbers: "3 separate parts" -> "separate parts"."""
    return re.sub(r"^\d+ ", "", flag.split(" (")[0])


def _floor(share: float, digits: int = 0) -> str:
    """A percentage rounded down, as the flags print theirs."""
    scale = 10**digits
    return f"{math.floor(100 * share * scale + 1e-9) / scale:.{digits}f}%"


def _rate(count: int, total: int) -> str:
    return f"{count}/{total} = {100 * count / total:.0f}%" if total else "-"


def summary_lines(rows: list[Row]) -> list[str]:
    lines = [
        "| set | photos | model failed | failures flagged (hit rate) | good results flagged "
        "(false-alarm rate) | of those, about the photo |",
        "|---|--:|--:|---|---|---|",
    ]
    groups = [(group, [r for r in rows if r.group == group]) for group in GROUPS]
    groups.append(("built, all seeds", [r for r in rows if r.group != "fixtures"]))
    groups.append(("everything", rows))
    for group, members in groups:
        if not members:
            continue
        failed = [r for r in members if r.failed]
        good = [r for r in members if not r.failed]
        hits = sum(bool(r.flags) for r in failed)
        alarms = [r for r in good if r.flags]
        explained = sum(r.about_the_photo for r in alarms)
        about = "-" if group == "fixtures" else f"{explained}/{len(alarms)}"
        lines.append(
            f"| {group} | {len(members)} | {len(failed)} | {_rate(hits, len(failed))} | "
            f"{_rate(len(alarms), len(good))} | {about} |"
        )
    return lines


def per_scenario_lines(rows: list[Row]) -> list[str]:
    lines = [
        "| built as | photos | model failed | failures flagged | good results flagged | "
        "... about the photo |",
        "|---|--:|--:|--:|--:|--:|",
    ]
    for scenario in dict.fromkeys(r.scenario for r in rows):
        members = [r for r in rows if r.scenario == scenario]
        failed = [r for r in members if r.failed]
        alarms = [r for r in members if not r.failed and r.flags]
        explained = sum(r.about_the_photo for r in alarms)
        if members[0].truth_flags is None:
            explained = "-"
        lines.append(
            f"| {scenario} | {len(members)} | {len(failed)} | {sum(bool(r.flags) for r in failed)} "
            f"| {len(alarms)} | {explained} |"
        )
    return lines


def per_flag_lines(rows: list[Row]) -> list[str]:
    kinds = sorted({flag_kind(f) for r in rows for f in r.flags + (r.truth_flags or [])})
    lines = [
        "| flag | failures it flags | good results it flags | ... of which the true mask "
        "raises it too | failures only it flags |",
        "|---|--:|--:|--:|--:|",
    ]
    for kind in kinds:
        on_failed = [r for r in rows if r.failed and kind in map(flag_kind, r.flags)]
        on_good = [r for r in rows if not r.failed and kind in map(flag_kind, r.flags)]
        true_too = sum(kind in map(flag_kind, r.truth_flags or []) for r in on_good)
        alone = sum({flag_kind(f) for f in r.flags} == {kind} for r in on_failed)
        lines.append(f"| {kind} | {len(on_failed)} | {len(on_good)} | {true_too} | {alone} |")
    return lines


def timing_lines(timings: list[dict]) -> list[str]:
    lines = [
        "| photo | mode | size | min ms | median ms | max ms | of which working copies ms |",
        "|---|---|---|--:|--:|--:|--:|",
    ]
    for t in timings:
        ms = t["ms"]
        lines.append(
            f"| {t['photo']} | {t['mode']} | {t['size'][0]}x{t['size'][1]} | {ms[0]:.1f} | "
            f"{float(np.median(ms)):.1f} | {ms[-1]:.1f} | {t['reduce_ms']:.1f} |"
        )
    return lines


def photo_lines(rows: list[Row]) -> list[str]:
    lines = [
        "| photo | set | built as | model failed | why | subject | soft edge | touches | parts "
        "| alike edge | flags | flags of the true mask |",
        "|---|---|---|---|---|--:|--:|---|--:|---|---|---|",
    ]
    for r in rows:
        s = r.signs
        colours = f" ({s.inside_colour} on {s.outside_colour})" if s.inside_colour else ""
        truth = "-" if r.truth_flags is None else "; ".join(r.truth_flags) or "none"
        lines.append(
            f"| {r.name} | {r.group} | {r.scenario} | {'**yes**' if r.failed else 'no'} | {r.why} "
            f"| {_floor(s.coverage, 1)} | {_floor(s.soft_edge)} | {', '.join(s.touched) or '-'} "
            f"| {s.parts} | {_floor(s.alike_edge)}{colours} | {'; '.join(r.flags) or 'none'} "
            f"| {truth} |"
        )
    return lines


def render_report(rows: list[Row], timings: list[dict], context: dict) -> str:
    misses = [r.name for r in rows if r.failed and not r.flags]
    unexplained = [
        f"{r.name} ({'; '.join(r.flags)})"
        for r in rows
        if not r.failed and r.flags and not r.about_the_photo
    ]
    worst = max(max(t["ms"]) for t in timings) if timings else float("nan")
    best = min(float(np.median(t["ms"])) for t in timings) if timings else float("nan")
    lines = [
        "# Benchmark: risk flags on u2netp's masks (core/imaging/review.py)",
        "",
        *run_lines(context, ("numpy", "pillow", "onnxruntime")),
        load_line(context),
        f"Seeds: tuning {context['tune_seeds']}, held out {context['check_seeds']}; "
        f"{context['seconds']:.0f} s in all  ",
        "Masks: `predict(exact=True)` (rembg's resampling, as `--edges rembg` asks)  "
        if context["exact"]
        else "Masks: `predict(exact=False)`, as the default pipeline (refined edges) asks  ",
        "",
        "A built photo (tests/review_set.py) counts as a model failure when the IoU of u2netp's "
        "mask with the true mask (both at 0.5) is below 0.9; a fixture photo, when it looked wrong "
        "(see *why*). A flag is *about the photo* when the true mask raises it too: the product "
        "really is cropped, tiny, soft-edged or several. The thresholds were tuned on the tuning "
        "seeds and the fixtures; the held-out seeds were not looked at while tuning.",
        "",
        "## Hit and false-alarm rates",
        "",
        *summary_lines(rows),
        "",
        f"Failures no flag found: {', '.join(misses) or 'none'}.  ",
        f"Good results flagged for a reason the true mask does not share: "
        f"{', '.join(unexplained) or 'none'}.",
        "",
        "## Per scenario (all seeds)",
        "",
        *per_scenario_lines(rows),
        "",
        "## Per flag",
        "",
        *per_flag_lines(rows),
        "",
        "## Thresholds",
        "",
        "| constant | value |",
        "|---|---|",
        *(f"| `{name}` | {getattr(review, name)} |" for name in THRESHOLDS),
        "",
        "## Cost at 12 MP",
        "",
        f"`review()` takes {best:.1f} ms (median, fastest photo) and at most {worst:.1f} ms "
        "(the slowest single round) on these 12 MP photos:",
        "",
        *timing_lines(timings),
        "",
        "## Photos",
        "",
        "Signs: *subject* is the share of the photo at alpha >= 0.5; *soft edge* the share of "
        "the edge in a wide uncertain band; *alike edge* the share of the edge where the photo "
        "differs by less than SIMILAR_DELTA_E across it.",
        "",
        *photo_lines(rows),
        "",
    ]
    return "\n".join(lines)
