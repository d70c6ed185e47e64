"""Small, upright copies of a photo and its cut-out for the preview: decoded with the same limits
as processing, never larger than a screen needs, so previewing never holds full-size pixels.
"""

from __future__ import annotations

from pathlib import Path

from PIL import Image

from fibuca_desktop.core.imaging.decode import Limits, decode

PREVIEW_MAX_SIDE = 1024


def load_preview(path: Path, limits: Limits, max_side: int = PREVIEW_MAX_SIDE) -> Image.Image:
    """An 8-bit RGB or RGBA image whose longest side is at most ``max_side`` (never enlarged).

    Raises ``ImageRejected`` with a message for a person when the file is missing, damaged or over
    the limits.
    """
    image = decode(path, limits, max_side=max_side).image
    image.thumbnail((max_side, max_side), Image.Resampling.BICUBIC)
    return image
