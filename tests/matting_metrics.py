"""Matting metrics in a band around the true edge, for a cut-out against exact ground truth.

The prediction is what our PNG outputs hold: RGBA uint8, straight (not premultiplied) alpha.
The truth is the synthetic set's float alpha (0..1) and uint8 foreground (tests/matting_set.py).

Definitions (all but the IoUs are errors: 0 is perfect):
- **band**: pixels within ``r`` of the true alpha's 0.5 contour, on either side (a pixel is
  within ``r`` when the Euclidean distance between its centre and the nearest pixel centre on
  the other side of alpha = 0.5 is at most ``r``), plus every pixel whose true alpha is strictly
  between 0 and 1 (fur and hair reach beyond the contour); ``r`` = 0.4% of the image diagonal
  (20 px at 4000 x 3000), at least 1 px. The image border is not a contour here.
- **SAD**: sum over the band of |alpha - alpha_true|, divided by 1000 (as in the matting
  literature; it grows with the image's size, so compare it only on the same image).
- **MSE**: mean over the band of (alpha - alpha_true)^2.
- **gradient error** (Rhemann et al. 2009, as the Composition-1k evaluation code computes it):
  gradient magnitudes of both alphas by first-order Gaussian derivative filters (sigma 1.4, the
  kernel cut where the Gaussian falls under 1% and L2-normalised, edges replicated), then the sum
  over the band of the squared difference of the magnitudes, divided by 1000.
- **Boundary IoU** (Cheng et al. 2021): both alphas cut at 0.5; each mask's boundary region is
  its pixels within d of its contour (Euclidean), d = round(0.4% of the diagonal), at least 1;
  the image border counts as contour (their code pads the mask with zeros); IoU of the regions.
- **IoU**: whole-image IoU of the two masks cut at 0.5 (1.0 when both are empty).
- **composite error**: both cut-outs composited (alpha F + (1 - alpha) C, in 8-bit sRGB
  values, F the straight colour) on pure green (0, 255, 0) and on black, then the mean absolute
  difference over the band's pixels and the three channels, in 8-bit levels. ``composite`` is
  the mean of the two.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
from scipy import ndimage

BAND_FRACTION = 0.004
GRADIENT_SIGMA = 1.4
GREEN = (0.0, 255.0, 0.0)
BLACK = (0.0, 0.0, 0.0)
METRICS = (
    "sad",
    "mse",
    "gradient",
    "boundary_iou",
    "iou",
    "composite_green",
    "composite_black",
    "composite",
)
HIGHER_IS_BETTER = {"boundary_iou", "iou"}


@dataclass(frozen=True)
class Truth:
    """A sample's truth with what every evaluation against it shares, computed once."""

    alpha: np.ndarray  # (H, W) float 0..1
    foreground: np.ndarray  # (H, W, 3) uint8
    band: np.ndarray  # (H, W) bool
    mask: np.ndarray  # alpha >= 0.5
    boundary: np.ndarray  # the mask's boundary region for Boundary IoU
    boundary_width: int
    window: tuple[slice, slice]  # the band's bounding box, grown by the gradient kernel
    gradient: np.ndarray  # the true alpha's gradient magnitude over ``window``


def band_radius(shape: tuple[int, ...], fraction: float = BAND_FRACTION) -> float:
    return max(1.0, fraction * math.hypot(shape[0], shape[1]))


def boundary_width(shape: tuple[int, ...], fraction: float = BAND_FRACTION) -> int:
    """Cheng et al.'s ``dilation``: round(fraction x diagonal), at least 1."""
    return max(1, round(fraction * math.hypot(shape[0], shape[1])))


def near_contour(mask: np.ndarray, distance: float, border_is_contour: bool) -> np.ndarray:
    """The pixels of ``mask`` whose centre is at most ``distance`` from the nearest pixel not in
    ``mask`` (outside the image counts as not in it when ``border_is_contour``).

    The distance transform runs only on the box around the contour grown by ``distance``:
    nothing farther can qualify, and the nearest outside pixel of any pixel that qualifies lies
    inside that box, so the result is exact.
    """
    if border_is_contour:
        padded = np.pad(mask, 1, mode="constant", constant_values=False)
    else:
        padded = np.pad(mask, 1, mode="edge")
    inner = padded[1:-1, 1:-1]
    edge = inner & ~(
        padded[:-2, 1:-1] & padded[2:, 1:-1] & padded[1:-1, :-2] & padded[1:-1, 2:]
    )  # mask pixels with a 4-neighbour outside
    result = np.zeros(mask.shape, bool)
    rows, cols = np.nonzero(np.any(edge, axis=1))[0], np.nonzero(np.any(edge, axis=0))[0]
    if not len(rows):
        return result
    grow = math.ceil(distance) + 1
    top, bottom = max(0, rows[0] - grow), min(mask.shape[0], rows[-1] + 1 + grow)
    left, right = max(0, cols[0] - grow), min(mask.shape[1], cols[-1] + 1 + grow)
    crop = padded[top : bottom + 2, left : right + 2]  # padded coordinates are shifted by 1
    inside = ndimage.distance_transform_edt(crop)[1:-1, 1:-1]
    result[top:bottom, left:right] = mask[top:bottom, left:right] & (inside <= distance)
    return result


