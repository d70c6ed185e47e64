"""Colour data from inputs (issue 10, items 9 and 10; issue 13's true colour): CMYK photos are
converted through their own profile (or a standard one), an embedded profile is used only when it
is sound, every colour output is tagged sRGB, and no output is renamed into place unless it reads
back. The delta E checks on colour patches are in test_colour_conversion.py.

Expected colours are worked out with ImageCms in the test (tests/corpus.py), from real photos and
Debian's real Ghostscript profiles (libgs-common).
"""

from __future__ import annotations

import io
import os
from pathlib import Path

import numpy as np
import pytest
from PIL import Image, PngImagePlugin

from fibuca_desktop.core.imaging.batch import Job
from fibuca_desktop.core.imaging.colour import profile_name as name_of
from fibuca_desktop.core.imaging.colour import srgb_icc
from fibuca_desktop.core.imaging.decode import Limits, decode
from fibuca_desktop.core.imaging.pipeline import PROCESSED, Pipeline
from fibuca_desktop.core.imaging.presets import get_preset
from fibuca_desktop.core.imaging.thumbnails import thumbnail
from tests import corpus

_MB = 1024 * 1024
SWOP = corpus.system_profile("default_cmyk.icc")  # Artifex CMYK SWOP profile
PS_CMYK = corpus.system_profile("ps_cmyk.icc")  # Artifex PS CMYK profile: other colours
GREY = corpus.system_profile("default_gray.icc")
SRGB_FILE = corpus.system_profile("srgb.icc")  # Artifex sRGB, 2.5 KB
ADOBE_RGB = corpus.system_profile("a98.icc")


def save(image: Image.Image, path: Path, **options) -> Path:
    image.save(path, **options)
    return path


def save_bytes(path: Path, data: bytes) -> Path:
    path.write_bytes(data)
    return path


def difference(got: Image.Image, want: Image.Image) -> np.ndarray:
    assert got.size == want.size
    return np.abs(np.asarray(got.convert("RGB"), np.int16) - np.asarray(want, np.int16))


@pytest.fixture(scope="module")
def car() -> Image.Image:
    return corpus.photo("car-1.jpg", 480)


# --- item 10: CMYK -------------------------------------------------------------------------


@pytest.mark.parametrize("photo", ["car-1.jpg", "girl-1.jpg", "animal-2.jpg"])
@pytest.mark.parametrize("profile_name", ["default_cmyk.icc", "ps_cmyk.icc"])
@pytest.mark.parametrize("fmt", ["JPEG", "TIFF"])
def test_cmyk_is_converted_through_its_embedded_profile(tmp_path, photo, profile_name, fmt):
    profile = corpus.system_profile(profile_name)  # how the CMYK numbers are to be read
    cmyk = corpus.to_cmyk(corpus.photo(photo, 400), SWOP)  # ps_cmyk.icc only works as a source
    data = corpus.encode(
        cmyk, fmt, icc_profile=profile, **({"quality": 95} if fmt == "JPEG" else {})
    )
    path = tmp_path / f"cmyk.{fmt.lower()}"
    path.write_bytes(data)
    decoded = decode(path, Limits())
    assert decoded.image.mode == "RGB"
    assert decoded.converted_from == name_of(profile)
    assert difference(decoded.image, corpus.cmyk_reference(data, profile)).max() <= 1


def test_the_standard_cmyk_profile_is_ghostscripts_swop():
    from fibuca_desktop.core.imaging.colour import standard_cmyk_profile

    assert standard_cmyk_profile() == (corpus.GHOSTSCRIPT_ICC / "default_cmyk.icc", SWOP)


def test_the_profile_matters_here(car):
    # Pillow's plain formula is 13-14 levels off on the SWOP profile: a test that could not fail
    # is a defect, so check that the reference is far from the formula.
    data = corpus.encode(corpus.to_cmyk(car, SWOP), "JPEG", quality=95, icc_profile=SWOP)
    with Image.open(io.BytesIO(data)) as image:
        plain = image.convert("RGB")
    assert difference(plain, corpus.cmyk_reference(data, SWOP)).mean() > 10


