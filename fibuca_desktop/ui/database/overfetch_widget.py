"""The Over-fetching page: the statements that return wide columns, ranked by bytes, and the fix.

The ranking comes from ``core.database.overfetch``; this page only shows it. The fix of the
selected statement is shown in full below the table, selectable, for pasting into the backend.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from PySide6.QtCore import Signal
from PySide6.QtWidgets import (
    QCheckBox,
    QHBoxLayout,
    QLabel,
    QPlainTextEdit,
    QPushButton,
    QVBoxLayout,
    QWidget,
)

from fibuca_desktop.core.byte_size import human_bytes
from fibuca_desktop.ui.database.overview_widget import fill_row, table
from fibuca_desktop.ui.database.slow_queries_widget import NOTICE_STYLE

if TYPE_CHECKING:
    from fibuca_desktop.core.database.overfetch import OverFetch, OverFetchReport

COLUMNS = ["Bytes/call", "Total", "Calls", "Rows/call", "Table", "Wide columns", "Prisma", "Query"]
BYTES, TOTAL, CALLS, ROWS, TABLE, WIDE, PRISMA, QUERY = range(len(COLUMNS))
FIX_LINES = 4


class OverfetchWidget(QWidget):
    """Emits ``refresh_requested(include_all)``; ``show_report`` fills the table."""

    refresh_requested = Signal(bool)

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.refresh_button = QPushButton("Refresh")
        self.refresh_button.clicked.connect(self.request_refresh)
        self.include_all = QCheckBox("Every statement, not only those returning wide columns")
        self.include_all.toggled.connect(lambda _on: self.request_refresh())
        self.summary = QLabel("Refresh to rank the statements by the bytes they return.")
        self.summary.setWordWrap(True)
        self.notice = QLabel()
        self.notice.setWordWrap(True)
        self.notice.setStyleSheet(NOTICE_STYLE)
        self.notice.hide()
        self.table = table(COLUMNS)
        self.table.setWordWrap(False)
        self.table.itemSelectionChanged.connect(self._show_fix)
        self.fix = QPlainTextEdit()
        self.fix.setObjectName("overfetchFix")
        self.fix.setReadOnly(True)
        self.fix.setPlaceholderText("Select a statement to see the fix in Prisma's terms.")
        self.fix.setMaximumHeight(self.fix.fontMetrics().lineSpacing() * (FIX_LINES + 1) + 12)
        self._shown: list[OverFetch] = []
        self.loaded = False  # a report has been shown since connecting
        row = QHBoxLayout()
        row.addWidget(self.refresh_button)
        row.addWidget(self.include_all)
        row.addStretch(1)
        layout = QVBoxLayout(self)
        layout.addLayout(row)
        layout.addWidget(self.summary)
        layout.addWidget(self.notice)
        layout.addWidget(self.table, 1)
        layout.addWidget(QLabel("Fix"))
        layout.addWidget(self.fix)

    def request_refresh(self) -> None:
        self.summary.setText("Reading pg_stat_statements and the planner's output…")
        self.refresh_requested.emit(self.include_all.isChecked())

    def show_error(self, message: str) -> None:
        self.summary.setText(f"Over-fetching could not be read: {message}")

    def show_report(self, report: OverFetchReport) -> None:
        """The ranking as the core made it (largest total bytes first; not re-sortable, so the
        order always means the same)."""
        self.loaded = True
        self.notice.setText(report.message or "")
        self.notice.setVisible(bool(report.message))
        self._shown = list(report.queries)
        self.table.setRowCount(0)
        for found in self._shown:
            fill_row(self.table, self._values(found), flagged=found.flagged, tip=found.query)
        self.fix.clear()
        flagged = [q for q in self._shown if q.flagged]
        if flagged:
            waste = sum(q.saved_bytes_per_call * q.calls for q in flagged)
            self.summary.setText(
                f"{len(flagged)} statement(s) return every column of a table with wide columns "
                f"(highlighted): {human_bytes(waste)} of wide values sent since "
                "pg_stat_statements was last reset."
            )
        elif self._shown:
            self.summary.setText("No statement returns every column of a table with wide ones.")
        else:
            self.summary.setText(
                "No statement returns wide columns."
                if not self.include_all.isChecked()
                else "No statement reads a table yet."
            )
        if self._shown:
            self.table.selectRow(0)

    @staticmethod
    def _values(found: OverFetch) -> list:
        wide = ", ".join(found.wide_columns) or "–"
        if found.all_columns:
            wide = f"all columns · {wide}"
        return [
            human_bytes(found.bytes_per_call),
            human_bytes(found.total_bytes),
            found.calls,
            round(found.rows_per_call, 1),
            found.table,
            wide,
            found.call.client,
            " ".join(found.query.split()),
        ]

    def selected(self) -> OverFetch | None:
        rows = {index.row() for index in self.table.selectedIndexes()}
        return self._shown[rows.pop()] if len(rows) == 1 else None

    def _show_fix(self) -> None:
        found = self.selected()
        self.fix.setPlainText("" if found is None else found.fix)
        self.fix.setToolTip("" if found is None else found.query)
        self.fix.moveCursor(self.fix.textCursor().MoveOperation.Start)
