"""What the editor shows: the photo and its mask at every zoom, without touching 12 MP per paint.

A pyramid of halved copies (photo and mask) is built once; a view composes only the visible
part of the level closest above the screen's scale (at most ~4x the widget's pixels), and
after an edit only the changed box of each level is recomputed.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from PIL import Image
from PySide6.QtGui import QColor, QImage

from fibuca_desktop.ui.process.editor.mask_edits import Box

CHECKER, WHITE, BLACK, COLOUR, TINT = "checker", "white", "black", "colour", "tint"
VIEW_MODES = {
    CHECKER: "Cut-out on checkerboard",
    WHITE: "Cut-out on white",
    BLACK: "Cut-out on black",
    COLOUR: "Cut-out on a colour…",
    TINT: "Original, removed part in red",
}
_TINT = np.asarray([230, 30, 40], np.uint16)
_TINT_STRENGTH = 140  # of 255: the red over what is removed, the photo still readable under it
_SMALLEST = 256  # the pyramid stops once a level fits in this many pixels


@dataclass
class Level:
    factor: int  # full-resolution pixels per level pixel, per side
    rgb: np.ndarray  # h x w x 3 uint8
    mask: np.ndarray  # h x w uint8


class DisplayPyramid:
    """Level 0 is the full-resolution photo and mask themselves (the mask is read live)."""

    def __init__(self, photo: np.ndarray, mask: np.ndarray) -> None:
        self.size = (mask.shape[1], mask.shape[0])
        self.levels = [Level(1, photo, mask)]
        image = Image.fromarray(photo)
        factor = 2
        while max(self.size) / (factor // 2) > _SMALLEST:
            rgb = np.asarray(image.reduce(factor))
            small = np.asarray(Image.fromarray(mask).reduce(factor)).copy()
            self.levels.append(Level(factor, rgb, small))
            factor *= 2

    def level_for(self, scale: float) -> Level:
        """The smallest level still at least as sharp as ``scale`` screen pixels per pixel."""
        chosen = self.levels[0]
        for level in self.levels[1:]:
            if 1 / level.factor >= scale:
                chosen = level
        return chosen

    def update(self, box: Box) -> None:
        """Recompute every reduced level over ``box`` (full-resolution pixels) from level 0."""
        mask = self.levels[0].mask
        for level in self.levels[1:]:
            f = level.factor
            x0, y0 = box[0] // f * f, box[1] // f * f
            x1, y1 = min(self.size[0], -(-box[2] // f) * f), min(self.size[1], -(-box[3] // f) * f)
            reduced = np.asarray(Image.fromarray(mask[y0:y1, x0:x1]).reduce(f))
            level.mask[
                y0 // f : y0 // f + reduced.shape[0], x0 // f : x0 // f + reduced.shape[1]
            ] = reduced


def compose(level: Level, crop: Box, mode: str, alpha: int | None = None) -> QImage:
    """The level's pixels over ``crop`` as they look in ``mode``: the cut-out as premultiplied
    RGBA (drawn over its background), or the tinted original (opaque). ``alpha`` replaces the
    mask by a constant (255: all kept, 0: all removed), for the live stroke's preview."""
    x0, y0, x1, y1 = crop
    rgb = level.rgb[y0:y1, x0:x1]
    if alpha is not None and (alpha == 255 or mode != TINT):
        if alpha == 0:
            return QImage()  # nothing but the background
        return _qimage(np.ascontiguousarray(rgb), QImage.Format.Format_RGB888)
    a = (
        np.full(rgb.shape[:2], alpha, np.uint16)
        if alpha is not None
        else level.mask[y0:y1, x0:x1].astype(np.uint16)
    )
    a = a[..., None]
    if mode == TINT:
        removed = (255 - a) * _TINT_STRENGTH // 255
        out = (rgb * (255 - removed) + _TINT * removed + 127) // 255
        return _qimage(out.astype(np.uint8), QImage.Format.Format_RGB888)
    out = np.empty((*rgb.shape[:2], 4), np.uint8)
    out[..., :3] = (rgb * a + 127) // 255
    out[..., 3] = a[..., 0]
    return _qimage(out, QImage.Format.Format_RGBA8888_Premultiplied)


def background_colour(mode: str, colour: QColor) -> QColor | None:
    """The plain colour under the cut-out in ``mode``; None for the checkerboard and the tint."""
    return {WHITE: QColor("white"), BLACK: QColor("black"), COLOUR: colour}.get(mode)


def _qimage(pixels: np.ndarray, fmt: QImage.Format) -> QImage:
    height, width = pixels.shape[:2]
    image = QImage(pixels.data, width, height, pixels.strides[0], fmt)
    image.keep = pixels  # QImage borrows the buffer: keep it alive as long as the image
    return image
