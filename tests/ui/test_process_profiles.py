"""The Process tab with an export profile: picked from its combo, every output checked, a badge
with the reasons in its tooltip, and a filter down to the rejected photos."""

from __future__ import annotations

import shutil
from pathlib import Path

from PIL import Image
from PySide6.QtCore import Qt

from fibuca_desktop.core.settings import Settings
from fibuca_desktop.ui.process.queue_model import COLUMNS, DONE
from tests import corpus
from tests.conftest import PHOTOS

BATCH_TIMEOUT_MS = 180_000
PREFLIGHT = COLUMNS.index("Preflight")


def _run(panel, qtbot, photos):
    panel.add_paths(photos)
    with qtbot.waitSignal(panel.batch_finished, timeout=BATCH_TIMEOUT_MS):
        panel.start()
    assert all(item.status == DONE for item in panel.model.items)


def test_a_profile_picked_in_the_tab_checks_every_output(panel_factory, qtbot, tmp_path):
    panel = panel_factory()
    panel.show()
    combo = panel.profile_combo
    names = [combo.itemText(i) for i in range(combo.count())]
    assert names == ["None", "amazon", "shopify", "ebay", "etsy", "google"]
    combo.setCurrentIndex(combo.findData("amazon"))
    assert panel.settings.processing.profile == "amazon"
    assert not panel.preset_combo.isEnabled() and not panel.options_button.isEnabled()
    # the profile's own output replaces the preset: the combo would name the wrong one
    assert not panel.preset_combo.isVisible() and panel.profile_preset_label.isVisible()
    assert panel.profile_preset_label.text() == "set by amazon"
    assert "Amazon" in panel.profile_preset_label.toolTip()
    combo.setCurrentIndex(combo.findData(None))
    assert panel.preset_combo.isVisible() and not panel.profile_preset_label.isVisible()
    combo.setCurrentIndex(combo.findData("amazon"))

    _run(panel, qtbot, corpus.copy_photos(tmp_path / "in", "car-2.jpg", "animal-2.jpg"))
    for row, item in enumerate(panel.model.items):
        assert panel.model.index(row, PREFLIGHT).data() == "✓ amazon"
        tip = panel.model.index(row, PREFLIGHT).data(Qt.ItemDataRole.ToolTipRole)
        assert tip == "Passes every amazon rule"
        with Image.open(item.job.output) as image:
            assert image.size == (2000, 2000) and image.format == "JPEG"
    assert panel.rejected_only_box.text() == "Rejected only"


def test_rejected_photos_say_why_and_can_be_shown_alone(
    panel_factory, qtbot, tmp_path, monkeypatch
):
    user = tmp_path / "profiles.toml"
    user.write_text(  # plants-1 cannot get under it even at quality 60; car-1 can
        "[tight]\n[tight.output]\ncanvas = 1600\nfill = 0.9\n[tight.rules]\nmax_file_mb = 0.067\n"
    )
    monkeypatch.setenv("FIBUCA_PROFILES_FILE", str(user))
    settings = Settings()
    settings.processing.profile = "tight"
    panel = panel_factory(settings)
    panel.show()
    assert panel.profile_combo.currentData() == "tight"
    folder = tmp_path / "in"
    folder.mkdir()
    photos = [Path(shutil.copy(PHOTOS / name, folder)) for name in ("plants-1.jpg", "car-1.jpg")]
    _run(panel, qtbot, photos)
    model = panel.model
    rejected = [item for item in model.items if item.rejected]
    passed = [item for item in model.items if not item.rejected]
    assert rejected and passed, [item.preflight for item in model.items]
    row = model.items.index(rejected[0])
    assert model.index(row, PREFLIGHT).data() == "✗ tight"
    tip = model.index(row, PREFLIGHT).data(Qt.ItemDataRole.ToolTipRole)
    assert "Rejected: file size" in tip and "Fixed: quality" in tip
    assert panel.rejected_only_box.text() == f"Rejected only ({len(rejected)})"

    panel.rejected_only_box.setChecked(True)
    hidden = [panel.table.isRowHidden(r) for r in range(len(model.items))]
    assert hidden == [not item.rejected for item in model.items]
    panel.rejected_only_box.setChecked(False)
    assert not any(panel.table.isRowHidden(r) for r in range(len(model.items)))
