"""True colour (issue 13): inputs with an embedded ICC profile are converted to sRGB before anything
else sees them, and outputs are tagged sRGB. Checked on colour patches with known sRGB values (the
24 of a ColorChecker), embedded losslessly in real profiles from Debian's packages, within delta E
2000 of 2 (the issue's bound), and on a real photo through the whole pipeline.

The Adobe RGB and ROMM (ProPhoto) numbers are worked out by the standards' own formulas in
tests/colour_science.py, not by LittleCMS, which the code under test uses. CMYK has no formula: the
patches are separated through the profile as a prepress tool would (LittleCMS, relative
colorimetric), which is how real CMYK photos are made.
"""

from __future__ import annotations

import io
from pathlib import Path

import numpy as np
import pytest
from PIL import Image, ImageCms

from fibuca_desktop.core.imaging.batch import Job
from fibuca_desktop.core.imaging.colour import is_srgb, srgb_icc
from fibuca_desktop.core.imaging.decode import Limits, decode
from fibuca_desktop.core.imaging.pipeline import PROCESSED, Pipeline
from fibuca_desktop.core.imaging.presets import get_preset
from tests import colour_science as cs
from tests import corpus

BOUND = 2.0  # delta E 2000, the issue's
PATCH = 16  # pixels per patch side; the middle pixel of each is read back
PATCHES = np.array(list(cs.COLORCHECKER.values()), np.uint8)
ICC = Path("/usr/share/color/icc")
# Real RGB profiles: Ghostscript's (libgs-common) and, where installed, colord's and
# icc-profiles-free's (CI installs both).
RGB_PROFILES = {
    "ghostscript-a98": (ICC / "ghostscript/a98.icc", cs.ADOBE_RGB),
    "colord-adobe-rgb": (ICC / "colord/AdobeRGB1998.icc", cs.ADOBE_RGB),
    "compatible-with-adobe-rgb": (ICC / "compatibleWithAdobeRGB1998.icc", cs.ADOBE_RGB),
    "ghostscript-romm": (ICC / "ghostscript/rommrgb.icc", cs.ROMM_RGB),
    "colord-prophoto": (ICC / "colord/ProPhotoRGB.icc", cs.ROMM_RGB),
}


def _profile(path: Path) -> bytes:
    if not path.is_file():
        pytest.skip(f"{path} is not installed (apt-get install libgs-common colord-data)")
    return path.read_bytes()


def chart(patches: np.ndarray = PATCHES) -> np.ndarray:
    """The patches as a 4 x 6 chart of PATCH-pixel squares (8-bit, any 3 channels)."""
    rows = patches.reshape(4, 6, patches.shape[-1])
    return np.repeat(np.repeat(rows, PATCH, axis=0), PATCH, axis=1)


def read_patches(image: Image.Image) -> np.ndarray:
    middle = PATCH // 2
    return np.asarray(image.convert("RGB"))[middle::PATCH, middle::PATCH].reshape(-1, 3)


def delta_e(got: np.ndarray, want: np.ndarray = PATCHES) -> np.ndarray:
    return cs.delta_e_2000(cs.srgb_to_lab(want), cs.srgb_to_lab(got))


def decoded_patches(path: Path) -> np.ndarray:
    return read_patches(decode(path, Limits()).image)


# --- the measure itself --------------------------------------------------------

# Sharma, Wu and Dalal (2005), "The CIEDE2000 color-difference formula: implementation notes,
# supplementary test data": pairs 1, 2, 3, 4, 7, 13, 16, 21, 20, 25, 26, 30, 34.
SHARMA = [
    ((50, 2.6772, -79.7751), (50, 0, -82.7485), 2.0425),
    ((50, 3.1571, -77.2803), (50, 0, -82.7485), 2.8615),
    ((50, 2.8361, -74.0200), (50, 0, -82.7485), 3.4412),
    ((50, -1.3802, -84.2814), (50, 0, -82.7485), 1.0000),
    ((50, 0, 0), (50, -1, 2), 2.3669),
    ((50, 2.49, -0.001), (50, -2.49, 0.0009), 7.1792),
    ((50, 2.49, -0.001), (50, -2.49, 0.0011), 7.2195),
    ((50, 2.5, 0), (50, 3.1736, 0.5854), 1.0000),
    ((60.2574, -34.0099, 36.2677), (60.4626, -34.1751, 39.4387), 1.2644),
    ((22.7233, 20.0904, -46.6940), (23.0331, 14.9730, -42.5619), 2.0373),
    ((36.4612, 47.8580, 18.3852), (36.2715, 50.5065, 21.2231), 1.4146),
    ((90.8027, -2.0831, 1.4410), (91.1528, -1.6435, 0.0447), 1.4441),
    ((2.0776, 0.0795, -1.1350), (0.9033, -0.0636, -0.5514), 0.9082),
]


