"""Backdrops of the synthetic matting set: studio sweeps, coloured paper and textured surfaces.

Each is a function of (u, v) in image heights returning float32 sRGB (..., 3), with the
product's soft contact shadow in it: the shadow belongs to the background (alpha 0 there).
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

from tests import matting_shapes as sh

BACKDROPS = (
    "white-sweep",
    "grey-sweep",
    "green-paper",
    "blue-paper",
    "wood",
    "linen",
    "concrete",
)


def make_backdrop(
    kind: str, rng: np.random.Generator, aspect: float, foot: tuple[float, float, float]
) -> Callable:
    """The backdrop ``kind`` (one of ``BACKDROPS``), with a shadow under ``foot``."""
    surface = _SURFACES[kind](rng, aspect)
    fu, fv, half = foot

    def backdrop(u, v):
        contact = np.exp(-(((u - fu) / (half * 1.05)) ** 2 + ((v - fv) / 0.018) ** 2))
        cast = np.exp(-(((u - fu - 0.04) / (half * 1.6)) ** 2 + ((v - fv + 0.01) / 0.06) ** 2))
        return surface(u, v) * (1 - 0.38 * contact - 0.16 * cast)[..., None]

    return backdrop


def _sweep(top, bottom):
    def make(rng: np.random.Generator, aspect: float):
        low = sh.Octaves(rng, 2, 2, aspect)
        top_c, bottom_c = sh.rgb(top), sh.rgb(bottom)

        def surface(u, v):
            falloff = 1 - 0.07 * ((u - aspect / 2) / (aspect / 2)) ** 2
            tone = (0.985 + 0.03 * low(u, v)) * falloff
            return sh.mix(top_c, bottom_c, sh.ramp(v, 0.05, 1.0)) * tone[..., None]

        return surface

    return make


def _paper(colour):
    def make(rng: np.random.Generator, aspect: float):
        mottle = sh.Octaves(rng, 4, 3, aspect)
        fibre = sh.ValueNoise(rng, 500, aspect)
        base = sh.rgb(colour) * np.float32(rng.uniform(0.95, 1.05))

        def surface(u, v):
            light = 1.06 - 0.12 * (0.6 * u / aspect + 0.4 * v)
            tone = light * (0.96 + 0.08 * mottle(u, v)) * (0.985 + 0.03 * fibre(u, v))
            return base * tone[..., None]

        return surface

    return make


def _wood(rng: np.random.Generator, aspect: float):
    warp = sh.Octaves(rng, 3, 3, aspect)
    streak = sh.ValueNoise(rng, 60, aspect)
    light, dark = sh.rgb((196, 146, 98)), sh.rgb((132, 88, 54))
    plank = 0.31

    def surface(u, v):
        rings = np.sin((u * 38 + 6 * warp(u * 0.3, v * 0.05)) * 2 * np.pi) * 0.5 + 0.5
        grain = rings**3 * 0.7 + 0.3 * streak(u, v * 0.05)
        seam = np.abs(((u + 0.11) / plank) % 1 - 0.5) * plank * 2  # 0 at a seam
        gap = 1 - 0.45 * np.exp(-((seam / 0.0015) ** 2))
        colour = sh.mix(light, dark, grain)
        return colour * (gap * (1.04 - 0.1 * v))[..., None]

    return surface


def _linen(rng: np.random.Generator, aspect: float):
    slub = sh.ValueNoise(rng, 40, aspect)
    slub_v = sh.ValueNoise(rng, 40, aspect)
    base = sh.rgb((214, 204, 188))
    threads = 260  # per image height: ~11 px a thread at 12 MP

    def surface(u, v):
        warp = np.sin(u * threads * np.pi)  # a thread between zeros; plain weave: over, under
        weft = np.sin(v * threads * np.pi)
        on_top = np.clip(0.5 + 2 * warp * weft, 0, 1)  # the warp crosses over the weft here
        ridge = on_top * np.abs(warp) ** 0.6 + (1 - on_top) * np.abs(weft) ** 0.6
        weave = 0.9 + 0.09 * ridge + 0.03 * slub(u * 0.2, v * 8) + 0.03 * slub_v(u * 8, v)
        return base * (weave * (1.03 - 0.08 * v))[..., None]

    return surface


def _concrete(rng: np.random.Generator, aspect: float):
    clouds = sh.Octaves(rng, 5, 5, aspect)
    pits = sh.ValueNoise(rng, 700, aspect)
    base = sh.rgb((176, 174, 168))

    def surface(u, v):
        tone = 0.86 + 0.22 * clouds(u, v)
        tone = tone * (1 - 0.25 * sh.ramp(pits(u, v), 0.88, 0.97))
        return base * (tone * (1.04 - 0.1 * v))[..., None]

    return surface


_SURFACES = {
    "white-sweep": _sweep((246, 246, 244), (222, 222, 220)),
    "grey-sweep": _sweep((188, 190, 192), (142, 144, 148)),
    "green-paper": _paper((64, 150, 72)),
    "blue-paper": _paper((46, 96, 170)),
    "wood": _wood,
    "linen": _linen,
    "concrete": _concrete,
}
