"""Refined edges against real rembg on seeded synthetic photos with exact truth (issue 11).

The same u2netp file for both. Thresholds carry a margin over what the benchmark measures at
12 MP (tests/benchmarks/bench_edges.py, README): this checks that the refinement works, on
smaller photos in seconds; the benchmark measures how well. rembg runs in its own interpreter
so this process never imports it.
"""

from __future__ import annotations

import math
import subprocess
import sys

import numpy as np
import pytest
from PIL import Image

from fibuca_desktop.core.imaging.batch import Job
from fibuca_desktop.core.imaging.pipeline import PROCESSED, Pipeline
from fibuca_desktop.core.imaging.presets import get_preset
from tests import matting_metrics, matting_set
from tests.core.test_engine_fidelity import REMBG_SCRIPT

pytestmark = pytest.mark.rembg

SIZE = (2000, 1500)
CASES = ("mug", "ring", "defocus", "hair")


@pytest.fixture(scope="module")
def scored(tmp_path_factory, engines, u2netp_path) -> dict[str, dict[str, dict]]:
    """Per case, the metrics of rembg's cut-out and of ours with each edge setting."""
    root = tmp_path_factory.mktemp("matting")
    samples = {case: matting_set.generate(case, SIZE, seed=3, folder=root) for case in CASES}
    rembg_out = root / "rembg"
    rembg_out.mkdir()
    done = subprocess.run(
        [sys.executable, "-c", REMBG_SCRIPT, str(rembg_out)]
        + [str(sample.image_path) for sample in samples.values()],
        capture_output=True,
        text=True,
        timeout=900,
    )
    assert done.returncode == 0, done.stderr[-2000:]
    results: dict[str, dict[str, dict]] = {}
    for case, sample in samples.items():
        truth = matting_metrics.prepare_truth(sample.alpha, sample.foreground)
        outputs = {"rembg": rembg_out / f"{sample.image_path.stem}.png"}
        for edges in ("rembg", "refined"):
            pipeline = Pipeline(
                engines, get_preset("transparent").with_options(edges=edges), "u2netp"
            )
            output = root / f"ours-{edges}" / f"{sample.image_path.stem}.png"
            output.parent.mkdir(exist_ok=True)
            result = pipeline.process(Job(sample.image_path, output))
            assert result.status == PROCESSED, result.message
            outputs[f"ours {edges}"] = output
        results[case] = {}
        for method, path in outputs.items():
            with Image.open(path) as image:
                rgba = np.asarray(image.convert("RGBA"))
            results[case][method] = matting_metrics.evaluate(rgba, truth)
    return results


def _ratios(scored, metric: str, method: str = "ours refined") -> list[float]:
    return [case[method][metric] / case["rembg"][metric] for case in scored.values()]


def _geometric_mean(values: list[float]) -> float:
    return math.exp(sum(math.log(v) for v in values) / len(values))


def test_rembg_edges_score_exactly_as_rembg(scored):
    """``--edges rembg`` is rembg's alpha (within rounding): every alpha metric equal."""
    for case, methods in scored.items():
        for metric in ("sad", "gradient", "boundary_iou", "iou"):
            ours, theirs = methods["ours rembg"][metric], methods["rembg"][metric]
            assert ours == pytest.approx(theirs, rel=0.02, abs=1e-3), (case, metric)


@pytest.mark.parametrize(
    ("metric", "limit"),
    [("sad", 0.5), ("mse", 0.5), ("gradient", 0.3), ("composite", 0.65)],
)
def test_refined_edge_errors_are_a_fraction_of_rembgs(scored, metric, limit):
    ratios = _ratios(scored, metric)
    assert _geometric_mean(ratios) <= limit, dict(zip(scored, ratios, strict=True))
    assert max(ratios) < 1.0, dict(zip(scored, ratios, strict=True))  # better on every photo


def test_refined_boundaries_follow_the_truth_closer(scored):
    ratios = _ratios(scored, "boundary_iou")
    assert _geometric_mean(ratios) >= 1.08, dict(zip(scored, ratios, strict=True))
    assert min(ratios) > 1.0, dict(zip(scored, ratios, strict=True))


def test_no_hole_is_closed_or_opened(scored):
    """Whole-image IoU at 0.5 never falls more than 0.002 below rembg's (the mug's handle and
    the ring are holes the model found)."""
    for case, methods in scored.items():
        assert methods["ours refined"]["iou"] >= methods["rembg"]["iou"] - 0.002, case
