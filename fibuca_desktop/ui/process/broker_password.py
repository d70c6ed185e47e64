"""The broker's password for "Run on workers": typed into the URL, it is kept in the OS keyring
(service ``fibuca-desktop-broker``, user ``host:port``, as ``cluster/broker_url.py`` reads it)
or, with no keyring, in memory for this session only; never in the settings file, never shown.

No Qt and no Celery here: the Broker dialog and the runner share these few rules.
"""

from __future__ import annotations

import logging
from urllib.parse import quote, urlsplit, urlunsplit

from fibuca_desktop.core.cluster_settings import (
    KEYRING_SERVICE,
    ClusterSettings,
    broker_url_without_password,
)
from fibuca_desktop.core.database.url_parts import MASK, UrlSyntaxError, mask_url, split_url
from fibuca_desktop.core.errors import UsageError
from fibuca_desktop.core.secrets import SecretStoreUnavailable, save_secret

log = logging.getLogger(__name__)

_SESSION: dict[str, str] = {}  # host:port -> password typed this session (no keyring, or both)


def keyring_user(url: str) -> str:
    """``host:port`` of ``url``, the keyring's user name for its password."""
    parts = urlsplit(url)
    port = parts.port or (6379 if parts.scheme in ("redis", "rediss") else 5672)
    return f"{parts.hostname}:{port}"


def session_password(url: str) -> str | None:
    return _SESSION.get(keyring_user(url))


def shown_url(url: str | None) -> str:
    """The URL as a person sees it: ``redis://:***@host:6379/0`` when a password was typed."""
    if not url:
        return ""
    if session_password(url) is None:
        return url
    return _with_password(url, MASK)


def url_to_connect(url: str) -> str:
    """The URL for Celery: this session's password put in; without one, ``parse_broker_url``
    asks ``$FIBUCA_BROKER_PASSWORD`` and the keyring. Never shown, never logged."""
    password = session_password(url)
    return _with_password(url, password) if password else url


def remember_broker(cluster: ClusterSettings, text: str, password: str = "") -> str:
    """Keep ``text`` as the broker: the URL without its password in ``cluster``, the password
    (``password``, else the URL's) in the keyring or for this session. Returns a note for the
    person ("" when none); raises UsageError (never showing the password) for text that is not
    a broker URL."""
    text = text.strip()
    if not text:
        cluster.broker_url = None
        return ""
    bare = broker_url_without_password(text)
    if bare is None:
        raise UsageError(
            f"{mask_url(text)} is not a broker URL: use redis://HOST:6379/0 (a password as "
            "redis://:PASSWORD@HOST:6379/0)."
        )
    try:
        password = password or split_url(text).secret()
    except UrlSyntaxError:  # not reached: broker_url_without_password split it
        password = None
    cluster.broker_url = bare
    if not password or password == MASK:  # no password, or the one already kept
        return ""
    user = keyring_user(bare)
    _SESSION[user] = password
    try:
        save_secret(KEYRING_SERVICE, user, password)
    except SecretStoreUnavailable:
        log.info("no keyring: the broker password for %s is kept for this session only", user)
        return (
            "No OS keyring here: the broker password is kept for this session only (set "
            "$FIBUCA_BROKER_PASSWORD to keep it); it is never written to the settings file."
        )
    return "The broker password is kept in the OS keyring, never in the settings file."


def _with_password(url: str, password: str) -> str:
    parts = urlsplit(url)
    user, _, host = parts.netloc.rpartition("@")
    secret = password if password == MASK else quote(password, safe="")
    return urlunsplit(parts._replace(netloc=f"{user}:{secret}@{host}"))
