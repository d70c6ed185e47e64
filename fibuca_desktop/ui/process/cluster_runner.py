""" "Run on workers" (issue 16): the Process tab's planned batch sent to a Celery broker.

The panel plans every output name as for a local run and hands the jobs here; a ``ClusterBatch``
(``cluster/submit.py``, as ``process --broker`` uses it) sends one task per photo. Everything
that talks to the network (creating the app, ``check``, ``start``, revoking, closing) runs on
one named pool thread, in order, never on the GUI thread: a dead broker is one line in the
panel, not a frozen window. Results come back on the batch's collector thread and go on
through ``ClusterSignals`` only; a timer on the GUI thread asks the batch (lock-only calls, no
network) which photos a worker has started and whether the broker went away.

Celery is imported on the pool thread the first time a person runs on workers, never before.
"""

from __future__ import annotations

import logging
import os
import threading
from collections.abc import Callable

from PySide6.QtCore import QObject, QRunnable, QThreadPool, QTimer, Signal

from fibuca_desktop.core.cluster_settings import ClusterSettings
from fibuca_desktop.core.errors import FibucaError, UsageError
from fibuca_desktop.core.imaging.batch import Job
from fibuca_desktop.core.imaging.decode import Limits
from fibuca_desktop.core.imaging.pipeline import JobResult
from fibuca_desktop.core.imaging.presets import Preset
from fibuca_desktop.ui.process.broker_password import url_to_connect

log = logging.getLogger(__name__)

POLL_MS = 300  # how often the GUI thread asks the batch what started and whether it is lost
SHUTDOWN_MS = 15_000  # closing waits at most this for the pool (each broker call gives up in ~5 s)


def made_on(result: JobResult) -> str:
    """Which worker machine and process made a result ("" for a local one)."""
    worker = getattr(result, "worker", "")
    return f"{worker}, process {result.pid}" if worker else ""


class ClusterSignals(QObject):
    """Lives on the GUI thread; emitted from the pool and collector threads (queued)."""

    started = Signal(int)  # job id: a worker took it
    finished = Signal(int, object)  # job id, JobResult (a ClusterResult names the worker)
    notice = Signal(str)  # one line for the panel: no worker answers yet
    lost = Signal(str)  # the broker cannot be reached or went away: one line, no password


class _Call(QRunnable):
    def __init__(self, function: Callable[[], None]) -> None:
        super().__init__()
        self.function = function

    def run(self) -> None:
        self.function()


class _Run:
    """One batch on the workers: its jobs by id, and the ``ClusterBatch`` once created."""

    def __init__(self, jobs: dict[int, Job]) -> None:
        self.ids: dict[Job, int] = {job: job_id for job_id, job in jobs.items()}
        self.by_input = {job.input: job_id for job_id, job in jobs.items()}
        self.jobs = dict(jobs)
        self.batch = None  # cluster.submit.ClusterBatch, set on the pool thread
        self.started: set[int] = set()
        self.lost = False
        self.closed = threading.Event()
        self.lock = threading.Lock()  # jobs added on the GUI thread while connect() sends
        self.connected = False  # connect() took the jobs: later ones are sent by submit()
        self.sent = False  # connect() is done: the batch's lock is never held across the network

    def job_id(self, result: JobResult) -> int | None:
        return self.ids.get(result.job, self.by_input.get(result.input))


