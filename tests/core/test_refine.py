"""Edge refinement on awkward geometry: every size, empty and full masks, holes, RGBA photos."""

from __future__ import annotations

import numpy as np
import pytest
from PIL import Image, ImageDraw

from fibuca_desktop.core.imaging.refine import Geometry, refine


def _scene(size, box, hole=None, seed=0):
    """A red box (with an optional hole) on a grey backdrop with noise, and a mask that is the
    box seen at 320 px on the long side, half a pixel off and stretched back: what the model's
    prediction looks like on the photo."""
    rng = np.random.default_rng(seed)
    truth = Image.new("L", size, 0)
    draw = ImageDraw.Draw(truth)
    draw.rectangle(box, fill=255)
    if hole:
        draw.ellipse(hole, fill=0)
    photo = np.where(np.asarray(truth)[..., None] > 0, (200, 40, 30), (150, 150, 150))
    photo = np.clip(photo + rng.normal(0, 2, photo.shape), 0, 255).astype(np.uint8)
    cell = max(size) / 320
    shift = max(1, round(cell / 2))
    blurred = truth.transform(size, Image.Transform.AFFINE, (1, 0, -shift, 0, 1, -shift))
    small_size = (max(1, round(size[0] / cell)), max(1, round(size[1] / cell)))
    small = blurred.resize(small_size, Image.Resampling.BOX)
    mask = small.resize(size, Image.Resampling.BILINEAR)
    return Image.fromarray(photo), mask, np.asarray(truth) > 127


@pytest.mark.parametrize("size", [(1, 1), (1, 7), (7, 1), (2, 3), (33, 17), (385, 5)])
def test_tiny_and_thin_photos_come_back_whole(size):
    photo = Image.new("RGB", size, (10, 200, 30))
    mask = Image.linear_gradient("L").resize(size)
    result = refine(photo.copy(), mask)
    assert result.alpha.size == size and result.alpha.mode == "L"
    assert result.rgb.size == size and result.rgb.mode == "RGB"


@pytest.mark.parametrize("level", [0, 127, 128, 255])
def test_a_uniform_mask_gives_its_cut_exactly(level):
    photo, _, _ = _scene((640, 480), (100, 100, 500, 400))
    result = refine(photo.copy(), Image.new("L", photo.size, level))
    expected = 255 if level >= 128 else 0
    assert np.all(np.asarray(result.alpha) == expected)
    assert result.rgb.tobytes() == photo.tobytes()  # no edge: no colour is touched


@pytest.mark.parametrize("size", [(641, 479), (1000, 1000), (2600, 1950)])
def test_the_edge_moves_to_the_photos_edge(size):
    width, height = size
    box = (width // 5, height // 5, width * 3 // 5, height * 4 // 5)
    photo, mask, truth = _scene(size, box)
    ours = np.asarray(refine(photo.copy(), mask).alpha) >= 128
    stretched = np.asarray(mask) >= 128
    assert (ours != truth).sum() < 0.25 * (stretched != truth).sum()


def test_far_from_the_edge_the_cut_is_kept_untouched():
    photo, mask, _ = _scene((2000, 1500), (400, 300, 1600, 1200))
    alpha = np.asarray(refine(photo.copy(), mask).alpha)
    geometry = Geometry.for_size(2000, 1500)
    reach = (geometry.halo + geometry.tile) * geometry.s
    inside = alpha[300 + reach : 1200 - reach, 400 + reach : 1600 - reach]
    outside = np.concatenate([alpha[: 300 - reach].ravel(), alpha[1200 + reach :].ravel()])
    assert inside.min() == 255 and outside.max() == 0


def test_a_hole_the_model_found_stays_open_and_none_is_made():
    size = (1600, 1200)
    photo, mask, truth = _scene(size, (300, 200, 1300, 1000), hole=(650, 450, 950, 750))
    ours = np.asarray(refine(photo.copy(), mask).alpha) >= 128
    assert not ours[560:640, 760:840].any()  # the hole's middle
    assert ours[250:300, 350:1250].all()  # the box's solid top band
    assert ours[truth].mean() > 0.995


def test_edge_colours_lose_the_backdrop():
    """Semi-transparent pixels carry the product's red, not the grey backdrop's."""
    size = (1200, 900)
    photo, mask, _ = _scene(size, (300, 200, 900, 700))
    soft = photo.resize((300, 225), Image.Resampling.BOX).resize(size, Image.Resampling.BICUBIC)
    result = refine(soft.copy(), mask)
    alpha = np.asarray(result.alpha)
    semi = (alpha > 20) & (alpha < 235)
    assert semi.sum() > 1000
    before = np.asarray(soft, np.float32)[semi]
    after = np.asarray(result.rgb, np.float32)[semi]
    red = np.array([200, 40, 30], np.float32)
    assert np.abs(after - red).mean() < 0.5 * np.abs(before - red).mean()


def test_an_rgb_photo_is_changed_in_place_an_rgba_one_is_not():
    photo, mask, _ = _scene((800, 600), (200, 150, 600, 450))
    rgb = photo.copy()
    assert refine(rgb, mask).rgb is rgb
    rgba = photo.convert("RGBA")
    before = rgba.tobytes()
    result = refine(rgba, mask)
    assert result.rgb.mode == "RGB" and rgba.tobytes() == before


def test_without_colours_only_the_alpha_changes():
    photo, mask, _ = _scene((800, 600), (200, 150, 600, 450))
    result = refine(photo.copy(), mask, colours=False)
    assert result.rgb.tobytes() == photo.tobytes()
    assert np.asarray(result.alpha).min() == 0 and np.asarray(result.alpha).max() == 255


def test_the_working_geometry_is_bounded_at_any_size():
    for side in (16, 800, 4000, 8000, 16000, 60000):
        geometry = Geometry.for_size(side, side * 3 // 4)
        assert max(geometry.size) <= 512 + 1
        assert 1 <= geometry.r <= 6


def _striped(size):
    """A photo with edges everywhere (vertical stripes a model pixel wide, alternating): every
    tile is an edge tile, the refinement's worst case."""
    width, height = size
    period = max(2, round(2 * max(size) / 320))
    columns = (np.arange(width) // period) % 2 == 0
    photo = np.where(columns[None, :, None], (200, 40, 30), (150, 150, 150)).astype(np.uint8)
    photo = np.broadcast_to(photo, (height, width, 3))
    mask = Image.fromarray(
        np.broadcast_to(np.where(columns, 200, 50).astype(np.uint8), (height, width))
    )
    return Image.fromarray(np.ascontiguousarray(photo)), mask


def test_working_memory_does_not_grow_with_the_photo():
    """numpy's allocations (traced) for the worst case stay within a few tens of MB, at 12 MP
    as at 40 MP (measured: 25 and 35 MB; unbatched, 650 and 1,200 MB): the tiles go in batches
    of bounded size. Pillow's own images (the new alpha, one byte a pixel) are not traced."""
    import tracemalloc

    peaks = {}
    for size in ((4000, 3000), (7300, 5475)):
        photo, mask = _striped(size)
        tracemalloc.start()
        result = refine(photo, mask)
        peaks[size] = tracemalloc.get_traced_memory()[1] / 2**20
        tracemalloc.stop()
        assert np.asarray(result.alpha).std() > 50  # the stripes survived: real work was done
        del photo, mask, result
    assert max(peaks.values()) < 64, peaks
    assert peaks[(7300, 5475)] < 2 * peaks[(4000, 3000)], peaks  # 3.3 times the pixels
