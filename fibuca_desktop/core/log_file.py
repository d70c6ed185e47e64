"""The window's log file: every record with its full traceback, where a person can send it.

The log pane and dialogs show one line per problem; the details a developer needs go here
(``fibuca-desktop.log`` beside the settings file, rotated at 1 MB, three old files kept).
"""

from __future__ import annotations

import logging
import logging.handlers
from pathlib import Path

LOG_NAME = "fibuca-desktop.log"
MAX_BYTES = 1024 * 1024
BACKUPS = 3


def open_log_file(folder: Path) -> logging.Handler | None:
    """A handler writing to ``folder/fibuca-desktop.log``, or None (logged) when the folder
    cannot take it: a read-only config folder must not stop the app from starting."""
    path = folder / LOG_NAME
    try:
        folder.mkdir(parents=True, exist_ok=True)
        handler = logging.handlers.RotatingFileHandler(
            path, maxBytes=MAX_BYTES, backupCount=BACKUPS, encoding="utf-8"
        )
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
