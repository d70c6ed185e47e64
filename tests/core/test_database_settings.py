"""The Database panel's settings section: the last URL is kept without its password."""

from __future__ import annotations

import json

import pytest

from fibuca_desktop.core.database.database_settings import DatabaseSettings, url_without_password
from fibuca_desktop.core.settings import Settings, SettingsStore


@pytest.mark.parametrize(
    ("url", "kept"),
    [
        (
            "postgresql://fibuca:s3cr@t@db:5432/shop?schema=public",
            "postgresql://fibuca@db:5432/shop?schema=public",
        ),
        (
            "postgres://fibuca@db/shop?password=x&connection_limit=5",
            "postgres://fibuca@db/shop?connection_limit=5",
        ),
        ("postgresql://db:5432/shop", "postgresql://db:5432/shop"),
        ("postgresql://u:p@[::1]:5433/shop", "postgresql://u@[::1]:5433/shop"),
        ("not a url", None),
        ("postgresql://u:p@db:port/shop", None),
    ],
)
def test_url_without_password(url, kept):
    assert url_without_password(url) == kept


def test_the_section_round_trips_and_never_stores_a_password(tmp_path):
    store = SettingsStore(tmp_path / "settings.json")
    settings = Settings()
    settings.database = DatabaseSettings("postgresql://fibuca@db:5432/shop", 5.0, 30)
    store.save(settings)
    assert store.load().settings.database == settings.database

    data = json.loads((tmp_path / "settings.json").read_text())
    data["database"]["last_url"] = "postgresql://fibuca:hunter2@db:5432/shop"
    (tmp_path / "settings.json").write_text(json.dumps(data))
    loaded = store.load()
    assert "database.last_url must be a database URL without a password" in loaded.problem
    assert loaded.settings.database == DatabaseSettings(None, 5.0, 30)  # only the URL set aside
