"""Render 100% crops of cut-out edges over green and black for the README (issue 11).

Usage: .venv/bin/python scripts/render_edge_crops.py [OUTPUT_FOLDER] (default docs/edges).

For two synthetic photos at 12 MP (tests/matting_set.py, whose truth is known) and two real
fixture photos (as they are), one PNG each: columns rembg's default cut-out (``rembg.remove``
with ``new_session("u2netp")``), ours (the transparent preset with ``edges=refined`` through
the real ``Pipeline``, as ``fibuca-desktop process`` writes it) and, for synthetic photos, the
truth; rows the same crop composited over pure green and over black. Crops are 256 x 256 pixels
of the photo at 100%, at a fixed place per photo. Run it after the edges change and commit the
PNGs (quantised to 256 colours to stay small; the script says if they pass 1.5 MB together).
"""

from __future__ import annotations

import io
import sys
import tempfile
from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw, ImageFont

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))  # tests.matting_set, and this checkout's fibuca_desktop

from fibuca_desktop.core.imaging.batch import Job  # noqa: E402
from fibuca_desktop.core.imaging.decode import Limits  # noqa: E402
from fibuca_desktop.core.imaging.engine import EngineProvider  # noqa: E402
from fibuca_desktop.core.imaging.pipeline import PROCESSED, Pipeline  # noqa: E402
from fibuca_desktop.core.imaging.presets import get_preset  # noqa: E402
from tests.matting_set import generate  # noqa: E402

PHOTOS = ROOT / "tests" / "fixtures" / "photos"
TILE = 256
GAP = 4
HEADER = 22
BUDGET_BYTES = 1_500_000
GREEN, BLACK = (0, 255, 0), (0, 0, 0)
# (output name, source, crop centre as a fraction of width and height, or None: the window
# with the most soft pixels, of the truth for synthetic photos and of either cut-out otherwise)
SYNTHETIC = (
    ("hair-12mp", "hair", None),
    ("mug-12mp", "mug", (0.66, 0.5)),  # the handle's hole
)
REAL = (
    ("animal-1", "animal-1.jpg", None),
    ("car-2", "car-2.jpg", None),
)


def rembg_cut_out(path: Path, session) -> np.ndarray:
    from rembg import remove

    data = remove(path.read_bytes(), session=session)
    return np.asarray(Image.open(io.BytesIO(data)).convert("RGBA"))


def our_cut_out(path: Path, pipeline: Pipeline, folder: Path) -> np.ndarray:
    target = folder / f"{path.stem}.ours.png"
    result = pipeline.process(Job(path.resolve(), target.resolve()))
    if result.status != PROCESSED:
        raise SystemExit(f"{path.name}: {result.message}")
    with Image.open(target) as image:
        return np.asarray(image.convert("RGBA"))


def over(colour: np.ndarray, alpha: np.ndarray, backdrop) -> Image.Image:
    """Straight ``colour`` (H, W, 3) with ``alpha`` (0..1) composited on a flat ``backdrop``."""
    a = alpha[..., None].astype(np.float32)
    mixed = a * colour.astype(np.float32) + (1 - a) * np.asarray(backdrop, np.float32)
    return Image.fromarray(np.clip(np.round(mixed), 0, 255).astype(np.uint8))


