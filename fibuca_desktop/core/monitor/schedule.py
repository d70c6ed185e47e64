"""When each target is polled: the one scheduling the Monitor tab and ``monitor`` share.

``heartbeat`` never blocks: it collects finished polls (and DOWN for those past their deadline)
and starts the polls that are due, one interval apart per target, without bursting after a
stall (a suspended laptop). The tab calls it from a 250 ms timer; the command line from a loop
that wakes when a poll ends (``PollThreads.finished``) or the next one is due.
"""

from __future__ import annotations

import logging
import math
import time
from collections.abc import Callable

from .poll_threads import PollThreads
from .poller import PollOutcome, TargetPoller

log = logging.getLogger(__name__)


class MonitorSchedule:
    """Pollers by name, each ticked once per ``interval_s`` (or its own longer interval) on the
    monotonic clock."""

    def __init__(
        self,
        interval_s: float,
        threads: PollThreads | None = None,
        monotonic: Callable[[], float] = time.monotonic,
    ) -> None:
        if interval_s <= 0:
            raise ValueError("interval must be positive")
        self.interval_s = interval_s
        self.threads = threads or PollThreads()
        self.pollers: dict[str, TargetPoller] = {}
        self._due: dict[str, float] = {}
        self._monotonic = monotonic

    def add(self, name: str, poller: TargetPoller) -> None:
        if name in self.pollers:
            raise ValueError(f"a target named {name!r} is already watched")
        self.pollers[name] = poller
        self._due[name] = 0.0  # poll at the next heartbeat

    def remove(self, name: str) -> TargetPoller:
        self._due.pop(name, None)
        return self.pollers.pop(name)

    def heartbeat(self) -> list[tuple[str, PollOutcome]]:
        """Outcomes ready now, in target order; starts the polls that are due. Never blocks."""
        now = self._monotonic()
        outcomes = []
        for name, poller in list(self.pollers.items()):
            outcome = poller.collect()
            if outcome is not None:
                outcomes.append((name, outcome))
            if now >= self._due.get(name, 0.0):
                outcome = poller.tick()
                if outcome is not None:
                    outcomes.append((name, outcome))
                # Keep the cadence, but after a stall do not burst. A poller may ask less often
                # than the schedule ticks (PM2 targets), never more often.
                every = max(self.interval_s, poller.interval_s)
                self._due[name] = max(self._due.get(name, 0.0) + every, now)
        return outcomes

    def seconds_to_next(self) -> float:
        """How long a loop may wait before the next heartbeat has something to do."""
        now = self._monotonic()
        waits = [due - now for due in self._due.values()]
        waits += [poller.seconds_to_deadline() for poller in self.pollers.values()]
        return max(0.0, min(waits, default=self.interval_s))

    def stale_names(self) -> set[str]:
        """Targets whose latest outcome is older than their next one was due."""
        return {name for name, poller in self.pollers.items() if poller.stale()}

    def shutdown(self, wait_s: float) -> bool:
        """Stop polling; True when every poll thread ended within ``wait_s``."""
        self._due = {name: math.inf for name in self._due}
        return self.threads.shutdown(wait_s)
