"""Fur and hair for the synthetic matting set: thousands of thin curved strands over a body.

A strand is a cubic Bezier curve sampled every ~0.75 px; each sample lays its area (width x
step, in square pixels) on the four nearest pixels (bilinear). The strands' summed area D of a
pixel gives its coverage 1 - exp(-D): a lone hair a fraction of a pixel wide is faint, a clump
is opaque. Their colour is the area-weighted mean of the samples' colours. The renderer lays
this layer over the body (tests/matting_set.py), so alpha and colour stay exact.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator

import numpy as np

from tests import matting_shapes as sh
from tests.matting_products import Product, StrandChunk, _pick

STEP_PX = 0.75
REFERENCE_HEIGHT = 3000  # strand widths are given for a 4000 x 3000 photo and scale with it


def bezier_chunk(
    points: np.ndarray,  # (m, 4, 2) control points in units
    width_px: np.ndarray,  # (m,) at the root
    colour: np.ndarray,  # (m, 3)
    shade: Callable[[np.ndarray, np.ndarray, np.ndarray], np.ndarray],  # (t, u, v) -> factor
    height: int,
    wave: np.ndarray | None = None,  # (m, 3): amplitude (units), cycles, phase
) -> StrandChunk:
    """Samples of ``m`` strands in pixels; widths taper to 40% at the tip."""
    control = np.diff(points, axis=1)
    approx = np.sqrt((control**2).sum(-1)).sum(-1) * height  # px, an upper bound
    counts = np.maximum(2, np.ceil(approx / STEP_PX)).astype(np.intp)
    strand = np.repeat(np.arange(len(points)), counts)
    starts = np.cumsum(counts) - counts
    t = ((np.arange(counts.sum()) - starts[strand]) / (counts[strand] - 1)).astype(np.float32)
    s = 1 - t
    control_points = points.astype(np.float32)
    position = np.zeros((len(t), 2), np.float32)
    for k, basis in enumerate((s**3, 3 * s * s * t, 3 * s * t * t, t**3)):
        position += basis[:, None] * control_points[strand, k]
    if wave is not None:
        tangent = control_points[:, 3] - control_points[:, 0]
        normal = np.stack([-tangent[:, 1], tangent[:, 0]], 1)
        normal /= np.maximum(np.linalg.norm(normal, axis=1, keepdims=True), 1e-6)
        amplitude, cycles, phase = wave.astype(np.float32)[strand].T
        offset = amplitude * np.sin(2 * np.pi * cycles * t + phase) * t
        position += normal[strand] * offset[:, None]
    u, v = position[:, 0], position[:, 1]
    step = (approx / (counts - 1))[strand].astype(np.float32)
    weight = width_px[strand].astype(np.float32) * (1 - 0.6 * t) * step
    rgb = colour[strand].astype(np.float32) * shade(t, u, v)[:, None]
    return u * height, v * height, weight, np.clip(rgb, 0, 255)


def splat(density: np.ndarray, colour_sum: np.ndarray, chunk: StrandChunk, origin) -> None:
    """Add a chunk's samples into ``density`` (h, w) and ``colour_sum`` (h, w, 3), whose pixel
    (0, 0) is the image's pixel ``origin`` (x, y). Samples outside are dropped."""
    x, y, weight, rgb = chunk
    fx, fy = x - 0.5 - origin[0], y - 0.5 - origin[1]  # pixel centres are at i + 0.5
    ix, iy = np.floor(fx).astype(np.intp), np.floor(fy).astype(np.intp)
    wx, wy = (fx - ix).astype(np.float32), (fy - iy).astype(np.float32)
    h, w = density.shape
    flat_density, flat_colour = density.reshape(-1), colour_sum.reshape(-1, 3)
    for dx, dy, share in (
        (0, 0, (1 - wx) * (1 - wy)),
        (1, 0, wx * (1 - wy)),
        (0, 1, (1 - wx) * wy),
        (1, 1, wx * wy),
    ):
        cx, cy = ix + dx, iy + dy
        keep = (cx >= 0) & (cx < w) & (cy >= 0) & (cy < h)
        index = cy[keep] * w + cx[keep]
        area = (weight * share)[keep]
        np.add.at(flat_density, index, area)
        for channel in range(3):
            np.add.at(flat_colour[:, channel], index, area * rgb[keep, channel])


def _light(u, v, cu, cv, scale):
    """Brightness of a point of a round fluffy object lit from the upper left."""
    return 0.78 + 0.3 * np.clip(((cu - u) * 0.6 + (cv - v) * 0.8) / scale, -1, 1)


