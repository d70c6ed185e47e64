"""The Index advisor section: suggestions (verified or why not), index problems, apply, export."""

from __future__ import annotations

from typing import TYPE_CHECKING

from PySide6.QtCore import Qt, Signal
from PySide6.QtGui import QBrush, QColor
from PySide6.QtWidgets import (
    QHBoxLayout,
    QLabel,
    QPushButton,
    QSpinBox,
    QSplitter,
    QTableWidgetItem,
    QVBoxLayout,
    QWidget,
)

from fibuca_desktop.core.byte_size import human_bytes
from fibuca_desktop.core.database.database_settings import MAX_ADVISED
from fibuca_desktop.ui.database.overview_widget import fill_row, table

if TYPE_CHECKING:
    from fibuca_desktop.core.database.index_suggestion import IndexSuggestion
    from fibuca_desktop.ui.database.database_work import AdviceWithHealth

COLUMNS = ["Export", "Table", "Columns", "Reason", "Verified", "Cost before", "Cost after"]
COLUMNS += ["Saving"]
EXPORT, TABLE, INDEX_COLUMNS, REASON, VERIFIED, BEFORE, AFTER, SAVING = range(len(COLUMNS))
UNVERIFIED = QColor("#fff4ce")
READ_ONLY_TIP = "Read-only mode is on: turn it off in the bar above to build indexes."
READ_ONLY_HINT = (
    "Apply is off because read-only mode is on: untick Read-only in the bar above to build "
    "indexes (each build is shown and confirmed first)."
)


def verified_text(suggestion: IndexSuggestion) -> str:
    if suggestion.verified:
        return "verified (hypopg)"
    return f"unverified: {suggestion.note or 'not checked by the planner'}"


def cost(value: float | None) -> str:
    return "" if value is None else f"{value:,.2f}"


