"""The Database panel's connect bar: URL, Connect/Disconnect, read-only toggle, pool, errors."""

from __future__ import annotations

from PySide6.QtCore import Signal
from PySide6.QtWidgets import (
    QCheckBox,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QMessageBox,
    QPushButton,
    QVBoxLayout,
    QWidget,
)

from fibuca_desktop.core.database.url_parts import (
    MASK,
    UNREADABLE,
    keep_password_behind_mask,
    mask_url,
)

URL_PLACEHOLDER = "postgresql://user@host:5432/db"
ERROR_STYLE = "color: #b00020;"
OK_STYLE = "color: #1b5e20;"


class ConnectBarWidget(QWidget):
    """Emits what the user asks for; the panel decides and calls ``show_*`` back."""

    connect_requested = Signal(str)  # the URL as typed (may hold a password: never shown again)
    disconnect_requested = Signal()
    read_only_changed = Signal(bool)

    def __init__(self, last_url: str | None = None, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.url_edit = QLineEdit(last_url or "")
        self.url_edit.setPlaceholderText(URL_PLACEHOLDER)
        self.url_edit.setToolTip(
            "A PostgreSQL URL as in Prisma's DATABASE_URL. Leave the password out to take it from "
            "PGPASSWORD, ~/.pgpass or the OS keyring; it is never saved or shown."
        )
        self.url_edit.returnPressed.connect(self._connect_clicked)
        self.connect_button = QPushButton("Connect")
        self.connect_button.clicked.connect(self._connect_clicked)
        self.disconnect_button = QPushButton("Disconnect")
        self.disconnect_button.clicked.connect(self.disconnect_requested)
        self.disconnect_button.setEnabled(False)
        self.read_only_box = QCheckBox("Read-only")
        self.read_only_box.setChecked(True)
        self.read_only_box.setToolTip(
            "On: Fibuca only reads (every inspection runs in a read-only transaction) and will "
            "not build or drop indexes."
        )
        self.read_only_box.toggled.connect(self._read_only_toggled)
        self.pool_label = QLabel("Pool: not connected")
        self.pool_label.setToolTip("Connections: the pool's limit, in use now, requests waiting")
        self.status_label = QLabel("Not connected.")
        self.status_label.setWordWrap(True)
        self._masked_url: str | None = None
        self._typed_url: str | None = None
        self._note: str | None = None  # why a password was not kept, shown with the status
        self.url_note: str | None = None  # set by the panel: e.g. "percent-encode the password"

        row = QHBoxLayout()
        row.addWidget(QLabel("Database URL:"))
        row.addWidget(self.url_edit, 1)
        for widget in (self.connect_button, self.disconnect_button, self.read_only_box):
            row.addWidget(widget)
        status_row = QHBoxLayout()
        status_row.addWidget(self.status_label, 1)
        status_row.addWidget(self.pool_label)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addLayout(row)
        layout.addLayout(status_row)

    @property
    def read_only(self) -> bool:
        return self.read_only_box.isChecked()

    def _connect_clicked(self) -> None:
        text = self.url_edit.text().strip()
        self._note = None
        # The field shows the masked URL after connecting: connecting again means the URL typed;
        # an edit of the masked URL (e.g. "?schema=sales" added) keeps the real password.
        if self._typed_url is not None:
            if text == self._masked_url:
                text = self._typed_url
            else:
                text, self._note = keep_password_behind_mask(text, self._typed_url)
        self._typed_url = text
        self.connect_requested.emit(text)

    def _read_only_toggled(self, on: bool) -> None:
        if not on:
            answer = QMessageBox.question(
                self,
                "Turn read-only mode off?",
                "With read-only mode off, Fibuca can build indexes (CREATE INDEX CONCURRENTLY) "
                "and drop INVALID ones on this database. Each build is shown and confirmed first. "
                "Turn read-only mode off?",
            )
            if answer != QMessageBox.StandardButton.Yes:
                self.read_only_box.blockSignals(True)
                self.read_only_box.setChecked(True)
                self.read_only_box.blockSignals(False)
                return
        self.read_only_changed.emit(on)

    def show_connecting(self, masked_url: str) -> None:
        self._masked_url = masked_url
        self.url_edit.setText(masked_url)  # from here on the password is nowhere on screen
        self.status_label.setStyleSheet("")
        self.status_label.setText(
            f"Connecting to {masked_url}…" + (f" {self._note}" if self._note else "")
        )
        self.connect_button.setEnabled(False)

    def show_connected(self, masked_url: str, detail: str) -> None:
        self.status_label.setStyleSheet(OK_STYLE)
        notes = [n for n in (self._note, self.url_note) if n]
        self.status_label.setText(
            f"Connected to {masked_url} · {detail}" + "".join(f" · Note: {n}" for n in notes)
        )
        self.connect_button.setEnabled(True)
        self.connect_button.setText("Reconnect")
        self.disconnect_button.setEnabled(True)

    def show_disconnected(self, message: str = "Not connected.") -> None:
        self.status_label.setStyleSheet("")
        self.status_label.setText(message)
        self.pool_label.setText("Pool: not connected")
        self.connect_button.setEnabled(True)
        self.connect_button.setText("Connect")
        self.disconnect_button.setEnabled(False)

    def show_error(self, message: str, *, connected: bool) -> None:
        """A message a person can act on, in red; the buttons stay usable to retry. A URL that
        was refused is shown masked too (the real password stays behind the mask)."""
        if self._typed_url is not None and self.url_edit.text().strip() == self._typed_url:
            masked = mask_url(self._typed_url)
            if masked != UNREADABLE and MASK in masked:
                self._masked_url = masked
                self.url_edit.setText(masked)
        self.status_label.setStyleSheet(ERROR_STYLE)
        self.status_label.setText(message)
        self.connect_button.setEnabled(True)
        self.disconnect_button.setEnabled(connected)
        if not connected:
            self.connect_button.setText("Connect")
            self.pool_label.setText("Pool: not connected")

    def show_pool(self, size: int, checked_out: int, waiting: int) -> None:
        self.pool_label.setText(f"Pool: {checked_out}/{size} in use · {waiting} waiting")
