"""One bounded HTTP(S) GET for the remote sources: total deadline, size cap, certificates, token.

The deadline is a wall-clock budget over connect + TLS + request + headers + body, enforced on
every socket operation with the time that is left (a socket timeout set to the remaining budget
before each receive), so a peer sending one byte every 0.1 s, trickling its headers or its
chunks still ends at the deadline. Name resolution is the one step a socket cannot bound; the
poller reports a poll past its deadline as DOWN whatever its thread is doing.

Every failure becomes ``SourceDown`` with a short reason a person can read beside the target
("connection refused", "no complete answer within 2.0 s", "HTTP 500 Internal Server Error").
Tokens and passwords never reach the logs: URLs are logged through ``mask_url``, headers never.

We never ask for compression, yet some servers (a proxy, a framework's middleware) gzip anyway.
Such a body (``Content-Encoding: gzip`` or gzip's magic bytes) is decompressed here, under the
same size cap as the wire bytes, so a decompression bomb is refused like an oversized body.
"""

from __future__ import annotations

import base64
import functools
import http.client
import io
import ipaddress
import logging
import os
import socket
import ssl
import threading
import time
import urllib.error
import urllib.request
import zlib
from dataclasses import dataclass
from urllib.parse import unquote, urlsplit, urlunsplit

from fibuca_desktop.core.errors import FibucaError
from fibuca_desktop.core.secrets import read_secret

from . import abort

log = logging.getLogger(__name__)

DEFAULT_MAX_BYTES = 1_000_000
_CHUNK = 64 * 1024
_GZIP_MAGIC = b"\x1f\x8b"


MAX_REASON = 160


class SourceDown(FibucaError):
    """A remote target could not be read; ``reason`` says why, in a few words.

    A reason often quotes the peer (a status line's phrase, a redirect's Location), so it is
    made one printable line of at most ``MAX_REASON`` characters here, whoever raises it: no
    terminal escape reaches the CLI, no 60 kB phrase the table, the log or a notification.
    """

    def __init__(self, reason: str) -> None:
        reason = one_line(reason)
        super().__init__(reason)
        self.reason = reason


def one_line(text: str, limit: int = MAX_REASON) -> str:
    """``text`` as one line of printable characters (runs of others become one space), cut."""
    text = "".join(c if c.isprintable() else " " for c in text[: limit * 4])
    text = " ".join(text.split())
    return text if len(text) <= limit else text[: limit - 1] + "…"


def mask_url(url: str) -> str:
    """The URL with any password replaced by ``***``, for logs and messages.

    A URL too broken to split is shown only when it has no ``@`` (so no password) in it."""
    try:
        parts = urlsplit(url)
    except ValueError:
        return "(an address that is not a valid URL)" if "@" in url else url
    if parts.password is None:
        return url
    host = parts.netloc.rsplit("@", 1)[1]
    return urlunsplit(parts._replace(netloc=f"{parts.username or ''}:***@{host}"))


def _human_size(n: int) -> str:
    if n >= 1_000_000:
        return f"{n / 1_000_000:g} MB"
    if n >= 1_000:
        return f"{n / 1_000:g} kB"
    return f"{n} bytes"


def _is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def _request(url: str, token: str | None) -> tuple[urllib.request.Request, str]:
    """A request without userinfo in the URL; credentials go in an unredirected header."""
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise SourceDown(f"invalid URL {mask_url(url)!r}: expected http:// or https://")
    auth = None
    if "@" in parts.netloc:
        user = unquote(parts.username or "")
        password = unquote(parts.password or "")
        parts = parts._replace(netloc=parts.netloc.rsplit("@", 1)[1])
        basic = base64.b64encode(f"{user}:{password}".encode()).decode("ascii")
        auth = f"Basic {basic}"
    if token:
        auth = f"Bearer {token}"
    request = urllib.request.Request(
        urlunsplit(parts), headers={"Accept": "application/json, text/plain;q=0.9, */*;q=0.5"}
    )
    if auth:
        # Unredirected: a redirect to another host must not carry the credentials along.
        request.add_unredirected_header("Authorization", auth)
    return request, parts.hostname or ""


def _reason(error: BaseException, timeout_s: float) -> str:
    """A short human reason for a failed request."""
    if isinstance(error, urllib.error.HTTPError):
        if 300 <= error.code < 400 and "infinite loop" in str(error.reason):
            return f"HTTP {error.code}: the redirects go round in a loop (or more than 10)"
        return f"HTTP {error.code} {error.reason}".rstrip()
    if isinstance(error, urllib.error.URLError) and isinstance(error.reason, BaseException):
        error = error.reason
    if isinstance(error, ssl.SSLCertVerificationError):
        return f"certificate verify failed: {error.verify_message}"
    if isinstance(error, TimeoutError):
        return f"no complete answer within {timeout_s:.1f} s"
    if isinstance(error, ConnectionRefusedError):
        return "connection refused"
    if isinstance(error, ConnectionResetError):
        return "connection reset by the server"
    if isinstance(error, socket.gaierror):
        return "host name not found"
    if isinstance(error, http.client.RemoteDisconnected | http.client.IncompleteRead):
        return "connection closed by the server before the response was complete"
    if isinstance(error, ssl.SSLError):
        return f"TLS error: {error.reason or error}"
    if isinstance(error, urllib.error.URLError):
        return str(error.reason)
    return str(error) or type(error).__name__


