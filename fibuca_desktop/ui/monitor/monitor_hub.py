"""The app's one monitoring service: every target's poller, ticked off the UI thread.

Polls run on ``PollThreads`` (one daemon thread per poll in flight, at most one per target) and
are scheduled by the core's ``MonitorSchedule``, the same as ``fibuca-desktop monitor``. A 250 ms
heartbeat on the GUI thread only checks futures (never blocking) and starts the next poll when a
target's interval has passed, so a hanging server costs the UI nothing, a poll past its deadline
shows DOWN within a quarter of a second, and a finished poll shows as fast.

Every outcome's sample also goes to the history on disk (``HistoryStore``: 24 h raw, then 30
days of minute bands), opened on a thread of its own (a locked file waits up to its busy
timeout, never on the UI thread) and closed after the last poll; until it is open, and when it
cannot be used, the live RAM history is all there is.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from concurrent.futures import Future

from PySide6.QtCore import QObject, QTimer, Signal

from fibuca_desktop.core.monitor.history_key import target_key
from fibuca_desktop.core.monitor.history_store import HistoryStore
from fibuca_desktop.core.monitor.leak import DEFAULT_LEAK_MIN_SPAN_S
from fibuca_desktop.core.monitor.pm2_source import Pm2Listing
from fibuca_desktop.core.monitor.poll_threads import SHUTDOWN_WAIT_S
from fibuca_desktop.core.monitor.poller import PollOutcome, TargetPoller
from fibuca_desktop.core.monitor.schedule import MonitorSchedule
from fibuca_desktop.core.monitor.targets import PM2_LISTING_AGE_S, MonitorTarget, make_poller

log = logging.getLogger(__name__)

HEARTBEAT_MS = 250


class MonitorHub(QObject):
    """Owns the poll threads and one ``TargetPoller`` per target name.

    ``outcome`` fires for every completed poll, ``state_changed`` when a target's debounced
    state changes (including its first state), ``stale_changed`` with the set of targets whose
    shown value is older than it should be; all on the GUI thread.
    """

    outcome = Signal(str, object)  # target name, PollOutcome
    state_changed = Signal(str, object)  # target name, PollOutcome with .change set
    # target name, PollOutcome with .leak_alert or .events (restarts, a crash loop) set
    incident = Signal(str, object)
    stale_changed = Signal(object)  # set of target names
    targets_changed = Signal()
    history_opened = Signal(object)  # the HistoryStore, once open (its .problem may be set)

    def __init__(
        self,
        interval_s: float = 1.0,
        parent: QObject | None = None,
        leak_min_span_s: float = DEFAULT_LEAK_MIN_SPAN_S,
    ) -> None:
        super().__init__(parent)
        self.interval_s = interval_s
        self.leak_min_span_s = leak_min_span_s
        self.schedule = MonitorSchedule(interval_s)
        self.pollers: dict[str, TargetPoller] = self.schedule.pollers
        self.targets: dict[str, MonitorTarget] = {}
        self.stale: set[str] = set()
        self._timer = QTimer(self)
        self._timer.setInterval(HEARTBEAT_MS)
        self._timer.timeout.connect(self.heartbeat)
        self._closed = False
        # One `pm2 jlist` per round however many PM2 targets, whenever each was added.
        self.pm2 = Pm2Listing(max_age_s=PM2_LISTING_AGE_S)
        self.history: HistoryStore | None = None  # set once open_history's store is open
        self._opening: Future | None = None

    def open_history(self, opener: Callable[[], HistoryStore] = HistoryStore.open) -> None:
        """Open the history on disk off the UI thread; ``history_opened`` says when it is."""
        if self._opening is not None or self._closed:
            return
        opening: Future = Future()

        def run() -> None:
            try:
                opening.set_result(opener())
            except BaseException as error:  # delivered to the heartbeat, which logs it
                opening.set_exception(error)

        self._opening = opening
        threading.Thread(target=run, name="history-open", daemon=True).start()

    def _check_history(self) -> None:
        if self.history is not None or self._opening is None or not self._opening.done():
            return
        try:
            self.history = self._opening.result()
        except Exception as error:  # a store never raises for a bad file; anything else is a bug
            log.warning("monitor history: could not be opened: %s", error)
            log.debug("monitor history: open failed", exc_info=True)
            self._opening = None
            return
        if self.history.problem:
            log.warning("%s", self.history.problem)
        self.history_opened.emit(self.history)

    @property
    def threads(self):
        """The ``PollThreads`` every poll runs on."""
        return self.schedule.threads

    def start(self) -> None:
        if not self._closed:
            self._timer.start()
            self.heartbeat()

    def add(self, target: MonitorTarget, token: str | None = None) -> TargetPoller:
        """Start watching ``target``; ``token`` is a session-only token (not from settings)."""
        if target.name in self.pollers:
            raise ValueError(f"a target named {target.name!r} is already watched")
        poller = make_poller(
            target,
            self.schedule.threads,
            self.interval_s,
            token,
            leak_min_span_s=self.leak_min_span_s,
            pm2=self.pm2,
        )
        self.restore(target, poller)
        return poller

    def restore(self, target: MonitorTarget, poller: TargetPoller) -> None:
        """Watch again a target removed earlier, with its history (undo)."""
        self.schedule.add(target.name, poller)
        self.targets[target.name] = target
        log.info("watching %s (%s)", target.name, target.address)
        self.targets_changed.emit()

    def remove(self, name: str) -> tuple[MonitorTarget, TargetPoller]:
        """Stop watching; returns what ``restore`` needs to undo it."""
        poller = self.schedule.remove(name)
        target = self.targets.pop(name)
        self.stale.discard(name)
        log.info("stopped watching %s", name)
        self.targets_changed.emit()
        return target, poller

    def heartbeat(self) -> None:
        """Deliver finished polls and start the ones that are due; never blocks."""
        if self._closed:
            return
        self._check_history()
        for name, outcome in self.schedule.heartbeat():
            self._deliver(name, outcome)
        self.check_stale()

    def check_stale(self) -> None:
        """Emit ``stale_changed`` when the set of targets showing out-of-date values changes."""
        stale = self.schedule.stale_names()
        if stale != self.stale:
            self.stale = stale
            self.stale_changed.emit(set(stale))

    def _deliver(self, name: str, outcome: PollOutcome) -> None:
        if self.pollers.get(name) is None:
            return
        if self.history is not None:
            self.history.append(target_key(self.targets[name]), outcome.sample)
        self.outcome.emit(name, outcome)
        if outcome.change is not None:
            self.state_changed.emit(name, outcome)
        if outcome.leak_alert or outcome.events:
            self.incident.emit(name, outcome)

    def shutdown(self, wait_s: float = SHUTDOWN_WAIT_S) -> bool:
        """Stop ticking and wait up to ``wait_s`` for the polls in flight; True if all ended.

        Each poll ends at its own deadline (at most 5 s), and its thread is a daemon, so
        quitting never waits on a peer longer than this.
        """
        self._closed = True
        self._timer.stop()
        ended = self.schedule.shutdown(wait_s)
        if self._opening is not None and self.history is None and self._opening.done():
            self._check_history()  # opened meanwhile: close it too
        if self.history is not None:
            self.history.close(wait_s)  # commits what is queued (a batch: milliseconds)
        return ended
