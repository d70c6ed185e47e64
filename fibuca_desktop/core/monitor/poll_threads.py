"""Where polls run: one short-lived daemon thread per poll, at most one poll per target.

A fixed pool lets N stuck targets hold all N threads, so the healthy ones (and "This computer")
stop updating; and a pool's worker threads are joined at interpreter exit, so a poll stuck in a
socket keeps the process alive. Here each poll gets its own daemon thread: a target never has
two polls in flight (``TargetPoller`` skips its tick while one runs), so the number of threads
is bounded by the number of targets, one bad target can never starve another, and quitting
never waits on a peer. ``shutdown`` shuts the polls' sockets down (``abort``), so a read
blocked on a slow peer ends at once, and joins what is running, within a bound.
"""

from __future__ import annotations

import itertools
import logging
import threading
import time
from collections.abc import Callable
from concurrent.futures import Future
from typing import Any

from .abort import Aborter, running_under

log = logging.getLogger(__name__)

SHUTDOWN_WAIT_S = 3.0


class PollThreads:
    """Runs ``submit``\\ ted polls on daemon threads named ``monitor-poll-N``.

    ``finished`` is set whenever a poll ends, so a headless loop can wake at once rather than
    sleeping to its next tick.
    """

    def __init__(self, name: str = "monitor-poll") -> None:
        self.name = name
        self.finished = threading.Event()
        self._numbers = itertools.count(1)
        self._lock = threading.Lock()
        self._threads: set[threading.Thread] = set()
        self._closed = False
        self._aborter = Aborter()

    def submit(self, fn: Callable[..., Any], *args: Any) -> Future:
        """Start ``fn(*args)`` on a new daemon thread; its future. Refused after ``shutdown``."""
        future: Future = Future()
        with self._lock:
            if self._closed:
                raise RuntimeError("the monitor's poll threads are shut down")
            thread = threading.Thread(
                target=self._run,
                args=(future, fn, args),
                name=f"{self.name}-{next(self._numbers)}",
                daemon=True,
            )
            self._threads.add(thread)
        thread.start()
        return future

    def _run(self, future: Future, fn: Callable[..., Any], args: tuple) -> None:
        try:
            if future.set_running_or_notify_cancel():
                try:
                    with running_under(self._aborter):
                        result = fn(*args)
                    future.set_result(result)
                except BaseException as error:  # handed to whoever collects the future
                    future.set_exception(error)
        finally:
            with self._lock:
                self._threads.discard(threading.current_thread())
            self.finished.set()

    @property
    def running(self) -> int:
        """Polls whose thread has not ended yet."""
        with self._lock:
            return len(self._threads)

    def shutdown(self, wait_s: float = SHUTDOWN_WAIT_S) -> bool:
        """Refuse new polls and wait up to ``wait_s`` for the running ones; True if all ended.

        The polls' sockets are shut down first, so a blocked read ends at once; a thread still
        stuck after ``wait_s`` (a name lookup that hangs, a local source) is a daemon and cannot
        keep the process alive.
        """
        deadline = time.monotonic() + max(0.0, wait_s)
        with self._lock:
            self._closed = True
            threads = list(self._threads)
        self._aborter.abort()
        for thread in threads:
            thread.join(max(0.0, deadline - time.monotonic()))
        left = self.running
        if left:
            log.warning("%d monitor poll(s) still running at exit; not waiting for them", left)
        return left == 0
