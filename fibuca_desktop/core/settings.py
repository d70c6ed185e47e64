"""Typed user settings, kept as one JSON file in the user's config folder.

``SettingsStore.load`` never raises and never loses a good entry: a missing file gives the
defaults; a bad entry (a wrong type, a value out of range, a bad monitor target among good ones)
falls back to its default or is left out, is named in ``problem``, and the original file is kept
aside; a file that is not JSON at all is moved aside whole; a file written by a newer version is
left alone and guarded against ``save`` until ``reset``. ``save`` is atomic and cannot fail
because of one bad value (it is saved as its default, and logged). JSON only, no pickle or eval.
Passwords and tokens never go here (the OS keyring holds them); window geometry and splitters
live in QSettings, owned by the UI.

To add a section: a dataclass of JSON-friendly fields with defaults (str, int, float, bool, lists,
dicts keyed by text, ``X | None``, nested dataclasses), a field for it on ``Settings``, and if
needed a ``check(where)`` method for rules beyond types. Loading, saving and type checks are
generic over the fields (settings_schema.py).
"""

from __future__ import annotations

import codecs
import json
import logging
import os
import sys
import tempfile
from contextlib import suppress
from dataclasses import asdict, dataclass, field
from datetime import datetime
from pathlib import Path

from fibuca_desktop.core.cluster_settings import ClusterSettings
from fibuca_desktop.core.database.database_settings import DatabaseSettings
from fibuca_desktop.core.errors import SettingsError
from fibuca_desktop.core.imaging.presets import DEFAULT_PRESET, PRESETS
from fibuca_desktop.core.imaging.processing_settings import (  # noqa: F401  (part of this API)
    MAX_WORKERS,
    OPTION_NAMES,
    PresetOptions,
    ProcessingSettings,
)
from fibuca_desktop.core.monitor.targets import MonitorSettings
from fibuca_desktop.core.settings_schema import parse_int, parse_section, show

log = logging.getLogger(__name__)

SCHEMA_VERSION = 1
FILE_NAME = "settings.json"
MAX_RECENT_FOLDERS = 10
_MAX_LISTED = 5  # bad entries named in the message; all of them are in LoadResult.set_aside


@dataclass
class Settings:
    """Everything the app remembers between runs, except secrets and window state."""

    schema_version: int = SCHEMA_VERSION
    database: DatabaseSettings = field(default_factory=DatabaseSettings)
    processing: ProcessingSettings = field(default_factory=ProcessingSettings)
    monitor: MonitorSettings = field(default_factory=MonitorSettings)
    cluster: ClusterSettings = field(default_factory=ClusterSettings)
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
            raise SettingsError(f"schema_version must be {SCHEMA_VERSION}, got {show(version)}")


def _newest_unique(folders: list) -> list:
    kept: list = []
    for folder in folders:
        if folder and folder not in kept:
            kept.append(folder)
            if len(kept) == MAX_RECENT_FOLDERS:
                break
    return kept


def validate(settings: Settings) -> None:
    """Raise SettingsError naming the first bad entry by its dotted path: processing.workers."""
    problems: list[str] = []
    _cleaned(settings, problems)
    if problems:
        raise SettingsError(problems[0])


def serialize(settings: Settings, problems: list[str] | None = None) -> str:
    """The exact text ``save`` writes for ``settings`` (bad values as their defaults, added to
    ``problems``). Cheap (well under a millisecond): compare two to know if anything changed."""
    cleaned = _cleaned(settings, problems if problems is not None else [])
    return json.dumps(asdict(cleaned), indent=2, sort_keys=True, allow_nan=False) + "\n"


def _cleaned(settings: Settings, problems: list[str]) -> Settings:
    """A validated, normalised copy: exactly what ``load`` would return after a ``save``."""
    return parse_section(Settings, asdict(settings), "", problems)


