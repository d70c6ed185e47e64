"""The processing queue as a Qt table model: one row per photo, updated only on the GUI thread."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from PySide6.QtCore import QAbstractTableModel, QModelIndex, QPersistentModelIndex, Qt
from PySide6.QtGui import QBrush, QColor, QImage

from fibuca_desktop.core.imaging.batch import Job
from fibuca_desktop.core.imaging.presets import Preset
from fibuca_desktop.core.profiles.preflight import Preflight

QUEUED, RUNNING, DONE, SKIPPED, FAILED, CANCELLED = (
    "queued",
    "running",
    "done",
    "skipped",
    "failed",
    "cancelled",
)
FINISHED = frozenset({DONE, SKIPPED, FAILED, CANCELLED})
COLUMNS = ("Name", "Size", "Status", "Check", "Preflight", "Time", "Output")
CHECK_BADGE = "Check"
_CHECK_COLOUR = "#7a5b00"
_STATUS_COLOURS = {FAILED: "#b3261e", DONE: "#1b6e2a", SKIPPED: "#7a5b00", CANCELLED: "#666666"}


@dataclass
class QueueItem:
    job_id: int
    job: Job
    size_bytes: int
    root: Path  # the output folder the job was planned into (its subfolders mirror the input)
    status: str = QUEUED
    message: str = ""
    ms: float = 0.0
    thumbnail: QImage | None = None
    preset: Preset | None = None  # what made (or makes) its output: the editor saves with it
    model: str = ""  # ... and with which model
    review: tuple[str, ...] = ()  # why its cut-out may need a look (core/imaging/review.py)
    edited: bool = False  # its output was rendered from a touched-up mask
    preflight: Preflight | None = None  # made with a profile: its file's checks (preflight.py)
    worker: str = ""  # run on workers: the Celery worker that made it

    @property
    def status_text(self) -> str:
        status = f"{self.status} · edited" if self.edited and self.status == DONE else self.status
        return f"{status}: {self.message}" if self.message else status

    @property
    def flagged(self) -> bool:
        """Finished with a cut-out that may need a look."""
        return self.status == DONE and bool(self.review)

    @property
    def rejected(self) -> bool:
        """Finished with an output its profile's rules reject."""
        return self.status == DONE and self.preflight is not None and not self.preflight.passed

    @property
    def preflight_badge(self) -> str:
        if self.status != DONE or self.preflight is None:
            return ""
        if not self.preflight.passed:
            return f"✗ {self.preflight.profile}"
        return f"✓ {self.preflight.profile}" + (" · fixed" if self.preflight.fixed else "")

    @property
    def preflight_reasons(self) -> str | None:
        if not self.preflight_badge:
            return None
        lines = [f"Rejected: {reason}" for reason in self.preflight.failures]
        lines += [f"Fixed: {fix}" for fix in self.preflight.fixed]
        return "\n".join(lines) or f"Passes every {self.preflight.profile} rule"

    @property
    def details(self) -> str:
        """Everything about the row in full, for the details line under the queue."""
        text = f"{self.job.input}  →  {self.job.output}\n{self.status_text}"
        text += f" · on {self.worker}" if self.worker else ""
        text += "\nCheck: " + "; ".join(self.review) if self.flagged else ""
        if self.rejected:
            text += f"\nRejected by {self.preflight.profile}: " + "; ".join(self.preflight.failures)
        return text


def _human_size(size: int) -> str:
    if size >= 1024 * 1024:
        return f"{size / 1024 / 1024:.1f} MB"
    return f"{size / 1024:.0f} KB"


