"""Image jobs on a dedicated, bounded QThreadPool. Workers report through signals only."""

from __future__ import annotations

import threading

from PySide6.QtCore import QObject, QRunnable, Signal

from fibuca_desktop.core.imaging.batch import Job
from fibuca_desktop.core.imaging.pipeline import CANCELLED, JobResult
from fibuca_desktop.core.imaging.scheduler import Scheduler


class JobSignals(QObject):
    """Lives on the GUI thread; emitted from workers, so every connection is queued."""

    started = Signal(int)  # job id
    finished = Signal(int, object)  # job id, JobResult


class JobRunnable(QRunnable):
    """One photo through the core's memory-aware scheduler; never touches a widget."""

    def __init__(
        self,
        job_id: int,
        job: Job,
        scheduler: Scheduler,
        cancel: threading.Event,
        signals: JobSignals,
    ) -> None:
        super().__init__()
        self.setAutoDelete(False)  # the panel keeps it until it reports, so tryTake is safe
        self.job_id, self.job = job_id, job
        self._scheduler, self._cancel, self._signals = scheduler, cancel, signals

    def run(self) -> None:
        if self._cancel.is_set():
            result = JobResult(self.job, CANCELLED, message="Cancelled before it started.")
        else:
            self._signals.started.emit(self.job_id)
            result = self._scheduler.run_job(self.job, self._cancel)
        self._signals.finished.emit(self.job_id, result)
