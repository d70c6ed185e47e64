"""What the Database panel remembers between runs: the last URL (never its password) and the
slow-query thresholds. A section of the typed settings file (core/settings.py)."""

from __future__ import annotations

from dataclasses import dataclass

from fibuca_desktop.core.database.url_parts import UrlSyntaxError, split_url
from fibuca_desktop.core.errors import SettingsError


def url_without_password(text: str) -> str | None:
    """The URL with any password removed (not masked: there is nothing to unmask), or None when
    it is not a URL. What the settings file may keep. Split by ``url_parts`` (pure Python, no
    SQLAlchemy: settings load at start-up), the same split the connection uses, so a password
    with ``@ / # ?`` in it never ends up in the file as a "host" or "database"."""
    try:
        return split_url(text).without_password().render(masked=False)
    except UrlSyntaxError:
        return None


MAX_ADVISED = 1000  # statements the advisor may plan (and cost with hypopg) in one run


@dataclass
class DatabaseSettings:
    last_url: str | None = None  # without its password: see url_without_password
    min_mean_ms: float = 20.0
    min_calls: int = 100
    advise_max_statements: int = 50  # the advisor looks at the N slowest statements (by total)

    def check(self, where: str) -> None:
        if not 1 <= self.advise_max_statements <= MAX_ADVISED:
            raise SettingsError(
                f"{where}.advise_max_statements must be 1 to {MAX_ADVISED}, "
                f"got {self.advise_max_statements}"
            )
        if self.min_mean_ms < 0:
            raise SettingsError(f"{where}.min_mean_ms must be 0 or more, got {self.min_mean_ms}")
        if self.min_calls < 1:
            raise SettingsError(f"{where}.min_calls must be 1 or more, got {self.min_calls}")
        if self.last_url is not None and url_without_password(self.last_url) != self.last_url:
            raise SettingsError(f"{where}.last_url must be a database URL without a password")
