"""Desktop notifications for state changes: the system tray when there is one, else in the app.

Offscreen, on some Linux desktops and in CI there is no system tray
(``QSystemTrayIcon.isSystemTrayAvailable()`` is false). Then a change is still announced, in the
window: the ``shown`` signal carries it to the panel's event list and the window's notice bar,
and the taskbar entry asks for attention. Every notification is also logged.
"""

from __future__ import annotations

import logging

from PySide6.QtCore import QObject, Signal
from PySide6.QtGui import QIcon
from PySide6.QtWidgets import QApplication, QStyle, QSystemTrayIcon, QWidget

from fibuca_desktop.core.monitor.thresholds import State

log = logging.getLogger(__name__)

TRAY, IN_APP = "tray", "in-app"
SHOW_MS = 10_000
_ICONS = {
    State.OK: QSystemTrayIcon.MessageIcon.Information,
    State.WARNING: QSystemTrayIcon.MessageIcon.Warning,
    State.DEGRADED: QSystemTrayIcon.MessageIcon.Warning,
    State.CRITICAL: QSystemTrayIcon.MessageIcon.Critical,
    State.DOWN: QSystemTrayIcon.MessageIcon.Critical,
}


class StateNotifier(QObject):
    """Announces a change once, by the best channel there is; ``shown(title, text, channel)``."""

    shown = Signal(str, str, str)

    def __init__(self, window: QWidget | None = None, use_tray: bool | None = None) -> None:
        super().__init__(window)
        self.window = window
        self.enabled = True
        if use_tray is None:
            use_tray = QSystemTrayIcon.isSystemTrayAvailable()
        self.tray: QSystemTrayIcon | None = None
        if use_tray:
            icon = QApplication.style().standardIcon(QStyle.StandardPixmap.SP_ComputerIcon)
            app_icon = QApplication.windowIcon()
            self.tray = QSystemTrayIcon(app_icon if not app_icon.isNull() else QIcon(icon), self)
            self.tray.setToolTip("Fibuca Desktop: monitor")
            self.tray.show()
        log.debug("notifications via %s", self.channel)

    @property
    def channel(self) -> str:
        return TRAY if self.tray is not None else IN_APP

    def notify(self, title: str, text: str, state: State) -> None:
        if not self.enabled:
            return
        log.log(logging.WARNING if state != State.OK else logging.INFO, "%s: %s", title, text)
        if self.tray is not None:
            self.tray.showMessage(title, text, _ICONS[state], SHOW_MS)
        elif self.window is not None and not self.window.isActiveWindow():
            QApplication.alert(self.window.window())  # flash the taskbar entry
        self.shown.emit(title, text, self.channel)

    def close(self) -> None:
        if self.tray is not None:
            self.tray.hide()
