"""What ``process --profile`` adds to a run: the batch's one scale (``--same-scale``) and the
preflight counts and reasons in the summary."""

from __future__ import annotations

import sys
from collections import Counter

from fibuca_desktop.core.imaging.framing import same_scale
from fibuca_desktop.core.imaging.presets import Preset
from fibuca_desktop.core.imaging.scheduler import Scheduler


def batch_scale(scheduler: Scheduler, jobs, preset: Preset) -> float | None:
    """Output pixels per photo pixel so that the batch's largest product meets the fill."""
    sides = scheduler.subject_sides(jobs)
    canvas = (preset.canvas, preset.canvas)
    return same_scale(sides, canvas, preset.product_share)


def preflight_counts(reports: list[dict]) -> dict:
    """Passed (as encoded), fixed (passed after an automatic fix), failed."""
    counts = Counter(
        "failed" if not r["passed"] else "fixed" if r["fixed"] else "passed" for r in reports
    )
    return {"passed": counts["passed"], "fixed": counts["fixed"], "failed": counts["failed"]}


def print_preflight(report: dict) -> None:
    counts = report.get("preflight")
    if not counts:
        return
    out = sys.stdout
    profile = next(i["preflight"]["profile"] for i in report["processed"] if "preflight" in i)
    print(
        f"preflight ({profile}): {counts['passed']} passed, {counts['fixed']} fixed, "
        f"{counts['failed']} failed",
        file=out,
    )
    for item in report["processed"]:
        checked = item.get("preflight")
        if not checked:
            continue
        if checked["fixed"]:
            print(f"  fixed   {item['output']}: {'; '.join(checked['fixed'])}", file=out)
        failures = [c for c in checked["checks"] if not c["passed"]]
        if failures:
            reasons = "; ".join(f"{c['name']} {c['value']} (limit {c['limit']})" for c in failures)
            print(f"  REJECTED {item['output']}: {reasons}", file=out)
