"""Assemble the desktop app: QApplication, crash handling, settings, services, the main window."""

from __future__ import annotations

import faulthandler
import logging
import os
import sys
import tempfile
from pathlib import Path

import psutil
from PySide6.QtCore import QSettings, QTimer
from PySide6.QtWidgets import QApplication

from fibuca_desktop.core.imaging.optional_features import model_problem
from fibuca_desktop.core.log_file import open_log_file
from fibuca_desktop.core.monitor.history_store import HistoryStore
from fibuca_desktop.core.process_clock import seconds_since_start
from fibuca_desktop.core.settings import SettingsStore
from fibuca_desktop.ui.crash_handler import CrashHandler
from fibuca_desktop.ui.log_pane import OneLineFormatter, QtLogHandler
from fibuca_desktop.ui.main_window import MainWindow
from fibuca_desktop.ui.monitor.monitor_hub import MonitorHub
from fibuca_desktop.ui.process.process_panel import ProcessService
from fibuca_desktop.ui.settings_autosave import SettingsAutosave

log = logging.getLogger(__name__)
_MB = 1024 * 1024


def run_gui(
    settings_file: Path | None = None,
    quit_after_ms: int | None = None,
    crash_dialog: bool = True,
    quit_deadline_s: float | None = None,
    history_file: Path | None = None,
) -> int:
    """Open the main window and run the event loop; returns the exit status.

    ``quit_deadline_s`` (the real start, ``fibuca-desktop``): once the window starts closing,
    the process ends within that many seconds whatever a thread or a peer does; a stuck thread's
    traceback goes to the log file. Tests that call this in their own process leave it None.
    ``history_file``: the monitor's history (default: the data folder's, or
    $FIBUCA_HISTORY_FILE).
    """
    app = QApplication.instance() or QApplication(sys.argv[:1])
    app.setApplicationName("Fibuca Desktop")
    app.setOrganizationName("Fibuca")
    store = SettingsStore(settings_file)
    log_file = open_log_file(store.path.parent)
    log_handler = QtLogHandler()
    if log_file is not None:
        log_handler.setFormatter(OneLineFormatter(f"details in {log_file.baseFilename}"))
    handlers = [h for h in (log_handler, log_file) if h is not None]
    for handler in handlers:
        logging.getLogger().addHandler(handler)
    crash_handler = CrashHandler(show_dialog=crash_dialog)
    crash_handler.install()
    try:
        loaded = store.load()
        # QSettings only for window geometry and splitter state, kept beside the settings file.
        window_state = QSettings(
            str(store.path.with_name("window-state.ini")), QSettings.Format.IniFormat
        )
        process_service = ProcessService(loaded.settings)  # pools are created once, here
        monitor = loaded.settings.monitor
        monitor_hub = MonitorHub(monitor.interval_s, leak_min_span_s=monitor.leak_min_span_s)
        window = MainWindow(
            loaded.settings, window_state, log_handler, process_service, monitor_hub
        )
        crash_handler.parent_window = window
        window.log_path = Path(log_file.baseFilename) if log_file is not None else None
        autosave = SettingsAutosave(store, window.settings, enabled=not loaded.read_only)
        autosave.failed.connect(window.show_notice)
        # The monitor's history on disk opens on a thread; a file set aside says so.
        monitor_hub.history_opened.connect(
            lambda history: history.problem and window.show_notice(history.problem)
        )
        monitor_hub.open_history(lambda: HistoryStore.open(history_file))
        if quit_deadline_s is not None:
            window.closing.connect(lambda: _end_within(quit_deadline_s, log_file))
        window.show()
        log.info("window shown %.0f ms after the process started", seconds_since_start() * 1000)
        # Problems a person should see at once: a broken settings file, a model this
        # installation cannot run (the packaged app has no rembg).
        model = model_problem(loaded.settings.processing.model)
        if model:
            log.warning("%s", model)  # the settings store has logged its own problem already
        problems = [loaded.problem, model]
        if any(problems):
            window.show_notice("\n\n".join(filter(None, problems)))
        if quit_after_ms is not None:
            QTimer.singleShot(quit_after_ms, window.close_without_asking)
        status = app.exec()
        autosave.stop()  # the last changes, if the timer has not written them yet
        log.info("quitting; memory %.0f MB", psutil.Process().memory_info().rss / _MB)
        return status
    finally:
        crash_handler.uninstall()
        for handler in handlers:
            logging.getLogger().removeHandler(handler)
        if log_file is not None:
            log_file.close()


def _end_within(seconds: float, log_file: logging.FileHandler | None) -> None:
    """Arm a watchdog that ends the process ``seconds`` from now if it is still alive, even
    inside interpreter shutdown (faulthandler's timer is a native thread that needs no GIL).
    It writes every thread's traceback first: to the log file when there is one."""
    global _watchdog_stream
    log.info("quitting: the process ends within %.0f s", seconds)
    try:  # a descriptor of its own: the log file's is closed when run_gui returns
        source = log_file.stream if log_file is not None and log_file.stream else sys.stderr
        _watchdog_stream = os.fdopen(os.dup(source.fileno()), "w")
        faulthandler.dump_traceback_later(seconds, exit=True, file=_watchdog_stream)
    except (ValueError, OSError, AttributeError):  # no usable file descriptor (pythonw)
        faulthandler.dump_traceback_later(seconds, exit=True)


_watchdog_stream = None  # kept open for the watchdog until the process ends


# -- the window part of ``fibuca-desktop self-test`` -------------------------------------------
# It goes through run_gui, the code a person's start goes through, so every service the window
# needs is built as in the app. A throwaway settings file and window state keep the user's own
# untouched. Offscreen, so it works on a server and never flashes a window on a desktop.

SELF_TEST_QUIT_AFTER_MS = 100


class _Messages(logging.Handler):
    def __init__(self) -> None:
        super().__init__(logging.INFO)
        self.messages: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.messages.append(record.getMessage())


def open_and_close_main_window() -> dict:
    """Run the app until its window has been shown, then quit; raises if anything is wrong."""
    if QApplication.instance() is None:
        os.environ["QT_QPA_PLATFORM"] = "offscreen"  # before Qt loads a platform plugin
    from PySide6 import __version__ as pyside_version
    from PySide6.QtCore import qVersion

    app_log = logging.getLogger("fibuca_desktop.app")
    capture, level = _Messages(), app_log.level
    app_log.addHandler(capture)
    app_log.setLevel(logging.INFO)  # the "window shown" line is the proof
    try:
        with tempfile.TemporaryDirectory(prefix="fibuca-self-test-window-") as tmp:
            status = run_gui(
                Path(tmp) / "settings.json",
                SELF_TEST_QUIT_AFTER_MS,
                crash_dialog=False,
                history_file=Path(tmp) / "history.sqlite3",
            )
    finally:
        app_log.removeHandler(capture)
        app_log.setLevel(level)
    shown = [message for message in capture.messages if message.startswith("window shown")]
    if status != 0:
        raise RuntimeError(f"the app exited with status {status}")
    if not shown:
        raise RuntimeError("the main window was never shown")
    return {
        "platform": QApplication.instance().platformName(),
        "exit_status": status,
        "log": shown[0],
        "qt": qVersion(),
        "pyside6": pyside_version,
    }