UNUSABLE_CMYK = {
    "none": None,
    "junk-15mb": corpus.junk_with_header(SWOP, 15 * _MB),
    "random-bytes": os.urandom(4000),
    "truncated-half": SWOP[: len(SWOP) // 2],
    "truncated-header": SWOP[:100],
    "grey-profile": GREY,
    "rgb-profile": SRGB_FILE,
    "cmyk-header-on-rgb-tags": corpus.icc_profile(b"CMYK"),
    "valid-but-9mb": corpus.with_private_tag(PS_CMYK, 9 * _MB),  # over the 8 MB conversion cap
}


@pytest.mark.parametrize("kind", UNUSABLE_CMYK)
def test_cmyk_without_a_usable_profile_uses_the_standard_one(tmp_path, car, kind):
    embedded = UNUSABLE_CMYK[kind]
    cmyk = corpus.to_cmyk(car, SWOP)
    options = {"icc_profile": embedded} if embedded else {}
    data = corpus.encode(cmyk, "JPEG", quality=95, **options)
    path = save_bytes(tmp_path / "untagged.jpg", data)
    decoded = decode(path, Limits())
    assert difference(decoded.image, corpus.cmyk_reference(data, SWOP)).max() <= 1
    assert decoded.converted_from == "Artifex CMYK SWOP Profile"
    assert len(decoded.notes) == 1 and "untagged.jpg" in decoded.notes[0]
    assert "standard CMYK profile" in decoded.notes[0] and "default_cmyk.icc" in decoded.notes[0]
    assert ("ignored" in decoded.notes[0]) == (embedded is not None)


def test_without_any_cmyk_profile_the_formula_is_used_and_said(tmp_path, car, monkeypatch):
    absent = (tmp_path / "absent.icc",)
    monkeypatch.setattr("fibuca_desktop.core.imaging.colour.STANDARD_CMYK_PROFILES", absent)
    path = save(car.convert("CMYK"), tmp_path / "plain.jpg", quality=95)
    decoded = decode(path, Limits())
    assert decoded.image.mode == "RGB"
    assert len(decoded.notes) == 1 and "plain.jpg" in decoded.notes[0]
    assert "approximate" in decoded.notes[0] and "libgs-common" in decoded.notes[0]


def test_cmyk_output_matches_the_reference_in_every_preset(engines, tmp_path, car):
    data = corpus.encode(corpus.to_cmyk(car, SWOP), "JPEG", quality=95, icc_profile=SWOP)
    path = save_bytes(tmp_path / "car.jpg", data)
    reference = corpus.cmyk_reference(data, SWOP)
    out = tmp_path / "car.png"
    # rembg's edges: refined ones estimate the product's colour at the edge, not the photo's
    preset = get_preset("transparent").with_options(edges="rembg")
    result = Pipeline(engines, preset, "u2netp").process(Job(path, out))
    assert result.status == PROCESSED, result.message
    with Image.open(out) as image:
        assert image.info.get("icc_profile") == srgb_icc()
        pixels = np.asarray(image)
    visible = pixels[:, :, 3] > 0  # straight colours: every visible pixel carries the photo's
    assert visible.mean() > 0.05
    assert difference(Image.fromarray(pixels[:, :, :3]), reference)[visible].max() <= 1
    web = tmp_path / "car.jpg.out.jpg"
    result = Pipeline(engines, get_preset("web"), "u2netp").process(Job(path, web))
    assert result.status == PROCESSED, result.message
    with Image.open(web) as image:
        assert (image.mode, image.info.get("icc_profile")) == ("RGB", srgb_icc())


def test_thumbnail_shows_the_converted_colours(tmp_path, car):
    data = corpus.encode(corpus.to_cmyk(car, SWOP), "JPEG", quality=95, icc_profile=SWOP)
    small = thumbnail(save_bytes(tmp_path / "car.jpg", data))

    def mean_colour(image: Image.Image) -> np.ndarray:  # comparable whatever the resampling
        return np.asarray(image.convert("RGB"), float).mean(axis=(0, 1))

    with Image.open(io.BytesIO(data)) as stored:
        plain = mean_colour(stored.convert("RGB"))
    want = mean_colour(corpus.cmyk_reference(data, SWOP))
    # A 48 px thumbnail converts colours after the 1/8 JPEG draft averaged the CMYK values, and
    # the conversion is not linear: 3-4 levels, against 10+ for the plain formula.
    assert np.abs(mean_colour(small) - want).max() <= 4
    assert np.abs(plain - want).max() > 10


# --- item 9: an RGB input's profile is untrusted; an output carries only our sRGB one -------------


BAD_RGB_PROFILES = {
    "junk-15mb-rgb-header": (corpus.junk_with_header(SRGB_FILE, 15 * _MB), "over the 8.0 mb"),
    "valid-but-9mb": (corpus.with_private_tag(SRGB_FILE, 9 * _MB), "over the 8.0 mb"),
    "truncated": (SRGB_FILE[:1500], "truncated"),
    "truncated-header": (SRGB_FILE[:64], "not an icc profile"),
    "size-field-lies": (SRGB_FILE + bytes(1000), "declares"),
    "random-bytes": (os.urandom(3000), "not an icc profile"),
    "grey-on-rgb": (GREY, "gray data"),
    "cmyk-on-rgb": (SWOP, "cmyk data"),
    "tag-table-zeroed": (SRGB_FILE[:132] + bytes(len(SRGB_FILE) - 132), "damaged"),
    "rgb-header-on-cmyk-tags": (SWOP[:16] + b"RGB " + SWOP[20:], "transform"),
}


@pytest.mark.parametrize("kind", BAD_RGB_PROFILES)
def test_an_unsound_profile_is_dropped_with_a_reason(tmp_path, car, kind):
    profile, reason = BAD_RGB_PROFILES[kind]
    path = save(car, tmp_path / "tagged.jpg", quality=90, icc_profile=profile)
    decoded = decode(path, Limits())
    assert decoded.converted_from is None
    assert len(decoded.notes) == 1 and "tagged.jpg" in decoded.notes[0]
    assert reason in decoded.notes[0].lower()
    with Image.open(path) as stored:
        assert difference(decoded.image, stored.convert("RGB")).max() == 0


def _png_with_huge_text(image: Image.Image, path: Path) -> Path:
    info = PngImagePlugin.PngInfo()
    info.add_text("comment", "x" * (3 * _MB), zip=True)  # 3 MB of text, a few KB compressed
    return save(image, path, pnginfo=info)


PNG_METADATA = {
    "rgb-15mb-profile": lambda car, path: save(
        car, path, icc_profile=corpus.junk_with_header(SRGB_FILE, 15 * _MB)
    ),
    "rgba-valid-2mb-profile": lambda car, path: save(
        car.convert("RGBA"), path, icc_profile=corpus.with_private_tag(SRGB_FILE, 2 * _MB)
    ),
    "palette-1.5mb-profile": lambda car, path: save(
        car.convert("P"), path, icc_profile=corpus.with_private_tag(SRGB_FILE, 3 * _MB // 2)
    ),
    "rgb-3mb-text": _png_with_huge_text,
}


@pytest.mark.parametrize("kind", PNG_METADATA)
def test_a_png_whose_metadata_pillow_refuses_is_still_processed(tmp_path, car, kind):
    # Pillow will not open a PNG whose profile or text decompresses to over 1 MB; the pixels are
    # fine, so the photo is decoded without that metadata instead of being called damaged.
    path = PNG_METADATA[kind](car, tmp_path / "big-metadata.png")
    decoded = decode(path, Limits())
    assert decoded.converted_from is None
    assert "big-metadata.png" in decoded.notes[0] and "too large" in decoded.notes[0]
    want = car if kind != "palette-1.5mb-profile" else car.convert("P").convert("RGB")
    assert difference(decoded.image, want).max() == 0


SRGB_PROFILES = {
    "artifex-srgb": SRGB_FILE,
    "littlecms-srgb": corpus.icc_profile(b"RGB "),
    "phone-c2": corpus.jpeg_profile("animal-2.jpg"),  # 524 bytes, named "c2"
    "iec61966": corpus.jpeg_profile("girl-1.jpg"),  # the classic 3 KB one
    "valid-2mb": corpus.with_private_tag(SRGB_FILE, 2 * _MB),  # over what a PNG may carry
    "just-over-1mb": corpus.with_private_tag(SRGB_FILE, _MB, bytes(_MB)),
}


@pytest.mark.parametrize("kind", SRGB_PROFILES)
def test_an_srgb_profile_leaves_the_pixels_as_they_are(tmp_path, car, kind):
    # Recognised by what it does to colours, not by its name.
    path = save(car, tmp_path / "tagged.jpg", quality=90, icc_profile=SRGB_PROFILES[kind])
    decoded = decode(path, Limits())
    assert (decoded.converted_from, decoded.notes) == (None, [])
    with Image.open(path) as stored:
        assert difference(decoded.image, stored.convert("RGB")).max() == 0


def test_a_wide_gamut_profile_converts_the_pixels(tmp_path, car):
    path = save(car, tmp_path / "adobe.png", icc_profile=ADOBE_RGB)
    decoded = decode(path, Limits())
    assert (decoded.converted_from, decoded.notes) == ("Artifex Software A98 ICC Profile", [])
    assert difference(decoded.image, car).max() > 20  # Adobe RGB numbers are not sRGB ones


@pytest.mark.parametrize("kind", ["junk-15mb-rgb-header", "valid-but-9mb", "truncated"])
@pytest.mark.parametrize("preset", ["transparent", "web"])
def test_the_output_opens_and_carries_no_bad_profile(engines, tmp_path, car, kind, preset):
    # The case: a huge profile copied into the output, which then no program could open.
    source = save(car, tmp_path / "tagged.jpg", quality=90, icc_profile=BAD_RGB_PROFILES[kind][0])
    out = tmp_path / f"out{get_preset(preset).extension}"
    result = Pipeline(engines, get_preset(preset), "u2netp").process(Job(source, out))
    assert result.status == PROCESSED, result.message
    with Image.open(out) as image:
        image.load()
        assert image.info.get("icc_profile") == srgb_icc()
    assert out.stat().st_size < _MB


@pytest.mark.parametrize("preset", ["transparent", "web", "mask"])
def test_no_other_metadata_is_copied_from_the_input(engines, tmp_path, car, preset):
    # Only a checked profile is carried over: EXIF (with its GPS position), XMP and comments of
    # the input never reach an output, so none of them can make it unreadable either.
    exif = Image.Exif()
    exif[0x010F] = "Camera maker " * 4000  # a 52 KB EXIF block
    exif[0x8825] = {2: (51.0, 30.0, 0.0)}  # GPS latitude
    source = save(car, tmp_path / "meta.jpg", exif=exif, comment=b"x" * 60_000, xmp=b"<x/>" * 9000)
    with Image.open(source) as stored:
        assert {"exif", "comment", "xmp"} <= set(stored.info)
    out = tmp_path / f"meta-out{get_preset(preset).extension}"
    result = Pipeline(engines, get_preset(preset), "u2netp").process(Job(source, out))
    assert result.status == PROCESSED, result.message
    with Image.open(out) as image:
        assert not {"exif", "comment", "xmp", "XML:com.adobe.xmp"} & set(image.info)
        assert not image.getexif()
