"""The touch-up editor: fix what the model got wrong, then save the photo's output again.

Opening, every tool's full-resolution work and saving run on the editor's worker thread; the
window only paints. Next and Previous walk the photos flagged for a look.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass, replace

from PySide6.QtCore import QCoreApplication, Signal
from PySide6.QtGui import QCloseEvent, QColor, QKeySequence, QShortcut
from PySide6.QtWidgets import QColorDialog, QDialog, QMessageBox, QWidget

from fibuca_desktop.core.imaging.pipeline import PROCESSED, JobResult
from fibuca_desktop.ui.process.editor.canvas import BRUSH, FILL, EditorCanvasWidget
from fibuca_desktop.ui.process.editor.display import COLOUR, DisplayPyramid
from fibuca_desktop.ui.process.editor.edit_session import EditSession
from fibuca_desktop.ui.process.editor.editor_backend import (
    EditorBackend,
    EditTarget,
    OpenedPhoto,
)
from fibuca_desktop.ui.process.editor.editor_layout import build_editor, update_editor
from fibuca_desktop.ui.process.editor.editor_worker import EditorWorker
from fibuca_desktop.ui.process.editor.mask_edits import KEEP, REMOVE, Box, Stroke

log = logging.getLogger(__name__)
_SIZE_STEP = 1.2  # [ and ] change the brush size by this factor


@dataclass(frozen=True)
class _State:
    """What an operation left behind, computed on the worker thread."""

    box: Box | None
    dirty: bool
    edited: bool
    undo: str
    redo: str


class EditorDialog(QDialog):
    """One editor window; ``open_target`` loads a photo. ``neighbour(target, step)`` gives the
    flagged photo before (-1) or after (+1) ``target``, or None."""

    saved = Signal(object, object)  # EditTarget, JobResult

    def __init__(
        self,
        backend: EditorBackend,
        neighbour: Callable[[EditTarget, int], EditTarget | None] | None = None,
        parent: QWidget | None = None,
    ) -> None:
        super().__init__(parent)
        self.setObjectName("editorDialog")
        self.setWindowTitle("Touch up")
        self.backend, self.neighbour = backend, neighbour or (lambda _target, _step: None)
        self.worker = EditorWorker(self)
        self.target: EditTarget | None = None
        self.session: EditSession | None = None
        self.opened: OpenedPhoto | None = None
        self.state = _State(None, False, False, "", "")
        self.busy_text = ""
        self.message = ""
        self.canvas = EditorCanvasWidget(self)
        self.canvas.stroke_finished.connect(self._stroke)
        self.canvas.fill_clicked.connect(self._fill)
        self.canvas.view_changed.connect(self._update_controls)
        build_editor(self)
        self._shortcuts()
        self.resize(1100, 780)
        self._update_controls()

    # -- opening --------------------------------------------------------------------------

    def open_target(self, target: EditTarget) -> None:
        """Load ``target``'s photo and masks (off the GUI thread); the window shows at once."""
        self.worker.wait()
        self.target, self.session, self.opened = target, None, None
        self.canvas.set_pyramid(None)
        self.state = _State(None, False, False, "", "")
        self.busy_text, self.message = f"Opening {target.job.input.name}…", ""
        self.setWindowTitle(f"Touch up: {target.job.input.name}")
        self._update_controls()
        self.worker.submit(lambda: self.backend.open(target), self._opened, self._open_failed)

    def _opened(self, opened: OpenedPhoto) -> None:
        self.opened = opened
        self.session = EditSession(opened.photo, opened.model_mask, opened.edited)
        self.canvas.set_pyramid(DisplayPyramid(self.session.photo, self.session.mask))
        edited = opened.edited is not None
        self.state = _State(None, False, edited, "", "")
        self.busy_text = ""
        self._update_controls()
        self.canvas.setFocus()

    def _open_failed(self, message: str) -> None:
        self.busy_text, self.message = "", f"Cannot open this photo: {message}"
        self._update_controls()

    # -- tools ----------------------------------------------------------------------------

    def set_tool(self, tool: str, mode: str | None = None) -> None:
        self.canvas.tool = tool
        if mode is not None:
            self.canvas.brush_mode = mode
        self._update_controls()

    def swap_mode(self) -> None:
        self.canvas.brush_mode = REMOVE if self.canvas.brush_mode == KEEP else KEEP
        self._update_controls()

    def set_brush_size(self, diameter: float) -> None:
        self.canvas.radius = max(0.5, min(2000.0, diameter / 2))
        self._update_controls()

    def scale_brush(self, factor: float) -> None:
        self.set_brush_size(max(1.0, round(self.canvas.radius * 2 * factor)))

    def set_view(self, mode: str, colour: QColor | None = None) -> None:
        self.canvas.set_mode(mode, colour)
        self._update_controls()

    def choose_view(self, mode: str) -> None:
        """The view picker: "a colour…" asks which one."""
        colour = None
        if mode == COLOUR:
            colour = QColorDialog.getColor(self.canvas.colour, self, "Background colour")
            if not colour.isValid():
                self._update_controls()
                return
        self.set_view(mode, colour)

    def _stroke(self, stroke: Stroke) -> None:
        self._run(lambda session: session.stroke(stroke), stroke_done=True)

    def _fill(self, x: float, y: float) -> None:
        mode, tolerance = self.canvas.brush_mode, self.tolerance.value()
        self._run(lambda session: session.fill((x, y), mode, tolerance))

    def undo(self) -> None:
        self._run(EditSession.undo_step)

    def redo(self) -> None:
        self._run(EditSession.redo_step)

    def revert_to_model(self) -> None:
        self._run(EditSession.revert_to_model)

    def _run(self, operation: Callable[[EditSession], Box | None], stroke_done=False) -> None:
        """Run ``operation`` on the worker, after every one sent before it."""
        session = self.session
        if session is None or self.busy_text:
            if stroke_done:
                self.canvas.stroke_done()
            return

        def call() -> _State:
            box = operation(session)
            undo = session.undo
            return _State(box, session.dirty, session.edited, undo.undo_label, undo.redo_label)

        def done(state: _State) -> None:
            if session is self.session:
                self.state = state
                self.canvas.mask_changed(state.box)
                self._update_controls()
            if stroke_done:
                self.canvas.stroke_done()

        def failed(message: str) -> None:
            self.message = message
            self._update_controls()
            if stroke_done:
                self.canvas.stroke_done()

        self.worker.submit(call, done, failed)

    # -- saving ---------------------------------------------------------------------------

    def save(self) -> None:
        """Keep the edit and write this photo's output again with its preset (atomically)."""
        session, target, opened = self.session, self.target, self.opened
        if session is None or target is None or self.busy_text:
            return
        self.busy_text, self.message = "Saving…", ""
        self._update_controls()

        def call() -> tuple[object, JobResult]:
            mask = session.snapshot()
            return mask, self.backend.save(target, opened.key, mask, session.model_mask)

        self.worker.submit(
            call, lambda done: self._saved(session, target, *done), self._save_failed
        )

    def _saved(self, session: EditSession, target: EditTarget, mask, result: JobResult) -> None:
        self.busy_text = ""
        if result.status == PROCESSED:
            session.mark_saved(mask)
            self.state = replace(self.state, box=None, dirty=False)
            self.message = f"Saved {result.output.name}."
            self.saved.emit(target, result)
        else:
            self.message = f"The output was not written: {result.message}"
        self._update_controls()

    def _save_failed(self, message: str) -> None:
        self.busy_text, self.message = "", message
        self._update_controls()

    # -- walking and closing --------------------------------------------------------------

    def step(self, step: int) -> bool:
        """Go to the flagged photo before (-1) or after (+1) this one; False when there is none
        or the user kept the unsaved changes here."""
        if self.target is None:
            return False
        other = self.neighbour(self.target, step)
        if other is None or not self.may_leave():
            return False
        self.open_target(other)
        return True

    def may_leave(self) -> bool:
        """Ask before unsaved changes are lost; Save saves first (then the caller goes on)."""
        self.worker.wait()  # strokes still being applied count as changes
        self._drain()
        if not self.state.dirty:
            return True
        answer = QMessageBox.question(
            self,
            "Unsaved changes",
            f"Save your changes to {self.target.job.input.name}?",
            QMessageBox.StandardButton.Save
            | QMessageBox.StandardButton.Discard
            | QMessageBox.StandardButton.Cancel,
            QMessageBox.StandardButton.Save,
        )
        if answer == QMessageBox.StandardButton.Save:
            self.save()
            self.worker.wait()
            self._drain()
            return not self.state.dirty
        if answer == QMessageBox.StandardButton.Discard:
            self.discard()  # asked once: closing or quitting after this does not ask again
            return True
        return False

    def _drain(self) -> None:
        QCoreApplication.sendPostedEvents()  # the callbacks of the calls that just finished

    def discard(self) -> None:
        """Forget the unsaved changes (the mask stays as it is on screen, but nothing asks)."""
        self.worker.wait()
        self._drain()
        if self.session is not None:
            self.session.mark_saved(self.session.snapshot())
        self.state = replace(self.state, box=None, dirty=False)

    def reject(self) -> None:
        if self.may_leave():
            super().reject()

    def closeEvent(self, event: QCloseEvent) -> None:
        if self.may_leave():
            self.worker.shutdown()
            event.accept()
        else:
            event.ignore()

    # -- keys and status ------------------------------------------------------------------

    def _shortcuts(self) -> None:
        keys = {
            "B": lambda: self.set_tool(BRUSH, KEEP),
            "E": lambda: self.set_tool(BRUSH, REMOVE),
            "G": lambda: self.set_tool(FILL),
            "X": self.swap_mode,
            "[": lambda: self.scale_brush(1 / _SIZE_STEP),
            "]": lambda: self.scale_brush(_SIZE_STEP),
            "Ctrl+0": self.canvas.fit,
            "Ctrl+1": self.canvas.actual_size,
            "Ctrl+Z": self.undo,
            "Ctrl+Shift+Z": self.redo,
            "Ctrl+Y": self.redo,
            "Ctrl+S": self.save,
        }
        for key, action in keys.items():
            QShortcut(QKeySequence(key), self, activated=action)

    def _update_controls(self) -> None:
        update_editor(self)

    @property
    def ready(self) -> bool:
        """A photo is open and nothing is loading or saving."""
        return self.session is not None and not self.busy_text