class ProcessQueueModel(QAbstractTableModel):
    """Rows are added in planning order; jobs are found by id, never by row index alone."""

    def __init__(self) -> None:
        super().__init__()
        self.items: list[QueueItem] = []
        self._rows: dict[int, int] = {}
        self._next_id = 0
        self.flagged_first = False

    def rowCount(self, parent: QModelIndex | QPersistentModelIndex | None = None) -> int:
        return 0 if parent is not None and parent.isValid() else len(self.items)

    def columnCount(self, parent: QModelIndex | QPersistentModelIndex | None = None) -> int:
        return 0 if parent is not None and parent.isValid() else len(COLUMNS)

    def headerData(self, section: int, orientation: Qt.Orientation, role: int = 0):
        if orientation == Qt.Orientation.Horizontal and role == Qt.ItemDataRole.DisplayRole:
            return COLUMNS[section]
        return None

    def data(self, index: QModelIndex | QPersistentModelIndex, role: int = 0):
        if not index.isValid():
            return None
        item = self.items[index.row()]
        column = COLUMNS[index.column()]
        if role == Qt.ItemDataRole.DisplayRole:
            return {
                "Name": item.job.input.name,
                "Size": _human_size(item.size_bytes),
                "Status": item.status_text,
                "Check": CHECK_BADGE if item.flagged else "",
                "Preflight": item.preflight_badge,
                "Time": f"{item.ms / 1000:.1f} s" if item.ms else "",
                "Output": item.job.output.name if item.status in (DONE, SKIPPED) else "",
            }[column]
        if role == Qt.ItemDataRole.ToolTipRole:
            return {
                "Name": str(item.job.input),
                "Status": item.status_text + (f"\nMade on {item.worker}" if item.worker else ""),
                "Check": "\n".join(item.review) if item.flagged else None,
                "Preflight": item.preflight_reasons,
                "Output": str(item.job.output) if item.status in (DONE, SKIPPED) else None,
            }.get(column)
        if role == Qt.ItemDataRole.DecorationRole and column == "Name":
            return item.thumbnail
        if role == Qt.ItemDataRole.ForegroundRole and column == "Preflight" and item.preflight:
            return QBrush(QColor(_STATUS_COLOURS[FAILED if item.rejected else DONE]))
        if role == Qt.ItemDataRole.ForegroundRole and column in ("Status", "Check"):
            colour = _CHECK_COLOUR if column == "Check" else _STATUS_COLOURS.get(item.status)
            return QBrush(QColor(colour)) if colour else None
        return None

    def add_jobs(self, jobs: list[Job], root: Path) -> list[QueueItem]:
        """Append jobs not already queued (same input and output); returns the new items."""
        known = {(item.job.input, item.job.output) for item in self.items}
        fresh = [job for job in jobs if (job.input, job.output) not in known]
        if not fresh:
            return []
        first = len(self.items)
        self.beginInsertRows(QModelIndex(), first, first + len(fresh) - 1)
        added = []
        for job in fresh:
            try:
                size = job.input.stat().st_size
            except OSError:
                size = 0
            item = QueueItem(self._next_id, job, size, root)
            self._rows[item.job_id] = len(self.items)
            self.items.append(item)
            added.append(item)
            self._next_id += 1
        self.endInsertRows()
        return added

    def has(self, job_id: int) -> bool:
        return job_id in self._rows

    def item(self, job_id: int) -> QueueItem:
        return self.items[self._rows[job_id]]

    def row_of(self, job_id: int) -> int:
        return self._rows[job_id]

    def set_thumbnail(self, job_id: int, image: QImage) -> None:
        if job_id in self._rows:
            row = self._rows[job_id]
            self.items[row].thumbnail = image
            self.dataChanged.emit(self.index(row, 0), self.index(row, 0))

    def update(
        self, job_id: int, status: str, message: str = "", ms: float = 0.0, **fields
    ) -> None:
        """Set a row's status (and any other ``QueueItem`` field: review, edited, preset)."""
        row = self._rows[job_id]
        item = self.items[row]
        item.status, item.message, item.ms = status, message, ms
        for name, value in fields.items():
            setattr(item, name, value)
        self.dataChanged.emit(self.index(row, 0), self.index(row, len(COLUMNS) - 1))
        if self.flagged_first:
            self._sort()

    def set_flagged_first(self, on: bool) -> None:
        """Keep the rows that need a look at the top (in queue order), or plain queue order."""
        self.flagged_first = on
        self._sort()

    def flagged(self) -> list[QueueItem]:
        """The rows that need a look, in the order shown."""
        return [item for item in self.items if item.flagged]

    def _sort(self) -> None:
        order = sorted(
            self.items,
            key=lambda item: (not item.flagged, item.job_id) if self.flagged_first else item.job_id,
        )
        if order == self.items:
            return
        self.layoutAboutToBeChanged.emit()
        ids_before = [item.job_id for item in self.items]
        self.items = order
        self._rows = {item.job_id: row for row, item in enumerate(order)}
        moved_from = self.persistentIndexList()
        moved_to = [
            self.index(self._rows[ids_before[index.row()]], index.column()) for index in moved_from
        ]
        self.changePersistentIndexList(moved_from, moved_to)
        self.layoutChanged.emit()

    def replace_jobs(self, changed: dict[Job, Job]) -> None:
        """Give re-planned jobs (a preset change: new extension) their new outputs."""
        for row, item in enumerate(self.items):
            if item.job in changed:
                item.job = changed[item.job]
                self.dataChanged.emit(self.index(row, 0), self.index(row, len(COLUMNS) - 1))

    def counts(self) -> dict[str, int]:
        """Rows per status, in the order a person reads them; statuses with no rows left out."""
        order = (QUEUED, RUNNING, DONE, SKIPPED, FAILED, CANCELLED)
        counts = {status: len(self.with_status(status)) for status in order}
        return {status: n for status, n in counts.items() if n}

    def time_left(self, job_ids: set[int], elapsed: float) -> str:
        """ ", about 12 s left" for a batch of ``job_ids`` running ``elapsed`` seconds so far;
        empty until one of them has finished."""
        batch = [self.items[self._rows[i]] for i in job_ids if i in self._rows]
        done = sum(item.status in FINISHED for item in batch)
        return f", about {elapsed / done * (len(batch) - done):.0f} s left" if done else ""

    def with_status(self, *statuses: str) -> list[QueueItem]:
        return [item for item in self.items if item.status in statuses]

    def remove_finished(self, statuses: frozenset[str] = frozenset({DONE, SKIPPED})) -> None:
        """Drop finished rows (by default done and skipped), keeping the others in order."""
        keep = [item for item in self.items if item.status not in statuses]
        self.beginResetModel()
        self.items = keep
        self._rows = {item.job_id: row for row, item in enumerate(keep)}
        self.endResetModel()

    def output_folders(self) -> list[Path]:
        """Folders holding outputs on disk: written now, or already there (skipped)."""
        return sorted({item.job.output.parent for item in self.with_status(DONE, SKIPPED)})
