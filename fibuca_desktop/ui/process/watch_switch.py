"""The Process tab's "Watch a folder" switch: photos that arrive in a folder join the queue.

The core's ``Arrivals`` (watchdog observer + settle checks) runs on a thread of its own; each
complete photo is handed to the GUI thread by a queued signal and added through the panel's
ordinary add path, so the queue's ``BatchPlan`` names it like any other. The queue never takes
the same photo into the same output folder twice; the CLI's ``watch`` adds a journal on top.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from pathlib import Path

from PySide6.QtCore import Signal, Slot
from PySide6.QtWidgets import QCheckBox, QWidget

from fibuca_desktop.core.imaging.watch_arrivals import Arrivals, WatchSettings

log = logging.getLogger(__name__)


class WatchSwitchWidget(QCheckBox):
    """Checked: ``choose_folder()`` is watched (outputs go to ``output_for(folder)``, left out of
    the watch) and every complete photo goes to ``add_paths``. Unchecked or ``stop()``: the
    watcher thread ends before it returns."""

    arrived = Signal(object)  # a Path, emitted on the watcher's thread, delivered queued
    failed = Signal(str)  # the watcher could not start or stopped on an error

    def __init__(
        self,
        add_paths: Callable[[list[Path]], int],
        choose_folder: Callable[[], Path | None],
        output_for: Callable[[Path], Path],
        settings: WatchSettings | None = None,
        parent: QWidget | None = None,
    ) -> None:
        super().__init__("Watch a folder", parent)
        self.setToolTip("Add photos to the queue as they arrive in a folder (and its subfolders)")
        self._add_paths, self._choose, self._output_for = add_paths, choose_folder, output_for
        self._settings = settings or WatchSettings()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self.folder: Path | None = None
        self.arrived.connect(self._add)
        self.failed.connect(self._failed)
        self.toggled.connect(self._toggled)

    def watch(self, folder: Path) -> None:
        """Start watching ``folder`` (what checking the box does after the folder dialog)."""
        self.stop()
        self.folder = folder
        arrivals = Arrivals(folder, self._output_for(folder), self._settings)
        self._stop = threading.Event()
        self._thread = threading.Thread(
            target=self._run, args=(arrivals, self._stop), name="fibuca-watch-folder", daemon=True
        )
        self._thread.start()
        self.blockSignals(True)
        self.setChecked(True)
        self.blockSignals(False)
        self.setText(f"Watching {folder.name}")

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(10)
            self._thread = None
        self.blockSignals(True)
        self.setChecked(False)
        self.blockSignals(False)
        self.setText("Watch a folder")

    @property
    def watching(self) -> bool:
        return self._thread is not None and self._thread.is_alive()

    def _run(self, arrivals: Arrivals, stop: threading.Event) -> None:
        try:
            arrivals.start()
            arrivals.scan()
            while not stop.is_set():
                arrivals.step(lambda _kind, _value: None)
                for path in list(arrivals.ready):
                    del arrivals.ready[path]
                    self.arrived.emit(path)
        except OSError as error:
            log.warning("watching %s stopped: %s", arrivals.input_dir, error)
            self.failed.emit(f"Cannot watch {arrivals.input_dir}: {error.strerror or error}")
        finally:
            arrivals.stop()

    @Slot(bool)
    def _toggled(self, checked: bool) -> None:
        if not checked:
            self.stop()
            return
        folder = self._choose()
        if folder is None:
            self.stop()
        else:
            self.watch(folder)

    @Slot(object)
    def _add(self, path: Path) -> None:
        if self.watching:  # a photo reported just before the switch was turned off stays out
            self._add_paths([path])

    @Slot(str)
    def _failed(self, message: str) -> None:
        self.stop()
        self.setToolTip(message)
