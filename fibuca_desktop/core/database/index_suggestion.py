"""One suggested index: what it is, why, what the planner says it saves, and how to write it.

The index is named as Prisma names an ``@@index`` (``Order_userId_createdAt_idx``), so applying it
here and adding the ``@@index`` line to schema.prisma gives the same index and
``prisma migrate`` reports no drift.
"""

from __future__ import annotations

import hashlib
import json
import re
from dataclasses import dataclass, field

from sqlalchemy.dialects import postgresql

from fibuca_desktop.core.errors import UsageError

FOREIGN_KEY, SLOW_QUERY = "foreign-key", "slow-query"
_PREPARER = postgresql.dialect().identifier_preparer
_MAX_NAME_BYTES = 63  # PostgreSQL's NAMEDATALEN - 1


def quote(name: str) -> str:
    """A double-quoted identifier, as PostgreSQL's quote_ident would write it (always quoted)."""
    return _PREPARER.quote_identifier(name)


def index_name(table: str, columns: tuple[str, ...], suffix: str = "idx") -> str:
    """Prisma's default index name when it fits PostgreSQL's 63 bytes. A longer one is cut and
    given 8 hex digits of a hash of the whole name, so two long names that share their first 63
    bytes never collide (PostgreSQL would cut both to the same name and refuse the second)."""
    name = "_".join((table, *columns, suffix))
    if len(name.encode()) <= _MAX_NAME_BYTES:
        return name
    digest = hashlib.sha1(name.encode()).hexdigest()[:8]
    return fit_name(name[: -len(suffix) - 1], f"_{digest}_{suffix}")


def fit_name(stem: str, ending: str) -> str:
    """``stem + ending`` cut (on a character boundary) to what PostgreSQL keeps, 63 bytes."""
    room = _MAX_NAME_BYTES - len(ending.encode())
    return stem.encode()[:room].decode(errors="ignore") + ending


def as_postgresql_keeps(name: str) -> str:
    """``name`` as PostgreSQL stores an identifier: cut to 63 bytes on a character boundary
    (``CREATE TABLE`` cut a longer name the same way, so the long one still means that table)."""
    return fit_name(name, "")


def check_name(name: str) -> None:
    """Refuse a name PostgreSQL would cut or cannot store (a user-given index name)."""
    if not name or "\0" in name:
        raise UsageError("An index name cannot be empty or contain a NUL character.")
    if len(name.encode()) > _MAX_NAME_BYTES:
        raise UsageError(
            f"The index name {name!r} is {len(name.encode())} bytes; PostgreSQL keeps only "
            f"{_MAX_NAME_BYTES} bytes of a name: choose a shorter one."
        )


def prisma_name(name: str) -> str:
    """A table or column name as ``prisma db pull`` names the model or field: characters Prisma
    does not allow become ``_`` (the real name then sits in ``@@map``/``@map``)."""
    cleaned = re.sub(r"[^A-Za-z0-9_]", "_", name)
    return cleaned if re.match(r"[A-Za-z]", cleaned) else f"_{cleaned}"


@dataclass
class IndexSuggestion:
    schema: str
    table: str
    columns: tuple[str, ...]
    reason: str  # FOREIGN_KEY or SLOW_QUERY
    verified: bool
    cost_before: float | None
    cost_after: float | None
    queries: list[str] = field(default_factory=list)
    note: str | None = None  # why it is unverified

    @property
    def name(self) -> str:
        return index_name(self.table, self.columns)

    @property
    def model(self) -> str:
        return prisma_name(self.table)

    def create_sql(self, concurrently: bool = True) -> str:
        """``CREATE INDEX CONCURRENTLY`` to run here, or for a migration file the plain
        ``CREATE INDEX IF NOT EXISTS`` Prisma runs (a no-op where it was applied already)."""
        columns = ", ".join(quote(c) for c in self.columns)
        how = "CONCURRENTLY" if concurrently else "IF NOT EXISTS"
        return (
            f"CREATE INDEX {how} {quote(self.name)} "
            f"ON {quote(self.schema)}.{quote(self.table)} ({columns});"
        )

    def prisma_line(self) -> str:
        fields = ", ".join(prisma_name(c) for c in self.columns)
        if self.name != "_".join((self.table, *self.columns, "idx")):  # cut to 63 bytes
            # A Prisma string: a quote or backslash in the name is escaped, as in JSON.
            return f"@@index([{fields}], map: {json.dumps(self.name, ensure_ascii=False)})"
        return f"@@index([{fields}])"

    def to_json(self) -> dict:
        return {
            "table": self.table,
            "columns": list(self.columns),
            "reason": self.reason,
            "sql": self.create_sql(),
            "prisma": self.prisma_line(),
            "verified": self.verified,
            "cost_before": self.cost_before,
            "cost_after": self.cost_after,
            "queries": list(self.queries),
        }
