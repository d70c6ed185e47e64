"""The window part of ``fibuca-desktop self-test``: open the real main window offscreen, close it.

Uses default settings and a throwaway window-state file, so the user's settings are never read or
written. Offscreen so the check works on a server and never flashes a window on a desktop.
"""

from __future__ import annotations

import os
import sys
import tempfile
import time
from pathlib import Path

from fibuca_desktop.core.settings import Settings


def open_and_close_main_window() -> dict:
    """Show the main window, let the event loop run, close it; raises if anything is wrong."""
    if "PySide6.QtWidgets" not in sys.modules:
        os.environ["QT_QPA_PLATFORM"] = "offscreen"  # before Qt loads a platform plugin
    from PySide6 import __version__ as pyside_version
    from PySide6.QtCore import QSettings, qVersion
    from PySide6.QtWidgets import QApplication

    from fibuca_desktop.ui.log_pane import QtLogHandler
    from fibuca_desktop.ui.main_window import MainWindow
    from fibuca_desktop.ui.process.process_panel import ProcessService

    started = time.perf_counter()
    app = QApplication.instance() or QApplication(sys.argv[:1])
    with tempfile.TemporaryDirectory(prefix="fibuca-self-test-window-") as tmp:
        settings = Settings()
        window_state = QSettings(str(Path(tmp) / "window-state.ini"), QSettings.Format.IniFormat)
        window = MainWindow(settings, window_state, QtLogHandler(), ProcessService(settings))
        window.show()
        app.processEvents()
        shown_ms = (time.perf_counter() - started) * 1000
        if not window.isVisible():
            raise RuntimeError("the main window did not become visible")
        tabs = [window.tabs.tabText(i) for i in range(window.tabs.count())]
        window.close_without_asking()
        app.processEvents()
        if window.isVisible():
            raise RuntimeError("the main window did not close")
        window.deleteLater()
        app.processEvents()
    return {
        "platform": app.platformName(),
        "tabs": tabs,
        "shown_ms": round(shown_ms, 1),
        "qt": qVersion(),
        "pyside6": pyside_version,
    }