def _remaining(deadline: float) -> float:
    """Seconds left before ``deadline`` (monotonic); raises TimeoutError once it has passed."""
    left = deadline - time.monotonic()
    if left <= 0:
        raise TimeoutError("deadline passed")
    return left


class _DeadlineReader(io.RawIOBase):
    """A socket's reads, each bounded by the time left before the deadline."""

    def __init__(self, sock: socket.socket, deadline: float) -> None:
        super().__init__()
        self._sock = sock
        self._raw = sock.makefile("rb", buffering=0)  # keeps the socket open until closed
        self._deadline = deadline

    def readable(self) -> bool:
        return True

    def readinto(self, buffer) -> int:
        self._sock.settimeout(_remaining(self._deadline))
        count = self._raw.readinto(buffer)
        if count and time.monotonic() > self._deadline:
            raise TimeoutError("deadline passed")
        return count

    def close(self) -> None:
        self._raw.close()
        super().close()


class _DeadlineResponse(http.client.HTTPResponse):
    """An HTTPResponse whose status line, headers and body are all read before the deadline."""

    def __init__(self, sock: socket.socket, *args, deadline: float, **kwargs) -> None:
        super().__init__(sock, *args, **kwargs)
        self.fp.close()  # nothing read yet; the socket stays open for ours
        self.fp = io.BufferedReader(_DeadlineReader(sock, deadline))


