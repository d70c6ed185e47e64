"""Bounded, memory-aware concurrency for image jobs.

The machine decides the worker count (cores) and the memory budget (a share of the memory that is
available now). The model's working memory is reserved once per inference slot; each job reserves
its own estimated peak before it decodes anything and waits while the budget is in use; a job
larger than the whole budget fails at once with a clear message. The CLI runs batches on a thread
pool here; the GUI drives the same ``Scheduler.run_job`` from a QThreadPool, one call per runnable.

Workers and inference slots are separate on purpose (README, "Bounded concurrency"): on 2 cores,
two workers sharing one inference slot that uses both cores overlap decoding and encoding with
inference, while a second concurrent inference would add ~230 MB for little gain.
"""

from __future__ import annotations

import logging
import os
import threading
from collections.abc import Callable, Iterable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

import psutil

from fibuca_desktop.core.errors import UsageError
from fibuca_desktop.core.imaging.batch import Job
from fibuca_desktop.core.imaging.memory_budget import MemoryBudget
from fibuca_desktop.core.imaging.pipeline import FAILED, JobResult, Pipeline

log = logging.getLogger(__name__)

_MB = 1024 * 1024
MAX_DEFAULT_WORKERS = 4
MEMORY_SHARE = 0.5  # of the memory available when the batch starts
# What one more worker may hold at once: a 12 MP photo's job peak (pipeline, measured ~80-95 MB
# plus overhead). Workers beyond budget / this only wait for memory while adding their own heaps.
TYPICAL_JOB_BYTES = 12_000_000 * 9 + 20 * _MB
MIN_JOB_BYTES = 20 * _MB  # a tiny photo still needs the job overhead


@dataclass(frozen=True)
class Capacity:
    workers: int  # jobs in flight: decode, resize, compose and encode run in parallel
    budget_bytes: int  # for the model's working memory and all jobs together
    inference_slots: int = 1  # concurrent model runs
    threads_per_inference: int = 1  # onnxruntime intra-op threads: cores shared among slots
    note: str = ""  # why the worker count differs from the one asked for, for the user

    def describe(self) -> str:
        runs = "1 model run" if self.inference_slots == 1 else f"{self.inference_slots} model runs"
        workers = "1 worker" if self.workers == 1 else f"{self.workers} workers"
        return (
            f"{workers}, {runs} at a time on {self.threads_per_inference} threads, "
            f"memory budget {self.budget_bytes / 2**30:.1f} GB"
        )


