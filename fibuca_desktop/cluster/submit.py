"""The submitting side: ``ClusterBatch`` sends one task per planned photo and collects results.

The CLI (``process --broker``) and the Process tab use it alike. Results come back through
Redis pub/sub (Celery's Redis backend publishes every state it stores on the task's result key;
one pattern subscription takes them all, others' tasks ignored), with a sweep of the stored
results every few seconds for anything published while the subscription was not yet there.
``on_result`` is called once per photo on the collector thread (a GUI hands it on through a
signal); a late result for a photo reported cancelled (a worker had just started it) is
reported again with what really happened.

Thread-safe: ``start``, ``cancel``, ``retry_failed``, ``wait`` and ``close`` may be called from
any thread.
"""

from __future__ import annotations

import logging
import threading
import time
import uuid
from collections.abc import Callable, Iterable

from celery import states

from fibuca_desktop.cluster.app import (
    QUEUE,
    SOCKET_TIMEOUT_S,
    TASK_NAME,
    make_app,
    remember_revoked,
)
from fibuca_desktop.cluster.broker_url import BrokerUrl
from fibuca_desktop.cluster.deadline import DEADLINE_S, within
from fibuca_desktop.cluster.errors import BrokerUnavailable
from fibuca_desktop.cluster.job_spec import Settings, job_to_json
from fibuca_desktop.cluster.results import ClusterResult, is_connection_error, result_from_meta
from fibuca_desktop.core.imaging.batch import Job
from fibuca_desktop.core.imaging.pipeline import CANCELLED, FAILED, JobResult

log = logging.getLogger(__name__)

SWEEP_S = 2.0  # how often stored results are read back, beside pub/sub
RECONNECT_S = 10.0  # a broker gone this long while waiting is reported lost
_CHUNK = 500  # keys per MGET of the sweep, task ids per revoke
_QUEUED, _RUNNING, _DONE = "queued", "running", "done"


