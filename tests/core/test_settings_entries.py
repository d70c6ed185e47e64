"""One bad entry costs only itself (issue 10): loading keeps every good entry, a bad one falls
back to its default (or is left out of its list) and is named, the original file is kept aside;
saving never fails because of one value; options belong to the preset they were set for."""

from __future__ import annotations

import copy
import json
import math
from dataclasses import asdict

import pytest

from fibuca_desktop.core.database.database_settings import DatabaseSettings
from fibuca_desktop.core.imaging.presets import FORMATS, PRESETS, get_preset
from fibuca_desktop.core.monitor.targets import HEALTH, LOCAL, MonitorSettings, MonitorTarget
from fibuca_desktop.core.settings import (
    PresetOptions,
    ProcessingSettings,
    Settings,
    SettingsStore,
    serialize,
)

API = {"name": "api", "kind": "health", "url": "http://127.0.0.1:9/health"}
NODE = {"name": "node", "kind": "local", "process_name": "node"}
# A file with a non-default value in every section; each case below spoils one entry of it.
GOOD = {
    "schema_version": 1,
    "processing": {
        "preset": "square",
        "model": "u2net",
        "workers": 3,
        "overwrite": True,
        "options": {"web": {"max_side": 600, "quality": 70}, "mask": {"format": "jpeg"}},
    },
    "database": {"last_url": "postgresql://fibuca@db:5432/shop", "min_calls": 30},
    "monitor": {"targets": [API, NODE], "interval_s": 2.0},
    "recent_folders": ["/photos/a", "/photos/b"],
}


def good_settings() -> Settings:
    return Settings(
        processing=ProcessingSettings(
            preset="square",
            model="u2net",
            workers=3,
            overwrite=True,
            options={
                "web": PresetOptions(max_side=600, quality=70),
                "mask": PresetOptions(format="jpeg"),
            },
        ),
        database=DatabaseSettings("postgresql://fibuca@db:5432/shop", min_calls=30),
        monitor=MonitorSettings(
            targets=[
                MonitorTarget("api", HEALTH, url=API["url"]),
                MonitorTarget("node", LOCAL, process_name="node"),
            ],
            interval_s=2.0,
        ),
        recent_folders=["/photos/a", "/photos/b"],
    )


def spoil(path: str, value):
    """A copy of GOOD with ``path`` (dots; ``+`` appends to a list) set to ``value``."""

    def make() -> dict:
        data = copy.deepcopy(GOOD)
        *parents, last = path.split(".")
        node = data
        for key in parents:
            node = node.setdefault(key, {})
        if last == "+":
            node.append(value)
        elif last.isdigit():
            node[int(last)] = value
        else:
            node[last] = value
        return data

    return make


def expect(change=lambda s: None):
    def make() -> Settings:
        settings = good_settings()
        change(settings)
        return settings

    return make


def _set(obj_path: str, value):
    def change(settings):
        *parents, last = obj_path.split(".")
        node = settings
        for name in parents:
            node = node[name] if isinstance(node, dict) else getattr(node, name)
        if isinstance(node, dict):
            node[last] = value
        else:
            setattr(node, last, value)

    return change


def _drop_option(name):
    return lambda settings: settings.processing.options.pop(name)


