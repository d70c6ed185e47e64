"""Save the settings when they change, not only at a clean quit.

Any part of the window may change ``Settings`` (a monitor target added, a database URL, a preset):
rather than trusting every one of them to say so, a cheap timer compares what would be written
with what was last written and saves the difference atomically (``SettingsStore.save``: temporary
file, fsync, rename). A crash, a kill or a power cut loses at most the last second of changes.
"""

from __future__ import annotations

import logging

from PySide6.QtCore import QObject, QTimer, Signal

from fibuca_desktop.core.errors import SettingsError
from fibuca_desktop.core.settings import Settings, SettingsStore

log = logging.getLogger(__name__)

CHECK_INTERVAL_MS = 1000


class SettingsAutosave(QObject):
    """Owns the save of one ``Settings`` object to one store; ``failed`` says why a save failed
    (once per distinct reason, so a read-only disk is not announced every second)."""

    failed = Signal(str)
    saved = Signal()

    def __init__(
        self,
        store: SettingsStore,
        settings: Settings,
        enabled: bool = True,
        parent: QObject | None = None,
    ) -> None:
        super().__init__(parent)
        self.store, self.settings = store, settings
        self.enabled = enabled  # False: the file belongs to a newer version and is left alone
        self._written = store.serialize(settings)
        self._last_problem: str | None = None
        self._timer = QTimer(self)
        self._timer.setInterval(CHECK_INTERVAL_MS)
        self._timer.timeout.connect(self.save_if_changed)
        if enabled:
            self._timer.start()

    @property
    def pending(self) -> bool:
        """True when the settings differ from what was last written."""
        return self.store.serialize(self.settings) != self._written

    def save_if_changed(self) -> bool:
        """Write the settings if they changed since the last write; True when a write happened."""
        if not self.enabled:
            return False
        snapshot = self.store.serialize(self.settings)
        if snapshot == self._written:
            return False
        try:
            self.store.save(self.settings)
        except SettingsError as error:
            problem = str(error)
            if problem != self._last_problem:
                self._last_problem = problem
                log.warning("settings not saved: %s", problem)
                self.failed.emit(problem)
            return False
        self._written, self._last_problem = snapshot, None
        self.saved.emit()
        return True

    def stop(self) -> None:
        """Final save, then no more checks (at quit)."""
        self._timer.stop()
        self.save_if_changed()
