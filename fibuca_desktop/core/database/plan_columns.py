"""Which columns an index could serve, read from the planner's own output, not from the SQL.

EXPLAIN (VERBOSE) prints every condition with qualified columns (``"Order"."userId" = $1``)
after the planner has resolved aliases, views and Prisma's nesting. For each sequential scan of a
table the conditions of that scan (Filter), of the joins above it (Hash/Merge Cond, Join Filter)
and the Sort directly above it are split into plain comparisons; anything else (OR, functions,
casts on the column, LIKE) is ignored, so a candidate is never built on a guess.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

IDENTIFIER = r'(?:"(?:[^"]|"")+"|[A-Za-z_][A-Za-z0-9_$]*)'
_REF = re.compile(rf"^({IDENTIFIER})\.({IDENTIFIER})$")
_COMPARISON = re.compile(r"^(.+?)\s+(=|<>|<=|>=|<|>)\s+(.+)$")
_RANGE = {"<", ">", "<=", ">="}
MAX_COLUMNS = 3


@dataclass
class ScanColumns:
    """What one sequential scan of ``table`` filters, joins and sorts on."""

    schema: str
    table: str
    alias: str
    plan_rows: float
    equality: list[str] = field(default_factory=list)
    range: list[str] = field(default_factory=list)
    join: list[str] = field(default_factory=list)
    sort: list[str] = field(default_factory=list)

    def candidates(self) -> list[tuple[str, ...]]:
        """Column lists worth trying, most specific first (at most three columns each)."""
        eq = tuple(self.equality)
        found: list[tuple[str, ...]] = []
        if eq and self.sort:
            found.append(eq + tuple(c for c in self.sort if c not in eq))
        if eq and self.range:
            found.append((*eq, self.range[0]))
        if eq:
            found.append(eq)
        if not eq and self.range:
            found.append((self.range[0],))
        if not eq and self.sort:
            found.append(tuple(self.sort))
        for column in self.join:
            found.append((*eq, column) if column not in eq else eq)
            found.append((column,))
        unique: list[tuple[str, ...]] = []
        for columns in found:
            columns = columns[:MAX_COLUMNS]
            if columns and columns not in unique:
                unique.append(columns)
        return unique


def unquote(name: str) -> str:
    if name.startswith('"'):
        return name[1:-1].replace('""', '"')
    return name


def _strip_parens(text: str) -> str:
    text = text.strip()
    while text.startswith("(") and text.endswith(")") and _balanced(text[1:-1]):
        text = text[1:-1].strip()
    return text


def _balanced(text: str) -> bool:
    depth, quote = 0, None
    for ch in text:
        if quote:
            quote = None if ch == quote else quote
        elif ch in "'\"":
            quote = ch
        elif ch == "(":
            depth += 1
        elif ch == ")":
            depth -= 1
            if depth < 0:
                return False
    return depth == 0 and quote is None


def conjuncts(condition: str) -> list[str]:
    """Top-level AND terms of a condition; a condition with a top-level OR gives none."""
    text = _strip_parens(condition)
    terms, depth, quote, start, i = [], 0, None, 0, 0
    upper = text.upper()
    while i < len(text):
        ch = text[i]
        if quote:
            quote = None if ch == quote else quote
        elif ch in "'\"":
            quote = ch
        elif ch == "(":
            depth += 1
        elif ch == ")":
            depth -= 1
        elif depth == 0 and upper.startswith(" OR ", i):
            return []
        elif depth == 0 and upper.startswith(" AND ", i):
            terms.append(text[start:i])
            start = i + 5
            i += 4
        i += 1
    terms.append(text[start:])
    return [_strip_parens(term) for term in terms]


def column_of(text: str, alias: str) -> str | None:
    """The column name when ``text`` is exactly ``alias.column``."""
    match = _REF.match(_strip_parens(text))
    if match and unquote(match.group(1)) == alias:
        return unquote(match.group(2))
    return None


def _mentions(text: str, alias: str) -> bool:
    quoted = '"' + alias.replace('"', '""') + '".'
    return quoted in text or re.search(rf"(?<![\w\"]){re.escape(alias)}\.", text) is not None


def comparison(term: str, alias: str) -> tuple[str, str, bool] | None:
    """(column, operator, other side is a column of another table) for ``alias.col OP value``,
    ``value OP alias.col`` or ``alias.col = ANY (...)``; None for anything else."""
    if (any_match := re.match(r"^(.+?)\s+=\s+ANY\s+\((.+)\)$", term)) is not None:
        column = column_of(any_match.group(1), alias)
        if column and not _mentions(any_match.group(2), alias):
            return column, "=", False
        return None
    match = _COMPARISON.match(term)
    if match is None:
        return None
    left, operator, right = match.groups()
    column, other = column_of(left, alias), right
    if column is None:
        column, other = column_of(right, alias), left
        operator = {"<": ">", ">": "<", "<=": ">=", ">=": "<="}.get(operator, operator)
    if column is None or operator == "<>" or _mentions(other, alias):
        return None
    return column, operator, _REF.match(_strip_parens(other)) is not None


def scans(
    plan: dict,
    schema: str,
    large_rows: dict[str, float],
    min_rows: float,
    roots: dict[str, str] | None = None,
):
    """``ScanColumns`` for every sequential scan in ``plan`` of a table of ``schema`` with at
    least ``min_rows`` rows (``large_rows``: estimates by table name). A scan of a partition
    counts for the partitioned table at the top of its tree (``roots``: partition -> root), once
    per alias: an index is built on the parent, and the parent's rows decide."""
    found: list[ScanColumns] = []
    _walk(plan, [], schema, large_rows, min_rows, roots or {}, found)
    unique: dict[tuple, ScanColumns] = {}
    for scan in found:  # the partitions of one parent, scanned under one condition
        key = (scan.table, tuple(scan.equality), tuple(scan.range), tuple(scan.sort))
        unique.setdefault(key, scan)
    return list(unique.values())


