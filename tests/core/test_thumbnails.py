"""Queue thumbnails: small, upright, flattened, and refused like any other bad input."""

from __future__ import annotations

import pytest

from fibuca_desktop.core.errors import ImageRejected
from fibuca_desktop.core.imaging.thumbnails import thumbnail
from tests.conftest import PHOTOS


def test_thumbnails_are_small_upright_rgb():
    cloth = thumbnail(PHOTOS / "cloth-1.jpg")  # EXIF-rotated, 739x1134 upright
    assert cloth.mode == "RGB" and max(cloth.size) == 48 and cloth.height > cloth.width
    plants = thumbnail(PHOTOS / "plants-1.jpg")  # really an RGBA PNG
    assert plants.mode == "RGB" and max(plants.size) == 48


def test_a_bad_file_is_rejected_with_the_usual_message(tmp_path):
    broken = tmp_path / "broken.jpg"
    broken.write_bytes((PHOTOS / "car-2.jpg").read_bytes()[:2000])
    with pytest.raises(ImageRejected, match="truncated or damaged"):
        thumbnail(broken)
