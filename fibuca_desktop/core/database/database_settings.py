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
# What ``db budget --ram-mb / --instances`` and the Memory budget page accept: below 128 MB
# PostgreSQL's own defaults do not fit; above 4 TB is a typo, not a server.
RAM_MB_RANGE = (128, 4 * 1024 * 1024)
INSTANCES_RANGE = (1, 1000)


@dataclass
class DatabaseSettings:
    last_url: str | None = None  # without its password: see url_without_password
    min_mean_ms: float = 20.0
    min_calls: int = 100
    advise_max_statements: int = 50  # the advisor looks at the N slowest statements (by total)
    budget_ram_mb: int = 500  # the Memory budget page: the server's RAM
    budget_instances: int = 1  # ... and the backend instances, each with a Prisma pool

    def check(self, where: str) -> None:
        if not 1 <= self.advise_max_statements <= MAX_ADVISED:
            raise SettingsError(
                f"{where}.advise_max_statements must be 1 to {MAX_ADVISED}, "
                f"got {self.advise_max_statements}"
            )
        for name, (low, high) in (
            ("budget_ram_mb", RAM_MB_RANGE),
            ("budget_instances", INSTANCES_RANGE),
        ):
            value = getattr(self, name)
            if not low <= value <= high:
                raise SettingsError(f"{where}.{name} must be {low} to {high}, got {value}")
        if self.min_mean_ms < 0:
            raise SettingsError(f"{where}.min_mean_ms must be 0 or more, got {self.min_mean_ms}")
        if self.min_calls < 1:
            raise SettingsError(f"{where}.min_calls must be 1 or more, got {self.min_calls}")
        if self.last_url is not None and url_without_password(self.last_url) != self.last_url:
            raise SettingsError(f"{where}.last_url must be a database URL without a password")
