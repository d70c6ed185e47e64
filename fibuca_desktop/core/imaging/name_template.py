"""Output name templates: ``--name "{stem}-{profile}"`` and the Process tab's File name option.

A template names the output's stem only; the extension always follows the preset's format.
It is checked once, when parsed, so a bad one fails before any photo runs, with one sentence.

Never ``str.format``: a template is user text, and ``format`` would let ``{stem.__class__}``
reach attributes. ``string.Formatter().parse`` only splits the text; the name is built here from
plain strings and integers, and a format spec is nothing but a width (``{n:03}``).
"""

from __future__ import annotations

import re
import string
from dataclasses import dataclass

from fibuca_desktop.core.errors import UsageError

FIELDS = ("stem", "ext", "preset", "profile", "width", "height", "n")
NUMBERS = frozenset({"n", "width", "height"})  # the fields that take a width such as {n:03}
SIZE_FIELDS = frozenset({"width", "height"})
_WIDTH = re.compile(r"0?[1-9][0-9]?")  # 1 to 99 characters, zero-padded with a leading 0
_FORBIDDEN = {"/": "a slash (/)", "\\": "a backslash (\\)", "\x00": "a NUL character"}
_CONTROL = re.compile(r"[\x01-\x1f\x7f]")  # a newline or tab in a file name breaks scripts


@dataclass(frozen=True)
class NameContext:
    """What a template's fields read for one photo."""

    stem: str  # the input's name without its extension
    ext: str  # the input's extension, lower case, without the dot ('' when it has none)
    preset: str
    profile: str  # the export profile's name; '' when none
    width: int  # the output's pixel size
    height: int
    n: int  # 1-based position of the photo in the queue (plan order)


@dataclass(frozen=True)
class _Field:
    name: str
    width: str  # '' or digits such as '03'


@dataclass(frozen=True)
class NameTemplate:
    """A checked template: ``NameTemplate.parse(text)``, then ``render(context)`` per photo."""

    text: str
    parts: tuple[str | _Field, ...]

    @property
    def fields(self) -> frozenset[str]:
        """The field names it uses (a plan reads photo sizes only when it uses width/height)."""
        return frozenset(part.name for part in self.parts if isinstance(part, _Field))

    @classmethod
    def parse(cls, text: str) -> NameTemplate:
        """Raise UsageError (one sentence) unless ``text`` is a template that can make a name."""
        where = f"The name template {_shown(text)}"
        _check_text(text, where)  # first: every message below quotes parts of it as they are
        try:
            pieces = list(string.Formatter().parse(text))
        except ValueError as error:  # "Single '}' encountered", "expected '}' before end"
            raise UsageError(
                f"{where} has an unbalanced brace ({error}); write {{{{ and }}}} for literal "
                "braces."
            ) from None
        parts: list[str | _Field] = []
        for literal, name, spec, conversion in pieces:
            if literal:
                parts.append(literal)
            if name is None:
                continue
            if "." in name or "[" in name:
                raise UsageError(
                    f"{where} reaches into a field ({{{name}}}); fields are used whole: {_known()}."
                )
            if name not in FIELDS:
                raise UsageError(f"{where} has an unknown field {{{name}}}; use {_known()}.")
            if conversion is not None:
                raise UsageError(
                    f"{where} converts a field ({{{name}!{conversion}}}); conversions are not "
                    "supported."
                )
            if spec and (name not in NUMBERS or not _WIDTH.fullmatch(spec)):
                raise UsageError(
                    f"{where} formats {{{name}}} with {spec!r}; only n, width and height take a "
                    "width of 1 to 99, such as {n:03}."
                )
            parts.append(_Field(name, spec))
        template = cls(text, tuple(parts))
        if not template.fields:  # a constant: still fine (numbered -2, -3...), if it is a name
            template.render(NameContext("", "", "", "", 0, 0, 1))
        return template

    def render(self, context: NameContext) -> str:
        """The stem for one photo. Raises UsageError when the values make no file name (a
        slash in a profile name, a backslash in a file name, nothing at all)."""
        name = "".join(
            part if isinstance(part, str) else _value(part, context) for part in self.parts
        )
        where = f"The name template {_shown(self.text)} gives {_shown(name)}"
        _check_text(name, where)
        if not name.strip():
            raise UsageError(f"{where}, an empty name; add a field such as {{stem}}.")
        if name in (".", ".."):
            raise UsageError(f"{where}, which is not a file name; add a field such as {{stem}}.")
        return name


def optional_template(text: str | None) -> NameTemplate | None:
    """The settings' form: blank means today's naming (the input's own name); else as parse."""
    return NameTemplate.parse(text) if text else None


def _value(part: _Field, context: NameContext) -> str:
    value = getattr(context, part.name)
    if part.name in NUMBERS:
        return format(int(value), f"{part.width}d")  # an int we made, with a checked width
    return str(value)


def _check_text(text: str, where: str) -> None:
    for character, described in _FORBIDDEN.items():
        if character in text:
            raise UsageError(f"{where} holds {described}; a name cannot contain folders.")
    if _CONTROL.search(text):
        raise UsageError(f"{where} holds a control character (a newline, a tab); remove it.")


def _known() -> str:
    return ", ".join(f"{{{name}}}" for name in FIELDS)


def _shown(text: str, limit: int = 60) -> str:
    """Quoted, short and printable: a template is pasted text and may hold anything."""
    text = text if len(text) <= limit else f"{text[: limit - 3]}..."
    return repr(text)
