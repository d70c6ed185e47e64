"""Every profile's output is checked by reading the written file back; what can be fixed is, and
what cannot is reported with its reason. Real photos, the real model, real files."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from fibuca_desktop.core.imaging.batch import Job
from fibuca_desktop.core.imaging.pipeline import PROCESSED, Pipeline
from fibuca_desktop.core.profiles.profiles import get_profile, load_profiles
from tests.conftest import PHOTOS

BUILT_IN = ("amazon", "shopify", "ebay", "etsy", "google")
PHOTOS_USED = sorted(path.name for path in PHOTOS.glob("*.jpg"))  # every fixture photo


def process(engines, profile, photo: Path, out: Path, scale=None):
    pipeline = Pipeline(engines, profile.preset, "u2netp", profile=profile, scale=scale)
    result = pipeline.process(Job(photo, out))
    assert result.status == PROCESSED, result.message
    return result


def failed_checks(result) -> dict:
    return {c.name: c for c in result.preflight.checks if not c.passed}


def product_box(path: Path) -> tuple[int, int, int, int]:
    """The box of what is not pure white, read from the file (independent of preflight)."""
    pixels = np.asarray(Image.open(path).convert("RGB"))
    ys, xs = np.nonzero((pixels < 235).any(axis=2))
    return xs.min(), ys.min(), xs.max() + 1, ys.max() + 1


@pytest.mark.parametrize("photo", PHOTOS_USED)
def test_every_built_in_profile_passes_its_own_preflight(engines, tmp_path, photo):
    for name, profile in load_profiles(tmp_path / "none.toml").items():
        out = tmp_path / name / f"{Path(photo).stem}.jpg"
        out.parent.mkdir()
        result = process(engines, profile, PHOTOS / photo, out)
        report = result.preflight
        assert report.profile == name
        assert report.passed, (name, photo, report.failures, report.fixed)
        # What the report says is what is on disk.
        assert {c.name: c.value for c in report.checks}.get("file_size") == out.stat().st_size
        with Image.open(out) as image:
            assert image.format == "JPEG" and image.mode == "RGB"
            assert image.size == (result.width, result.height)
            frame = np.asarray(image)
        if profile.rules.white_frame:  # checked here independently of preflight.py
            edge = max(2, round(0.01 * min(frame.shape[:2])))
            for strip in (frame[:edge], frame[-edge:], frame[:, :edge], frame[:, -edge:]):
                assert (strip == 255).all()
        if profile.rules.min_share:
            left, top, right, bottom = product_box(out)
            share = max(right - left, bottom - top) / max(frame.shape[:2])
            assert share >= profile.rules.min_share - 0.02, (name, photo, share)


def test_a_product_touching_the_frame_fails_with_the_reason(engines, tmp_path):
    # The tiger cut off at the photo's left edge, and a profile that keeps the photo's framing
    # (no canvas): the white frame cannot be met by any automatic fix.
    photo = tmp_path / "cut-tiger.jpg"
    with Image.open(PHOTOS / "animal-1.jpg") as image:
        width, height = image.size
        image.crop((width // 3, 0, width, height)).save(photo, quality=95)
    user = tmp_path / "profiles.toml"
    user.write_text(
        '[keep-crop]\n[keep-crop.output]\nformat = "jpeg"\nmax_side = 1200\n'
        "[keep-crop.rules]\nwhite_frame = true\nmin_long_side = 500\n"
    )
    result = process(engines, get_profile("keep-crop", user), photo, tmp_path / "out.jpg")
    failed = failed_checks(result)
    assert not result.preflight.passed and set(failed) == {"white_frame"}
    assert failed["white_frame"].value > 0 and failed["white_frame"].limit == 0
    assert "white_frame" in result.preflight.failures[0]
    assert result.preflight.fixed == []


def test_a_size_cap_too_small_to_reach_fails_after_trying(engines, tmp_path):
    user = tmp_path / "profiles.toml"
    user.write_text(
        '[tiny]\n[tiny.output]\nformat = "jpeg"\nquality = 90\ncanvas = 2000\nfill = 0.9\n'
        "[tiny.rules]\nmax_file_mb = 0.01\n"
    )
    out = tmp_path / "out.jpg"
    result = process(engines, get_profile("tiny", user), PHOTOS / "animal-1.jpg", out)
    failed = failed_checks(result)
    assert set(failed) == {"file_size"}
    assert failed["file_size"].value == out.stat().st_size > failed["file_size"].limit
    assert result.preflight.fixed[-1].startswith("quality 66 -> 60")
    assert Image.open(out).info.get("progression") or Image.open(out).format == "JPEG"


def test_a_size_cap_within_reach_is_met_by_a_lower_quality(engines, tmp_path):
    amazon = get_profile("amazon", tmp_path / "none.toml")
    first = process(engines, amazon, PHOTOS / "car-1.jpg", tmp_path / "first.jpg")
    size = (tmp_path / "first.jpg").stat().st_size
    user = tmp_path / "profiles.toml"
    user.write_text(
        '[capped]\n[capped.output]\nformat = "jpeg"\nquality = 90\ncanvas = 2000\n'
        f"[capped.rules]\nmax_file_mb = {size * 0.85 / 1024 / 1024:.4f}\n"
    )
    out = tmp_path / "capped.jpg"
    result = process(engines, get_profile("capped", user), PHOTOS / "car-1.jpg", out)
    assert first.preflight.passed and result.preflight.passed
    assert result.preflight.fixed and result.preflight.fixed[0].startswith("quality 90 -> 82")
    assert out.stat().st_size <= size * 0.85


def test_a_share_outside_the_rule_is_moved_into_it(engines, tmp_path):
    user = tmp_path / "profiles.toml"
    user.write_text(
        '[roomy]\n[roomy.output]\nformat = "jpeg"\ncanvas = 1000\nfill = 0.5\n'
        "[roomy.rules]\nmin_share = 0.75\nmax_share = 0.9\nwhite_frame = true\n"
    )
    out = tmp_path / "out.jpg"
    result = process(engines, get_profile("roomy", user), PHOTOS / "car-1.jpg", out)
    assert result.preflight.passed and result.preflight.fixed == ["fill 0.5 -> 0.77"]
    left, top, right, bottom = product_box(out)
    assert 0.74 <= max(right - left, bottom - top) / 1000 <= 0.8


def test_google_never_scales_a_small_product_up(engines, tmp_path):
    google = get_profile("google", tmp_path / "none.toml")
    small = PHOTOS / "car-1.jpg"  # 480 x 360: 0.85 of 1500 px would scale the car up 3.6 times
    result = process(engines, google, small, tmp_path / "out.jpg")
    assert result.preflight.passed
    assert result.preflight.fixed and "not scaled up" in result.preflight.fixed[0]
    assert 250 <= result.width < 480
    checks = {c.name: c for c in result.preflight.checks}
    assert checks["upscaled"].value <= 1.0
