"""A progress bar on stderr: redrawn in place on a terminal, one line per file otherwise."""

from __future__ import annotations

import sys
import time
from typing import TextIO

_WIDTH = 24
_MB = 1024 * 1024


def format_duration(seconds: float) -> str:
    seconds = max(0, round(seconds))
    return f"{seconds // 60}:{seconds % 60:02d}"


class ProgressBar:
    def __init__(self, total: int, stream: TextIO | None = None, label: str = "") -> None:
        self.total = max(total, 0)
        self.done = 0
        self.counts: dict[str, int] = {}
        self.stream = stream or sys.stderr
        self.label = label
        self.started = time.monotonic()
        self.interactive = self.stream.isatty()

    def update(self, status: str, name: str = "", message: str = "") -> None:
        self.done += 1
        self.counts[status] = self.counts.get(status, 0) + 1
        elapsed = time.monotonic() - self.started
        eta = elapsed / self.done * (self.total - self.done) if self.done else 0.0
        filled = round(_WIDTH * self.done / self.total) if self.total else _WIDTH
        bar = "#" * filled + "-" * (_WIDTH - filled)
        tally = "  ".join(f"{k} {v}" for k, v in sorted(self.counts.items()))
        line = f"{self.label}[{bar}] {self.done}/{self.total}  {tally}  left {format_duration(eta)}"
        if self.interactive:
            self.stream.write("\r" + line + ("\n" if self.done == self.total else ""))
        else:
            detail = f" {status} {name}" + (f": {message}" if message else "")
            self.stream.write(f"{line} |{detail}\n")
        self.stream.flush()

    def bytes(self, done: int, total: int | None) -> None:
        """Download progress: bytes done of total (total may be unknown)."""
        text = f"\r{self.label}{done / _MB:6.1f} MB"
        if total:
            text += f" / {total / _MB:.1f} MB ({100 * done // total}%)"
        if self.interactive or done == total:
            self.stream.write(text + ("\n" if done == total else ""))
            self.stream.flush()