def crop_box(shape, centre) -> tuple[slice, slice]:
    height, width = shape[:2]
    x = min(max(0, round(centre[0] * width) - TILE // 2), width - TILE)
    y = min(max(0, round(centre[1] * height) - TILE // 2), height - TILE)
    return slice(y, y + TILE), slice(x, x + TILE)


def busiest_box(soft: np.ndarray, stride: int = 16) -> tuple[slice, slice]:
    """The TILE x TILE window (on a ``stride`` grid) holding the most ``soft`` pixels."""
    table = np.pad(soft.astype(np.int64).cumsum(0).cumsum(1), ((1, 0), (1, 0)))
    ys = np.arange(0, soft.shape[0] - TILE + 1, stride)[:, None]
    xs = np.arange(0, soft.shape[1] - TILE + 1, stride)[None, :]
    counts = (
        table[ys + TILE, xs + TILE] - table[ys, xs + TILE] - table[ys + TILE, xs] + table[ys, xs]
    )
    row, col = np.unravel_index(np.argmax(counts), counts.shape)
    y, x = int(ys[row, 0]), int(xs[0, col])
    return slice(y, y + TILE), slice(x, x + TILE)


def sheet(columns: list[tuple[str, np.ndarray, np.ndarray]], title: str) -> Image.Image:
    """``columns`` of (label, colour, alpha), already cropped; rows: green, then black."""
    font = ImageFont.load_default(14)
    width = len(columns) * TILE + (len(columns) - 1) * GAP
    image = Image.new("RGB", (width, 2 * HEADER + 2 * TILE + GAP), (255, 255, 255))
    draw = ImageDraw.Draw(image)
    draw.text((2, 3), title, fill=(0, 0, 0), font=font)
    for index, (label, colour, alpha) in enumerate(columns):
        left = index * (TILE + GAP)
        draw.text((left + 2, HEADER + 3), label, fill=(0, 0, 0), font=font)
        for row, backdrop in enumerate((GREEN, BLACK)):
            top = 2 * HEADER + row * (TILE + GAP)
            image.paste(over(colour, alpha, backdrop), (left, top))
    return image


def save_small(image: Image.Image, target: Path) -> int:
    image.quantize(256, method=Image.Quantize.MEDIANCUT, dither=Image.Dither.NONE).save(
        target, optimize=True
    )
    return target.stat().st_size


def main(out_dir: Path) -> int:
    from rembg import new_session

    out_dir.mkdir(parents=True, exist_ok=True)
    session = new_session("u2netp")
    preset = get_preset("transparent").with_options(edges="refined")
    pipeline = Pipeline(EngineProvider(), preset, "u2netp", Limits(), overwrite=True)
    total = 0
    with tempfile.TemporaryDirectory(prefix="fibuca-crops-") as temp:
        folder = Path(temp)
        jobs = []
        for name, case, centre in SYNTHETIC:
            sample = generate(case, (4000, 3000), seed=0, folder=folder)
            jobs.append((name, sample.image_path, centre, sample))
        jobs += [(name, PHOTOS / photo, centre, None) for name, photo, centre in REAL]
        for name, path, centre, sample in jobs:
            theirs = rembg_cut_out(path, session)
            ours = our_cut_out(path, pipeline, folder)
            if centre is not None:
                box = crop_box(ours.shape, centre)
            elif sample is not None:
                box = busiest_box((sample.alpha > 0.02) & (sample.alpha < 0.98))
            else:
                soft = [(alpha > 10) & (alpha < 245) for alpha in (theirs[..., 3], ours[..., 3])]
                box = busiest_box(soft[0] | soft[1])
            columns = [
                ("rembg (default)", theirs[box][..., :3], theirs[box][..., 3] / 255),
                ("ours (edges=refined)", ours[box][..., :3], ours[box][..., 3] / 255),
            ]
            if sample is not None:
                columns.append(("truth", sample.foreground[box], sample.alpha[box]))
            height, width = ours.shape[:2]
            where = f"x {box[1].start}, y {box[0].start}"
            title = f"{path.name} ({width}x{height}), 256 px at 100% from {where}"
            size = save_small(sheet(columns, title), out_dir / f"{name}.png")
            total += size
            print(f"{out_dir / name}.png  {size / 1000:.0f} kB")
    print(f"total {total / 1e6:.2f} MB")
    if total > BUDGET_BYTES:
        print(f"over the {BUDGET_BYTES / 1e6:.1f} MB budget: crop fewer or smaller tiles")
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main(Path(sys.argv[1]) if len(sys.argv) > 1 else ROOT / "docs" / "edges"))
