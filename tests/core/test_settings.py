"""Settings: defaults, round trip, every broken file, newer versions, atomic saves, paths."""

from __future__ import annotations

import dataclasses
import json
import logging
import os
import stat
import sys
from pathlib import Path

import pytest

from fibuca_desktop.core.errors import SettingsError
from fibuca_desktop.core.imaging.models import DEFAULT_MODEL
from fibuca_desktop.core.settings import (
    MAX_RECENT_FOLDERS,
    SCHEMA_VERSION,
    PresetOptions,
    ProcessingSettings,
    Settings,
    SettingsStore,
    default_settings_path,
    validate,
)


def custom_settings() -> Settings:
    """A value different from the default in every field."""
    settings = Settings(
        processing=ProcessingSettings(
            preset="web",
            model="u2net",
            output_dir="/srv/photos/cut-outs",
            workers=3,
            overwrite=True,
            options={
                "web": PresetOptions(max_side=640, format="webp", quality=77, background="#102030"),
                "square": PresetOptions(margin=0.1, edges="rembg"),
            },
            mask_cache_mb=512,
            profile="amazon",
            name_template="{stem}-{preset}-{n:03}",
        ),
        recent_folders=["/photos/b", "/photos/a"],
    )
    return settings


def aside_files(folder: Path) -> list[str]:
    return sorted(p.name for p in folder.iterdir() if p.name != "settings.json")


def test_missing_file_gives_defaults_and_writes_nothing(tmp_path):
    path = tmp_path / "config" / "settings.json"
    result = SettingsStore(path).load()
    assert result.settings == Settings()
    assert result.settings.processing.preset == "transparent"
    assert result.settings.processing.model == DEFAULT_MODEL
    assert result.settings.schema_version == SCHEMA_VERSION == 1
    assert (result.problem, result.kept_as, result.read_only) == (None, None, False)
    assert not path.parent.exists()


def test_round_trip_of_every_field(tmp_path):
    defaults, custom = Settings(), custom_settings()
    for section in ("processing",):
        for f in dataclasses.fields(getattr(defaults, section)):
            assert getattr(getattr(custom, section), f.name) != getattr(
                getattr(defaults, section), f.name
            ), f"custom_settings() leaves {section}.{f.name} at its default"
    assert custom.recent_folders != defaults.recent_folders
    store = SettingsStore(tmp_path / "settings.json")
    store.save(custom)
    result = store.load()
    assert result.problem is None
    assert result.settings == custom
    assert isinstance(result.settings.processing.options["square"].margin, float)
    text = (tmp_path / "settings.json").read_text()
    on_disk = json.loads(text)
    assert text == json.dumps(on_disk, indent=2, sort_keys=True) + "\n"
    assert on_disk["schema_version"] == 1
    assert on_disk["processing"]["workers"] == 3
    assert on_disk["recent_folders"] == ["/photos/b", "/photos/a"]


def test_a_whole_number_is_accepted_where_a_fraction_is_expected(tmp_path):
    path = tmp_path / "settings.json"
    path.write_text('{"processing": {"options": {"square": {"margin": 0}}}, "schema_version": 1}')
    result = SettingsStore(path).load()
    assert result.problem is None
    assert result.settings.processing.options["square"].margin == 0.0
    assert isinstance(result.settings.processing.options["square"].margin, float)


# A file nothing can be read from. A file with bad entries keeps its good ones:
# test_settings_entries.py.
BROKEN = {
    "invalid JSON": (b'{"processing": {"workers": 4,', "is not valid JSON"),
    "empty file": (b"", "is not valid JSON"),
    "a JSON list": (b"[1, 2]", "must hold a JSON object"),
    "a JSON text": (b'"settings"', "must hold a JSON object"),
    "NUL bytes": (b'{"processing": {}}\x00\x00', "is not valid JSON"),
    "UTF-16 that is not": (b'\xff\xfe{\x00"', "is not UTF-8 text"),
}


@pytest.mark.parametrize("content, expected", BROKEN.values(), ids=BROKEN.keys())
def test_broken_file_gives_defaults_and_is_kept_aside(tmp_path, caplog, content, expected):
    path = tmp_path / "settings.json"
    path.write_bytes(content)
    with caplog.at_level(logging.WARNING, logger="fibuca_desktop.core.settings"):
        result = SettingsStore(path).load()
    assert result.settings == Settings()
    assert not path.exists()
    assert result.kept_as is not None
    assert result.kept_as.parent == tmp_path
    assert result.kept_as.name.startswith("settings.json.broken-")
    assert result.kept_as.read_bytes() == content
    assert aside_files(tmp_path) == [result.kept_as.name]
    assert expected in result.problem
    assert str(path) in result.problem
    assert f"the old file was kept as {result.kept_as}" in result.problem
    assert result.problem in caplog.text


