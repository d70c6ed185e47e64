"""What the Process tab remembers about running on workers (issue 16): whether Start sends the
batch to a Celery broker, and that broker's URL without its password. A section of the typed
settings file (core/settings.py); the password is kept in the OS keyring or for the session.

Pure Python: ``core`` never imports ``cluster/`` (nor Celery), so the schemes are listed here.
"""

from __future__ import annotations

from dataclasses import dataclass, replace

from fibuca_desktop.core.database.url_parts import UrlSyntaxError, split_url
from fibuca_desktop.core.errors import SettingsError

BROKER_SCHEMES = ("redis", "rediss", "amqp", "amqps", "pyamqp")
# Where a broker's password is kept in the OS keyring (user: host:port). The workers read it
# there (cluster/broker_url.py); the Process tab's Broker dialog writes it.
KEYRING_SERVICE = "fibuca-desktop-broker"


def broker_url_without_password(text: str) -> str | None:
    """The broker URL with any password removed (not masked), or None when it is not a broker
    URL. What the settings file may keep: the same rule as ``database.last_url``, split by the
    same ``url_parts`` so a password with ``@ / # ?`` in it never ends up as the host."""
    try:
        parts = split_url(text)
    except UrlSyntaxError:
        return None
    if parts.scheme not in BROKER_SCHEMES or not parts.host:
        return None
    # ``redis://:secret@host``: no user either, so nothing of ``:secret@`` is left.
    return replace(parts.without_password(), user=parts.user or None).render(masked=False)


@dataclass
class ClusterSettings:
    run_on_workers: bool = False  # Start sends the photos to the broker's workers
    broker_url: str | None = None  # without its password: see broker_url_without_password

    def check(self, where: str) -> None:
        if self.broker_url is not None and (
            broker_url_without_password(self.broker_url) != self.broker_url
        ):
            raise SettingsError(
                f"{where}.broker_url must be a broker URL such as redis://HOST:6379/0 without a "
                "password"
            )
