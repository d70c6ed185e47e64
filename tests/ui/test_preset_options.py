"""Preset options in the window: validated like the CLI's flags, saved only when valid."""

from __future__ import annotations

import shutil

from PIL import Image
from PySide6.QtWidgets import QApplication

from fibuca_desktop.core.settings import Settings
from fibuca_desktop.ui.process.preset_options_dialog import PresetOptionsDialog
from tests.conftest import PHOTOS


def test_an_impossible_combination_is_explained_and_not_saved(qtbot):
    settings = Settings()  # preset "transparent"
    dialog = PresetOptionsDialog(settings.processing)
    qtbot.addWidget(dialog)
    dialog.show()
    dialog.format.setCurrentIndex(dialog.format.findData("jpeg"))
    dialog.accept()
    assert dialog.isVisible()  # stays open
    assert "JPEG cannot store transparency" in dialog.error.text()
    assert "--" not in dialog.error.text()  # the dialog's own field names, not CLI flags
    assert settings.processing.format is None  # nothing saved
    dialog.background.setText("white")
    dialog.accept()
    assert not dialog.isVisible()
    assert (settings.processing.format, settings.processing.background) == ("jpeg", "white")


def test_values_map_to_overrides_and_defaults_restore(qtbot):
    settings = Settings()
    settings.processing.preset = "square"
    dialog = PresetOptionsDialog(settings.processing)
    qtbot.addWidget(dialog)
    dialog.max_side.setValue(600)
    dialog.margin.setValue(0.1)
    dialog.quality.setValue(70)
    assert dialog.values() == {
        "max_side": 600,
        "format": None,
        "quality": 70,
        "background": None,
        "margin": 0.1,
    }
    dialog.restore_defaults()
    assert set(dialog.values().values()) == {None}


def test_the_panel_uses_the_saved_options(panel_factory, qtbot, tmp_path):
    panel = panel_factory()
    panel.preset_combo.setCurrentText("web")

    def fill_in():
        dialog = QApplication.activeModalWidget()
        if isinstance(dialog, PresetOptionsDialog):
            dialog.max_side.setValue(300)
            dialog.accept()

    from PySide6.QtCore import QTimer

    QTimer.singleShot(50, fill_in)
    assert panel.edit_preset_options()
    assert panel.settings.processing.resolved_preset().max_side == 300
    photo = tmp_path / "car.jpg"
    shutil.copy(PHOTOS / "car-2.jpg", photo)
    panel.add_paths([photo])
    with qtbot.waitSignal(panel.batch_finished, timeout=120_000):
        panel.start()
    assert panel.output_folder == tmp_path.parent / f"{tmp_path.name}-cutouts"  # beside, not in
    with Image.open(panel.output_folder / "car.jpg") as image:
        assert max(image.size) == 300  # the option reached the pipeline
