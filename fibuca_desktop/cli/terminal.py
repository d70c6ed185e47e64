"""Text from a database or a server, made safe to print on a terminal.

Query texts, table, role and application names come from other people's sessions: a control
character in them (an escape sequence that clears the screen, retitles the window or hides
what follows, a bidi override that reverses what is read) must reach the terminal as visible
text, never as a command. Newlines stay where the CLI itself puts them.
"""

from __future__ import annotations

import contextlib
import os
import sys
import unicodedata

_BIDI = frozenset("\u061c\u200e\u200f\u202a\u202b\u202c\u202d\u202e\u2066\u2067\u2068\u2069")


def printable(text: str, *, keep_newlines: bool = True) -> str:
    """``text`` with every control character (but newlines, when kept) written as ``\\xNN``."""
    return "".join(_shown(char, keep_newlines) for char in text)


def _shown(char: str, keep_newlines: bool) -> str:
    if char == "\n" and keep_newlines:
        return char
    if char in _BIDI or unicodedata.category(char) == "Cc":
        code = ord(char)
        return f"\\x{code:02x}" if code < 0x100 else f"\\u{code:04x}"
    return char


def discard_stdout() -> None:
    """Point stdout at /dev/null once its reader is gone (``| head``, a closed terminal), so the
    interpreter's last flush on exit does not fail again."""
    with contextlib.suppress(OSError, ValueError):  # no real descriptor (tests, embedding)
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        os.close(devnull)
