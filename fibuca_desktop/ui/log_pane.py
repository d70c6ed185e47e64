"""Recent log lines inside the window, bounded in memory."""

from __future__ import annotations

import contextlib
import logging

from PySide6.QtCore import QObject, Signal
from PySide6.QtGui import QFontDatabase
from PySide6.QtWidgets import QPlainTextEdit, QWidget

MAX_LINES = 2000
MAX_LINE_CHARS = 500  # one record: a whole statement or a huge number belongs in the log file


class _RecordSignal(QObject):
    formatted = Signal(str)


class OneLineFormatter(logging.Formatter):
    """One line per record: a traceback or a multi-line message never reaches the pane; it says
    where the details are instead (the log file has them in full)."""

    def __init__(self, details_hint: str = "details in the log file") -> None:
        super().__init__("%(asctime)s %(levelname)s %(name)s: %(message)s", "%H:%M:%S")
        self.details_hint = details_hint

    def format(self, record: logging.LogRecord) -> str:
        lines = record.getMessage().strip().splitlines() or [""]
        text = lines[0]
        cut = len(text) > MAX_LINE_CHARS
        if cut:
            text = text[: MAX_LINE_CHARS - 1] + "…"
        if record.exc_info or record.stack_info or len(lines) > 1 or cut:
            text += f" ({self.details_hint})"
        stamp = self.formatTime(record, self.datefmt)
        return f"{stamp} {record.levelname} {record.name}: {text}"


class QtLogHandler(logging.Handler):
    """A logging handler that hands each formatted record to the GUI thread through a signal.

    Records may come from any thread; the queued signal connection delivers them on the thread
    that owns the receiving widget, so no widget is touched from a worker. The signal lives on a
    small QObject it owns rather than on a class deriving from both QObject and logging.Handler,
    which logging.shutdown would otherwise call into after Qt is gone.
    """

    def __init__(self, level: int = logging.INFO) -> None:
        super().__init__(level)
        self._signal = _RecordSignal()
        self.record_formatted = self._signal.formatted
        self.setFormatter(OneLineFormatter())

    def emit(self, record: logging.LogRecord) -> None:
        with contextlib.suppress(RuntimeError):  # the Qt side is gone (application shutting down)
            self.record_formatted.emit(self.format(record))


class LogPaneWidget(QPlainTextEdit):
    """Read-only view of the newest ``MAX_LINES`` log lines; older ones are dropped."""

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("logPane")
        self.setReadOnly(True)
        self.setMaximumBlockCount(MAX_LINES)
        self.setFont(QFontDatabase.systemFont(QFontDatabase.SystemFont.FixedFont))
        self.setPlaceholderText("Log messages appear here.")

    def append_line(self, line: str) -> None:
        self.appendPlainText(line)
