"""Ending polls from outside: the sockets of the polls in flight, shut down on quit.

A poll blocked in a socket read ends at its deadline (at most 5 s); quitting should not wait
that long. ``PollThreads`` runs every poll "under" its ``Aborter``; ``http_fetch`` registers
each socket it opens with the aborter of the thread it runs on, and ``abort`` shuts them all
down, which wakes a blocked read at once (it sees the end of the stream).
"""

from __future__ import annotations

import contextlib
import socket
import threading
import weakref
from collections.abc import Iterator

_local = threading.local()


class Aborter:
    """Sockets opened by polls; ``abort`` shuts them down and refuses new ones."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._sockets: weakref.WeakSet[socket.socket] = weakref.WeakSet()
        self.aborted = False

    def register(self, sock: socket.socket) -> None:
        """Track ``sock``; shut it down at once when already aborted."""
        with self._lock:
            self._sockets.add(sock)
            aborted = self.aborted
        if aborted:
            _shut(sock)

    def abort(self) -> None:
        with self._lock:
            self.aborted = True
            sockets = list(self._sockets)
        for sock in sockets:
            _shut(sock)


def _shut(sock: socket.socket) -> None:
    with contextlib.suppress(OSError):  # closed already, or never connected
        sock.shutdown(socket.SHUT_RDWR)


@contextlib.contextmanager
def running_under(aborter: Aborter) -> Iterator[None]:
    """Sockets opened by this thread inside the block register with ``aborter``."""
    previous = getattr(_local, "aborter", None)
    _local.aborter = aborter
    try:
        yield
    finally:
        _local.aborter = previous


def register(sock: socket.socket) -> None:
    """Register ``sock`` with the current thread's aborter, if it has one."""
    aborter = getattr(_local, "aborter", None)
    if aborter is not None:
        aborter.register(sock)
