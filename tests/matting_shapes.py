"""Geometry and shading helpers for the synthetic matting set (tests/matting_set.py).

Coordinates are in units of the image height (v in 0..1, u in 0..width/height), so a product
looks the same at every size. Every signed distance here is negative inside and 1-Lipschitz
(it never exceeds the true distance to the outline), which is what the renderer needs to find
the pixels an outline can cross: a pixel whose |distance| is over its half-diagonal is wholly
inside or outside. Colours are float32 sRGB values 0..255 with a trailing channel axis.
"""

from __future__ import annotations

import numpy as np


def length(x, y):
    return np.sqrt(x * x + y * y)


def circle(u, v, cx: float, cy: float, r: float):
    return length(u - cx, v - cy) - r


def round_box(u, v, cx: float, cy: float, hw: float, hh: float, r: float = 0.0):
    """Exact distance to a box of half sizes ``hw`` x ``hh`` whose corners are rounded by ``r``."""
    qx = np.abs(u - cx) - hw + r
    qy = np.abs(v - cy) - hh + r
    outside = length(np.maximum(qx, 0), np.maximum(qy, 0))
    return outside + np.minimum(np.maximum(qx, qy), 0) - r


def ellipse(u, v, cx: float, cy: float, a: float, b: float):
    """A 1-Lipschitz bound (not the exact distance) that is zero on the ellipse."""
    return (length((u - cx) / a, (v - cy) / b) - 1) * min(a, b)


def polygon(u, v, points: list[tuple[float, float]]):
    """Convex polygon, vertices in order (either winding): the largest signed distance to its
    edges' lines, exact outside along the edges, a bound near corners."""
    cx = sum(x for x, _ in points) / len(points)
    cy = sum(y for _, y in points) / len(points)
    result = None
    for (x0, y0), (x1, y1) in zip(points, points[1:] + points[:1], strict=True):
        ex, ey = x1 - x0, y1 - y0
        norm = (ex * ex + ey * ey) ** 0.5
        nx, ny = -ey / norm, ex / norm
        if (cx - x0) * nx + (cy - y0) * ny > 0:  # make it point outwards
            nx, ny = -nx, -ny
        distance = (u - x0) * nx + (v - y0) * ny
        result = distance if result is None else np.maximum(result, distance)
    return result


def union(*distances):
    result = distances[0]
    for distance in distances[1:]:
        result = np.minimum(result, distance)
    return result


def subtract(distance, hole):
    return np.maximum(distance, -hole)


def ramp(x, edge0: float, edge1: float):
    """0 below ``edge0``, 1 above ``edge1``, smooth between."""
    t = np.clip((x - edge0) / (edge1 - edge0), 0, 1)
    return t * t * (3 - 2 * t)


def step(distance, px: float):
    """An antialiased 0/1 switch across a line: ``distance`` in units, ``px`` one pixel."""
    return np.clip(0.5 + distance / px, 0, 1)


def cylinder(s, light: float = -0.45, gloss: float = 0.0):
    """Brightness across a cylinder, ``s`` from -1 (left) to 1 (right), lit from ``light``."""
    s = np.clip(s, -0.999, 0.999)
    normal = np.arcsin(s)
    diffuse = 0.42 + 0.58 * np.maximum(np.cos(normal - light), 0)
    darkening = 1 - 0.25 * s**4  # grazing angles at the silhouette
    shine = gloss * np.exp(-(((s - light * 0.7) / 0.09) ** 2))
    return diffuse * darkening, shine


def mix(colour_a, colour_b, weight):
    """``colour_a`` where ``weight`` is 0, ``colour_b`` where it is 1; colours broadcast."""
    weight = weight[..., None]
    return colour_a + (colour_b - colour_a) * weight


def rgb(values) -> np.ndarray:
    return np.asarray(values, np.float32)


def shaded(colour, brightness, shine=0.0):
    """``colour`` times ``brightness``, plus white ``shine``; clipped to 0..255."""
    out = np.asarray(colour, np.float32) * np.asarray(brightness, np.float32)[..., None]
    if np.ndim(shine) or shine:
        out = out + 255 * np.asarray(shine, np.float32)[..., None]
    return np.clip(out, 0, 255)


class ValueNoise:
    """Smooth random values on a grid of ``cells`` per image height, bilinear with smoothstep."""

    def __init__(self, rng: np.random.Generator, cells: float, aspect: float = 1.5) -> None:
        self.cells = cells
        rows = int(cells) + 3
        self.grid = rng.random((rows, int(cells * aspect) + 3), dtype=np.float32)

    def __call__(self, u, v):
        x, y = u * self.cells, v * self.cells
        ix = np.clip(np.floor(x), 0, self.grid.shape[1] - 2).astype(np.intp)
        iy = np.clip(np.floor(y), 0, self.grid.shape[0] - 2).astype(np.intp)
        fx, fy = ramp(x - ix, 0, 1), ramp(y - iy, 0, 1)
        g = self.grid
        top = g[iy, ix] + (g[iy, ix + 1] - g[iy, ix]) * fx
        bottom = g[iy + 1, ix] + (g[iy + 1, ix + 1] - g[iy + 1, ix]) * fx
        return top + (bottom - top) * fy


class Octaves:
    """A sum of value noises, doubling in frequency, halving in weight; about 0..1."""

    def __init__(self, rng: np.random.Generator, cells: float, count: int, aspect: float = 1.5):
        self.layers = [ValueNoise(rng, cells * 2**i, aspect) for i in range(count)]
        self.total = sum(0.5**i for i in range(count))

    def __call__(self, u, v):
        result = self.layers[0](u, v)
        for i, layer in enumerate(self.layers[1:], 1):
            result = result + layer(u, v) * 0.5**i
        return result / self.total