BAD_ENTRIES = {
    "workers as text": (
        spoil("processing.workers", "4"),
        'processing.workers must be a whole number or null, got "4"',
        expect(_set("processing.workers", None)),
    ),
    "workers zero": (
        spoil("processing.workers", 0),
        "processing.workers must be between 1 and 64, got 0",
        expect(_set("processing.workers", None)),
    ),
    "workers 1000": (
        spoil("processing.workers", 1000),
        "processing.workers must be between 1 and 64, got 1000",
        expect(_set("processing.workers", None)),
    ),
    "workers true": (
        spoil("processing.workers", True),
        "processing.workers must be a whole number or null, got true",
        expect(_set("processing.workers", None)),
    ),
    "overwrite as a number": (
        spoil("processing.overwrite", 1),
        "processing.overwrite must be true or false, got 1",
        expect(_set("processing.overwrite", False)),
    ),
    "unknown preset": (
        spoil("processing.preset", "poster"),
        'processing.preset must be one of transparent, web, square, mask, got "poster"',
        expect(_set("processing.preset", "transparent")),
    ),
    "unknown model": (
        spoil("processing.model", "sam9"),
        "processing.model must be one of",
        expect(_set("processing.model", ProcessingSettings().model)),
    ),
    "processing not an object": (
        spoil("processing", 3),
        "processing must be an object, got 3",
        expect(_set("processing", ProcessingSettings())),
    ),
    "options not an object": (
        spoil("processing.options", ["web"]),
        'processing.options must be an object, got ["web"]',
        expect(_set("processing.options", {})),
    ),
    "quality out of range": (
        spoil("processing.options.web.quality", 101),
        "processing.options.web.quality: 101 is out of range; use 1 to 100",
        expect(_set("processing.options.web", PresetOptions(max_side=600))),
    ),
    "max_side too small": (
        spoil("processing.options.web.max_side", 8),
        "processing.options.web.max_side: 8 is out of range",
        expect(_set("processing.options.web", PresetOptions(quality=70))),
    ),
    "bad background colour": (
        spoil("processing.options.web.background", "not-a-colour"),
        "processing.options.web.background: 'not-a-colour' is not a colour",
        expect(),
    ),
    "JPEG without a background": (
        spoil("processing.options.transparent", {"format": "jpeg"}),
        "processing.options.transparent: these options do not fit the transparent preset: "
        "JPEG cannot store transparency",
        expect(),
    ),
    "mask as WebP": (
        spoil("processing.options.mask", {"format": "webp"}),
        "processing.options.mask: these options do not fit the mask preset",
        expect(_drop_option("mask")),
    ),
    "options of an unknown preset": (
        spoil("processing.options.poster", {"quality": 50}),
        "processing.options.poster: there is no preset named 'poster'",
        expect(),
    ),
    "a target with a bad URL": (
        spoil("monitor.targets.+", {"name": "ftp", "kind": "health", "url": "ftp://x/health"}),
        "monitor.targets[2].url: 'ftp://x/health' is not an http:// or https:// address",
        expect(),
    ),
    "a target that is not an object": (
        spoil("monitor.targets.0", "api"),
        'monitor.targets[0] must be an object, got "api"',
        expect(lambda s: s.monitor.targets.pop(0)),
    ),
    "a target with a wrong type": (
        spoil("monitor.targets.+", {**API, "name": "slow", "warning_mb": "high"}),
        'monitor.targets[2].warning_mb must be a number, got "high"',
        expect(),
    ),
    "two targets with one name": (
        spoil("monitor.targets.+", {**API, "url": "http://127.0.0.1:10/health"}),
        "monitor.targets: two targets are named 'api'",
        expect(),
    ),
    "interval too short": (
        spoil("monitor.interval_s", 0.1),
        "monitor.interval_s must be between 0.5 and 60",
        expect(_set("monitor.interval_s", 1.0)),
    ),
    "interval NaN": (
        spoil("monitor.interval_s", math.nan),
        "monitor.interval_s must be a number, got NaN",
        expect(_set("monitor.interval_s", 1.0)),
    ),
    "leak evidence span too short": (
        spoil("monitor.leak_min_span_s", 5),
        "monitor.leak_min_span_s must be between 60 and 86400 seconds",
        expect(_set("monitor.leak_min_span_s", 600.0)),
    ),
    "database min_calls as text": (
        spoil("database.min_calls", "many"),
        'database.min_calls must be a whole number, got "many"',
        expect(_set("database.min_calls", 100)),
    ),
    "database min_mean_ms negative": (
        spoil("database.min_mean_ms", -1),
        "database.min_mean_ms must be 0 or more, got -1",
        expect(),
    ),
    "advisor statement cap out of range": (
        spoil("database.advise_max_statements", 0),
        "database.advise_max_statements must be 1 to 1000, got 0",
        expect(),
    ),
    "budget RAM below what PostgreSQL needs": (
        spoil("database.budget_ram_mb", 64),
        "database.budget_ram_mb must be 128 to 4194304, got 64",
        expect(),
    ),
    "budget instances zero": (
        spoil("database.budget_instances", 0),
        "database.budget_instances must be 1 to 1000, got 0",
        expect(),
    ),
    "database URL with a password": (
        spoil("database.last_url", "postgresql://fibuca:hunter2@db:5432/shop"),
        "database.last_url must be a database URL without a password",
        expect(_set("database.last_url", None)),
    ),
    "database not an object": (
        spoil("database", "postgresql://db/shop"),
        'database must be an object, got "postgresql://db/shop"',
        expect(_set("database", DatabaseSettings())),
    ),
    "a folder that is not text": (
        spoil("recent_folders.1", 7),
        "recent_folders[1] must be text, got 7",
        expect(_set("recent_folders", ["/photos/a"])),
    ),
    "schema_version as text": (
        spoil("schema_version", "1"),
        'schema_version must be a whole number, got "1"',
        expect(),
    ),
    "schema_version zero": (
        spoil("schema_version", 0),
        "schema_version must be 1, got 0",
        expect(),
    ),
}


