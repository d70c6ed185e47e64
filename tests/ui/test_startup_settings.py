"""The real app started on a settings file with bad entries (issue 10 item 2): the good ones
survive the start and the quit, the bad one is named, the original is kept aside."""

from __future__ import annotations

import json

import pytest

from tests.ui.test_startup import run_app

API = {"name": "api", "kind": "health", "url": "http://127.0.0.1:9/health"}


@pytest.mark.parametrize(
    ("bad", "words"),
    [
        ({"processing": {"workers": 0}}, "processing.workers must be between 1 and 64"),
        ({"database": {"min_calls": "x"}}, "database.min_calls must be a whole number"),
        (
            {"processing": {"preset": "transparent", "format": "jpeg"}},  # the old flat options
            "processing.options.transparent: these options do not fit",
        ),
    ],
    ids=["workers", "database type", "old impossible options"],
)
def test_good_entries_survive_a_start_with_a_bad_one(tmp_path, bad, words):
    path = tmp_path / "settings.json"
    data = {
        "schema_version": 1,
        "monitor": {"targets": [API]},
        "database": {"last_url": "postgresql://fibuca@db:5432/shop"},
    }
    for section, values in bad.items():
        data.setdefault(section, {}).update(values)
    original = json.dumps(data)
    path.write_text(original)

    done = run_app(tmp_path, "--quit-after", "300", "--settings-file", str(path))

    assert done.returncode == 0, done.stderr
    assert "Traceback" not in done.stderr and "settings not saved" not in done.stderr
    assert words in done.stderr
    (kept,) = tmp_path.glob("settings.json.broken-*")
    assert kept.read_text() == original
    after = json.loads(path.read_text())
    assert [t["name"] for t in after["monitor"]["targets"]] == ["api"]
    assert after["database"]["last_url"] == "postgresql://fibuca@db:5432/shop"
