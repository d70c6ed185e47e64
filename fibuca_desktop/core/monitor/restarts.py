"""Restarts and crash loops of one target, told from what each poll says about the process.

A restart is rarely seen directly: the target goes DOWN for a poll or two, then answers again as
a new process. What gives it away is the process's identity (``ProcessIdentity``): a later start
time, an uptime that dropped, a new PID, a higher PM2 restart count. ``RestartTracker`` compares
each poll's identity with the last one known, signal by signal, so that:

- a signal missing from a poll (a DOWN poll, a backend that sends no uptime) changes nothing: the
  next poll that has it is compared with the last value seen, however long ago;
- clock jitter is not a restart: a start time must move later, and an uptime drop, by more than
  ``jitter_s`` (a start time computed from a wall clock wobbles by a second or so);
- one restart seen by two signals, in one poll or in two, is counted once: a change of a signal
  is explained by the restarts already counted since that signal's value was last seen (only a
  PM2 count that grew by more than that adds the difference).

N restarts within ``loop_window_s`` (default 3 in an hour) is a crash loop: one ``CrashLoop``
event, to notify as CRITICAL, per episode; the episode ends once the window holds fewer again.
Pure logic, no clock of its own: times are the polls' epoch seconds.
"""

from __future__ import annotations

import logging
from collections import deque
from dataclasses import dataclass
from datetime import datetime

from .samples import ProcessIdentity, Sample

log = logging.getLogger(__name__)

LOOP_RESTARTS = 3
LOOP_WINDOW_S = 3600.0
JITTER_S = 2.0
LATENCY_S = 5.0  # the longest a poll may take to answer (the poller's MAX_TIMEOUT_S)


@dataclass(frozen=True)
class Restart:
    """A restart seen at ``time``: ``reason`` reads "restarted: uptime 3512 s -> 2 s".

    ``restarts`` is how many this event stands for (PM2's count may jump by more than one
    between polls); ``total`` is the target's count since monitoring began, this one included.
    """

    time: float
    reason: str
    restarts: int = 1
    total: int = 1


@dataclass(frozen=True)
class CrashLoop:
    """The start of a crash-loop episode: notify once, as CRITICAL."""

    time: float
    reason: str
    restarts_in_window: int


@dataclass
class _Seen:
    """The last known value of one signal, and when it was seen."""

    value: float
    time: float
    total: int  # the tracker's count of restarts then
    downs: int  # the tracker's count of polls without an identity then


