"""The broker URL: from the command line, ``$FIBUCA_BROKER_URL`` or the settings, with its
password from the URL, the environment or the OS keyring, and never shown.

Password rules (core/secrets.py): a password is never printed or logged. ``redact`` replaces it
in every message this package writes, and ``BrokerUrl.shown`` is the only form a person sees.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from urllib.parse import quote, unquote, urlsplit, urlunsplit

from fibuca_desktop.core.cluster_settings import BROKER_SCHEMES as SCHEMES
from fibuca_desktop.core.cluster_settings import KEYRING_SERVICE
from fibuca_desktop.core.errors import UsageError
from fibuca_desktop.core.secrets import read_secret

ENV_URL = "FIBUCA_BROKER_URL"
ENV_PASSWORD = "FIBUCA_BROKER_PASSWORD"
_REDIS = ("redis", "rediss")


@dataclass(frozen=True)
class BrokerUrl:
    """A broker URL with its password kept apart from what is shown."""

    url: str = field(repr=False)  # with the password: for Celery only
    shown: str  # ``redis://:***@host:6379/0``: for people and logs
    password: str | None = field(default=None, repr=False)

    def __str__(self) -> str:
        return self.shown

    @property
    def is_redis(self) -> bool:
        return urlsplit(self.url).scheme in _REDIS

    def redact(self, text: str) -> str:
        """``text`` with this URL's password (raw or quoted) replaced by ``***``."""
        return redact(text, self.password)


def redact(text: str, password: str | None) -> str:
    if not password:
        return text
    for form in {password, quote(password, safe=""), quote(password)}:
        if form:
            text = text.replace(form, "***")
    return text


def parse_broker_url(text: str | None, source: str = "--broker") -> BrokerUrl:
    """Parse ``text`` (None: ``$FIBUCA_BROKER_URL``); the password, when the URL has none, from
    ``$FIBUCA_BROKER_PASSWORD`` or the OS keyring (service ``fibuca-desktop-broker``, user
    ``host:port``). Raises UsageError, never showing the password."""
    if not text:
        text, source = os.environ.get(ENV_URL, "").strip(), f"${ENV_URL}"
    if not text:
        raise UsageError(
            f"No broker given: use --broker redis://HOST:6379/0, or set ${ENV_URL} (which keeps a "
            "password off the command line)."
        )
    try:
        parts = urlsplit(text.strip())
        port = parts.port
    except ValueError as error:
        raise UsageError(f"{source} is not a URL ({_no_secret(str(error), text)}).") from None
    password = unquote(parts.password) if parts.password else None
    if parts.scheme not in SCHEMES or not parts.hostname:
        shown = _render(parts, "***" if password else None)
        raise UsageError(
            f"{source} {shown} is not a broker URL; use redis://HOST:6379/0 (or amqp://HOST:5672//)."
        )
    if password is None:
        user_key = f"{parts.hostname}:{port or _default_port(parts.scheme)}"
        password = os.environ.get(ENV_PASSWORD) or read_secret(KEYRING_SERVICE, user_key)
    url = _render(parts, password)
    return BrokerUrl(url, _render(parts, "***" if password else None), password)


def _default_port(scheme: str) -> int:
    return 6379 if scheme in _REDIS else 5672


def _render(parts, password: str | None) -> str:
    host = parts.hostname or ""
    if ":" in host:
        host = f"[{host}]"
    if parts.port:
        host = f"{host}:{parts.port}"
    user = quote(unquote(parts.username), safe="") if parts.username else ""
    if password is not None:
        secret = password if password == "***" else quote(password, safe="")
        host = f"{user}:{secret}@{host}"
    elif user:
        host = f"{user}@{host}"
    return urlunsplit((parts.scheme, host, parts.path, parts.query, ""))


def _no_secret(message: str, text: str) -> str:
    """An error about an unparsable URL, without the part between ``:`` and ``@``."""
    head, at, _ = text.rpartition("@")
    if at and ":" in head:
        return redact(message, head.split(":")[-1])
    return message
