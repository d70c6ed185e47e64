"""Prometheus and OpenMetrics exposition text to samples, tolerant of what servers really send.

The parsing is the Prometheus project's own (``prometheus_client``), but it raises on the first
bad line, so alone it would lose a whole scrape to one odd line, and some of its loops are
quadratic in a line's length. So this module, before handing anything over:

- splits the body at LF only, the format's one line end: U+2028, U+0085 or a form feed inside a
  HELP text is text, not a new line that could inject a sample;
- stops at ``# EOF`` (OpenMetrics' end): nothing after it overrides what came before;
- checks every line against the exposition grammar with one regex whose quantifiers are all
  possessive (no backtracking: linear in the line, a 200 kB junk line costs microseconds), with
  the format's number syntax in ASCII (Python's ``float`` also takes ``36_438_016`` and
  full-width digits; Prometheus does not). A line that fails is skipped and is not a sample;
- passes on only the lines of the families the caller wants (a few of prom-client's ~50), at
  most ``MAX_LINE`` characters each (the library's label loops are quadratic: 40,000 labels on
  one valid line cost it seconds), in one call; if that raises, each of those lines is parsed
  alone, so a bad line loses only itself.

``prometheus_client`` is imported on the first parse, not at start-up (it costs ~80 ms).
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator

_NAME = r"[A-Za-z_:][A-Za-z0-9_:]*+"
_LABEL = r'[A-Za-z_][A-Za-z0-9_]*+[ \t]*+=[ \t]*+"(?:[^"\\]++|\\.)*+"'
_LABELS = (
    rf"\{{[ \t]*+(?:,[ \t]*+)?+(?:{_LABEL}[ \t]*+(?:,[ \t]*+{_LABEL}[ \t]*+)*+(?:,[ \t]*+)?+)?+\}}"
)
_REAL = r"[+-]?+(?:[0-9]++(?:\.[0-9]*+)?+|\.[0-9]++)(?:[eE][+-]?+[0-9]++)?+"
_NUMBER = rf"(?:{_REAL}|[+-]?+(?i:inf(?:inity)?+|nan))"
NUMBER = re.compile(_NUMBER)  # the format's numbers; also for ``le`` and ``quantile`` labels
# A timestamp: integer milliseconds (text format) or seconds with a fraction (OpenMetrics).
# An OpenMetrics exemplar (`` # {...} value``) after it is allowed and not passed on.
SAMPLE_LINE = re.compile(
    rf"(?P<name>{_NAME})(?:[ \t]*+(?P<labels>{_LABELS})[ \t]*+|[ \t]++)(?P<value>{_NUMBER})"
    rf"(?:[ \t]++(?P<timestamp>{_REAL}))?+(?:[ \t]++\#[ \t].*+)?+[ \t]*+"
)
TYPES = frozenset(
    ("counter", "gauge", "histogram", "summary", "untyped", "unknown", "gaugehistogram", "info")
)
COMMENT_LINE = re.compile(
    rf"\#[ \t]++(?P<kind>HELP|TYPE)[ \t]++(?P<name>{_NAME})(?:[ \t](?P<rest>.*+))?+"
)
EOF = "# EOF"
MAX_LINE = 4096  # prom-client's longest lines are ~200 characters
_PARSE_ERRORS = (ValueError, IndexError, KeyError)  # what prometheus_client raises on bad text


class Selected:
    """What ``select`` kept of a body: the wanted lines and how many valid samples it held."""

    def __init__(self) -> None:
        self.samples = 0  # valid sample lines in the whole body, wanted or not
        self.lines: list[tuple[bool, str]] = []  # (is a sample, canonical line), in text order


def is_openmetrics(text: str, content_type: str = "") -> bool:
    """OpenMetrics when the server says so, or when the body ends with ``# EOF``."""
    if content_type.split(";")[0].strip().lower() == "application/openmetrics-text":
        return True
    return text.rstrip(" \t\r\n").endswith("\n" + EOF) or text.strip() == EOF


def lines(text: str) -> Iterator[str]:
    """The lines of ``text`` up to ``# EOF``: split at LF only, without blanks and CR/spaces."""
    for raw in text.split("\n"):
        line = raw.strip(" \t\r")
        if line == EOF:
            return
        if line:
            yield line


def select(text: str, wanted: Callable[[str], bool]) -> Selected:
    """Validate every line; keep the HELP, TYPE and sample lines of names ``wanted`` accepts."""
    selected = Selected()
    verdicts: dict[str, bool] = {}  # ``wanted`` once per name, not once per line

    def keep(name: str) -> bool:
        verdict = verdicts.get(name)
        if verdict is None:
            verdict = verdicts[name] = wanted(name)
        return verdict

    for line in lines(text):
        if line[0] == "#":
            match = COMMENT_LINE.fullmatch(line)
            if match is None or len(line) > MAX_LINE or not keep(match["name"]):
                continue  # any other comment, or a family we do not read
            rest = (match["rest"] or "").strip(" \t")
            if match["kind"] == "TYPE" and (rest not in TYPES or rest == "counter"):
                continue  # the text parser renames an untyped counter's samples to ``_total``
            selected.lines.append((False, f"# {match['kind']} {match['name']} {rest}".rstrip()))
            continue
        match = SAMPLE_LINE.fullmatch(line)
        if match is None:
            continue
        selected.samples += 1
        if len(line) <= MAX_LINE and keep(match["name"]):
            timestamp = f" {match['timestamp']}" if match["timestamp"] else ""
            labels = match["labels"] or ""
            selected.lines.append((True, f"{match['name']}{labels} {match['value']}{timestamp}"))
    return selected


def parse(selected: Selected, openmetrics: bool) -> list:
    """prometheus_client's samples (``name``, ``labels``, ``value``) of the selected lines.

    One call for all of them; when that raises, one per sample line, skipping those that raise.
    """
    if openmetrics:
        from prometheus_client.openmetrics.parser import text_string_to_metric_families
    else:
        from prometheus_client.parser import text_string_to_metric_families

    def samples(body: list[str]) -> list:
        text = "\n".join(body) + "\n" + (EOF + "\n" if openmetrics else "")
        return [s for family in text_string_to_metric_families(text) for s in family.samples]

    try:
        return samples([line for _, line in selected.lines])
    except _PARSE_ERRORS:
        pass
    found = []
    for is_sample, line in selected.lines:
        if is_sample:
            try:
                found.extend(samples([line]))
            except _PARSE_ERRORS:
                continue
    return found
