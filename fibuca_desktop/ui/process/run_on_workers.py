"""The "Run on workers" switch beside Start and its Broker dialog (issue 16).

The switch and the URL are settings (``cluster`` section, the URL without its password); a
password typed into the URL goes to the keyring or is kept for this session
(``broker_password.py``). The URL is only ever shown masked.
"""

from __future__ import annotations

from collections.abc import Callable
from urllib.parse import urlsplit

from PySide6.QtCore import Signal
from PySide6.QtWidgets import (
    QCheckBox,
    QDialog,
    QDialogButtonBox,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QPushButton,
    QVBoxLayout,
    QWidget,
)

from fibuca_desktop.core.cluster_settings import ClusterSettings
from fibuca_desktop.core.errors import UsageError
from fibuca_desktop.ui.process.broker_password import remember_broker, shown_url


class BrokerDialog(QDialog):
    """One field: the broker URL, shown masked; OK keeps it (or says why it cannot)."""

    def __init__(self, cluster: ClusterSettings, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setWindowTitle("Run on workers")
        self.cluster = cluster
        self.note = ""
        self.url_edit = QLineEdit(shown_url(cluster.broker_url))
        self.url_edit.setPlaceholderText("redis://HOST:6379/0")
        self.url_edit.setMinimumWidth(380)
        self.password_edit = QLineEdit()  # or typed into the URL; either way never shown
        self.password_edit.setEchoMode(QLineEdit.EchoMode.Password)
        self.password_edit.setPlaceholderText("unchanged" if cluster.broker_url else "none")
        help_text = QLabel(
            "The Redis broker the workers serve (fibuca-desktop worker --broker URL). A password "
            "typed here goes to the OS keyring, or is kept for this session; it is never written "
            "to the settings file. $FIBUCA_BROKER_PASSWORD works too."
        )
        help_text.setWordWrap(True)
        self.error = QLabel()
        self.error.setStyleSheet("color: #b00020;")
        self.error.setWordWrap(True)
        self.error.hide()
        buttons = QDialogButtonBox(
            QDialogButtonBox.StandardButton.Ok | QDialogButtonBox.StandardButton.Cancel
        )
        buttons.accepted.connect(self.accept)
        buttons.rejected.connect(self.reject)
        layout = QVBoxLayout(self)
        layout.addWidget(QLabel("Broker URL:"))
        layout.addWidget(self.url_edit)
        layout.addWidget(QLabel("Password (if the broker has one):"))
        layout.addWidget(self.password_edit)
        layout.addWidget(help_text)
        layout.addWidget(self.error)
        layout.addWidget(buttons)

    def accept(self) -> None:
        try:
            self.note = remember_broker(
                self.cluster, self.url_edit.text(), self.password_edit.text()
            )
        except UsageError as error:
            self.error.setText(str(error))
            self.error.show()
            return
        super().accept()


class RunOnWorkersWidget(QWidget):
    """``Run on workers`` and ``Broker…``; turning it on without a URL asks for one."""

    changed = Signal()  # on or off, or another broker

    def __init__(
        self,
        cluster: ClusterSettings,
        notice: Callable[[str], None],
        parent: QWidget | None = None,
    ) -> None:
        super().__init__(parent)
        self.cluster, self._notice = cluster, notice
        self.box = QCheckBox("Run on workers")
        self.box.setChecked(cluster.run_on_workers)
        self.box.toggled.connect(self._toggled)
        self.broker_button = QPushButton("Broker…")
        self.broker_button.clicked.connect(self.choose_broker)
        layout = QHBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addWidget(self.box)
        layout.addWidget(self.broker_button)
        self._update_tips()

    def choose_broker(self) -> bool:
        """Open the Broker dialog; True when a URL was kept."""
        dialog = BrokerDialog(self.cluster, self)
        kept = dialog.exec() == QDialog.DialogCode.Accepted
        if kept and dialog.note:
            self._notice(dialog.note)
        if not self.cluster.broker_url and self.box.isChecked():
            self.box.setChecked(False)  # the URL was cleared
        self._update_tips()
        self.changed.emit()
        return kept

    def _toggled(self, on: bool) -> None:
        if on and not self.cluster.broker_url and not self.choose_broker():
            self.box.setChecked(False)  # toggles back: run_on_workers stays False
            return
        if on and not self.cluster.broker_url:
            self.box.setChecked(False)
            return
        self.cluster.run_on_workers = on
        self._update_tips()
        self.changed.emit()

    def where(self) -> str:
        """`` · on workers at host:6379`` while Start sends batches there, else ""."""
        if not (self.cluster.run_on_workers and self.cluster.broker_url):
            return ""
        return f" · on workers at {urlsplit(self.cluster.broker_url).netloc.rpartition('@')[2]}"

    def _update_tips(self) -> None:
        url = shown_url(self.cluster.broker_url)
        where = f"the workers of {url}" if url else "workers (no broker set: Broker…)"
        self.box.setToolTip(f"Start sends the photos to {where} instead of this computer")
        self.broker_button.setToolTip(f"Broker: {url}" if url else "Set the broker URL")
