"""The touch-up editor driven with real mouse and key events on real photos and the real model:
strokes at full resolution, undo byte for byte, the fill, zoom and pan, save, closing."""

from __future__ import annotations

import itertools
import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from PIL import Image
from PySide6.QtCore import QPoint, QPointF, Qt, QTimer
from PySide6.QtGui import QWheelEvent
from PySide6.QtTest import QTest
from PySide6.QtWidgets import QApplication, QMessageBox

from fibuca_desktop.core.imaging.batch import plan_batch
from fibuca_desktop.core.imaging.mask_store import MaskStore, mask_key
from fibuca_desktop.core.imaging.output_records import RECORD_NAME
from fibuca_desktop.core.imaging.pipeline import PROCESSED, Pipeline
from fibuca_desktop.core.imaging.presets import get_preset
from fibuca_desktop.ui.process.editor.editor_backend import EditorBackend, EditTarget
from fibuca_desktop.ui.process.editor.editor_dialog import EditorDialog
from tests.matting_set import generate

SCREENSHOTS = os.environ.get("FIBUCA_EDITOR_SHOTS")  # a folder: keep each step's picture
NO_MODIFIER = Qt.KeyboardModifier.NoModifier
LEFT = Qt.MouseButton.LeftButton


def _shot(dialog, name: str) -> None:
    QApplication.processEvents()
    picture = dialog.grab()
    assert not picture.isNull() and picture.width() > 600
    if SCREENSHOTS:
        Path(SCREENSHOTS).mkdir(parents=True, exist_ok=True)
        picture.save(str(Path(SCREENSHOTS) / f"{name}.png"))


@pytest.fixture
def processed(tmp_path, photos, engines):
    """animal-1.jpg processed as the Process tab does: output on disk, the model's mask stored."""
    store = MaskStore(tmp_path / "masks")
    photo = photos / "animal-1.jpg"
    plan = plan_batch([photo], tmp_path / "out", ".png")
    [job] = plan.jobs
    preset = get_preset("transparent")
    result = Pipeline(engines, preset, "u2netp", masks=store).process(job)
    assert result.status == PROCESSED
    return store, EditTarget(0, job, preset, "u2netp", ("touches the frame (bottom)",))


@pytest.fixture
def open_editor(qtbot, engines):
    """Opens an editor on a target and waits until it is ready. Closed here, not by qtbot (which
    closes its widgets before fixtures end): the changes a test leaves are discarded first, else
    the question "Save your changes?" would wait for an answer forever."""
    opened = []

    def open_(store, target):
        dialog = EditorDialog(EditorBackend(engines, store))
        dialog.resize(1100, 780)
        dialog.show()
        qtbot.waitExposed(dialog)
        dialog.open_target(target)
        qtbot.waitUntil(lambda: dialog.ready, timeout=30_000)
        opened.append(dialog)
        return dialog

    yield open_
    for dialog in opened:
        dialog.discard()
        dialog.close()
        dialog.deleteLater()


@pytest.fixture
def editor(processed, open_editor):
    return open_editor(*processed)


def _settle(qtbot, dialog) -> None:
    """Every stroke sent is applied at full resolution and shown."""
    qtbot.waitUntil(lambda: not dialog.worker.busy and not dialog.canvas.pending, timeout=30_000)


def _drag(canvas, points: list[QPoint]) -> None:
    QTest.mousePress(canvas, LEFT, NO_MODIFIER, points[0])
    for point in points[1:]:
        QTest.mouseMove(canvas, point)
    QTest.mouseRelease(canvas, LEFT, NO_MODIFIER, points[-1])


def _footprint(dialog, points: list[QPoint], reach: float) -> np.ndarray:
    """Full-resolution pixels within ``reach`` of the stroke's path (as the canvas mapped it)."""
    canvas = dialog.canvas
    path = [canvas.to_image(QPointF(p)) for p in points]
    width, height = dialog.session.size
    ys, xs = np.mgrid[:height, :width] + 0.5
    inside = np.zeros((height, width), bool)
    for (ax, ay), (bx, by) in itertools.pairwise(path):
        dx, dy = bx - ax, by - ay
        t = np.clip(((xs - ax) * dx + (ys - ay) * dy) / max(dx * dx + dy * dy, 1e-9), 0, 1)
        inside |= np.hypot(xs - ax - t * dx, ys - ay - t * dy) <= reach
    return inside


