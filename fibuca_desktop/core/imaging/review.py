"""Risk flags: signs, read from the model's mask and the photo, that a cut-out needs a look.

In a batch of hundreds of photos the few the model got wrong should come first. A wrong mask
leaves traces a cheap measurement can see:

- the model hesitates: a wide band of alpha between 0.1 and 0.9 where a confident edge is a
  few pixels wide;
- the subject runs into the frame (cropped product, or the model took the backdrop);
- the subject is tiny or fills nearly the whole photo (a close-up with nothing to remove, or a
  product the model barely found);
- the subject falls apart into several sizeable pieces (a lost strap, a bite out of the middle);
- the photo looks the same just inside and just outside the mask's edge (white on white, glass):
  the edge does not follow anything in the photo.

Everything is measured on a copy reduced to at most ``MAX_SIDE`` pixels on the long side, so a
12 MP photo costs a few milliseconds (tests/benchmarks/bench_review.py). The thresholds were
tuned on photos built so that the model fails (their true mask is known) and on the real fixture
photos; the benchmark's report (tests/benchmarks/review.md) shows the numbers, on held-out
photos too.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
from PIL import Image

from fibuca_desktop.core.imaging.components import areas, label

MAX_SIDE = 512  # the working size: plenty for shares of area and of edge, and cheap
# Tuned with tests/benchmarks/bench_review.py on its tuning seeds (0-5) and the fixture photos,
# with the masks the default pipeline asks for (``predict(exact=False)``); the numbers quoted
# are from that set ("working px": pixels of the reduced copy; shares of the edge's length).
#
# Uncertain: alpha 0.1..0.9. The edge is soft where the uncertain band is wider than
# 2 * SOFT_RADIUS + 1 working px (SOFT_RADIUS is a share of the long side: 6 px at 512, 5 at 400;
# a confident model edge is 2-3 px wide). At 0.008 the tiger (animal-1, a good cut-out: fur on
# the ground) was 27% soft and a white box the model got right 51%; at 0.012 the tiger is 8%
# and the fixture photos the model got wrong 25-58%.
SOFT_LOW, SOFT_HIGH = 26, 229
SOFT_RADIUS = 0.012
# Good results: at most 16%, except fur (up to 36%; its true mask is as soft, 28-35%), one
# close-up and one white box. The failures it flags: 25-100%.
SOFT_SHARE = 0.2
# A side is touched from this share of its pixels: real contact covered 13-94% of a side, the
# model's stray pixels at most 1%.
TOUCH_SHARE = 0.02
# The bottom alone is no sign: a bust, a mannequin, a person cut at the waist stand on it (the
# mannequin photos: 36-39% of the bottom, the model right every time). Any other side flags.
ALLOWED_SIDE = "bottom"
TINY_SHARE = 0.02  # the 2% and 90% of the photo, kept: the built photos agree
HUGE_SHARE = 0.90
# A piece counts as a part from this share of the subject's area: specks were at most 0.3%,
# pieces the model broke off a product 2.6-4.7%, the smallest product of a group 9.4%.
PART_SHARE = 0.05
# The photo is compared EDGE_OFFSET (a share of the long side: 6 px at 512) inside and outside
# the mask's 0.5 contour, across it (3 x 3 means); a point of the edge is alike when the two
# differ by less than SIMILAR_DELTA_E (CIE76 in Lab; 2.3 is just noticeable). The first guess,
# 12 at 4 px, called the white and grey bottles the model cuts out well 60-86% alike, as alike as
# the white boxes it fails on. At 5 and 6 px: white bottles 24-42% alike, grey bottles 10-28%,
# fur 0-21%, the fixture photos 1-8%; white boxes 55-74% (the model fails on 4 of 6), glass
# 67-76% on grey and concrete (on blue paper the tinted glass differs by more and is missed).
EDGE_OFFSET = 0.012
SIMILAR_DELTA_E = 5.0
SIMILAR_SHARE = 0.45
SIDES = ("left", "right", "top", "bottom")


@dataclass(frozen=True)
class Signs:
    """What ``measure`` saw. Shares are 0..1; ``touched`` names the sides, in ``SIDES`` order."""

    coverage: float  # the subject's share of the photo (alpha >= 0.5)
    soft_edge: float  # share of the edge where the uncertain band is wide
    touched: tuple[str, ...]
    parts: int  # pieces of at least PART_SHARE of the subject
    alike_edge: float  # share of the edge where inside and outside look alike
    inside_colour: str  # names of the typical colours of the alike stretches ('' if none)
    outside_colour: str
    edge_pixels: int  # the edge's length at the working size (0: no edge inside the frame)


def review(image: Image.Image, mask: Image.Image) -> list[str]:
    """Short reasons, in a fixed order, why the cut-out of ``image`` with ``mask`` may be wrong;
    empty when nothing is suspect. ``image`` is the upright photo (RGB, RGBA or L), ``mask``
    the model's mask ("L", the photo's size). Never raises on an odd size or content."""
    return reasons(measure(image, mask))


def reasons(signs: Signs) -> list[str]:
    """The flags ``signs`` raise, as a person reads them."""
    found = []
    if signs.edge_pixels and signs.soft_edge >= SOFT_SHARE:
        found.append(f"uncertain edge ({_percent(signs.soft_edge)} of the edge is soft)")
    if set(signs.touched) - {ALLOWED_SIDE}:
        found.append(f"touches the frame ({', '.join(signs.touched)})")
    if signs.coverage == 0:
        found.append("no subject found")
    elif signs.coverage < TINY_SHARE:
        found.append(f"subject tiny ({_percent(signs.coverage, 1)} of the photo)")
    elif signs.coverage > HUGE_SHARE:
        found.append(f"subject fills the photo ({_percent(signs.coverage)})")
    if signs.parts > 1:
        found.append(f"{signs.parts} separate parts")
    if signs.edge_pixels and signs.alike_edge >= SIMILAR_SHARE:
        colours = f"{signs.inside_colour} on {signs.outside_colour}"
        found.append(f"subject like its background along the edge ({colours})")
    return found


def measure(image: Image.Image, mask: Image.Image) -> Signs:
    """The signs of ``mask`` on ``image``, measured at the working size."""
    rgb, alpha = working_copies(image, mask)
    subject = alpha >= 128
    edge = _edge(subject)
    edge_pixels = int(edge.sum())
    long_side = max(alpha.shape)
    labels, count = label(subject)
    sizes = areas(labels, count)
    parts = int((sizes >= PART_SHARE * max(1, int(subject.sum()))).sum()) if count else 0
    alike, inside, outside = _alike(rgb, alpha, edge, max(1.0, EDGE_OFFSET * long_side))
    return Signs(
        coverage=float(subject.mean()),
        soft_edge=_soft_share(alpha, edge, max(1, round(SOFT_RADIUS * long_side))),
        touched=_touched(subject),
        parts=parts,
        alike_edge=alike,
        inside_colour=inside,
        outside_colour=outside,
        edge_pixels=edge_pixels,
    )


def working_copies(image: Image.Image, mask: Image.Image) -> tuple[np.ndarray, np.ndarray]:
    """The photo (float32 RGB) and the mask (uint8) at the working size, at most ``MAX_SIDE``
    on the long side. Both are sampled on a grid twice as fine and averaged 2 x 2: 10x cheaper
    than a box filter at 12 MP, and the same for a mask stretched from the model's 320 px (it
    is smooth over a dozen of the photo's pixels); the average calms the photo's sensor noise."""
    width, height = image.size
    factor = max(1, math.ceil(max(width, height) / MAX_SIDE))
    size = (max(1, math.ceil(width / factor)), max(1, math.ceil(height / factor)))
    mask = mask if mask.mode == "L" else mask.convert("L")
    if factor > 1 or mask.size != size:
        mask = _shrunk(mask, size)
    if factor > 1:
        image = _shrunk(image, size)
    rgb = np.asarray(image if image.mode == "RGB" else image.convert("RGB"), np.float32)
    return rgb, np.asarray(mask, np.uint8)


def _shrunk(image: Image.Image, size: tuple[int, int]) -> Image.Image:
    fine = image.resize((size[0] * 2, size[1] * 2), Image.Resampling.NEAREST)
    if fine.mode not in ("L", "RGB"):
        fine = fine.convert("RGB")
    return fine.reduce(2)


def _edge(subject: np.ndarray) -> np.ndarray:
    """Subject pixels with a 4-neighbour outside the subject; the frame is no edge."""
    inner = subject.copy()
    inner[1:] &= subject[:-1]
    inner[:-1] &= subject[1:]
    inner[:, 1:] &= subject[:, :-1]
    inner[:, :-1] &= subject[:, 1:]
    return subject & ~inner


def _soft_share(alpha: np.ndarray, edge: np.ndarray, radius: int) -> float:
    """Share of ``edge`` within reach of a place where the uncertain band is wider than
    2 * radius + 1 pixels (its square window holds uncertain pixels only)."""
    total = int(edge.sum())
    if not total:
        return 0.0
    uncertain = (alpha >= SOFT_LOW) & (alpha <= SOFT_HIGH)
    side = 2 * radius + 1
    wide = _window_count(uncertain, radius) == side * side
    near_wide = _window_count(wide, radius + 1) > 0
    return float((edge & near_wide).sum() / total)


def _window_count(binary: np.ndarray, radius: int) -> np.ndarray:
    """How many set pixels each pixel's (2r+1)^2 window holds (the frame counts as unset)."""
    sums = np.zeros((binary.shape[0] + 1, binary.shape[1] + 1), np.int32)
    np.cumsum(np.cumsum(binary, axis=0, dtype=np.int32), axis=1, out=sums[1:, 1:])
    height, width = binary.shape
    ys, xs = np.arange(height), np.arange(width)
    top, bottom = np.clip(ys - radius, 0, height), np.clip(ys + radius + 1, 0, height)
    left, right = np.clip(xs - radius, 0, width), np.clip(xs + radius + 1, 0, width)
    return sums[bottom][:, right] - sums[top][:, right] - sums[bottom][:, left] + sums[top][:, left]


