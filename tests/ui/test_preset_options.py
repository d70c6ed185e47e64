"""Preset options in the window (issue 10): each preset's own options, its real defaults shown,
only the fields that apply, and an impossible combination refused inline with OK disabled."""

from __future__ import annotations

import shutil

import pytest
from PIL import Image
from PySide6.QtCore import QTimer
from PySide6.QtWidgets import QApplication

from fibuca_desktop.core.imaging.presets import PRESETS, get_preset
from fibuca_desktop.core.settings import PresetOptions, Settings
from fibuca_desktop.ui.process.preset_options_dialog import PresetOptionsDialog
from tests import corpus
from tests.conftest import PHOTOS


def open_dialog(qtbot, preset: str, settings: Settings | None = None) -> PresetOptionsDialog:
    settings = settings or Settings()
    settings.processing.preset = preset
    dialog = PresetOptionsDialog(settings.processing)
    qtbot.addWidget(dialog)
    dialog.show()
    return dialog


def shown(dialog: PresetOptionsDialog) -> list[str]:
    return [name for name, w in dialog._fields.items() if dialog.form.isRowVisible(w)]


DEFAULTS = {
    "transparent": ("original size", "png", None, "transparent", None),
    "web": ("800 px", "jpeg", "85", "white", None),
    "square": ("1200 px", "jpeg", "90", "white", "0.05"),
    "mask": ("original size", "png", None, None, None),
}


@pytest.mark.parametrize("name", PRESETS)
def test_the_preset_defaults_are_shown_with_their_values(qtbot, name):
    side, fmt, quality, background, margin = DEFAULTS[name]
    dialog = open_dialog(qtbot, name)
    assert dialog.max_side.text() == f"{side} (preset default)"
    assert dialog.format.currentText() == f"{fmt} (preset default)"
    if quality:
        assert dialog.quality.text() == f"{quality} (preset default)"
    if background:
        assert dialog.background.placeholderText().startswith(f"{background} (preset default)")
    if margin:
        assert dialog.margin.text() == f"{margin} (preset default)"
    assert "preset default" not in dialog.windowTitle()
    assert dialog.ok_button.isEnabled() and dialog.error.isHidden()


@pytest.mark.parametrize(
    ("name", "fields"),
    [
        ("transparent", ["max_side", "format", "background", "edges"]),  # PNG: no quality
        ("web", ["max_side", "format", "quality", "background", "edges"]),
        ("square", ["max_side", "format", "quality", "background", "margin", "edges"]),
        ("mask", ["max_side", "format", "edges"]),  # no background, PNG: no quality
    ],
)
def test_only_the_fields_that_apply_are_shown(qtbot, name, fields):
    dialog = open_dialog(qtbot, name)
    assert shown(dialog) == fields
    assert dialog.form.labelForField(dialog.max_side).text() == (
        "Canvas side" if name == "square" else "Longest side"
    )


def test_quality_appears_with_a_lossy_format_and_mask_offers_no_webp(qtbot):
    dialog = open_dialog(qtbot, "mask")
    assert [dialog.format.itemData(i) for i in range(dialog.format.count())] == [
        None,
        "png",
        "jpeg",
    ]
    dialog.format.setCurrentIndex(dialog.format.findData("jpeg"))
    assert "quality" in shown(dialog)
    web = open_dialog(qtbot, "web")
    web.quality.setValue(40)
    web.format.setCurrentIndex(web.format.findData("png"))
    assert "quality" not in shown(web)
    assert web.values()["quality"] is None  # a hidden field is never stored


IMPOSSIBLE = [
    ("transparent", {"format": "jpeg"}, "JPEG cannot store transparency"),
    ("transparent", {"format": "jpeg", "background": "transparent"}, "JPEG cannot store"),
    ("web", {"background": "transparent"}, "JPEG cannot store transparency"),
    ("web", {"background": "None"}, "JPEG cannot store transparency"),
    ("square", {"background": "TRANSPARENT"}, "JPEG cannot store transparency"),
    ("web", {"background": "not-a-colour"}, "'not-a-colour' is not a colour"),
    ("transparent", {"background": "#12345"}, "is not a colour"),
]


@pytest.mark.parametrize(("name", "change", "words"), IMPOSSIBLE)
def test_an_impossible_combination_is_refused_inline_and_never_saved(qtbot, name, change, words):
    settings = Settings()
    dialog = open_dialog(qtbot, name, settings)
    if "format" in change:
        dialog.format.setCurrentIndex(dialog.format.findData(change["format"]))
    if "background" in change:
        dialog.background.setText(change["background"])
    assert words in dialog.error.text()  # at once, before OK
    assert dialog.error.isVisible() and not dialog.ok_button.isEnabled()
    assert "--" not in dialog.error.text()  # the dialog's own field names, not CLI flags
    dialog.accept()  # Enter in a field
    assert dialog.isVisible() and settings.processing.options == {}
    dialog.background.setText("#f4f4f4")  # a fix re-enables OK
    assert dialog.ok_button.isEnabled() and dialog.error.isHidden()
    dialog.ok_button.click()
    assert not dialog.isVisible()
    stored = settings.processing.options[name]
    assert stored.background == "#f4f4f4"
    assert settings.processing.resolved_preset().background == (0xF4, 0xF4, 0xF4)


