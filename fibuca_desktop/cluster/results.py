"""What comes back from a worker: a task's stored result as the ``JobResult`` a local batch
gives, and which errors mean "the broker is not there"."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import kombu.exceptions
import redis.exceptions
from celery import states

from fibuca_desktop.core.imaging.batch import Job
from fibuca_desktop.core.imaging.pipeline import CANCELLED, FAILED, JobResult


@dataclass
class ClusterResult(JobResult):
    """A ``JobResult`` from a worker: which machine and process made it."""

    worker: str = ""
    pid: int = 0


class WorkerPreflight:
    """A worker's preflight report, as ``process``'s report reads it (``to_json``)."""

    def __init__(self, data: dict) -> None:
        self.data = data

    def to_json(self) -> dict:
        return self.data


def result_from_meta(job: Job, state: str, value) -> JobResult:
    """The ``JobResult`` for a task's stored state and value (``tasks.result_to_json``)."""
    if state == states.SUCCESS and isinstance(value, dict) and "status" in value:
        preflight = value.get("preflight")
        return ClusterResult(
            Job(Path(value["input"]), Path(value["output"])),
            value["status"],
            value.get("width", 0),
            value.get("height", 0),
            value.get("ms", 0.0),
            value.get("message", ""),
            list(value.get("notes") or []),
            bool(value.get("halts_batch")),
            value.get("mask", ""),
            list(value.get("review") or []),
            WorkerPreflight(preflight) if preflight else None,
            worker=value.get("worker", ""),
            pid=value.get("pid", 0),
        )
    if state == states.REVOKED:
        return JobResult(job, CANCELLED, message="Cancelled before it started.")
    reason = value.get("exc_message") if isinstance(value, dict) else value
    if isinstance(reason, list | tuple):
        reason = " ".join(map(str, reason))
    return JobResult(job, FAILED, message=f"The worker failed: {reason or state}")


def is_connection_error(error: BaseException) -> bool:
    """A broker or result store that cannot be reached (or went away), not a bug."""
    return isinstance(
        error,
        OSError
        | redis.exceptions.ConnectionError
        | redis.exceptions.TimeoutError
        | kombu.exceptions.OperationalError,
    )