def test_a_folder_where_the_file_should_be_is_moved_aside(tmp_path):
    path = tmp_path / "settings.json"
    path.mkdir()
    (path / "note.txt").write_text("keep me")
    result = SettingsStore(path).load()
    assert result.settings == Settings()
    assert "could not be read" in result.problem
    assert result.kept_as.is_dir()
    assert (result.kept_as / "note.txt").read_text() == "keep me"
    SettingsStore(path).save(custom_settings())
    assert path.is_file()


def test_an_unreadable_file_is_reported(tmp_path):
    """Running as root defeats chmod 000; a symlink loop fails to open for everyone."""
    path = tmp_path / "settings.json"
    path.symlink_to(path)
    result = SettingsStore(path).load()
    assert result.settings == Settings()
    assert "could not be read" in result.problem
    assert result.kept_as.is_symlink()
    assert not os.path.lexists(path)


def test_a_second_broken_file_never_overwrites_the_first_kept_one(tmp_path):
    path = tmp_path / "settings.json"
    path.write_text("first {")
    first = SettingsStore(path).load().kept_as
    path.write_text("second {")
    second = SettingsStore(path).load().kept_as
    assert first != second
    assert first.read_text() == "first {"
    assert second.read_text() == "second {"


def test_a_utf8_byte_order_mark_is_accepted(tmp_path):
    path = tmp_path / "settings.json"
    path.write_bytes(b'\xef\xbb\xbf{"processing": {"workers": 2}}')
    result = SettingsStore(path).load()
    assert result.problem is None
    assert result.settings.processing.workers == 2


def test_unknown_keys_are_ignored_and_logged(tmp_path, caplog):
    path = tmp_path / "settings.json"
    path.write_text(
        json.dumps(
            {
                "schema_version": 1,
                "theme": "dark",
                "processing": {"workers": 5, "sharpen": True},
                "recent_folders": ["/x"],
            }
        )
    )
    with caplog.at_level(logging.WARNING, logger="fibuca_desktop.core.settings"):
        result = SettingsStore(path).load()
    assert result.problem is None
    assert result.settings.processing.workers == 5
    assert result.settings.recent_folders == ["/x"]
    assert "ignoring unknown setting theme" in caplog.text
    assert "ignoring unknown setting processing.sharpen" in caplog.text
    assert path.exists()
    assert aside_files(tmp_path) == []


def test_missing_keys_take_their_defaults(tmp_path):
    path = tmp_path / "settings.json"
    path.write_text('{"processing": {"preset": "web"}}')
    result = SettingsStore(path).load()
    assert result.problem is None
    assert result.settings == Settings(processing=ProcessingSettings(preset="web"))


def test_a_newer_schema_is_left_untouched_and_save_refuses_until_reset(tmp_path):
    path = tmp_path / "settings.json"
    content = b'{"schema_version": 2, "processing": {"workers": "auto"}, "monitor": {}}'
    path.write_bytes(content)
    store = SettingsStore(path)
    result = store.load()
    assert result.settings == Settings()
    assert result.read_only is True
    assert result.kept_as is None
    assert "newer version" in result.problem
    assert "settings version 2" in result.problem
    assert str(path) in result.problem
    with pytest.raises(SettingsError, match="newer version") as raised:
        store.save(custom_settings())
    assert str(path) in str(raised.value)
    assert path.read_bytes() == content
    assert aside_files(tmp_path) == []

    assert store.reset() == Settings()
    (kept,) = aside_files(tmp_path)
    assert kept.startswith("settings.json.reset-")
    assert (tmp_path / kept).read_bytes() == content
    assert store.load().settings == Settings()
    store.save(custom_settings())
    assert store.load().settings == custom_settings()


def test_save_refuses_a_newer_file_written_after_load(tmp_path):
    path = tmp_path / "settings.json"
    store = SettingsStore(path)
    assert store.load().problem is None
    path.write_text('{"schema_version": 3}')
    with pytest.raises(SettingsError, match="settings version 3"):
        store.save(Settings())
    assert path.read_text() == '{"schema_version": 3}'


def test_save_creates_the_folder_and_leaves_no_temporary_files(tmp_path):
    path = tmp_path / "a" / "b" / "settings.json"
    store = SettingsStore(path)
    store.save(custom_settings())
    store.save(Settings())
    assert os.listdir(path.parent) == ["settings.json"]
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert json.loads(path.read_text())["processing"]["preset"] == "transparent"


