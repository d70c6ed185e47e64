"""EXPLAIN as a tree with costs; sequential scans of large tables stand out."""

from __future__ import annotations

from typing import TYPE_CHECKING

from PySide6.QtCore import Qt
from PySide6.QtGui import QBrush, QColor, QFont
from PySide6.QtWidgets import (
    QLabel,
    QPlainTextEdit,
    QTreeWidget,
    QTreeWidgetItem,
    QVBoxLayout,
    QWidget,
)

if TYPE_CHECKING:
    from fibuca_desktop.core.database.explain import PlanNode

COLUMNS = ["Node", "Relation", "Total cost", "Startup cost", "Rows", "Conditions"]
SEQ_SCAN_HIGHLIGHT = QColor("#ffcdd2")


class PlanTreeWidget(QWidget):
    """The query above, its generic plan below as a tree."""

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.query_view = QPlainTextEdit()
        self.query_view.setReadOnly(True)
        self.query_view.setPlaceholderText(
            "Select a slow query and press Explain selected (or double-click it)."
        )
        self.query_view.setMaximumHeight(90)
        self.summary = QLabel()
        self.summary.setWordWrap(True)
        self.tree = QTreeWidget()
        self.tree.setColumnCount(len(COLUMNS))
        self.tree.setHeaderLabels(COLUMNS)
        self.tree.setUniformRowHeights(True)
        layout = QVBoxLayout(self)
        layout.addWidget(self.query_view)
        layout.addWidget(self.summary)
        layout.addWidget(self.tree, 1)

    def show_pending(self, query: str) -> None:
        self.query_view.setPlainText(query)
        self.summary.setText("Planning…")
        self.tree.clear()

    def show_error(self, message: str) -> None:
        self.summary.setText(message)
        self.tree.clear()

    def show_plan(self, query: str, root: PlanNode) -> None:
        self.query_view.setPlainText(query)
        self.tree.clear()
        item = self._item(root)
        self.tree.addTopLevelItem(item)
        self.tree.expandAll()
        for column in range(len(COLUMNS) - 1):
            self.tree.resizeColumnToContents(column)
        large = [n for n in root.walk() if n.large_seq_scan]
        text = f"Generic plan, total cost {root.total_cost:,.2f}."
        if large:
            tables = ", ".join(sorted({n.relation or "?" for n in large}))
            text += f" Sequential scan of a large table (red): {tables}."
        self.summary.setText(text)

    def _item(self, node: PlanNode) -> QTreeWidgetItem:
        relation = node.relation or ""
        if node.index_name:
            relation = f"{relation} using {node.index_name}".strip()
        conditions = "; ".join(f"{key}: {value}" for key, value in node.conditions.items())
        item = QTreeWidgetItem(
            [
                node.node_type,
                relation,
                f"{node.total_cost:,.2f}",
                f"{node.startup_cost:,.2f}",
                f"{node.plan_rows:,.0f}",
                conditions,
            ]
        )
        for column in (2, 3, 4):
            item.setTextAlignment(column, Qt.AlignmentFlag.AlignRight)
        item.setToolTip(5, conditions)
        if node.large_seq_scan:
            tip = (
                f"Sequential scan of {node.relation} (about {node.table_rows or 0:,.0f} rows): "
                "every row is read. An index on the filtered columns may help."
            )
            bold = QFont()
            bold.setBold(True)
            for column in range(len(COLUMNS)):
                item.setBackground(column, QBrush(SEQ_SCAN_HIGHLIGHT))
                item.setToolTip(column, tip)
                item.setFont(column, bold)
        for child in node.children:
            item.addChild(self._item(child))
        return item
