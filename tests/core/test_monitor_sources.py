"""Remote sources against a real Node.js server (tests/monitor_server.js) on 127.0.0.1."""

from __future__ import annotations

import json
import logging
import shutil
import ssl
import subprocess
import sys
import types
from collections.abc import Iterator
from pathlib import Path

import pytest

from fibuca_desktop.core.errors import FibucaError
from fibuca_desktop.core.monitor.health_source import HealthSource, parse_health
from fibuca_desktop.core.monitor.http_fetch import SourceDown, fetch, mask_url, token_from
from fibuca_desktop.core.monitor.metrics_source import MetricsSource, parse_prometheus
from tests.node_server import NodeServer

MB = 1024 * 1024


@pytest.fixture(scope="module")
def server() -> Iterator[NodeServer]:
    node = NodeServer()
    yield node
    node.stop()


# --- against the real server -------------------------------------------------------------


def test_health_reading_is_what_the_server_sent(server):
    reading = HealthSource(server.base + "/health", 2.0).poll()
    sent = server.json("/last")
    assert reading.metrics == {name: float(v) for name, v in sent["memory"].items()}
    assert reading.metrics["rssMB"] > reading.metrics["heapUsedMB"] > 0
    assert reading.backend_status == sent["status"] == "OK"
    assert reading.timestamp == sent["timestamp"]


def test_heap_grows_after_allocation_and_shrinks_after_free(server):
    source = HealthSource(server.base + "/health", 2.0)
    before = source.poll().metrics["heapUsedMB"]
    try:
        server.json("/allocate?mb=100")
        grown = source.poll().metrics["heapUsedMB"]
    finally:
        assert server.json("/free")["gc"] is True
    freed = source.poll().metrics["heapUsedMB"]
    assert grown - before >= 90
    assert grown - freed >= 90


@pytest.mark.parametrize("query", ["", "?prefix=myapp_", "?labels=1", "?prefix=svc_&labels=1"])
def test_metrics_reading_is_what_the_server_sent(server, query):
    reading = MetricsSource(server.base + "/metrics" + query, 2.0).poll()
    sent = server.json("/last")
    assert reading.metrics == {
        "heapUsedMB": sent["heapUsed"] / MB,
        "heapTotalMB": sent["heapTotal"] / MB,
        "externalMB": sent["external"] / MB,
        "rssMB": sent["rss"] / MB,
    }
    assert reading.backend_status is None


def test_metrics_heap_follows_allocation(server):
    source = MetricsSource(server.base + "/metrics?prefix=myapp_", 2.0)
    before = source.poll().metrics["heapUsedMB"]
    try:
        server.json("/allocate?mb=50")
        grown = source.poll().metrics["heapUsedMB"]
    finally:
        server.json("/free")
    assert grown - before >= 45


def test_hang_is_reported_as_a_timeout(server):
    with pytest.raises(SourceDown) as caught:
        fetch(server.base + "/hang", 0.5)
    assert caught.value.reason == "no complete answer within 0.5 s"


@pytest.mark.parametrize(
    ("path", "reason"),
    [("/error", "HTTP 500 Internal Server Error"), ("/nowhere", "HTTP 404 Not Found")],
)
def test_http_errors_carry_status_and_reason(server, path, reason):
    with pytest.raises(SourceDown, match=f"^{reason}$"):
        HealthSource(server.base + path, 2.0).poll()


def test_garbage_body_is_unparsable(server):
    with pytest.raises(SourceDown, match=r"^unparsable body: not JSON"):
        HealthSource(server.base + "/garbage", 2.0).poll()
    with pytest.raises(SourceDown, match=r"^unparsable body: no Prometheus samples"):
        MetricsSource(server.base + "/garbage", 2.0).poll()


@pytest.mark.parametrize("query", ["", "?chunked=1"])
def test_size_cap(server, query):
    with pytest.raises(SourceDown, match=r"^response larger than 1 MB$"):
        fetch(server.base + "/big" + query, 2.0)
    assert len(fetch(server.base + "/big" + query, 2.0, max_bytes=3_000_000)) == 2 * MB


def test_bearer_token(server):
    url = server.base + "/auth/health"
    assert HealthSource(url, 2.0, token="s3cret").poll().backend_status == "OK"
    for token in (None, "wrong"):
        with pytest.raises(SourceDown, match=r"^HTTP 401 Unauthorized$"):
            HealthSource(url, 2.0, token=token).poll()


