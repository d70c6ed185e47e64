"""Assemble the desktop app: QApplication, crash handling, settings, services, the main window."""

from __future__ import annotations

import logging
import sys
from pathlib import Path

import psutil
from PySide6.QtCore import QSettings, QTimer
from PySide6.QtWidgets import QApplication

from fibuca_desktop.core.errors import SettingsError
from fibuca_desktop.core.imaging.optional_features import model_problem
from fibuca_desktop.core.process_clock import seconds_since_start
from fibuca_desktop.core.settings import SettingsStore
from fibuca_desktop.ui.crash_handler import CrashHandler
from fibuca_desktop.ui.log_pane import QtLogHandler
from fibuca_desktop.ui.main_window import MainWindow
from fibuca_desktop.ui.monitor.monitor_hub import MonitorHub
from fibuca_desktop.ui.process.process_panel import ProcessService

log = logging.getLogger(__name__)
_MB = 1024 * 1024


def run_gui(
    settings_file: Path | None = None,
    quit_after_ms: int | None = None,
    crash_dialog: bool = True,
) -> int:
    """Open the main window and run the event loop; returns the exit status."""
    app = QApplication.instance() or QApplication(sys.argv[:1])
    app.setApplicationName("Fibuca Desktop")
    app.setOrganizationName("Fibuca")
    log_handler = QtLogHandler()
    logging.getLogger().addHandler(log_handler)
    crash_handler = CrashHandler(show_dialog=crash_dialog)
    crash_handler.install()
    try:
        store = SettingsStore(settings_file)
        loaded = store.load()
        # QSettings only for window geometry and splitter state, kept beside the settings file.
        window_state = QSettings(
            str(store.path.with_name("window-state.ini")), QSettings.Format.IniFormat
        )
        process_service = ProcessService(loaded.settings)  # pools are created once, here
        monitor_hub = MonitorHub(loaded.settings.monitor.interval_s)
        window = MainWindow(
            loaded.settings, window_state, log_handler, process_service, monitor_hub
        )
        crash_handler.parent_window = window
        window.show()
        log.info("window shown %.0f ms after the process started", seconds_since_start() * 1000)
        # Problems a person should see at once: a broken settings file, a model this
        # installation cannot run (the packaged app has no rembg).
        problems = [loaded.problem, model_problem(loaded.settings.processing.model)]
        for problem in filter(None, problems):
            log.warning("%s", problem)
        if any(problems):
            window.show_notice("\n\n".join(filter(None, problems)))
        if quit_after_ms is not None:
            QTimer.singleShot(quit_after_ms, window.close_without_asking)
        status = app.exec()
        if not loaded.read_only:
            try:
                store.save(window.settings)  # choices made in the window are remembered
            except SettingsError as error:
                log.warning("settings not saved: %s", error)
        log.info("quitting; memory %.0f MB", psutil.Process().memory_info().rss / _MB)
        return status
    finally:
        crash_handler.uninstall()
        logging.getLogger().removeHandler(log_handler)
