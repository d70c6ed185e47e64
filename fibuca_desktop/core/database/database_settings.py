"""What the Database panel remembers between runs: the last URL (never its password) and the
slow-query thresholds. A section of the typed settings file (core/settings.py)."""

from __future__ import annotations

from dataclasses import dataclass
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

from fibuca_desktop.core.errors import SettingsError


def url_without_password(text: str) -> str | None:
    """The URL with any password removed (not masked: there is nothing to unmask), or None when
    it is not a URL. What the settings file may keep. urllib, not SQLAlchemy: settings load at
    start-up, and the database libraries load only when the user connects."""
    try:
        parts = urlsplit(text.strip())
        parts.port  # noqa: B018  (raises ValueError for a port that is not a number)
    except ValueError:
        return None
    if not parts.scheme or not parts.netloc:
        return None
    netloc = parts.netloc.rpartition("@")[2]
    if parts.username is not None:
        netloc = f"{parts.username}@{netloc}"
    query = [(k, v) for k, v in parse_qsl(parts.query, keep_blank_values=True) if k != "password"]
    return urlunsplit((parts.scheme, netloc, parts.path, urlencode(query, safe="/:"), ""))


@dataclass
class DatabaseSettings:
    last_url: str | None = None  # without its password: see url_without_password
    min_mean_ms: float = 20.0
    min_calls: int = 100

    def check(self, where: str) -> None:
        if self.min_mean_ms < 0:
            raise SettingsError(f"{where}.min_mean_ms must be 0 or more, got {self.min_mean_ms}")
        if self.min_calls < 1:
            raise SettingsError(f"{where}.min_calls must be 1 or more, got {self.min_calls}")
        if self.last_url is not None and url_without_password(self.last_url) != self.last_url:
            raise SettingsError(f"{where}.last_url must be a database URL without a password")
