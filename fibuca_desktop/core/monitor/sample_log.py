"""The ``monitor --csv`` file: one row per sample, appended and flushed as samples arrive.

A run killed by SIGTERM, a closed terminal or even SIGKILL keeps every row printed before it
(each row is flushed before its line is shown). The folder must exist: a typo in a path is an
error, not a new directory.
"""

from __future__ import annotations

import csv
import os
from datetime import datetime
from pathlib import Path

from fibuca_desktop.core.errors import OutputError

from .poller import PollOutcome

LEADING = ("time", "epoch", "target", "state")


class SampleLog:
    """An open CSV file: local ISO time, epoch, target, state, then one column per metric."""

    def __init__(self, path: str | Path, metric_names: tuple[str, ...]) -> None:
        """Create (or replace) ``path`` and write the header; raises ``OutputError``."""
        self.path = Path(path)
        folder = self.path.parent
        if not folder.is_dir():
            if folder.exists():
                raise OutputError(f"{folder} is not a folder; pick another place for the CSV")
            raise OutputError(f"the folder {folder} does not exist; create it or pick another")
        self.metric_names = metric_names
        self.rows = 0
        try:
            self._file = self.path.open("w", encoding="utf-8", newline="")
        except OSError as error:
            raise OutputError(f"could not write {self.path}: {error.strerror or error}") from None
        self._writer = csv.writer(self._file)
        self._write([*LEADING, *metric_names])

    def append(self, outcome: PollOutcome) -> None:
        """One row, flushed to the OS at once; raises ``OutputError`` (disk full...)."""
        epoch = outcome.sample.time
        iso = datetime.fromtimestamp(epoch).astimezone().isoformat(timespec="seconds")
        cells = []
        for name in self.metric_names:
            value = outcome.sample.value(name) if name in outcome.metric_names else None
            cells.append("" if value is None else f"{value:.7g}")
        self._write([iso, f"{epoch:.3f}", outcome.target, str(outcome.state), *cells])
        self.rows += 1

    def _write(self, row: list[str]) -> None:
        try:
            self._writer.writerow(row)
            self._file.flush()
        except OSError as error:
            raise OutputError(f"could not write {self.path}: {error.strerror or error}") from None

    def close(self) -> None:
        try:
            self._file.flush()
            os.fsync(self._file.fileno())
        except (OSError, ValueError):
            pass  # already reported by the failing append, or closed
        finally:
            self._file.close()
