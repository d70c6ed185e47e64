"""A seeded synthetic matting set with exact ground truth, rendered like a product photo.

``generate(case, size, seed)`` renders one product (tests/matting_products.py, fur and hair in
tests/matting_strands.py) on a backdrop (tests/matting_backdrops.py) and returns the photo as a
JPEG (quality 92) with its true alpha (float32, 0..1) and true foreground colour (uint8).

The image model, the same everywhere:
- alpha: hard outlines are rendered 8 x 8 supersampled (64 levels on edge pixels); the defocused
  edge is the outline blurred by a Gaussian whose sigma grows from ~1 px to ~8 px (at 12 MP)
  up the product; strands have coverage 1 - exp(-area) and lie over the body;
- I = alpha * F + (1 - alpha) * B, in 8-bit sRGB values (not linear light), with F the stored
  foreground (uint8) and B the backdrop; both carry the lens's vignette (so F is what a fully
  opaque pixel of the product shows); then sensor noise (shot + read, ~1.5-2.5 levels) is added
  and the result is rounded and saved as JPEG. Noise and JPEG are the only departures from the
  model, as in a real photo. F is 0 where alpha is 0.

Rendering runs in strips of rows, so memory is the outputs plus a few strips (and, for fur and
hair, the strand layer over the product's box). A 12 MP sample takes a few seconds.

Run ``python -m tests.matting_set OUT_DIR [--size 4000x3000] [--cases ...]`` to write samples
and their truth (``<name>.alpha.png`` 16-bit, ``<name>.fg.png``) for looking at.
"""

from __future__ import annotations

import argparse
import io
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from PIL import Image
from scipy.special import ndtr

from tests.matting_backdrops import BACKDROPS, make_backdrop
from tests.matting_products import (
    Product,
    make_bottle,
    make_box,
    make_defocus,
    make_mug,
    make_ring,
)
from tests.matting_strands import make_fur, make_hair, splat

MAKERS = {
    "box": make_box,
    "bottle": make_bottle,
    "mug": make_mug,
    "ring": make_ring,
    "defocus": make_defocus,
    "fur": make_fur,
    "hair": make_hair,
}
CASES = tuple(MAKERS)
# Each case's usual backdrop, so the set covers sweeps, coloured paper and textures.
DEFAULT_BACKDROPS = {
    "box": "white-sweep",
    "bottle": "blue-paper",
    "mug": "grey-sweep",
    "ring": "linen",
    "defocus": "concrete",
    "fur": "wood",
    "hair": "green-paper",
}
FULL_SIZE = (4000, 3000)
JPEG_QUALITY = 92
STRIP_ROWS = 256
SUPERSAMPLE = 8
_OFFSETS = (np.arange(SUPERSAMPLE, dtype=np.float32) + 0.5) / SUPERSAMPLE - 0.5
_SUB_X = np.tile(_OFFSETS, SUPERSAMPLE)
_SUB_Y = np.repeat(_OFFSETS, SUPERSAMPLE)


@dataclass
class MattingSample:
    """A rendered photo and its exact truth. ``jpeg`` holds the file's bytes; ``image_path``
    is set when the sample was written to a folder."""

    case: str
    backdrop: str
    seed: int
    jpeg: bytes
    alpha: np.ndarray  # (H, W) float32 in 0..1
    foreground: np.ndarray  # (H, W, 3) uint8, 0 where alpha is 0
    image_path: Path | None = None
    background: np.ndarray | None = None  # (H, W, 3) uint8 B, rounded, with keep_background
    raw: np.ndarray | None = None  # (H, W, 3) uint8, the photo before JPEG, with keep_background

    @property
    def name(self) -> str:
        height, width = self.alpha.shape
        return f"{self.case}-s{self.seed}-{width}x{height}"

    def image(self) -> Image.Image:
        """The photo as decoded from its JPEG (what a background remover sees)."""
        image = Image.open(io.BytesIO(self.jpeg))
        image.load()
        return image


