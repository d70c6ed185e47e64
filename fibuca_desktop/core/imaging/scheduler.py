"""Bounded, memory-aware concurrency for image jobs.

The machine decides the worker count (cores) and the memory budget (a share of the memory that is
available now). Each job reserves its estimated peak before it decodes anything and waits while the
budget is in use; a job larger than the whole budget fails at once with a clear message. The CLI
runs batches on a thread pool here; the GUI drives the same ``Scheduler.run_job`` from a
QThreadPool, one call per runnable.
"""

from __future__ import annotations

import logging
import os
import threading
from collections.abc import Callable, Iterable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

import psutil

from fibuca_desktop.core.imaging.batch import Job
from fibuca_desktop.core.imaging.memory_budget import MemoryBudget
from fibuca_desktop.core.imaging.pipeline import JobResult, Pipeline

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
        return (
            f"{self.workers} workers x {self.threads_per_worker} inference threads, "
            f"memory budget {self.budget_bytes / _MB:.0f} MB"
        )


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


class Scheduler:
    """Runs pipeline jobs within a ``Capacity``. Thread-safe; one per batch or per app."""

    def __init__(self, pipeline: Pipeline, capacity: Capacity) -> None:
        self.pipeline = pipeline
        self.capacity = capacity
        self.budget = MemoryBudget(capacity.budget_bytes)

    def run_job(self, job: Job, cancel: threading.Event | None = None) -> JobResult:
        """Process one job within the memory budget. Never raises."""
        return self.pipeline.process(job, cancel, self.budget)

    def run_batch(
        self,
        jobs: Iterable[Job],
        on_result: Callable[[JobResult], None] | None = None,
        cancel: threading.Event | None = None,
    ) -> list[JobResult]:
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
