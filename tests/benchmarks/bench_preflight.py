"""Benchmark: what an export profile's preflight (issue 13) adds per photo, side by side with the
same preset without it.

Run from the project folder (about 1 min; needs the u2netp model, ``scripts/setup.sh``)::

    .venv/bin/python tests/benchmarks/bench_preflight.py

A profile's output is encoded in memory, read back and checked (frame, share, sizes, colour
space) before it is written, and re-encoded when a fix is needed; the preset alone encodes while
writing. Each built-in profile's pipeline and its bare preset's process the same 12 MP photo,
interleaved, best of several rounds. Masks come from a mask store warmed first, so both sides
skip the model and the difference is the profile path alone; the table gives the total per
photo and the ratio (this machine is shared and noisy: ratios, not absolutes).
"""

from __future__ import annotations

import sys
import tempfile
import time
from pathlib import Path

from PIL import Image

PROJECT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(PROJECT))

from fibuca_desktop.core.imaging.batch import Job  # noqa: E402
from fibuca_desktop.core.imaging.engine import EngineProvider  # noqa: E402
from fibuca_desktop.core.imaging.mask_store import MaskStore  # noqa: E402
from fibuca_desktop.core.imaging.pipeline import PROCESSED, Pipeline  # noqa: E402
from fibuca_desktop.core.profiles.profiles import load_profiles  # noqa: E402
from tests import corpus  # noqa: E402

ROUNDS = 4
SIZE = (4000, 3000)
BUILT_IN = ("amazon", "shopify", "ebay", "etsy", "google")


def main() -> None:
    folder = Path(tempfile.mkdtemp(prefix="bench-preflight-"))
    photo = folder / "car-12mp.jpg"
    with Image.open(corpus.PHOTOS / "car-2.jpg") as source:
        source.convert("RGB").resize(SIZE, Image.Resampling.LANCZOS).save(photo, quality=92)
    engines = EngineProvider(threads=2)
    masks = MaskStore(folder / "masks")
    profiles = load_profiles(None)
    print("| profile | preset alone ms | with preflight ms | x | fixed |\n|---|---|---|---|---|")
    for name in BUILT_IN:
        profile = profiles[name]
        sides = {
            "bare": Pipeline(engines, profile.preset, "u2netp", masks=masks),
            "profile": Pipeline(engines, profile.preset, "u2netp", masks=masks, profile=profile),
        }
        best = dict.fromkeys(sides, float("inf"))
        fixed: list[str] = []
        for round_index in range(ROUNDS + 1):  # the first round warms the mask store
            for side, pipeline in sides.items():
                out = folder / f"{name}-{side}-{round_index}.jpg"
                started = time.perf_counter()
                result = pipeline.process(Job(photo, out))
                elapsed = time.perf_counter() - started
                assert result.status == PROCESSED, result.message
                if round_index:
                    best[side] = min(best[side], elapsed)
                if result.preflight:
                    fixed = result.preflight.fixed
                out.unlink()
        bare, checked = best["bare"] * 1000, best["profile"] * 1000
        shown = "; ".join(fixed) or "-"
        print(f"| {name} | {bare:.0f} | {checked:.0f} | {checked / bare:.2f} | {shown} |")


if __name__ == "__main__":
    main()