def test_remove_and_keep_strokes_undo_and_redo_byte_for_byte(qtbot, editor):
    canvas, session = editor.canvas, editor.session
    _shot(editor, "1-opened")
    assert editor.check_label.text().startswith("Check: touches the frame")
    model = session.mask.copy()
    QTest.keyClick(canvas, Qt.Key.Key_E)  # the Remove brush
    assert canvas.brush_mode == "remove"
    across = [QPoint(x, 400) for x in range(350, 760, 12)]  # over the tiger's body
    _drag(canvas, across)
    _shot(editor, "2-remove-stroke")
    _settle(qtbot, editor)
    core = _footprint(editor, across, canvas.radius * canvas.hardness - 1)
    assert core.sum() > 2000
    assert (session.mask[core] == 0).all()
    assert (model[core] > 200).mean() > 0.9  # there was tiger there to remove
    after_remove = session.mask.copy()

    QTest.keyClick(canvas, Qt.Key.Key_B)  # the Keep brush, bigger with ]
    QTest.keyClick(canvas, Qt.Key.Key_BracketRight)
    down = [QPoint(560, y) for y in range(200, 640, 15)]
    _drag(canvas, down)
    _settle(qtbot, editor)
    kept = _footprint(editor, down, canvas.radius * canvas.hardness - 1)
    assert (session.mask[kept] == 255).all()
    assert editor.state.dirty and editor.undo_button.isEnabled()
    _shot(editor, "3-keep-stroke")

    QTest.keyClick(canvas, Qt.Key.Key_Z, Qt.KeyboardModifier.ControlModifier)
    _settle(qtbot, editor)
    assert np.array_equal(session.mask, after_remove)
    QTest.keyClick(canvas, Qt.Key.Key_Z, Qt.KeyboardModifier.ControlModifier)
    _settle(qtbot, editor)
    assert np.array_equal(session.mask, model) and not editor.state.dirty
    shift_z = Qt.KeyboardModifier.ControlModifier | Qt.KeyboardModifier.ShiftModifier
    QTest.keyClick(canvas, Qt.Key.Key_Z, shift_z)
    _settle(qtbot, editor)
    assert np.array_equal(session.mask, after_remove)
    editor.revert_to_model()
    _settle(qtbot, editor)
    assert np.array_equal(session.mask, model)


def test_zoom_keeps_the_point_under_the_cursor_and_pans_with_space_and_the_middle_button(editor):
    canvas = editor.canvas
    fitted = canvas.scale
    at = QPointF(500, 300)
    before = canvas.to_image(at)
    wheel = QWheelEvent(
        at,
        canvas.mapToGlobal(at),
        QPoint(),
        QPoint(0, 240),
        Qt.MouseButton.NoButton,
        NO_MODIFIER,
        Qt.ScrollPhase.NoScrollPhase,
        False,
    )
    QApplication.sendEvent(canvas, wheel)
    assert canvas.scale == pytest.approx(fitted * 1.25**2)
    assert canvas.to_image(at) == pytest.approx(before)
    QTest.keyClick(canvas, Qt.Key.Key_1, Qt.KeyboardModifier.ControlModifier)
    assert canvas.scale == pytest.approx(1.0)
    centre = canvas.to_image(QPointF(300, 300))
    QTest.keyPress(canvas, Qt.Key.Key_Space)
    _drag(canvas, [QPoint(300, 300), QPoint(340, 320), QPoint(380, 330)])
    QTest.keyRelease(canvas, Qt.Key.Key_Space)
    assert canvas.to_image(QPointF(380, 330)) == pytest.approx(centre)
    assert not canvas.pending  # panning painted nothing
    middle = Qt.MouseButton.MiddleButton
    QTest.mousePress(canvas, middle, NO_MODIFIER, QPoint(380, 330))
    QTest.mouseMove(canvas, QPoint(250, 280))
    QTest.mouseRelease(canvas, middle, NO_MODIFIER, QPoint(250, 280))
    assert canvas.to_image(QPointF(250, 280)) == pytest.approx(centre)
    QTest.keyClick(canvas, Qt.Key.Key_0, Qt.KeyboardModifier.ControlModifier)
    assert canvas.scale == pytest.approx(fitted)