def make_fur(rng: np.random.Generator, aspect: float) -> Product:
    """A fluffy pom-pom: a dense ball of short, curved, semi-transparent fibres."""
    k = rng.uniform(0.93, 1.07)
    cu, cv, radius = aspect / 2 + rng.uniform(-0.03, 0.03), 0.5 + rng.uniform(-0.02, 0.02), 0.24
    radius *= k
    base = _pick(rng, "fur")
    strand_seed = int(rng.integers(2**62))
    core = 0.9 * radius

    def sdf(u, v):
        return sh.circle(u, v, cu, cv, core)

    def colour(u, v, px):
        return sh.shaded(base, 0.8 * _light(u, v, cu, cv, radius))

    def strands(height: int) -> Iterator[StrandChunk]:
        local = np.random.default_rng(strand_seed)
        scale = height / REFERENCE_HEIGHT
        for _ in range(14):
            m = 2000
            theta = local.uniform(0, 2 * np.pi, m)
            r0 = radius * np.sqrt(local.uniform(0.5, 1.0, m))  # most roots near the surface
            heading = theta + local.normal(0, 0.6, m)
            length = radius * local.uniform(0.08, 0.3, m)
            inner = local.random(m) < 0.3  # short fibres all over the face, for its texture
            r0[inner] = radius * np.sqrt(local.uniform(0, 0.8, inner.sum()))
            heading[inner] = local.uniform(0, 2 * np.pi, inner.sum())
            length[inner] *= 0.6
            p0 = np.stack([cu + r0 * np.cos(theta), cv + r0 * np.sin(theta)], 1)
            ahead = np.stack([np.cos(heading), np.sin(heading)], 1) * length[:, None]
            side = np.stack([-ahead[:, 1], ahead[:, 0]], 1) * local.normal(0, 0.25, m)[:, None]
            control = np.stack([p0, p0 + ahead / 3 + side, p0 + ahead * 2 / 3 + side * 1.3], 1)
            points = np.concatenate([control, (p0 + ahead)[:, None]], 1)
            tint = base * local.uniform(0.8, 1.12, (m, 1))

            def shade(t, u, v):
                return (0.7 + 0.35 * t) * _light(u, v, cu, cv, radius)

            width = local.uniform(0.8, 1.8, m) * scale
            yield bezier_chunk(points, width, tint, shade, height)

    reach = radius * 1.3
    bbox = (cu - reach, cv - reach, cu + reach, cv + reach)
    return Product(bbox, sdf, colour, (cu, cv + radius, radius * 0.7), strands=strands)


def make_hair(rng: np.random.Generator, aspect: float) -> Product:
    """A long-haired wig on a mannequin bust: long wavy strands, clumps and flyaways."""
    k = rng.uniform(0.95, 1.05)
    cu = aspect / 2 + rng.uniform(-0.03, 0.03)
    hc, a, b = 0.3 + rng.uniform(-0.01, 0.01), 0.125 * k, 0.165 * k
    skin, hair = sh.rgb((234, 222, 208)) * np.float32(rng.uniform(0.92, 1.02)), _pick(rng, "hair")
    strand_seed = int(rng.integers(2**62))
    shoulders = hc + b + 0.1 * k  # the top of the bust
    chest = shoulders + 0.1 * k  # where the shoulders' curve meets the straight sides
    neck_top, neck_bottom = hc + b - 0.04, shoulders + 0.05

    def sdf(u, v):
        return sh.union(
            sh.ellipse(u, v, cu, hc, a, b),
            sh.round_box(
                u, v, cu, (neck_top + neck_bottom) / 2, 0.048 * k, (neck_bottom - neck_top) / 2
            ),
            sh.ellipse(u, v, cu, shoulders + 0.1 * k, 0.25 * k, 0.1 * k),
            sh.round_box(u, v, cu, (chest + 1.1) / 2, 0.25 * k, (1.1 - chest) / 2),
        )

    def colour(u, v, px):
        on_bust = v > shoulders + 0.02
        half = np.where(on_bust, 0.25 * k, np.where(v > hc + 0.8 * b, 0.048 * k, a))
        light, _ = sh.cylinder(np.clip((u - cu) / half, -1, 1))
        return sh.shaded(skin, light * (1.0 - 0.12 * np.clip((v - hc) / 0.5, 0, 1)))

    def around(angle, grow):
        """A point of the head's outline at ``angle`` from the crown, pushed out by ``grow``."""
        return np.stack([cu + (a + grow) * np.sin(angle), hc - (b + grow) * np.cos(angle)])

    def strands(height: int) -> Iterator[StrandChunk]:
        local = np.random.default_rng(strand_seed)
        scale = height / REFERENCE_HEIGHT
        for _ in range(12):
            m = 500
            phi = local.uniform(-1.75, 1.75, m)
            side = np.where(phi < 0, -1.0, 1.0)
            depth = local.uniform(0.5, 1.0, m)  # roots over the crown, not only the outline
            root = np.stack([cu + depth * a * np.sin(phi), hc - depth * b * np.cos(phi)])
            root[1] = np.minimum(root[1], hc - 0.3 * b)  # the hairline
            volume = local.uniform(0.012, 0.03, m)
            beside = side * (np.pi / 2 + local.uniform(0.15, 0.45, m))
            lift = around(phi + (beside - phi) * 0.3, volume)
            over = around(beside, volume * 1.2)
            fall = local.uniform(0.24, 0.4, m)
            spread = side * (0.01 + fall * 0.22) + local.normal(0, 0.012, m)
            end = np.stack([over[0] + spread, hc + fall])
            stray = local.random(m) < 0.06  # flyaways stick out of the silhouette
            lift[:, stray] += local.normal(0, 0.02, (2, stray.sum()))
            over[:, stray] += local.normal(0, 0.04, (2, stray.sum()))
            points = np.stack([root.T, lift.T, over.T, end.T], 1)
            width = local.uniform(0.35, 1.0, m) * scale * np.where(stray, 0.6, 1.0)
            tint = hair * local.uniform(0.75, 1.2, (m, 1))
            wave = np.stack(
                [local.uniform(0.002, 0.008, m), local.uniform(2, 5, m), local.uniform(0, 6, m)], 1
            )

            def shade(t, u, v):
                sheen = 1 + 0.35 * np.exp(-(((v - hc + 0.6 * b) / 0.03) ** 2))
                return (0.8 + 0.3 * t) * sheen * _light(u, v, cu, hc, 0.3)

            yield bezier_chunk(points, width, tint, shade, height, wave)

    bbox = (cu - 0.3 * k, hc - b - 0.09, cu + 0.3 * k, 1.0)
    return Product(bbox, sdf, colour, (cu, 1.0, 0.3), strands=strands)
