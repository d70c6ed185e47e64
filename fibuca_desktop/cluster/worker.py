"""``fibuca-desktop worker``: a Celery worker (prefork pool) running ``process_photo``.

The pool's size and each process's memory budget come from ``machine_capacity`` as for a local
batch: N processes are N inference slots, each with its own model session, the cores shared
among them and the budget divided between them.
"""

from __future__ import annotations

import logging
import os

from fibuca_desktop.cluster.app import QUEUE, make_app
from fibuca_desktop.cluster.broker_url import BrokerUrl
from fibuca_desktop.cluster.job_spec import PathMap
from fibuca_desktop.cluster.tasks import CONFIG, register
from fibuca_desktop.core.imaging.models import DEFAULT_MODEL, spec_for
from fibuca_desktop.core.imaging.scheduler import MAX_DEFAULT_WORKERS, Capacity, machine_capacity

log = logging.getLogger(__name__)
_MB = 1024 * 1024


def worker_capacity(concurrency: int | None, budget_mb: int | None) -> Capacity:
    """Pool processes (``concurrency``, default from the cores as a local batch) capped by what
    the memory budget holds with one model per process."""
    wanted = concurrency or max(1, min(os.cpu_count() or 1, MAX_DEFAULT_WORKERS))
    model_mb = spec_for(DEFAULT_MODEL).activation_mb
    return machine_capacity(wanted, budget_mb, inference_slots=wanted, model_mb=model_mb)


def run_worker(
    broker: BrokerUrl,
    capacity: Capacity,
    path_maps: list[PathMap],
    loglevel: str = "WARNING",
    name: str | None = None,
) -> int:
    """Serve photos until stopped (SIGTERM/Ctrl-C: running photos finish first)."""
    model_bytes = spec_for(DEFAULT_MODEL).activation_mb * _MB
    per_process = capacity.budget_bytes // capacity.workers - model_bytes
    CONFIG.path_maps = list(path_maps)
    CONFIG.threads = max(1, (os.cpu_count() or 1) // capacity.workers)
    CONFIG.budget_bytes = max(per_process, 64 * _MB)
    app = make_app(broker, worker=True)
    register(app)
    argv = [
        "worker",
        "--pool=prefork",
        f"--concurrency={capacity.workers}",
        f"--queues={QUEUE}",
        f"--loglevel={loglevel}",
        f"--hostname={name or f'fibuca-{os.getpid()}@%h'}",
        "--without-gossip",
        "--without-heartbeat",
        "--prefetch-multiplier=1",
    ]
    log.info(
        "worker on %s: %d processes, %d threads each, %.0f MB for photos each",
        broker.shown,
        capacity.workers,
        CONFIG.threads,
        CONFIG.budget_bytes / _MB,
    )
    app.worker_main(argv)
    return 0
