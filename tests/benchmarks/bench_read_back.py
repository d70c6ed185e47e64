"""Benchmark: what the read-back check and the CMYK conversion add per 12 MP output.

Run from the project folder (about 30 s)::

    .venv/bin/python tests/benchmarks/bench_read_back.py

For each output kind, a real photo upscaled to 12 MP is rendered and written atomically as the
pipeline does, then ``Rendered.check`` is timed on the written file; the best of several rounds
is printed (a markdown table). Also timed: decoding a 12 MP CMYK JPEG through its profile against
Pillow's plain formula. Needs Debian's libgs-common for the CMYK profile.
"""

from __future__ import annotations

import io
import sys
import tempfile
import time
from functools import partial
from pathlib import Path

from PIL import Image

PROJECT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(PROJECT))

from fibuca_desktop.core.atomic_write import write_atomically  # noqa: E402
from fibuca_desktop.core.imaging.decode import Limits, decode  # noqa: E402
from fibuca_desktop.core.imaging.presets import get_preset  # noqa: E402
from fibuca_desktop.core.imaging.render import render  # noqa: E402
from tests import corpus  # noqa: E402

ROUNDS = 5
SIZE = (4000, 3000)
KINDS = {
    "transparent PNG (streamed)": get_preset("transparent"),
    "mask PNG": get_preset("mask"),
    "JPEG on white": get_preset("web").with_options(max_side=4000),
    "WebP (transparent)": get_preset("transparent").with_options(format="webp"),
}


def best_ms(action, rounds: int = ROUNDS) -> float:
    times = []
    for _ in range(rounds):
        started = time.perf_counter()
        action()
        times.append(time.perf_counter() - started)
    return min(times) * 1000


def main() -> None:
    with Image.open(corpus.PHOTOS / "car-2.jpg") as photo:
        rgb = photo.convert("RGB").resize(SIZE, Image.Resampling.LANCZOS)
    alpha = Image.new("L", SIZE, 0)
    alpha.paste(255, (400, 300, 3600, 2700))
    folder = Path(tempfile.mkdtemp(prefix="bench-read-back-"))
    print("| 12 MP output | file MB | write ms | read-back check ms |\n|---|---|---|---|")
    for name, preset in KINDS.items():
        rendered = render(rgb, alpha, preset)
        target = folder / f"out{preset.extension if not preset.mask_only else '.png'}"
        rounds = 2 if rendered.format == "WEBP" else ROUNDS
        write_ms = best_ms(partial(write_atomically, target, rendered.write, True), rounds)
        check_ms = best_ms(partial(rendered.check, target, target))
        megabytes = target.stat().st_size / 1e6
        print(f"| {name} | {megabytes:.1f} | {write_ms:.0f} | {check_ms:.2f} |")
    swop = corpus.system_profile("default_cmyk.icc")
    cmyk = folder / "cmyk.jpg"
    cmyk.write_bytes(corpus.encode(corpus.to_cmyk(rgb, swop), "JPEG", quality=92, icc_profile=swop))

    def plain() -> None:
        with Image.open(io.BytesIO(cmyk.read_bytes())) as image:
            image.convert("RGB")

    managed_ms = best_ms(lambda: decode(cmyk, Limits()), 3)
    plain_ms = best_ms(plain, 3)
    print(
        f"\n12 MP CMYK JPEG decode: {managed_ms:.0f} ms with its profile, {plain_ms:.0f} ms plain"
    )


if __name__ == "__main__":
    main()
