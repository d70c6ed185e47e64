"""Bounded, memory-aware concurrency for image jobs.

The machine decides the worker count (cores) and the memory budget (a share of the memory that is
available now). Each job reserves its estimated peak before it decodes anything and waits while the
budget is in use; a job larger than the whole budget fails at once with a clear message. The CLI
runs batches on a thread pool here; the GUI drives the same ``Scheduler.run_job`` from a
QThreadPool, one call per runnable.
"""

from __future__ import annotations

import contextlib
import logging
import os
import threading
from collections.abc import Callable, Iterable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

import psutil

from fibuca_desktop.core.errors import Cancelled, FibucaError, JobTooLarge
from fibuca_desktop.core.imaging.batch import Job
from fibuca_desktop.core.imaging.pipeline import CANCELLED, FAILED, JobResult, Pipeline

log = logging.getLogger(__name__)

_MB = 1024 * 1024
MAX_DEFAULT_WORKERS = 4
MEMORY_SHARE = 0.5  # of the memory available when the batch starts
_WAIT_SLICE = 0.1  # seconds between cancellation checks while waiting for memory


@dataclass(frozen=True)
class Capacity:
    workers: int
    budget_bytes: int
    threads_per_worker: int  # onnxruntime intra-op threads: cores shared among workers

    def describe(self) -> str:
        return (f"{self.workers} workers x {self.threads_per_worker} inference threads, "
                f"memory budget {self.budget_bytes / _MB:.0f} MB")


def machine_capacity(workers: int | None = None, budget_mb: int | None = None) -> Capacity:
    """Worker count and memory budget from this machine; ``workers`` overrides the count."""
    cores = os.cpu_count() or 1
    if workers is None:
        workers = max(1, min(cores, MAX_DEFAULT_WORKERS))
    if workers < 1:
        raise ValueError("workers must be at least 1")
    if budget_mb is None:
        budget = int(psutil.virtual_memory().available * MEMORY_SHARE)
    else:
        budget = budget_mb * _MB
    return Capacity(workers, budget, max(1, cores // workers))


class MemoryBudget:
    """A counting reservation of bytes. ``reserve`` blocks while the budget is in use."""

    def __init__(self, total_bytes: int) -> None:
        self.total = total_bytes
        self._used = 0
        self._peak = 0
        self._condition = threading.Condition()

    @property
    def used(self) -> int:
        with self._condition:
            return self._used

    @property
    def peak(self) -> int:
        with self._condition:
            return self._peak

    @contextlib.contextmanager
    def reserve(self, amount: int, cancel: threading.Event | None = None, name: str = "this job"):
        if amount > self.total:
            raise JobTooLarge(
                f"{name} needs about {amount / _MB:.0f} MB, more than the whole memory budget of "
                f"{self.total / _MB:.0f} MB; close other programs, or resize the photo first."
            )
        with self._condition:
            while self._used + amount > self.total:
                if cancel is not None and cancel.is_set():
                    raise Cancelled("Cancelled while waiting for memory; nothing was written.")
                self._condition.wait(_WAIT_SLICE)
            self._used += amount
            self._peak = max(self._peak, self._used)
        try:
            yield
        finally:
            with self._condition:
                self._used -= amount
                self._condition.notify_all()


class Scheduler:
    """Runs pipeline jobs within a ``Capacity``. Thread-safe; one per batch or per app."""

    def __init__(self, pipeline: Pipeline, capacity: Capacity) -> None:
        self.pipeline = pipeline
        self.capacity = capacity
        self.budget = MemoryBudget(capacity.budget_bytes)

    def run_job(self, job: Job, cancel: threading.Event | None = None) -> JobResult:
        """Check the header, reserve memory for the job, then process it. Never raises."""
        if cancel is not None and cancel.is_set():
            return JobResult(job, CANCELLED, message="Cancelled before it started.")
        try:
            header = self.pipeline.header(job)
            need = self.pipeline.estimate_bytes(header)
            with self.budget.reserve(need, cancel, job.input.name):
                return self.pipeline.process(job, cancel, header)
        except Cancelled as error:
            return JobResult(job, CANCELLED, message=str(error))
        except FibucaError as error:
            return JobResult(job, FAILED, message=str(error))

    def run_batch(self, jobs: Iterable[Job], on_result: Callable[[JobResult], None] | None = None,
                  cancel: threading.Event | None = None) -> list[JobResult]:
        """Process ``jobs`` on ``capacity.workers`` threads; results come back in input order."""
        jobs = list(jobs)
        log.info("batch of %d jobs: %s", len(jobs), self.capacity.describe())
        lock = threading.Lock()

        def run(job: Job) -> JobResult:
            result = self.run_job(job, cancel)
            if on_result is not None:
                with lock:
                    on_result(result)
            return result

        with ThreadPoolExecutor(self.capacity.workers, thread_name_prefix="fibuca-image") as pool:
            return list(pool.map(run, jobs))
