"""``cluster status``: the workers online (Celery's control broadcast), their concurrency, and
the photos running and queued. Each question waits ``timeout`` seconds for replies: a worker
that does not answer within it is not counted."""

from __future__ import annotations

import logging
from concurrent.futures import ThreadPoolExecutor

from fibuca_desktop.cluster.app import QUEUE, SOCKET_TIMEOUT_S, make_app
from fibuca_desktop.cluster.broker_url import BrokerUrl
from fibuca_desktop.cluster.deadline import DEADLINE_S, within
from fibuca_desktop.cluster.errors import BrokerUnavailable

log = logging.getLogger(__name__)


def cluster_status(broker: BrokerUrl, timeout: float = 1.0) -> dict:
    """``{"broker", "workers": [{"name", "concurrency", "running", "reserved"}], "running",
    "queued"}``; raises ``BrokerUnavailable``."""
    app = make_app(broker)
    try:

        def ask() -> tuple:
            queued = _queue_length(app)
            inspect = app.control.inspect(timeout=timeout)
            with ThreadPoolExecutor(3, thread_name_prefix="fibuca-status") as pool:
                asked = [pool.submit(f) for f in (inspect.stats, inspect.active, inspect.reserved)]
                return (queued, *(future.result() or {} for future in asked))

        def overrun() -> BrokerUnavailable:
            return BrokerUnavailable(
                f"The broker {broker.shown} did not answer within {DEADLINE_S:.0f} s; check "
                "that Redis runs there and this computer can reach it."
            )

        try:
            queued, stats, active, reserved = within(DEADLINE_S, ask, overrun)
        except BrokerUnavailable:
            raise
        except Exception as error:
            detail = broker.redact(str(error).splitlines()[0] if str(error) else "")
            raise BrokerUnavailable(
                f"Cannot reach the broker {broker.shown} ({detail or type(error).__name__}); "
                "check that Redis runs there and this computer can reach it."
            ) from None
    finally:
        app.close()
    workers = [
        {
            "name": name,
            "concurrency": (info.get("pool") or {}).get("max-concurrency", 0),
            "running": len(active.get(name) or []),
            "reserved": len(reserved.get(name) or []),
        }
        for name, info in sorted(stats.items())
    ]
    return {
        "broker": broker.shown,
        "workers": workers,
        "running": sum(w["running"] for w in workers),
        "queued": queued,
    }


def _queue_length(app) -> int:
    with app.connection_for_read() as connection:
        connection.ensure_connection(max_retries=1, timeout=SOCKET_TIMEOUT_S)
        channel = connection.default_channel
        client = getattr(channel, "client", None)
        if client is not None:  # Redis: the queue is a list of that name
            return int(client.llen(QUEUE))
        try:
            return channel.queue_declare(queue=QUEUE, passive=True).message_count
        except Exception as error:  # AMQP: no such queue yet
            log.debug("queue %s: %s", QUEUE, error)
            return 0