@pytest.mark.parametrize("name", ["square", "transparent", "web"])
def test_a_side_the_format_cannot_store_is_refused_inline(qtbot, name):
    """WebP stores at most 16383 px a side: every photo would fail at run time."""
    settings = Settings()
    dialog = open_dialog(qtbot, name, settings)
    dialog.format.setCurrentIndex(dialog.format.findData("webp"))
    dialog.max_side.setValue(16384)
    assert "WEBP can store at most 16383 pixels a side" in dialog.error.text()
    assert "choose png or jpeg as the Format" in dialog.error.text()
    assert "--" not in dialog.error.text() and not dialog.ok_button.isEnabled()
    dialog.max_side.setValue(16383)
    assert dialog.ok_button.isEnabled() and dialog.error.isHidden()


def test_options_belong_to_the_preset_they_were_set_for(qtbot):
    """Issue 10: Web, Options, Format jpeg; then transparent: nothing of web's follows."""
    settings = Settings()
    web = open_dialog(qtbot, "web", settings)
    web.format.setCurrentIndex(web.format.findData("jpeg"))
    web.quality.setValue(60)
    web.ok_button.click()
    assert settings.processing.options == {"web": PresetOptions(format="jpeg", quality=60)}
    settings.processing.preset = "transparent"
    assert settings.processing.resolved_preset() == get_preset("transparent")
    transparent = open_dialog(qtbot, "transparent", settings)
    assert transparent.format.currentData() is None  # its own (empty) options
    assert open_dialog(qtbot, "web", settings).quality.value() == 60  # web's are still there


def test_values_map_to_options_and_defaults_restore(qtbot):
    settings = Settings()
    dialog = open_dialog(qtbot, "square", settings)
    dialog.max_side.setValue(600)
    dialog.margin.setValue(0.1)
    dialog.quality.setValue(70)
    assert dialog.values() == {
        "max_side": 600,
        "format": None,
        "quality": 70,
        "background": None,
        "margin": 0.1,
        "edges": None,
    }
    dialog.restore_defaults()
    assert set(dialog.values().values()) == {None}
    dialog.ok_button.click()
    assert settings.processing.options == {}  # all defaults: nothing stored


def test_the_dialog_renders(qtbot, tmp_path):
    dialog = open_dialog(qtbot, "web")
    dialog.background.setText("transparent")
    assert dialog.grab().save(str(tmp_path / "options.png"))


def test_the_panel_uses_the_saved_options(panel_factory, qtbot, tmp_path):
    panel = panel_factory()
    panel.preset_combo.setCurrentText("web")

    def fill_in():
        dialog = QApplication.activeModalWidget()
        if isinstance(dialog, PresetOptionsDialog):
            dialog.max_side.setValue(300)
            dialog.accept()

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


def test_run_again_after_options_for_another_preset_never_crashes(panel_factory, qtbot, tmp_path):
    """Issue 10 item 2: Web, Options, Format jpeg; switch to transparent; Run again."""
    panel = panel_factory()
    panel.preset_combo.setCurrentText("web")

    def choose_jpeg():
        dialog = QApplication.activeModalWidget()
        if isinstance(dialog, PresetOptionsDialog):
            dialog.format.setCurrentIndex(dialog.format.findData("jpeg"))
            dialog.max_side.setValue(200)
            dialog.ok_button.click()

    QTimer.singleShot(50, choose_jpeg)
    assert panel.edit_preset_options()
    photo = tmp_path / "shoot" / "car.jpg"
    photo.parent.mkdir()
    shutil.copy(PHOTOS / "car-2.jpg", photo)
    panel.add_paths([photo.parent])
    with qtbot.waitSignal(panel.batch_finished, timeout=120_000):
        panel.start()
    panel.preset_combo.setCurrentText("transparent")
    with qtbot.waitSignal(panel.batch_finished, timeout=120_000):
        assert panel.rerun_with_current_preset() == 1
    (again,) = corpus.written_files(tmp_path / "shoot-cutouts-transparent")
    with Image.open(again) as image:
        assert (again.suffix, image.format, image.mode) == (".png", "PNG", "RGBA")
        assert max(image.size) > 200  # web's options stayed with web
    assert panel.settings.processing.options == {"web": PresetOptions(max_side=200, format="jpeg")}
