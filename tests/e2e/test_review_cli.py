"""process --json says, per photo, why its cut-out may need a look; the text summary lists them."""

from __future__ import annotations

import shutil

from tests.conftest import PHOTOS
from tests.e2e.test_process_cli import report_of, run_cli


def test_the_photos_the_model_gets_wrong_are_flagged_and_the_others_are_not(tmp_path):
    # girl-1: the model loses an arm and half the hips (tests/benchmarks/review.md); car-2 and
    # animal-2 it cuts out right.
    photos = tmp_path / "in"
    photos.mkdir()
    for name in ("girl-1.jpg", "car-2.jpg", "animal-2.jpg"):
        shutil.copy(PHOTOS / name, photos / name)
    result = run_cli(photos, "-o", tmp_path / "out", "--json")
    assert result.returncode == 0, result.stderr
    review = {
        item["input"].rsplit("/", 1)[-1]: item["review"] for item in report_of(result)["processed"]
    }
    assert review["car-2.jpg"] == [] and review["animal-2.jpg"] == []
    assert any(reason.startswith("uncertain edge") for reason in review["girl-1.jpg"])

    text = run_cli(photos, "-o", tmp_path / "web", "--preset", "web")
    assert text.returncode == 0, text.stderr
    checks = [line for line in text.stdout.splitlines() if line.startswith("  check ")]
    assert len(checks) == 1 and "girl-1" in checks[0] and "uncertain edge" in checks[0]
