"""The window's log file: every record with its full traceback, where a person can send it.

The log pane and dialogs show one line per problem; the details a developer needs go here
(``fibuca-desktop.log`` beside the settings file, rotated at 1 MB, three old files kept).
"""

from __future__ import annotations

import contextlib
import logging
import logging.handlers
import sys
from pathlib import Path

LOG_NAME = "fibuca-desktop.log"
MAX_BYTES = 1024 * 1024
BACKUPS = 3


class LogFileHandler(logging.handlers.RotatingFileHandler):
    """A rotating log file that, when it cannot be written (a full disk, a removed folder),
    says so once, in one line on stderr, instead of a "--- Logging error ---" traceback for
    every record; it keeps trying, so the file resumes when there is room again."""

    reported = False

    def handleError(self, record: logging.LogRecord) -> None:
        if self.reported:
            return
        self.reported = True
        error = sys.exc_info()[1]
        reason = getattr(error, "strerror", None) or type(error).__name__
        with contextlib.suppress(OSError, ValueError, AttributeError):  # no usable stderr
            sys.stderr.write(
                f"Fibuca Desktop: the log file {self.baseFilename} cannot be written ({reason}); "
                "messages still reach the window's log pane. Free some space or check the "
                "folder, and it is written again.\n"
            )


def open_log_file(folder: Path) -> logging.Handler | None:
    """A handler writing to ``folder/fibuca-desktop.log``, or None (logged) when the folder
    cannot take it: a read-only config folder must not stop the app from starting."""
    path = folder / LOG_NAME
    try:
        folder.mkdir(parents=True, exist_ok=True)
        handler = LogFileHandler(path, maxBytes=MAX_BYTES, backupCount=BACKUPS, encoding="utf-8")
    except OSError as error:
        logging.getLogger(__name__).warning(
            "no log file: %s cannot be written (%s)", path, error.strerror or error
        )
        return None
    handler.setLevel(logging.INFO)
    handler.setFormatter(
        logging.Formatter("%(asctime)s %(levelname)s %(threadName)s %(name)s: %(message)s")
    )
    return handler
