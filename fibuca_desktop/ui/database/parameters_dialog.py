"""Asks for the values of a statement's ``$1..$n`` before its bytes are measured.

pg_stat_statements keeps statements with their values replaced by placeholders; running one
needs values again. They are passed on as text and bound by the driver, never pasted.
"""

from __future__ import annotations

from PySide6.QtWidgets import (
    QDialog,
    QDialogButtonBox,
    QFormLayout,
    QLabel,
    QLineEdit,
    QPlainTextEdit,
    QVBoxLayout,
    QWidget,
)

QUERY_LINES = 4


class ParametersDialog(QDialog):
    """One field per placeholder; ``values()`` after ``exec()`` accepted."""

    def __init__(self, query: str, count: int, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setWindowTitle("Values for the statement")
        intro = QLabel(
            "The statement runs once, read-only, to measure the bytes it sends. Give the value "
            "of each placeholder as the application would send it:"
        )
        intro.setWordWrap(True)
        shown = QPlainTextEdit(" ".join(query.split()))
        shown.setReadOnly(True)
        shown.setMaximumHeight(shown.fontMetrics().lineSpacing() * (QUERY_LINES + 1) + 12)
        self.fields = [QLineEdit() for _ in range(count)]
        form = QFormLayout()
        for number, field in enumerate(self.fields, 1):
            field.setObjectName(f"parameter{number}")
            form.addRow(f"${number}", field)
        buttons = QDialogButtonBox(
            QDialogButtonBox.StandardButton.Ok | QDialogButtonBox.StandardButton.Cancel
        )
        buttons.button(QDialogButtonBox.StandardButton.Ok).setText("Measure")
        buttons.accepted.connect(self.accept)
        buttons.rejected.connect(self.reject)
        layout = QVBoxLayout(self)
        layout.addWidget(intro)
        layout.addWidget(shown)
        layout.addLayout(form)
        layout.addWidget(buttons)
        self.resize(560, self.sizeHint().height())

    def values(self) -> list[str]:
        return [field.text() for field in self.fields]