def _touched(subject: np.ndarray) -> tuple[str, ...]:
    borders = {
        "left": subject[:, 0],
        "right": subject[:, -1],
        "top": subject[0],
        "bottom": subject[-1],
    }
    return tuple(side for side in SIDES if borders[side].mean() >= TOUCH_SHARE)


def _alike(rgb, alpha, edge, offset: float) -> tuple[float, str, str]:
    """Share of the edge where the photo looks alike ``offset`` pixels inside and outside it,
    across the contour (along the mask's gradient), and the colours of those stretches."""
    ys, xs = np.nonzero(edge)
    if ys.size == 0:
        return 0.0, "", ""
    height, width = alpha.shape
    gy, gx = _prewitt(alpha.astype(np.float32), ys, xs)  # points inwards, to higher alpha
    norm = np.hypot(gy, gx)
    ny, nx = gy / np.maximum(norm, 1e-6), gx / np.maximum(norm, 1e-6)
    iy, ix = np.rint(ys + offset * ny).astype(np.intp), np.rint(xs + offset * nx).astype(np.intp)
    oy, ox = np.rint(ys - offset * ny).astype(np.intp), np.rint(xs - offset * nx).astype(np.intp)
    keep = (norm > 0) & (oy >= 0) & (oy < height) & (ox >= 0) & (ox < width)
    keep &= (iy >= 0) & (iy < height) & (ix >= 0) & (ix < width)
    if not keep.any():
        return 0.0, "", ""
    inside = srgb_to_lab(_mean3(rgb, iy[keep], ix[keep]))
    outside = srgb_to_lab(_mean3(rgb, oy[keep], ox[keep]))
    alike = np.linalg.norm(inside - outside, axis=1) < SIMILAR_DELTA_E
    share = float(alike.sum() / ys.size)
    if not alike.any():
        return share, "", ""
    return (
        share,
        colour_name(np.median(inside[alike], 0)),
        colour_name(np.median(outside[alike], 0)),
    )


