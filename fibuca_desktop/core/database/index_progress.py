"""Where a ``CREATE INDEX CONCURRENTLY`` is: its phase and counters from
``pg_stat_progress_create_index``, and the fraction of the whole the bar shows."""

from __future__ import annotations

from dataclasses import dataclass

from psycopg2.extensions import cursor as Cursor

# CREATE INDEX CONCURRENTLY's phases in order (pg_stat_progress_create_index).
PHASES = (
    "initializing",
    "waiting for writers before build",
    "building index: scanning table",
    "building index: sorting live tuples",
    "building index: loading tuples in tree",
    "waiting for writers before validation",
    "index validation: scanning index",
    "index validation: sorting tuples",
    "index validation: scanning table",
    "waiting for old snapshots",
)


@dataclass(frozen=True)
class BuildProgress:
    phase: str
    blocks_done: int
    blocks_total: int
    tuples_done: int
    tuples_total: int

    @property
    def fraction(self) -> float:
        """Where the build is, 0..1: the phase's place in the sequence plus its own progress."""
        place = PHASES.index(self.phase) if self.phase in PHASES else 0
        if self.blocks_total:
            within = self.blocks_done / self.blocks_total
        elif self.tuples_total:
            within = self.tuples_done / self.tuples_total
        else:
            within = 0.0
        return min(1.0, (place + min(within, 1.0)) / len(PHASES))


_PROGRESS = """
SELECT phase, coalesce(blocks_done, 0) AS blocks_done, coalesce(blocks_total, 0) AS blocks_total,
    coalesce(tuples_done, 0) AS tuples_done, coalesce(tuples_total, 0) AS tuples_total
FROM pg_stat_progress_create_index WHERE pid = %s
"""


def read_progress(cur: Cursor, pid: int) -> BuildProgress | None:
    """The build's progress reading, or None when the backend is not building."""
    cur.execute(_PROGRESS, [pid])
    row = cur.fetchone()
    return None if row is None else BuildProgress(**row)
