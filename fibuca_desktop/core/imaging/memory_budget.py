"""A counting reservation of bytes shared by concurrent image jobs."""

from __future__ import annotations

import contextlib
import threading

from fibuca_desktop.core.errors import Cancelled, JobTooLarge

_MB = 1024 * 1024
_WAIT_SLICE = 0.1  # seconds between cancellation checks while waiting for memory


class MemoryBudget:
    """A counting reservation of bytes. ``reserve`` blocks while the budget is in use."""

    def __init__(self, total_bytes: int) -> None:
        self.total = total_bytes
        self._used = 0
        self._peak = 0
        self._condition = threading.Condition()

    @property
    def used(self) -> int:
        with self._condition:
            return self._used

    @property
    def peak(self) -> int:
        with self._condition:
            return self._peak

    @contextlib.contextmanager
    def reserve(self, amount: int, cancel: threading.Event | None = None, name: str = "this job"):
        if amount > self.total:
            raise JobTooLarge(
                f"{name} needs about {amount / _MB:.0f} MB, more than the whole memory budget of "
                f"{self.total / _MB:.0f} MB; close other programs, or resize the photo first."
            )
        with self._condition:
            while self._used + amount > self.total:
                if cancel is not None and cancel.is_set():
                    raise Cancelled("Cancelled while waiting for memory; nothing was written.")
                self._condition.wait(_WAIT_SLICE)
            self._used += amount
            self._peak = max(self._peak, self._used)
        try:
            yield
        finally:
            with self._condition:
                self._used -= amount
                self._condition.notify_all()
