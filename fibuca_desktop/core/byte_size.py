"""Byte counts as people read them, in one place for the panels, the CLI and the advice texts."""

from __future__ import annotations


def human_bytes(count: float) -> str:
    """``512 B``, ``70.4 kB``, ``2.1 MB``, ``1.3 GB`` (binary multiples, as PostgreSQL's
    ``pg_size_pretty`` counts them)."""
    size = float(count)
    for unit in ("B", "kB", "MB", "GB"):
        if size < 1024 or unit == "GB":
            return f"{size:.0f} {unit}" if unit == "B" else f"{size:.1f} {unit}"
        size /= 1024
    return f"{size:.1f} GB"  # pragma: no cover (the loop returns at GB)
