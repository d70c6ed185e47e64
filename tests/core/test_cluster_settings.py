"""The broker URL in the settings file: kept without its password, as database.last_url."""

from __future__ import annotations

import json

import pytest

from fibuca_desktop.core.cluster_settings import broker_url_without_password
from fibuca_desktop.core.settings import SettingsStore


@pytest.mark.parametrize(
    ("text", "kept"),
    [
        ("redis://127.0.0.1:6379/0", "redis://127.0.0.1:6379/0"),
        ("redis://:s3cret@server.shop:6379/0", "redis://server.shop:6379/0"),
        ("redis://:p@ss/w:rd#1@server.shop:6379/0", "redis://server.shop:6379/0"),  # unencoded
        ("rediss://fibuca:pw@server.shop:6380/1", "rediss://fibuca@server.shop:6380/1"),
        ("redis://server.shop:6379/0?password=pw", "redis://server.shop:6379/0"),
        ("http://server.shop/", None),
        ("not a url", None),
    ],
)
def test_only_the_url_without_its_password_is_kept(text, kept):
    assert broker_url_without_password(text) == kept


def test_a_password_in_the_file_is_refused_and_named_never_kept(tmp_path):
    path = tmp_path / "settings.json"
    cluster = {"run_on_workers": True, "broker_url": "redis://:hunter2@server.shop:6379/0"}
    path.write_text(json.dumps({"schema_version": 1, "cluster": cluster}))
    loaded = SettingsStore(path).load()
    assert loaded.settings.cluster.broker_url is None
    assert loaded.settings.cluster.run_on_workers is True
    assert "cluster.broker_url" in loaded.problem and "hunter2" not in loaded.problem
    SettingsStore(path).save(loaded.settings)
    assert "hunter2" not in path.read_text()
