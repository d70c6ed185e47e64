"""Typed parsing of the settings file, one entry at a time.

Generic over dataclass fields (str, int, float, bool, ``X | None``, lists, dicts keyed by text,
nested dataclasses with defaults). A bad entry never costs the rest: a field with a wrong type
or value gets its default, a bad list item or dict entry is left out, and each is reported in
``problems`` as one sentence naming it by its dotted path (``monitor.targets[1].url: ...``).
A section's ``check(where)`` may raise SettingsError for rules across fields; the culprit is
then found by trying the smallest repairs (one field back to its default, one item left out).
"""

from __future__ import annotations

import copy
import json
import logging
import math
import re
import types
import typing
from dataclasses import asdict, fields, is_dataclass, replace
from functools import cache

from fibuca_desktop.core.errors import SettingsError

log = logging.getLogger(__name__)

_KINDS = {bool: "true or false", int: "a whole number", float: "a number", str: "text"}
_MAX_REPAIRS = 50  # per section: each repair fixes one entry, so this is only a loop guard
RESET, LEFT_OUT = "set back to the default", "left out"
_SURROGATE = re.compile("[\udc80-\udcff]")  # how a byte that is not UTF-8 is kept


def join(where: str, name: str) -> str:
    return f"{where}.{name}" if where else name


class HugeNumber:
    """A JSON integer too long to be any setting (``json.loads`` would refuse the whole file
    beyond 4300 digits): kept as its digits, so only its own entry is set aside."""

    def __init__(self, digits: str) -> None:
        self.digits = digits

    def __repr__(self) -> str:
        return f"a number of {len(self.digits.lstrip('-'))} digits"


def parse_int(digits: str) -> int | HugeNumber:
    """``json.loads(..., parse_int=parse_int)``: no setting needs more than 18 digits."""
    return int(digits) if len(digits) <= 19 else HugeNumber(digits)


def show(value: object) -> str:
    """A value as the user wrote it, short enough for a message. Never raises."""
    if isinstance(value, int) and value.bit_length() > 64:  # str() of a huge int may raise
        return f"a number of about {int(value.bit_length() * 0.30103) + 1} digits"
    try:
        text = json.dumps(value)
    except (TypeError, ValueError, RecursionError):
        try:
            text = repr(value)
        except Exception:  # an object of someone else's making: its type must do
            text = f"a {type(value).__name__}"
    return text if len(text) <= 60 else text[:57] + "..."


@cache
def _hints(cls: type) -> dict[str, typing.Any]:
    return typing.get_type_hints(cls)


def parse_section(cls: type, data: dict, where: str, problems: list[str]) -> typing.Any:
    """``cls`` from ``data``, every good entry kept; what was set aside is added to ``problems``."""
    hints, default = _hints(cls), cls()
    names = [f.name for f in fields(cls)]
    values = {}
    for key in names:
        if key not in data:
            continue
        try:
            values[key] = parse_value(hints[key], data[key], join(where, key), problems)
        except SettingsError as error:
            problems.append(f"{error} ({RESET})")
    for unknown in sorted(set(data) - set(names), key=str):  # a newer minor version, or a typo
        log.warning("ignoring unknown setting %s", join(where, str(unknown)))
    return _repaired(cls(**values), default, where, problems)


def parse_value(hint: typing.Any, value: object, where: str, problems: list[str]) -> typing.Any:
    """One value of type ``hint``; raises SettingsError when the value itself is unusable."""
    nullable = False
    if typing.get_origin(hint) in (typing.Union, types.UnionType):
        if value is None and type(None) in typing.get_args(hint):
            return None
        (hint,) = [arg for arg in typing.get_args(hint) if arg is not type(None)]
        nullable = True
    origin = typing.get_origin(hint)
    if is_dataclass(hint):
        ok, kind = isinstance(value, dict), "an object"
    elif origin is list:
        ok, kind = isinstance(value, list), "a list"
    elif origin is dict:
        ok, kind = isinstance(value, dict), "an object"
    elif hint in _KINDS:
        kind = _KINDS[hint]  # JSON true is a Python int: keep bools and numbers apart
        if hint is bool or isinstance(value, bool):
            ok = hint is bool and isinstance(value, bool)
        else:
            ok = isinstance(value, int | float if hint is float else hint)
            ok = ok and (hint is not float or math.isfinite(value))  # JSON has no NaN
            ok = ok and (hint is not int or value.bit_length() < 64)  # no setting is larger
    else:
        raise TypeError(f"settings cannot store {hint!r} ({where})")  # a programming error
    if not ok:
        kind += " or null" if nullable else ""
        raise SettingsError(f"{where} must be {kind}, got {show(value)}")
    if hint is str and _SURROGATE.search(value):  # bytes that were not UTF-8 in the file
        raise SettingsError(
            f"{where} is not UTF-8 text (saved in another encoding?), got {show(value)}"
        )
    if is_dataclass(hint):
        return parse_section(hint, value, where, problems)
    if origin is list:
        return _items(typing.get_args(hint)[0], value, where, problems)
    if origin is dict:
        return _entries(typing.get_args(hint)[1], value, where, problems)
    return float(value) if hint is float else value


