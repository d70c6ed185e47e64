"""Preview copies: small, upright, alpha kept, and a bad file rejected with a message."""

from __future__ import annotations

from pathlib import Path

import pytest
from PIL import Image

from fibuca_desktop.core.errors import ImageRejected
from fibuca_desktop.core.imaging.decode import Limits, read_header
from fibuca_desktop.core.imaging.preview_images import PREVIEW_MAX_SIDE, load_preview


def test_a_large_photo_is_shrunk_upright_with_its_aspect_ratio(photos: Path):
    path = photos / "cloth-1.jpg"  # 739x1134 JPEG with an EXIF orientation tag
    header = read_header(path, Limits())
    width, height = header.width, header.height  # after EXIF orientation
    assert max(width, height) > PREVIEW_MAX_SIDE  # otherwise this test proves nothing
    image = load_preview(path, Limits())
    assert max(image.size) == PREVIEW_MAX_SIDE
    assert image.mode == "RGB"
    assert image.width / image.height == pytest.approx(width / height, rel=0.01)


def test_a_small_cutout_keeps_its_size_and_alpha(tmp_path: Path):
    path = tmp_path / "small.png"
    Image.new("RGBA", (40, 30), (0, 160, 0, 0)).save(path)
    image = load_preview(path, Limits())
    assert (image.mode, image.size) == ("RGBA", (40, 30))
    assert image.getpixel((5, 5))[3] == 0


def test_missing_and_damaged_files_are_rejected(tmp_path: Path):
    with pytest.raises(ImageRejected, match=r"Cannot read gone\.png"):
        load_preview(tmp_path / "gone.png", Limits())
    damaged = tmp_path / "damaged.png"
    Image.new("RGBA", (200, 200), (1, 2, 3, 255)).save(damaged)
    damaged.write_bytes(damaged.read_bytes()[:60])
    with pytest.raises(ImageRejected, match="truncated or damaged"):
        load_preview(damaged, Limits())
