"""The Process tab with real widgets, real drops, the real model and real photos (offscreen)."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
from PIL import Image
from PySide6.QtCore import QMimeData, QPoint, QPointF, QSettings, Qt, QTimer, QUrl
from PySide6.QtGui import QDragEnterEvent, QDropEvent
from PySide6.QtWidgets import QApplication, QMessageBox

from fibuca_desktop.core.settings import Settings
from fibuca_desktop.ui.log_pane import QtLogHandler
from fibuca_desktop.ui.main_window import MainWindow
from fibuca_desktop.ui.monitor.monitor_hub import MonitorHub
from fibuca_desktop.ui.process.process_panel import ProcessPanel, ProcessService
from fibuca_desktop.ui.process.queue_model import CANCELLED, COLUMNS, DONE, FAILED, QUEUED
from tests import corpus
from tests.conftest import PHOTOS

BATCH_TIMEOUT_MS = 120_000


@pytest.fixture
def settings(u2netp_path):
    settings = Settings()
    settings.processing.workers = 1  # deterministic order for cancel tests
    return settings


@pytest.fixture
def panel(qtbot, settings):
    panel = ProcessPanel(ProcessService(settings), settings)
    qtbot.addWidget(panel)
    panel.resize(900, 500)
    panel.show()
    yield panel
    panel.shutdown()


@pytest.fixture
def window(qtbot, tmp_path, settings):
    window = MainWindow(
        settings,
        QSettings(str(tmp_path / "state.ini"), QSettings.Format.IniFormat),
        QtLogHandler(),
        ProcessService(settings),
        MonitorHub(),
    )
    qtbot.addWidget(window)
    yield window
    window.process_panel.shutdown()
    window.monitor_panel.shutdown()


def drop(widget, paths: list[Path]) -> bool:
    """A real drag-enter and drop, as a file manager sends them."""
    mime = QMimeData()
    mime.setUrls([QUrl.fromLocalFile(str(p)) for p in paths])
    centre = widget.rect().center()
    enter = QDragEnterEvent(
        centre,
        Qt.DropAction.CopyAction,
        mime,
        Qt.MouseButton.LeftButton,
        Qt.KeyboardModifier.NoModifier,
    )
    QApplication.sendEvent(widget, enter)
    if not enter.isAccepted():
        return False
    event = QDropEvent(
        QPointF(centre),
        Qt.DropAction.CopyAction,
        mime,
        Qt.MouseButton.LeftButton,
        Qt.KeyboardModifier.NoModifier,
    )
    QApplication.sendEvent(widget, event)
    return event.isAccepted()


def statuses(panel) -> dict[str, str]:
    return {item.job.input.name: item.status for item in panel.model.items}


def leftovers(folder: Path) -> list[Path]:
    return corpus.leftovers(folder)


def make_inputs(tmp_path: Path, copies: int = 1) -> Path:
    folder = tmp_path / "shoot"
    (folder / "details").mkdir(parents=True)
    for copy in range(copies):
        shutil.copy(PHOTOS / "car-1.jpg", folder / f"{copy:02d}-car.jpg")
        shutil.copy(PHOTOS / "girl-1.jpg", folder / "details" / f"{copy:02d}-girl.jpg")
    return folder


def test_dropping_a_folder_and_files_queues_them_and_lists_what_was_not_added(panel, tmp_path):
    folder = make_inputs(tmp_path)
    (folder / "notes.txt").write_text("not a photo")
    loose = tmp_path / "loose.png"
    shutil.copy(PHOTOS / "plants-1.jpg", loose)
    assert drop(panel, [folder, loose])
    assert statuses(panel) == {"00-car.jpg": QUEUED, "00-girl.jpg": QUEUED, "loose.png": QUEUED}
    assert "notes.txt (not an image file type (.txt))" in panel.notice.text()
    assert panel.output_folder == tmp_path / "shoot-cutouts"  # beside the input, never inside
    assert panel.start_button.isEnabled() and not panel.drop_hint.isVisible()


def test_a_drop_without_files_is_refused(panel):
    mime = QMimeData()
    mime.setText("just text")
    enter = QDragEnterEvent(
        QPoint(5, 5),
        Qt.DropAction.CopyAction,
        mime,
        Qt.MouseButton.LeftButton,
        Qt.KeyboardModifier.NoModifier,
    )
    QApplication.sendEvent(panel, enter)
    assert not enter.isAccepted()


def test_a_batch_runs_to_the_end_and_a_bad_file_fails_alone(panel, qtbot, tmp_path):
    folder = make_inputs(tmp_path, copies=2)
    (folder / "broken.jpg").write_bytes((PHOTOS / "car-2.jpg").read_bytes()[:3000])
    original = {p: p.read_bytes() for p in folder.rglob("*.jpg")}
    drop(panel, [folder])
    panel.start_button.click()
    assert panel.busy and panel.cancel_button.isEnabled()
    qtbot.waitUntil(lambda: not panel.busy, timeout=BATCH_TIMEOUT_MS)
    result = statuses(panel)
    assert result.pop("broken.jpg") == FAILED
    assert set(result.values()) == {DONE}
    broken = next(i for i in panel.model.items if i.job.input.name == "broken.jpg")
    assert "truncated or damaged" in broken.message
    out = tmp_path / "shoot-cutouts"
    written = sorted(str(p.relative_to(out)) for p in out.rglob("*.png"))
    assert written == ["00-car.png", "01-car.png", "details/00-girl.png", "details/01-girl.png"]
    for path in out.rglob("*.png"):
        with Image.open(path) as image:
            image.load()
            assert image.mode == "RGBA"
    assert {p: p.read_bytes() for p in folder.rglob("*.jpg")} == original
    assert leftovers(out) == []
    assert panel.progress.value() == panel.progress.maximum() == 5
    assert "4 done" in panel.progress_label.text() and "1 failed" in panel.progress_label.text()


def test_cancel_mid_batch_drops_the_queue(panel, qtbot, tmp_path):
    folder = make_inputs(tmp_path, copies=6)
    drop(panel, [folder])
    panel.start()
    qtbot.waitUntil(lambda: DONE in statuses(panel).values(), timeout=BATCH_TIMEOUT_MS)
    panel.cancel_button.click()
    qtbot.waitUntil(lambda: not panel.busy, timeout=BATCH_TIMEOUT_MS)
    result = list(statuses(panel).values())
    assert result.count(DONE) >= 1 and result.count(CANCELLED) >= 8
    assert set(result) <= {DONE, CANCELLED}
    out = tmp_path / "shoot-cutouts"
    done = {i.job.output for i in panel.model.items if i.status == DONE}
    assert set(out.rglob("*.png")) == done  # nothing written for cancelled photos
    assert leftovers(out) == []
    assert panel.retry_button.isEnabled()


def test_retry_after_a_failure(panel, qtbot, tmp_path):
    folder = tmp_path / "in"
    folder.mkdir()
    photo = folder / "late.jpg"
    photo.write_bytes((PHOTOS / "car-1.jpg").read_bytes()[:2000])  # still copying, say
    drop(panel, [folder])
    panel.start()
    qtbot.waitUntil(lambda: not panel.busy, timeout=BATCH_TIMEOUT_MS)
    assert statuses(panel) == {"late.jpg": FAILED}
    shutil.copy(PHOTOS / "car-1.jpg", photo)  # the copy has finished
    panel.retry_button.click()
    qtbot.waitUntil(lambda: not panel.busy, timeout=BATCH_TIMEOUT_MS)
    assert statuses(panel) == {"late.jpg": DONE}
    assert (tmp_path / "in-cutouts" / "late.png").is_file()


def test_closing_while_busy_asks_then_cancels_and_waits(qtbot, tmp_path, window):
    window.show()
    panel = window.process_panel
    drop(panel, [make_inputs(tmp_path, copies=6)])
    panel.start()
    answers = []

    def answer(button):
        box = QApplication.activeModalWidget()
        if isinstance(box, QMessageBox):
            answers.append(box.text())
            box.button(button).click()

    QTimer.singleShot(50, lambda: answer(QMessageBox.StandardButton.No))
    window.close()
    assert window.isVisible() and panel.busy  # "No": keep working
    QTimer.singleShot(50, lambda: answer(QMessageBox.StandardButton.Yes))
    window.close()
    assert not window.isVisible()
    assert len(answers) == 2 and "Stop processing" in answers[0]
    out = tmp_path / "shoot-cutouts"
    assert not out.exists() or leftovers(out) == []
    for path in out.rglob("*.png") if out.exists() else []:
        with Image.open(path) as image:
            image.load()  # whatever was written is whole


def test_status_bar_tells_when_the_model_has_loaded(qtbot, tmp_path, window):
    assert window.model_label.text() == "Model: u2netp (loads on first use)"
    photo = tmp_path / "one.jpg"
    shutil.copy(PHOTOS / "girl-1.jpg", photo)
    window.process_panel.add_paths([photo])
    with qtbot.waitSignal(window.process_panel.batch_finished, timeout=BATCH_TIMEOUT_MS):
        window.process_panel.start()
    assert window.model_label.text() == "Model: u2netp (loaded)"  # refreshed at the batch's end
    assert window.statusBar().currentMessage() == "Batch finished: 1 done"
    done = window.process_panel.model.items[0]
    output_cell = window.process_panel.model.index(0, COLUMNS.index("Output"))
    assert output_cell.data() == "one.png"  # the folder is in the tooltip, not repeated per row
    assert output_cell.data(Qt.ItemDataRole.ToolTipRole) == str(done.job.output)


def test_existing_outputs_are_skipped_unless_replace_is_ticked(panel, qtbot, tmp_path):
    folder = make_inputs(tmp_path)
    drop(panel, [folder])
    panel.start()
    qtbot.waitUntil(lambda: not panel.busy, timeout=BATCH_TIMEOUT_MS)
    panel.clear_button.click()
    drop(panel, [folder])
    panel.start()
    qtbot.waitUntil(lambda: not panel.busy, timeout=BATCH_TIMEOUT_MS)
    assert set(statuses(panel).values()) == {"skipped"}
    assert panel.open_button.isEnabled()  # the outputs are on disk
    panel.clear_button.click()
    panel.overwrite_box.setChecked(True)
    assert panel.settings.processing.overwrite  # remembered in settings
    drop(panel, [folder])
    panel.start()
    qtbot.waitUntil(lambda: not panel.busy, timeout=BATCH_TIMEOUT_MS)
    assert set(statuses(panel).values()) == {DONE}


def test_thumbnails_are_made_off_the_gui_thread_and_shown(panel, qtbot, tmp_path):
    folder = make_inputs(tmp_path)
    (folder / "broken.jpg").write_bytes((PHOTOS / "car-2.jpg").read_bytes()[:3000])
    drop(panel, [folder])
    qtbot.waitUntil(
        lambda: all(
            i.thumbnail is not None for i in panel.model.items if i.job.input.name != "broken.jpg"
        ),
        timeout=30_000,
    )
    car = next(i for i in panel.model.items if i.job.input.name == "00-car.jpg")
    assert max(car.thumbnail.width(), car.thumbnail.height()) == 48
    row = panel.model.items.index(car)
    assert panel.model.index(row, 0).data(Qt.ItemDataRole.DecorationRole) == car.thumbnail
    broken = next(i for i in panel.model.items if i.job.input.name == "broken.jpg")
    assert broken.thumbnail is None  # no thumbnail, no crash; its job will say what is wrong


def test_paste_files_from_the_clipboard(panel, tmp_path):
    folder = make_inputs(tmp_path)
    mime = QMimeData()
    mime.setUrls([QUrl.fromLocalFile(str(folder))])
    QApplication.clipboard().setMimeData(mime)
    assert panel.paste_from_clipboard() == 2
    QApplication.clipboard().setText(str(tmp_path / "loose.jpg"))
    shutil.copy(PHOTOS / "car-3.jpg", tmp_path / "loose.jpg")
    assert panel.paste_from_clipboard() == 1
    QApplication.clipboard().setText("hello, not a path")
    assert panel.paste_from_clipboard() == 0
    assert "no photo files" in panel.notice.text()


def test_selecting_a_row_previews_it_and_a_finishing_row_refreshes(panel, qtbot, tmp_path):
    from fibuca_desktop.ui.process.preview import EMPTY, LOADED, NO_CUTOUT

    folder = make_inputs(tmp_path)
    drop(panel, [folder])
    panel.table.selectRow(0)
    qtbot.waitUntil(lambda: panel.preview.state == NO_CUTOUT, timeout=30_000)
    with qtbot.waitSignal(panel.batch_finished, timeout=BATCH_TIMEOUT_MS):
        panel.start()
    qtbot.waitUntil(lambda: panel.preview.state == LOADED, timeout=30_000)
    panel.clear_button.click()
    assert panel.preview.state == EMPTY


def test_the_window_fits_an_800_pixel_screen(window):
    assert window.minimumSizeHint().width() <= 800


def test_run_again_with_another_preset_goes_to_a_sibling_folder(panel, qtbot, tmp_path):
    folder = make_inputs(tmp_path)
    drop(panel, [folder])
    with qtbot.waitSignal(panel.batch_finished, timeout=BATCH_TIMEOUT_MS):
        panel.start()
    panel.preset_combo.setCurrentText("web")
    assert panel.rerun_button.isEnabled()
    with qtbot.waitSignal(panel.batch_finished, timeout=BATCH_TIMEOUT_MS):
        assert panel.rerun_with_current_preset() == 2
    web = tmp_path / "shoot-cutouts-web"
    assert sorted(str(p.relative_to(web)) for p in web.rglob("*.jpg")) == [
        "00-car.jpg",
        "details/00-girl.jpg",
    ]
    assert [p.relative_to(tmp_path) for p in corpus.written_files(tmp_path / "shoot-cutouts")] == [
        Path("shoot-cutouts/00-car.png"),
        Path("shoot-cutouts/details/00-girl.png"),
    ]  # the first results are untouched
    with Image.open(web / "00-car.jpg") as image:
        assert image.format == "JPEG" and max(image.size) <= 800


def test_workers_setting_applies_to_the_next_batch(panel):
    panel.workers_combo.setCurrentIndex(panel.workers_combo.findData(1))
    assert panel.settings.processing.workers == 1
    scheduler = panel.service.scheduler(panel.settings)
    assert scheduler.capacity.workers == 1 and panel.service.pool.maxThreadCount() == 1
    panel.workers_combo.setCurrentIndex(0)  # Auto
    assert panel.settings.processing.workers is None
