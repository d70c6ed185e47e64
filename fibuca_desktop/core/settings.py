"""Typed user settings, kept as one JSON file in the user's config folder.

``SettingsStore.load`` never raises: a missing file gives the defaults, a broken one is moved aside
(never deleted) and reported, and a file written by a newer version is left alone and guarded
against ``save`` until ``reset``. JSON only, no pickle or eval. Passwords and tokens never go here
(the OS keyring holds them); window geometry and splitters live in QSettings, owned by the UI.

To add a section: a dataclass of JSON-friendly fields with defaults (str, int, float, bool, lists,
``X | None``, nested dataclasses), a field for it on ``Settings``, and if needed a ``check(where)``
method for rules beyond types. Loading, saving and type checks are generic over the fields.
"""

from __future__ import annotations

import json
import logging
import os
import re
import sys
import tempfile
import types
import typing
from contextlib import suppress
from dataclasses import asdict, dataclass, field, fields, is_dataclass
from datetime import datetime
from functools import cache
from pathlib import Path

from fibuca_desktop.core.database.database_settings import DatabaseSettings
from fibuca_desktop.core.errors import SettingsError, UsageError
from fibuca_desktop.core.imaging.models import DEFAULT_MODEL, MODELS
from fibuca_desktop.core.imaging.presets import DEFAULT_PRESET, PRESETS, WHITE, Preset, get_preset
from fibuca_desktop.core.monitor.targets import MonitorSettings

log = logging.getLogger(__name__)

SCHEMA_VERSION = 1
FILE_NAME = "settings.json"
MAX_WORKERS = 64
MAX_RECENT_FOLDERS = 10
_OVERRIDES = ("max_side", "format", "quality", "background", "margin")
# Checks one override at a time; its background keeps "format: jpeg" alone from failing.
_NEUTRAL = Preset("neutral", "checks a single override", background=WHITE)
_KINDS = {bool: "true or false", int: "a whole number", float: "a number", str: "text"}


def _join(where: str, name: str) -> str:
    return f"{where}.{name}" if where else name


@dataclass
class ProcessingSettings:
    """Background removal defaults. The overrides (None: as the preset says) change the preset."""

    preset: str = DEFAULT_PRESET
    model: str = DEFAULT_MODEL
    output_dir: str | None = None  # None: the UI's default, a folder next to the input
    workers: int | None = None  # None: automatic
    overwrite: bool = False
    max_side: int | None = None
    format: str | None = None
    quality: int | None = None
    background: str | None = None
    margin: float | None = None

    def resolved_preset(self) -> Preset:
        """The preset with the overrides applied; raises UsageError on a bad combination."""
        overrides = {name: getattr(self, name) for name in _OVERRIDES}
        return get_preset(self.preset).with_options(**overrides)

    def check(self, where: str) -> None:
        for name, known in (("preset", PRESETS), ("model", MODELS)):
            if getattr(self, name) not in known:
                choices = ", ".join(known)
                raise SettingsError(
                    f"{where}.{name} must be one of {choices}, got {_show(getattr(self, name))}"
                )
        if self.workers is not None and not 1 <= self.workers <= MAX_WORKERS:
            raise SettingsError(
                f"{where}.workers must be between 1 and {MAX_WORKERS}, got {self.workers}"
            )
        if self.output_dir is not None and not self.output_dir.strip():
            raise SettingsError(f"{where}.output_dir must be a folder or null, not empty text")
        for name in _OVERRIDES:
            try:
                _NEUTRAL.with_options(**{name: getattr(self, name)})
            except UsageError as error:  # drop the CLI flag: "--quality 0 is ..." -> "0 is ..."
                message = re.sub(r"^--[a-z-]+ ", "", str(error))
                raise SettingsError(f"{where}.{name}: {message}") from None
        try:
            self.resolved_preset()
        except UsageError as error:
            raise SettingsError(
                f"{where}: the overrides do not fit preset {self.preset!r}: {error}"
            ) from None


@dataclass
class Settings:
    """Everything the app remembers between runs, except secrets and window state."""

    schema_version: int = SCHEMA_VERSION
    database: DatabaseSettings = field(default_factory=DatabaseSettings)
    processing: ProcessingSettings = field(default_factory=ProcessingSettings)
    monitor: MonitorSettings = field(default_factory=MonitorSettings)
    recent_folders: list[str] = field(default_factory=list)  # newest first, unique, at most 10

    def __post_init__(self) -> None:
        if isinstance(self.recent_folders, list):
            self.recent_folders = _newest_unique(self.recent_folders)

    def remember_folder(self, folder: str | os.PathLike[str]) -> None:
        """Put ``folder`` first in ``recent_folders``, dropping its older entry and the eleventh."""
        path = os.fspath(folder)
        if not path:
            raise ValueError("an empty folder name cannot be remembered")
        self.recent_folders = _newest_unique([os.path.normpath(path), *self.recent_folders])

    def check(self, where: str) -> None:
        if self.schema_version != SCHEMA_VERSION:
            version = self.schema_version
            raise SettingsError(f"schema_version must be {SCHEMA_VERSION}, got {_show(version)}")


