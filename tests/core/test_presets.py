"""Every preset and override, on real photos through the real pipeline and model."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from PIL import Image, ImageOps

from fibuca_desktop.core.errors import UsageError
from fibuca_desktop.core.imaging.batch import Job
from fibuca_desktop.core.imaging.colour import srgb_icc
from fibuca_desktop.core.imaging.decode import Limits, decode
from fibuca_desktop.core.imaging.pipeline import PROCESSED, Pipeline
from fibuca_desktop.core.imaging.presets import (
    DEFAULT_EDGES,
    EDGES,
    PRESETS,
    get_preset,
    parse_background,
)
from tests.conftest import PHOTOS


def run(engines, preset, photo: Path, out: Path) -> Image.Image:
    result = Pipeline(engines, preset, "u2netp").process(Job(photo, out))
    assert result.status == PROCESSED, result.message
    image = Image.open(out)
    image.load()
    assert (result.width, result.height) == image.size
    return image


def upright_size(photo: Path) -> tuple[int, int]:
    with Image.open(photo) as image:
        return ImageOps.exif_transpose(image).size


def test_presets_are_the_documented_four():
    assert sorted(PRESETS) == ["mask", "square", "transparent", "web"]
    web = PRESETS["web"]
    assert (web.max_side, web.format, web.quality, web.background) == (
        800,
        "jpeg",
        85,
        (255, 255, 255),
    )
    assert PRESETS["square"].canvas == 1200


@pytest.mark.parametrize("name", ["cloth-1.jpg", "plants-1.jpg", "car-3.jpg"])
def test_transparent_is_full_size_rgba_with_zeroed_background(engines, tmp_path, name):
    photo = PHOTOS / name
    image = run(engines, get_preset("transparent"), photo, tmp_path / "out.png")
    assert image.format == "PNG" and image.mode == "RGBA"
    assert image.size == upright_size(photo)  # cloth-1 carries an EXIF orientation
    pixels = np.asarray(image)
    invisible = pixels[:, :, 3] == 0
    assert invisible.any() and (pixels[:, :, 3] == 255).any()
    assert not pixels[invisible].any()  # fully transparent pixels are all zero


def test_transparent_keeps_true_colours_on_soft_edges(engines, tmp_path):
    """rembg darkens half-transparent pixels; ours keep the photo's colour (straight alpha).
    With rembg's edges, so the photo's pixels are the reference: refined edges estimate the
    product's own colour there instead (refine.py)."""
    photo = PHOTOS / "girl-1.jpg"
    preset = get_preset("transparent").with_options(edges="rembg")
    image = np.asarray(run(engines, preset, photo, tmp_path / "out.png"))
    original = np.asarray(Image.open(photo).convert("RGB")).astype(int)
    soft = (image[:, :, 3] > 20) & (image[:, :, 3] < 235)
    assert soft.sum() > 100
    assert np.abs(image[:, :, :3][soft].astype(int) - original[soft]).max() <= 1


def test_web_fits_800_on_white_jpeg(engines, tmp_path):
    photo = PHOTOS / "cloth-1.jpg"  # 739x1134 upright
    image = run(engines, get_preset("web"), photo, tmp_path / "out.jpg")
    assert image.format == "JPEG" and image.mode == "RGB"
    assert max(image.size) == 800
    width, height = upright_size(photo)
    assert image.size == (round(width * 800 / height), 800)
    corner = np.asarray(image)[:20, -20:].mean()
    assert corner > 245  # the background became white


def test_web_never_upscales(engines, tmp_path):
    image = run(engines, get_preset("web"), PHOTOS / "girl-1.jpg", tmp_path / "out.jpg")
    assert image.size == (600, 399)


def test_square_centres_the_subject_with_a_margin(engines, tmp_path):
    image = run(engines, get_preset("square"), PHOTOS / "cloth-1.jpg", tmp_path / "out.jpg")
    assert image.size == (1200, 1200) and image.mode == "RGB"
    subject = np.asarray(image.convert("L")) < 230
    ys, xs = np.nonzero(subject)
    left, right, top, bottom = xs.min(), 1199 - xs.max(), ys.min(), 1199 - ys.max()
    assert min(top, bottom) >= 50  # 5% margin on the long side (60 px, less soft edges)
    assert abs(left - right) <= 12 and abs(top - bottom) <= 12  # centred


def test_square_override_canvas_and_transparent(engines, tmp_path):
    preset = get_preset("square").with_options(max_side=500, background="transparent", format="png")
    image = run(engines, preset, PHOTOS / "car-1.jpg", tmp_path / "out.png")
    assert image.size == (500, 500) and image.mode == "RGBA"
    assert np.asarray(image)[0, 0, 3] == 0


