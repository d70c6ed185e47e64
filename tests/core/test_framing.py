"""Framing on a canvas: the product's share along its longer side, standing on the bottom
margin, and one scale for a whole batch."""

from __future__ import annotations

import pytest
from PIL import Image

from fibuca_desktop.core.errors import UsageError
from fibuca_desktop.core.imaging.framing import fitting_scale, frame, same_scale
from fibuca_desktop.core.imaging.presets import get_preset


def _product(size, box) -> tuple[Image.Image, Image.Image]:
    rgb = Image.new("RGB", size, (200, 10, 10))
    alpha = Image.new("L", size, 0)
    alpha.paste(255, box)
    return rgb, alpha


@pytest.mark.parametrize("fill", [0.5, 0.85, 0.9, 1.0])
def test_the_longer_side_takes_the_fill(fill):
    rgb, alpha = _product((900, 700), (100, 200, 700, 500))  # a 600 x 300 product
    framed = frame(rgb, alpha, (1000, 1000), fill)
    left, top, right, bottom = framed.box
    assert right - left == round(600 * fill * 1000 / 600)
    assert abs((bottom - top) - 300 * framed.scale) <= 1
    assert abs((left + right) / 2 - 500) <= 1 and abs((top + bottom) / 2 - 500) <= 1


def test_bottom_anchor_stands_the_product_on_the_bottom_margin():
    rgb, alpha = _product((900, 700), (100, 200, 700, 500))
    framed = frame(rgb, alpha, (1000, 1000), 0.8, "bottom")
    left, _top, right, bottom = framed.box
    assert bottom == 1000 - 100  # the margin the fill leaves: (1 - 0.8) / 2 of the side
    assert abs((left + right) / 2 - 500) <= 1 and right - left == 800


def test_a_tall_product_fits_by_its_height():
    rgb, alpha = _product((500, 900), (100, 0, 300, 900))
    framed = frame(rgb, alpha, (1000, 1000), 0.9)
    assert framed.box[3] - framed.box[1] == 900


def test_one_scale_keeps_a_small_product_small():
    scale = same_scale([600.0, 300.0, 0.0], (1000, 1000), 0.9)
    assert scale == pytest.approx(1.5)
    big = frame(*_product((900, 700), (100, 200, 700, 500)), (1000, 1000), 0.9, scale=scale)
    small = frame(*_product((900, 700), (100, 200, 400, 350)), (1000, 1000), 0.9, scale=scale)
    assert big.box[2] - big.box[0] == 900 and small.box[2] - small.box[0] == 450
    assert same_scale([0.0], (1000, 1000), 0.9) is None


def test_a_fixed_scale_never_lets_the_product_leave_the_canvas():
    framed = frame(*_product((900, 700), (0, 0, 900, 700)), (500, 500), 0.9, scale=3.0)
    left, top, right, bottom = framed.box
    assert (left, right) == (0, 500) and top >= 0 and bottom <= 500
    assert framed.scale == pytest.approx(500 / 900)


def test_fitting_scale_is_the_smaller_of_the_two_sides():
    assert fitting_scale((200, 100), (1000, 1000), 0.5) == 2.5


def test_fill_and_anchor_need_a_canvas():
    with pytest.raises(UsageError, match="--fill and --anchor place the product on a canvas"):
        get_preset("web").with_options(fill=0.8)
    with pytest.raises(UsageError, match="--anchor sideways is not known"):
        get_preset("square").with_options(anchor="sideways")
    assert get_preset("square").with_options(fill=0.7).product_share == 0.7
    assert get_preset("square").product_share == pytest.approx(0.9)  # its 5% margin