def test_secrets_never_reach_the_logs(server, caplog):
    caplog.set_level(logging.DEBUG, logger="fibuca_desktop")
    source = HealthSource(server.base + "/auth/health", 2.0, token="s3cret")
    source.poll()
    with pytest.raises(SourceDown):
        HealthSource(server.base + "/auth/health", 2.0, token="s3cretX").poll()
    with_password = f"http://user:s3cret@127.0.0.1:{server.port}/auth/health"
    assert HealthSource(with_password, 2.0).poll().metrics["heapUsedMB"] > 0
    assert f"GET {server.base}/auth/health" in caplog.text  # the logging did happen
    assert "user:***@127.0.0.1" in caplog.text
    assert "s3cret" not in caplog.text
    assert "s3cret" not in repr(source)


def test_loopback_bypasses_a_configured_proxy(server, monkeypatch):
    monkeypatch.setenv("http_proxy", "http://127.0.0.1:9")  # nothing listens there
    monkeypatch.setenv("HTTP_PROXY", "http://127.0.0.1:9")
    assert HealthSource(server.base + "/health", 2.0).poll().backend_status == "OK"


def test_stopped_server_is_connection_refused():
    node = NodeServer()
    url = node.base + "/health"
    assert HealthSource(url, 2.0).poll().backend_status == "OK"
    node.stop()
    with pytest.raises(SourceDown, match=r"^connection refused$") as caught:
        HealthSource(url, 2.0).poll()
    assert isinstance(caught.value, FibucaError)


@pytest.fixture(scope="module")
def tls_files(tmp_path_factory) -> tuple[Path, Path]:
    if shutil.which("openssl") is None:
        pytest.skip("the openssl command is needed to make a test certificate")
    folder = tmp_path_factory.mktemp("tls")
    cert, key = folder / "cert.pem", folder / "key.pem"
    subprocess.run(
        ["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "2",
         "-subj", "/CN=127.0.0.1", "-addext", "subjectAltName=IP:127.0.0.1",
         "-keyout", str(key), "-out", str(cert)],
        check=True, capture_output=True,
    )  # fmt: skip
    return cert, key


def test_https_verifies_certificates(tls_files, monkeypatch):
    cert, key = tls_files
    env = {"PATH": "/usr/bin:/bin", "TLS_CERT": str(cert), "TLS_KEY": str(key)}
    node = NodeServer(env=env, scheme="https")
    try:
        with pytest.raises(SourceDown, match=r"^certificate verify failed: self.signed"):
            HealthSource(node.base + "/health", 2.0).poll()
        monkeypatch.setenv("SSL_CERT_FILE", str(cert))  # now trusted: the same URL works
        assert HealthSource(node.base + "/health", 2.0).poll().backend_status == "OK"
    finally:
        node.stop()


@pytest.mark.parametrize("mode", ["body", "headers", "chunked"])
def test_https_trickles_end_at_the_deadline_and_fast_ones_are_read(tls_files, monkeypatch, mode):
    cert, key = tls_files
    env = {"PATH": "/usr/bin:/bin", "TLS_CERT": str(cert), "TLS_KEY": str(key)}
    node = NodeServer(env=env, scheme="https")
    monkeypatch.setenv("SSL_CERT_FILE", str(cert))
    try:
        assert HealthSource(f"{node.base}/trickle/{mode}?ms=1", 5.0).poll().backend_status == "OK"
        with pytest.raises(SourceDown, match=r"^no complete answer within 0\.6 s$"):
            fetch(f"{node.base}/trickle/{mode}?ms=60", 0.6)
    finally:
        node.stop()


def test_invalid_url_is_down_with_a_reason():
    with pytest.raises(SourceDown, match=r"^invalid URL 'ftp://127.0.0.1/health'"):
        fetch("ftp://127.0.0.1/health", 1.0)


# --- tokens and URLs ----------------------------------------------------------------------


def test_token_from_environment_first(monkeypatch):
    monkeypatch.setenv("FIBUCA_TEST_TOKEN", " abc \n")
    monkeypatch.setitem(sys.modules, "keyring", None)  # an import would fail
    assert token_from("FIBUCA_TEST_TOKEN", "svc") == "abc"
    monkeypatch.setenv("FIBUCA_TEST_TOKEN", "")
    assert token_from("FIBUCA_TEST_TOKEN", "svc") is None  # keyring missing: None, no raise
    assert token_from(None, None) is None


def test_token_from_keyring(monkeypatch):
    def get_password(service, user):
        if service == "broken":
            raise RuntimeError("no backend")
        return {"svc": "from-keyring"}.get(service)

    fake = types.SimpleNamespace(get_password=get_password)
    monkeypatch.setitem(sys.modules, "keyring", fake)
    monkeypatch.delenv("FIBUCA_TEST_TOKEN", raising=False)
    assert token_from("FIBUCA_TEST_TOKEN", "svc") == "from-keyring"
    assert token_from(None, "other") is None
    assert token_from(None, "broken") is None


def test_mask_url():
    assert mask_url("https://u:pw@h:1/x?y=1") == "https://u:***@h:1/x?y=1"
    assert mask_url("https://h/x") == "https://h/x"