def _walk(node: dict, ancestors: list[dict], schema, rows, min_rows, roots, found) -> None:
    children = node.get("Plans", [])
    relation = node.get("Relation Name")
    table = roots.get(relation, relation)
    seq_scan = node["Node Type"] == "Seq Scan" and node.get("Schema") == schema
    if seq_scan and rows.get(table, 0) >= min_rows:
        found.append(_scan_columns(node, ancestors, schema, table))
    for child in children:
        _walk(child, [*ancestors, node], schema, rows, min_rows, roots, found)


def _scan_columns(node: dict, ancestors: list[dict], schema: str, table: str) -> ScanColumns:
    alias = node.get("Alias") or node["Relation Name"]
    scan = ScanColumns(schema, table, alias, float(node["Plan Rows"]))
    for term in conjuncts(node.get("Filter", "")) if node.get("Filter") else []:
        found = comparison(term, alias)
        if found and not found[2]:
            target = scan.equality if found[1] == "=" else scan.range
            if found[0] not in target:
                target.append(found[0])
    for ancestor in ancestors:
        for key in ("Hash Cond", "Merge Cond", "Join Filter"):
            for term in conjuncts(ancestor[key]) if key in ancestor else []:
                found = comparison(term, alias)
                if found and found[1] == "=" and found[2] and found[0] not in scan.join:
                    scan.join.append(found[0])
    scan.sort = _sort_above(ancestors, alias)
    return scan


def _sort_above(ancestors: list[dict], alias: str) -> list[str]:
    """Columns of the nearest Sort above the scan, when only single-child nodes lie between and
    every key is a plain column of this table."""
    for ancestor in reversed(ancestors):
        if ancestor["Node Type"] in ("Sort", "Incremental Sort"):
            keys = [
                column_of(re.sub(r"\s+(DESC|ASC)(\s+NULLS\s+(FIRST|LAST))?$", "", key), alias)
                for key in ancestor.get("Sort Key", [])
            ]
            return [key for key in keys if key] if keys and all(keys) else []
        if len(ancestor.get("Plans", [])) != 1:
            return []
    return []