def test_delta_e_2000_matches_the_published_test_data():
    first, second, want = (np.array(column, float) for column in zip(*SHARMA, strict=True))
    assert cs.delta_e_2000(first, second) == pytest.approx(want, abs=1e-4)
    assert cs.delta_e_2000(second, first) == pytest.approx(want, abs=1e-4)  # symmetric


def test_the_srgb_formulas_match_the_standard():
    # IEC 61966-2-1's matrix, to its 4 decimals; white maps to L* 100 and nothing else.
    assert cs.SRGB.to_xyz == pytest.approx(
        np.array([[0.4124, 0.3576, 0.1805], [0.2126, 0.7152, 0.0722], [0.0193, 0.1192, 0.9505]]),
        abs=1e-4,
    )
    assert cs.srgb_to_lab(np.array([255, 255, 255])) == pytest.approx([100, 0, 0], abs=1e-6)


# --- RGB profiles --------------------------------------------------------


@pytest.mark.parametrize("fmt", ["PNG", "TIFF"])
@pytest.mark.parametrize("kind", RGB_PROFILES)
def test_wide_gamut_patches_convert_within_delta_e_2(tmp_path, kind, fmt):
    path, space = RGB_PROFILES[kind]
    profile = _profile(path)
    numbers = chart(cs.convert(PATCHES, cs.SRGB, space))  # the chart as that space's numbers
    source = tmp_path / f"chart.{fmt.lower()}"
    Image.fromarray(numbers).save(source, fmt, icc_profile=profile)
    decoded = decode(source, Limits())
    assert (
        decoded.converted_from
        == ImageCms.getProfileDescription(ImageCms.ImageCmsProfile(str(path))).strip()
    )
    assert delta_e(read_patches(decoded.image)).max() <= BOUND
    # Negative check: the same numbers read as sRGB, as without the conversion, are far off.
    untagged = tmp_path / f"untagged.{fmt.lower()}"
    Image.fromarray(numbers).save(untagged, fmt)
    misread = delta_e(decoded_patches(untagged))
    assert misread.max() > 5 and misread.mean() > 2.5


def test_palette_and_transparent_images_are_converted_too(tmp_path):
    profile = _profile(ICC / "ghostscript/a98.icc")
    numbers = chart(cs.convert(PATCHES, cs.SRGB, cs.ADOBE_RGB))
    alpha = np.tile(np.linspace(0, 255, numbers.shape[1]).astype(np.uint8), (numbers.shape[0], 1))
    rgba = Image.fromarray(np.dstack([numbers, alpha]), "RGBA")
    rgba.save(tmp_path / "rgba.png", icc_profile=profile)
    decoded = decode(tmp_path / "rgba.png", Limits())
    assert decoded.image.mode == "RGBA"
    assert np.array_equal(np.asarray(decoded.image)[..., 3], alpha)  # alpha is not a colour
    assert delta_e(read_patches(decoded.image)).max() <= BOUND
    # 24 colours fit a palette exactly
    Image.fromarray(numbers).quantize(64, dither=Image.Dither.NONE).save(
        tmp_path / "palette.png", icc_profile=profile
    )
    assert delta_e(decoded_patches(tmp_path / "palette.png")).max() <= BOUND


def test_a_grey_profile_converts_a_grey_photo_to_neutral_srgb(tmp_path):
    ps_gray = _profile(ICC / "ghostscript/ps_gray.icc")  # not the sRGB curve
    ramp = np.tile(np.arange(256, dtype=np.uint8), (8, 1))
    Image.fromarray(ramp, "L").save(tmp_path / "grey.png", icc_profile=ps_gray)
    decoded = np.asarray(decode(tmp_path / "grey.png", Limits()).image).astype(int)
    assert np.ptp(decoded, axis=2).max() <= 1  # neutral greys stay neutral
    source = ImageCms.ImageCmsProfile(str(ICC / "ghostscript/ps_gray.icc"))
    want = ImageCms.profileToProfile(
        Image.fromarray(ramp, "L"), source, corpus.SRGB, 1, outputMode="RGB"
    )
    assert np.abs(decoded - np.asarray(want, int)).max() <= 1
    assert np.abs(decoded[0, :, 0] - np.arange(256)).max() > 5  # the profile mattered
    s_gray = _profile(ICC / "ghostscript/default_gray.icc")  # sGray: the sRGB curve
    Image.fromarray(ramp, "L").save(tmp_path / "sgray.png", icc_profile=s_gray)
    same = decode(tmp_path / "sgray.png", Limits())
    assert same.converted_from is None
    assert np.array_equal(np.asarray(same.image)[..., 0], ramp)


