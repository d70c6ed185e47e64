"""What the editor's tools do to a full-resolution mask: brush strokes, edge-aware strokes and
the click-to-fill. numpy only (no Qt): the editor runs these off the GUI thread, tests call
them directly.

Every operation works inside the smallest box it can touch and returns that box with the new
pixels; the caller writes them, so an undo step only has to keep that box (``undo_stack.py``).
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass

import numpy as np

Box = tuple[int, int, int, int]  # x0, y0, x1, y1: half-open, in full-resolution pixels
KEEP, REMOVE = "keep", "remove"
# Edge-aware strokes only change pixels whose colour is within this RGB distance (of 441) of
# the colour under the brush's centre where it passed; a soft ramp over the last third.
EDGE_TOLERANCE = 48.0
FILL_TOLERANCE = 32.0  # the click-to-fill's colour distance, as image editors' magic wands
_DEAD_ZONE = 0.02
_GUIDED_EPS = 1e-3  # guided filter regularisation (guide in 0..1): keeps edges of contrast ~0.03


@dataclass(frozen=True)
class Stroke:
    """One press-drag-release of a brush, in full-resolution pixel coordinates."""

    points: tuple[tuple[float, float], ...]
    radius: float  # pixels of the full-resolution photo
    hardness: float  # 0..1: the share of the radius painted at full strength
    mode: str  # KEEP or REMOVE
    edge_aware: bool = False


def stroke_box(stroke: Stroke, size: tuple[int, int]) -> Box | None:
    """The pixels a stroke can touch, clipped to the photo; None when it misses the photo."""
    xs = [x for x, _ in stroke.points]
    ys = [y for _, y in stroke.points]
    r = stroke.radius * 1.5 + 2 if stroke.edge_aware else stroke.radius + 1  # see _mark_alike
    box = (
        max(0, int(np.floor(min(xs) - r))),
        max(0, int(np.floor(min(ys) - r))),
        min(size[0], int(np.ceil(max(xs) + r)) + 1),
        min(size[1], int(np.ceil(max(ys) + r)) + 1),
    )
    return box if box[0] < box[2] and box[1] < box[3] else None


def apply_stroke(photo: np.ndarray, mask: np.ndarray, stroke: Stroke) -> tuple[Box, np.ndarray]:
    """The stroke's box and the mask's new pixels there (``mask`` itself is not changed).

    Keep raises the mask towards 255 by the brush's coverage, Remove lowers it towards 0; under
    the brush's hard core (``hardness`` of the radius) the result is exactly 255 or 0. An
    edge-aware stroke only changes pixels like those under its centre line, with the border
    between them feathered by a guided filter on the photo, so a stroke along a product's edge
    removes the background and leaves the product."""
    box = stroke_box(stroke, (mask.shape[1], mask.shape[0]))
    if box is None:
        return (0, 0, 0, 0), mask[:0, :0].copy()
    x0, y0, x1, y1 = box
    coverage = np.zeros((y1 - y0, x1 - x0), np.float32)
    alike = np.zeros_like(coverage) if stroke.edge_aware else None
    points = stroke.points if len(stroke.points) > 1 else stroke.points * 2
    for start, end in itertools.pairwise(points):
        _paint_segment(coverage, box, start, end, stroke)
        if alike is not None:
            _mark_alike(alike, box, start, end, stroke, photo)
    if alike is not None:
        grey = _grey(photo[y0:y1, x0:x1])
        feathered = guided_filter(grey, alike, max(1, round(stroke.radius / 8)))
        # A small dead zone at both ends: the filter's faint overshoot across a strong edge
        # (1-2 levels of 255) must leave the other side exactly as it was.
        coverage *= np.clip((feathered - _DEAD_ZONE) / (1 - 2 * _DEAD_ZONE), 0, 1)
    old = mask[y0:y1, x0:x1].astype(np.float32)
    new = old + (255.0 - old) * coverage if stroke.mode == KEEP else old * (1.0 - coverage)
    return box, np.clip(np.rint(new), 0, 255).astype(np.uint8)


def _paint_segment(coverage, box: Box, start, end, stroke: Stroke) -> None:
    """Raise ``coverage`` to the brush's profile along one segment (a capsule), in its own box."""
    window = _segment_box(box, start, end, stroke.radius)
    if window is None:
        return
    sx0, sy0, sx1, sy1 = window
    ys = np.arange(sy0, sy1, dtype=np.float32)[:, None] + 0.5
    xs = np.arange(sx0, sx1, dtype=np.float32)[None, :] + 0.5
    (ax, ay), (bx, by) = start, end
    dx, dy = bx - ax, by - ay
    length2 = dx * dx + dy * dy
    if length2 > 0:
        t = np.clip(((xs - ax) * dx + (ys - ay) * dy) / length2, 0, 1)
    else:
        t = np.zeros((1, 1), np.float32)
    distance = np.hypot(xs - (ax + t * dx), ys - (ay + t * dy)) / max(stroke.radius, 0.5)
    part = coverage[sy0 - box[1] : sy1 - box[1], sx0 - box[0] : sx1 - box[0]]
    np.maximum(part, brush_profile(distance, stroke.hardness), out=part)


