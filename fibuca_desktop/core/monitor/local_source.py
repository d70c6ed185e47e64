"""This computer's memory and the RSS of chosen processes, read with psutil."""

from __future__ import annotations

import logging
import os
import sys
import time
from collections.abc import Iterable

import psutil

from .samples import (
    MB,
    RSS_MB,
    SYSTEM_AVAILABLE_MB,
    SYSTEM_TOTAL_MB,
    SYSTEM_USED_PERCENT,
    ProcessIdentity,
    Sample,
)

log = logging.getLogger(__name__)


class _Down(Exception):
    """The chosen process(es) cannot be read; the message becomes the sample's down reason."""


class LocalSource:
    """Polls system memory plus the RSS of one process (by PID), or of every process with a name.

    Default: this app's own process. ``include_children`` adds every descendant's RSS (each
    process counted once). A process that has exited, or none matching the name, gives a DOWN
    sample; the system metrics are still filled in. With one process watched, the sample's
    ``identity`` has its PID and create time (a new one under the same name is a restart).
    """

    def __init__(
        self,
        pid: int | None = None,
        process_name: str | None = None,
        include_children: bool = False,
    ) -> None:
        if pid is not None and process_name:
            raise ValueError("choose a process by PID or by name, not both")
        self.pid = pid if pid is not None or process_name else os.getpid()
        self.process_name = process_name or None
        self.include_children = include_children
        self._process: psutil.Process | None = None  # kept so a reused PID is noticed

    @property
    def label(self) -> str:
        """A short human name for the target."""
        if self.process_name:
            return f"processes named {self.process_name}"
        return "this app" if self.pid == os.getpid() else f"PID {self.pid}"

    def poll(self) -> Sample:
        """Read everything now; never raises for a vanished or forbidden process."""
        now = time.time()
        memory = psutil.virtual_memory()
        metrics: dict[str, float | None] = {
            SYSTEM_TOTAL_MB: memory.total / MB,
            SYSTEM_AVAILABLE_MB: memory.available / MB,
            SYSTEM_USED_PERCENT: (memory.total - memory.available) / memory.total * 100.0,
            RSS_MB: None,
        }
        try:
            roots = self._roots()
            metrics[RSS_MB] = self._rss_bytes(roots) / MB
        except _Down as down:
            return Sample(now, metrics, down_reason=str(down))
        return Sample(now, metrics, identity=_identity(roots))

    def _roots(self) -> list[psutil.Process]:
        if self.process_name:
            return self._by_name()
        return [self._by_pid()]

    def _by_pid(self) -> psutil.Process:
        assert self.pid is not None
        exited = _Down(f"process {self.pid} has exited")
        try:
            if self._process is None:
                self._process = psutil.Process(self.pid)
            if not self._process.is_running() or _is_zombie(self._process):
                raise exited
        except psutil.NoSuchProcess:
            if self._process is None:
                raise _Down(f"no process with PID {self.pid}") from None
            raise exited from None
        except psutil.AccessDenied:
            raise _Down(_denied(f"process {self.pid}")) from None
        return self._process

    def _by_name(self) -> list[psutil.Process]:
        wanted = _fold(self.process_name or "")
        found = [
            process
            for process in psutil.process_iter(["name", "status"])
            if process.info["name"] is not None
            and _fold(process.info["name"]) == wanted
            and process.info["status"] != psutil.STATUS_ZOMBIE
        ]
        if not found:
            raise _Down(f"no process named {self.process_name}")
        return found

    def _rss_bytes(self, roots: Iterable[psutil.Process]) -> int:
        """Sum each process once; a child vanishing mid-count is simply left out."""
        total, seen, readable, denied = 0, set(), 0, 0
        for root in roots:
            family = [root]
            if self.include_children:
                try:
                    family += root.children(recursive=True)
                except psutil.NoSuchProcess:
                    continue
                except psutil.AccessDenied:
                    denied += 1
            for process in family:
                if process.pid in seen:
                    continue
                seen.add(process.pid)
                try:
                    total += process.memory_info().rss
                    readable += 1
                except psutil.NoSuchProcess:
                    continue
                except psutil.AccessDenied:
                    denied += 1
        if readable == 0:
            if denied:
                raise _Down(_denied(self.label))
            if self.process_name:
                raise _Down(f"no process named {self.process_name}")
            raise _Down(f"process {self.pid} has exited")
        if denied:
            log.debug("%s: %d process(es) could not be read (access denied)", self.label, denied)
        return total


def _identity(roots: list[psutil.Process]) -> ProcessIdentity | None:
    """PID and create time of the one process watched, for restart detection; None when
    several processes match a name (no single one to follow) or it cannot be read."""
    if len(roots) != 1:
        return None
    try:
        return ProcessIdentity(start_time=roots[0].create_time(), pid=roots[0].pid)
    except (psutil.NoSuchProcess, psutil.AccessDenied):
        return None


def _is_zombie(process: psutil.Process) -> bool:
    try:
        return process.status() == psutil.STATUS_ZOMBIE
    except psutil.NoSuchProcess:
        return True


def _fold(name: str) -> str:
    return name.lower() if sys.platform == "win32" else name


def _denied(what: str) -> str:
    return (
        f"access denied reading the memory of {what}: "
        "run Fibuca Desktop as the same user as that process, or as administrator"
    )