def generate(
    case: str,
    size: tuple[int, int] = FULL_SIZE,
    seed: int = 0,
    folder: Path | None = None,
    backdrop: str | None = None,
    keep_background: bool = False,
) -> MattingSample:
    """Render ``case`` (one of ``CASES``) at ``size`` (width, height); with ``folder``, write the
    JPEG there as ``<name>.jpg``. The same case, size and seed give the same sample.
    ``keep_background`` also returns B and the photo before JPEG (to test the image model)."""
    if case not in MAKERS:
        raise ValueError(f"unknown case {case!r}; use one of {', '.join(CASES)}")
    backdrop = backdrop or DEFAULT_BACKDROPS[case]
    if backdrop not in BACKDROPS:
        raise ValueError(f"unknown backdrop {backdrop!r}; use one of {', '.join(BACKDROPS)}")
    width, height = size
    rng = np.random.default_rng([seed, CASES.index(case), BACKDROPS.index(backdrop)])
    aspect = width / height
    product = MAKERS[case](rng, aspect)
    background = make_backdrop(backdrop, rng, aspect, product.foot)
    vignette = rng.uniform(0.16, 0.26)
    box = _pixel_box(product, width, height)
    strands = _strand_layer(product, height, box)
    noise = np.random.default_rng([seed, 7, CASES.index(case)])

    photo = np.empty((height, width, 3), np.uint8)
    alpha = np.zeros((height, width), np.float32)
    foreground = np.zeros((height, width, 3), np.uint8)
    kept = np.empty((height, width, 3), np.uint8) if keep_background else None
    u_all = ((np.arange(width, dtype=np.float32) + 0.5) / height)[None, :]
    x0, y0, x1, y1 = box
    for top in range(0, height, STRIP_ROWS):
        bottom = min(height, top + STRIP_ROWS)
        v = ((np.arange(top, bottom, dtype=np.float32) + 0.5) / height)[:, None]
        shade = _vignette(u_all, v, aspect, vignette)
        strip = background(u_all, v) * shade[..., None]
        if kept is not None:
            kept[top:bottom] = np.clip(np.round(strip), 0, 255).astype(np.uint8)
        rows = slice(max(top, y0), min(bottom, y1))
        if rows.start < rows.stop:
            local = slice(rows.start - top, rows.stop - top)
            v_box = v[local]
            u_box = u_all[:, x0:x1]
            a, fg = _product(product, u_box, v_box, height, strands, rows)
            fg = np.round(fg * shade[local, x0:x1, None])
            fg[a == 0] = 0
            alpha[rows, x0:x1] = a
            foreground[rows, x0:x1] = fg.astype(np.uint8)
            part = strip[local, x0:x1]
            strip[local, x0:x1] = a[..., None] * fg + (1 - a[..., None]) * part
        sigma = np.sqrt(0.8 + 0.02 * np.clip(strip, 0, 255))
        strip += sigma * noise.standard_normal(strip.shape, dtype=np.float32)
        photo[top:bottom] = np.clip(np.round(strip), 0, 255).astype(np.uint8)
    buffer = io.BytesIO()
    Image.fromarray(photo).save(buffer, "JPEG", quality=JPEG_QUALITY)
    raw = photo if keep_background else None
    sample = MattingSample(
        case, backdrop, seed, buffer.getvalue(), alpha, foreground, None, kept, raw
    )
    if folder is not None:
        folder.mkdir(parents=True, exist_ok=True)
        sample.image_path = folder / f"{sample.name}.jpg"
        sample.image_path.write_bytes(sample.jpeg)
    return sample


def _vignette(u, v, aspect: float, strength: float):
    r2 = ((u - aspect / 2) ** 2 + (v - 0.5) ** 2) / ((aspect / 2) ** 2 + 0.25)
    return 1 - strength * r2


def _pixel_box(product: Product, width: int, height: int) -> tuple[int, int, int, int]:
    u0, v0, u1, v1 = product.bbox
    margin = 0.02  # the defocused edge and edge pixels reach a little beyond
    return (
        max(0, int((u0 - margin) * height)),
        max(0, int((v0 - margin) * height)),
        min(width, int(np.ceil((u1 + margin) * height))),
        min(height, int(np.ceil((v1 + margin) * height))),
    )


