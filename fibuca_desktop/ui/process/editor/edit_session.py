"""One photo's mask being edited: the tools' operations, undo and redo, and what has changed
since the last save. numpy only; the editor runs every call on its one worker thread, in order,
so operations never race each other."""

from __future__ import annotations

import numpy as np

from fibuca_desktop.ui.process.editor.mask_edits import (
    KEEP,
    Box,
    Stroke,
    apply_fill,
    apply_stroke,
    fill_region,
)
from fibuca_desktop.ui.process.editor.undo_stack import UndoStack, make_patch, write


class EditSession:
    """``photo`` (H x W x 3 uint8) and the mask (H x W uint8) at full resolution.

    ``mask`` starts as the saved edit when there is one, else the model's mask; every change
    goes through here so it can be undone. The arrays are never reallocated: the display reads
    them in place."""

    def __init__(
        self,
        photo: np.ndarray,
        model_mask: np.ndarray,
        edited: np.ndarray | None = None,
        undo_budget_bytes: int | None = None,
    ) -> None:
        self.photo = photo
        self.model_mask = model_mask
        self.mask = (edited if edited is not None else model_mask).copy()
        self._saved = self.mask.copy()
        self.undo = UndoStack() if undo_budget_bytes is None else UndoStack(undo_budget_bytes)

    @property
    def size(self) -> tuple[int, int]:
        return self.mask.shape[1], self.mask.shape[0]

    @property
    def dirty(self) -> bool:
        """Whether the mask differs from what was last saved (undoing back to it is clean)."""
        return not np.array_equal(self.mask, self._saved)

    @property
    def edited(self) -> bool:
        """Whether the mask differs from the model's."""
        return not np.array_equal(self.mask, self.model_mask)

    def stroke(self, stroke: Stroke) -> Box | None:
        box, pixels = apply_stroke(self.photo, self.mask, stroke)
        verb = "Keep" if stroke.mode == KEEP else "Remove"
        return self._change(f"{verb} stroke", box, pixels)

    def fill(self, point: tuple[float, float], mode: str, tolerance: float) -> Box | None:
        found = fill_region(self.photo, point, tolerance)
        if found is None:
            return None
        box, region = found
        verb = "Keep" if mode == KEEP else "Remove"
        return self._change(f"{verb} fill", box, apply_fill(self.mask, box, region, mode))

    def revert_to_model(self) -> Box | None:
        """Bring back the model's mask (one step: undo restores the edits)."""
        h, w = self.mask.shape
        return self._change("Revert to model", (0, 0, w, h), self.model_mask)

    def undo_step(self) -> Box | None:
        patch = self.undo.undo()
        return write(self.mask, patch, "before") if patch else None

    def redo_step(self) -> Box | None:
        patch = self.undo.redo()
        return write(self.mask, patch, "after") if patch else None

    def snapshot(self) -> np.ndarray:
        """A copy of the mask as it is now, to save."""
        return self.mask.copy()

    def mark_saved(self, saved: np.ndarray) -> None:
        self._saved = saved

    def _change(self, label: str, box: Box, pixels: np.ndarray) -> Box | None:
        patch = make_patch(label, self.mask, box, pixels)
        if patch is None:
            return None
        self.undo.push(patch)
        return write(self.mask, patch, "after")
