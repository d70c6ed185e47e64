"""The Over-fetching page: the statements that return wide columns, ranked by bytes, and the fix.

The ranking comes from ``core.database.overfetch``; this page only shows it. The fix of the
selected statement is shown in full below the table, selectable, for pasting into the backend.
On PostgreSQL 17+ "Measure real bytes" runs the selected statement once (read-only, EXPLAIN
(ANALYZE, SERIALIZE), ``core.database.serialize_measure``) and shows what it sent next to the
estimate; the values for its placeholders are asked for first.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from PySide6.QtCore import Qt, Signal
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
from fibuca_desktop.core.database.statement_check import placeholder_count
from fibuca_desktop.ui.database.overview_widget import fill_row, table
from fibuca_desktop.ui.database.parameters_dialog import ParametersDialog
from fibuca_desktop.ui.database.slow_queries_widget import NOTICE_STYLE

if TYPE_CHECKING:
    from fibuca_desktop.core.database.overfetch import OverFetch, OverFetchReport
    from fibuca_desktop.core.database.serialize_measure import SerializedBytes

COLUMNS = ["Bytes/call", "Total", "Calls", "Rows/call", "Table", "Wide columns", "Prisma", "Query"]
BYTES, TOTAL, CALLS, ROWS, TABLE, WIDE, PRISMA, QUERY = range(len(COLUMNS))
FIX_LINES = 4
SERIALIZE_VERSION_NUM = 170000  # core.database.serialize_measure's (not imported: psycopg2)
NOT_CONNECTED_TIP = "Connect to a PostgreSQL 17 or later server to measure the real bytes."


class OverfetchWidget(QWidget):
    """Emits ``refresh_requested(include_all)``; ``show_report`` fills the table. Emits
    ``measure_requested(queryid, values)``; ``show_measured``/``show_measure_error`` answer."""

    refresh_requested = Signal(bool)
    measure_requested = Signal(str, list)

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
        self.measure_button = QPushButton("Measure real bytes")
        self.measure_button.setObjectName("measureRealBytes")
        self.measure_button.clicked.connect(self.request_measure)
        self.measured = QLabel()
        self.measured.setObjectName("measuredBytes")
        self.measured.setWordWrap(True)
        self.measured.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self._shown: list[OverFetch] = []
        self._measurements: dict[str, str] = {}  # queryid -> what the label says about it
        self._measuring: str | None = None
        self._serialize_supported = False
        self._server_known = False  # set_server has been called since the page was made
        self._serialize_tip = NOT_CONNECTED_TIP
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
        measure_row = QHBoxLayout()
        measure_row.addWidget(self.measure_button)
        measure_row.addWidget(self.measured, 1)
        layout.addLayout(measure_row)
        layout.addWidget(QLabel("Fix"))
        layout.addWidget(self.fix)

    def set_server(self, version_num: int, version: str) -> None:
        """Whether the connected server can measure (PostgreSQL 17+); says why not otherwise."""
        self._serialize_supported = version_num >= SERIALIZE_VERSION_NUM
        self._server_known = True
        self._serialize_tip = (
            "Run the selected statement once, read-only, under EXPLAIN (ANALYZE, SERIALIZE): "
            "the bytes it really sends, next to the estimate."
            if self._serialize_supported
            else f"Measuring the real bytes needs PostgreSQL 17 or later (EXPLAIN's SERIALIZE "
            f"option); this server is {version.split()[0] if version else 'older'}."
        )
        self._measurements.clear()
        self._measuring = None
        self._update_measure()

    def request_measure(self) -> None:
        found = self.selected()
        if found is None or not self._serialize_supported or self._measuring:
            return
        count = placeholder_count(found.query)
        values = self.ask_parameters(found.query, count) if count else []
        if values is None:
            return
        self._measuring = found.queryid
        self._measurements[found.queryid] = "Measuring: running the statement once…"
        self._update_measure()
        self.measure_requested.emit(found.queryid, values)

    def ask_parameters(self, query: str, count: int) -> list[str] | None:
        """The values of ``$1..$count``, or None when the user cancels (tests replace this)."""
        dialog = ParametersDialog(query, count, self)
        return dialog.values() if dialog.exec() == ParametersDialog.DialogCode.Accepted else None

    def show_measured(self, result: SerializedBytes) -> None:
        values = ", ".join(f"${n} = {v}" for n, v in enumerate(result.parameters, 1))
        text = (
            f"Measured {human_bytes(result.output_bytes)} sent for {result.rows} rows"
            f"{f' ({values})' if values else ''}, serializing {result.serialize_ms:.1f} ms, "
            f"execution {result.execution_ms:.1f} ms"
        )
        if result.estimated_bytes_per_call is not None:
            text += (
                f" · estimated {human_bytes(result.estimated_bytes_per_call)} per call "
                f"({result.estimated_rows_per_call:g} rows)"
            )
        self._finish_measure(result.queryid or self._measuring or "", text)

    def show_measure_error(self, queryid: str, message: str) -> None:
        self._finish_measure(queryid, f"Not measured: {message}")

    def _finish_measure(self, queryid: str, text: str) -> None:
        self._measurements[queryid] = text
        self._measuring = None
        self._update_measure()

    def _update_measure(self) -> None:
        found = self.selected()
        self.measure_button.setEnabled(
            self._serialize_supported and found is not None and self._measuring is None
        )
        self.measure_button.setToolTip(self._serialize_tip)
        text = "" if found is None else self._measurements.get(found.queryid, "")
        if self._server_known and not self._serialize_supported:  # seen without hovering too
            text = self._serialize_tip
        self.measured.setText(text)

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
        self._update_measure()
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
        self._update_measure()