class RestartTracker:
    """Counts one target's restarts and flags crash loops; feed it every poll with ``update``."""

    def __init__(
        self,
        loop_restarts: int = LOOP_RESTARTS,
        loop_window_s: float = LOOP_WINDOW_S,
        jitter_s: float = JITTER_S,
        latency_s: float = LATENCY_S,
    ) -> None:
        if loop_restarts < 1:
            raise ValueError("a crash loop needs at least 1 restart")
        if loop_window_s <= 0 or jitter_s < 0 or latency_s < 0:
            raise ValueError("the window must be positive, the jitter and latency not negative")
        self.loop_restarts = loop_restarts
        self.loop_window_s = loop_window_s
        self.jitter_s = jitter_s
        self.latency_s = latency_s
        self.total = 0  # restarts since monitoring began
        self.in_crash_loop = False
        self.last_restart: Restart | None = None
        self._seen: dict[str, _Seen] = {}
        self._downs = 0
        # One entry per restart counted in the window (bounded: a PM2 count may jump by millions)
        self._restart_times: deque[float] = deque(maxlen=max(loop_restarts, 10_000))

    def update(self, time: float, identity: ProcessIdentity | None) -> list[Restart | CrashLoop]:
        """Compare one poll's identity (None: a DOWN poll) with the last one known; the events.

        Returns [] most of the time; a ``Restart``, and a ``CrashLoop`` after it when this
        restart starts an episode.
        """
        events: list[Restart | CrashLoop] = []
        if identity is None:
            self._downs += 1
        elif not identity.empty:
            restart = self._compare(time, identity)
            if restart is not None:
                events.append(restart)
        self._expire(time)
        if len(self._restart_times) >= self.loop_restarts and not self.in_crash_loop:
            self.in_crash_loop = True
            count = len(self._restart_times)
            window = _duration(self.loop_window_s)
            reason = f"crash loop: {count} restarts within {window}"
            log.debug("crash loop at %.3f: %s", time, reason)
            events.append(CrashLoop(time, reason, count))
        elif len(self._restart_times) < self.loop_restarts:
            self.in_crash_loop = False
        return events

    def observe(self, sample: Sample) -> list[Restart | CrashLoop]:
        """``update`` with a poll's sample: a DOWN sample counts as a poll without identity."""
        return self.update(sample.time, None if sample.is_down else sample.identity)

    def restarts_in_window(self, time: float) -> int:
        """Restarts counted within the crash-loop window before ``time``."""
        return sum(1 for t in self._restart_times if t > time - self.loop_window_s)

    def _compare(self, time: float, identity: ProcessIdentity) -> Restart | None:
        evidence: list[tuple[int, str]] = []  # (restarts this signal proves, why)
        signals = _signals(identity)
        for name, value in signals:
            seen = self._seen.get(name)
            if seen is None:
                continue
            proven, why = self._proves(name, seen, value, time)
            if proven <= 0:
                continue
            explained = self.total - seen.total  # counted since this value was seen
            if proven > explained:
                evidence.append((proven - explained, why))
            else:
                log.debug("%s changed (%s): already counted", name, why)
        restart = None
        if evidence:
            restarts = max(count for count, _ in evidence)
            self.total += restarts
            self._restart_times.extend([time] * min(restarts, self._restart_times.maxlen or 1))
            reason = "restarted: " + "; ".join(why for _, why in evidence)
            restart = self.last_restart = Restart(time, reason, restarts, self.total)
        for name, value in signals:  # seen after this poll's restart, if any
            seen = self._seen.get(name)
            wobble = seen is not None and abs(value - seen.value) <= self.jitter_s
            if restart is None and name == "start_time" and wobble:
                continue  # a wobble: keep comparing with the value it wobbles around
            self._seen[name] = _Seen(value, time, self.total, self._downs)
        return restart

    def _proves(self, name: str, seen: _Seen, value: float, time: float) -> tuple[int, str]:
        """How many restarts the change from ``seen`` to ``value`` proves (0: none), and why."""
        old = seen.value
        if name == "pid":
            return (1 if value != old else 0), f"new PID {old:.0f} -> {value:.0f}"
        if name == "restart_count":
            return max(0, round(value - old)), f"PM2 restart count {old:.0f} -> {value:.0f}"
        if name == "start_time":
            moved = value - old
            why = f"process start time {_clock(old)} -> {_clock(value)}"
            return (1 if moved > self.jitter_s else 0), why
        # uptime: a drop; or, across DOWN polls, far less growth than the time gone by (the new
        # process has already outlived the old one). Only across DOWN polls: after this computer
        # sleeps, a local server's uptime (a monotonic clock) lags the wall clock without any
        # restart.
        why = f"uptime {old:.0f} s -> {value:.0f} s"
        if value < old - self.jitter_s:
            return 1, why
        grown_by = time - seen.time
        went_down = self._downs > seen.downs
        if went_down and value + self.jitter_s + self.latency_s < old + grown_by:
            return 1, f"{why} (expected about {old + grown_by:.0f} s)"
        return 0, why

    def _expire(self, time: float) -> None:
        while self._restart_times and self._restart_times[0] <= time - self.loop_window_s:
            self._restart_times.popleft()


def _signals(identity: ProcessIdentity) -> list[tuple[str, float]]:
    named = (
        ("restart_count", identity.restart_count),
        ("pid", identity.pid),
        ("start_time", identity.start_time),
        ("uptime", identity.uptime_s),
    )
    return [(name, float(value)) for name, value in named if value is not None]


def _clock(epoch: float) -> str:
    try:
        return datetime.fromtimestamp(epoch).strftime("%Y-%m-%d %H:%M:%S")
    except (OverflowError, OSError, ValueError):
        return f"{epoch:.0f}"


def _duration(seconds: float) -> str:
    if seconds % 3600 == 0:
        hours = int(seconds // 3600)
        return "1 h" if hours == 1 else f"{hours} h"
    if seconds % 60 == 0:
        return f"{int(seconds // 60)} min"
    return f"{seconds:g} s"