def _prewitt(values: np.ndarray, ys: np.ndarray, xs: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The 3 x 3 smoothed gradient (d/dy, d/dx) of a 2-D array at the points (ys, xs)."""
    padded = np.pad(values, 1, mode="edge")
    y, x = ys + 1, xs + 1
    gy = sum(padded[y + 1, x + dx] - padded[y - 1, x + dx] for dx in (-1, 0, 1))
    gx = sum(padded[y + dy, x + 1] - padded[y + dy, x - 1] for dy in (-1, 0, 1))
    return gy, gx


def _mean3(rgb: np.ndarray, ys: np.ndarray, xs: np.ndarray) -> np.ndarray:
    """The 3 x 3 mean colour around each point (the frame's pixels repeated)."""
    height, width = rgb.shape[:2]
    total = np.zeros((ys.size, 3), np.float32)
    for dy in (-1, 0, 1):
        for dx in (-1, 0, 1):
            total += rgb[np.clip(ys + dy, 0, height - 1), np.clip(xs + dx, 0, width - 1)]
    return total / 9


def srgb_to_lab(rgb: np.ndarray) -> np.ndarray:
    """CIE Lab (D65) of 8-bit sRGB values, shape (..., 3)."""
    c = np.asarray(rgb, np.float64) / 255
    linear = np.where(c <= 0.04045, c / 12.92, ((c + 0.055) / 1.055) ** 2.4)
    xyz = linear @ np.array(
        [[0.4124, 0.2126, 0.0193], [0.3576, 0.7152, 0.1192], [0.1805, 0.0722, 0.9505]]
    )
    xyz /= np.array([0.95047, 1.0, 1.08883])
    f = np.where(xyz > 216 / 24389, np.cbrt(xyz), (24389 / 27 * xyz + 16) / 116)
    return np.stack(
        [116 * f[..., 1] - 16, 500 * (f[..., 0] - f[..., 1]), 200 * (f[..., 1] - f[..., 2])], -1
    )


# Lab hue angles (degrees) where a plain colour name ends: pure red sits at 40, orange at 70,
# yellow at 100, green at 135, cyan at 195, blue at 305, purple at 330.
_HUES = ((50, "red"), (85, "orange"), (115, "yellow"), (180, "green"), (240, "cyan"))
_HUES += ((315, "blue"), (345, "purple"), (360, "red"))


def colour_name(lab: np.ndarray) -> str:
    """A plain name for a Lab colour: white, grey, black, or a hue (light red is pink, dark
    or dull orange brown)."""
    lightness, a, b = (float(v) for v in lab)
    if lightness < 20:
        return "black"
    if math.hypot(a, b) < 10:
        return "white" if lightness > 85 else "grey"
    hue = math.degrees(math.atan2(b, a)) % 360
    name = next(name for limit, name in _HUES if hue < limit)
    if name == "red" and lightness > 65:
        return "pink"
    if name == "orange" and (lightness < 50 or math.hypot(a, b) < 40):
        return "brown"
    return name


def _percent(share: float, digits: int = 0) -> str:
    """``share`` as a percentage rounded down, so a share under a threshold never reads as it."""
    scale = 10**digits
    if 0 < share < 1 / (100 * scale):
        return f"<{1 / scale:g}%"
    return f"{math.floor(100 * share * scale + 1e-9) / scale:.{digits}f}%"
