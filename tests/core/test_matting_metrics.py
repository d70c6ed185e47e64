"""The edge metrics of tests/matting_metrics.py: zero for a perfect cut-out, worse for a shifted
edge, and equal to small cases worked out by hand."""

from __future__ import annotations

import math

import numpy as np
import pytest
from scipy import ndimage

from tests.matting_metrics import (
    edge_band,
    evaluate,
    gaussian_gradient,
    gradient_kernels,
    near_contour,
    prepare_truth,
)
from tests.matting_set import generate


def _fraction_for(width: float, shape=(64, 64)) -> float:
    """The band fraction that gives a band radius of ``width`` px (and d = round(width))."""
    return width / math.hypot(*shape)


def _rgba(alpha8: np.ndarray, colour=(200, 100, 0)) -> np.ndarray:
    rgba = np.zeros((*alpha8.shape, 4), np.uint8)
    rgba[..., :3] = colour
    rgba[..., 3] = alpha8
    return rgba


def _square(shift: int = 0) -> np.ndarray:
    """64 x 64, a 32 x 32 square at rows and columns 16..47, moved ``shift`` px to the right."""
    alpha = np.zeros((64, 64), np.uint8)
    alpha[16:48, 16 + shift : 48 + shift] = 255
    return alpha


@pytest.mark.parametrize("case", ["mug", "hair", "defocus"])
def test_a_perfect_cut_out_scores_zero_error_and_iou_one(case):
    sample = generate(case, (400, 300), seed=3)
    alpha8 = np.round(sample.alpha * 255).astype(np.uint8)  # the truth as a PNG can hold it
    truth = prepare_truth(alpha8 / np.float32(255), sample.foreground)
    prediction = np.dstack([sample.foreground, alpha8])
    scores = evaluate(prediction, truth)
    assert truth.band.sum() > 1000
    for name in ("sad", "mse", "gradient", "composite_green", "composite_black", "composite"):
        assert scores[name] == 0, name
    assert scores["boundary_iou"] == 1
    assert scores["iou"] == 1


def test_a_shifted_edge_scores_worse_the_further_it_moves():
    sample = generate("box", (400, 300), seed=1)
    alpha8 = np.round(sample.alpha * 255).astype(np.uint8)
    truth = prepare_truth(sample.alpha, sample.foreground)
    previous = None
    for shift in (1, 2, 4):
        moved = np.roll(alpha8, shift, axis=1)
        scores = evaluate(np.dstack([np.roll(sample.foreground, shift, axis=1), moved]), truth)
        if previous is not None:
            for name in ("sad", "mse", "gradient", "composite"):
                assert scores[name] > previous[name], name
            for name in ("boundary_iou", "iou"):
                assert scores[name] < previous[name], name
        previous = scores
    assert previous["boundary_iou"] < 0.9


def test_a_straight_edge_moved_two_pixels_by_hand():
    """Columns 0..31 opaque; the prediction reaches column 33. Band radius 4.2 px: columns
    28..35 (distances 1..4 either side), 8 x 64 = 512 pixels, of which 2 x 64 are wrong by 1."""
    alpha = np.zeros((64, 64), np.uint8)
    alpha[:, :32] = 255
    shifted = np.zeros_like(alpha)
    shifted[:, :34] = 255
    colour = np.full((64, 64, 3), (200, 100, 0), np.uint8)
    colour[:, 32:] = 0  # the foreground is 0 where alpha is 0, as in the set
    truth = prepare_truth(alpha / 255, colour, _fraction_for(4.2))
    assert truth.band.sum() == 512
    assert np.array_equal(np.nonzero(truth.band.any(axis=0))[0], np.arange(28, 36))
    scores = evaluate(_rgba(shifted), truth)
    assert scores["sad"] == pytest.approx(0.128)
    assert scores["mse"] == pytest.approx(0.25)
    assert scores["iou"] == pytest.approx(32 / 34)
    # composite on black: truth is (0, 0, 0) in the two wrong columns, ours (200, 100, 0):
    # mean over the band's 512 pixels x 3 channels of |difference| = 128 * 300 / 1536
    assert scores["composite_black"] == pytest.approx(128 * 300 / 1536)
    # on green: ours (200, 100, 0), truth (0, 255, 0) there: 128 * (200 + 155) / 1536
    assert scores["composite_green"] == pytest.approx(128 * 355 / 1536)


def test_boundary_iou_of_a_square_moved_two_pixels_by_hand():
    """d = 4: each boundary region is the square's ring 4 px wide, 32^2 - 24^2 = 448 pixels.
    Moved 2 px: rows 16..19 and 44..47 overlap on 30 columns (240 px), the 24 rows between on
    2 + 2 columns (96 px): 336 shared, 560 in either, 0.6."""
    truth = prepare_truth(_square() / 255, np.zeros((64, 64, 3), np.uint8), _fraction_for(4.2))
    assert truth.boundary_width == 4
    assert truth.boundary.sum() == 448
    scores = evaluate(_rgba(_square(2)), truth)
    assert scores["boundary_iou"] == pytest.approx(0.6)
    assert scores["iou"] == pytest.approx(30 * 32 / (34 * 32))


