"""``process --preset mask --format jpeg`` writes JPEG data into the .jpg it names (issue 10)."""

from __future__ import annotations

import subprocess
import sys

import pytest
from PIL import Image

from tests import corpus


def run_cli(*args, cwd):
    command = [sys.executable, "-m", "fibuca_desktop", "process", *map(str, args)]
    return subprocess.run(command, cwd=cwd, capture_output=True, text=True, timeout=600)


@pytest.mark.parametrize(
    ("fmt", "name", "pillow"),
    [("jpeg", "car-1.jpg", "JPEG"), ("jpg", "car-1.jpg", "JPEG"), ("png", "car-1.png", "PNG")],
)
def test_a_mask_in_any_greyscale_format_is_named_for_its_bytes(tmp_path, fmt, name, pillow):
    corpus.copy_photos(tmp_path / "in", "car-1.jpg")
    result = run_cli(
        "in/car-1.jpg", "-o", "o", "--preset", "mask", "--format", fmt, "--max-side", 300,
        cwd=tmp_path,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    (written,) = corpus.written_files(tmp_path / "o")  # beside it: the record of our outputs
    assert written.name == name
    with Image.open(written) as image:
        assert (image.format, image.mode) == (pillow, "L")


def test_a_mask_as_webp_is_refused_before_anything_runs(tmp_path):
    corpus.copy_photos(tmp_path / "in", "car-1.jpg")
    result = run_cli("in", "-o", "o", "--preset", "mask", "--format", "webp", cwd=tmp_path)
    assert result.returncode == 2
    assert "WEBP cannot store: use --format png or jpeg" in result.stderr
    assert "Traceback" not in result.stderr
    assert not (tmp_path / "o").exists()
