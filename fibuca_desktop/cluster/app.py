"""The Celery app: one factory for workers, the submitting side and ``cluster status``.

Choices, and why:

- JSON only (``accept_content=["json"]``): a job is plain data, and no peer on the network can
  make a worker unpickle code.
- ``task_acks_late`` + ``task_reject_on_worker_lost`` + prefetch 1: a photo is acknowledged only
  once it is done; a pool process that dies mid-photo (SIGKILL, out of memory) puts it back on the
  queue at once, and no worker holds photos it has not started.
- The visibility timeout (Redis): a message taken by a worker that vanishes altogether (a whole
  machine SIGKILLed or unplugged, so nobody rejects it) goes back to the queue this long after it
  was taken (plus up to 10 s until a live worker's next sweep). It must exceed the longest
  photo, or a slow photo is delivered twice (harmless: the same name is rewritten atomically,
  but the work is done twice). Default 15 min; ``$FIBUCA_VISIBILITY_TIMEOUT`` (seconds)
  changes it, and must be the same for every process of the cluster.
- Timeouts everywhere: connecting, every socket read, publishing and storing a result give up
  after a few seconds and bounded retries, so a dead broker is an error, not a hang.
"""

from __future__ import annotations

import os

from celery import Celery

from fibuca_desktop.cluster.broker_url import BrokerUrl
from fibuca_desktop.core.errors import UsageError

QUEUE = "fibuca"
TASK_NAME = "fibuca.process_photo"
DEFAULT_VISIBILITY_TIMEOUT_S = 15 * 60
ENV_VISIBILITY_TIMEOUT = "FIBUCA_VISIBILITY_TIMEOUT"
ENV_RESULT_BACKEND = "FIBUCA_RESULT_BACKEND"
SOCKET_TIMEOUT_S = 5.0
# Publishing a task or storing a result: 3 tries within ~2 s beyond the socket timeouts.
_BOUNDED_RETRY = {"max_retries": 2, "interval_start": 0, "interval_step": 0.5, "interval_max": 1}
RESULT_EXPIRES_S = 24 * 3600  # results the submitter did not collect are dropped after a day
# Photos a submitter cancelled, kept in the result store too: Celery keeps revocations only in
# the memory of the workers running at the time, so a worker started after every one of them
# stopped would run the cancelled photos. Kept as long as results are.
REVOKED_KEY = "fibuca:revoked"


def visibility_timeout() -> int:
    text = os.environ.get(ENV_VISIBILITY_TIMEOUT, "").strip()
    if not text:
        return DEFAULT_VISIBILITY_TIMEOUT_S
    try:
        seconds = int(text)
    except ValueError:
        seconds = 0
    if seconds < 1:
        raise UsageError(
            f"${ENV_VISIBILITY_TIMEOUT} must be a whole number of seconds, not {text!r}."
        )
    return seconds


def result_backend_for(broker: BrokerUrl) -> str:
    """The result store: ``$FIBUCA_RESULT_BACKEND``, else the Redis broker itself."""
    backend = os.environ.get(ENV_RESULT_BACKEND, "").strip()
    if backend:
        return backend
    if not broker.is_redis:
        raise UsageError(
            f"Results are kept in Redis: with the broker {broker.shown}, set "
            f"${ENV_RESULT_BACKEND} to redis://HOST:6379/1."
        )
    return broker.url


def _transport_options(visibility: int, sockets: dict) -> dict:
    """Redis: a vanished worker's message goes back to the queue once ``visibility`` seconds
    old, at the next sweep of any live worker (every ``restore`` seconds; kombu's default
    would sweep only every 100 s)."""
    restore = max(1, min(10, visibility // 5))
    return {
        "visibility_timeout": visibility,
        "unacked_restore_interval": restore,
        "unacked_restore_throttle": 1,
        **sockets,
    }


def make_app(broker: BrokerUrl, *, worker: bool = False) -> Celery:
    """A Celery app for ``broker``. ``worker``: the worker's own retry rules (it reconnects
    for a while after the broker restarts; the submitting side fails fast)."""
    app = Celery("fibuca_desktop", set_as_current=False)
    sockets = {
        "socket_timeout": SOCKET_TIMEOUT_S,
        "socket_connect_timeout": SOCKET_TIMEOUT_S,
        "socket_keepalive": True,
    }
    app.conf.update(
        broker_url=broker.url,
        result_backend=result_backend_for(broker),
        task_serializer="json",
        result_serializer="json",
        accept_content=["json"],
        result_accept_content=["json"],
        event_serializer="json",
        task_acks_late=True,
        task_reject_on_worker_lost=True,
        worker_prefetch_multiplier=1,
        task_default_queue=QUEUE,
        task_track_started=True,
        result_expires=RESULT_EXPIRES_S,
        result_extended=False,
        broker_connection_timeout=SOCKET_TIMEOUT_S,
        broker_connection_retry=worker,
        broker_connection_retry_on_startup=worker,
        broker_connection_max_retries=30 if worker else 1,
        broker_channel_error_retry=worker,
        broker_transport_options=_transport_options(visibility_timeout(), sockets),
        result_backend_transport_options={"retry_policy": _BOUNDED_RETRY},
        redis_socket_timeout=SOCKET_TIMEOUT_S,
        redis_socket_connect_timeout=SOCKET_TIMEOUT_S,
        redis_retry_on_timeout=False,
        redis_backend_health_check_interval=10,
        task_publish_retry=True,
        task_publish_retry_policy=_BOUNDED_RETRY,
        worker_send_task_events=False,
        worker_hijack_root_logger=False,
        worker_redirect_stdouts=False,
        worker_cancel_long_running_tasks_on_connection_loss=False,
        worker_deduplicate_successful_tasks=False,
        broker_pool_limit=4,
    )
    return app


def remember_revoked(client, task_ids: list[str]) -> None:
    """Add ``task_ids`` to the cancelled photos in Redis (``client``: the result store's)."""
    if task_ids:
        with client.pipeline() as pipe:
            pipe.sadd(REVOKED_KEY, *task_ids)
            pipe.expire(REVOKED_KEY, RESULT_EXPIRES_S)
            pipe.execute()


def was_revoked(client, task_id: str) -> bool:
    return bool(client.sismember(REVOKED_KEY, task_id))
