"""The Edges choice in the Options dialog (issue 11): shown for every preset, saved for the
chosen preset only, and carried to the pipeline by Start and Run again."""

from __future__ import annotations

import shutil

import pytest
from PySide6.QtCore import QTimer
from PySide6.QtWidgets import QApplication

from fibuca_desktop.core.imaging.presets import PRESETS
from fibuca_desktop.core.settings import PresetOptions, Settings
from fibuca_desktop.ui.process.preset_options_dialog import PresetOptionsDialog
from tests import corpus
from tests.conftest import PHOTOS
from tests.ui.test_preset_options import open_dialog


def choices(dialog: PresetOptionsDialog) -> list[tuple[str, str | None]]:
    combo = dialog.edges
    return [(combo.itemText(i), combo.itemData(i)) for i in range(combo.count())]


@pytest.mark.parametrize("name", PRESETS)
def test_every_preset_shows_the_edges_choice_refined_by_default(qtbot, name):
    dialog = open_dialog(qtbot, name)
    assert dialog.form.isRowVisible(dialog.edges)
    assert dialog.form.labelForField(dialog.edges).text() == "Edges"
    assert choices(dialog) == [("Refined (preset default)", None), ("As rembg", "rembg")]
    assert dialog.edges.currentIndex() == 0
    tip = " ".join(dialog.edges.toolTip().split())
    assert "follows the full-resolution photo's edges and estimates their true colours" in tip
    assert "As rembg: rembg's own edges, exactly as before" in tip
    assert dialog.ok_button.isEnabled()


@pytest.mark.parametrize("name", PRESETS)
def test_as_rembg_is_saved_for_the_chosen_preset_only(qtbot, name):
    settings = Settings()
    dialog = open_dialog(qtbot, name, settings)
    dialog.edges.setCurrentIndex(dialog.edges.findData("rembg"))
    dialog.ok_button.click()
    assert settings.processing.options == {name: PresetOptions(edges="rembg")}
    assert settings.processing.resolved_preset().edges == "rembg"
    again = open_dialog(qtbot, name, settings)
    assert again.edges.currentText() == "As rembg"  # shown as saved
    for other in set(PRESETS) - {name}:
        assert open_dialog(qtbot, other, settings).edges.currentIndex() == 0, other
    settings.processing.preset = name
    again = open_dialog(qtbot, name, settings)
    again.restore_defaults()
    assert again.values()["edges"] is None
    again.ok_button.click()
    assert settings.processing.options == {}  # back to the preset's own: nothing stored


def test_edges_join_the_other_options_of_a_preset(qtbot):
    settings = Settings()
    settings.processing.set_options("web", PresetOptions(max_side=300))
    dialog = open_dialog(qtbot, "web", settings)
    dialog.edges.setCurrentIndex(dialog.edges.findData("rembg"))
    dialog.ok_button.click()
    assert settings.processing.options == {"web": PresetOptions(max_side=300, edges="rembg")}


@pytest.mark.parametrize(("stored", "shown"), [("REMBG ", "As rembg"), ("refined", "Refined")])
def test_a_stored_value_shows_however_the_file_spells_it(qtbot, stored, shown):
    settings = Settings()
    settings.processing.options["square"] = PresetOptions(edges=stored)
    dialog = open_dialog(qtbot, "square", settings)
    assert dialog.edges.currentText().startswith(shown)


def _choose_in_options(panel, edges: str | None) -> None:
    def choose():
        dialog = QApplication.activeModalWidget()
        if isinstance(dialog, PresetOptionsDialog):
            dialog.edges.setCurrentIndex(dialog.edges.findData(edges))
            dialog.ok_button.click()

    QTimer.singleShot(50, choose)
    assert panel.edit_preset_options()


def test_start_and_run_again_carry_each_preset_s_edges(panel_factory, qtbot, tmp_path):
    """Web keeps its own (refined) edges; transparent, set to As rembg, runs with rembg's."""
    panel = panel_factory()
    panel.preset_combo.setCurrentText("transparent")
    _choose_in_options(panel, "rembg")
    panel.preset_combo.setCurrentText("web")
    photo = tmp_path / "shoot" / "car.jpg"
    photo.parent.mkdir()
    shutil.copy(PHOTOS / "car-2.jpg", photo)
    panel.add_paths([photo.parent])
    with qtbot.waitSignal(panel.batch_finished, timeout=120_000):
        panel.start()
        used = panel._scheduler.pipeline.preset  # results arrive by queued signals: still set
    assert (used.name, used.edges) == ("web", "refined")
    panel.preset_combo.setCurrentText("transparent")
    with qtbot.waitSignal(panel.batch_finished, timeout=120_000):
        assert panel.rerun_with_current_preset() == 1
        used = panel._scheduler.pipeline.preset
    assert (used.name, used.edges) == ("transparent", "rembg")
    assert len(corpus.written_files(tmp_path / "shoot-cutouts-transparent")) == 1
    assert panel.settings.processing.options == {"transparent": PresetOptions(edges="rembg")}


def test_the_dialog_with_edges_renders(qtbot, tmp_path):
    settings = Settings()
    settings.processing.options["mask"] = PresetOptions(edges="rembg")
    dialog = open_dialog(qtbot, "mask", settings)
    image = dialog.grab()
    assert image.height() >= dialog.edges.geometry().bottom()  # the row is inside the dialog
    assert image.save(str(tmp_path / "options.png"))
