"""The edges switch in the settings file (issue 11): stored per preset like every other option,
validated, and absent from every file saved before it existed."""

from __future__ import annotations

import json

import pytest

from fibuca_desktop.core.imaging.presets import PRESETS, get_preset
from fibuca_desktop.core.settings import (
    OPTION_NAMES,
    PresetOptions,
    ProcessingSettings,
    Settings,
    SettingsStore,
)


def test_edges_is_one_of_the_preset_options():
    assert "edges" in OPTION_NAMES
    assert PresetOptions().edges is None  # the preset's own: refined


@pytest.mark.parametrize("name", PRESETS)
def test_edges_round_trip_for_every_preset(tmp_path, name):
    settings = Settings()
    settings.processing.preset = name
    settings.processing.set_options(name, PresetOptions(edges="rembg"))
    store = SettingsStore(tmp_path / "settings.json")
    store.save(settings)
    on_disk = json.loads((tmp_path / "settings.json").read_text())
    assert on_disk["processing"]["options"][name]["edges"] == "rembg"
    loaded = store.load()
    assert loaded.problem is None
    assert loaded.settings == settings
    assert loaded.settings.processing.resolved_preset().edges == "rembg"


def test_a_file_saved_before_issue_11_loads_with_refined_edges(tmp_path):
    """Issue 10's files store options without an edges entry; nothing is set aside."""
    path = tmp_path / "settings.json"
    old = {"preset": "web", "options": {"web": {"max_side": 600, "quality": 70}}}
    path.write_text(json.dumps({"schema_version": 1, "processing": old}))
    result = SettingsStore(path).load()
    assert result.problem is None and result.kept_as is None
    assert result.settings.processing.options == {"web": PresetOptions(max_side=600, quality=70)}
    resolved = result.settings.processing.resolved_preset()
    assert (resolved.edges, resolved.max_side, resolved.quality) == ("refined", 600, 70)


def test_an_old_flat_file_loads_with_refined_edges(tmp_path):
    """Settings before issue 10 kept the options flat in ``processing``."""
    path = tmp_path / "settings.json"
    path.write_text(json.dumps({"processing": {"preset": "square", "margin": 0.1}}))
    result = SettingsStore(path).load()
    assert result.problem is None
    assert result.settings.processing.options == {"square": PresetOptions(margin=0.1)}
    assert result.settings.processing.resolved_preset().edges == "refined"


@pytest.mark.parametrize(
    ("value", "words"),
    [
        ("sharp", "processing.options.web.edges: sharp is not known; use refined or rembg"),
        (3, "processing.options.web.edges must be text or null, got 3"),
        (True, "processing.options.web.edges must be text or null, got true"),
    ],
)
def test_a_bad_edges_entry_costs_only_itself(tmp_path, value, words):
    path = tmp_path / "settings.json"
    web = {"max_side": 600, "edges": value}
    path.write_text(json.dumps({"processing": {"preset": "web", "options": {"web": web}}}))
    result = SettingsStore(path).load()
    assert words in result.problem
    assert "--edges" not in result.problem  # the settings file's words, not the CLI's
    assert result.settings.processing.options == {"web": PresetOptions(max_side=600)}
    assert result.settings.processing.resolved_preset().edges == "refined"


def test_edges_belong_to_the_preset_they_were_set_for():
    processing = ProcessingSettings(preset="mask")
    processing.set_options("mask", PresetOptions(edges="rembg"))
    assert processing.resolved_preset() == get_preset("mask").with_options(edges="rembg")
    for other in ("transparent", "web", "square"):
        processing.preset = other
        assert processing.resolved_preset().edges == "refined", other
        assert processing.options_for(other) == PresetOptions()
    processing.preset = "mask"
    assert processing.resolved_preset().edges == "rembg"
    processing.set_options("mask", PresetOptions())  # back to the preset's own
    assert processing.options == {}
