"""The editor's one worker thread: every mask operation runs there, in the order asked, so the
GUI thread never waits for a 12 MP operation and operations never race each other."""

from __future__ import annotations

import itertools
import logging
from collections.abc import Callable

from PySide6.QtCore import QObject, QRunnable, QThreadPool, Signal, Slot

from fibuca_desktop.core.errors import FibucaError

log = logging.getLogger(__name__)


class _Signals(QObject):
    done = Signal(int, object)  # ticket, result
    failed = Signal(int, str)  # ticket, a message a person can act on


class _Call(QRunnable):
    def __init__(self, ticket: int, call: Callable[[], object], signals: _Signals) -> None:
        super().__init__()
        self.ticket, self.call, self.signals = ticket, call, signals

    def run(self) -> None:
        try:
            result = self.call()
        except FibucaError as error:
            self.signals.failed.emit(self.ticket, str(error))
        except MemoryError:
            self.signals.failed.emit(self.ticket, "Not enough memory for this photo's editor.")
        except Exception as error:  # a bug: logged in full, one line for the person
            log.exception("editor operation failed")
            self.signals.failed.emit(self.ticket, f"Unexpected error: {error!r} (see the log).")
        else:
            self.signals.done.emit(self.ticket, result)


class EditorWorker(QObject):
    """Runs calls one at a time on a named pool of one thread; the answer (or a message) comes
    back to a callback on the GUI thread."""

    def __init__(self, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self.pool = QThreadPool(self)
        self.pool.setObjectName("fibuca-editor-pool")
        self.pool.setMaxThreadCount(1)
        self._signals = _Signals(self)
        self._signals.done.connect(self._on_done)
        self._signals.failed.connect(self._on_failed)
        self._tickets = itertools.count()
        self._waiting: dict[int, tuple[Callable, Callable]] = {}

    @property
    def busy(self) -> bool:
        return bool(self._waiting)

    def submit(
        self,
        call: Callable[[], object],
        on_done: Callable[[object], None],
        on_failed: Callable[[str], None],
    ) -> None:
        ticket = next(self._tickets)
        self._waiting[ticket] = (on_done, on_failed)
        self.pool.start(_Call(ticket, call, self._signals))

    def wait(self) -> None:
        """Let every call sent so far finish (their callbacks run from the event loop)."""
        self.pool.waitForDone()

    def shutdown(self) -> None:
        self.pool.clear()
        self.pool.waitForDone()
        self._waiting.clear()

    @Slot(int, object)
    def _on_done(self, ticket: int, result: object) -> None:
        callbacks = self._waiting.pop(ticket, None)
        if callbacks is not None:
            callbacks[0](result)

    @Slot(int, str)
    def _on_failed(self, ticket: int, message: str) -> None:
        callbacks = self._waiting.pop(ticket, None)
        if callbacks is not None:
            callbacks[1](message)
