"""No output is renamed into place unless it reads back as what its name says (issue 10, item 9:
"never write an output we could not read back ourselves"), whatever went wrong in the encoder."""

from __future__ import annotations

import io
from functools import partial
from pathlib import Path

import pytest
from PIL import Image

from fibuca_desktop.core.atomic_write import write_atomically
from fibuca_desktop.core.errors import OutputError, UsageError
from fibuca_desktop.core.imaging.batch import Job
from fibuca_desktop.core.imaging.pipeline import FAILED, PROCESSED, Pipeline
from fibuca_desktop.core.imaging.png_stream import write_rgba_png
from fibuca_desktop.core.imaging.presets import FORMATS, PRESETS, get_preset
from fibuca_desktop.core.imaging.render import Rendered, render
from tests import corpus

_MB = 1024 * 1024


@pytest.fixture(scope="module")
def car() -> Image.Image:
    return corpus.photo("car-1.jpg", 480)


def _alpha(car: Image.Image) -> Image.Image:
    alpha = Image.new("L", car.size, 0)
    alpha.paste(255, (40, 40, car.width - 40, car.height - 40))
    return alpha


def _rendered(preset_name: str, car: Image.Image) -> Rendered:
    return render(car, _alpha(car), get_preset(preset_name))


def _webp(car: Image.Image) -> Rendered:
    preset = get_preset("transparent").with_options(format="webp")
    return render(car, Image.new("L", car.size, 255), preset)


def _target(folder: Path, rendered: Rendered) -> Path:
    return folder / ("car" + {"PNG": ".png", "JPEG": ".jpg", "WEBP": ".webp"}[rendered.format])


def _encoded(rendered: Rendered) -> bytes:
    buffer = io.BytesIO()
    rendered.write(buffer)
    return buffer.getvalue()


def _damaged_writer(rendered: Rendered, damage):
    def write(handle):
        handle.write(damage(_encoded(rendered)))

    return Rendered(
        rendered.size, write, True, rendered.format, rendered.mode, rendered.icc_profile
    )


OUTPUTS = {
    "png-stream": lambda car: _rendered("transparent", car),
    "png-mask": lambda car: _rendered("mask", car),
    "jpeg": lambda car: _rendered("web", car),
    "webp": _webp,
}
DAMAGE = {
    "cut-in-half": lambda data: data[: len(data) // 2],
    "last-bytes-lost": lambda data: data[:-20],
    "a-flipped-byte": lambda data: data[:-300] + bytes([data[-300] ^ 0xFF]) + data[-299:],
    "empty": lambda data: b"",
}


@pytest.mark.parametrize("output", OUTPUTS)
def test_a_good_output_reads_back_and_is_renamed(tmp_path, car, output):
    rendered = OUTPUTS[output](car)
    target = _target(tmp_path, rendered)
    assert write_atomically(target, rendered.write, False, rendered.check)
    with Image.open(target) as image:
        image.load()
        assert image.size == rendered.size


# JPEG and WebP carry no checksum: a flipped byte in their data may still decode.
BREAKAGES = [
    (output, damage)
    for output in OUTPUTS
    for damage in DAMAGE
    if output.startswith("png") or damage != "a-flipped-byte"
]


@pytest.mark.parametrize(("output", "damage"), BREAKAGES)
def test_an_output_that_does_not_read_back_is_never_renamed(tmp_path, car, output, damage):
    rendered = OUTPUTS[output](car)
    damaged = _damaged_writer(rendered, DAMAGE[damage])
    with pytest.raises(OutputError, match=r"car\.\w+ was not written.*would not read back"):
        write_atomically(_target(tmp_path, rendered), damaged.write, False, rendered.check)
    assert list(tmp_path.iterdir()) == []  # neither the output nor its temporary file


@pytest.mark.parametrize("suffix", [".jpg", ".jpeg", ".webp", ".PNG.jpg", ".part", ""])
def test_the_bytes_must_match_the_name(tmp_path, car, suffix):
    rendered = _rendered("transparent", car)  # PNG data
    target = tmp_path / f"car{suffix}"
    with pytest.raises(OutputError, match="holds PNG data"):
        write_atomically(target, rendered.write, False, rendered.check)
    assert list(tmp_path.iterdir()) == []


def test_a_profile_our_reader_refuses_is_never_written(tmp_path, car):
    # Behind the decoder's check, the read-back check is the last guard: Pillow refuses a PNG
    # whose profile decompresses to over 1 MB, so such a file must never be renamed into place.
    huge = corpus.with_private_tag(corpus.system_profile("srgb.icc"), 3 * _MB)
    write = partial(write_rgba_png, rgb=car, alpha=_alpha(car), icc_profile=huge)
    rendered = Rendered(car.size, write, True, "PNG", "RGBA", huge)
    with pytest.raises(OutputError, match="would not read back"):
        write_atomically(tmp_path / "car.png", rendered.write, False, rendered.check)
    assert list(tmp_path.iterdir()) == []


def _makeable(preset: str, fmt: str) -> bool:
    """Combinations a preset cannot write are refused when made (test_preset_formats)."""
    try:
        get_preset(preset).with_options(format=fmt)
    except UsageError:
        return False
    return True


COMBINATIONS = [(p, fmt) for p in PRESETS for fmt in FORMATS if _makeable(p, fmt)]


@pytest.mark.parametrize(("preset_name", "fmt"), COMBINATIONS)
def test_every_processed_output_holds_what_its_name_says(engines, tmp_path, preset_name, fmt):
    # Whatever a preset and format make, the pipeline never leaves bytes that do not match the
    # name: the job is processed with matching bytes, or it fails and nothing is left.
    preset = get_preset(preset_name).with_options(format=fmt)
    source = tmp_path / "car-1.jpg"
    source.write_bytes(corpus.encode(corpus.photo("car-1.jpg", 320), "JPEG", quality=90))
    out = tmp_path / "out"
    output = out / f"car-1{preset.extension}"
    result = Pipeline(engines, preset, "u2netp").process(Job(source, output))
    if result.status == PROCESSED:
        with Image.open(output) as image:
            image.load()
            assert output.suffix == {"PNG": ".png", "JPEG": ".jpg", "WEBP": ".webp"}[image.format]
    else:
        assert result.status == FAILED and "was not written" in result.message
        assert list(out.iterdir()) == []
