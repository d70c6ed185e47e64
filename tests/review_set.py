"""Photos with a known true mask, built so that the model often fails, and some where it should not.

``build(scenario, seed)`` returns a ``ReviewPhoto``: the photo as decoded from its JPEG and its
true alpha. Products come from the synthetic matting set (tests/matting_set.py: its exact alpha
and colour), cut out of their sample and laid on a backdrop of tests/matting_backdrops.py with
the same image model, I = aF + (1 - a)B plus sensor noise, saved as JPEG q92. The scenarios are
the cases the issue names: white on white, a product cropped by the frame, a tiny product, a
close-up that is all product, several small products, a mug with a handle, glass; and the
matting set's own photos as they are, where the model is expected to do well.

Whether the model really failed on a photo is measured, not assumed: ``model_failed`` compares
its mask with the truth (IoU of alpha >= 0.5 below ``FAILED_BELOW``).
"""

from __future__ import annotations

import io
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
from PIL import Image

from tests import matting_shapes as sh
from tests.matting_backdrops import make_backdrop
from tests.matting_set import CASES, JPEG_QUALITY, generate

SIZE = (1200, 900)
FAILED_BELOW = 0.9  # IoU of the model's mask at 0.5 with the truth at 0.5


@dataclass
class ReviewPhoto:
    name: str
    scenario: str
    image: Image.Image  # RGB, decoded from the JPEG
    truth: np.ndarray  # (H, W) float32 alpha 0..1


def iou(mask: np.ndarray, truth: np.ndarray) -> float:
    """IoU of ``mask`` (uint8 0..255) >= 128 and ``truth`` (0..1) >= 0.5; 1 when both are empty."""
    predicted, true = mask >= 128, truth >= 0.5
    union = np.count_nonzero(predicted | true)
    return 1.0 if union == 0 else np.count_nonzero(predicted & true) / union


def model_failed(mask: np.ndarray, truth: np.ndarray) -> bool:
    return iou(mask, truth) < FAILED_BELOW