# --- parsing ------------------------------------------------------------------------------


def test_parse_health_is_tolerant():
    body = {
        "status": "WARNING",
        "memory": {"heapUsedMB": 360, "heapTotalMB": "400.5", "externalMB": True, "extra": 1},
        "timestamp": "2024-01-01T00:00:00Z",
        "version": {"nested": [1, 2]},
    }
    reading = parse_health(json.dumps(body).encode())
    assert reading.metrics == {
        "heapUsedMB": 360.0,
        "heapTotalMB": 400.5,
        "externalMB": None,
        "rssMB": None,
    }
    assert reading.backend_status == "WARNING"
    assert reading.timestamp == "2024-01-01T00:00:00Z"


@pytest.mark.parametrize("bad", ["abc", "NaN", "-5", None, [1], {"v": 1}, "Infinity"])
def test_parse_health_bad_numbers_are_gaps(bad):
    body = json.dumps({"memory": {"heapUsedMB": bad, "rssMB": 10}}).encode()
    assert parse_health(body).metrics == {
        "heapUsedMB": None,
        "heapTotalMB": None,
        "externalMB": None,
        "rssMB": 10.0,
    }


def test_parse_health_flat_and_empty_objects():
    flat = parse_health(b'{"heapUsedMB": 1.5, "rssMB": 20, "memory": "n/a", "status": 3}')
    assert flat.metrics["heapUsedMB"] == 1.5 and flat.metrics["rssMB"] == 20.0
    assert flat.backend_status == "3"
    empty = parse_health(b"{}")
    assert set(empty.metrics.values()) == {None}
    assert empty.backend_status is None and empty.timestamp is None


@pytest.mark.parametrize(
    ("body", "reason"),
    [
        (b"", "not JSON"),
        (b"<html>", "not JSON"),
        (b"\xff\xfe\x00garbage", "not JSON"),
        (b"[1, 2]", "expected a JSON object, got an array"),
        (b'"OK"', "expected a JSON object, got a string"),
        (b"null", "expected a JSON object, got null"),
    ],
)
def test_parse_health_unparsable(body, reason):
    with pytest.raises(SourceDown, match=rf"^unparsable body: {reason}"):
        parse_health(body)


PROM = """\
# HELP app_process_resident_memory_bytes Resident memory size in bytes.
# TYPE app_process_resident_memory_bytes gauge
app_process_resident_memory_bytes 104857600 1700000000000
app_nodejs_heap_size_used_bytes{instance="a",path="x}y"} 1048576
app_nodejs_heap_size_used_bytes{instance="b"} 2097152
app_nodejs_heap_size_total_bytes{space="all"} 1e7
app_nodejs_heap_size_total_bytes 5.24288e6
app_nodejs_external_memory_bytes NaN
nodejs_heap_space_size_used_bytes{space="old"} 999999999
other_prefix_nodejs_heap_size_used_bytes 123
"""


def test_parse_prometheus_tricky_text():
    assert parse_prometheus(PROM) == {
        "heapUsedMB": 3.0,  # no unlabelled sample: the labelled ones are summed
        "heapTotalMB": 5.0,  # the unlabelled sample wins over labelled ones
        "externalMB": None,  # NaN is a gap
        "rssMB": 100.0,  # a trailing timestamp is ignored
    }


@pytest.mark.parametrize("value", ["+Inf", "-Inf", "NaN", "-1"])
def test_parse_prometheus_non_finite_is_a_gap(value):
    text = f"nodejs_heap_size_used_bytes {value}\nprocess_resident_memory_bytes 1048576\n"
    assert parse_prometheus(text) == {
        "heapUsedMB": None,
        "heapTotalMB": None,
        "externalMB": None,
        "rssMB": 1.0,
    }


def test_parse_prometheus_without_our_metrics_is_all_gaps():
    assert set(parse_prometheus('up 1\nhttp_requests_total{code="200"} 7\n').values()) == {None}


@pytest.mark.parametrize("text", ["", "# only comments\n", "<html>Not Found</html>", '{"a": 1}'])
def test_parse_prometheus_unparsable(text):
    with pytest.raises(SourceDown, match=r"^unparsable body: no Prometheus samples"):
        parse_prometheus(text)


def test_polls_share_one_tls_context_however_many(server, monkeypatch):
    """Parsing the CA store costs ~20 ms of CPU with the GIL held: once, not per poll."""
    loads = []
    real = ssl.SSLContext.load_default_certs
    monkeypatch.setattr(
        ssl.SSLContext, "load_default_certs", lambda self, *a: loads.append(1) or real(self, *a)
    )
    monkeypatch.setenv("SSL_CERT_DIR", "/nonexistent-so-a-fresh-context-is-made-once")
    for _ in range(20):
        HealthSource(server.base + "/health", 2.0).poll()
    assert len(loads) <= 1
