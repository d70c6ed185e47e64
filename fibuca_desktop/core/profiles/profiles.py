"""Export profiles: a preset for one web shop or marketplace plus the rules its file must pass.

The built-in profiles are data (``resources/profiles.toml``, each number with its source); a user
adds their own in ``profiles.toml`` beside the settings file, in the same format. A bad file is a
``UsageError`` naming the file and the line, never a traceback; a user profile may not take a
built-in one's name (that would silently change what ``amazon`` means).
"""

from __future__ import annotations

import os
import re
import tomllib
from dataclasses import dataclass, fields
from pathlib import Path

from fibuca_desktop.core.errors import UsageError
from fibuca_desktop.core.imaging.presets import FORMATS, WHITE, Preset, parse_background
from fibuca_desktop.core.resources import resources_dir

BUILT_IN_FILE = "profiles.toml"
PROFILE_NAME = re.compile(r"^[a-z0-9][a-z0-9_-]{0,39}$")
_OUTPUT_KEYS = {"format", "quality", "background", "canvas", "max_side", "fill", "anchor", "edges"}
_TOP_KEYS = {"description", "sources", "output", "rules"}


@dataclass(frozen=True)
class Rules:
    """What a written file must be. None (or empty) means the marketplace sets no such rule."""

    formats: tuple[str, ...] = ()
    colour_space: str | None = None  # "sRGB": untagged, or tagged with an sRGB profile
    white_frame: bool = False  # every pixel of the outer frame is exactly (255, 255, 255)
    frame: float = 0.01  # the frame's width, as a share of the shorter side (at least 2 px)
    min_share: float | None = None  # the product's bounding box along its longer side
    max_share: float | None = None
    aspect: float | None = None  # width / height, within 1%
    min_long_side: int | None = None
    min_short_side: int | None = None
    max_long_side: int | None = None
    max_megapixels: float | None = None
    max_file_mb: float | None = None
    no_upscale: bool = False  # the product is never shown larger than the photo holds it


@dataclass(frozen=True)
class Profile:
    name: str
    description: str
    preset: Preset
    rules: Rules
    sources: tuple[str, ...] = ()
    origin: str = "built-in"  # or the user file it came from

    def with_preset(self, preset: Preset) -> Profile:
        """The same rules over a preset changed by command-line or settings options."""
        return Profile(self.name, self.description, preset, self.rules, self.sources, self.origin)


def user_profiles_path() -> Path:
    """Where a user's own profiles live: ``$FIBUCA_PROFILES_FILE``, or beside the settings."""
    override = os.environ.get("FIBUCA_PROFILES_FILE")
    if override:
        return Path(override).expanduser()
    from fibuca_desktop.core.settings import default_settings_path  # settings imports us

    return default_settings_path().parent / "profiles.toml"


def load_profiles(user_file: Path | None = None) -> dict[str, Profile]:
    """The built-in profiles, then the user's (``user_file`` or the default, if it exists).
    Raises UsageError naming the file and line of the first problem."""
    profiles = _load(resources_dir() / BUILT_IN_FILE, "built-in")
    path = user_file if user_file is not None else user_profiles_path()
    if path.is_file():
        for name, profile in _load(path, str(path)).items():
            if name in profiles:
                raise UsageError(
                    f"{path}, line {_line_of(path.read_text('utf-8'), name, None)}: profile "
                    f"{name!r} is built in; give yours another name (for example {name}-own)."
                )
            profiles[name] = profile
    return profiles


def get_profile(name: str, user_file: Path | None = None) -> Profile:
    profiles = load_profiles(user_file)
    try:
        return profiles[name]
    except KeyError:
        raise UsageError(
            f"Unknown profile {name!r}; choose one of {', '.join(profiles)} "
            "(fibuca-desktop profiles list)."
        ) from None


def _load(path: Path, origin: str) -> dict[str, Profile]:
    try:
        text = path.read_text("utf-8")
    except (OSError, UnicodeDecodeError) as error:
        raise UsageError(f"Cannot read the profiles in {path}: {error}.") from None
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as error:  # its message says "(at line N, column M)"
        raise UsageError(f"{path}: not valid TOML: {error}.") from None
    profiles = {}
    for name, table in data.items():
        try:
            profiles[name] = _profile(name, table, origin)
        except _Problem as problem:
            line = _line_of(text, name, problem.key)
            raise UsageError(f"{path}, line {line}: profile {name!r}: {problem}") from None
    return profiles


class _Problem(Exception):
    def __init__(self, message: str, key: str | None = None) -> None:
        super().__init__(message)
        self.key = key  # "output.fill": where to point the line number