def _items(hint: typing.Any, value: list, where: str, problems: list[str]) -> list:
    """A list keeps its good items; an item with any problem is left out whole (a monitor
    target with a bad URL is not repaired into some other target)."""
    kept = []
    for i, each in enumerate(value):
        inner: list[str] = []
        try:
            parsed = parse_value(hint, each, f"{where}[{i}]", inner)
        except SettingsError as error:
            inner.insert(0, str(error))
        if inner:
            first = re.sub(rf" \([^()]*({RESET}|{LEFT_OUT})\)$", "", inner[0])
            problems.append(f"{first} ({where}[{i}] {LEFT_OUT})")
        else:
            kept.append(parsed)
    return kept


def _entries(hint: typing.Any, value: dict, where: str, problems: list[str]) -> dict:
    kept = {}
    for key, each in value.items():
        if not isinstance(key, str):
            problems.append(f"{where} must have text keys, got {show(key)} ({LEFT_OUT})")
            continue
        try:
            kept[key] = parse_value(hint, each, join(where, key), problems)
        except SettingsError as error:
            problems.append(f"{error} ({join(where, key)} {LEFT_OUT})")
    return kept


def _repaired(section: typing.Any, default: typing.Any, where: str, problems: list[str]):
    """``section`` once its ``check`` passes, after the fewest repairs that make it pass."""
    if not hasattr(section, "check"):
        return section
    for _ in range(_MAX_REPAIRS):
        message = _problem(section, where)
        if message is None:
            return section
        for label, candidate in _candidates(section, default, where, message):
            if _problem(candidate, where) == message:
                continue  # this repair did not touch the reported problem
            problems.append(f"{message} ({label})")
            section = candidate
            break
        else:
            break
    problems.append(f"{message} ({where or 'all settings'} set back to the defaults)")
    return default


def _problem(section: typing.Any, where: str) -> str | None:
    """What ``section.check`` says is wrong; a check tripping over a value set in code (an
    overflow, a type) is a problem with the section, never a reason for a save to fail."""
    try:
        section.check(where)
    except SettingsError as error:
        return str(error)
    except (ArithmeticError, TypeError, ValueError) as error:
        return f"{where or 'settings'}: a value could not be checked ({type(error).__name__})"
    return None


def _describe(item: object) -> str:
    name = getattr(item, "name", None)
    if is_dataclass(item) and isinstance(name, str):
        return f"named {name!r}"
    return show(asdict(item) if is_dataclass(item) else item)


def _candidates(section, default, where: str, message: str):
    """Single repairs, the fields the message names first: leave out one item or entry of a
    collection (the last first), or set one field back to its default."""
    names = [f.name for f in fields(section)]
    named = [n for n in names if re.search(re.escape(join(where, n)) + r"(?!\w)", message)]
    for name in named + [n for n in names if n not in named]:
        path, value, fallback = join(where, name), getattr(section, name), getattr(default, name)
        if isinstance(value, list):
            for i in reversed(range(len(value))):  # named by content: indexes shift
                rest = value[:i] + value[i + 1 :]
                label = f"the {path} item {_describe(value[i])} {LEFT_OUT}"
                yield label, replace(section, **{name: rest})
        elif isinstance(value, dict):
            for key in reversed(list(value)):
                rest = {k: v for k, v in value.items() if k != key}
                yield f"{join(path, key)} {LEFT_OUT}", replace(section, **{name: rest})
        if value != fallback:
            yield f"{path} {RESET}", replace(section, **{name: copy.deepcopy(fallback)})
