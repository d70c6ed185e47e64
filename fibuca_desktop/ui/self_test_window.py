"""The window part of ``fibuca-desktop self-test``: the real app opens its window offscreen, quits.

It goes through ``app.run_gui``, the code a person's start goes through, so every service the
window needs is built as in the app (and stays so when tabs gain services). A throwaway settings
file and window state keep the user's own untouched. Offscreen, so it works on a server and never
flashes a window on a desktop.
"""

from __future__ import annotations

import logging
import os
import sys
import tempfile
from pathlib import Path

QUIT_AFTER_MS = 100


class _Messages(logging.Handler):
    def __init__(self) -> None:
        super().__init__(logging.INFO)
        self.messages: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.messages.append(record.getMessage())


def open_and_close_main_window() -> dict:
    """Run the app until its window has been shown, then quit; raises if anything is wrong."""
    if "PySide6.QtWidgets" not in sys.modules:
        os.environ["QT_QPA_PLATFORM"] = "offscreen"  # before Qt loads a platform plugin
    from PySide6 import __version__ as pyside_version
    from PySide6.QtCore import qVersion
    from PySide6.QtWidgets import QApplication

    from fibuca_desktop.app import run_gui

    app_log = logging.getLogger("fibuca_desktop.app")
    capture, level = _Messages(), app_log.level
    app_log.addHandler(capture)
    app_log.setLevel(logging.INFO)  # the "window shown" line is the proof
    try:
        with tempfile.TemporaryDirectory(prefix="fibuca-self-test-window-") as tmp:
            status = run_gui(Path(tmp) / "settings.json", QUIT_AFTER_MS, crash_dialog=False)
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