@pytest.mark.parametrize("make, words, expected", BAD_ENTRIES.values(), ids=BAD_ENTRIES.keys())
def test_a_bad_entry_is_set_aside_and_everything_else_is_kept(tmp_path, make, words, expected):
    path = tmp_path / "settings.json"
    content = json.dumps(make()).encode()
    path.write_bytes(content)

    result = SettingsStore(path).load()

    assert result.settings == expected()
    assert words in result.problem
    assert str(path) in result.problem and "All other settings were kept" in result.problem
    assert len(result.set_aside) == 1 and words in result.set_aside[0]
    assert result.kept_as.read_bytes() == content  # nothing the user wrote is lost
    assert f"the original file was kept as {result.kept_as}" in result.problem
    assert sorted(p.name for p in tmp_path.iterdir()) == ["settings.json", result.kept_as.name]
    again = SettingsStore(path).load()  # the repaired file is in place: the next start is clean
    assert (again.problem, again.settings) == (None, expected())


def test_several_bad_entries_are_each_named_and_the_good_ones_kept(tmp_path):
    data = copy.deepcopy(GOOD)
    data["processing"]["workers"] = 0
    data["monitor"]["targets"].insert(1, {"name": "x", "kind": "health", "url": None})
    data["database"]["min_calls"] = 0
    path = tmp_path / "settings.json"
    path.write_text(json.dumps(data))
    result = SettingsStore(path).load()
    assert len(result.set_aside) == 3
    for words in ("processing.workers", "monitor.targets[1].url", "database.min_calls"):
        assert words in result.problem
    assert [t.name for t in result.settings.monitor.targets] == ["api", "node"]
    assert result.settings.database.last_url == GOOD["database"]["last_url"]
    assert result.settings.processing.options == good_settings().processing.options


def test_when_no_copy_can_be_kept_the_file_is_left_as_it_is(tmp_path):
    """A name so long that no longer name fits beside it: the copy fails, so nothing is
    replaced (the good entries are still used for this run)."""
    path = tmp_path / ("s" * 240 + ".json")
    content = json.dumps(spoil("processing.workers", 0)()).encode()
    path.write_bytes(content)
    result = SettingsStore(path).load()
    assert result.settings == expect(_set("processing.workers", None))()
    assert "the file was left as it is (no copy could be kept: File name too long)" in (
        result.problem
    )
    assert path.read_bytes() == content
    assert [p.name for p in tmp_path.iterdir()] == [path.name]


# -- saving --------------------------------------------------------------------------------


def test_one_impossible_option_never_costs_the_other_sections_at_save(tmp_path):
    """Issue 10: JPEG + transparent made save() raise at quit, and the monitor targets and the
    database URL added since start were lost."""
    store = SettingsStore(tmp_path / "settings.json")
    settings = store.load().settings
    settings.monitor.targets.append(MonitorTarget("api", HEALTH, url="http://127.0.0.1:9/health"))
    settings.database.last_url = "postgresql://fibuca@db:5432/shop"
    settings.processing.options["transparent"] = PresetOptions(format="jpeg")  # set in code
    settings.processing.workers = 1000

    saved = store.save(settings)

    assert saved.written
    assert any("processing.options.transparent" in p for p in saved.set_aside)
    assert any("processing.workers" in p for p in saved.set_aside)
    loaded = store.load()
    assert loaded.problem is None
    assert [t.name for t in loaded.settings.monitor.targets] == ["This computer", "api"]
    assert loaded.settings.database.last_url == "postgresql://fibuca@db:5432/shop"
    assert loaded.settings.processing.options == {} and loaded.settings.processing.workers is None


@pytest.mark.parametrize(
    "spoilt",
    [
        lambda s: setattr(s.processing, "workers", "four"),
        lambda s: setattr(s.monitor, "interval_s", math.inf),
        lambda s: setattr(s.database, "min_calls", None),
        lambda s: s.recent_folders.append(object()),
        lambda s: s.monitor.targets.append("not a target"),
        lambda s: setattr(s.processing, "options", {"web": PresetOptions(quality="high")}),
        lambda s: setattr(s, "monitor", None),
    ],
)
def test_save_never_fails_because_of_one_value(tmp_path, spoilt):
    store = SettingsStore(tmp_path / "settings.json")
    settings = good_settings()
    spoilt(settings)
    saved = store.save(settings)
    assert saved.written and len(saved.set_aside) == 1
    loaded = store.load()
    assert loaded.problem is None
    assert loaded.settings.recent_folders[:2] == ["/photos/a", "/photos/b"]
    assert loaded.settings.processing.model == "u2net"