class ClusterBatch:
    """One batch on the cluster: ``start(jobs)``, then ``wait()``; ``cancel()`` revokes what has
    not started, ``retry_failed()`` sends failed and cancelled photos again.

    Every call that talks to the broker gives up within a few seconds (``app.SOCKET_TIMEOUT_S``
    and bounded retries) and raises ``BrokerUnavailable``; a broker lost while waiting makes
    ``wait`` raise it.
    """

    def __init__(
        self,
        broker: BrokerUrl,
        settings: Settings,
        on_result: Callable[[JobResult], None] | None = None,
        task_name: str = TASK_NAME,
    ) -> None:
        self.broker = broker
        self.settings = settings
        self.on_result = on_result
        self.task_name = task_name
        self.halted: str | None = None  # why the batch stopped early (a worker's disk is full)
        self._app = make_app(broker)
        self._backend = self._app.backend
        self._lock = threading.RLock()
        self._changed = threading.Condition(self._lock)
        self._tasks: dict[str, Job] = {}  # task id -> job, every task sent
        self._state: dict[str, str] = {}  # task id -> queued, running or done
        self._latest: dict[Job, str] = {}  # job -> its current task id
        self._results: dict[Job, JobResult] = {}
        self._existed: dict[Job, bool] = {}
        self._error: BrokerUnavailable | None = None
        self._closed = threading.Event()
        self._pubsub = None  # redis-py's PubSub is not thread-safe: the collector's alone
        self._collector: threading.Thread | None = None

    # -- the public side ------------------------------------------------------------------

    def check(self) -> None:
        """Reach the broker and the result store once, within ``deadline.DEADLINE_S`` whatever
        the peer does; raises ``BrokerUnavailable``."""

        def both() -> None:
            self._backend.client.ping()
            with self._app.connection_for_write() as connection:
                connection.ensure_connection(max_retries=1, timeout=SOCKET_TIMEOUT_S)

        self._call(lambda: within(DEADLINE_S, both, self._no_answer), "reach")

    def workers_online(self, timeout: float = 0.5) -> list[str]:
        """The names of the workers that answer a ping within ``timeout`` seconds."""

        def ping() -> list:
            return self._app.control.ping(timeout=timeout)

        replies = self._call(lambda: within(DEADLINE_S, ping, self._no_answer)) or []
        return sorted(name for reply in replies for name in reply)

    def _no_answer(self) -> BrokerUnavailable:
        return BrokerUnavailable(
            f"The broker {self.broker.shown} did not answer within {DEADLINE_S:.0f} s; check "
            "that Redis runs there and this computer can reach it."
        )

    def start(self, jobs: Iterable[Job]) -> None:
        """Send one task per job (photos that existed on disk now are "existed": a file that
        appears later under that name is this photo's own, from a redelivered run)."""
        jobs = list(jobs)
        with self._lock:
            for job in jobs:
                self._existed.setdefault(job, job.output.exists())
        self._send(jobs)

    def cancel(self) -> list[Job]:
        """Revoke every photo not started yet and report it cancelled; running photos finish.
        Returns the jobs cancelled."""
        return self._stop("Cancelled before it started.")

    def retry_failed(self) -> list[Job]:
        """Send failed and cancelled photos again (new tasks); returns them."""
        with self._lock:
            again = [j for j, r in self._results.items() if r.status in (FAILED, CANCELLED)]
            for job in again:
                del self._results[job]
            self.halted = None
        self._send(again)
        return again

    def wait(self, timeout: float | None = None) -> bool:
        """Block until every photo has its result (True) or ``timeout`` passes (False).
        Raises ``BrokerUnavailable`` when the broker went away meanwhile."""
        deadline = None if timeout is None else time.monotonic() + timeout
        with self._changed:
            while True:
                if self._error is not None:
                    raise self._error
                if all(job in self._results for job in self._latest):
                    return True
                left = None if deadline is None else deadline - time.monotonic()
                if left is not None and left <= 0:
                    return False
                self._changed.wait(0.5 if left is None else min(left, 0.5))

    @property
    def results(self) -> list[JobResult]:
        with self._lock:
            return list(self._results.values())

    def counts(self) -> dict[str, int]:
        """Photos queued, running and done, for progress displays."""
        with self._lock:
            latest = [self._state[task] for task in self._latest.values()]
        return {name: latest.count(name) for name in (_QUEUED, _RUNNING, _DONE)}

    def running(self) -> list[Job]:
        """Photos a worker has started and not yet reported."""
        with self._lock:
            return [job for job, task in self._latest.items() if self._state[task] == _RUNNING]

    def task_id(self, job: Job) -> str | None:
        """The Celery task id of ``job``'s latest try."""
        with self._lock:
            return self._latest.get(job)

    def close(self) -> None:
        """Stop collecting (queued photos stay queued: ``cancel`` first to drop them)."""
        self._closed.set()
        if self._collector is not None:
            self._collector.join(timeout=5)
        if self._pubsub is not None:
            try:
                self._pubsub.close()
            except Exception as error:  # the broker is gone already
                log.debug("closing the result subscription: %s", error)

    def __enter__(self) -> ClusterBatch:
        return self

    def __exit__(self, *_exc) -> None:
        self.close()

    # -- sending --------------------------------------------------------------------------

    def _send(self, jobs: list[Job]) -> None:
        if not jobs:
            return
        ids = [uuid.uuid4().hex for _ in jobs]
        self._ensure_collector()  # subscribed before sending: no result published unseen
        with self._lock:
            for task, job in zip(ids, jobs, strict=True):
                self._tasks[task] = job
                self._state[task] = _QUEUED
                self._latest[job] = task
        settings = self.settings

        def send_all() -> None:
            with self._app.producer_or_acquire() as producer:
                for task, job in zip(ids, jobs, strict=True):
                    if self._state.get(task) != _QUEUED:
                        continue  # cancelled while sending
                    self._app.send_task(
                        self.task_name,
                        args=[job_to_json(job, settings, self._existed.get(job, False))],
                        task_id=task,
                        queue=QUEUE,
                        producer=producer,
                    )

        self._call(send_all, "send the photos to")

    def _stop(self, message: str) -> list[Job]:
        with self._lock:
            queued = [t for t, job in self._tasks.items() if self._state[t] == _QUEUED]
            for task in queued:
                self._state[task] = _DONE
        try:
            for start in range(0, len(queued), _CHUNK):  # a broadcast message each
                chunk = queued[start : start + _CHUNK]
                remember_revoked(self._backend.client, chunk)  # for workers not running now
                self._app.control.revoke(chunk)
        except Exception as error:  # reported by wait() if the broker is gone
            log.warning("could not revoke %d queued photos: %s", len(queued), error)
        cancelled = []
        for task in queued:
            job = self._tasks[task]
            with self._lock:
                latest = self._latest.get(job) == task
            if latest:
                self._deliver(task, JobResult(job, CANCELLED, message=message))
                cancelled.append(job)
        return cancelled

    # -- collecting -----------------------------------------------------------------------

    def _ensure_collector(self) -> None:
        with self._lock:
            if self._collector is not None:
                return
            pattern = _text(self._backend.task_keyprefix) + "*"
            pubsub = self._backend.client.pubsub(ignore_subscribe_messages=True)
            self._call(lambda: pubsub.psubscribe(pattern))
            self._pubsub = pubsub
            self._collector = threading.Thread(
                target=self._collect, name="fibuca-cluster-results", daemon=True
            )
            self._collector.start()

    def _collect(self) -> None:
        last_sweep = time.monotonic()
        lost_since: float | None = None  # a broker that blinks is waited for, a gone one is not
        while not self._closed.is_set():
            try:
                message = self._pubsub.get_message(timeout=0.5)
                if message is not None and message.get("type") == "pmessage":
                    self._on_meta(message["channel"], message["data"])
                if lost_since is not None or time.monotonic() - last_sweep > SWEEP_S:
                    self._sweep()  # after a reconnection: what was published meanwhile
                    last_sweep = time.monotonic()
                lost_since = None
            except Exception as error:  # redis-py's ConnectionError, TimeoutError, a closed socket
                if not is_connection_error(error):
                    log.exception("the result collector failed")
                    self._fail(error)
                    return
                lost_since = lost_since or time.monotonic()
                if time.monotonic() - lost_since > RECONNECT_S:
                    log.debug("result collector stopped", exc_info=True)
                    self._fail(error)
                    return
                log.info("lost the broker (%s); reconnecting", self.broker.redact(str(error)))
                self._closed.wait(0.5)  # redis-py reconnects and subscribes again on next use

    def _sweep(self) -> None:
        with self._lock:
            pending = [t for t, state in self._state.items() if state != _DONE]
        for start in range(0, len(pending), _CHUNK):
            chunk = pending[start : start + _CHUNK]
            keys = [self._backend.get_key_for_task(task) for task in chunk]
            for key, value in zip(keys, self._backend.client.mget(keys), strict=True):
                if value is not None:
                    self._on_meta(key, value)

    def _on_meta(self, channel, data) -> None:
        key = channel.decode() if isinstance(channel, bytes) else str(channel)
        task = key.removeprefix(_text(self._backend.task_keyprefix))
        job = self._tasks.get(task)
        if job is None:
            return
        meta = self._backend.decode_result(data)
        state = meta.get("status")
        if state == states.STARTED:
            with self._lock:
                if self._state.get(task) == _QUEUED:
                    self._state[task] = _RUNNING
            return
        if state not in states.READY_STATES:
            return
        with self._lock:
            reported = self._state.get(task) == _DONE and job in self._results
            if reported and (state == states.REVOKED or self._results[job].status != CANCELLED):
                return  # already reported; a revoked one was reported by cancel()
            self._state[task] = _DONE
        self._deliver(task, result_from_meta(job, state, meta.get("result")))

    def _deliver(self, task: str, result: JobResult) -> None:
        job = self._tasks[task]
        with self._changed:
            if self._latest.get(job) != task:
                return  # an earlier try of a photo sent again
            self._results[job] = result
            self._changed.notify_all()
        if result.halts_batch and self.halted is None:
            self.halted = result.message
            log.warning("stopping the batch early: %s", result.message)
            self._stop(f"Not started: {result.message}")
        if self.on_result is not None:
            try:
                self.on_result(result)
            except Exception:
                log.exception("the result callback failed for %s", job.input)

    # -- errors ---------------------------------------------------------------------------

    def _fail(self, error: BaseException) -> None:
        with self._changed:
            if self._error is None:
                self._error = self._unavailable(error, "keep in touch with")
            self._changed.notify_all()

    def _unavailable(self, error: BaseException, verb: str) -> BrokerUnavailable:
        detail = self.broker.redact(str(error).strip().splitlines()[0] if str(error) else "")
        detail = detail or type(error).__name__
        written = " Photos written so far are complete." if self._tasks else ""
        return BrokerUnavailable(
            f"Cannot {verb} the broker {self.broker.shown} ({detail}); check that Redis runs "
            f"there and this computer can reach it.{written}"
        )

    def _call(self, function, verb: str = "reach"):
        try:
            return function()
        except BrokerUnavailable:
            raise
        except Exception as error:
            if not is_connection_error(error):
                raise
            raise self._unavailable(error, verb) from None


def _text(value: bytes | str) -> str:
    return value.decode() if isinstance(value, bytes) else value


__all__ = ["ClusterBatch", "ClusterResult"]
