"""``fibuca-desktop process --name TEMPLATE`` end to end (issue 13, Naming): a real subprocess,
the real model, real photos; the names say the output's real size and the bytes match the name."""

from __future__ import annotations

import pytest
from PIL import Image

from tests.e2e.test_process_cli import files_under, report_of, run_cli

PHOTOS = ("animal-1.jpg", "car-1.jpg", "cloth-1.jpg")  # landscape, smaller than 800, portrait


@pytest.mark.parametrize(("preset", "pillow"), [("web", "JPEG"), ("square", "JPEG")])
def test_names_carry_the_preset_and_the_real_output_size(tmp_path, photos, preset, pillow):
    inputs = [photos / name for name in PHOTOS]
    out = tmp_path / "out"

    result = run_cli(
        *inputs, "-o", out, "--preset", preset, "--name", "{stem}-{preset}-{width}x{height}"
    )

    assert result.returncode == 0, result.stderr
    written = files_under(out)
    assert len(written) == len(PHOTOS)
    stems = set()
    for path in written:
        with Image.open(path) as image:
            image.load()
            width, height = image.size
            assert image.format == pillow
        stem = path.name.removesuffix(f"-{preset}-{width}x{height}.jpg")
        assert stem != path.name, f"{path.name} does not say {width}x{height}"
        stems.add(stem)
        assert path.read_bytes()[:3] == b"\xff\xd8\xff"  # JPEG bytes behind a .jpg name
    assert stems == {name.removesuffix(".jpg") for name in PHOTOS}
    if preset == "square":
        assert all(path.name.endswith("-1200x1200.jpg") for path in written)
    else:
        assert out / "car-1-web-480x360.jpg" in written  # already fits: its own size


def test_numbered_names_and_the_extension_follow_the_format(tmp_path, photos):
    out = tmp_path / "out"
    result = run_cli(
        photos / "car-1.jpg",
        photos / "girl-1.jpg",
        "-o",
        out,
        "--preset",
        "web",
        "--format",
        "webp",
        "--name",
        "shop-{n:03}",
        "--json",
    )

    assert result.returncode == 0, result.stderr
    outputs = [item["output"] for item in report_of(result)["processed"]]
    assert outputs == [str(out / "shop-001.webp"), str(out / "shop-002.webp")]
    for path in files_under(out):
        with Image.open(path) as image:
            assert image.format == "WEBP"


def test_a_second_run_that_renders_the_same_names_numbers_them(tmp_path, photos):
    out = tmp_path / "out"
    first = run_cli(photos / "car-1.jpg", "-o", out, "--preset", "web", "--name", "item")
    second = run_cli(photos / "car-2.jpg", "-o", out, "--preset", "web", "--name", "ITEM")

    assert first.returncode == second.returncode == 0, second.stderr
    assert [path.name for path in files_under(out)] == ["ITEM-2.jpg", "item.jpg"]


@pytest.mark.parametrize(
    ("template", "words"),
    [
        ("{stem.__class__}", "reaches into a field"),
        ("{stem[0]}", "reaches into a field"),
        ("{size}", "unknown field {size}; use {stem}, {ext}, {preset}, {profile}"),
        ("{stem!r}", "converts a field"),
        ("{stem:>9}", "only n, width and height take a width"),
        ("{stem", "unbalanced brace"),
        ("sub/{stem}", "a slash"),
        ("", "an empty name"),
        ("..", "not a file name"),
    ],
)
def test_a_bad_template_exits_2_with_one_line_and_writes_nothing(tmp_path, photos, template, words):
    result = run_cli(photos / "car-1.jpg", "-o", tmp_path / "out", "--name", template)

    assert result.returncode == 2, result.stderr
    assert result.stdout == ""
    lines = result.stderr.splitlines()
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith("fibuca-desktop process: error: The name template ")
    assert words in lines[0]
    assert "Traceback" not in result.stderr
    assert not (tmp_path / "out").exists()
