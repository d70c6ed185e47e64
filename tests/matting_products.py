"""The products of the synthetic matting set: outline, true colour and, for fur and hair, strands.

Each ``make_*`` builds one product, centred, about 45-70% of the frame's height, jittered by
``rng`` (position, scale, colours). Units are image heights (tests/matting_shapes.py). A product
gives its outline as a signed distance (hard edges are rendered supersampled from it), or a
blur width for a defocused edge, and its colour as a function of position defined a little
beyond the outline too (an edge pixel takes the colour at its centre).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass

import numpy as np

from tests import matting_shapes as sh

# (x, y, weight, rgb) in pixels of the final image: a strand sample's position, its area in
# square pixels, and its colour (float32 sRGB).
StrandChunk = tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]


@dataclass
class Product:
    bbox: tuple[float, float, float, float]  # u0, v0, u1, v1 including strands
    sdf: Callable
    colour: Callable  # (u, v, px) -> (..., 3)
    foot: tuple[float, float, float]  # u, v and half width of where it stands (its shadow)
    defocus: Callable | None = None  # (u, v) -> Gaussian blur sigma of the outline, in units
    strands: Callable[[int], Iterator[StrandChunk]] | None = None  # height in px -> chunks


PALETTE = {
    "carton": [(176, 42, 38), (32, 70, 150), (226, 128, 24), (38, 118, 72), (120, 52, 130)],
    "plastic": [(226, 92, 40), (150, 40, 120), (235, 235, 228), (210, 40, 50), (60, 60, 70)],
    "ceramic": [(214, 166, 38), (40, 128, 140), (190, 88, 58), (40, 50, 90), (160, 40, 50)],
    "vase": [(190, 96, 62), (96, 130, 92), (60, 84, 150), (40, 96, 84)],
    "fur": [(236, 228, 214), (150, 108, 74), (236, 170, 190), (226, 200, 150)],
    "hair": [(92, 60, 38), (60, 40, 28), (170, 120, 70), (120, 50, 30)],
}


def _pick(rng: np.random.Generator, kind: str) -> np.ndarray:
    colours = PALETTE[kind]
    base = sh.rgb(colours[rng.integers(len(colours))])
    return np.clip(base * rng.uniform(0.92, 1.08, 3).astype(np.float32), 0, 255)


def _printed_lines(u, v, top: float, left: float, right: float, rows: int, gap: float, px):
    """Rows of 'text': thin dark bars of varying length, antialiased."""
    row = (v - top) / gap
    inside_row = sh.step(0.35 * gap - np.abs((row - np.round(row)) * gap), px)
    in_rows = sh.step(row + 0.5, px / gap) * sh.step(rows - 0.5 - row, px / gap)
    lengths = 0.55 + 0.45 * np.abs(np.sin(np.round(row) * 2.7))
    in_columns = sh.step(u - left, px) * sh.step(left + (right - left) * lengths - u, px)
    return inside_row * in_rows * in_columns


def make_box(rng: np.random.Generator, aspect: float) -> Product:
    """A printed carton in three-quarter view: three faces, hard corners."""
    k = rng.uniform(0.93, 1.07)
    fw, fh, dx, dy = 0.34 * k, 0.47 * k, 0.16 * k, 0.10 * k
    x0 = aspect / 2 - (fw + dx) / 2 + rng.uniform(-0.03, 0.03)
    y1 = 0.5 + (fh + dy) / 2 + rng.uniform(-0.02, 0.02)
    x1, y0 = x0 + fw, y1 - fh
    outline = [(x0, y1), (x0, y0), (x0 + dx, y0 - dy), (x1 + dx, y0 - dy), (x1 + dx, y1 - dy)]
    outline.append((x1, y1))
    base, accent = _pick(rng, "carton"), _pick(rng, "plastic")
    grain = sh.ValueNoise(rng, 300, aspect)
    diagonal = (dx * dx + dy * dy) ** 0.5

    def sdf(u, v):
        return sh.polygon(u, v, outline)

    def colour(u, v, px):
        front = sh.step(x1 - u, px) * sh.step(v - y0, px)
        side = sh.step((dx * (v - y0) + dy * (u - x1)) / diagonal, px)
        paper = 0.96 + 0.06 * grain(u, v)
        # front: lit from the upper left, a label with a stripe and rows of text
        lit = (1.02 - 0.12 * (v - y0) / fh) * paper
        label = sh.step(u - (x0 + 0.04 * k), px) * sh.step(x1 - 0.04 * k - u, px)
        label = label * sh.step(v - (y0 + 0.16 * k), px) * sh.step(y1 - 0.05 * k - v, px)
        stripe = sh.step(v - (y0 + 0.19 * k), px) * sh.step(y0 + 0.235 * k - v, px) * label
        text = _printed_lines(u, v, y0 + 0.27 * k, x0 + 0.06 * k, x1 - 0.06 * k, 6, 0.022 * k, px)
        face = sh.mix(sh.shaded(base, lit), sh.rgb((244, 240, 232)) * lit[..., None], label)
        face = sh.mix(face, sh.shaded(accent, lit), stripe)
        face = sh.mix(face, sh.rgb((40, 40, 44)), text * label)
        top = sh.shaded(base, 1.18 * paper)
        right = sh.shaded(base, (0.62 + 0.08 * (v - y0) / fh) * paper)
        return sh.mix(sh.mix(top, right, side), face, front)

    bbox = (x0, y0 - dy, x1 + dx, y1)
    return Product(bbox, sdf, colour, (x0 + (fw + dx) / 2, y1, (fw + dx) / 2))


def make_bottle(rng: np.random.Generator, aspect: float) -> Product:
    """A plastic bottle with a paper label and a cap: convex and concave corners."""
    k = rng.uniform(0.93, 1.07)
    cu = aspect / 2 + rng.uniform(-0.03, 0.03)
    bottom = 0.86 + rng.uniform(-0.02, 0.01)
    bw, shoulder = 0.12 * k, bottom - 0.46 * k
    neck_w, cap_w = 0.042 * k, 0.052 * k
    neck_top, cap_top = shoulder - 0.17 * k, shoulder - 0.235 * k
    body, cap = _pick(rng, "plastic"), _pick(rng, "carton") * 0.45
    print_colour = _pick(rng, "carton")

    def sdf(u, v):
        return sh.union(
            sh.round_box(u, v, cu, (shoulder + bottom) / 2, bw, (bottom - shoulder) / 2, 0.03 * k),
            sh.ellipse(u, v, cu, shoulder, bw, 0.11 * k),
            sh.round_box(u, v, cu, (neck_top + shoulder) / 2, neck_w, (shoulder - neck_top) / 2),
            sh.round_box(u, v, cu, (cap_top + neck_top + 0.02 * k) / 2, cap_w, 0.04 * k, 0.008),
        )

    def colour(u, v, px):
        rise = np.clip((shoulder - v) / (0.11 * k), 0, 1)
        half = np.where(v > shoulder, bw, np.maximum(bw * np.sqrt(1 - rise**2), neck_w))
        half = np.where(v < neck_top + 0.02 * k, cap_w, half)
        light, shine = sh.cylinder((u - cu) / half, gloss=0.45)
        plastic = sh.shaded(body, light, shine)
        label = sh.step(v - (shoulder + 0.09 * k), px) * sh.step(bottom - 0.07 * k - v, px)
        paper = sh.shaded((240, 236, 226), light, 0.3 * shine)
        logo = sh.step(0.045 * k - sh.circle(u, v, cu, shoulder + 0.17 * k, 0.0), px)
        text = _printed_lines(u, v, shoulder + 0.25 * k, cu - 0.07 * k, cu + 0.07 * k, 4, 0.02, px)
        paper = sh.mix(paper, sh.shaded(print_colour, light), logo)
        paper = sh.mix(paper, sh.shaded((50, 50, 55), light), text)
        surface = sh.mix(plastic, paper, label)
        in_cap = sh.step(neck_top + 0.02 * k - v, px)
        return sh.mix(surface, sh.shaded(cap, light, 0.6 * shine), in_cap)

    return Product((cu - bw, cap_top, cu + bw, bottom), sdf, colour, (cu, bottom, bw))


def make_mug(rng: np.random.Generator, aspect: float) -> Product:
    """A glazed mug whose handle encloses a hole of backdrop."""
    k = rng.uniform(0.93, 1.07)
    cu = aspect / 2 - 0.06 * k + rng.uniform(-0.03, 0.03)
    cv = 0.54 + rng.uniform(-0.02, 0.02)
    hw, hh, ring, thick = 0.17 * k, 0.22 * k, 0.11 * k, 0.028 * k
    hub = (cu + hw, cv - 0.01)
    glaze, logo_colour = _pick(rng, "ceramic"), _pick(rng, "plastic")

    def sdf(u, v):
        handle = np.abs(sh.circle(u, v, *hub, ring)) - thick
        handle = np.maximum(handle, cu + hw - 0.02 * k - u)
        return sh.union(sh.round_box(u, v, cu, cv, hw, hh, 0.03 * k), handle)

    def colour(u, v, px):
        light, shine = sh.cylinder((u - cu) / hw, gloss=0.55)
        body = sh.shaded(glaze, light, shine)
        rim = sh.step(cv - hh + 0.012 * k - v, px)
        body = sh.mix(body, sh.shaded(glaze, 1.2), rim)
        logo = sh.step(0.06 * k - sh.length(u - cu + 0.02, v - cv), px)
        body = sh.mix(body, sh.shaded(logo_colour, light), logo * 0.9)
        across = (sh.length(u - hub[0], v - hub[1]) - ring) / thick
        angle = np.arctan2(v - hub[1], u - hub[0])
        h_light, h_shine = sh.cylinder(across, light=-0.2, gloss=0.4)
        handle = sh.shaded(glaze, h_light * (0.8 + 0.2 * np.cos(angle + 1.2)), h_shine)
        return sh.mix(body, handle, sh.step(u - (cu + hw), px))

    bbox = (cu - hw, cv - hh, hub[0] + ring + thick, cv + hh)
    return Product(bbox, sdf, colour, (cu + 0.05, cv + hh, hw + 0.05))


def make_ring(rng: np.random.Generator, aspect: float) -> Product:
    """A polished gold bangle seen tilted: the backdrop shows through its hole."""
    k = rng.uniform(0.93, 1.07)
    cu, cv = aspect / 2 + rng.uniform(-0.03, 0.03), 0.5 + rng.uniform(-0.02, 0.02)
    a, b, band = 0.29 * k, 0.25 * k, 0.055 * k
    hole = (cv - 0.012 * k, a - band, b - band * 1.3)
    gold = sh.rgb((212, 168, 70)) * np.float32(rng.uniform(0.9, 1.05))

    def sdf(u, v):
        return sh.subtract(
            sh.ellipse(u, v, cu, cv, a, b), sh.ellipse(u, v, cu, hole[0], hole[1], hole[2])
        )

    def colour(u, v, px):
        rho = sh.length((u - cu) / (a - band / 2), (v - cv) / (b - band / 2))
        across = (rho - 1) * min(a, b) / (band / 2)
        angle = np.arctan2(v - cv, u - cu)
        light, shine = sh.cylinder(across, light=-0.3, gloss=0.9)
        sheen = 0.7 + 0.3 * np.cos(2 * angle + 0.8) + 0.15 * np.cos(5 * angle)
        return sh.shaded(gold, light * sheen, shine * (0.5 + 0.5 * np.cos(angle + 2.1)))

    return Product((cu - a, cv - b, cu + a, cv + b), sdf, colour, (cu, cv + b, a * 0.9))


def make_defocus(rng: np.random.Generator, aspect: float) -> Product:
    """A matte vase, sharp at its foot and out of focus at its lip (shallow depth of field)."""
    k = rng.uniform(0.93, 1.07)
    cu = aspect / 2 + rng.uniform(-0.03, 0.03)
    foot = 0.84 + rng.uniform(-0.02, 0.01)
    belly_r, belly_v = 0.2 * k, foot - 0.22 * k
    neck_v, lip_v = belly_v - 0.3 * k, belly_v - 0.44 * k
    clay = _pick(rng, "vase")
    mottle = sh.Octaves(rng, 12, 3, aspect)
    sharp, blurred = 0.0003, 0.0028 * rng.uniform(0.85, 1.15)  # sigma: ~1 px to ~8 px at 12 MP

    def sdf(u, v):
        return sh.union(
            sh.circle(u, v, cu, belly_v, belly_r),
            sh.round_box(u, v, cu, neck_v, 0.065 * k, 0.13 * k, 0.02 * k),
            sh.round_box(u, v, cu, lip_v + 0.015 * k, 0.09 * k, 0.022 * k, 0.012 * k),
            sh.round_box(u, v, cu, foot - 0.015 * k, 0.11 * k, 0.015 * k, 0.006 * k),
        )

    def defocus(u, v):
        return sharp + (blurred - sharp) * sh.ramp(v, foot - 0.1 * k, lip_v + 0.05 * k)

    def colour(u, v, px):
        rise = np.clip((belly_v - v) / belly_r, -1, 1)
        half = np.where(
            v > belly_v - 0.16 * k, np.maximum(belly_r * np.sqrt(1 - rise**2), 0.1 * k), 0.07 * k
        )
        light, _ = sh.cylinder((u - cu) / half, gloss=0)
        return sh.shaded(clay, light * (0.9 + 0.14 * mottle(u, v)))

    bbox = (cu - belly_r, lip_v - 0.01, cu + belly_r, foot)
    return Product(bbox, sdf, colour, (cu, foot, 0.11 * k), defocus=defocus)
