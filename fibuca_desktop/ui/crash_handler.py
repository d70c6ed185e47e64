"""One crash path for the whole app: uncaught errors in any thread are logged, then shown.

``sys.excepthook`` covers the GUI thread (PySide6 routes exceptions raised in slots through it);
``threading.excepthook`` covers Python threads. Errors from other threads reach the dialog through
a queued signal, so the dialog is always created on the GUI thread. With ``show_dialog`` off
(``--no-crash-dialog``, used by tests) the traceback goes to stderr instead.
"""

from __future__ import annotations

import logging
import sys
import threading
import traceback

from PySide6.QtCore import QObject, Signal, Slot
from PySide6.QtWidgets import QApplication, QWidget

from fibuca_desktop.ui.crash_dialog import CrashDialog

log = logging.getLogger(__name__)


class CrashHandler(QObject):
    """Install with ``install()``; ``uninstall()`` restores the previous hooks."""

    crashed = Signal(str, str)  # summary, details

    def __init__(self, show_dialog: bool = True, parent_window: QWidget | None = None) -> None:
        super().__init__()
        self.show_dialog = show_dialog
        self.parent_window = parent_window
        self.count = 0
        self._previous = (sys.excepthook, threading.excepthook)
        self.crashed.connect(self._show)  # queued when emitted from another thread

    def install(self) -> None:
        sys.excepthook = self._on_exception
        threading.excepthook = self._on_thread_exception

    def uninstall(self) -> None:
        sys.excepthook, threading.excepthook = self._previous

    def _on_exception(self, kind, error, tb) -> None:
        if issubclass(kind, KeyboardInterrupt):
            QApplication.quit()
            return
        self._report(kind, error, tb, threading.current_thread().name)

    def _on_thread_exception(self, args: threading.ExceptHookArgs) -> None:
        if args.exc_type is SystemExit:
            return
        thread = args.thread.name if args.thread else "a thread"
        self._report(args.exc_type, args.exc_value, args.exc_traceback, thread)

    def _report(self, kind, error, tb, thread: str) -> None:
        self.count += 1
        details = "".join(traceback.format_exception(kind, error, tb))
        summary = f"{kind.__name__}: {error}" if str(error) else kind.__name__
        log.critical("unexpected error in %s: %s", thread, summary, exc_info=(kind, error, tb))
        if self.show_dialog:
            self.crashed.emit(summary, details)
        else:
            sys.stderr.write(f"Fibuca Desktop: unexpected error in {thread}\n{details}")
            sys.stderr.flush()

    @Slot(str, str)
    def _show(self, summary: str, details: str) -> None:
        dialog = CrashDialog(summary, details, self.parent_window)
        if dialog.exec() == CrashDialog.DialogCode.Rejected:
            QApplication.quit()
