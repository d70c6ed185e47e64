"""Small, upright RGB thumbnails for the queue, decoded through the core's limits."""

from __future__ import annotations

from pathlib import Path

from PIL import Image

from fibuca_desktop.core.imaging.decode import Limits
from fibuca_desktop.core.imaging.preview_images import load_preview

THUMBNAIL_SIDE = 48


def thumbnail(path: Path, side: int = THUMBNAIL_SIDE, limits: Limits | None = None) -> Image.Image:
    """An RGB image at most ``side`` pixels; JPEGs decode at 1/8 scale. Raises ImageRejected."""
    image = load_preview(path, limits or Limits(), side)
    if image.mode == "RGBA":  # show transparency on white, as a file manager would
        flat = Image.new("RGB", image.size, (255, 255, 255))
        flat.paste(image, (0, 0), image)
        image = flat
    return image
