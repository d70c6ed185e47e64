"""Decide, without executing anything, whether a text is one SELECT, UPDATE or DELETE statement.

Only those can be explained safely: EXPLAIN without ANALYZE plans them and runs nothing. The scan
skips string literals, quoted identifiers, dollar quotes and comments, so a ``;`` or a keyword
inside them does not count; anything it cannot read with certainty is refused.
"""

from __future__ import annotations

import re

from fibuca_desktop.core.errors import UsageError

EXPLAINABLE = ("SELECT", "UPDATE", "DELETE")
_DOLLAR_TAG = re.compile(r"\$([A-Za-z_][A-Za-z_0-9]*)?\$")
_WORD = re.compile(r"[A-Za-z_]+")


def _code_only(text: str) -> str:
    """The text with literals, quoted names and comments blanked out; raises on unclosed ones."""
    out: list[str] = []
    i, n = 0, len(text)
    while i < n:
        ch = text[i]
        if text.startswith("--", i):
            end = text.find("\n", i)
            i = n if end < 0 else end
            out.append(" ")
        elif text.startswith("/*", i):
            end = text.find("*/", i + 2)
            if end < 0:
                raise UsageError("The statement has an unclosed /* comment.")
            i = end + 2
            out.append(" ")
        elif ch in ("'", '"'):
            escapes = ch == "'" and i > 0 and text[i - 1] in "eE"
            i = _skip_quoted(text, i, ch, escapes)
            out.append(" x ")
        elif ch == "$" and (tag := _DOLLAR_TAG.match(text, i)):
            end = text.find(tag.group(0), tag.end())
            if end < 0:
                raise UsageError("The statement has an unclosed dollar-quoted string.")
            i = end + len(tag.group(0))
            out.append(" x ")
        else:
            out.append(ch)
            i += 1
    return "".join(out)


def _skip_quoted(text: str, start: int, quote: str, escapes: bool) -> int:
    i = start + 1
    while True:
        end = text.find(quote, i)
        if end < 0:
            raise UsageError("The statement has an unclosed quote.")
        if escapes and _backslashes_before(text, end) % 2 == 1:  # E'it\'s'
            i = end + 1
            continue
        if text.startswith(quote * 2, end):  # doubled quote inside
            i = end + 2
            continue
        return end + 1


def _backslashes_before(text: str, index: int) -> int:
    count = 0
    while index - count - 1 >= 0 and text[index - count - 1] == "\\":
        count += 1
    return count


_WRITES = ("INSERT", "UPDATE", "DELETE", "MERGE")


def _after_ctes(code: str, start: int) -> str:
    """The first keyword outside parentheses after ``WITH name AS (...), ...``: the statement
    the CTEs belong to (their own bodies are inside parentheses). "WITH" (refused) when a CTE
    body writes (``WITH d AS (DELETE ... RETURNING *)``), or when there is no statement."""
    depth = 0
    for match in re.finditer(r"[()]|[A-Za-z_]+", code[start:]):
        token = match.group(0)
        if token == "(":
            depth += 1
        elif token == ")":
            depth -= 1
        elif depth > 0 and token.upper() in _WRITES:
            return "WITH"
        elif depth == 0 and token.upper() in (*EXPLAINABLE, *_WRITES, "VALUES"):
            return token.upper()
    return "WITH"


def single_statement(text: str) -> tuple[str, str]:
    """The statement without a trailing ``;`` and its kind (SELECT, UPDATE, DELETE), also after
    common table expressions (``WITH x AS [NOT] MATERIALIZED (...) SELECT ...``).

    Raises ``UsageError`` for several statements or any other kind.
    """
    stripped = text.strip().rstrip(";").strip()
    code = _code_only(stripped)
    if ";" in code:
        raise UsageError("Only one statement can be explained at a time; this text has several.")
    first = _WORD.search(code)
    kind = first.group(0).upper() if first else ""
    if kind == "WITH":  # common table expressions: what counts is the statement after them
        kind = _after_ctes(code, first.end())
    if kind not in EXPLAINABLE:
        raise UsageError(
            f"Only SELECT, UPDATE and DELETE statements can be explained, not {kind or 'this'!s}."
        )
    return stripped, kind


_SELECT_HEAD = re.compile(r"\s*SELECT\s+(?:ALL\s+|DISTINCT\s+(?:ON\s*(?=\())?)?", re.IGNORECASE)
_FROM = re.compile(r"FROM\b", re.IGNORECASE)


def select_list_length(text: str) -> int | None:
    """How many columns a plain SELECT hands back, counted in its select list at the top level.

    EXPLAIN VERBOSE's top ``Output`` also lists the sort keys that are not selected (resjunk
    columns, dropped before the client sees the rows): this says where the real ones end. None
    when it cannot be told for certain: not a SELECT, a ``*`` in the list, no FROM.
    """
    try:
        code = _code_only(text)
    except UsageError:
        return None
    head = _SELECT_HEAD.match(code)
    if head is None:
        return None
    i, depth, items = head.end(), 0, 1
    if code[i : i + 1] == "(" and head.group(0).rstrip().upper().endswith("ON"):
        i = _after_parentheses(code, i)  # DISTINCT ON (...) is not part of the list
        if i < 0:
            return None
    listed = []
    while i < len(code):
        ch = code[i]
        if ch == "(":
            depth += 1
        elif ch == ")":
            depth -= 1
        elif depth == 0 and ch == ",":
            items += 1
        elif depth == 0 and _FROM.match(code, i) and not code[i - 1 : i].isalnum():
            break
        if depth == 0:
            listed.append(ch)
        i += 1
    else:
        return None
    if "*" in "".join(listed).replace("**", ""):
        return None
    return items


def _after_parentheses(code: str, start: int) -> int:
    depth = 0
    for i in range(start, len(code)):
        if code[i] == "(":
            depth += 1
        elif code[i] == ")":
            depth -= 1
            if depth == 0:
                return i + 1
    return -1


_PLACEHOLDER = re.compile(r"\$([0-9]+)")


def placeholder_count(text: str) -> int:
    """How many parameters a statement from pg_stat_statements takes: its highest ``$n``
    outside literals, quoted names and comments (0 when none, or when it cannot be read)."""
    try:
        code = _code_only(text)
    except UsageError:
        return 0
    return max((int(n) for n in _PLACEHOLDER.findall(code)), default=0)