def _newest_unique(folders: list) -> list:
    kept: list = []
    for folder in folders:
        if folder and folder not in kept:
            kept.append(folder)
            if len(kept) == MAX_RECENT_FOLDERS:
                break
    return kept


def validate(settings: Settings) -> None:
    """Raise SettingsError naming the first bad field by its dotted path: processing.workers."""
    _checked(settings)


def _checked(settings: Settings) -> Settings:
    """A validated, normalised copy: exactly what ``load`` would return after a ``save``."""
    return _parse_section(Settings, asdict(settings), "")


@cache
def _hints(cls: type) -> dict[str, typing.Any]:
    return typing.get_type_hints(cls)


def _parse_section(cls: type, data: dict, where: str) -> typing.Any:
    hints = _hints(cls)
    names = {f.name for f in fields(cls)}
    values = {key: _parse(hints[key], data[key], _join(where, key)) for key in data if key in names}
    for unknown in sorted(set(data) - names):  # a newer minor version, or a typo
        log.warning("ignoring unknown setting %s", _join(where, str(unknown)))
    section = cls(**values)
    if hasattr(section, "check"):
        section.check(where)
    return section


def _parse(hint: typing.Any, value: object, where: str, nullable: bool = False) -> typing.Any:
    origin = typing.get_origin(hint)
    if origin in (typing.Union, types.UnionType):
        if value is None and type(None) in typing.get_args(hint):
            return None
        (inner,) = [arg for arg in typing.get_args(hint) if arg is not type(None)]
        return _parse(inner, value, where, nullable=True)
    if is_dataclass(hint):
        ok, kind = isinstance(value, dict), "an object"
    elif origin is list:
        ok, kind = isinstance(value, list), "a list"
    elif hint in _KINDS:
        kind = _KINDS[hint]  # JSON true is a Python int: keep bools and numbers apart
        if hint is bool or isinstance(value, bool):
            ok = hint is bool and isinstance(value, bool)
        else:
            ok = isinstance(value, int | float if hint is float else hint)
    else:
        raise TypeError(f"settings cannot store {hint!r} ({where})")  # a programming error
    if not ok:
        kind += " or null" if nullable else ""
        raise SettingsError(f"{where} must be {kind}, got {_show(value)}")
    if is_dataclass(hint):
        return _parse_section(hint, value, where)
    if origin is list:
        (item,) = typing.get_args(hint)
        return [_parse(item, each, f"{where}[{i}]") for i, each in enumerate(value)]
    return float(value) if hint is float else value


def _show(value: object) -> str:
    try:
        text = json.dumps(value)
    except (TypeError, ValueError):
        text = repr(value)
    return text if len(text) <= 60 else text[:57] + "..."


def default_settings_path() -> Path:
    """``$FIBUCA_SETTINGS_FILE`` if set, else the per-user config folder of this platform."""
    override = os.environ.get("FIBUCA_SETTINGS_FILE")
    if override:
        return Path(override).expanduser()
    if sys.platform == "win32":
        appdata = os.environ.get("APPDATA")
        base = Path(appdata) if appdata else Path.home() / "AppData" / "Roaming"
        return base / "Fibuca Desktop" / FILE_NAME
    if sys.platform == "darwin":
        return Path.home() / "Library" / "Application Support" / "Fibuca Desktop" / FILE_NAME
    xdg = os.environ.get("XDG_CONFIG_HOME", "")
    base = Path(xdg) if os.path.isabs(xdg) else Path.home() / ".config"  # XDG: ignore relative
    return base / "fibuca-desktop" / FILE_NAME


@dataclass(frozen=True)
class LoadResult:
    settings: Settings
    problem: str | None = None  # a sentence for the user; None when the file was fine or absent
    kept_as: Path | None = None  # where a broken file was moved
    read_only: bool = False  # the file belongs to a newer version: save() refuses until reset()


