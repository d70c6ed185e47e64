"""The Overview section: server, size, who holds connections, what is stuck, cache hit rate."""

from __future__ import annotations

from typing import TYPE_CHECKING

from PySide6.QtCore import Qt, Signal
from PySide6.QtGui import QBrush, QColor
from PySide6.QtWidgets import (
    QAbstractItemView,
    QFormLayout,
    QHBoxLayout,
    QHeaderView,
    QLabel,
    QPushButton,
    QTableWidget,
    QTableWidgetItem,
    QVBoxLayout,
    QWidget,
)

from fibuca_desktop.core.byte_size import human_bytes

if TYPE_CHECKING:
    from fibuca_desktop.core.database.overview import Overview

FLAG = QColor("#ffe0b2")  # a client over Fibuca's connection limit, a stuck session


def counts_text(counts: dict[str, int]) -> str:
    ordered = sorted(counts.items(), key=lambda item: (-item[1], item[0]))
    return " · ".join(f"{name or '(none)'} {count}" for name, count in ordered) or "none"


def table(headers: list[str]) -> QTableWidget:
    widget = QTableWidget(0, len(headers))
    widget.setHorizontalHeaderLabels(headers)
    widget.verticalHeader().hide()
    widget.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
    widget.setSelectionBehavior(QAbstractItemView.SelectionBehavior.SelectRows)
    widget.horizontalHeader().setSectionResizeMode(QHeaderView.ResizeMode.ResizeToContents)
    widget.horizontalHeader().setStretchLastSection(True)
    return widget


def fill_row(widget: QTableWidget, values: list, flagged: bool = False, tip: str = "") -> None:
    row = widget.rowCount()
    widget.insertRow(row)
    for column, value in enumerate(values):
        item = QTableWidgetItem()
        item.setData(Qt.ItemDataRole.DisplayRole, value)
        if flagged:
            item.setBackground(QBrush(FLAG))
        if tip:
            item.setToolTip(tip)
        widget.setItem(row, column, item)


class OverviewWidget(QWidget):
    refresh_requested = Signal()

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.fields: dict[str, QLabel] = {}
        form = QFormLayout()
        for key, title in (
            ("server", "Server"),
            ("size", "Database size"),
            ("connections", "Connections"),
            ("by_state", "By state"),
            ("by_user", "By user"),
            ("by_application", "By application"),
            ("cache", "Cache hit rate"),
        ):
            label = QLabel("–")
            label.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
            label.setWordWrap(True)
            self.fields[key] = label
            form.addRow(f"{title}:", label)
        self.refresh_button = QPushButton("Refresh")
        self.refresh_button.clicked.connect(self.refresh_requested)
        head = QHBoxLayout()
        head.addLayout(form, 1)
        head.addWidget(self.refresh_button, 0, Qt.AlignmentFlag.AlignTop)
        self.clients = table(["Client", "User", "Application", "Connections"])
        self.stuck = table(["Kind", "PID", "User", "Application", "Seconds", "Query"])
        layout = QVBoxLayout(self)
        layout.addLayout(head)
        layout.addWidget(QLabel("Clients (orange: more connections than Fibuca's limit of 5)"))
        layout.addWidget(self.clients, 1)
        layout.addWidget(QLabel("Idle in transaction and queries running over 60 s"))
        layout.addWidget(self.stuck, 1)

    def show_overview(self, view: Overview) -> None:
        self.fields["server"].setText(f"PostgreSQL {view.server_version} · {view.database}")
        self.fields["size"].setText(human_bytes(view.database_bytes))
        self.fields["connections"].setText(
            f"{view.connections} of max_connections {view.max_connections}"
        )
        self.fields["by_state"].setText(counts_text(view.by_state))
        self.fields["by_user"].setText(counts_text(view.by_user))
        self.fields["by_application"].setText(counts_text(view.by_application))
        rate = view.cache_hit_rate
        self.fields["cache"].setText("no reads yet" if rate is None else f"{rate:.1%}")
        self.clients.setRowCount(0)
        for client in view.clients:
            tip = (
                f"{client.connections} connections: more than Fibuca's limit of 5 (a second app "
                "instance or a leak?)"
                if client.over_limit
                else ""
            )
            values = [client.client, client.user, client.application, client.connections]
            fill_row(self.clients, values, client.over_limit, tip)
        self.stuck.setRowCount(0)
        for kind, sessions in (
            ("idle in transaction", view.idle_in_transaction),
            ("long-running", view.long_running),
        ):
            for s in sessions:
                values = [kind, s.pid, s.user, s.application, round(s.seconds, 1), s.query]
                fill_row(self.stuck, values, True, s.query)
