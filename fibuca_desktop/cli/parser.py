"""The argument parser every subcommand is built with: defaults shown, readable type errors, and
``-v`` accepted after the subcommand as well as before it.

``add_subparsers`` passes its ``parser_class`` on to nested subcommands (``db overview``), so one
class here covers every command without each command repeating it.
"""

from __future__ import annotations

import argparse
import math
from collections.abc import Callable

# The counter a subcommand's own -v writes to. SUPPRESS as the default: a subcommand that was
# given no -v leaves the attribute unset, so it cannot reset a count made before it.
VERBOSE_AFTER = "verbose_after_command"

_KINDS = {int: "a whole number", float: "a number", str: "text"}


class HelpFormatter(argparse.HelpFormatter):
    """Appends "(default: X)" to every option with a real default its help does not state."""

    def _get_help_string(self, action: argparse.Action) -> str:
        text = action.help or ""
        default = action.default
        shown = default not in (None, False, argparse.SUPPRESS) and not isinstance(default, list)
        if shown and "default" not in text and (action.option_strings or action.nargs == "?"):
            text += " (default: %(default)s)"
        return text


class FibucaArgumentParser(argparse.ArgumentParser):
    """``argparse.ArgumentParser`` with this app's help formatting and type error messages."""

    def __init__(self, *args, **kwargs) -> None:
        kwargs.setdefault("formatter_class", HelpFormatter)
        super().__init__(*args, **kwargs)

    def _get_value(self, action: argparse.Action, arg_string: str):
        """Say what was expected: argparse's "invalid _positive_int value: 'abc'" names a private
        function, not the problem. Messages a type function raises itself pass unchanged."""
        try:
            return super()._get_value(action, arg_string)
        except argparse.ArgumentError as error:
            if not error.message.startswith("invalid "):
                raise
            expected = _KINDS.get(action.type) or _first_line(action.type) or "a valid value"
            raise argparse.ArgumentError(
                action, f"{arg_string!r} is not {expected}; see --help"
            ) from None


class SubcommandParser(FibucaArgumentParser):
    """A subcommand's parser: also takes -v/--verbose after the command's name."""

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.add_argument(
            "-v",
            "--verbose",
            action="count",
            dest=VERBOSE_AFTER,
            default=argparse.SUPPRESS,
            help="more log output on stderr (-vv for debug, with tracebacks); also before the "
            "command",
        )


def verbosity(args: argparse.Namespace) -> int:
    """-v counted where it was given: before the subcommand, after it, or both."""
    return (getattr(args, "verbose", 0) or 0) + getattr(args, VERBOSE_AFTER, 0)


def number_in(
    kind: type[int] | type[float], low: float, high: float, unit: str = ""
) -> Callable[[str], int | float]:
    """An argparse ``type`` for a finite number from ``low`` to ``high``: ``nan``, ``inf``, a
    negative count or a timeout of 0 (which PostgreSQL reads as "wait forever") are refused in
    words, never passed on to fail later or to match nothing."""

    def parse(text: str) -> int | float:
        try:
            value = kind(text.strip())
        except (ValueError, OverflowError):
            raise argparse.ArgumentTypeError(
                f"{text!r} is not {_KINDS[kind]}; see --help"
            ) from None
        if not math.isfinite(value) or not low <= value <= high:
            raise argparse.ArgumentTypeError(
                f"{text.strip()} is out of range; use {_plain(low)} to {_plain(high)}{unit}"
            )
        return value

    parse.__doc__ = f"{_KINDS[kind]} from {_plain(low)} to {_plain(high)}{unit}"
    return parse


def _plain(number: float) -> str:
    return str(int(number)) if float(number).is_integer() else f"{number:g}"


def _first_line(function: object) -> str:
    """A type function may describe what it accepts in its docstring's first line."""
    doc = getattr(function, "__doc__", None) or ""
    line = doc.strip().splitlines()[0].rstrip(".") if doc.strip() else ""
    return line if line and not line.startswith(("int(", "str(", "float(")) else ""