# --- CMYK --------------------------------------------------------


@pytest.mark.parametrize("profile_name", ["default_cmyk.icc"])  # ps_cmyk.icc cannot separate
def test_cmyk_patches_convert_within_delta_e_2(tmp_path, profile_name):
    path = ICC / "ghostscript" / profile_name
    profile = _profile(path)
    cmyk_profile = ImageCms.ImageCmsProfile(str(path))
    separate = ImageCms.buildTransform(corpus.SRGB, cmyk_profile, "RGB", "CMYK", 1)
    inks = np.asarray(ImageCms.applyTransform(Image.fromarray(PATCHES[None]), separate))[0]
    # A patch whose separation puts an ink at 100% lies on or beyond the press's gamut: CMYK
    # cannot hold it, so no conversion can give it back.
    printable = (inks < 255).all(axis=1)
    assert printable.sum() >= 18, f"{profile_name}: only {printable.sum()} patches printable"
    source = tmp_path / "chart.tif"
    Image.fromarray(chart(inks), "CMYK").save(source, "TIFF", icc_profile=profile)
    errors = delta_e(decoded_patches(source))
    assert errors[printable].max() <= BOUND, dict(
        zip(cs.COLORCHECKER, errors.round(2), strict=True)
    )
    with Image.open(source) as image:  # Pillow's plain formula, as before the conversion
        plain = delta_e(read_patches(image.convert("RGB")))
    assert plain[printable].mean() > 5


# --- outputs --------------------------------------------------------


def test_the_output_tag_is_srgb_and_reads_back_unchanged(tmp_path):
    tag = srgb_icc()
    assert len(tag) == 588 and tag == srgb_icc()
    assert is_srgb(tag)
    assert ImageCms.getProfileDescription(ImageCms.ImageCmsProfile(io.BytesIO(tag))).strip() == (
        "sRGB built-in"
    )
    Image.fromarray(chart()).save(tmp_path / "ours.png", icc_profile=tag)
    decoded = decode(tmp_path / "ours.png", Limits())  # our own output, fed back in
    assert decoded.converted_from is None
    assert np.array_equal(read_patches(decoded.image), PATCHES)


def test_an_adobe_rgb_photo_comes_out_in_srgb_through_the_pipeline(engines, tmp_path):
    profile = _profile(ICC / "ghostscript/a98.icc")
    car = np.asarray(corpus.photo("car-1.jpg", 480))
    source = tmp_path / "car-adobe.png"
    adobe = cs.convert(car, cs.SRGB, cs.ADOBE_RGB)
    Image.fromarray(adobe).save(source, icc_profile=profile)
    # rembg's edges: straight colours, so every visible pixel carries the photo's own colour
    preset = get_preset("transparent").with_options(edges="rembg")
    out = tmp_path / "out.png"
    result = Pipeline(engines, preset, "u2netp").process(Job(source, out))
    assert result.status == PROCESSED, result.message
    assert result.notes == ["colours converted to sRGB from Artifex Software A98 ICC Profile"]
    with Image.open(out) as image:
        assert image.info.get("icc_profile") == srgb_icc()
        pixels = np.asarray(image)
    visible = pixels[..., 3] > 0
    assert visible.mean() > 0.05
    got = pixels[..., :3][visible]
    # Against the exact arithmetic on the same 8-bit Adobe RGB numbers: rounding apart, equal.
    exact = cs.convert(adobe, cs.ADOBE_RGB, cs.SRGB)[visible]
    levels = np.abs(got.astype(int) - exact)
    assert levels.max() <= 1 and levels.mean() <= 0.1  # measured: 1 and 0.035
    # Against the photo itself: 8-bit Adobe RGB has coarser steps than sRGB in dark saturated
    # colours (measured: mean 0.19, 99.9% 1.6, max 2.2 on a handful of the 37,000 pixels).
    errors = delta_e(got, car[visible])
    assert np.percentile(errors, 99.9) <= BOUND and errors.mean() <= 0.5