class ClusterRunner(QObject):
    """Start, add to, cancel and close batches on the workers of ``cluster.broker_url``."""

    def __init__(self, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self.signals = ClusterSignals()
        self.pool = QThreadPool(self)
        self.pool.setObjectName("fibuca-cluster-pool")
        self.pool.setMaxThreadCount(1)  # broker calls in the order they were asked
        self._run: _Run | None = None
        self._timer = QTimer(self)
        self._timer.setInterval(POLL_MS)
        self._timer.timeout.connect(self._poll)
        self.preset: Preset | None = None  # the running batch's (the editor saves with it)

    @property
    def busy(self) -> bool:
        return self._run is not None

    def start(
        self, jobs: dict[int, Job], preset: Preset, cluster: ClusterSettings, processing
    ) -> None:
        """Send ``jobs`` (planned by the panel) with ``preset`` and the processing settings."""
        run = self._run = _Run(jobs)
        url = url_to_connect(cluster.broker_url) if cluster.broker_url else None
        profile, model, overwrite = processing.profile, processing.model, processing.overwrite
        self.preset = preset

        def connect() -> None:
            broker = None
            try:
                from fibuca_desktop.cluster.imports import require_celery

                require_celery()
                from fibuca_desktop.cluster.broker_url import ENV_URL, parse_broker_url
                from fibuca_desktop.cluster.job_spec import Settings
                from fibuca_desktop.cluster.submit import ClusterBatch

                if url is None and not os.environ.get(ENV_URL, "").strip():
                    raise UsageError(
                        f"No broker is set for Run on workers: give one with Broker… (or set "
                        f"${ENV_URL})."
                    )
                broker = parse_broker_url(url, "The broker URL (Broker…)")
                settings = Settings(preset, model, Limits(), overwrite, True, "fast", profile)
                run.batch = ClusterBatch(broker, settings, lambda r: self._deliver(run, r))
                run.batch.check()
                if not run.batch.workers_online():
                    self.signals.notice.emit(
                        f"No worker answers at {broker.shown} yet: the photos wait in the queue "
                        "until one starts (fibuca-desktop worker --broker URL)."
                    )
                with run.lock:
                    jobs, run.connected = list(run.jobs.values()), True
                if not run.closed.is_set():
                    run.batch.start(jobs)
                run.sent = True
            except FibucaError as error:  # BrokerUnavailable, UsageError: one line
                self._lose(run, str(error))
            except Exception as error:  # anything else: still one line, still no password
                log.exception("running on workers failed")
                text = str(error).splitlines()[0] if str(error) else type(error).__name__
                text = broker.redact(text) if broker is not None else text
                self._lose(run, f"Running on workers failed: {text}")

        self.pool.start(_Call(connect))
        self._timer.start()

    def submit(self, jobs: dict[int, Job]) -> None:
        """Add photos (added to the queue, or retried) to the running batch."""
        run = self._run
        if run is None or not jobs:
            return
        with run.lock:
            for job_id, job in jobs.items():
                run.ids[job], run.by_input[job.input], run.jobs[job_id] = job_id, job_id, job
                run.started.discard(job_id)
            if not run.connected:
                return  # connect() sends run.jobs, these included

        def send() -> None:
            if run.batch is None or run.closed.is_set():
                return
            try:
                run.batch.start(jobs.values())
            except FibucaError as error:
                self._lose(run, str(error))

        self.pool.start(_Call(send))

    def cancel(self) -> None:
        """Revoke the photos no worker has started (reported cancelled); running ones finish."""
        run = self._run
        if run is None:
            return

        def revoke() -> None:
            if run.batch is not None:
                run.batch.cancel()

        self.pool.start(_Call(revoke))

    def finish(self) -> str | None:
        """The batch is over for the panel: close it (off the GUI thread); why it stopped
        early, if it did."""
        run, self._run = self._run, None
        self._timer.stop()
        if run is None:
            return None
        halted = run.batch.halted if run.batch is not None else None
        self._close(run, cancel=False)
        return halted

    def shutdown(self) -> None:
        """Revoke what has not started, close the batch, wait (bounded) for the pool."""
        run, self._run = self._run, None
        self._timer.stop()
        if run is not None:
            self._close(run, cancel=True)
        if not self.pool.waitForDone(SHUTDOWN_MS):
            log.warning("the broker did not answer within %d s on closing", SHUTDOWN_MS // 1000)

    # -- the pool and collector threads ------------------------------------------------------

    def _close(self, run: _Run, cancel: bool) -> None:
        run.closed.set()

        def close() -> None:
            if run.batch is None:
                return
            if cancel:
                run.batch.cancel()
            run.batch.close()

        self.pool.start(_Call(close))

    def _deliver(self, run: _Run, result: JobResult) -> None:
        job_id = run.job_id(result)
        if job_id is not None and not run.closed.is_set():
            self.signals.finished.emit(job_id, result)

    def _lose(self, run: _Run, message: str) -> None:
        if not run.lost and not run.closed.is_set():
            run.lost = True
            log.warning("%s", message)
            self.signals.lost.emit(message)

    # -- the GUI thread ------------------------------------------------------------------------

    def _poll(self) -> None:
        run = self._run
        if run is None or not run.sent or run.lost:
            return
        for job in run.batch.running():
            job_id = run.ids.get(job)
            if job_id is not None and job_id not in run.started:
                run.started.add(job_id)
                self.signals.started.emit(job_id)
        try:
            run.batch.wait(timeout=0)
        except FibucaError as error:  # BrokerUnavailable: lost while waiting
            self._lose(run, str(error))