class SettingsStore:
    """Loads and saves one settings file; ``path`` None means ``default_settings_path()``."""

    def __init__(self, path: Path | str | None = None) -> None:
        self.path = Path(path).expanduser() if path is not None else default_settings_path()

    def load(self) -> LoadResult:
        """The saved settings, or the defaults with ``problem`` set. Never raises."""
        try:
            data = _read_json(self.path)
        except FileNotFoundError:
            log.info("no settings file at %s; using the defaults", self.path)
            return LoadResult(Settings())
        except OSError as error:
            return self._broken(f"it could not be read ({error.strerror or error})")
        except UnicodeDecodeError:
            return self._broken("it is not UTF-8 text")
        except json.JSONDecodeError as error:
            return self._broken(
                f"it is not valid JSON ({error.msg} at line {error.lineno}, column {error.colno})"
            )
        except (ValueError, RecursionError) as error:
            return self._broken(f"it is not valid JSON ({error})")
        if not isinstance(data, dict):
            return self._broken(f"it must hold a JSON object {{...}}, but holds {_show(data)}")
        newer = _newer_version(data)
        if newer is not None:
            problem = (
                f"The settings file {self.path} was written by a newer version of Fibuca Desktop "
                f"(settings version {newer}; this version knows {SCHEMA_VERSION}). Default "
                "settings are in use and the file was left untouched; changes will not be saved "
                "until you reset the settings."
            )
            log.warning("%s", problem)
            return LoadResult(Settings(), problem, read_only=True)
        try:
            settings = _parse_section(Settings, data, "")
        except SettingsError as error:
            return self._broken(str(error))
        log.info("loaded settings from %s", self.path)
        return LoadResult(settings)

    def save(self, settings: Settings) -> None:
        """Validate, then replace the file atomically (temp file, fsync, rename); SettingsError."""
        text = json.dumps(asdict(_checked(settings)), indent=2, sort_keys=True, allow_nan=False)
        try:
            newer = _newer_version(_read_json(self.path))
        except (OSError, ValueError, RecursionError):
            newer = None
        if newer is not None:
            raise SettingsError(
                f"Settings were not saved: {self.path} belongs to a newer version of Fibuca "
                f"Desktop (settings version {newer}). Reset the settings to replace it (the old "
                "file is kept), or choose another file with --settings-file."
            )
        target = Path(os.path.realpath(self.path))  # write through a symlinked dotfile
        try:
            target.parent.mkdir(parents=True, exist_ok=True)
            fd, temp = tempfile.mkstemp(dir=target.parent, prefix=f".{target.name}.", suffix=".tmp")
            try:
                with os.fdopen(fd, "w", encoding="utf-8") as out:  # mkstemp: mode 0600
                    out.write(text + "\n")
                    out.flush()
                    os.fsync(out.fileno())
                os.replace(temp, target)
            except BaseException:
                with suppress(OSError):
                    os.unlink(temp)
                raise
        except OSError as error:
            raise SettingsError(
                f"Could not save the settings to {self.path}: {error.strerror or error}. Check "
                "that the folder is writable, or choose another file with --settings-file."
            ) from error
        log.info("saved settings to %s", self.path)

    def reset(self) -> Settings:
        """Move the current file aside (never delete it) and save the defaults in its place."""
        if os.path.lexists(self.path):
            try:
                log.info("settings reset; the old file was kept as %s", self._move_aside("reset"))
            except OSError as error:
                raise SettingsError(
                    f"Could not reset the settings: {self.path} could not be moved aside "
                    f"({error.strerror or error})."
                ) from error
        settings = Settings()
        self.save(settings)
        return settings

    def _broken(self, reason: str) -> LoadResult:
        kept = None
        try:
            kept = self._move_aside("broken")
            fate = f"the old file was kept as {kept}"
        except OSError as error:
            fate = f"the old file could not be moved aside ({error.strerror or error})"
        problem = (
            f"The settings file {self.path} could not be used: {reason.rstrip('.')}. "
            f"Default settings are in use; {fate}."
        )
        log.warning("%s", problem)
        return LoadResult(Settings(), problem, kept_as=kept)

    def _move_aside(self, label: str) -> Path:
        base = f"{self.path.name}.{label}-{datetime.now():%Y%m%d-%H%M%S}"
        target, n = self.path.with_name(base), 1
        while os.path.lexists(target):  # never overwrite an earlier kept file
            n += 1
            target = self.path.with_name(f"{base}-{n}")
        os.rename(self.path, target)
        return target


def _read_json(path: Path) -> object:
    return json.loads(path.read_bytes().decode("utf-8-sig"))  # -sig: Notepad's BOM is harmless


def _newer_version(data: object) -> int | None:
    version = data.get("schema_version") if isinstance(data, dict) else None
    if isinstance(version, int) and not isinstance(version, bool) and version > SCHEMA_VERSION:
        return version
    return None