def test_serialize_is_what_save_writes_and_tells_a_change(tmp_path):
    store = SettingsStore(tmp_path / "settings.json")
    settings = good_settings()
    text = store.serialize(settings)
    assert text == serialize(settings)
    assert store.save(settings).written
    assert (tmp_path / "settings.json").read_text() == text
    assert not store.save(settings).written  # nothing changed: no write at all
    settings.monitor.interval_s = 5.0
    assert store.serialize(settings) != text
    assert store.save(settings).written


# -- options per preset --------------------------------------------------------------------


def test_options_belong_to_the_preset_they_were_set_for():
    """Issue 10: Web, Format jpeg, then transparent: the JPEG choice must not follow."""
    processing = ProcessingSettings(preset="web")
    processing.set_options("web", PresetOptions(format="jpeg", quality=60))
    processing.preset = "transparent"
    assert processing.resolved_preset() == get_preset("transparent")
    processing.preset = "web"
    assert (processing.resolved_preset().format, processing.resolved_preset().quality) == (
        "jpeg",
        60,
    )
    processing.set_options("web", PresetOptions())
    assert processing.options == {}


@pytest.mark.parametrize("name", PRESETS)
@pytest.mark.parametrize(
    "options",
    [
        {"format": "jpeg"},
        {"format": "webp"},
        {"background": "transparent", "format": "jpeg"},
        {"quality": 0},
        {"max_side": -5},
        {"background": "no such colour"},
        {"format": "bmp"},
        {"margin": 2.0},
        "not options",
        None,
    ],
    ids=repr,
)
def test_resolved_preset_never_raises_for_any_stored_state(name, options):
    stored = PresetOptions(**options) if isinstance(options, dict) else options
    for preset in (name, "poster", "", None, ["web"]):
        for options in ({name: stored}, None, [stored]):
            processing = ProcessingSettings(preset=preset, options=options)
            resolved = processing.resolved_preset()
            assert resolved.name in PRESETS
            assert resolved.format in FORMATS


OLD_FLAT = {
    "web, png": (
        {"preset": "web", "format": "png", "quality": 60, "margin": None},
        {"web": PresetOptions(format="png", quality=60)},
    ),
    "transparent on white jpeg": (
        {"preset": "transparent", "format": "jpeg", "background": "white"},
        {"transparent": PresetOptions(format="jpeg", background="white")},
    ),
    "square canvas and margin": (
        {"preset": "square", "max_side": 900, "margin": 0.1},
        {"square": PresetOptions(max_side=900, margin=0.1)},
    ),
    "no preset named": ({"max_side": 500}, {"transparent": PresetOptions(max_side=500)}),
    "all null": ({"preset": "web", "format": None, "quality": None}, {}),
}


@pytest.mark.parametrize("old, options", OLD_FLAT.values(), ids=OLD_FLAT.keys())
def test_old_flat_overrides_move_to_the_preset_they_were_saved_with(tmp_path, old, options):
    path = tmp_path / "settings.json"
    path.write_text(json.dumps({"schema_version": 1, "processing": {**old, "workers": 2}}))
    store = SettingsStore(path)
    result = store.load()
    assert result.problem is None
    assert result.settings.processing.options == options
    assert result.settings.processing.workers == 2
    store.save(result.settings)
    on_disk = json.loads(path.read_text())["processing"]
    assert "format" not in on_disk and "max_side" not in on_disk
    assert {k: PresetOptions(**v) for k, v in on_disk["options"].items()} == options


def test_old_flat_overrides_that_never_fitted_are_set_aside(tmp_path):
    path = tmp_path / "settings.json"
    old = {"preset": "transparent", "format": "jpeg", "workers": 2}
    path.write_text(json.dumps({"processing": old, "recent_folders": ["/x"]}))
    result = SettingsStore(path).load()
    assert "processing.options.transparent" in result.problem
    assert "JPEG cannot store transparency" in result.problem
    assert result.settings.processing == ProcessingSettings(workers=2)
    assert result.settings.recent_folders == ["/x"]


