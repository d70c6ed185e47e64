"""A 40 MP photo through ``fibuca-desktop process``: refined edges cost a bounded amount of
memory over rembg's (the new alpha, one byte a pixel, and one batch of tiles), measured in
fresh processes (measured here: 528 MB with rembg edges, 561 MB refined)."""

from __future__ import annotations

import pytest
from PIL import Image

from tests.conftest import PHOTOS
from tests.e2e.test_process_cli import report_of, run_cli

SIZE = (7300, 5475)  # 40 MP


@pytest.fixture(scope="module")
def photo_40mp(tmp_path_factory):
    path = tmp_path_factory.mktemp("big") / "car-40mp.jpg"
    with Image.open(PHOTOS / "car-1.jpg") as image:
        image.convert("RGB").resize(SIZE, Image.Resampling.BICUBIC).save(path, quality=90)
    return path


def test_refined_edges_at_40_mp_cost_a_bounded_amount_more(photo_40mp, tmp_path):
    peaks = {}
    for edges in ("rembg", "refined"):
        result = run_cli(
            photo_40mp, "-o", tmp_path / edges, "--edges", edges, "--json", "--workers", "1"
        )
        assert result.returncode == 0, result.stderr
        report = report_of(result)
        [item] = report["processed"]
        assert (item["width"], item["height"]) == SIZE
        peaks[edges] = report["peak_rss_mb"]
    pixels_mb = SIZE[0] * SIZE[1] / 2**20
    assert peaks["refined"] - peaks["rembg"] < pixels_mb + 60, peaks
