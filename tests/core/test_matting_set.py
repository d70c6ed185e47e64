"""The synthetic matting set (tests/matting_set.py): seeded, exact, and a photo u2netp reads."""

from __future__ import annotations

import numpy as np
import pytest

from tests import matting_set
from tests.matting_set import CASES, generate

SMALL = (400, 300)


def test_the_same_seed_gives_the_same_photo_and_another_seed_another():
    first, again = generate("mug", SMALL, seed=4), generate("mug", SMALL, seed=4)
    assert first.jpeg == again.jpeg
    assert np.array_equal(first.alpha, again.alpha)
    assert generate("mug", SMALL, seed=5).jpeg != first.jpeg


@pytest.mark.parametrize("case", CASES)
def test_the_photo_is_alpha_f_plus_one_minus_alpha_b_up_to_noise_and_jpeg(case):
    sample = generate(case, SMALL, seed=1, keep_background=True)
    a = sample.alpha[..., None].astype(np.float64)
    model = a * sample.foreground + (1 - a) * sample.background
    noise = sample.raw - model  # before JPEG: sensor noise (~2 levels) and rounding only
    soft = (sample.alpha > 0) & (sample.alpha < 1)
    assert np.abs(noise).mean() < 2.2
    assert np.abs(noise[soft]).mean() < 2.2  # edges too: nothing outside the model there
    assert abs(noise.mean()) < 0.3
    photo = np.asarray(sample.image(), np.float64)
    assert np.abs(photo - model).mean() < 2.5  # JPEG q92 adds little
    assert sample.alpha.dtype == np.float32
    assert sample.alpha.min() >= 0 and sample.alpha.max() == 1
    assert not sample.foreground[sample.alpha == 0].any()


@pytest.mark.parametrize("case", CASES)
def test_a_product_is_centred_and_fills_40_to_100_percent_of_the_height(case):
    alpha = generate(case, SMALL, seed=2).alpha
    rows, cols = np.nonzero(alpha >= 0.5)
    height = (rows.max() - rows.min() + 1) / alpha.shape[0]
    assert 0.4 <= height <= 1.0
    assert abs(cols.mean() / alpha.shape[1] - 0.5) < 0.1


@pytest.mark.parametrize("case", ["box", "bottle", "mug", "ring"])
def test_hard_edges_are_supersampled_one_pixel_wide(case):
    alpha = generate(case, (800, 600), seed=0).alpha
    soft = (alpha > 0) & (alpha < 1)
    levels = alpha[soft] * matting_set.SUPERSAMPLE**2
    assert np.allclose(levels, np.round(levels), atol=1e-4)  # k / 64 coverage
    solid = alpha >= 0.5
    outline = np.count_nonzero(solid[1:] != solid[:-1]) + np.count_nonzero(
        solid[:, 1:] != solid[:, :-1]
    )
    assert 0.5 * outline < soft.sum() < 2 * outline


def test_the_defocused_edge_widens_from_the_foot_to_the_lip():
    alpha = generate("defocus", (800, 600), seed=0).alpha
    rows = np.nonzero((alpha > 0.5).any(axis=1))[0]
    top, bottom = rows[0], rows[-1]

    def ramp_width(row: int) -> int:
        return np.count_nonzero((alpha[row] > 0.02) & (alpha[row] < 0.98)) // 2

    near_lip, near_foot = top + 40, bottom - 6  # the sides of the lip and of the foot
    assert ramp_width(near_lip) >= 4 * ramp_width(near_foot)
    assert ramp_width(near_lip) >= 4


@pytest.mark.parametrize("case", ["fur", "hair"])
def test_fur_and_hair_have_strands_of_fractional_alpha_beyond_the_body(case):
    alpha = generate(case, (800, 600), seed=0).alpha
    faint = (alpha > 0.01) & (alpha < 0.5)
    assert faint.sum() > 10_000
    assert len(np.unique(np.round(alpha[faint], 3))) > 200


def test_strips_do_not_change_the_picture(monkeypatch):
    whole = generate("hair", SMALL, seed=3)
    monkeypatch.setattr(matting_set, "STRIP_ROWS", 37)
    strips = generate("hair", SMALL, seed=3)
    assert np.array_equal(whole.alpha, strips.alpha)
    assert np.array_equal(whole.foreground, strips.foreground)


def test_truth_saved_beside_the_photo_reads_back(tmp_path):
    sample = generate("ring", SMALL, seed=0)
    paths = matting_set.save_truth(sample, tmp_path)
    alpha, foreground = matting_set.load_truth(paths["image"])
    assert paths["image"].read_bytes() == sample.jpeg
    assert np.array_equal(alpha, sample.alpha)
    assert np.array_equal(foreground, sample.foreground)


def test_unknown_cases_and_backdrops_are_refused():
    with pytest.raises(ValueError, match="unknown case"):
        generate("teapot", SMALL)
    with pytest.raises(ValueError, match="unknown backdrop"):
        generate("box", SMALL, backdrop="marble")


def test_u2netp_finds_every_product(engines):
    """The set is meant to look like product photos to the real model: its mask, cut at 0.5,
    covers the product (fur on wood is the hardest)."""
    engine = engines.get("u2netp")
    for case in CASES:
        sample = generate(case, (800, 600), seed=0)
        mask = np.asarray(engine.predict(sample.image())) >= 128
        truth = sample.alpha >= 0.5
        iou = np.count_nonzero(mask & truth) / np.count_nonzero(mask | truth)
        assert iou > (0.85 if case == "fur" else 0.95), case