def _mark_alike(alike, box: Box, start, end, stroke: Stroke, photo) -> None:
    """Raise ``alike`` to how close each pixel near the segment is to the colour under its
    start: the brush's footprint and a margin, so the guided filter sees both sides of an edge
    wherever the footprint reaches."""
    window = _segment_box(box, start, end, stroke.radius * 1.5 + 2)
    if window is None:
        return
    sx0, sy0, sx1, sy1 = window
    likeness = _likeness(photo[sy0:sy1, sx0:sx1], _colour_at(photo, start))
    part = alike[sy0 - box[1] : sy1 - box[1], sx0 - box[0] : sx1 - box[0]]
    np.maximum(part, likeness, out=part)


def _segment_box(box: Box, start, end, reach: float) -> Box | None:
    """The pixels within ``reach`` of the segment's bounding box, clipped to ``box``."""
    sx0 = max(box[0], int(np.floor(min(start[0], end[0]) - reach)))
    sy0 = max(box[1], int(np.floor(min(start[1], end[1]) - reach)))
    sx1 = min(box[2], int(np.ceil(max(start[0], end[0]) + reach)) + 1)
    sy1 = min(box[3], int(np.ceil(max(start[1], end[1]) + reach)) + 1)
    return (sx0, sy0, sx1, sy1) if sx0 < sx1 and sy0 < sy1 else None


def brush_profile(distance: np.ndarray, hardness: float) -> np.ndarray:
    """1 within ``hardness`` of the radius, then a smoothstep down to 0 at the rim."""
    hard = min(max(hardness, 0.0), 1.0)
    if hard >= 1.0:
        return (distance <= 1.0).astype(np.float32)
    t = np.clip((1.0 - distance) / (1.0 - hard), 0, 1)
    return (t * t * (3 - 2 * t)).astype(np.float32)


def _colour_at(photo: np.ndarray, point) -> np.ndarray:
    """The mean colour of the 5 x 5 pixels around ``point``."""
    h, w = photo.shape[:2]
    x, y = int(min(max(point[0], 0), w - 1)), int(min(max(point[1], 0), h - 1))
    patch = photo[max(0, y - 2) : y + 3, max(0, x - 2) : x + 3]
    return patch.reshape(-1, photo.shape[2])[:, :3].mean(axis=0)


def _likeness(patch: np.ndarray, colour: np.ndarray, tolerance: float = EDGE_TOLERANCE):
    """1 for pixels of ``colour``, falling to 0 at ``tolerance`` (RGB distance)."""
    distance = np.sqrt(((patch[..., :3].astype(np.float32) - colour) ** 2).sum(axis=2))
    ramp = tolerance / 3
    return np.clip((tolerance - distance) / ramp, 0, 1).astype(np.float32)


def _grey(rgb: np.ndarray) -> np.ndarray:
    weights = np.asarray([0.299, 0.587, 0.114], np.float32) / 255
    return rgb[..., :3].astype(np.float32) @ weights


def guided_filter(guide: np.ndarray, p: np.ndarray, r: int, eps: float = _GUIDED_EPS):
    """He et al.'s guided filter (grey guide), with box means over (2r+1)^2 windows."""
    mean_i, mean_p = box_mean(guide, r), box_mean(p, r)
    var_i = box_mean(guide * guide, r) - mean_i * mean_i
    cov_ip = box_mean(guide * p, r) - mean_i * mean_p
    a = cov_ip / (var_i + eps)
    b = mean_p - a * mean_i
    return box_mean(a, r) * guide + box_mean(b, r)