class _DeadlineConnection:
    """Mixed into http.client's connections: every step gets only the time left of one deadline,
    and every socket is registered so quitting can end a read blocked on a slow peer."""

    def __init__(self, *args, deadline: float, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self._deadline = deadline
        self.response_class = functools.partial(_DeadlineResponse, deadline=deadline)

    def _connect_tcp(self) -> None:
        self.timeout = _remaining(self._deadline)
        http.client.HTTPConnection.connect(self)  # TCP (and a proxy tunnel)
        abort.register(self.sock)


class _DeadlineHTTPConnection(_DeadlineConnection, http.client.HTTPConnection):
    def connect(self) -> None:
        self._connect_tcp()


class _DeadlineHTTPSConnection(_DeadlineConnection, http.client.HTTPSConnection):
    def connect(self) -> None:
        self._connect_tcp()
        # The handshake is bounded as a whole by the socket timeout (CPython's ssl module).
        self.sock.settimeout(_remaining(self._deadline))
        host = self._tunnel_host or self.host
        self.sock = self._context.wrap_socket(self.sock, server_hostname=host)
        abort.register(self.sock)


class _DeadlineHTTPHandler(urllib.request.HTTPHandler):
    def __init__(self, deadline: float) -> None:
        super().__init__()
        self._deadline = deadline

    def http_open(self, req):
        connection = functools.partial(_DeadlineHTTPConnection, deadline=self._deadline)
        return self.do_open(connection, req)


_tls_lock = threading.Lock()
_tls_contexts: dict[tuple[str | None, str | None], ssl.SSLContext] = {}


def tls_context() -> ssl.SSLContext:
    """The certificate-verifying context every poll shares (an SSLContext is thread-safe).

    Making one reads and parses the system's whole CA store: about 20 ms of CPU with the GIL
    held. Made per poll (http:// ones too), 150 targets at 0.5 s saturated the CPU, so the
    healthy targets missed their deadlines and the run overran its --duration. A new one is
    made only when ``SSL_CERT_FILE`` or ``SSL_CERT_DIR`` (where it reads from) change."""
    where = (os.environ.get("SSL_CERT_FILE"), os.environ.get("SSL_CERT_DIR"))
    with _tls_lock:
        context = _tls_contexts.get(where)
        if context is None:
            _tls_contexts.clear()
            context = _tls_contexts[where] = ssl.create_default_context()
        return context


class _DeadlineHTTPSHandler(urllib.request.HTTPSHandler):
    def __init__(self, deadline: float) -> None:
        super().__init__(context=tls_context())
        self._deadline = deadline

    def https_open(self, req):
        connection = functools.partial(_DeadlineHTTPSConnection, deadline=self._deadline)
        return self.do_open(connection, req, context=self._context)


@dataclass(frozen=True)
class Body:
    """A response body (decompressed when the server gzipped it) and its ``Content-Type``."""

    data: bytes
    content_type: str = ""


def fetch(
    url: str, timeout_s: float, max_bytes: int = DEFAULT_MAX_BYTES, token: str | None = None
) -> bytes:
    """GET ``url`` and return the body, or raise ``SourceDown`` with the reason.

    HTTPS certificates are verified against the system store. ``timeout_s`` is a total deadline
    for the whole exchange, redirects included, whatever the peer does (see the module doc).
    Bodies over ``max_bytes`` are refused unread, before or after decompression.
    """
    return fetch_body(url, timeout_s, max_bytes, token).data


def fetch_body(
    url: str, timeout_s: float, max_bytes: int = DEFAULT_MAX_BYTES, token: str | None = None
) -> Body:
    """``fetch``, also returning the ``Content-Type`` (a /metrics body may be OpenMetrics)."""
    request, host = _request(url, token)
    deadline = time.monotonic() + timeout_s
    # A proxy cannot reach this machine's loopback; elsewhere honour HTTP(S)_PROXY / NO_PROXY.
    proxies = urllib.request.ProxyHandler({} if _is_loopback(host) else None)
    opener = urllib.request.build_opener(
        proxies, _DeadlineHTTPHandler(deadline), _DeadlineHTTPSHandler(deadline)
    )
    too_big = SourceDown(f"response larger than {_human_size(max_bytes)}")
    log.debug("GET %s (timeout %.1f s)", mask_url(url), timeout_s)
    try:
        with opener.open(request, timeout=timeout_s) as response:
            content_type = response.headers.get("Content-Type") or ""
            encoding = (response.headers.get("Content-Encoding") or "").strip().lower()
            length = response.headers.get("Content-Length")
            if length and length.isdigit() and int(length) > max_bytes:
                raise too_big
            chunks: list[bytes] = []
            size = 0
            while size <= max_bytes:
                chunk = response.read(min(_CHUNK, max_bytes + 1 - size))
                if not chunk:
                    break
                chunks.append(chunk)
                size += len(chunk)
    except SourceDown:
        raise
    except (OSError, http.client.HTTPException, ValueError) as error:
        if isinstance(error, urllib.error.HTTPError):
            error.close()
        down = SourceDown(_reason(error, timeout_s))
        log.debug("GET %s failed: %s", mask_url(url), down.reason)
        raise down from None
    if size > max_bytes:
        raise too_big
    data = b"".join(chunks)
    if encoding in ("gzip", "x-gzip") or data.startswith(_GZIP_MAGIC):
        data = gunzip(data, max_bytes)
    return Body(data, content_type)


def gunzip(data: bytes, max_bytes: int) -> bytes:
    """Decompress gzip ``data`` (every member), refusing more than ``max_bytes`` of output.

    Output is produced at most ``max_bytes + 1`` bytes at a time, so a bomb (1 GB of zeros in
    1 MB) costs no more memory than an honest body before it is refused."""
    out: list[bytes] = []
    size = 0
    try:
        while data:
            inflater = zlib.decompressobj(wbits=31)  # 31: gzip header and trailer
            while True:
                chunk = inflater.decompress(data, max_bytes + 1 - size)
                out.append(chunk)
                size += len(chunk)
                data = inflater.unconsumed_tail
                if size > max_bytes or inflater.eof or not (chunk or data):
                    break
            if size > max_bytes:
                raise SourceDown(f"response larger than {_human_size(max_bytes)} once unzipped")
            if not inflater.eof:
                raise SourceDown("unparsable body: gzip data cut short")
            data = inflater.unused_data.lstrip(b"\0")  # members may follow; padding may not
    except zlib.error as error:
        raise SourceDown(f"unparsable body: broken gzip data ({error})") from None
    return b"".join(out)


def token_from(
    env_var: str | None, keyring_service: str | None, keyring_user: str = "token"
) -> str | None:
    """The bearer token from ``$env_var``, else from the OS keyring, else None; never raises.

    The keyring is optional: when the ``keyring`` package or a backend is missing this returns
    None. Tokens are never written to the settings file, only their source is.
    """
    if env_var:
        value = os.environ.get(env_var, "").strip()
        if value:
            return value
    if not keyring_service:
        return None
    return read_secret(keyring_service, keyring_user)


class HttpSource:
    """What every HTTP target shares: its URL, a timeout, a size cap and a token kept out of
    ``repr`` and logs. Subclasses parse the body in ``poll``."""

    def __init__(
        self,
        url: str,
        timeout_s: float,
        token: str | None = None,
        max_bytes: int = DEFAULT_MAX_BYTES,
    ) -> None:
        self.url = url
        self.timeout_s = timeout_s
        self.max_bytes = max_bytes
        self._token = token

    def __repr__(self) -> str:
        return f"{type(self).__name__}({mask_url(self.url)!r}, timeout_s={self.timeout_s})"

    def _fetch(self) -> bytes:
        """One request, blocking, bounded by ``timeout_s``; raises ``SourceDown``."""
        return self._fetch_body().data

    def _fetch_body(self) -> Body:
        """``_fetch`` with the ``Content-Type``."""
        return fetch_body(self.url, self.timeout_s, self.max_bytes, self._token)
