"""A total deadline over one call to the broker, whatever the peer does.

Socket timeouts bound each read, not a whole exchange: a peer that trickles a byte every few
seconds would keep a read alive for ever. ``within`` runs the call on a daemon thread and gives
up waiting when the deadline passes (the thread ends at its next socket timeout or with the
process).
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import TypeVar

T = TypeVar("T")
DEADLINE_S = 15.0  # one question to the broker: connect, ask, read the answer


def within(seconds: float, call: Callable[[], T], overrun: Callable[[], Exception]) -> T:
    """``call()``'s value or exception, or ``overrun()`` raised after ``seconds``."""
    outcome: dict = {}

    def run() -> None:
        try:
            outcome["value"] = call()
        except BaseException as error:  # handed to the waiting thread
            outcome["error"] = error

    thread = threading.Thread(target=run, name="fibuca-broker-call", daemon=True)
    thread.start()
    thread.join(seconds)
    if thread.is_alive():
        raise overrun()
    if "error" in outcome:
        raise outcome["error"]
    return outcome.get("value")
