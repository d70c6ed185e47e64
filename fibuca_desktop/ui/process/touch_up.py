"""The queue's link to the touch-up editor: which row opens, the flagged rows Next and Previous
walk, and a saved edit back into its row. Keeps the Process panel out of the editor's business."""

from __future__ import annotations

from typing import TYPE_CHECKING

from PySide6.QtCore import QObject

from fibuca_desktop.core.imaging.pipeline import JobResult
from fibuca_desktop.ui.process.editor.editor_backend import EditorBackend, EditTarget
from fibuca_desktop.ui.process.editor.editor_dialog import EditorDialog
from fibuca_desktop.ui.process.queue_model import DONE, SKIPPED, QueueItem

if TYPE_CHECKING:
    from fibuca_desktop.ui.process.process_panel import ProcessPanel


def editable(item: QueueItem) -> bool:
    """A finished row whose output is on disk and whose preset is known."""
    return item.status in (DONE, SKIPPED) and item.preset is not None and item.job.output.exists()


class TouchUp(QObject):
    """One editor window per panel, created on first use."""

    def __init__(self, panel: ProcessPanel) -> None:
        super().__init__(panel)
        self.panel = panel
        self.dialog: EditorDialog | None = None

    def edit(self, job_id: int) -> EditorDialog | None:
        """Open the editor on a row; None (after a notice saying why) when it cannot be."""
        model = self.panel.model
        item = model.item(job_id) if model.has(job_id) else None
        if item is None or not editable(item):
            self.panel._show_notice(
                "Only finished photos whose output is on disk can be touched up: run it first."
            )
            return None
        if self.dialog is None:
            backend = EditorBackend(self.panel.service.engines, self.panel.service.masks)
            self.dialog = EditorDialog(backend, self._neighbour, self.panel.window())
            self.dialog.saved.connect(self._saved)
        elif self.dialog.isVisible() and not self.dialog.may_leave():
            return self.dialog
        self.dialog.open_target(self._target(item))
        self.dialog.show()
        self.dialog.raise_()
        self.dialog.activateWindow()
        return self.dialog

    def _target(self, item: QueueItem) -> EditTarget:
        return EditTarget(item.job_id, item.job, item.preset, item.model, item.review)

    def _neighbour(self, target: EditTarget, step: int) -> EditTarget | None:
        """The flagged row before (-1) or after (+1) ``target``'s row, in the order shown."""
        model = self.panel.model
        if not model.has(target.job_id):
            return None
        row = model.row_of(target.job_id)
        rows = range(row + 1, len(model.items)) if step > 0 else range(row - 1, -1, -1)
        for other in rows:
            item = model.items[other]
            if item.flagged and editable(item):
                return self._target(item)
        return None

    def _saved(self, target: EditTarget, result: JobResult) -> None:
        model = self.panel.model
        if model.has(target.job_id):
            item = model.item(target.job_id)
            model.update(
                target.job_id,
                DONE,
                ms=item.ms,
                edited=result.mask == "edited",
                review=tuple(result.review),
            )
            self.panel.refresh_preview(target.job_id)

    def may_close(self) -> bool:
        """Whether the app may quit: the editor asks first about unsaved changes (Save saves)."""
        dialog = self.dialog
        return dialog is None or not dialog.isVisible() or dialog.may_leave()

    def shutdown(self) -> None:
        if self.dialog is not None:
            self.dialog.worker.shutdown()