def _profile(name: str, table, origin: str) -> Profile:
    if not PROFILE_NAME.match(name):
        raise _Problem("a name is 1-40 lower-case letters, digits, - or _, starting with one")
    if not isinstance(table, dict):
        raise _Problem(f"write it as a table: [{name}] with description, output and rules")
    unknown = set(table) - _TOP_KEYS
    if unknown:
        key = sorted(unknown)[0]
        raise _Problem(f"unknown key {key!r}; use {', '.join(sorted(_TOP_KEYS))}", key)
    description = table.get("description", "")
    sources = table.get("sources", [])
    if not isinstance(description, str) or not isinstance(sources, list):
        raise _Problem("description is text and sources a list of texts", "description")
    output = table.get("output", {})
    preset = _preset(name, description, output)
    rules = _rules(table.get("rules", {}))
    if rules.white_frame and preset.background != WHITE:
        raise _Problem('rules.white_frame needs output.background = "white"', "rules.white_frame")
    return Profile(name, description, preset, rules, tuple(map(str, sources)), origin)


def _preset(name: str, description: str, output) -> Preset:
    if not isinstance(output, dict):
        raise _Problem("output is a table of preset options", "output")
    for key in output:
        if key not in _OUTPUT_KEYS:
            raise _Problem(
                f"unknown output key {key!r}; use {', '.join(sorted(_OUTPUT_KEYS))}",
                f"output.{key}",
            )
    try:
        fmt = str(output.get("format", "jpeg"))
        background = output.get("background", "white")
        preset = Preset(
            name,
            description,
            format={"jpg": "jpeg"}.get(fmt, fmt),
            background=parse_background(str(background)),
            canvas=_whole(output, "canvas"),
            max_side=_whole(output, "max_side"),
        )
        return preset.with_options(
            quality=_whole(output, "quality"),
            fill=_number(output, "fill"),
            anchor=output.get("anchor"),
            edges=output.get("edges"),
        )
    except UsageError as error:  # worded for the command line: "--fill 2 is out of range"
        message = str(error).replace("--bg", "--background").replace("--", "output.")
        named = re.search(r"output\.(\w+)", message)
        raise _Problem(message, f"output.{named.group(1)}" if named else "output") from None


def _rules(table) -> Rules:
    if not isinstance(table, dict):
        raise _Problem("rules is a table", "rules")
    known = {f.name: f for f in fields(Rules)}
    values: dict = {}
    for key, value in table.items():
        if key not in known:
            raise _Problem(f"unknown rule {key!r}; use {', '.join(known)}", f"rules.{key}")
        if key == "formats":
            if not isinstance(value, list) or not all(v in FORMATS for v in value):
                raise _Problem(f"rules.formats lists some of {', '.join(FORMATS)}", "rules.formats")
            value = tuple(value)
        elif key == "colour_space":
            if value != "sRGB":
                raise _Problem('rules.colour_space can only be "sRGB"', "rules.colour_space")
        elif key in ("white_frame", "no_upscale"):
            if not isinstance(value, bool):
                raise _Problem(f"rules.{key} is true or false", f"rules.{key}")
        else:
            if isinstance(value, bool) or not isinstance(value, int | float) or value <= 0:
                raise _Problem(f"rules.{key} is a number above 0", f"rules.{key}")
            if key.endswith("share") and value > 1:
                raise _Problem(f"rules.{key} is a share: 0 to 1", f"rules.{key}")
        values[key] = value
    rules = Rules(**values)
    if rules.min_share and rules.max_share and rules.min_share > rules.max_share:
        raise _Problem("rules.min_share is above rules.max_share", "rules.min_share")
    return rules


def _whole(table: dict, key: str) -> int | None:
    value = table.get(key)
    if value is not None and (isinstance(value, bool) or not isinstance(value, int)):
        raise _Problem(f"output.{key} is a whole number", f"output.{key}")
    if value is not None and not 16 <= value <= 20000 and key != "quality":
        message = f"output.{key} {value} is out of range; use 16 to 20000 pixels"
        raise _Problem(message, f"output.{key}")
    return value


def _number(table: dict, key: str) -> float | None:
    value = table.get(key)
    if value is not None and (isinstance(value, bool) or not isinstance(value, int | float)):
        raise _Problem(f"output.{key} is a number", f"output.{key}")
    return value


def _line_of(text: str, name: str, key: str | None) -> int:
    """The line of ``[name]`` (or of ``key``, "output.fill", inside ``[name.output]``); 1 if the
    file spells it some other way (dotted keys, inline tables)."""
    lines = text.splitlines()
    section, leaf = key.rsplit(".", 1) if key and "." in key else (None, key)
    header = f"[{name}.{section}]" if section else f"[{name}]"
    start = next((i for i, line in enumerate(lines) if line.strip().startswith(header)), None)
    if start is None:
        return 1
    if leaf:
        for index in range(start + 1, len(lines)):
            stripped = lines[index].strip()
            if stripped.startswith("["):
                break
            if re.match(rf"{re.escape(leaf)}\s*=", stripped):
                return index + 1
    return start + 1
