"""The ``monitor --csv`` file: one row per sample, appended and flushed as samples arrive.

A run killed by SIGTERM, a closed terminal or even SIGKILL keeps every row printed before it
(each row is flushed before its line is shown), and a later run never truncates it: it appends
to a file with the same columns and refuses one with others. The folder must exist: a typo in a
path is an error, not a new directory.
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
        """Open ``path`` to append, writing the header when it is new or empty; raises
        ``OutputError``.

        An earlier recording is never truncated: a file with the same columns is continued (a
        run started again after a kill adds to it), one with other columns is refused.
        """
        self.path = Path(path)
        folder = self.path.parent
        if not folder.is_dir():
            if folder.exists():
                raise OutputError(f"{folder} is not a folder; pick another place for the CSV")
            raise OutputError(f"the folder {folder} does not exist; create it or pick another")
        self.metric_names = metric_names
        self.rows = 0
        header = [*LEADING, *metric_names]
        try:
            existing, ends_with_newline = _first_row(self.path)
            if existing is not None and existing != header:
                raise OutputError(
                    f"{self.path} already holds other columns ({', '.join(existing[:8])}); "
                    "pick another file: an earlier recording is never overwritten"
                )
            self._file = self.path.open("a", encoding="utf-8", newline="")
        except OSError as error:
            raise OutputError(f"could not write {self.path}: {error.strerror or error}") from None
        self._writer = csv.writer(self._file)
        if existing is None:
            self._write(header)
        elif not ends_with_newline:  # the last row of a run killed mid-write stays apart
            self._file.write("\r\n")

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


def _first_row(path: Path) -> tuple[list[str] | None, bool]:
    """The header of an existing, non-empty CSV (None when absent or empty), and whether the
    file ends with a newline."""
    try:
        with path.open("rb") as handle:
            head = handle.read(64 * 1024)
            if not head:
                return None, True
            handle.seek(-1, os.SEEK_END)
            ends_with_newline = handle.read(1) in (b"\n", b"\r")
    except FileNotFoundError:
        return None, True
    line = head.splitlines()[0].decode("utf-8", errors="replace")
    return next(csv.reader([line]), []), ends_with_newline
