"""The app's one monitoring service: every target's poller, ticked off the UI thread.

Polls run on one bounded pool created here and shut down on exit. A 250 ms heartbeat on the GUI
thread only checks futures (``TargetPoller.collect``, never blocking) and starts the next poll
when a target's interval has passed, so a hanging server costs the UI nothing and a finished
poll shows within a quarter of a second.
"""

from __future__ import annotations

import logging
import time

from PySide6.QtCore import QObject, QTimer, Signal

from fibuca_desktop.core.monitor.poller import (
    POOL_THREADS,
    PollOutcome,
    TargetPoller,
    make_poll_pool,
)
from fibuca_desktop.core.monitor.targets import MonitorTarget, make_poller

log = logging.getLogger(__name__)

HEARTBEAT_MS = 250


class MonitorHub(QObject):
    """Owns the polling pool and one ``TargetPoller`` per target name.

    ``outcome`` fires for every completed poll, ``state_changed`` when a target's debounced
    state changes (including its first state), both on the GUI thread.
    """

    outcome = Signal(str, object)  # target name, PollOutcome
    state_changed = Signal(str, object)  # target name, PollOutcome with .change set
    targets_changed = Signal()

    def __init__(
        self,
        interval_s: float = 1.0,
        threads: int = POOL_THREADS,
        parent: QObject | None = None,
    ) -> None:
        super().__init__(parent)
        self.interval_s = interval_s
        self.pollers: dict[str, TargetPoller] = {}
        self.targets: dict[str, MonitorTarget] = {}
        self._pool = make_poll_pool(threads)
        self._due: dict[str, float] = {}
        self._timer = QTimer(self)
        self._timer.setInterval(HEARTBEAT_MS)
        self._timer.timeout.connect(self.heartbeat)
        self._closed = False

    def start(self) -> None:
        if not self._closed:
            self._timer.start()
            self.heartbeat()

    def add(self, target: MonitorTarget, token: str | None = None) -> TargetPoller:
        """Start watching ``target``; ``token`` is a session-only token (not from settings)."""
        if target.name in self.pollers:
            raise ValueError(f"a target named {target.name!r} is already watched")
        poller = make_poller(target, self._pool, self.interval_s, token)
        self.restore(target, poller)
        return poller

    def restore(self, target: MonitorTarget, poller: TargetPoller) -> None:
        """Watch again a target removed earlier, with its history (undo)."""
        self.pollers[target.name] = poller
        self.targets[target.name] = target
        self._due[target.name] = 0.0  # poll at the next heartbeat
        log.info("watching %s (%s)", target.name, target.address)
        self.targets_changed.emit()

    def remove(self, name: str) -> tuple[MonitorTarget, TargetPoller]:
        """Stop watching; returns what ``restore`` needs to undo it."""
        poller = self.pollers.pop(name)
        target = self.targets.pop(name)
        self._due.pop(name, None)
        log.info("stopped watching %s", name)
        self.targets_changed.emit()
        return target, poller

    def heartbeat(self) -> None:
        """Deliver finished polls and start the ones that are due; never blocks."""
        now = time.monotonic()
        for name, poller in list(self.pollers.items()):
            self._deliver(name, poller.collect())
            if now >= self._due.get(name, 0.0):
                self._deliver(name, poller.tick())
                # Keep the cadence, but after a stall (a suspended laptop) do not burst.
                self._due[name] = max(self._due.get(name, 0.0) + self.interval_s, now)

    def _deliver(self, name: str, outcome: PollOutcome | None) -> None:
        if outcome is None or self.pollers.get(name) is None:
            return
        self.outcome.emit(name, outcome)
        if outcome.change is not None:
            self.state_changed.emit(name, outcome)

    def shutdown(self) -> None:
        """Stop ticking and drop queued polls; a request in flight ends at its timeout."""
        self._closed = True
        self._timer.stop()
        self._pool.shutdown(wait=False, cancel_futures=True)