class AdvisorWidget(QWidget):
    advise_requested = Signal()
    apply_requested = Signal(object)  # IndexSuggestion
    export_requested = Signal(str)  # "migration" or "prisma"

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.suggestions: list[IndexSuggestion] = []
        self._writable = False
        self._busy = False
        self.advise_button = QPushButton("Run advisor")
        self.advise_button.setToolTip(
            "Index suggestions for the slow queries (thresholds of the Slow queries tab) and for "
            "foreign keys, each verified with hypopg when the server has it"
        )
        self.advise_button.clicked.connect(self.advise_requested)
        self.max_statements = QSpinBox()
        self.max_statements.setRange(1, MAX_ADVISED)
        self.max_statements.setValue(50)
        self.max_statements.setPrefix("slowest ")
        self.max_statements.setSuffix(" statements")
        self.max_statements.setToolTip(
            "How many of the slow statements (by total time) the advisor plans and costs"
        )
        self.apply_button = QPushButton("Apply selected…")
        self.apply_button.clicked.connect(self._apply_clicked)
        self.migration_button = QPushButton("Export migration…")
        self.migration_button.clicked.connect(lambda: self.export_requested.emit("migration"))
        self.prisma_button = QPushButton("Export Prisma lines…")
        self.prisma_button.clicked.connect(lambda: self.export_requested.emit("prisma"))
        self.read_only_hint = QLabel(READ_ONLY_HINT)  # visible, not only a tooltip
        self.read_only_hint.setWordWrap(True)
        self.notes = QLabel()
        self.notes.setWordWrap(True)
        self.notes.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self.table = table(COLUMNS)
        self.table.setWordWrap(False)
        self.table.itemSelectionChanged.connect(self._update_buttons)
        self.health = table(["Problem", "Index", "Table", "Size", "Covered by / fix"])
        row = QHBoxLayout()
        row.addWidget(self.advise_button)
        row.addWidget(self.max_statements)
        row.addStretch(1)
        for button in (self.apply_button, self.migration_button, self.prisma_button):
            row.addWidget(button)
        suggestions = QWidget()
        top = QVBoxLayout(suggestions)
        top.setContentsMargins(0, 0, 0, 0)
        top.addWidget(QLabel("Suggested indexes (tick the ones to export)"))
        top.addWidget(self.table)
        problems = QWidget()
        bottom = QVBoxLayout(problems)
        bottom.setContentsMargins(0, 0, 0, 0)
        bottom.addWidget(QLabel("Duplicate, unused and INVALID indexes"))
        bottom.addWidget(self.health)
        splitter = QSplitter(Qt.Orientation.Vertical)
        splitter.addWidget(suggestions)
        splitter.addWidget(problems)
        splitter.setStretchFactor(0, 3)
        splitter.setStretchFactor(1, 2)
        layout = QVBoxLayout(self)
        layout.addLayout(row)
        layout.addWidget(self.read_only_hint)
        layout.addWidget(self.notes)
        layout.addWidget(splitter, 1)
        self._update_buttons()

    def show_advice(self, result: AdviceWithHealth) -> None:
        advice = result.advice
        self.suggestions = list(advice.suggestions)
        self.table.setRowCount(0)
        for suggestion in self.suggestions:
            before, after = suggestion.cost_before, suggestion.cost_after
            saving = "" if before is None or after is None or before <= 0 else 1 - after / before
            values = [
                "",
                suggestion.table,
                ", ".join(suggestion.columns),
                suggestion.reason,
                verified_text(suggestion),
                cost(before),
                cost(after),
                f"{saving:.0%}" if saving != "" else "",
            ]
            tip = "\n\n".join([suggestion.create_sql(), *suggestion.queries])
            fill_row(self.table, values, tip=tip)
            check = QTableWidgetItem()
            check.setFlags(check.flags() | Qt.ItemFlag.ItemIsUserCheckable)
            check.setCheckState(Qt.CheckState.Checked)
            self.table.setItem(self.table.rowCount() - 1, EXPORT, check)
            if not suggestion.verified:
                for column in range(len(COLUMNS)):
                    self.table.item(self.table.rowCount() - 1, column).setBackground(
                        QBrush(UNVERIFIED)
                    )
        notes = [n for n in (advice.hypopg_missing, advice.statements_missing) if n] or [
            "Every suggestion was checked with a hypothetical index (hypopg)."
        ]
        notes += [
            n[0].upper() + n[1:]
            for n in (advice.statements_hidden, advice.unreadable_note, advice.schema_note)
            if n
        ]
        notes.append(f"{len(self.suggestions)} suggestion(s); {len(advice.rejected)} rejected.")
        self.notes.setText("\n".join(notes))
        self.health.setRowCount(0)
        for kind in ("duplicate", "unused", "invalid", "not_judged"):
            for problem in getattr(result.health, kind):
                fix = (problem.covered_by and f"covered by {problem.covered_by}") or " · ".join(
                    part for part in (problem.drop_sql, problem.note) if part
                )
                label = "not judged yet" if kind == "not_judged" else kind
                values = [label, problem.index, problem.table, human_bytes(problem.size_bytes), fix]
                fill_row(self.health, values, kind == "invalid", problem.drop_sql)
        self._update_buttons()

    def chosen(self) -> list[IndexSuggestion]:
        """The ticked suggestions, in table order."""
        return [
            suggestion
            for row, suggestion in enumerate(self.suggestions)
            if self.table.item(row, EXPORT).checkState() == Qt.CheckState.Checked
        ]

    def selected(self) -> IndexSuggestion | None:
        rows = {index.row() for index in self.table.selectedIndexes()}
        return self.suggestions[rows.pop()] if len(rows) == 1 else None

    def select(self, table_name: str, columns: tuple[str, ...]) -> None:
        for row, suggestion in enumerate(self.suggestions):
            if (suggestion.table, suggestion.columns) == (table_name, columns):
                self.table.selectRow(row)
                return
        raise LookupError(f"no suggestion for {table_name} {columns}")

    def set_writable(self, writable: bool) -> None:
        self._writable = writable
        self._update_buttons()

    def set_busy(self, busy: bool) -> None:
        """A build is running: one at a time."""
        self._busy = busy
        self._update_buttons()

    def _update_buttons(self) -> None:
        has_rows = bool(self.suggestions)
        self.migration_button.setEnabled(has_rows)
        self.prisma_button.setEnabled(has_rows)
        self.read_only_hint.setVisible(not self._writable)
        if not self._writable:
            self.apply_button.setEnabled(False)
            self.apply_button.setToolTip(READ_ONLY_TIP)
        elif self._busy:
            self.apply_button.setEnabled(False)
            self.apply_button.setToolTip("An index build is running; one at a time.")
        else:
            self.apply_button.setEnabled(self.selected() is not None)
            self.apply_button.setToolTip(
                "Build the selected index with CREATE INDEX CONCURRENTLY (shown and confirmed "
                "first)"
            )

    def _apply_clicked(self) -> None:
        suggestion = self.selected()
        if suggestion is not None:
            self.apply_requested.emit(suggestion)
