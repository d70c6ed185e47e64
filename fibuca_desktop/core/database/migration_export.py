"""Chosen suggestions as a Prisma migration and as ``@@index`` lines for schema.prisma.

Both name the index the way Prisma does, so after ``prisma migrate`` (or after applying the index
here and marking the migration applied with ``prisma migrate resolve --applied NAME``) the
database and the schema agree and ``prisma migrate dev`` reports no drift. The migration uses
``CREATE INDEX IF NOT EXISTS`` so it is a no-op where Fibuca Desktop already built the index.
"""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path

from fibuca_desktop.core.atomic_write import write_atomically
from fibuca_desktop.core.database.index_suggestion import IndexSuggestion


def migration_sql(suggestions: Iterable[IndexSuggestion]) -> str:
    """A migration.sql body in Prisma's style: one ``-- CreateIndex`` block per index."""
    blocks = []
    for suggestion in suggestions:
        why = f"-- {suggestion.reason}"
        if suggestion.cost_before is not None and suggestion.cost_after is not None:
            why += f", plan cost {suggestion.cost_before:.2f} -> {suggestion.cost_after:.2f}"
        elif not suggestion.verified:
            why += ", unverified"
        blocks.append(f"-- CreateIndex\n{why}\n{suggestion.create_sql(concurrently=False)}\n")
    return "\n".join(blocks)


def prisma_lines(suggestions: Iterable[IndexSuggestion]) -> dict[str, list[str]]:
    """``@@index([...])`` lines by Prisma model name, in the order given, without repeats."""
    lines: dict[str, list[str]] = {}
    for suggestion in suggestions:
        model = lines.setdefault(suggestion.model, [])
        if suggestion.prisma_line() not in model:
            model.append(suggestion.prisma_line())
    return lines


def prisma_snippet(suggestions: Iterable[IndexSuggestion]) -> str:
    """The lines to paste into schema.prisma, grouped under each model."""
    parts = []
    for model, lines in prisma_lines(suggestions).items():
        body = "\n".join(f"  {line}" for line in lines)
        parts.append(f"model {model} {{\n  // ... existing fields ...\n{body}\n}}\n")
    return "\n".join(parts)


def write_migration(
    path: Path, suggestions: list[IndexSuggestion], overwrite: bool = False
) -> bool:
    """Write the migration file atomically; False when it exists and ``overwrite`` is off."""
    text = migration_sql(suggestions).encode()
    return write_atomically(path, lambda handle: handle.write(text), overwrite)
