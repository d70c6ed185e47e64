"""The streaming RGBA PNG writer: Pillow decodes exactly what a whole-image composition holds."""

from __future__ import annotations

import io
import zlib

import numpy as np
import pytest
from PIL import Image, ImageCms

from fibuca_desktop.core.imaging import png_stream
from fibuca_desktop.core.imaging.png_stream import compose_strip, write_rgba_png
from tests.conftest import PHOTOS


def encode(rgb, alpha, icc=None) -> Image.Image:
    buffer = io.BytesIO()
    write_rgba_png(buffer, rgb, alpha, icc)
    image = Image.open(io.BytesIO(buffer.getvalue()))
    image.load()  # verifies every chunk's CRC and the zlib stream
    return image


def expected(rgb, alpha) -> np.ndarray:
    """Straight colours, alpha from the mask, invisible pixels all zero (computed independently)."""
    pixels = np.dstack([np.asarray(rgb), np.asarray(alpha)])
    pixels[pixels[:, :, 3] == 0] = 0
    return pixels


@pytest.fixture(scope="module")
def photo_and_mask(engines):
    with Image.open(PHOTOS / "girl-1.jpg") as photo:
        rgb = photo.convert("RGB")
    return rgb, engines.get("u2netp").predict(rgb)


def test_real_cutout_round_trips_exactly(photo_and_mask):
    rgb, alpha = photo_and_mask
    decoded = encode(rgb, alpha)
    assert (decoded.format, decoded.mode, decoded.size) == ("PNG", "RGBA", rgb.size)
    assert np.array_equal(np.asarray(decoded), expected(rgb, alpha))
    assert (np.asarray(alpha) == 0).any()  # the zeroing was exercised


@pytest.mark.parametrize("size", [(1, 1), (1, 700), (700, 1), (333, 257), (64, 512)])
def test_awkward_sizes_across_strip_boundaries(size, monkeypatch):
    monkeypatch.setattr(png_stream, "STRIP_ROWS", 64)
    rng = np.random.default_rng(sum(size))
    rgb = Image.fromarray(rng.integers(0, 256, (size[1], size[0], 3), dtype=np.uint8), "RGB")
    alpha = Image.fromarray(rng.choice([0, 1, 128, 254, 255], (size[1], size[0])).astype(np.uint8))
    assert np.array_equal(np.asarray(encode(rgb, alpha)), expected(rgb, alpha))


def test_standard_zlib_gives_the_same_pixels(photo_and_mask, monkeypatch):
    rgb, alpha = photo_and_mask
    monkeypatch.setattr(png_stream, "_deflate", zlib)
    assert np.array_equal(np.asarray(encode(rgb, alpha)), expected(rgb, alpha))


def test_icc_profile_is_embedded(photo_and_mask):
    rgb, alpha = photo_and_mask
    profile = ImageCms.ImageCmsProfile(ImageCms.createProfile("sRGB")).tobytes()
    assert encode(rgb, alpha, profile).info["icc_profile"] == profile


def test_compose_strip_is_a_window_of_the_whole(photo_and_mask):
    rgb, alpha = photo_and_mask
    strip = compose_strip(rgb, alpha, (0, 100, rgb.width, 140))
    assert np.array_equal(np.asarray(strip), expected(rgb, alpha)[100:140])


def test_wrong_inputs_are_refused():
    with pytest.raises(ValueError, match="same size"):
        write_rgba_png(io.BytesIO(), Image.new("RGB", (4, 4)), Image.new("L", (4, 5)))
    with pytest.raises(ValueError):
        write_rgba_png(io.BytesIO(), Image.new("RGBA", (4, 4)), Image.new("L", (4, 4)))