def test_a_failed_save_raises_settings_error_and_leaves_no_temporary_files(tmp_path):
    path = tmp_path / "settings.json"
    path.mkdir()
    with pytest.raises(SettingsError, match=r"Could not save the settings to .*settings\.json"):
        SettingsStore(path).save(Settings())
    assert sorted(os.listdir(tmp_path)) == ["settings.json"]
    assert os.listdir(path) == []


def test_save_reports_a_folder_that_cannot_be_created(tmp_path):
    (tmp_path / "blocker").write_text("a file, not a folder")
    with pytest.raises(SettingsError, match="Could not save the settings"):
        SettingsStore(tmp_path / "blocker" / "settings.json").save(Settings())


def test_save_writes_through_a_symlinked_file(tmp_path):
    real = tmp_path / "dotfiles" / "fibuca.json"
    real.parent.mkdir()
    real.write_text("{}")
    link = tmp_path / "settings.json"
    link.symlink_to(real)
    SettingsStore(link).save(custom_settings())
    assert link.is_symlink()
    assert json.loads(real.read_text())["processing"]["workers"] == 3


@pytest.mark.parametrize(
    "change, expected",
    [
        ({"workers": 65}, "processing.workers must be between 1 and 64, got 65"),
        ({"workers": "4"}, 'processing.workers must be a whole number or null, got "4"'),
        (
            {"mask_cache_mb": 8},
            "processing.mask_cache_mb must be between 16 and 1048576 (MB), got 8",
        ),
        ({"mask_cache_mb": None}, "processing.mask_cache_mb must be a whole number, got null"),
        ({"output_dir": Path("/x")}, "processing.output_dir must be text or null"),
        ({"output_dir": "  "}, "processing.output_dir must be a folder or null"),
        ({"options": {"square": PresetOptions(margin=0.5)}}, "options.square.margin: 0.5 is out"),
        ({"options": {"web": PresetOptions(format="tiff")}}, "web.format: tiff is not supported"),
        (
            {"preset": "web", "options": {"web": PresetOptions(background="transparent")}},
            "processing.options.web: these options do not fit the web preset: JPEG cannot store",
        ),
        ({"options": {"poster": PresetOptions()}}, "processing.options.poster: there is no preset"),
        (
            {"name_template": "{stem.__class__}"},
            "processing.name_template: The name template '{stem.__class__}' reaches into",
        ),
        ({"name_template": "a/{n}"}, "processing.name_template: The name template 'a/{n}' holds"),
    ],
)
def test_validate_names_the_field(change, expected):
    settings = Settings(processing=ProcessingSettings(**change))
    with pytest.raises(SettingsError) as raised:
        validate(settings)
    assert expected in str(raised.value)


@pytest.mark.parametrize(
    "change",
    [
        {},
        {"options": {"transparent": PresetOptions(format="jpeg", background="white")}},
        {"options": {"transparent": PresetOptions(format="jpg", background="#ffffff")}},
        {"options": {"web": PresetOptions(format="png", background="transparent")}},
        {"options": {"square": PresetOptions(max_side=600, margin=0.0)}},
        {"options": {"mask": PresetOptions(format="jpeg", quality=50)}},
        {"workers": 1},
        {"workers": 64},
        {"mask_cache_mb": 16},
        {"mask_cache_mb": 1024 * 1024},
    ],
)
def test_validate_accepts_good_combinations(change):
    validate(Settings(processing=ProcessingSettings(**change)))


def test_resolved_preset_applies_the_options_of_the_chosen_preset():
    web = PresetOptions(max_side=500, quality=60, background="black")
    processing = ProcessingSettings(preset="web", options={"web": web})
    preset = processing.resolved_preset()
    assert (preset.max_side, preset.quality, preset.background, preset.format) == (
        500,
        60,
        (0, 0, 0),
        "jpeg",
    )


def test_recent_folders_are_bounded_newest_first_and_unique():
    settings = Settings()
    for n in range(12):
        settings.remember_folder(f"/photos/{n}")
    assert settings.recent_folders == [f"/photos/{n}" for n in range(11, 1, -1)]
    settings.remember_folder("/photos/5/")
    assert settings.recent_folders[0] == "/photos/5"
    assert settings.recent_folders.count("/photos/5") == 1
    assert len(settings.recent_folders) == MAX_RECENT_FOLDERS
    assert settings.recent_folders[1:4] == ["/photos/11", "/photos/10", "/photos/9"]
    with pytest.raises(ValueError):
        settings.remember_folder("")