def box_mean(values: np.ndarray, r: int) -> np.ndarray:
    """The mean over each pixel's (2r+1)^2 window, shrunk at the borders (integral image)."""
    h, w = values.shape
    total = np.zeros((h + 1, w + 1), np.float64)
    np.cumsum(np.cumsum(values, axis=0, dtype=np.float64), axis=1, out=total[1:, 1:])
    ys0, ys1 = np.clip(np.arange(h) - r, 0, h), np.clip(np.arange(h) + r + 1, 0, h)
    xs0, xs1 = np.clip(np.arange(w) - r, 0, w), np.clip(np.arange(w) + r + 1, 0, w)
    sums = total[ys1][:, xs1] - total[ys0][:, xs1] - total[ys1][:, xs0] + total[ys0][:, xs0]
    counts = (ys1 - ys0)[:, None] * (xs1 - xs0)[None, :]
    return (sums / counts).astype(np.float32)


def fill_region(
    photo: np.ndarray, point: tuple[float, float], tolerance: float = FILL_TOLERANCE
) -> tuple[Box, np.ndarray] | None:
    """The connected region (4-neighbours) of pixels within ``tolerance`` of the colour at
    ``point``, grown by one pixel to take in its anti-aliased rim: the box and a boolean
    array over it. None when ``point`` is outside the photo."""
    h, w = photo.shape[:2]
    x, y = int(np.floor(point[0])), int(np.floor(point[1]))
    if not (0 <= x < w and 0 <= y < h):
        return None
    colour = _colour_at(photo, point)
    similar = np.zeros((h, w), bool)
    tolerance2 = tolerance * tolerance
    for row in range(0, h, 512):  # in bands: no 12 MP float arrays at once
        band = photo[row : row + 512, :, :3].astype(np.float32) - colour
        similar[row : row + 512] = np.einsum("ijk,ijk->ij", band, band) <= tolerance2
    similar[y, x] = True  # the clicked pixel always belongs to its region
    region = connected_region(similar, x, y)
    ys, xs = np.nonzero(region.any(axis=1))[0], np.nonzero(region.any(axis=0))[0]
    box = (
        max(0, int(xs[0]) - 1),
        max(0, int(ys[0]) - 1),
        min(w, int(xs[-1]) + 2),
        min(h, int(ys[-1]) + 2),
    )
    inside = region[box[1] : box[3], box[0] : box[2]]
    grown = inside.copy()
    grown[1:] |= inside[:-1]
    grown[:-1] |= inside[1:]
    grown[:, 1:] |= inside[:, :-1]
    grown[:, :-1] |= inside[:, 1:]
    return box, grown


def connected_region(similar: np.ndarray, x: int, y: int) -> np.ndarray:
    """The 4-connected component of ``similar`` holding (x, y), as a boolean array.

    Works on horizontal runs: each run is visited once and its neighbours in the rows above and
    below found by binary search, so the cost follows the region's runs, not its pixels."""
    h, w = similar.shape
    edges = np.diff(np.pad(similar, ((0, 0), (1, 1))).view(np.int8), axis=1)
    start_rows, starts = np.nonzero(edges == 1)
    _, ends = np.nonzero(edges == -1)  # exclusive; row-major order pairs each end with its start
    first = np.searchsorted(start_rows, np.arange(h + 1))
    row_runs = first[y], first[y + 1]
    seed = row_runs[0] + int(np.searchsorted(ends[row_runs[0] : row_runs[1]], x, "right"))
    visited = np.zeros(len(starts), bool)
    visited[seed] = True
    stack = [seed]
    while stack:
        run = stack.pop()
        row, s, e = start_rows[run], starts[run], ends[run]
        for near in (row - 1, row + 1):
            if not 0 <= near < h:
                continue
            lo, hi = first[near], first[near + 1]
            j0 = lo + int(np.searchsorted(ends[lo:hi], s, "right"))
            j1 = lo + int(np.searchsorted(starts[lo:hi], e, "left"))
            for j in range(j0, j1):
                if not visited[j]:
                    visited[j] = True
                    stack.append(j)
    runs = np.nonzero(visited)[0]
    marks = np.zeros((h, w + 1), np.int32)
    np.add.at(marks, (start_rows[runs], starts[runs]), 1)
    np.add.at(marks, (start_rows[runs], ends[runs]), -1)
    return np.cumsum(marks, axis=1)[:, :w] > 0


def apply_fill(mask: np.ndarray, box: Box, region: np.ndarray, mode: str) -> np.ndarray:
    """The mask's new pixels over ``box``: 255 (KEEP) or 0 (REMOVE) inside ``region``."""
    x0, y0, x1, y1 = box
    new = mask[y0:y1, x0:x1].copy()
    new[region] = 255 if mode == KEEP else 0
    return new
