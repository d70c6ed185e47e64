"""Futures from worker threads delivered to the GUI thread as Qt signals, newest request only.

The session's worker pool (and the panel's build thread) return ``concurrent.futures.Future``s.
``TaskBridge.watch`` adds a done-callback that only emits a signal: the bridge lives on the GUI
thread, so Qt queues the emission there and the handler runs on the GUI thread. Nothing ever
waits on a future on the GUI thread. Each request has a kind ("overview", "explain", ...); a newer
request of the same kind supersedes the older one, whose result is dropped when it arrives.
"""

from __future__ import annotations

import itertools
import logging
from collections.abc import Callable
from concurrent.futures import CancelledError, Future

from PySide6.QtCore import QObject, Signal

log = logging.getLogger(__name__)

Handler = Callable[[object], None]


class TaskBridge(QObject):
    """Owned by the panel; emits from worker threads, handles on the GUI thread."""

    _finished = Signal(int, object, object)  # ticket, result, error (one of them is None)
    delivered = Signal(str)  # kind, after its handler ran (tests and the busy indicator)

    def __init__(self, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self._tickets = itertools.count(1)
        self._latest: dict[str, int] = {}
        self._handlers: dict[int, tuple[str, Handler, Handler]] = {}
        self._finished.connect(self._deliver)

    def watch(self, kind: str, future: Future, on_result: Handler, on_error: Handler) -> int:
        """Call ``on_result(value)`` or ``on_error(exception)`` on the GUI thread when ``future``
        finishes, unless another request of ``kind`` was watched since. Returns the ticket."""
        ticket = next(self._tickets)
        self._latest[kind] = ticket
        self._handlers[ticket] = (kind, on_result, on_error)
        future.add_done_callback(lambda done: self._report(ticket, done))
        return ticket

    def pending(self, kind: str | None = None) -> bool:
        """Whether a current (not superseded) request of ``kind`` (any kind) is still running."""
        return any(
            self._latest.get(k) == ticket and (kind is None or k == kind)
            for ticket, (k, _r, _e) in self._handlers.items()
        )

    def forget(self) -> None:
        """Drop every outstanding request (disconnect): their results will be ignored."""
        self._latest.clear()

    def _report(self, ticket: int, future: Future) -> None:  # worker thread
        try:
            error = future.exception()
        except CancelledError as cancelled:
            error = cancelled
        result = None if error is not None else future.result()
        try:
            self._finished.emit(ticket, result, error)
        except RuntimeError:  # the bridge was deleted (the app is closing)
            log.debug("result of request %d arrived after the panel closed", ticket)

    def _deliver(self, ticket: int, result: object, error: object) -> None:  # GUI thread
        kind, on_result, on_error = self._handlers.pop(ticket)
        if self._latest.get(kind) != ticket:
            log.debug("dropping a superseded %s result", kind)
            return
        del self._latest[kind]
        if error is not None:
            on_error(error)
        else:
            on_result(result)
        self.delivered.emit(kind)
