"""``process --edges refined|rembg`` (issue 11): parsed, shown in help with its default, a bad
value refused in one line, and ``--edges rembg`` still rembg's own mask through the real CLI."""

from __future__ import annotations

import json
import subprocess
import sys

import numpy as np
import pytest
from PIL import Image

from fibuca_desktop.__main__ import build_parser
from fibuca_desktop.cli.process_command import preset_from
from fibuca_desktop.core.imaging.presets import PRESETS, get_preset
from tests.conftest import EXPECTED, PHOTOS


def parsed(*argv: str):
    return build_parser().parse_args(["process", "photo.jpg", "-o", "out", *argv])


@pytest.mark.parametrize("name", PRESETS)
def test_edges_are_refined_unless_asked_and_rembg_when_asked(name):
    assert parsed("--preset", name).edges is None  # None: the preset's own
    assert preset_from(parsed("--preset", name)).edges == "refined"
    rembg = preset_from(parsed("--preset", name, "--edges", "rembg"))
    assert rembg == get_preset(name).with_options(edges="rembg")
    assert preset_from(parsed("--preset", name, "--edges", "refined")) == get_preset(name)


def test_edges_combine_with_the_other_options():
    preset = preset_from(parsed("--preset", "web", "--edges", "rembg", "--max-side", "300"))
    assert (preset.edges, preset.max_side, preset.format) == ("rembg", 300, "jpeg")
    matted = preset_from(parsed("--alpha-matting", "--edges", "refined"))
    assert matted.alpha_matting and matted.edges == "refined"  # accepted; help says no effect


@pytest.mark.parametrize("bad", ["sharp", "REMBG", ""])
def test_a_bad_edges_value_is_one_line_naming_the_choices(bad, capsys):
    with pytest.raises(SystemExit) as exit_info:
        parsed("--edges", bad)
    assert exit_info.value.code == 2
    last = capsys.readouterr().err.strip().splitlines()[-1]
    assert last == (
        f"fibuca-desktop process: error: argument --edges: invalid choice: {bad!r} "
        "(choose from 'refined', 'rembg')"
    )


def test_help_shows_the_choices_the_default_and_alpha_matting():
    done = subprocess.run(
        [sys.executable, "-m", "fibuca_desktop", "process", "--help"],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 0, done.stderr
    text = " ".join(done.stdout.split())
    assert "--edges {refined,rembg}" in text
    assert "refined follows the full-resolution photo's edges" in text
    assert "estimates their true colours" in text
    assert "rembg gives rembg's edges exactly" in text
    assert "No effect with --alpha-matting, which replaces the edge (default: refined)" in text
    assert "--edges has no effect" in text  # said under --alpha-matting too


def _alpha(path) -> np.ndarray:
    with Image.open(path) as image:
        return np.asarray(image.getchannel("A") if image.mode == "RGBA" else image.convert("L"))


@pytest.mark.parametrize("preset", ["transparent", "mask"])
def test_edges_rembg_is_rembgs_own_mask_through_the_cli(tmp_path, u2netp_path, preset):
    """rembg's repository ships its u2netp result for this drawing; the mask preset follows
    the same switch as the cut-out."""
    done = subprocess.run(
        [
            sys.executable,
            "-m",
            "fibuca_desktop",
            "process",
            str(PHOTOS / "anime-girl-1.jpg"),
            "-o",
            str(tmp_path),
            "--preset",
            preset,
            "--edges",
            "rembg",
            "--json",
        ],
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert done.returncode == 0, done.stderr[-2000:]
    assert len(json.loads(done.stdout)["processed"]) == 1
    ours = _alpha(tmp_path / "anime-girl-1.png").astype(int)
    theirs = _alpha(EXPECTED / "anime-girl-1.u2netp.png").astype(int)
    assert ours.shape == theirs.shape
    a, b = ours >= 128, theirs >= 128
    assert np.logical_and(a, b).sum() / np.logical_or(a, b).sum() >= 0.99
    assert np.abs(ours - theirs).max() <= 2  # the same numbers, not only the same shape
