"""True edge colours: what a semi-transparent edge pixel's colour is without the backdrop.

A pixel at the edge is a mix, I = a F + (1 - a) B, of the product's colour F and the backdrop's
B. Writing I itself as the cut-out's colour drags the backdrop along: a grey or green fringe on
any new background. Blur fusion (Forte and Pitie 2021, "Approximate fast foreground colour
estimation") estimates F from local means of the surely-product and surely-backdrop colours
nearby, then corrects it with the compositing equation:

    F = F' + a (I - a F' - (1 - a) B')

The means are computed at the refinement's working resolution on the same tiles (refine.py),
weighted by the working pixels the cut puts wholly inside (for F') or wholly outside (for B').
"""

from __future__ import annotations

import numpy as np


def means(guide: np.ndarray, cut: np.ndarray, radius: int, box) -> np.ndarray:
    """Local means of the product's and the backdrop's colours: (n, 6, h, w), the valid part
    of box averages of ``radius`` over each tile's window (``guide`` (n, 3, S, S), ``cut``
    (n, S, S)). Where no such pixel is near, the window's own colour stands in (the correction
    then keeps the photo's colour)."""
    inside = (cut >= 1).astype(np.float32)[:, None]
    outside = (cut <= 0).astype(np.float32)[:, None]
    stacked = np.concatenate([guide * inside, inside, guide * outside, outside, guide], axis=1)
    averaged = box(stacked, radius)
    plain = averaged[:, 8:11]
    result = np.empty((averaged.shape[0], 6, *averaged.shape[2:]), np.float32)
    for offset, weight_at in ((0, 3), (3, 7)):
        weight = averaged[:, weight_at : weight_at + 1]
        source = averaged[:, weight_at - 3 : weight_at]
        found = weight > 1e-6
        result[:, offset : offset + 3] = np.where(found, source / np.maximum(weight, 1e-6), plain)
    return result


def estimate(pixels: np.ndarray, alpha: np.ndarray, fg_bg: np.ndarray) -> np.ndarray:
    """The foreground colours (uint8, k x 3) of k pixels, from the photo's ``pixels`` (k x 3,
    0..1), their ``alpha`` (k, 0..1) and the means at their places, ``fg_bg`` (k x 6)."""
    a = alpha[..., None]
    fg, bg = fg_bg[..., :3], fg_bg[..., 3:]
    colours = fg + a * (pixels - a * fg - (1 - a) * bg)
    return np.rint(np.clip(colours, 0, 1) * 255).astype(np.uint8)
