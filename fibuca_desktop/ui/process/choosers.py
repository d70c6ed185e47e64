"""Where the Process tab's photos come from: file dialogs (photos only by default, starting
where photos are), drops and the clipboard."""

from __future__ import annotations

from pathlib import Path

from PySide6.QtCore import QMimeData
from PySide6.QtWidgets import QFileDialog, QWidget

from fibuca_desktop.core.imaging.batch import IMAGE_EXTENSIONS

_PATTERNS = sorted(
    {f"*{ext}" for ext in IMAGE_EXTENSIONS} | {f"*{ext.upper()}" for ext in IMAGE_EXTENSIONS}
)
PHOTO_FILTER = f"Photos ({' '.join(_PATTERNS)})"
ALL_FILES = "All files (*)"


def start_folder(last: Path | None) -> Path:
    """The last folder photos came from; else the Pictures folder; else home (never the program's
    working folder, which is where a dialog without a directory opens)."""
    if last is not None and last.is_dir():
        return last
    pictures = Path.home() / "Pictures"
    return pictures if pictures.is_dir() else Path.home()


def photo_files_dialog(parent: QWidget | None, last: Path | None) -> QFileDialog:
    dialog = QFileDialog(parent, "Add photos", str(start_folder(last)))
    dialog.setFileMode(QFileDialog.FileMode.ExistingFiles)
    dialog.setNameFilters([PHOTO_FILTER, ALL_FILES])
    dialog.selectNameFilter(PHOTO_FILTER)
    return dialog


def photo_folder_dialog(parent: QWidget | None, last: Path | None) -> QFileDialog:
    dialog = QFileDialog(parent, "Add a folder of photos", str(start_folder(last)))
    dialog.setFileMode(QFileDialog.FileMode.Directory)
    dialog.setOption(QFileDialog.Option.ShowDirsOnly, True)
    return dialog


def chosen_paths(dialog: QFileDialog) -> list[Path]:
    """Run the dialog; the chosen paths, or none when it was cancelled."""
    if dialog.exec() != QFileDialog.DialogCode.Accepted:
        return []
    return [Path(name) for name in dialog.selectedFiles()]


def local_paths(mime: QMimeData, text: bool) -> list[Path]:
    """Local files in a drop or on the clipboard; with ``text``, also absolute paths pasted as
    lines of text that exist."""
    paths = [Path(url.toLocalFile()) for url in mime.urls() if url.isLocalFile()]
    if not paths and text and mime.hasText():
        candidates = [Path(line.strip()) for line in mime.text().splitlines() if line.strip()]
        paths = [path for path in candidates if path.is_absolute() and path.exists()]
    return paths
