"""Benchmark: what true colour (issue 13) costs per 12 MP photo, side by side with an untagged one.

Run from the project folder (about 40 s)::

    .venv/bin/python tests/benchmarks/bench_colour.py

A real photo upscaled to 12 MP is written as a JPEG (quality 92) four ways: untagged, with the
classic 3 KB sRGB profile (recognised as sRGB: no pixel changes), with Adobe RGB (Ghostscript's
a98.icc: every pixel converted) and as CMYK with Ghostscript's SWOP profile. Each is decoded as the
pipeline decodes it, interleaved, best of several rounds; the table gives milliseconds and the
ratio to the untagged decode (this machine is shared and noisy: ratios, not absolutes). Needs
Debian's libgs-common.
"""

from __future__ import annotations

import sys
import tempfile
import time
from pathlib import Path

from PIL import Image

PROJECT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(PROJECT))

from fibuca_desktop.core.imaging.decode import Limits, decode  # noqa: E402
from tests import corpus  # noqa: E402

ROUNDS = 5
SIZE = (4000, 3000)


def main() -> None:
    with Image.open(corpus.PHOTOS / "car-2.jpg") as photo:
        rgb = photo.convert("RGB").resize(SIZE, Image.Resampling.LANCZOS)
    folder = Path(tempfile.mkdtemp(prefix="bench-colour-"))
    swop = corpus.system_profile("default_cmyk.icc")
    sources = {
        "untagged": (rgb, {}),
        "sRGB IEC61966-2.1 (3 KB)": (rgb, {"icc_profile": corpus.jpeg_profile("girl-1.jpg")}),
        "Adobe RGB (a98.icc)": (rgb, {"icc_profile": corpus.system_profile("a98.icc")}),
        "CMYK (SWOP)": (corpus.to_cmyk(rgb, swop), {"icc_profile": swop}),
    }
    paths = {}
    for index, (name, (image, options)) in enumerate(sources.items()):
        paths[name] = folder / f"{index}.jpg"
        image.save(paths[name], "JPEG", quality=92, **options)
    for path in paths.values():
        decode(path, Limits())  # warm: transforms are built once per profile and cached
    best = dict.fromkeys(paths, float("inf"))
    for _ in range(ROUNDS):
        for name, path in paths.items():
            started = time.perf_counter()
            decode(path, Limits())
            best[name] = min(best[name], time.perf_counter() - started)
    base = best["untagged"]
    print("| 12 MP JPEG | converted from | decode ms | x untagged |\n|---|---|---|---|")
    for name, path in paths.items():
        converted = decode(path, Limits()).converted_from or "(none: already sRGB)"
        print(f"| {name} | {converted} | {best[name] * 1000:.0f} | {best[name] / base:.2f} |")


if __name__ == "__main__":
    main()