def _migrate(data: dict) -> None:
    """Settings version 1 before issue 10 kept one set of overrides for every preset, flat in
    ``processing``; they move to the preset chosen in that file, the one they were checked
    against when saved. Options already stored for that preset win."""
    processing = data.get("processing")
    if not isinstance(processing, dict):
        return
    flat = {name: processing.pop(name) for name in OPTION_NAMES if name in processing}
    flat = {name: value for name, value in flat.items() if value is not None}
    if not flat:
        return
    preset = processing.get("preset")
    preset = preset if isinstance(preset, str) and preset in PRESETS else DEFAULT_PRESET
    options = processing.setdefault("options", {})
    if isinstance(options, dict) and preset not in options:
        options[preset] = flat
        log.info("moved the options %s to processing.options.%s", ", ".join(flat), preset)


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
    kept_as: Path | None = None  # where the original of a broken or repaired file was kept
    read_only: bool = False  # the file belongs to a newer version: save() refuses until reset()
    set_aside: tuple[str, ...] = ()  # each bad entry: what was wrong and what became of it


@dataclass(frozen=True)
class SaveResult:
    written: bool  # False: the file already held exactly this text
    set_aside: tuple[str, ...] = ()  # bad values saved as their defaults (also logged)


class SettingsStore:
    """Loads and saves one settings file; ``path`` None means ``default_settings_path()``."""

    def __init__(self, path: Path | str | None = None) -> None:
        self.path = Path(path).expanduser() if path is not None else default_settings_path()

    def load(self) -> LoadResult:
        """The saved settings, every good entry kept; ``problem`` says what was not. Never
        raises."""
        try:
            raw = self.path.read_bytes()
            text = _text_of(raw)
            data = json.loads(text, parse_int=parse_int)
        except FileNotFoundError:
            log.info("no settings file at %s; using the defaults", self.path)
            return LoadResult(Settings())
        except OSError as error:
            return self._broken(f"it could not be read ({error.strerror or error})")
        except UnicodeDecodeError:
            return self._broken("it is not UTF-8 text")  # a UTF-16 BOM with odd bytes after it
        except json.JSONDecodeError as error:
            return self._broken(
                f"it is not valid JSON ({error.msg} at line {error.lineno}, column {error.colno})"
            )
        except (ValueError, RecursionError) as error:
            return self._broken(f"it is not valid JSON ({error})")
        if not isinstance(data, dict):
            return self._broken(f"it must hold a JSON object {{...}}, but holds {show(data)}")
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
        _migrate(data)
        problems: list[str] = []
        try:
            settings = parse_section(Settings, data, "", problems)
        except RecursionError:  # nesting deeper than any section: nothing in it is ours
            return self._broken("it is nested too deeply")
        if problems:
            return self._repaired(settings, raw, problems)
        log.info("loaded settings from %s", self.path)
        return LoadResult(settings)

    def peek(self) -> Settings:
        """The saved settings as ``load`` reads them, every good entry kept, but the file is
        never moved, repaired or written: for a CLI command that only reads a setting."""
        try:
            data = json.loads(_text_of(self.path.read_bytes()), parse_int=parse_int)
            if not isinstance(data, dict) or _newer_version(data) is not None:
                return Settings()
            _migrate(data)
            return parse_section(Settings, data, "", [])
        except (OSError, ValueError, RecursionError):  # absent, not JSON, too deep: as load
            return Settings()

    def serialize(self, settings: Settings) -> str:
        """The text ``save`` would write now: the UI compares it with the last one saved."""
        return serialize(settings)

    def save(self, settings: Settings) -> SaveResult:
        """Replace the file atomically (temp file, fsync, rename), unless it already holds
        exactly this. A bad value never stops a save: it is saved as its default, returned in
        ``set_aside`` and logged, and every other section is saved as it is. Raises
        SettingsError only when the file cannot be written or belongs to a newer version."""
        problems: list[str] = []
        text = serialize(settings, problems)
        for problem in problems:
            log.warning("setting saved as its default: %s", problem)
        try:
            current = self.path.read_bytes()
        except OSError:
            current = None
        try:
            data = json.loads(current.decode("utf-8-sig"), parse_int=parse_int) if current else None
            newer = _newer_version(data)
        except (ValueError, RecursionError):
            newer = None
        if newer is not None:
            raise SettingsError(
                f"Settings were not saved: {self.path} belongs to a newer version of Fibuca "
                f"Desktop (settings version {newer}). Reset the settings to replace it (the old "
                "file is kept), or choose another file with --settings-file."
            )
        if current == text.encode("utf-8"):
            return SaveResult(False, tuple(problems))
        self._write(text)
        log.info("saved settings to %s", self.path)
        return SaveResult(True, tuple(problems))

    def _write(self, text: str) -> None:
        target = Path(os.path.realpath(self.path))  # write through a symlinked dotfile
        try:
            target.parent.mkdir(parents=True, exist_ok=True)
            fd, temp = tempfile.mkstemp(dir=target.parent, prefix=f".{target.name}.", suffix=".tmp")
            try:
                with os.fdopen(fd, "w", encoding="utf-8") as out:  # mkstemp: mode 0600
                    out.write(text)
                    out.flush()
                    os.fsync(out.fileno())
                os.replace(temp, target)
            except BaseException:
                with suppress(OSError):
                    os.unlink(temp)
                raise
            _sync_folder(target.parent)
        except OSError as error:
            raise SettingsError(
                f"Could not save the settings to {self.path}: {error.strerror or error}. Check "
                "that the folder is writable, or choose another file with --settings-file."
            ) from error

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

    def _repaired(self, settings: Settings, raw: bytes, problems: list[str]) -> LoadResult:
        """Keep the original bytes aside, then put the repaired settings in its place: the next
        start is clean, and nothing the user wrote is lost."""
        try:
            kept: Path | None = self._copy_aside(raw, "broken")
        except OSError as error:
            kept = None
            fate = f"the file was left as it is (no copy could be kept: {error.strerror or error})"
        else:
            fate = f"the original file was kept as {kept}"
            try:
                self._write(serialize(settings))
            except SettingsError as error:
                fate += f", but the repaired settings could not be written: {error}"
        shown = "; ".join(problems[:_MAX_LISTED])
        more = f"; and {len(problems) - _MAX_LISTED} more" if len(problems) > _MAX_LISTED else ""
        problem = (
            f"Some entries of the settings file {self.path} could not be used: {shown}{more}. "
            f"All other settings were kept; {fate}."
        )
        log.warning("%s", problem)
        return LoadResult(settings, problem, kept_as=kept, set_aside=tuple(problems))

    def _aside_name(self, label: str) -> Path:
        base = f"{self.path.name}.{label}-{datetime.now():%Y%m%d-%H%M%S}"
        target, n = self.path.with_name(base), 1
        while os.path.lexists(target):  # never overwrite an earlier kept file
            n += 1
            target = self.path.with_name(f"{base}-{n}")
        return target

    def _move_aside(self, label: str) -> Path:
        target = self._aside_name(label)
        os.rename(self.path, target)
        return target

    def _copy_aside(self, raw: bytes, label: str) -> Path:
        target = self._aside_name(label)
        fd = os.open(target, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "wb") as out:
            out.write(raw)
            out.flush()
            os.fsync(out.fileno())
        return target


def _sync_folder(folder: Path) -> None:
    """Make the rename itself durable (POSIX); where folders cannot be opened, nothing to do."""
    with suppress(OSError, AttributeError):
        fd = os.open(folder, os.O_RDONLY | getattr(os, "O_DIRECTORY", 0))
        try:
            os.fsync(fd)
        finally:
            os.close(fd)


def _text_of(raw: bytes) -> str:
    """The file's text. Notepad's BOM is harmless and its "Unicode" (UTF-16) is read as such; a
    byte that is not UTF-8 (one value typed in another encoding) is kept as an escape, so only
    the entry holding it is set aside (``settings_schema``), never the whole file."""
    if raw.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)):
        return raw.decode("utf-16")
    return raw.decode("utf-8-sig", "surrogateescape")


def _newer_version(data: object) -> int | None:
    version = data.get("schema_version") if isinstance(data, dict) else None
    if isinstance(version, int) and not isinstance(version, bool) and version > SCHEMA_VERSION:
        return version
    return None
