"""The lean engine reproduces rembg: u2netp masks match ``rembg.remove`` (IoU >= 0.99 at 128).

Ours run with ``edges="rembg"`` (rembg's mask stretched to the photo, exactly): the default,
refined edges, differ from rembg's on purpose and are measured against it on their own (issue 11).

rembg runs in its own interpreter so this process never imports it (it brings numba and scipy).
"""

from __future__ import annotations

import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from fibuca_desktop.core.imaging.batch import Job
from fibuca_desktop.core.imaging.pipeline import PROCESSED, Pipeline
from fibuca_desktop.core.imaging.presets import get_preset
from tests.conftest import EXPECTED, PHOTO_NAMES, PHOTOS

pytestmark = pytest.mark.rembg

REMBG_SCRIPT = textwrap.dedent(
    """
    import sys
    from pathlib import Path
    from rembg import new_session, remove
    session = new_session("u2netp")
    out = Path(sys.argv[1])
    for path in map(Path, sys.argv[2:]):
        (out / (path.stem + ".png")).write_bytes(remove(path.read_bytes(), session=session))
    """
)


def iou(first: np.ndarray, second: np.ndarray) -> float:
    a, b = first >= 128, second >= 128
    union = np.logical_or(a, b).sum()
    return 1.0 if union == 0 else float(np.logical_and(a, b).sum() / union)


def alpha_of(path: Path) -> np.ndarray:
    with Image.open(path) as image:
        return np.asarray(image.getchannel("A"))


@pytest.fixture(scope="module")
def rembg_outputs(tmp_path_factory, u2netp_path) -> Path:
    out = tmp_path_factory.mktemp("rembg")
    done = subprocess.run(
        [sys.executable, "-c", REMBG_SCRIPT, str(out), *(str(PHOTOS / n) for n in PHOTO_NAMES)],
        capture_output=True,
        text=True,
        timeout=900,
    )
    assert done.returncode == 0, done.stderr[-2000:]
    return out


@pytest.fixture(scope="module")
def our_outputs(tmp_path_factory, engines) -> Path:
    out = tmp_path_factory.mktemp("ours")
    pipeline = Pipeline(engines, get_preset("transparent").with_options(edges="rembg"), "u2netp")
    for name in PHOTO_NAMES:
        result = pipeline.process(Job(PHOTOS / name, out / (Path(name).stem + ".png")))
        assert result.status == PROCESSED, result.message
    return out


def test_iou_helper_can_tell_masks_apart():
    left = np.zeros((10, 10), np.uint8)
    left[:, :5] = 255
    assert iou(left, left) == 1.0
    assert iou(left, 255 - left) == 0.0


@pytest.mark.parametrize("name", PHOTO_NAMES)
def test_mask_matches_rembg(name, rembg_outputs, our_outputs):
    stem = Path(name).stem
    ours, theirs = alpha_of(our_outputs / f"{stem}.png"), alpha_of(rembg_outputs / f"{stem}.png")
    assert ours.shape == theirs.shape  # same orientation and size
    assert iou(ours, theirs) >= 0.99
    assert np.abs(ours.astype(int) - theirs.astype(int)).max() <= 2  # same numbers, not just shape


def test_matches_rembgs_own_expected_output(our_outputs):
    """rembg's repository ships its u2netp result for this drawing."""
    expected = alpha_of(EXPECTED / "anime-girl-1.u2netp.png")
    ours = alpha_of(our_outputs / "anime-girl-1.png")
    assert iou(ours, expected) >= 0.99
    assert np.abs(ours.astype(int) - expected.astype(int)).max() <= 2