def edge_band(alpha: np.ndarray, radius: float) -> np.ndarray:
    """Pixels within ``radius`` of the 0.5 contour (either side), plus all 0 < alpha < 1."""
    mask = alpha >= 0.5
    band = near_contour(mask, radius, False) | near_contour(~mask, radius, False)
    return band | ((alpha > 0) & (alpha < 1))


def gaussian_gradient(alpha: np.ndarray, sigma: float = GRADIENT_SIGMA) -> np.ndarray:
    """Gradient magnitude with the Composition-1k code's filters, computed separably: its 2-D
    kernel g(i) dg(j) / ||g dg|| is the outer product of the L2-normalised 1-D kernels."""
    g, dg = gradient_kernels(sigma)
    smooth_rows = ndimage.convolve1d(alpha, g, axis=0, mode="nearest")
    gx = ndimage.convolve1d(smooth_rows, dg, axis=1, mode="nearest")
    smooth_cols = ndimage.convolve1d(alpha, g, axis=1, mode="nearest")
    gy = ndimage.convolve1d(smooth_cols, dg, axis=0, mode="nearest")
    return np.sqrt(gx * gx + gy * gy)


def gradient_kernels(sigma: float = GRADIENT_SIGMA) -> tuple[np.ndarray, np.ndarray]:
    """(Gaussian, its derivative), each L2-normalised, half size as in the reference code."""
    epsilon = 1e-2
    half = math.ceil(sigma * math.sqrt(-2 * math.log(math.sqrt(2 * math.pi) * sigma * epsilon)))
    x = np.arange(-half, half + 1, dtype=np.float64)
    g = np.exp(-(x**2) / (2 * sigma**2)) / (sigma * math.sqrt(2 * math.pi))
    dg = -x * g / sigma**2
    return g / np.linalg.norm(g), dg / np.linalg.norm(dg)


def prepare_truth(
    alpha: np.ndarray, foreground: np.ndarray, fraction: float = BAND_FRACTION
) -> Truth:
    alpha = np.asarray(alpha, np.float32)
    band = edge_band(alpha, band_radius(alpha.shape, fraction))
    mask = alpha >= 0.5
    width = boundary_width(alpha.shape, fraction)
    window = _window(band)
    return Truth(
        alpha,
        np.asarray(foreground),
        band,
        mask,
        near_contour(mask, width, True),
        width,
        window,
        gaussian_gradient(alpha[window].astype(np.float64)),
    )


def _window(band: np.ndarray) -> tuple[slice, slice]:
    """The band's bounding box grown by the gradient kernel's half size (so the filters see the
    same pixels as on the whole image), clipped to the image."""
    half = (len(gradient_kernels()[0]) - 1) // 2
    rows, cols = np.nonzero(band.any(axis=1))[0], np.nonzero(band.any(axis=0))[0]
    if not len(rows):
        return slice(0, 0), slice(0, 0)
    return (
        slice(max(0, rows[0] - half), min(band.shape[0], rows[-1] + 1 + half)),
        slice(max(0, cols[0] - half), min(band.shape[1], cols[-1] + 1 + half)),
    )


def evaluate(prediction: np.ndarray, truth: Truth) -> dict[str, float]:
    """Every metric of ``prediction`` (RGBA uint8, straight alpha) against ``truth``."""
    prediction = np.asarray(prediction)
    if prediction.shape != (*truth.alpha.shape, 4) or prediction.dtype != np.uint8:
        raise ValueError(
            f"prediction must be uint8 {(*truth.alpha.shape, 4)}, not "
            f"{prediction.dtype} {prediction.shape}"
        )
    alpha = prediction[..., 3].astype(np.float32) / 255
    mask = prediction[..., 3] >= 128  # alpha >= 0.5
    where = np.nonzero(truth.band)
    a, a_true = alpha[where], truth.alpha[where]
    difference = a - a_true
    window = truth.window
    gradient = gaussian_gradient(alpha[window].astype(np.float64))
    gradient_error = (gradient - truth.gradient) ** 2
    result = {
        "sad": float(np.abs(difference).sum() / 1000),
        "mse": float((difference.astype(np.float64) ** 2).mean()) if len(a) else 0.0,
        "gradient": float(gradient_error[truth.band[window]].sum() / 1000),
        "boundary_iou": _iou(near_contour(mask, truth.boundary_width, True), truth.boundary),
        "iou": _iou(mask, truth.mask),
    }
    colour = prediction[..., :3][where].astype(np.float32)
    colour_true = truth.foreground[where].astype(np.float32)
    for name, backdrop in (("composite_green", GREEN), ("composite_black", BLACK)):
        result[name] = _composite_error(a, colour, a_true, colour_true, backdrop)
    result["composite"] = (result["composite_green"] + result["composite_black"]) / 2
    return result


def _composite_error(a, colour, a_true, colour_true, backdrop) -> float:
    if not len(a):
        return 0.0
    backdrop = np.asarray(backdrop, np.float32)
    ours = a[:, None] * colour + (1 - a[:, None]) * backdrop
    theirs = a_true[:, None] * colour_true + (1 - a_true[:, None]) * backdrop
    return float(np.abs(ours - theirs).mean())


def _iou(a: np.ndarray, b: np.ndarray) -> float:
    union = np.count_nonzero(a | b)
    return float(np.count_nonzero(a & b) / union) if union else 1.0