@pytest.mark.parametrize("edges", EDGES)
def test_mask_is_the_alpha_of_transparent(engines, tmp_path, edges):
    """The mask preset follows the same edges switch as the cut-out."""
    photo = PHOTOS / "car-1.jpg"
    mask = run(engines, get_preset("mask").with_options(edges=edges), photo, tmp_path / "m.png")
    cutout = run(
        engines, get_preset("transparent").with_options(edges=edges), photo, tmp_path / "c.png"
    )
    assert mask.mode == "L" and mask.size == cutout.size
    assert np.array_equal(np.asarray(mask), np.asarray(cutout.getchannel("A")))


def test_overrides_format_quality_background(engines, tmp_path):
    photo = PHOTOS / "car-1.jpg"
    webp = run(
        engines, get_preset("transparent").with_options(format="webp"), photo, tmp_path / "a.webp"
    )
    assert webp.format == "WEBP" and webp.mode == "RGBA"
    red = run(
        engines, get_preset("web").with_options(background="#ff0000"), photo, tmp_path / "red.jpg"
    )
    assert tuple(np.asarray(red)[2, 2]) == pytest.approx((254, 0, 0), abs=3)
    low = get_preset("web").with_options(quality=20, max_side=300)
    small = run(engines, low, photo, tmp_path / "low.jpg")
    assert max(small.size) == 300
    assert (tmp_path / "low.jpg").stat().st_size < (tmp_path / "red.jpg").stat().st_size


def test_every_colour_output_is_tagged_srgb_whatever_the_input_carried(engines, tmp_path):
    adobe = (Path("/usr/share/color/icc/ghostscript") / "a98.icc").read_bytes()
    source = tmp_path / "tagged.jpg"
    Image.open(PHOTOS / "girl-1.jpg").save(source, quality=90, icc_profile=adobe)
    for preset, name in (("transparent", "t.png"), ("web", "w.jpg"), ("transparent", "t.webp")):
        chosen = get_preset(preset)
        if name.endswith(".webp"):
            chosen = chosen.with_options(format="webp")
        out = run(engines, chosen, source, tmp_path / name)
        assert out.info.get("icc_profile") == srgb_icc(), name
    mask = run(engines, get_preset("mask"), source, tmp_path / "m.png")
    assert "icc_profile" not in mask.info  # a mask is data, not colours


def test_jpeg_draft_decodes_only_what_the_output_needs(tmp_path):
    big = tmp_path / "big.jpg"
    Image.open(PHOTOS / "car-2.jpg").resize((4000, 3000)).save(big, quality=90)
    drafted = decode(big, Limits(), max_side=800).image
    assert drafted.size == (1000, 750)  # 1/4 scale: the 800x600 output needs no more
    assert decode(big, Limits()).image.size == (4000, 3000)


@pytest.mark.parametrize(
    ("options", "words"),
    [
        ({"background": "transparent"}, "JPEG cannot store transparency"),
        ({"format": "gif"}, "use png, jpeg or webp"),
        ({"quality": 0}, "1 to 100"),
        ({"margin": 0.7}, "0 to 0.49"),
        ({"max_side": 5}, "16 to 20000"),
        ({"background": "not-a-colour"}, "is not a colour"),
        ({"edges": "sharp"}, "use refined or rembg"),
    ],
)
def test_bad_overrides_say_what_to_do(options, words):
    with pytest.raises(UsageError, match=words):
        get_preset("web").with_options(**options)


@pytest.mark.parametrize("name", PRESETS)
def test_every_preset_offers_the_edges_switch(name):
    """Issue 11: the refinement is on every preset that shows an edge, the mask's included."""
    preset = get_preset(name)
    assert preset.edges == DEFAULT_EDGES == "refined"
    assert "edges" in preset.applicable_options()
    assert preset.with_options(edges="rembg").edges == "rembg"
    assert preset.with_options(edges=" Rembg ").edges == "rembg"  # as typed in a settings file
    assert preset.with_options(edges=None) == preset


def test_an_unknown_edges_value_says_what_to_use():
    with pytest.raises(UsageError) as refused:
        get_preset("web").with_options(edges="sharp")
    assert str(refused.value) == "--edges sharp is not known; use refined or rembg."


def test_background_parsing():
    assert parse_background("white") == (255, 255, 255)
    assert parse_background("#102030") == (16, 32, 48)
    assert parse_background("Transparent") is None