def test_boundary_regions_count_the_image_border_as_contour_as_cheng_et_al_pad_it():
    alpha = np.ones((40, 40), bool)
    region = near_contour(alpha, 3, border_is_contour=True)
    assert region.sum() == 40 * 40 - 34 * 34  # a frame 3 px wide
    assert not near_contour(alpha, 3, border_is_contour=False).any()


def test_near_contour_equals_a_distance_transform_of_the_whole_image():
    rng = np.random.default_rng(5)
    blobs = ndimage.gaussian_filter(rng.random((120, 160)), 6) > 0.5
    for distance in (1, 2.5, 7):
        for border in (True, False):
            padded = np.pad(blobs, 1, mode="constant" if border else "edge")
            whole = ndimage.distance_transform_edt(padded)[1:-1, 1:-1]
            expected = blobs & (whole <= distance)
            assert np.array_equal(near_contour(blobs, distance, border), expected)


def test_uniform_soft_alpha_composites_by_hand():
    """alpha 0.6 everywhere (153/255), true colour (200, 100, 0), ours grey (100, 100, 100):
    on green the truth is (120, 162, 0) and ours (60, 162, 60); on black (120, 60, 0) and
    (60, 60, 60). The mean absolute difference is 40 levels on both."""
    alpha8 = np.full((8, 8), 153, np.uint8)
    truth = prepare_truth(alpha8 / np.float32(255), np.full((8, 8, 3), (200, 100, 0), np.uint8))
    assert truth.band.all()  # no 0.5 contour, every pixel is soft
    grey = evaluate(_rgba(alpha8, (100, 100, 100)), truth)
    assert grey["composite_green"] == pytest.approx(40, abs=1e-3)
    assert grey["composite_black"] == pytest.approx(40, abs=1e-3)
    assert evaluate(_rgba(alpha8), truth)["composite"] == pytest.approx(0, abs=1e-3)


def test_a_fringe_of_the_old_backdrop_costs_composite_error():
    """rembg's default cut-out keeps the photo's colour on soft edges (backdrop included) and
    darkens it by alpha; a cut-out with the true colour scores better on both backgrounds."""
    sample = generate("hair", (400, 300), seed=2)
    truth = prepare_truth(sample.alpha, sample.foreground)
    alpha8 = np.round(sample.alpha * 255).astype(np.uint8)
    photo = np.asarray(sample.image())
    premultiplied = np.round(photo * (alpha8[..., None] / 255)).astype(np.uint8)
    true_colour = evaluate(np.dstack([sample.foreground, alpha8]), truth)
    fringe = evaluate(np.dstack([premultiplied, alpha8]), truth)
    assert fringe["sad"] == true_colour["sad"]
    assert fringe["composite_green"] > true_colour["composite_green"] + 5
    assert fringe["composite_black"] > true_colour["composite_black"] + 1


def test_gradient_error_matches_the_composition_1k_code_and_is_zero_for_the_truth():
    g, _ = gradient_kernels(1.4)
    assert len(g) == 9  # half size ceil(1.4 * sqrt(-2 ln(sqrt(2 pi) 1.4 0.01))) = 4
    rng = np.random.default_rng(2)
    image = ndimage.gaussian_filter(rng.random((40, 50)), 2)
    # the reference: a 2-D kernel built point by point, L2-normalised, convolved with 'nearest'
    half = 4
    gauss = [
        math.exp(-(i**2) / (2 * 1.4**2)) / (1.4 * math.sqrt(2 * math.pi)) for i in range(-4, 5)
    ]
    hx = np.array(
        [[gauss[i] * (-(j - half) * gauss[j] / 1.4**2) for j in range(9)] for i in range(9)]
    )
    hx /= np.sqrt((hx**2).sum())
    gx = ndimage.convolve(image, hx, mode="nearest")
    gy = ndimage.convolve(image, hx.T, mode="nearest")
    assert np.allclose(gaussian_gradient(image), np.hypot(gx, gy), atol=1e-12)

    alpha8 = _square()
    truth = prepare_truth(alpha8 / 255, np.zeros((64, 64, 3), np.uint8), _fraction_for(4.2))
    assert evaluate(_rgba(alpha8), truth)["gradient"] == 0
    flat = evaluate(_rgba(np.zeros_like(alpha8)), truth)["gradient"]
    expected = (gaussian_gradient(alpha8 / 255.0) ** 2)[truth.band].sum() / 1000
    assert flat == pytest.approx(expected)


def test_the_band_holds_every_soft_pixel_of_fur():
    sample = generate("fur", (400, 300), seed=0)
    band = edge_band(sample.alpha, 2.0)
    soft = (sample.alpha > 0) & (sample.alpha < 1)
    assert soft.sum() > 5000
    assert band[soft].all()
    assert not band[sample.alpha == 0].all()


def test_a_prediction_of_another_size_is_refused():
    truth = prepare_truth(np.zeros((8, 8), np.float32), np.zeros((8, 8, 3), np.uint8))
    with pytest.raises(ValueError, match="uint8"):
        evaluate(np.zeros((8, 9, 4), np.uint8), truth)
