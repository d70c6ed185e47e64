"""The bytes of every output match its name, for every preset x format x background (issue 10).

The extension and the encoder's format come from one place (``Preset.encoding``); a combination
that cannot be written is refused when the preset is made, never at run time.
"""

from __future__ import annotations

import pytest
from PIL import Image

from fibuca_desktop.core.errors import UsageError
from fibuca_desktop.core.imaging.batch import Job
from fibuca_desktop.core.imaging.pipeline import FAILED, PROCESSED, Pipeline
from fibuca_desktop.core.imaging.presets import FORMATS, PRESETS, Preset, get_preset
from tests.conftest import PHOTOS

# What Pillow reads back, for each extension we write.
READ_BACK = {".png": "PNG", ".jpg": "JPEG", ".webp": "WEBP"}
BACKGROUNDS = [None, "transparent", "#102030"]


def impossible(name: str, fmt: str, background: str | None) -> bool:
    base = PRESETS[name]
    if base.mask_only:
        return fmt == "webp"  # WebP has no greyscale mode
    transparent = background == "transparent" or (background is None and base.background is None)
    return fmt == "jpeg" and transparent


@pytest.mark.parametrize("background", BACKGROUNDS, ids=lambda b: f"bg={b}")
@pytest.mark.parametrize("fmt", [*FORMATS, "jpg", "JPEG"])
@pytest.mark.parametrize("name", PRESETS)
def test_every_combination_writes_what_its_name_says_or_is_refused(
    engines, tmp_path, name, fmt, background
):
    expected_format = {"jpg": "jpeg"}.get(fmt.lower(), fmt.lower())
    if impossible(name, expected_format, background):
        with pytest.raises(UsageError, match="cannot store") as refused:
            get_preset(name).with_options(format=fmt, background=background)
        assert "use --format" in str(refused.value)  # says what to use instead
        return
    preset = get_preset(name).with_options(format=fmt, background=background, max_side=200)
    assert preset.format == expected_format
    out = tmp_path / f"car-1{preset.extension}"
    result = Pipeline(engines, preset, "u2netp").process(Job(PHOTOS / "car-1.jpg", out))
    assert result.status == PROCESSED, result.message
    with Image.open(out) as image:
        assert image.format == READ_BACK[out.suffix]  # the name tells the truth
        assert image.format == {"png": "PNG", "jpeg": "JPEG", "webp": "WEBP"}[expected_format]
        if preset.mask_only:
            assert image.mode == "L"  # a mask stays greyscale whatever the format
        elif preset.background is None:
            assert image.mode == "RGBA"
        else:
            assert image.mode == "RGB"


@pytest.mark.parametrize(
    ("fields", "words"),
    [
        ({"format": "jpeg"}, "JPEG cannot store transparency: use --format png or webp"),
        ({"format": "webp", "mask_only": True}, "WEBP cannot store: use --format png or jpeg."),
        ({"format": "gif"}, "--format gif is not supported; use png, jpeg or webp"),
        ({"format": "jpg", "background": (1, 2, 3)}, "--format jpg is not supported"),
        ({"format": "webp", "canvas": 16384}, "WEBP can store at most 16383 pixels a side"),
        ({"format": "webp", "max_side": 20000}, "not 20000: use --format png or jpeg"),
    ],
)
def test_a_preset_that_cannot_be_written_cannot_be_made(fields, words):
    """Not only through with_options: any Preset, however it is built, is writable."""
    with pytest.raises(UsageError) as refused:
        Preset("custom", "made by hand", **fields)
    assert words in str(refused.value)


def test_applicable_options_follow_the_preset_and_its_format():
    assert get_preset("transparent").applicable_options() == (
        "max_side",
        "format",
        "background",
        "edges",
    )
    assert get_preset("web").applicable_options() == (
        "max_side",
        "format",
        "quality",
        "background",
        "edges",
    )
    assert "margin" in get_preset("square").applicable_options()
    assert get_preset("mask").applicable_options() == ("max_side", "format", "edges")
    mask_jpeg = get_preset("mask").with_options(format="jpeg")
    assert mask_jpeg.applicable_options() == ("max_side", "format", "quality", "edges")
    assert get_preset("mask").formats == ("png", "jpeg")
    assert get_preset("web").formats == FORMATS


@pytest.mark.parametrize(
    ("background", "size"), [(None, (17000, 40)), ((255, 255, 255), (40, 16384))]
)
def test_a_photo_too_large_for_the_format_fails_in_words_not_as_a_bug(
    engines, tmp_path, background, size
):
    """At the original size only the photo can tell: one line that says what to do (not
    'Unexpected error: ValueError(encoding error 5 ...)'), and nothing written."""
    source = tmp_path / "panorama.png"
    with Image.open(PHOTOS / "car-1.jpg") as photo:
        photo.convert("RGB").resize(size).save(source)
    preset = Preset("wide", "WebP at the original size", format="webp", background=background)
    out = tmp_path / "out" / "panorama.webp"
    result = Pipeline(engines, preset, "u2netp").process(Job(source, out))
    assert result.status == FAILED
    assert result.message.startswith(f"This photo is {size[0]}x{size[1]}; WEBP can store at most")
    assert "png" in result.message and not out.exists()
