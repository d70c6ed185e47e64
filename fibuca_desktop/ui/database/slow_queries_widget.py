"""The Slow queries section: editable thresholds, a sortable table, the enable notice."""

from __future__ import annotations

from typing import TYPE_CHECKING

from PySide6.QtCore import Qt, Signal
from PySide6.QtWidgets import (
    QDoubleSpinBox,
    QHBoxLayout,
    QLabel,
    QPushButton,
    QSpinBox,
    QVBoxLayout,
    QWidget,
)

from fibuca_desktop.ui.database.overview_widget import fill_row, table

if TYPE_CHECKING:
    from fibuca_desktop.core.database.slow_queries import SlowQuery, SlowQueryReport

COLUMNS = ["Total ms", "Mean ms", "Calls", "Rows", "Source", "Query"]
TOTAL, MEAN, CALLS, ROWS, SOURCE, QUERY = range(len(COLUMNS))
NOTICE_STYLE = "background: #fff4ce; border: 1px solid #e0c060; padding: 6px;"


class SlowQueriesWidget(QWidget):
    """Emits ``refresh_requested(min_mean_ms, min_calls)`` and ``explain_requested(query)``."""

    refresh_requested = Signal(float, int)
    explain_requested = Signal(str)

    def __init__(self, min_mean_ms: float, min_calls: int, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.min_mean = QDoubleSpinBox()
        self.min_mean.setRange(0, 3_600_000)
        self.min_mean.setDecimals(1)
        self.min_mean.setSuffix(" ms")
        self.min_mean.setValue(min_mean_ms)
        self.min_calls = QSpinBox()
        self.min_calls.setRange(1, 1_000_000_000)
        self.min_calls.setValue(min_calls)
        self.refresh_button = QPushButton("Refresh")
        self.refresh_button.clicked.connect(self.request_refresh)
        self.explain_button = QPushButton("Explain selected")
        self.explain_button.setEnabled(False)
        self.explain_button.clicked.connect(self._explain_selected)
        self.notice = QLabel()
        self.notice.setWordWrap(True)
        self.notice.setStyleSheet(NOTICE_STYLE)
        self.notice.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self.notice.hide()
        self.table = table(COLUMNS)
        self.table.setSortingEnabled(True)
        self.table.setWordWrap(False)
        self.table.itemSelectionChanged.connect(
            lambda: self.explain_button.setEnabled(self.selected_query() is not None)
        )
        self.table.itemDoubleClicked.connect(lambda _item: self._explain_selected())
        row = QHBoxLayout()
        row.addWidget(QLabel("Mean at least"))
        row.addWidget(self.min_mean)
        row.addWidget(QLabel("and calls at least"))
        row.addWidget(self.min_calls)
        row.addWidget(self.refresh_button)
        row.addStretch(1)
        row.addWidget(self.explain_button)
        layout = QVBoxLayout(self)
        layout.addLayout(row)
        layout.addWidget(self.notice)
        layout.addWidget(self.table, 1)

    def request_refresh(self) -> None:
        self.refresh_requested.emit(self.min_mean.value(), self.min_calls.value())

    def show_report(self, report: SlowQueryReport) -> None:
        lines = []
        if not report.statements_available:
            lines.append(
                f"{report.message}\nMeanwhile: queries seen running in pg_stat_activity over one "
                "second (calls = times seen, mean = longest run seen)."
            )
        if report.hidden_message:
            lines.append(report.hidden_message)
        self.notice.setText("\n".join(lines))
        self.notice.setVisible(bool(lines))
        self.table.setSortingEnabled(False)  # fill first, then sort once
        self.table.setRowCount(0)
        for query in report.queries:
            fill_row(self.table, self._values(query), tip=query.query)
        self.table.setSortingEnabled(True)
        self.table.sortByColumn(TOTAL, Qt.SortOrder.DescendingOrder)

    @staticmethod
    def _values(query: SlowQuery) -> list:
        rows = "" if query.rows is None else query.rows
        total, mean = round(query.total_ms, 2), round(query.mean_ms, 2)
        return [total, mean, query.calls, rows, query.source, " ".join(query.query.split())]

    def queries(self) -> list[str]:
        """The queries in the order shown (after the user's sort)."""
        return [self.table.item(r, QUERY).toolTip() for r in range(self.table.rowCount())]

    def selected_query(self) -> str | None:
        rows = {index.row() for index in self.table.selectedIndexes()}
        if len(rows) != 1:
            return None
        return self.table.item(rows.pop(), QUERY).toolTip()

    def _explain_selected(self) -> None:
        query = self.selected_query()
        if query is not None:
            self.explain_requested.emit(query)
