"""Image jobs on a dedicated, bounded QThreadPool. Workers report through signals only."""

from __future__ import annotations

import logging
import threading
from pathlib import Path

from PySide6.QtCore import QObject, QRunnable, Signal
from PySide6.QtGui import QImage

from fibuca_desktop.core.errors import FibucaError
from fibuca_desktop.core.imaging.batch import Job
from fibuca_desktop.core.imaging.pipeline import CANCELLED, JobResult
from fibuca_desktop.core.imaging.scheduler import Scheduler
from fibuca_desktop.core.imaging.thumbnails import thumbnail

log = logging.getLogger(__name__)


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


class ThumbnailSignals(QObject):
    ready = Signal(int, QImage)  # job id, thumbnail


class ThumbnailRunnable(QRunnable):
    """Decodes a small thumbnail off the GUI thread; a bad file simply gets none (its job will
    report the problem)."""

    def __init__(self, job_id: int, path: Path, signals: ThumbnailSignals) -> None:
        super().__init__()
        self.job_id, self.path, self._signals = job_id, path, signals

    def run(self) -> None:
        try:
            image = thumbnail(self.path)
        except FibucaError as error:
            log.debug("no thumbnail for %s: %s", self.path, error)
            return
        data = image.tobytes()
        qimage = QImage(
            data, image.width, image.height, 3 * image.width, QImage.Format.Format_RGB888
        ).copy()  # owns its pixels once data is gone
        self._signals.ready.emit(self.job_id, qimage)
