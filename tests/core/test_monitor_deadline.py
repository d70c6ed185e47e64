"""Every poll has a total deadline, whatever the peer does (issue 10, item 7).

Real trickling peers from tests/monitor_server.js: a body, the status line and headers, or
1-byte chunks, each one byte every ``ms`` milliseconds.
"""

from __future__ import annotations

import socket
import time
from collections.abc import Iterator

import pytest

from fibuca_desktop.core.monitor.health_source import HealthSource
from fibuca_desktop.core.monitor.http_fetch import SourceDown, fetch
from fibuca_desktop.core.monitor.metrics_source import MetricsSource
from tests.node_server import NodeServer

MODES = ("body", "headers", "chunked")
HANG_GUARD_S = 3.0  # far above the deadline: only a hang can exceed it


@pytest.fixture(scope="module")
def server() -> Iterator[NodeServer]:
    node = NodeServer()
    yield node
    node.stop()


@pytest.mark.parametrize("ms", [20, 60, 150])
@pytest.mark.parametrize("mode", MODES)
def test_a_trickling_peer_ends_at_the_deadline(server, mode, ms):
    url = f"{server.base}/trickle/{mode}?ms={ms}"
    started = time.monotonic()
    with pytest.raises(SourceDown) as caught:
        fetch(url, 0.6)
    assert caught.value.reason == "no complete answer within 0.6 s"
    assert time.monotonic() - started < HANG_GUARD_S


@pytest.mark.parametrize("kind", [HealthSource, MetricsSource])
@pytest.mark.parametrize("mode", MODES)
def test_every_source_goes_down_on_a_trickle(server, kind, mode):
    with pytest.raises(SourceDown, match=r"^no complete answer within 0\.5 s$"):
        kind(f"{server.base}/trickle/{mode}?ms=40", 0.5).poll()


@pytest.mark.parametrize("mode", MODES)
def test_a_fast_trickle_within_the_deadline_is_read_whole(server, mode):
    reading = HealthSource(f"{server.base}/trickle/{mode}?ms=1", 5.0).poll()
    assert reading.backend_status == "OK" and reading.metrics["heapUsedMB"] > 0


@pytest.mark.parametrize("scheme", ["http", "https"])
def test_a_peer_that_accepts_and_never_answers_ends_at_the_deadline(scheme):
    """TCP connects (the kernel accepts), then silence: no TLS handshake, no status line."""
    with socket.create_server(("127.0.0.1", 0)) as listener:
        port = listener.getsockname()[1]
        started = time.monotonic()
        with pytest.raises(SourceDown, match=r"^no complete answer within 0\.5 s$"):
            fetch(f"{scheme}://127.0.0.1:{port}/health", 0.5)
        assert time.monotonic() - started < HANG_GUARD_S
