"""The worker's side: ``process_photo`` runs one job with the local batch's own Pipeline.

Each pool process creates its engine provider once (``worker_process_init``): one model session
per process, sized by the worker's ``Capacity`` (threads and memory budget shared among the
pool's processes as a local batch shares them among its inference slots). Pipelines are cached
per batch settings, so a batch's photos reuse one. A job never raises: a bad photo returns a
failed result with its message, as locally.
"""

from __future__ import annotations

import json
import logging
import os
import socket
import threading
from dataclasses import dataclass, field

from celery import Celery, current_task
from celery.signals import worker_process_init

from fibuca_desktop.cluster.app import TASK_NAME, was_revoked
from fibuca_desktop.cluster.job_spec import VERSION, PathMap, Settings, map_path
from fibuca_desktop.core.imaging.batch import Job
from fibuca_desktop.core.imaging.engine import EngineProvider, SessionTuning
from fibuca_desktop.core.imaging.memory_budget import MemoryBudget
from fibuca_desktop.core.imaging.output_records import clean_parts_of, recorded_input
from fibuca_desktop.core.imaging.pipeline import CANCELLED, FAILED, JobResult, Pipeline

log = logging.getLogger(__name__)

ECHO_TASK = "fibuca.echo"  # the queue's own cost, without a pipeline (bench_cluster.py)
_MB = 1024 * 1024


@dataclass
class WorkerConfig:
    """Set by ``fibuca-desktop worker`` before the pool forks; each process inherits it."""

    path_maps: list[PathMap] = field(default_factory=list)
    threads: int = 1  # onnxruntime threads for each pool process's one model session
    budget_bytes: int = 512 * _MB  # memory for each pool process's photos (beyond its model)
    hostname: str = field(default_factory=socket.gethostname)


CONFIG = WorkerConfig()


class _ProcessState:
    """The engines and pipelines of one pool process: created once, reused for every photo."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._engines: dict[str, EngineProvider] = {}
        self._pipelines: dict[str, Pipeline] = {}
        self.budget = MemoryBudget(CONFIG.budget_bytes)

    def engines(self, tuning: str) -> EngineProvider:
        with self._lock:
            if tuning not in self._engines:
                self._engines[tuning] = EngineProvider(
                    threads=CONFIG.threads, tuning=SessionTuning.named(tuning)
                )
            return self._engines[tuning]

    def pipeline(self, settings: Settings, overwrite: bool) -> Pipeline:
        key = json.dumps([settings.to_json(), overwrite], sort_keys=True)
        with self._lock:
            pipeline = self._pipelines.get(key)
        if pipeline is None:
            masks = None
            if settings.use_masks:
                from fibuca_desktop.core.imaging.mask_store import MaskStore
                from fibuca_desktop.core.settings import SettingsStore

                cap = SettingsStore().peek().processing.mask_cache_mb * _MB
                masks = MaskStore.default(cap)
            pipeline = Pipeline(
                self.engines(settings.tuning),
                settings.preset,
                settings.model,
                settings.limits,
                overwrite,
                masks,
                profile=settings.profile_object(),
            )
            with self._lock:
                if len(self._pipelines) > 16:  # a long-lived worker sees many batches
                    self._pipelines.clear()
                self._pipelines[key] = pipeline
        return pipeline


_state: _ProcessState | None = None


@worker_process_init.connect
def _create_state(**_kwargs) -> None:
    """One engine provider per pool process, created once as the process starts."""
    global _state
    _state = _ProcessState()
    _state.engines("fast")


def _process_state() -> _ProcessState:
    global _state
    if _state is None:  # a solo pool, or a call outside a worker (tests of the task itself)
        _state = _ProcessState()
    return _state


def process_photo(job: dict) -> dict:
    """Run one job (``job_spec.job_to_json``) here; returns ``result_to_json``'s dict."""
    local = Job(map_path(job["input"], CONFIG.path_maps), map_path(job["output"], CONFIG.path_maps))
    if _cancelled():
        log.info("dropped %s: cancelled by its submitter", local.input)
        result = JobResult(local, CANCELLED, message="Cancelled before it started.")
        return result_to_json(result, job)
    try:
        if job.get("v") != VERSION:
            raise ValueError(
                f"This worker runs jobs of version {VERSION}, not {job.get('v')!r}: install the "
                "same Fibuca Desktop version on every computer of the cluster."
            )
        settings = Settings.from_json(job)
        for stale in clean_parts_of(local.output):  # a killed run's temporary file of this name
            log.info("removed %s, left by an interrupted run of this photo", stale)
        overwrite = settings.overwrite
        if not overwrite and not job.get("existed") and local.output.exists():
            # Not there when the batch was planned, and made from this photo: an earlier
            # delivery of this very task wrote it, then died before saying so. Same name again.
            overwrite = recorded_input(local.output.parent, local.output.name) == local.input
        pipeline = _process_state().pipeline(settings, overwrite)
        result = pipeline.process(local, None, _process_state().budget)
    except Exception as error:  # an unknown profile on this worker, an unreadable share
        log.exception("could not run %s", local.input)
        result = JobResult(local, FAILED, message=str(error) or repr(error))
    return result_to_json(result, job)


def _cancelled() -> bool:
    """Whether the submitter cancelled this task while no worker that heard it was running
    (``app.REVOKED_KEY``). Unknown (the store unreachable for a moment) counts as not: the
    photo is made rather than lost."""
    request = getattr(current_task, "request", None)
    task_id = getattr(request, "id", None)
    if not task_id:  # called outside a worker (tests of the task itself)
        return False
    try:
        return was_revoked(current_task.app.backend.client, task_id)
    except Exception as error:
        log.warning("could not ask whether %s was cancelled: %s", task_id, error)
        return False


def result_to_json(result: JobResult, job: dict) -> dict:
    """A ``JobResult`` as JSON, with the submitter's own paths (not the worker's mapped ones)."""
    return {
        "input": job["input"],
        "output": job["output"],
        "status": result.status,
        "width": result.width,
        "height": result.height,
        "ms": result.ms,
        "message": result.message,
        "notes": list(result.notes),
        "mask": result.mask,
        "review": list(result.review),
        "preflight": result.preflight.to_json() if result.preflight else None,
        "halts_batch": result.halts_batch,
        "worker": CONFIG.hostname,
        "pid": os.getpid(),
    }


def echo(job: dict) -> dict:
    """Nothing but the round trip: a processed result for the job, no file touched."""
    return {
        "input": job["input"],
        "output": job["output"],
        "status": "processed",
        "width": 0,
        "height": 0,
        "ms": 0.0,
        "message": "",
        "notes": [],
        "mask": "model",
        "review": [],
        "preflight": None,
        "halts_batch": False,
        "worker": CONFIG.hostname,
        "pid": os.getpid(),
    }


def register(app: Celery) -> None:
    """Add the tasks to ``app`` (the worker's; the submitting side sends them by name)."""
    options = {"acks_late": True, "reject_on_worker_lost": True, "ignore_result": False}
    app.task(name=TASK_NAME, **options)(process_photo)
    app.task(name=ECHO_TASK, **options)(echo)
