"""Edge refinement: the model's mask, re-drawn along the full-resolution photo's own edges.

u2netp predicts 320 x 320; stretched to a 12 MP photo each of its pixels covers 12 x 12, so the
edge is a blurred ramp a dozen pixels wide that ignores the photo. Here the mask is cut at 0.5 and
a colour guided filter (He, Sun and Tang 2013; the fast variant of He and Sun 2015) lets the photo
decide where, inside a few of the model's pixels, the edge really runs:

- The guided filter's coefficients are computed at a coarse working resolution (one box average
  of the photo, made by Pillow; 200 px on the long side for a 12 MP photo), in two passes (the
  second sharpens what the first moved), then bilinearly upsampled and applied to the
  full-resolution photo: a sharp edge that follows the photo's colours.
- Only tiles near the cut's boundary are computed (within REACH model pixels); everywhere else
  the cut is kept as it is, so no hole far from an edge is ever opened or closed. The work
  follows the edge's length, not the photo's area; the tiles go in batches of bounded size, so
  the extra memory is bounded whatever the photo's size. The box filters and the upsampling are
  small matrix products on the tiles' windows (BLAS), several times faster than running sums.

Foreground colours for the pixels left semi-transparent are estimated by ``foreground.py`` on
the same tiles. Measured and compared with rembg in tests/benchmarks/bench_edges.py (README).
"""

from __future__ import annotations

import functools
import math
from dataclasses import dataclass

import numpy as np
from PIL import Image

from fibuca_desktop.core.imaging import foreground

# The working resolution: coarse enough that the filter's radius is WORKING_RADIUS pixels there
# (the coefficients are smooth; the full-resolution photo gives the detail), and never more than
# WORKING_SIDE on the long side. On the matting set, a radius of 2 to 4 scores alike.
WORKING_RADIUS = 2
WORKING_SIDE = 512
# A tile's side: TILE working pixels, but at most FULL_TILE full-resolution ones. Small tiles
# waste work on their windows' margins, large ones on full-resolution pixels far from the edge;
# these balance the two at 800 px (web) and at 12 MP (measured on the matting set).
TILE = 16
FULL_TILE = 128
# Pixels computed at once, at full and at working resolution: bound the batch's arrays (~8 MB
# in all) whatever the photo's size (a tile's working window, tile + 2 halo a side, holds 13
# channels of float32).
BATCH_PIXELS = 32 * 64 * 64
BATCH_WINDOW_PIXELS = 32 * 34 * 34
EPS = 1e-4  # guided filter regulariser, for colours in 0..1: small, so edges follow the photo
# The filter's output is linear in the photo: sensor noise leaves faint haze beside an edge, and a
# blend of two colours spreads a little wider than the edge. Levels within CLEAN of 0 or 1 become
# 0 or 1 and the rest is stretched to 0..1. Tuned on the matting set (tests/benchmarks/
# bench_edges.py): 0.15 is best over all its photos; 0.1 would favour fur and defocus a little.
CLEAN = 0.15
# Guided filter passes (see _coefficients): the second sharpens an edge the model misplaced by up
# to a model pixel; where that pixel covers fewer than TWO_PASS_CELL of the photo's (an 800 px web
# photo: 2.5) one pass already spans three of them. Measured on the matting set at 800 x 600: one
# pass scores SAD 0.36x and gradient 0.23x of rembg's, two 0.32x and 0.16x, for 40% more time.
PASSES = 2
TWO_PASS_CELL = 4.0
RADIUS = 3.0  # the guided filter's radius, in model pixels: the model's edge is about that unsure
REACH = 1.5  # model pixels: how far from the model's edge the true edge may be found
_CUT = [0] * 128 + [255] * 128  # the model's mask at 0.5


