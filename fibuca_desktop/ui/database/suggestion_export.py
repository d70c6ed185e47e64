"""Export the ticked index suggestions: a Prisma migration file, or ``@@index`` lines per model.

Written through the core (``write_migration``, ``write_atomically``): a temporary file beside
the target, then a rename, so a half-written migration never exists.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from PySide6.QtWidgets import QFileDialog, QMessageBox, QWidget

from fibuca_desktop.core.atomic_write import write_atomically
from fibuca_desktop.core.errors import FibucaError

if TYPE_CHECKING:
    from fibuca_desktop.core.database.index_suggestion import IndexSuggestion

MIGRATION, PRISMA = "migration", "prisma"
_DIALOG = {
    MIGRATION: ("Save SQL migration", "migration.sql", "SQL (*.sql)"),
    PRISMA: ("Save Prisma schema lines", "indexes.prisma", "Prisma (*.prisma)"),
}


def export_suggestions(parent: QWidget, kind: str, chosen: list[IndexSuggestion]) -> Path | None:
    """Ask where, then write; returns the file written, or None (nothing chosen, cancelled or
    failed: the person was told)."""
    if not chosen:
        QMessageBox.information(parent, "Nothing to export", "Tick at least one suggestion.")
        return None
    title, name, pattern = _DIALOG[kind]
    path, _filter = QFileDialog.getSaveFileName(parent, title, name, pattern)
    if not path:
        return None
    try:
        write_export(kind, Path(path), chosen)
    except FibucaError as error:
        QMessageBox.warning(parent, "Export failed", str(error))
        return None
    return Path(path)


def write_export(kind: str, path: Path, chosen: list[IndexSuggestion]) -> None:
    """Replace ``path`` (the file dialog asked before overwriting); ``OutputError`` on failure."""
    from fibuca_desktop.core.database.migration_export import prisma_snippet, write_migration

    if kind == MIGRATION:
        write_migration(path, chosen, overwrite=True)
    else:
        text = prisma_snippet(chosen).encode()
        write_atomically(path, lambda handle: handle.write(text), True)
