"""Confirmation before an index build: the exact SQL that will run, and what it is for."""

from __future__ import annotations

from typing import TYPE_CHECKING

from PySide6.QtGui import QFontDatabase
from PySide6.QtWidgets import (
    QDialog,
    QDialogButtonBox,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QPlainTextEdit,
    QVBoxLayout,
    QWidget,
)

from fibuca_desktop.core.errors import FibucaError

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
        self._plan = plan
        self.name_edit = QLineEdit(plan.name)
        self.name_edit.setToolTip(
            "The index name: Prisma's by default; PostgreSQL keeps at most 63 bytes of it"
        )
        self.name_edit.textEdited.connect(self._name_edited)
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
        name_row = QHBoxLayout()
        name_row.addWidget(QLabel("Index name:"))
        name_row.addWidget(self.name_edit, 1)
        layout.addLayout(name_row)
        layout.addWidget(self.sql_view)
        layout.addWidget(QLabel("The plan cost is compared before and after the build on:"))
        layout.addWidget(queries)
        layout.addWidget(self.buttons)
        self.resize(640, 300)

    def plan(self) -> IndexPlan:
        """The plan to run: the one shown, under the name in the name field."""
        name = self.name_edit.text().strip()
        return self._plan if name == self._plan.name else self._plan.renamed(name)

    def _name_edited(self, _text: str) -> None:
        ok = self.buttons.button(QDialogButtonBox.StandardButton.Ok)
        try:
            self.sql_view.setPlainText(self.plan().sql)
            ok.setEnabled(True)
            ok.setToolTip("")
        except FibucaError as error:  # empty or longer than PostgreSQL's 63 bytes
            ok.setEnabled(False)
            ok.setToolTip(str(error))
            self.sql_view.setPlainText(str(error))