def _strand_layer(product: Product, height: int, box):
    """The strands' (density, colour sum, first row) over the product's pixel box, or None."""
    if product.strands is None:
        return None
    x0, y0, x1, y1 = box
    density = np.zeros((y1 - y0, x1 - x0), np.float32)
    colour_sum = np.zeros((y1 - y0, x1 - x0, 3), np.float32)
    for chunk in product.strands(height):
        splat(density, colour_sum, chunk, (x0, y0))
    return density, colour_sum, y0


def _product(product: Product, u, v, height: int, strands, where):
    """(alpha, colour) of the product for a block of pixels (u: (1, w), v: (h, 1))."""
    px = 1.0 / height
    distance = product.sdf(u, v) * height  # pixels, 1-Lipschitz
    if product.defocus is not None:
        sigma = np.sqrt((product.defocus(u, v) * height) ** 2 + 1 / 12)
        alpha = ndtr(-distance / sigma).astype(np.float32)
        alpha[alpha < 1e-4] = 0
        alpha[alpha > 1 - 1e-4] = 1
    else:
        alpha = (distance < 0).astype(np.float32)
        edge_y, edge_x = np.nonzero(np.abs(distance) < 0.75)  # a pixel's half-diagonal: 0.71
        if len(edge_y):
            uu = u[0, edge_x][:, None] + _SUB_X * px
            vv = v[edge_y, 0][:, None] + _SUB_Y * px
            alpha[edge_y, edge_x] = (product.sdf(uu, vv) < 0).mean(axis=1)
    colour = product.colour(u, v, px)
    if strands is not None:
        density, colour_sum, box_top = strands
        rows = slice(where.start - box_top, where.stop - box_top)
        d = density[rows]
        strand_alpha = 1 - np.exp(-d)
        strand_colour = colour_sum[rows] / np.maximum(d, 1e-12)[..., None]
        combined = 1 - (1 - alpha) * (1 - strand_alpha)
        under = (1 - strand_alpha) * alpha
        mixed = strand_alpha[..., None] * strand_colour + under[..., None] * colour
        colour = mixed / np.maximum(combined, 1e-12)[..., None]
        alpha = combined
    return alpha, np.clip(colour, 0, 255)


def save_truth(sample: MattingSample, folder: Path) -> dict[str, Path]:
    """Write the photo and its exact truth (``.npy``, for the benchmark's other processes)."""
    folder.mkdir(parents=True, exist_ok=True)
    paths = {
        "image": folder / f"{sample.name}.jpg",
        "alpha": folder / f"{sample.name}.alpha.npy",
        "foreground": folder / f"{sample.name}.fg.npy",
    }
    paths["image"].write_bytes(sample.jpeg)
    np.save(paths["alpha"], sample.alpha)
    np.save(paths["foreground"], sample.foreground)
    sample.image_path = paths["image"]
    return paths


def load_truth(image_path: Path) -> tuple[np.ndarray, np.ndarray]:
    """(alpha, foreground) that ``save_truth`` wrote beside ``image_path``, memory-mapped."""
    stem = image_path.with_suffix("")
    alpha = np.load(f"{stem}.alpha.npy", mmap_mode="r")
    foreground = np.load(f"{stem}.fg.npy", mmap_mode="r")
    return alpha, foreground


def parse_size(text: str) -> tuple[int, int]:
    """``4000x3000`` -> (4000, 3000)."""
    width, _, height = text.lower().partition("x")
    try:
        size = int(width), int(height)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not WIDTHxHEIGHT") from None
    if min(size) < 64:
        raise argparse.ArgumentTypeError(f"{text!r} is too small: at least 64x64")
    return size


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Write synthetic matting samples to look at.")
    parser.add_argument("folder", type=Path)
    parser.add_argument("--size", type=parse_size, default=FULL_SIZE, help="WIDTHxHEIGHT")
    parser.add_argument("--cases", nargs="+", choices=CASES, default=list(CASES))
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)
    for case in args.cases:
        started = time.perf_counter()
        sample = generate(case, args.size, args.seed, args.folder)
        seconds = time.perf_counter() - started
        stem = args.folder / sample.name
        Image.fromarray(np.round(sample.alpha * 65535).astype(np.uint16)).save(f"{stem}.alpha.png")
        Image.fromarray(sample.foreground).save(f"{stem}.fg.png")
        print(f"{sample.image_path}  {seconds:.2f} s")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