def test_every_view_shows_the_photo(editor):
    for index in range(editor.view_combo.count()):
        mode = editor.view_combo.itemData(index)
        if mode != "colour":  # asks for a colour in a dialog; set_view takes it directly
            editor.choose_view(mode)
        else:
            from PySide6.QtGui import QColor

            editor.set_view(mode, QColor("#1565c0"))
        image = editor.canvas.grab().toImage()
        centre = image.pixelColor(image.width() // 2, image.height() // 2)
        assert centre.isValid()
        _shot(editor, f"view-{mode}")
    tint = editor.canvas.grab().toImage() if editor.canvas.mode == "tint" else None
    assert tint is None or not tint.isNull()


def test_save_writes_the_output_atomically_and_the_next_process_uses_the_edit_without_the_model(
    qtbot, editor, processed, tmp_path
):
    store, target = processed
    canvas = editor.canvas
    QTest.keyClick(canvas, Qt.Key.Key_E)
    across = [QPoint(x, 420) for x in range(380, 700, 10)]
    _drag(canvas, across)
    _settle(qtbot, editor)
    removed = _footprint(editor, across, canvas.radius * canvas.hardness - 1)
    before = target.job.output.stat().st_mtime_ns
    with qtbot.waitSignal(editor.saved, timeout=60_000) as saved:
        QTest.keyClick(canvas, Qt.Key.Key_S, Qt.KeyboardModifier.ControlModifier)
    _target, result = saved.args
    assert result.status == PROCESSED and result.mask == "edited"
    assert target.job.output.stat().st_mtime_ns != before
    left = sorted(p.name for p in target.job.output.parent.iterdir())
    assert left == [RECORD_NAME, target.job.output.name]  # no temporary file left
    with Image.open(target.job.output) as output:
        alpha = np.asarray(output.getchannel("A"))
    assert (alpha[removed] == 0).all()
    assert store.has_edit(mask_key(target.job.input, "u2netp"))
    assert not editor.state.dirty and "edited" in editor.status_label.text()

    # Another preset, by the CLI, with no model at all on this machine: the edit is used.
    env = dict(
        os.environ, U2NET_HOME=str(tmp_path / "no-models"), FIBUCA_MASKS_DIR=str(store.folder)
    )
    run = subprocess.run(
        [
            sys.executable,
            "-m",
            "fibuca_desktop",
            "process",
            str(target.job.input),
            "-o",
            str(tmp_path / "web"),
            "--preset",
            "web",
            "--json",
        ],
        capture_output=True,
        text=True,
        env=env,
        timeout=300,
    )
    assert run.returncode == 0, run.stderr
    [item] = json.loads(run.stdout)["processed"]
    assert item["mask"] == "edited"
    with Image.open(item["output"]) as web:
        small = np.asarray(web.convert("L").resize(alpha.shape[::-1], Image.Resampling.BOX))
    assert np.median(small[removed]) >= 250  # the web preset's white, where the tiger was cut


def test_closing_with_unsaved_changes_asks_and_cancel_keeps_the_editor_open(qtbot, editor):
    canvas = editor.canvas
    _drag(canvas, [QPoint(400, 300), QPoint(500, 320)])
    _settle(qtbot, editor)
    answers = iter([QMessageBox.StandardButton.Cancel, QMessageBox.StandardButton.Discard])
    asked = []

    def answer() -> None:
        box = QApplication.activeModalWidget()
        if isinstance(box, QMessageBox):
            asked.append(box.text())
            box.button(next(answers)).click()
        else:
            QTimer.singleShot(20, answer)

    QTimer.singleShot(20, answer)
    editor.close()
    assert editor.isVisible() and asked and "Save your changes" in asked[0]
    QTimer.singleShot(20, answer)
    editor.close()
    assert not editor.isVisible() and len(asked) == 2


def test_remove_fill_clears_a_mugs_handle_hole(qtbot, tmp_path, engines, open_editor):
    """The handle's hole filled by a Keep stroke (as u2netp does on white on white) is cleared
    by one click of the Remove fill, leaving the handle."""
    sample = generate("mug", (900, 600), seed=0, folder=tmp_path / "mugs")
    store = MaskStore(tmp_path / "masks")
    [job] = plan_batch([sample.image_path], tmp_path / "out", ".png").jobs
    preset = get_preset("transparent")
    assert Pipeline(engines, preset, "u2netp", masks=store).process(job).status == PROCESSED
    dialog = open_editor(store, EditTarget(0, job, preset, "u2netp"))
    canvas = dialog.canvas
    truth = sample.alpha
    ys, xs = np.mgrid[: truth.shape[0], : truth.shape[1]]
    body = truth > 0.5
    right = xs > np.nonzero(body[300])[0].max() - 120  # the handle's side
    hole = (truth == 0) & right & (ys > 230) & (ys < 380) & (xs < 600)
    hole &= np.abs(xs - xs[hole].mean()) < 60
    assert hole.sum() > 1500, "the mug's hole was not found in the truth"
    centre = (float(xs[hole].mean()), float(ys[hole].mean()))
    screen = canvas.to_screen(*centre).toPoint()
    QTest.keyClick(canvas, Qt.Key.Key_B)
    for _ in range(6):
        QTest.keyClick(canvas, Qt.Key.Key_BracketRight)
    _drag(canvas, [screen, screen + QPoint(1, 0)])  # a Keep dab fills the hole, as a bad mask
    _settle(qtbot, dialog)
    assert (dialog.session.mask[hole] > 128).mean() > 0.3
    QTest.keyClick(canvas, Qt.Key.Key_G)
    QTest.keyClick(canvas, Qt.Key.Key_X)  # the fill removes
    assert canvas.tool == "fill" and canvas.brush_mode == "remove"
    QTest.mouseClick(canvas, LEFT, NO_MODIFIER, screen)
    _settle(qtbot, dialog)
    inner = hole & (np.hypot(xs - centre[0], ys - centre[1]) < 25)
    assert (dialog.session.mask[inner] == 0).all()
    handle = (truth == 1) & right & (xs > centre[0] + 40)
    assert (dialog.session.mask[handle] > 200).mean() > 0.95  # the handle stays
    _shot(dialog, "4-fill")
