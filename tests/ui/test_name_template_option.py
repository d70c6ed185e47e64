"""The File name option (issue 13, Naming): a template typed in the preset options dialog is
checked as it is typed, previewed on an example photo, saved in the settings, and names the
queue's outputs through the panel's BatchPlan."""

from __future__ import annotations

import shutil

from PIL import Image
from PySide6.QtCore import QTimer
from PySide6.QtWidgets import QApplication

from fibuca_desktop.core.settings import Settings
from fibuca_desktop.ui.process.preset_options_dialog import PresetOptionsDialog
from tests.conftest import PHOTOS

TEMPLATE = "{stem}-{preset}-{width}x{height}"


def open_dialog(qtbot, preset: str, settings: Settings) -> PresetOptionsDialog:
    settings.processing.preset = preset
    dialog = PresetOptionsDialog(settings.processing)
    qtbot.addWidget(dialog)
    dialog.show()
    return dialog


def test_the_template_is_previewed_and_follows_the_options(qtbot):
    settings = Settings()
    dialog = open_dialog(qtbot, "web", settings)
    assert dialog.name_preview.text() == "IMG_0042.jpg -> IMG_0042.jpg"  # blank: its own name
    dialog.name_template.setText(TEMPLATE)
    assert dialog.name_preview.text() == "IMG_0042.jpg -> IMG_0042-web-800x600.jpg"
    dialog.max_side.setValue(400)
    dialog.format.setCurrentIndex(dialog.format.findData("webp"))
    assert dialog.name_preview.text() == "IMG_0042.jpg -> IMG_0042-web-400x300.webp"
    assert dialog.ok_button.isEnabled() and dialog.error.isHidden()
    dialog.ok_button.click()
    assert settings.processing.name_template == TEMPLATE


def test_an_invalid_template_is_said_and_cannot_be_accepted(qtbot):
    settings = Settings()
    dialog = open_dialog(qtbot, "square", settings)
    for text, words in [
        ("{stem.__class__}", "reaches into a field"),
        ("{size}", "unknown field {size}"),
        ("{stem", "unbalanced brace"),
        ("a/{stem}", "a slash"),
        ("{profile}", "an empty name"),  # no export profile chosen: nothing at all
    ]:
        dialog.name_template.setText(text)
        assert dialog.error.isVisible(), text
        assert words in dialog.error.text()
        assert not dialog.ok_button.isEnabled()
        assert dialog.name_preview.text() == ""
        dialog.accept()  # Enter in a field lands here: still refused
        assert dialog.isVisible()
    assert settings.processing.name_template == ""
    dialog.name_template.setText("{n:03}-{stem}")
    assert dialog.name_preview.text() == "IMG_0042.jpg -> 001-IMG_0042.jpg"
    assert dialog.ok_button.isEnabled()


def test_the_queue_is_named_by_the_template_and_follows_a_preset_change(
    panel_factory, qtbot, tmp_path
):
    panel = panel_factory()
    panel.preset_combo.setCurrentText("web")
    shoot = tmp_path / "shoot"
    shoot.mkdir()
    for name in ("car-1.jpg", "cloth-1.jpg"):
        shutil.copy(PHOTOS / name, shoot / name)

    def fill_in():
        dialog = QApplication.activeModalWidget()
        if isinstance(dialog, PresetOptionsDialog):
            dialog.name_template.setText(TEMPLATE)
            dialog.ok_button.click()

    QTimer.singleShot(50, fill_in)
    assert panel.edit_preset_options()
    assert panel.settings.processing.name_template == TEMPLATE
    panel.add_paths([shoot])
    queued = sorted(item.job.output.name for item in panel.model.items)
    assert queued == ["car-1-web-480x360.jpg", "cloth-1-web-521x800.jpg"]

    panel.preset_combo.setCurrentText("square")  # one extension, another name: re-planned
    queued = sorted(item.job.output.name for item in panel.model.items)
    assert queued == ["car-1-square-1200x1200.jpg", "cloth-1-square-1200x1200.jpg"]

    with qtbot.waitSignal(panel.batch_finished, timeout=120_000):
        panel.start()
    written = sorted(panel.output_folder.glob("*.jpg"))
    assert [path.name for path in written] == queued
    for path in written:
        with Image.open(path) as image:
            assert (image.format, image.size) == ("JPEG", (1200, 1200))