def test_recent_folders_from_a_file_are_deduplicated_and_bounded(tmp_path):
    folders = ["/a", "/b", "/a", *(f"/f{n}" for n in range(20))]
    path = tmp_path / "settings.json"
    path.write_text(json.dumps({"recent_folders": folders}))
    store = SettingsStore(path)
    result = store.load()
    assert result.problem is None
    assert result.settings.recent_folders == ["/a", "/b", *(f"/f{n}" for n in range(8))]
    too_many = Settings()
    too_many.recent_folders.extend(f"/g{n}" for n in range(15))
    store.save(too_many)
    assert json.loads(path.read_text())["recent_folders"] == [f"/g{n}" for n in range(10)]


def test_no_setting_looks_like_a_secret():
    """Passwords and tokens belong in the OS keyring, never in this plain file."""

    def names(cls, prefix=""):
        for f in dataclasses.fields(cls):
            yield prefix + f.name
            if dataclasses.is_dataclass(f.default_factory):
                yield from names(f.default_factory, f"{prefix}{f.name}.")

    found = list(names(Settings))
    assert "processing.workers" in found
    secret_words = ("password", "passwd", "token", "secret", "credential", "api_key")
    assert [n for n in found if any(word in n.lower() for word in secret_words)] == []


def test_the_file_override_comes_first(tmp_path, monkeypatch):
    monkeypatch.setenv("FIBUCA_SETTINGS_FILE", str(tmp_path / "elsewhere.json"))
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path / "xdg"))
    assert default_settings_path() == tmp_path / "elsewhere.json"
    store = SettingsStore()
    store.save(custom_settings())
    assert (tmp_path / "elsewhere.json").is_file()
    assert not (tmp_path / "xdg").exists()
    assert SettingsStore(tmp_path / "explicit.json").path == tmp_path / "explicit.json"


@pytest.mark.skipif(sys.platform in ("win32", "darwin"), reason="the XDG rules are Linux's")
def test_xdg_config_home_is_honoured(tmp_path, monkeypatch):
    monkeypatch.delenv("FIBUCA_SETTINGS_FILE", raising=False)
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path / "xdg"))
    assert default_settings_path() == tmp_path / "xdg" / "fibuca-desktop" / "settings.json"
    monkeypatch.setenv("XDG_CONFIG_HOME", "relative/config")  # the XDG spec says: ignore
    expected = tmp_path / "home" / ".config" / "fibuca-desktop" / "settings.json"
    assert default_settings_path() == expected
    monkeypatch.delenv("XDG_CONFIG_HOME")
    assert default_settings_path() == expected
    assert SettingsStore().path == expected


def test_macos_and_windows_folders(tmp_path, monkeypatch):
    monkeypatch.delenv("FIBUCA_SETTINGS_FILE", raising=False)
    monkeypatch.setenv("HOME", str(tmp_path))
    monkeypatch.setattr(sys, "platform", "darwin")
    assert default_settings_path() == (
        tmp_path / "Library" / "Application Support" / "Fibuca Desktop" / "settings.json"
    )
    monkeypatch.setattr(sys, "platform", "win32")
    monkeypatch.setenv("APPDATA", str(tmp_path / "Roaming"))
    assert default_settings_path() == tmp_path / "Roaming" / "Fibuca Desktop" / "settings.json"


def test_peek_reads_the_settings_and_never_touches_the_file(tmp_path):
    path = tmp_path / "settings.json"
    store = SettingsStore(path)
    assert store.peek() == Settings() and not path.exists()
    path.write_text('{"schema_version": 1, "processing": {"mask_cache_mb": 64, "workers": 99}}')
    before = path.read_bytes()
    peeked = store.peek()  # workers is bad: left at its default, the file left as it is
    assert (peeked.processing.mask_cache_mb, peeked.processing.workers) == (64, None)
    for text in ('{"processing": ', '{"schema_version": 7}', "[1, 2]"):
        path.write_text(text)
        assert store.peek() == Settings()
        assert path.read_text() == text
    path.write_bytes(before)
    assert aside_files(tmp_path) == [] and path.read_bytes() == before


def test_a_profile_that_is_not_a_name_is_refused(tmp_path):
    path = tmp_path / "settings.json"
    path.write_text('{"processing": {"profile": "../../etc"}, "schema_version": 1}')
    result = SettingsStore(path).load()
    assert result.settings.processing.profile is None
    assert "processing.profile must be a profile's name" in result.problem