def _cut(case: str, height: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """A product of the matting set about 0.45-0.7 x ``height`` tall: (alpha, colour) of its box."""
    sample = generate(case, (round(height * 4 / 3), height), seed)
    rows, cols = np.nonzero(sample.alpha > 0)
    box = slice(rows.min(), rows.max() + 1), slice(cols.min(), cols.max() + 1)
    return sample.alpha[box], sample.foreground[box].astype(np.float32)


def _recolour(colour: np.ndarray, target) -> np.ndarray:
    """The product's shading kept (a quarter of it), its colour replaced by ``target`` (RGB)."""
    light = colour.mean(-1, keepdims=True)
    centre = np.median(light[light > 0]) if (light > 0).any() else 0.0
    return np.clip(np.asarray(target, np.float32) + 0.25 * (light - centre), 0, 255)


class _Scene:
    """A backdrop with products laid on it, then photographed (noise, JPEG)."""

    def __init__(self, size: tuple[int, int], backdrop: str, rng: np.random.Generator) -> None:
        self.size, self.backdrop, self.rng = size, backdrop, rng
        width, height = size
        self.alpha = np.zeros((height, width), np.float32)
        self.colour = np.zeros((height, width, 3), np.float32)
        self.foot: tuple[float, float, float] | None = None

    def place(self, alpha: np.ndarray, colour: np.ndarray, x: int, y: int) -> None:
        """Lay a product (alpha, colour) over what is there, its top left at (x, y); clipped."""
        height, width = self.alpha.shape
        x0, y0 = max(0, x), max(0, y)
        x1, y1 = min(width, x + alpha.shape[1]), min(height, y + alpha.shape[0])
        if x0 >= x1 or y0 >= y1:
            return
        a = alpha[y0 - y : y1 - y, x0 - x : x1 - x]
        f = colour[y0 - y : y1 - y, x0 - x : x1 - x]
        under_a, under_f = self.alpha[y0:y1, x0:x1], self.colour[y0:y1, x0:x1]
        combined = a + under_a * (1 - a)
        mixed = a[..., None] * f + ((1 - a) * under_a)[..., None] * under_f
        self.colour[y0:y1, x0:x1] = mixed / np.maximum(combined, 1e-6)[..., None]
        self.alpha[y0:y1, x0:x1] = combined
        if self.foot is None:  # the first product casts the shadow
            scale = height
            self.foot = (
                (x + alpha.shape[1] / 2) / scale,
                (y + alpha.shape[0]) / scale,
                alpha.shape[1] / 2 / scale,
            )

    def photo(self, name: str, scenario: str) -> ReviewPhoto:
        width, height = self.size
        u = ((np.arange(width, dtype=np.float32) + 0.5) / height)[None, :]
        v = ((np.arange(height, dtype=np.float32) + 0.5) / height)[:, None]
        foot = self.foot or (width / height / 2, 0.9, 0.1)
        background = make_backdrop(self.backdrop, self.rng, width / height, foot)(u, v)
        a = self.alpha[..., None]
        image = a * self.colour + (1 - a) * background
        sigma = np.sqrt(0.8 + 0.02 * np.clip(image, 0, 255))
        image += sigma * self.rng.standard_normal(image.shape, dtype=np.float32)
        buffer = io.BytesIO()
        Image.fromarray(np.clip(np.round(image), 0, 255).astype(np.uint8)).save(
            buffer, "JPEG", quality=JPEG_QUALITY
        )
        decoded = Image.open(buffer)
        decoded.load()
        return ReviewPhoto(name, scenario, decoded, self.alpha.copy())


def _centred(scene: _Scene, alpha: np.ndarray, colour: np.ndarray, dx=0, dy=0) -> None:
    width, height = scene.size
    x = (width - alpha.shape[1]) // 2 + dx
    y = (height - alpha.shape[0]) // 2 + dy
    scene.place(alpha, colour, x, y)


def _same_colour(key: str, target, backdrop: str, case: str, scenario: str):
    """A product recoloured to about the backdrop's own colour ``target``."""

    def build(seed: int, rng: np.random.Generator) -> ReviewPhoto:
        alpha, colour = _cut(case, round(SIZE[1] * 1.1), seed)
        scene = _Scene(SIZE, backdrop, rng)
        shade = np.asarray(target, np.float32) * rng.uniform(0.95, 1.02)
        _centred(scene, alpha, _recolour(colour, shade))
        return scene.photo(f"{key}-s{seed}", scenario)

    return build


def _cropped(seed: int, rng: np.random.Generator) -> ReviewPhoto:
    """A carton or bottle shifted so that the frame cuts off a third of it (left or right,
    and the bottom)."""
    case = ("box", "bottle")[seed % 2]
    alpha, colour = _cut(case, round(SIZE[1] * 1.3), seed)
    scene = _Scene(SIZE, ("white-sweep", "grey-sweep", "wood")[seed % 3], rng)
    shift = round(alpha.shape[1] * rng.uniform(0.3, 0.45)) + (SIZE[0] - alpha.shape[1]) // 2
    _centred(scene, alpha, colour, dx=shift if seed % 2 else -shift, dy=round(SIZE[1] * 0.2))
    return scene.photo(f"cropped-s{seed}", "cropped by the frame")


def _tiny(seed: int, rng: np.random.Generator) -> ReviewPhoto:
    case = CASES[seed % 5]  # box, bottle, mug, ring, defocus
    alpha, colour = _cut(case, round(SIZE[1] * rng.uniform(0.12, 0.2)), seed)
    scene = _Scene(SIZE, ("concrete", "wood", "linen", "grey-sweep")[seed % 4], rng)
    x = int(rng.integers(0, SIZE[0] - alpha.shape[1]))
    y = int(rng.integers(SIZE[1] // 3, SIZE[1] - alpha.shape[0]))
    scene.place(alpha, colour, x, y)
    return scene.photo(f"tiny-s{seed}", "tiny product")


def _close_up(seed: int, rng: np.random.Generator) -> ReviewPhoto:
    """A window inside a carton's or vase's body: the photo is all product."""
    case = ("box", "defocus")[seed % 2]
    alpha, colour = _cut(case, SIZE[1] * 4, seed)
    scene = _Scene(SIZE, "grey-sweep", rng)
    rows, cols = np.nonzero(alpha >= 1)
    cy, cx = int(np.median(rows)), int(np.median(cols))
    scene.place(alpha, colour, SIZE[0] // 2 - cx, SIZE[1] // 2 - cy)
    return scene.photo(f"close-up-s{seed}", "close-up, all product")


def _several(seed: int, rng: np.random.Generator) -> ReviewPhoto:
    count = 3 + seed % 3
    scene = _Scene(SIZE, ("white-sweep", "blue-paper", "wood")[seed % 3], rng)
    slot = SIZE[0] // count
    for index in range(count):
        case = CASES[(seed + index) % 5]
        alpha, colour = _cut(case, round(SIZE[1] * rng.uniform(0.3, 0.42)), seed * 10 + index)
        x = index * slot + (slot - alpha.shape[1]) // 2
        y = SIZE[1] // 2 - alpha.shape[0] // 2 + int(rng.integers(-40, 40))
        scene.place(alpha, colour, x, y)
    return scene.photo(f"several-s{seed}", "several small products")


def _mug(seed: int, rng: np.random.Generator) -> ReviewPhoto:
    alpha, colour = _cut("mug", SIZE[1], seed)
    scene = _Scene(SIZE, ("linen", "white-sweep", "concrete")[seed % 3], rng)
    _centred(scene, alpha, colour)
    return scene.photo(f"mug-handle-s{seed}", "mug with a handle")


def _glass(seed: int, rng: np.random.Generator) -> ReviewPhoto:
    """A drinking glass: thin bright walls and a base, the body clear (alpha 0.12-0.2), so the
    backdrop shows through it."""
    width, height = SIZE
    scale = height
    k = rng.uniform(0.9, 1.1)
    cu, cv = width / height / 2 + rng.uniform(-0.05, 0.05), 0.52
    hw, hh, wall = 0.14 * k, 0.3 * k, 0.006 * k
    u = ((np.arange(width, dtype=np.float32) + 0.5) / scale)[None, :]
    v = ((np.arange(height, dtype=np.float32) + 0.5) / scale)[:, None]
    px = 1 / scale
    taper = hw * (0.85 + 0.15 * (v - (cv - hh)) / (2 * hh))  # wider at the lip
    outer = np.maximum(np.abs(u - cu) - taper, np.abs(v - cv) - hh)
    inner = np.maximum(np.abs(u - cu) - (taper - wall), v - (cv + hh - 0.05 * k))
    inner = np.maximum(inner, (cv - hh + 0.002) - v)
    body = sh.step(-outer, px)
    walls = body * (1 - sh.step(-inner, px))
    clear = rng.uniform(0.12, 0.2)
    alpha = np.clip(clear * body + (0.9 - clear) * walls, 0, 1).astype(np.float32)
    shine = np.exp(-(((u - cu + 0.55 * hw) / (0.012 * k)) ** 2)) * body
    level = 225 + 30 * shine
    colour = np.repeat(np.broadcast_to(level, alpha.shape)[..., None], 3, -1).astype(np.float32)
    alpha = np.clip(alpha + 0.6 * shine * (1 - alpha), 0, 1).astype(np.float32)
    scene = _Scene(SIZE, ("grey-sweep", "blue-paper", "concrete")[seed % 3], rng)
    scene.place(alpha, colour, 0, 0)
    return scene.photo(f"glass-s{seed}", "glass")


def _plain(case: str):
    def build(seed: int, rng: np.random.Generator) -> ReviewPhoto:
        sample = generate(case, SIZE, seed)
        return ReviewPhoto(f"{case}-s{seed}", f"matting set: {case}", sample.image(), sample.alpha)

    return build


SCENARIOS: dict[str, Callable[[int, np.random.Generator], ReviewPhoto]] = {
    **{case: _plain(case) for case in CASES},
    "white-box": _same_colour("white-box", (238,) * 3, "white-sweep", "box", "white on white"),
    "white-bottle": _same_colour(
        "white-bottle", (236,) * 3, "white-sweep", "bottle", "white on white"
    ),
    "grey-bottle": _same_colour("grey-bottle", (168,) * 3, "grey-sweep", "bottle", "grey on grey"),
    "green-box": _same_colour("green-box", (64, 150, 72), "green-paper", "box", "green on green"),
    "cropped": _cropped,
    "tiny": _tiny,
    "close-up": _close_up,
    "several": _several,
    "mug-handle": _mug,
    "glass": _glass,
}


def build(scenario: str, seed: int = 0) -> ReviewPhoto:
    """The photo of ``scenario`` (a key of ``SCENARIOS``) for ``seed``; always the same."""
    rng = np.random.default_rng([seed, list(SCENARIOS).index(scenario), 12])
    return SCENARIOS[scenario](seed, rng)
