"""Confirmation before an index build: the exact SQL that will run, and what it is for."""

from __future__ import annotations

from typing import TYPE_CHECKING

from PySide6.QtGui import QFontDatabase
from PySide6.QtWidgets import (
    QDialog,
    QDialogButtonBox,
    QLabel,
    QPlainTextEdit,
    QVBoxLayout,
    QWidget,
)

if TYPE_CHECKING:
    from fibuca_desktop.core.database.index_build import IndexPlan


class ApplyIndexDialog(QDialog):
    """Shows ``plan.sql`` verbatim; accepting it is the only way a build starts."""

    def __init__(self, plan: IndexPlan, masked_url: str, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setWindowTitle("Build this index?")
        self.setModal(True)
        intro = QLabel(
            f"Fibuca will run this statement on <b>{masked_url}</b>, on its own connection, in "
            "autocommit, with a lock timeout. CREATE INDEX CONCURRENTLY does not block writes; "
            "it reads the whole table, so it takes a while on a large one. You can cancel it; a "
            "cancelled build leaves an INVALID index, which Fibuca offers to drop."
        )
        intro.setWordWrap(True)
        self.sql_view = QPlainTextEdit(plan.sql)
        self.sql_view.setReadOnly(True)
        self.sql_view.setFont(QFontDatabase.systemFont(QFontDatabase.SystemFont.FixedFont))
        self.sql_view.setMaximumHeight(80)
        queries = QPlainTextEdit("\n\n".join(plan.queries))
        queries.setReadOnly(True)
        queries.setMaximumHeight(90)
        self.buttons = QDialogButtonBox(
            QDialogButtonBox.StandardButton.Ok | QDialogButtonBox.StandardButton.Cancel
        )
        self.buttons.button(QDialogButtonBox.StandardButton.Ok).setText("Build index")
        self.buttons.accepted.connect(self.accept)
        self.buttons.rejected.connect(self.reject)
        layout = QVBoxLayout(self)
        layout.addWidget(intro)
        layout.addWidget(self.sql_view)
        layout.addWidget(QLabel("The plan cost is compared before and after the build on:"))
        layout.addWidget(queries)
        layout.addWidget(self.buttons)
        self.resize(640, 300)
