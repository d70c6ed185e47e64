"""Undo and redo for mask edits, within a memory budget.

Each step keeps only the box it changed, before and after, deflated (masks are mostly flat:
a 1,000 x 1,000 box of a stroke typically deflates to a few KB). When the steps exceed the
budget, the oldest are forgotten first: undo then goes back as far as the budget allows.
"""

from __future__ import annotations

import zlib
from dataclasses import dataclass

import numpy as np

from fibuca_desktop.ui.process.editor.mask_edits import Box

DEFAULT_BUDGET_BYTES = 256 * 1024 * 1024
_LEVEL = 1  # deflate's fastest level: ~150 MB/s on a mask box, and still 20-100x smaller


@dataclass(frozen=True)
class Patch:
    """One step: the box and its pixels before and after, deflated."""

    label: str
    box: Box
    before: bytes
    after: bytes

    @property
    def nbytes(self) -> int:
        return len(self.before) + len(self.after)

    def pixels(self, which: str) -> np.ndarray:
        x0, y0, x1, y1 = self.box
        data = zlib.decompress(self.before if which == "before" else self.after)
        return np.frombuffer(data, np.uint8).reshape(y1 - y0, x1 - x0)


def changed_box(old: np.ndarray, new: np.ndarray, box: Box) -> Box | None:
    """The part of ``box`` where ``new`` differs from ``old`` (both over ``box``), or None."""
    differs = old != new
    rows, cols = np.nonzero(differs.any(axis=1))[0], np.nonzero(differs.any(axis=0))[0]
    if rows.size == 0:
        return None
    x0, y0 = box[0], box[1]
    return x0 + int(cols[0]), y0 + int(rows[0]), x0 + int(cols[-1]) + 1, y0 + int(rows[-1]) + 1


def make_patch(label: str, mask: np.ndarray, box: Box, new: np.ndarray) -> Patch | None:
    """The step that writes ``new`` (the pixels over ``box``) into ``mask``; None if it changes
    nothing. ``mask`` is not changed."""
    x0, y0, x1, y1 = box
    tight = changed_box(mask[y0:y1, x0:x1], new, box)
    if tight is None:
        return None
    tx0, ty0, tx1, ty1 = tight
    before = mask[ty0:ty1, tx0:tx1]
    after = new[ty0 - y0 : ty1 - y0, tx0 - x0 : tx1 - x0]
    return Patch(
        label,
        tight,
        zlib.compress(np.ascontiguousarray(before).tobytes(), _LEVEL),
        zlib.compress(np.ascontiguousarray(after).tobytes(), _LEVEL),
    )


def write(mask: np.ndarray, patch: Patch, which: str) -> Box:
    """Write the patch's ``"before"`` or ``"after"`` pixels into ``mask``; returns the box."""
    x0, y0, x1, y1 = patch.box
    mask[y0:y1, x0:x1] = patch.pixels(which)
    return patch.box


class UndoStack:
    """Steps done (undoable) and undone (redoable); a new step drops the redoable ones."""

    def __init__(self, budget_bytes: int = DEFAULT_BUDGET_BYTES) -> None:
        self.budget_bytes = budget_bytes
        self._done: list[Patch] = []
        self._undone: list[Patch] = []
        self.forgotten = 0  # steps dropped for the budget

    @property
    def nbytes(self) -> int:
        return sum(p.nbytes for p in self._done) + sum(p.nbytes for p in self._undone)

    @property
    def can_undo(self) -> bool:
        return bool(self._done)

    @property
    def can_redo(self) -> bool:
        return bool(self._undone)

    @property
    def undo_label(self) -> str:
        return self._done[-1].label if self._done else ""

    @property
    def redo_label(self) -> str:
        return self._undone[-1].label if self._undone else ""

    def __len__(self) -> int:
        return len(self._done)

    def push(self, patch: Patch) -> None:
        self._done.append(patch)
        self._undone.clear()
        total = self.nbytes
        while total > self.budget_bytes and len(self._done) > 1:  # the newest always stays
            total -= self._done.pop(0).nbytes
            self.forgotten += 1

    def undo(self) -> Patch | None:
        if not self._done:
            return None
        patch = self._done.pop()
        self._undone.append(patch)
        return patch

    def redo(self) -> Patch | None:
        if not self._undone:
            return None
        patch = self._undone.pop()
        self._done.append(patch)
        return patch

    def clear(self) -> None:
        self._done.clear()
        self._undone.clear()