def machine_capacity(
    workers: int | None = None,
    budget_mb: int | None = None,
    inference_slots: int = 1,
    small_outputs: bool = False,
    model_mb: int = 0,
) -> Capacity:
    """Worker count and memory budget from this machine; ``workers`` overrides the count.

    With ``small_outputs`` (``Preset.small_output``) the default is one worker: measured on 12 MP
    photos for the web preset, a second one gave 0.155 vs 0.154 s per image and cost 35 MB.
    The count is capped at what the budget holds beside the model (``model_mb`` a slot), saying
    so in ``note``; a budget that cannot hold the model and one photo is a UsageError.
    """
    cores = os.cpu_count() or 1
    asked = workers
    if workers is None:
        workers = 1 if small_outputs else max(1, min(cores, MAX_DEFAULT_WORKERS))
    if workers < 1 or inference_slots < 1:
        raise ValueError("workers and inference slots must be at least 1")
    if budget_mb is None:
        budget = int(psutil.virtual_memory().available * MEMORY_SHARE)
    else:
        budget = budget_mb * _MB
    slots = min(inference_slots, workers)
    for_jobs = budget - slots * model_mb * _MB
    if for_jobs < MIN_JOB_BYTES:
        need = slots * model_mb + MIN_JOB_BYTES // _MB
        raise UsageError(
            f"A memory budget of {budget / _MB:.0f} MB is too small: the model needs about "
            f"{slots * model_mb} MB and each photo at least {MIN_JOB_BYTES // _MB} MB more. "
            f"Allow at least {need} MB (more for large photos), or leave the budget automatic."
        )
    fits = max(1, for_jobs // TYPICAL_JOB_BYTES)
    note = ""
    if workers > fits:
        if asked is not None:
            note = (
                f"{asked} workers asked for, {fits} used: the memory budget of "
                f"{budget / _MB:.0f} MB holds {fits} photo{'s' if fits > 1 else ''} at once "
                f"beside the model (about {TYPICAL_JOB_BYTES // _MB} MB for a 12 MP photo)"
            )
        workers = fits
        slots = min(slots, workers)
    return Capacity(workers, budget, slots, max(1, cores // slots), note)


class Scheduler:
    """Runs pipeline jobs within a ``Capacity``. Thread-safe; one per batch or per app."""

    def __init__(self, pipeline: Pipeline, capacity: Capacity) -> None:
        self.pipeline = pipeline
        self.capacity = capacity
        model_bytes = capacity.inference_slots * pipeline.model_spec.activation_mb * _MB
        self.budget = MemoryBudget(max(0, capacity.budget_bytes - model_bytes))
        self.halted: str | None = None  # why the batch stopped early (the disk is full)

    def run_job(self, job: Job, cancel: threading.Event | None = None) -> JobResult:
        """Process one job within the memory budget. Never raises.

        Once a job finds the disk full, later jobs are not started (no model run for an output
        that cannot be written): they fail at once, saying why, so "Retry failed" redoes them.
        """
        halted = self.halted
        if halted is not None:
            return JobResult(job, FAILED, message=f"Not started: {halted}")
        result = self.pipeline.process(job, cancel, self.budget)
        if result.halts_batch and self.halted is None:
            self.halted = result.message
            log.warning("stopping the batch early: %s", result.message)
        return result

    def run_batch(
        self,
        jobs: Iterable[Job],
        on_result: Callable[[JobResult], None] | None = None,
        cancel: threading.Event | None = None,
    ) -> list[JobResult]:
        """Process ``jobs`` on ``capacity.workers`` threads; results come back in input order.

        If the caller is interrupted (Ctrl-C), queued jobs are dropped and running ones stop at
        their next safe point before the exception propagates: nothing half-written is left.
        """
        jobs = list(jobs)
        log.info("batch of %d jobs: %s", len(jobs), self.capacity.describe())
        stop = cancel if cancel is not None else threading.Event()
        lock = threading.Lock()

        def run(job: Job) -> JobResult:
            result = self.run_job(job, stop)
            if on_result is not None:
                with lock:
                    on_result(result)
            return result

        pool = ThreadPoolExecutor(self.capacity.workers, thread_name_prefix="fibuca-image")
        try:
            return list(pool.map(run, jobs))
        except BaseException:
            stop.set()
            raise
        finally:
            pool.shutdown(wait=True, cancel_futures=True)

    def subject_sides(self, jobs: Iterable[Job], cancel: threading.Event | None = None) -> list:
        """Each photo's subject size (``Pipeline.subject_side``), measured on the batch's
        workers within its memory budget, for ``--same-scale``; a photo that cannot be read
        measures 0 here and fails with its reason in the run itself."""

        def measure(job: Job) -> float:
            if cancel is not None and cancel.is_set():
                return 0.0
            try:
                header = self.pipeline.header(job)
                with self.budget.reserve(
                    self.pipeline.estimate_bytes(header), cancel, job.input.name
                ):
                    return self.pipeline.subject_side(job, header)
            except Exception as error:  # reported by the run that follows
                log.debug("could not measure %s: %s", job.input, error)
                return 0.0

        with ThreadPoolExecutor(self.capacity.workers, thread_name_prefix="fibuca-measure") as pool:
            return list(pool.map(measure, list(jobs)))