def test_options_round_trip_for_every_preset(tmp_path):
    settings = Settings()
    for name in PRESETS:
        settings.processing.set_options(name, PresetOptions(max_side=321, format="png"))
    store = SettingsStore(tmp_path / "settings.json")
    store.save(settings)
    assert store.load().settings == settings
    assert asdict(store.load().settings) == asdict(settings)


HOSTILE = {
    "a 5000-digit integer": ('"workers": ' + "9" * 5000, "got a number of 5000 digits"),
    "a 400-digit integer": ('"workers": -' + "1" * 400, "got a number of 400 digits"),
    "a 20-digit integer": ('"workers": 12345678901234567890', "got a number of 20 digits"),
    "an overflowing float": ('"workers": 1e400', "got Infinity"),
    "a list for a number": ('"workers": [1, 2]', "got [1, 2]"),
    "a huge list": ('"workers": [' + ", ".join(["1"] * 5000) + "]", "got [1, 1, 1,"),
    "an object for text": ('"output_dir": {"a": 1}', 'got {"a": 1}'),
    "a NUL in a folder": ('"output_dir": "/srv/cut\\u0000outs"', "output_dir must be a folder"),
    "a relative folder": ('"output_dir": "cut-outs"', "output_dir must be a full folder path"),
    "a 100 000-letter colour": (
        '"options": {"web": {"background": "' + "x" * 100_000 + '"}}',
        "is not a colour",
    ),
    "a side WebP cannot store": (
        '"options": {"square": {"format": "webp", "max_side": 17000}}',
        "WEBP can store at most 16383 pixels a side",
    ),
    "a 100 000-letter format": (
        '"options": {"web": {"format": "' + "y" * 100_000 + '"}}',
        "is not supported",
    ),
}


@pytest.mark.parametrize("entry, words", HOSTILE.values(), ids=HOSTILE.keys())
def test_hostile_values_cost_only_their_entry(tmp_path, entry, words):
    path = tmp_path / "settings.json"
    path.write_text('{"processing": {"model": "u2net", ' + entry + '}, "recent_folders": ["/x"]}')
    result = SettingsStore(path).load()
    assert words in result.problem and "processing." in result.problem
    assert len(result.problem) < 600  # one readable sentence, however long the value
    assert result.settings.processing.model == "u2net"
    assert result.settings.recent_folders == ["/x"]


def test_a_huge_integer_set_in_code_is_saved_as_the_default(tmp_path):
    settings = good_settings()
    settings.processing.workers = 10**5000
    saved = SettingsStore(tmp_path / "settings.json").save(settings)
    assert saved.set_aside and "a number of about 5001 digits" in saved.set_aside[0]


@pytest.mark.parametrize("encoding", ["cp1252", "latin-1"])
def test_a_value_typed_in_another_encoding_costs_only_its_entry(tmp_path, encoding):
    """Notepad's "ANSI": one accented folder name in Windows-1252 made the whole file "not
    UTF-8", so every setting (monitor targets, database URL) went back to the defaults."""
    path = tmp_path / "settings.json"
    text = SettingsStore(path).serialize(good_settings())
    text = text.replace('"/photos/b"', '"/photos/José"').replace(
        '"output_dir": null', '"output_dir": "/srv/café"'
    )
    path.write_bytes(text.encode(encoding))
    result = SettingsStore(path).load()
    assert "recent_folders[1] is not UTF-8 text" in result.problem
    assert "processing.output_dir is not UTF-8 text" in result.problem
    expected = good_settings()
    expected.recent_folders = ["/photos/a"]
    assert result.settings == expected  # everything else, targets and database included
    assert result.kept_as.read_bytes() == text.encode(encoding)
    assert SettingsStore(path).load().problem is None  # the repaired file is clean


def test_a_file_saved_as_utf16_is_read(tmp_path):
    """Notepad's "Unicode" is UTF-16 with a BOM: a valid file, not a broken one."""
    path = tmp_path / "settings.json"
    for encoding in ("utf-16", "utf-16-be"):
        text = (
            SettingsStore(path).serialize(good_settings()).replace('"/photos/b"', '"/photos/Zoë"')
        )
        data = text.encode(encoding)
        path.write_bytes(data if encoding == "utf-16" else b"\xfe\xff" + data)
        result = SettingsStore(path).load()
        assert result.problem is None and result.settings.recent_folders[1] == "/photos/Zoë"
        assert result.settings.monitor == good_settings().monitor
