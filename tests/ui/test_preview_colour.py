"""The preview shows a CMYK photo in the colours its output has (issue 10, item 10): both come
from the one decode path, which converts CMYK through the photo's own profile."""

from __future__ import annotations

import numpy as np
import pytest
from PIL import Image
from PySide6.QtCore import QThreadPool
from PySide6.QtGui import QImage

from fibuca_desktop.core.imaging.batch import Job
from fibuca_desktop.core.imaging.pipeline import PROCESSED, Pipeline
from fibuca_desktop.core.imaging.presets import get_preset
from fibuca_desktop.ui.process.preview import LOADED, CutoutPreviewWidget
from tests import corpus


def pixels(image: QImage) -> np.ndarray:
    """An RGB QImage's pixels as an (h, w, 3) array (a copy: the converted QImage dies here)."""
    image = image.convertToFormat(QImage.Format.Format_RGB888)
    rows = np.frombuffer(image.constBits(), np.uint8).reshape(image.height(), image.bytesPerLine())
    return rows[:, : image.width() * 3].reshape(image.height(), image.width(), 3).copy()


@pytest.fixture
def pool():
    pool = QThreadPool()
    pool.setObjectName("test-preview-colour-pool")
    pool.setMaxThreadCount(1)
    yield pool
    pool.clear()
    pool.waitForDone()


@pytest.mark.parametrize("photo", ["car-1.jpg", "animal-1.jpg"])
@pytest.mark.parametrize("profile_name", ["default_cmyk.icc", "ps_cmyk.icc"])
def test_preview_of_a_cmyk_photo_shows_the_output_colours(
    qtbot, pool, engines, tmp_path, photo, profile_name
):
    profile = corpus.system_profile(profile_name)
    swop = corpus.system_profile("default_cmyk.icc")
    data = corpus.encode(
        corpus.to_cmyk(corpus.photo(photo, 640), swop), "JPEG", quality=95, icc_profile=profile
    )
    source, output = tmp_path / "cmyk.jpg", tmp_path / "cmyk.png"
    source.write_bytes(data)
    # rembg's edges: refined ones estimate the product's colour at the edge, not the photo's
    preset = get_preset("transparent").with_options(edges="rembg")
    result = Pipeline(engines, preset, "u2netp").process(Job(source, output))
    assert result.status == PROCESSED, result.message

    widget = CutoutPreviewWidget(pool)
    qtbot.addWidget(widget)
    widget.show_pair(source, output)
    qtbot.waitUntil(lambda: widget.state == LOADED, timeout=10_000)

    shown = pixels(widget.canvas.original).astype(np.int16)
    with Image.open(output) as cutout:
        written = np.asarray(cutout).astype(np.int16)
    visible = written[:, :, 3] > 0
    assert shown.shape[:2] == written.shape[:2] and visible.mean() > 0.02
    assert np.abs(shown - written[:, :, :3])[visible].max() <= 1
    reference = np.asarray(corpus.cmyk_reference(data, profile)).astype(np.int16)
    assert np.abs(shown - reference).max() <= 1