@dataclass(frozen=True)
class Geometry:
    """Where the refinement works: the scale ``s`` (full pixels per working pixel), the guided
    filter's radius ``r`` in working pixels, and the working size."""

    s: int
    r: int
    size: tuple[int, int]  # working (width, height)
    cell: float  # one model pixel, in full-resolution pixels
    tile: int  # a tile's side in working pixels

    @classmethod
    def for_size(cls, width: int, height: int, model_side: int = 320) -> Geometry:
        long_side = max(width, height)
        cell = long_side / model_side  # one model pixel, in full-resolution pixels
        radius = RADIUS * cell  # in full-resolution pixels
        s = max(1, round(radius / WORKING_RADIUS), math.ceil(long_side / WORKING_SIDE))
        r = max(1, round(radius / s))
        tile = max(2, min(TILE, FULL_TILE // s))
        return cls(s, r, (math.ceil(width / s), math.ceil(height / s)), cell, tile)

    @property
    def reach(self) -> int:
        """Working pixels from the cut's boundary within which the edge may move: REACH model
        pixels. Beyond that the cut stands, so the refinement never opens or closes a hole
        far from an edge the model drew."""
        return min(self.halo, math.ceil(REACH * self.cell / self.s) + 1)

    @property
    def halo(self) -> int:
        """Working pixels a tile needs around it: two boxes of radius r per pass, plus one for
        bilinear upsampling."""
        return 2 * self.r * self.passes + 1

    @property
    def passes(self) -> int:
        return PASSES if self.cell >= TWO_PASS_CELL else 1


@dataclass(frozen=True)
class Refined:
    """A refined cut-out: the photo's colours with true edge colours, and the new alpha."""

    rgb: Image.Image  # mode RGB
    alpha: Image.Image  # mode L


def refine(
    image: Image.Image, mask: Image.Image, colours: bool = True, model_side: int = 320
) -> Refined:
    """Refine ``mask`` (the model's mask stretched to ``image``, mode L) along ``image``'s edges.

    With ``colours``, the pixels left semi-transparent get their estimated foreground colour;
    an RGB ``image`` is changed in place for that (the caller's own decoded copy: no 12 MP
    copy is made), an RGBA one is converted first. Extra memory: one byte a pixel (the new
    alpha) and at most a few tens of MB of working arrays and tiles, whatever the photo's size.
    """
    width, height = image.size
    rgb = image if image.mode == "RGB" else image.convert("RGB")
    alpha = mask.point(_CUT)  # the cut, with the edge tiles written over it
    geometry = Geometry.for_size(width, height, model_side)
    halo = geometry.halo
    guide = _working(rgb, geometry, 3)
    cut_work = _working(alpha, geometry, 1)[..., 0]
    tiles = _edge_tiles(cut_work, geometry)
    # around the photo the edge's own values; at the far sides also the last tiles' overhang
    tile = geometry.tile
    rows = (halo, halo + -cut_work.shape[0] % tile)
    cols = (halo, halo + -cut_work.shape[1] % tile)
    guide = np.pad(np.moveaxis(guide, -1, 0), ((0, 0), rows, cols), mode="edge")  # (3, h, w)
    cut_work = np.pad(cut_work, (rows, cols), mode="edge")
    upsample = _bilinear_weights(tile, geometry.s, 1)
    window = tile + 2 * halo
    per_batch = max(
        1, min(BATCH_PIXELS // (tile * geometry.s) ** 2, BATCH_WINDOW_PIXELS // window**2)
    )
    for start in range(0, len(tiles), per_batch):
        batch = tiles[start : start + per_batch]
        coefficients = _coefficients(guide, cut_work, batch, geometry)  # (n, 4, T+2, T+2)
        colour_means = None
        if colours:
            margin = 2 * geometry.r  # the colour means' window: their box shrinks it to T + 2
            colour_means = foreground.means(
                _windows(guide, batch, tile, halo, margin),
                _windows(cut_work, batch, tile, halo, margin),
                margin - 1,
                _box,
            )  # (n, 6, T+2, T+2)
        _apply(rgb, alpha, batch, coefficients, colour_means, upsample, geometry)
    return Refined(rgb, alpha)


def _apply(rgb, alpha, batch, coefficients, colour_means, upsample, geometry) -> None:
    """The full-resolution part for one batch of tiles: alpha = a . I + b from the upsampled
    coefficients, and the foreground colour of the pixels it leaves semi-transparent."""
    side = geometry.tile * geometry.s
    width, height = rgb.size
    boxes = [(tx * side, ty * side, tx * side + side, ty * side + side) for ty, tx in batch]
    pixels = np.stack([np.asarray(rgb.crop(box)) for box in boxes])  # beyond the photo: black
    # alpha = (a . I / 255 + b - CLEAN) / (1 - 2 CLEAN), the constants folded into a and b
    folded = coefficients * (1 / (1 - 2 * CLEAN))  # (n, 4, T+2, T+2)
    folded[:, :3] *= 1 / 255
    folded[:, 3] -= CLEAN / (1 - 2 * CLEAN)
    a = _upsample(folded, upsample)
    tile_alpha = a[:, 0] * pixels[..., 0]
    tile_alpha += a[:, 1] * pixels[..., 1]
    tile_alpha += a[:, 2] * pixels[..., 2]
    tile_alpha += a[:, 3]
    np.clip(tile_alpha, 0, 1, out=tile_alpha)
    levels = (tile_alpha * 255 + 0.5).astype(np.uint8)
    semi = None
    if colour_means is not None:
        semi = (levels > 0) & (levels < 255)
        where, ys, xs = np.nonzero(semi)
        found = foreground.estimate(
            pixels[where, ys, xs] * np.float32(1 / 255),
            tile_alpha[where, ys, xs],
            _sample(colour_means, upsample, where, ys, xs),
        )
        colours = np.zeros((*semi.shape, 3), np.uint8)
        colours[where, ys, xs] = found
        has_semi = semi.any(axis=(1, 2))
    for index, (left, top, right, bottom) in enumerate(boxes):
        rows, cols = min(bottom, height) - top, min(right, width) - left
        alpha.paste(Image.fromarray(levels[index, :rows, :cols]), (left, top))
        if semi is not None and has_semi[index]:
            rgb.paste(
                Image.fromarray(colours[index, :rows, :cols]),
                (left, top),
                Image.fromarray(semi[index, :rows, :cols].view(np.uint8) * 255),
            )


def _working(image: Image.Image, geometry: Geometry, bands: int) -> np.ndarray:
    """``image`` box-averaged to the working size, as float32 in 0..1, shape (h, w, bands)."""
    small = image.reduce(geometry.s) if geometry.s > 1 else image
    array = np.asarray(small, np.float32) * (1 / 255)
    return array.reshape(small.height, small.width, bands)


def _edge_tiles(cut_work: np.ndarray, geometry: Geometry) -> np.ndarray:
    """(ty, tx) of every tile whose pixels the filter can change: those within ``halo`` of a
    working pixel the cut's boundary crosses or runs along."""
    mixed = (cut_work > 0) & (cut_work < 1)
    # a boundary on the working grid's own lines leaves no mixed pixel: compare neighbours too
    mixed[:, 1:] |= cut_work[:, 1:] != cut_work[:, :-1]
    mixed[1:, :] |= cut_work[1:, :] != cut_work[:-1, :]
    mixed = mixed.astype(np.int32)
    h, w = mixed.shape
    integral = np.zeros((h + 1, w + 1), np.int64)
    integral[1:, 1:] = mixed.cumsum(0).cumsum(1)
    reach = geometry.reach
    tile = geometry.tile
    ty, tx = np.mgrid[0 : math.ceil(h / tile), 0 : math.ceil(w / tile)]
    y0 = np.clip(ty * tile - reach, 0, h)
    y1 = np.clip((ty + 1) * tile + reach, 0, h)
    x0 = np.clip(tx * tile - reach, 0, w)
    x1 = np.clip((tx + 1) * tile + reach, 0, w)
    count = integral[y1, x1] - integral[y0, x1] - integral[y1, x0] + integral[y0, x0]
    return np.argwhere(count > 0)


def _windows(padded: np.ndarray, tiles: np.ndarray, tile: int, pad: int, margin: int):
    """Each tile's window with ``margin`` working pixels around it, from an array (..., h, w)
    padded by ``pad``: shape (n, ..., T + 2 margin, T + 2 margin)."""
    size = tile + 2 * margin
    offset = pad - margin
    rows = tiles[:, 0, None] * tile + offset + np.arange(size)
    cols = tiles[:, 1, None] * tile + offset + np.arange(size)
    gathered = padded[..., rows[:, :, None], cols[:, None, :]]  # (..., n, S, S)
    return np.moveaxis(gathered, -3, 0) if padded.ndim > 2 else gathered


def _coefficients(guide, cut_work, tiles, geometry: Geometry) -> np.ndarray:
    """The guided filter's mean coefficients (a_r, a_g, a_b, b) for each tile and one pixel
    around it: shape (n, 4, T + 2, T + 2).

    With two passes, where the cut is off the photo's edge, the first pass's linear fit cannot
    match both and leaves a soft ramp at the true edge; fed with that (aligned) result, the
    second fits the edge closely and comes out sharper (at twice the cost).
    """
    r, pad = geometry.r, geometry.halo
    guide_w = _windows(guide, tiles, geometry.tile, pad, pad)  # (n, 3, S, S)
    p = _windows(cut_work, tiles, geometry.tile, pad, pad)  # (n, S, S)
    for _ in range(geometry.passes - 1):
        coefficients = _guided(guide_w, p, r)
        guide_w = guide_w[..., 2 * r : -2 * r, 2 * r : -2 * r]
        p = np.einsum("ncyx,ncyx->nyx", coefficients[:, :3], guide_w) + coefficients[:, 3]
        np.clip(p, 0, 1, out=p)
    return _guided(guide_w, p, r)


def _guided(guide_w: np.ndarray, p: np.ndarray, r: int) -> np.ndarray:
    """He et al.'s colour guided filter on windows (n, 3, S, S) and (n, S, S): the mean
    coefficients on the valid part, (n, 4, S - 4r, S - 4r)."""
    red, green, blue = guide_w[:, 0], guide_w[:, 1], guide_w[:, 2]
    squares = [red * red, red * green, red * blue, green * green, green * blue, blue * blue]
    products = np.stack([red, green, blue, p, red * p, green * p, blue * p, *squares], axis=1)
    means = _box(products, r)  # one pair of matrix products for all thirteen
    m_r, m_g, m_b, m_p = means[:, 0], means[:, 1], means[:, 2], means[:, 3]
    c_r, c_g, c_b = means[:, 4] - m_r * m_p, means[:, 5] - m_g * m_p, means[:, 6] - m_b * m_p
    rr = means[:, 7] - m_r * m_r + EPS
    rg = means[:, 8] - m_r * m_g
    rb = means[:, 9] - m_r * m_b
    gg = means[:, 10] - m_g * m_g + EPS
    gb = means[:, 11] - m_g * m_b
    bb = means[:, 12] - m_b * m_b + EPS
    # (Sigma + eps U)^-1 cov, by the adjugate of the symmetric 3 x 3 matrix
    i_rr, i_rg, i_rb = gg * bb - gb * gb, gb * rb - rg * bb, rg * gb - gg * rb
    i_gg, i_gb, i_bb = rr * bb - rb * rb, rb * rg - rr * gb, rr * gg - rg * rg
    inverse_det = 1 / (rr * i_rr + rg * i_rg + rb * i_rb)
    coefficients = np.empty((means.shape[0], 4, *means.shape[2:]), np.float32)
    coefficients[:, 0] = (i_rr * c_r + i_rg * c_g + i_rb * c_b) * inverse_det
    coefficients[:, 1] = (i_rg * c_r + i_gg * c_g + i_gb * c_b) * inverse_det
    coefficients[:, 2] = (i_rb * c_r + i_gb * c_g + i_bb * c_b) * inverse_det
    coefficients[:, 3] = (
        m_p - coefficients[:, 0] * m_r - coefficients[:, 1] * m_g - coefficients[:, 2] * m_b
    )
    return _box(coefficients, r)


def _box(values: np.ndarray, r: int) -> np.ndarray:
    """Mean over (2r+1)^2 windows of the last two axes, valid part only (each side shrinks by
    r): B @ values @ B.T with B a band of ones, BLAS's small products being faster here than
    running sums."""
    band = _band(values.shape[-1], r)
    return band @ values @ band.T


@functools.lru_cache(maxsize=16)
def _band(size: int, r: int) -> np.ndarray:
    width = 2 * r + 1
    band = np.zeros((size - 2 * r, size), np.float32)
    for offset in range(width):
        band[np.arange(size - 2 * r), np.arange(size - 2 * r) + offset] = 1 / width
    return band


def _bilinear_weights(tile: int, s: int, margin: int):
    """For each full-resolution row (or column) of a tile, the two working pixels of the window
    (tile + margin each side) it lies between, and the weight of the second; and the same as
    an interpolation matrix (T s, T + 2 margin)."""
    centres = (np.arange(tile * s) + 0.5) / s - 0.5 + margin  # in window coordinates
    low = np.floor(centres).astype(np.intp)
    weight = (centres - low).astype(np.float32)
    matrix = np.zeros((tile * s, tile + 2 * margin), np.float32)
    matrix[np.arange(tile * s), low] = 1 - weight
    matrix[np.arange(tile * s), low + 1] += weight
    return low, weight, matrix


def _upsample(windows: np.ndarray, weights) -> np.ndarray:
    """Bilinear upsampling of tile windows (n, C, T+2, T+2) to full tiles (n, C, T s, T s), as
    two small matrix products per window (BLAS: a third of the time of gathers)."""
    matrix = weights[2]
    return matrix @ windows @ matrix.T


def _sample(windows: np.ndarray, weights, where, ys, xs) -> np.ndarray:
    """Bilinear values of tile windows (n, C, T+2, T+2) at full-resolution pixels: pixel (ys,
    xs) of tile ``where``, each; shape (k, C)."""
    low, weight, _ = weights
    y0, x0 = low[ys], low[xs]
    wy, wx = weight[ys, None], weight[xs, None]
    top = windows[where, :, y0, x0] * (1 - wx) + windows[where, :, y0, x0 + 1] * wx
    bottom = windows[where, :, y0 + 1, x0] * (1 - wx) + windows[where, :, y0 + 1, x0 + 1] * wx
    return top * (1 - wy) + bottom * wy
