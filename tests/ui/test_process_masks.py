"""The Process tab keeps every photo's mask (issue 12): one store per service, shared by every
batch; a later window processes the same photos with another preset without the model."""

from __future__ import annotations

import os

from fibuca_desktop.core.imaging.mask_store import MB
from fibuca_desktop.core.settings import Settings
from fibuca_desktop.ui.process.queue_model import DONE
from tests import corpus

BATCH_TIMEOUT_MS = 120_000


def test_one_store_for_every_batch_capped_by_the_settings(panel_factory, mask_store_folder):
    settings = Settings()
    settings.processing.mask_cache_mb = 64
    service = panel_factory(settings).service
    assert service.masks.folder == mask_store_folder and service.masks.cap_bytes == 64 * MB
    first = service.scheduler(settings).pipeline
    settings.processing.mask_cache_mb = 32
    second = service.scheduler(settings, settings.processing.resolved_preset()).pipeline
    assert first.masks is second.masks is service.masks and service.masks.cap_bytes == 32 * MB


def test_a_later_window_needs_no_model_for_photos_already_cut_out(
    panel_factory, qtbot, tmp_path, monkeypatch, mask_store_folder
):
    photos = corpus.copy_photos(tmp_path / "in", "car-1.jpg", "girl-1.jpg")
    panel = panel_factory()
    panel.add_paths(photos)
    with qtbot.waitSignal(panel.batch_finished, timeout=BATCH_TIMEOUT_MS):
        panel.start()
    assert len(list(mask_store_folder.glob("*/*.model.png"))) == 2
    monkeypatch.setenv("U2NET_HOME", str(tmp_path / "no-models"))  # the next window has none
    os.mkdir(tmp_path / "no-models")
    settings = Settings()
    settings.processing.preset = "web"
    later = panel_factory(settings)
    later.add_paths(photos)
    with qtbot.waitSignal(later.batch_finished, timeout=BATCH_TIMEOUT_MS):
        later.start()
    assert [item.status for item in later.model.items] == [DONE, DONE]
    assert not later.service.engines.is_loaded("u2netp")
