"""The Memory budget page: does the server's configuration fit its RAM, and what would.

The numbers come from ``core.database.budget`` (``db budget`` prints the same ones); this page
only shows them. Nothing here changes the server: the recommendations are ``ALTER SYSTEM`` lines
to copy into psql as a superuser. A change of RAM or instances asks again after a short pause,
so typing 2048 asks once, not four times.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from PySide6.QtCore import Qt, QTimer, Signal
from PySide6.QtGui import QGuiApplication
from PySide6.QtWidgets import (
    QHBoxLayout,
    QHeaderView,
    QLabel,
    QPlainTextEdit,
    QPushButton,
    QSpinBox,
    QSplitter,
    QVBoxLayout,
    QWidget,
)

from fibuca_desktop.core.database.database_settings import INSTANCES_RANGE, RAM_MB_RANGE
from fibuca_desktop.ui.database.overview_widget import fill_row, table
from fibuca_desktop.ui.database.slow_queries_widget import NOTICE_STYLE

if TYPE_CHECKING:
    from fibuca_desktop.core.database.budget import MemoryBudget

SETTING_COLUMNS = ["Setting", "Current", "Recommended", "Applies", "Why"]
CONNECTION_COLUMNS = ["Application", "Held", "Limit"]
ASK_DELAY_MS = 400
FITS_STYLE = "font-size: 15px; font-weight: 600; color: #1b6e20;"
OVER_STYLE = "font-size: 15px; font-weight: 600; color: #b3261e;"
SCRIPT_LINES = 5


class BudgetWidget(QWidget):
    """Emits ``refresh_requested(ram_mb, instances)``; ``show_budget`` fills the page."""

    refresh_requested = Signal(int, int)

    def __init__(self, ram_mb: int = 500, instances: int = 1, parent=None) -> None:
        super().__init__(parent)
        self.ram_mb = QSpinBox()
        self.ram_mb.setRange(*RAM_MB_RANGE)
        self.ram_mb.setSingleStep(128)
        self.ram_mb.setSuffix(" MB")
        self.ram_mb.setValue(ram_mb)
        self.ram_mb.setToolTip("The database server's RAM, shared with everything else on it")
        self.instances = QSpinBox()
        self.instances.setRange(*INSTANCES_RANGE)
        self.instances.setValue(instances)
        self.instances.setToolTip("Backend instances (e.g. PM2 cluster workers), each with a pool")
        self.refresh_button = QPushButton("Refresh")
        self.refresh_button.clicked.connect(self.request_refresh)
        self._ask = QTimer(self)
        self._ask.setSingleShot(True)
        self._ask.setInterval(ASK_DELAY_MS)
        self._ask.timeout.connect(self.request_refresh)
        self.ram_mb.valueChanged.connect(lambda _v: self._ask.start())
        self.instances.valueChanged.connect(lambda _v: self._ask.start())

        self.verdict = QLabel("Refresh to compare the server's worst case with its RAM.")
        self.verdict.setObjectName("budgetVerdict")
        self.verdict.setWordWrap(True)
        self.detail = QLabel()
        self.detail.setWordWrap(True)
        self.notice = QLabel()
        self.notice.setWordWrap(True)
        self.notice.setStyleSheet(NOTICE_STYLE)
        self.notice.hide()
        self.settings_table = table(SETTING_COLUMNS)
        self.settings_table.setWordWrap(False)
        self.connections_table = table(CONNECTION_COLUMNS)
        header = self.connections_table.horizontalHeader()  # a narrow column: the names stretch
        header.setStretchLastSection(False)
        header.setSectionResizeMode(0, QHeaderView.ResizeMode.Stretch)
        for compact in (self.settings_table, self.connections_table):  # 14 settings on one page
            compact.verticalHeader().setDefaultSectionSize(compact.fontMetrics().height() + 8)
        self.prisma = QLabel()
        self.prisma.setObjectName("budgetPrisma")
        self.prisma.setWordWrap(True)
        self.prisma.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self.script = QPlainTextEdit()
        self.script.setObjectName("budgetScript")
        self.script.setReadOnly(True)
        self.script.setPlaceholderText("No change recommended.")
        self.script.setMaximumHeight(
            self.script.fontMetrics().lineSpacing() * (SCRIPT_LINES + 1) + 12
        )
        self.copy_button = QPushButton("Copy")
        self.copy_button.setToolTip("Copy the lines to paste into psql as a superuser")
        self.copy_button.setEnabled(False)
        self.copy_button.clicked.connect(self.copy_script)
        self.loaded = False  # a budget has been shown since connecting

        row = QHBoxLayout()
        row.addWidget(QLabel("Server RAM"))
        row.addWidget(self.ram_mb)
        row.addSpacing(12)
        row.addWidget(QLabel("Backend instances"))
        row.addWidget(self.instances)
        row.addWidget(self.refresh_button)
        row.addStretch(1)
        settings = QWidget()
        settings_layout = QVBoxLayout(settings)
        settings_layout.setContentsMargins(0, 0, 0, 0)
        settings_layout.addWidget(QLabel("Settings (highlighted: the recommendation differs)"))
        settings_layout.addWidget(self.settings_table, 1)
        connections = QWidget()
        connections_layout = QVBoxLayout(connections)
        connections_layout.setContentsMargins(0, 0, 0, 0)
        connections_layout.addWidget(QLabel("Connections by application_name"))
        connections_layout.addWidget(self.connections_table, 1)
        connections_layout.addWidget(self.prisma)
        split = QSplitter(Qt.Orientation.Horizontal)
        split.addWidget(settings)
        split.addWidget(connections)
        split.setStretchFactor(0, 3)
        split.setStretchFactor(1, 1)
        split.setChildrenCollapsible(False)
        script_head = QHBoxLayout()
        script_head.addWidget(QLabel("To apply, as a superuser in psql (Fibuca changes nothing)"))
        script_head.addStretch(1)
        script_head.addWidget(self.copy_button)
        layout = QVBoxLayout(self)
        layout.addLayout(row)
        layout.addWidget(self.verdict)
        layout.addWidget(self.detail)
        layout.addWidget(self.notice)
        layout.addWidget(split, 1)
        layout.addLayout(script_head)
        layout.addWidget(self.script)

    def request_refresh(self) -> None:
        self._ask.stop()
        self.detail.setText("Reading pg_settings and pg_stat_activity…")
        self.refresh_requested.emit(self.ram_mb.value(), self.instances.value())

    def show_error(self, message: str) -> None:
        self.detail.setText(f"The memory budget could not be read: {message}")

    def show_budget(self, budget: MemoryBudget) -> None:
        self.loaded = True
        fits = budget.fits
        self.verdict.setText(
            f"Worst case {budget.worst_case_mb:,.0f} MB of {budget.ram_mb:,} MB RAM: "
            + ("fits." if fits else "does NOT fit.")
        )
        self.verdict.setStyleSheet(FITS_STYLE if fits else OVER_STYLE)
        self.detail.setText(
            f"With the recommendations: {budget.recommended_worst_case_mb:,.0f} MB. The worst "
            "case counts every connection slot busy at once (shared buffers, each slot's own "
            "memory and work_mem, maintenance and autovacuum): what a full Prisma pool does."
        )
        self.notice.setText("\n".join(budget.notes))
        self.notice.setVisible(bool(budget.notes))
        self.settings_table.setRowCount(0)
        for advice in budget.settings:
            applies = "after a restart" if advice.restart else "on reload"
            values = [advice.name, advice.current, advice.recommended, applies, advice.why]
            fill_row(self.settings_table, values, flagged=advice.changed, tip=advice.why)
        self.connections_table.setRowCount(0)
        for client in budget.connections:
            limit = budget.limit_for(client.application)
            values = [client.application or "(no application_name)", client.count, limit]
            fill_row(self.connections_table, values, flagged=client.over_limit)
        self.prisma.setText(
            f"Prisma: ?connection_limit={budget.connection_limit} in each of the "
            f"{budget.instances} instance(s)' DATABASE_URL"
        )
        script = budget.psql_script()
        self.script.setPlainText("\n".join(script))
        self.copy_button.setEnabled(bool(script))
        self.settings_table.resizeColumnsToContents()

    def copy_script(self) -> None:
        QGuiApplication.clipboard().setText(self.script.toPlainText())
        self.copy_button.setText("Copied")
        QTimer.singleShot(1500, self, lambda: self.copy_button.setText("Copy"))
