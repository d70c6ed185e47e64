"""``db budget``: does the server's memory and connection configuration fit its RAM?

The worst case assumes every connection slot is busy at once running a typical plan, which is
what happens when a Prisma app's pools fill up under load (the crash this check exists for):

    worst = shared_buffers
          + (max_connections + parallel workers) x (BASELINE_MB + work_mem x hash_mem_multiplier
            x PLAN_NODES)
          + maintenance_work_mem                      (one manual VACUUM / CREATE INDEX)
          + autovacuum_max_workers x (BASELINE_MB + autovacuum_work_mem, or
            maintenance_work_mem when it is -1)

parallel workers = min(max_parallel_workers, max_worker_processes,
max_connections x max_parallel_workers_per_gather): each is a process with its own work_mem.

The recommendations start from PGTune's "web application" profile (le0pard/pgtune,
src/features/configuration/configurationSlice.js: shared_buffers = RAM/4,
effective_cache_size = RAM x 3/4, maintenance_work_mem = RAM/16, work_mem =
(RAM - shared_buffers) / ((max_connections + max_worker_processes) x 3)); PGTune itself warns
that it is "not optimal for low memory systems", so on top of it the slots and work_mem are cut
until the worst case above fits RAM, with work_mem never below WORK_MEM_FLOOR_MB.
Nothing here writes: the result carries ``ALTER SYSTEM`` lines for an admin to run.
"""

from __future__ import annotations

import math
import re
from dataclasses import asdict, dataclass, field, fields, replace

from psycopg2.extensions import cursor as Cursor

from fibuca_desktop.core.database.connection import APPLICATION_NAME
from fibuca_desktop.core.database.overview import FIBUCA_CONNECTION_LIMIT

# Private memory of one backend before any sort or hash: catalog and relation caches, the plan
# cache of Prisma's prepared statements, libc arenas. An idle backend is 2-3 MB; one that has run
# an app's queries for hours is commonly 5-10 MB, so the upper end is used: this is a worst case.
BASELINE_MB = 10.0
# A typical Prisma read: findMany with include and orderBy plans as one hash (join or aggregate)
# and one sort; both are counted at work_mem x hash_mem_multiplier, the hash node's limit.
PLAN_NODES = 2
# Slots kept free of the app's pools: Fibuca Desktop's own pool (at most 5), which psql or a
# monitoring agent can also use while Fibuca is not connected.
MONITORING_SLOTS = FIBUCA_CONNECTION_LIMIT
# Half PostgreSQL's 4 MB default; PGTune's floor (64 kB) spills even a page of sorted rows.
WORK_MEM_FLOOR_MB = 2.0
HASH_MEM_MAX = 2.0  # PostgreSQL 15's default; more only where RAM is plentiful
PARALLEL_PER_GATHER_MAX = 2  # a small server has 1-2 cores
# PostgreSQL's own limits for the ones the recommendation may lower.
MAINTENANCE_FLOOR_MB, AUTOVACUUM_FLOOR_MB = 8.0, 2.0

_UNITS = {"B": 1 / 1024, "kB": 1, "MB": 1024, "GB": 1024**2, "TB": 1024**3}
_MEMORY = (
    "shared_buffers",
    "effective_cache_size",
    "work_mem",
    "maintenance_work_mem",
    "autovacuum_work_mem",
)
_COUNTS = (
    "max_connections",
    "superuser_reserved_connections",
    "reserved_connections",  # PostgreSQL 16+; 0 before
    "autovacuum_max_workers",
    "max_parallel_workers_per_gather",
    "max_parallel_workers",
    "max_worker_processes",
)


def setting_mb(setting: str, unit: str | None) -> float:
    """A memory setting from pg_settings in MB: ``setting`` counts ``unit``s, which may carry a
    multiplier (shared_buffers is in '8kB' blocks). -1 ("use another setting") stays -1."""
    value = float(setting)
    if value == -1:
        return -1.0
    match = re.fullmatch(r"\s*(\d*)\s*(B|kB|MB|GB|TB)\s*", unit or "")
    if match is None:
        raise ValueError(f"not a memory unit: {unit!r}")
    count = int(match.group(1) or 1)
    return value * count * _UNITS[match.group(2)] / 1024


def memory_text(mb: float) -> str:
    """How PostgreSQL writes it: '125MB' for whole MB, else kB ('1536kB'); -1 as '-1'."""
    if mb == -1:
        return "-1"
    kb = round(mb * 1024)
    return f"{kb // 1024}MB" if kb % 1024 == 0 else f"{kb}kB"


@dataclass(frozen=True)
class ServerSettings:
    """The settings the worst case depends on; memory in MB."""

    shared_buffers: float
    effective_cache_size: float
    work_mem: float
    hash_mem_multiplier: float
    maintenance_work_mem: float
    autovacuum_work_mem: float  # -1: maintenance_work_mem
    max_connections: int
    superuser_reserved_connections: int
    reserved_connections: int
    autovacuum_max_workers: int
    max_parallel_workers_per_gather: int
    max_parallel_workers: int
    max_worker_processes: int
    restart_needed: frozenset[str] = frozenset()  # pg_settings.context = 'postmaster'

    @property
    def reserved(self) -> int:
        return self.superuser_reserved_connections + self.reserved_connections

    @property
    def parallel_workers(self) -> int:
        """How many parallel workers can run at once, server-wide."""
        per_query = self.max_connections * self.max_parallel_workers_per_gather
        return min(self.max_parallel_workers, self.max_worker_processes, per_query)

    @property
    def autovacuum_mem(self) -> float:
        """What one autovacuum worker may take: autovacuum_work_mem, -1 meaning
        maintenance_work_mem."""
        if self.autovacuum_work_mem == -1:
            return self.maintenance_work_mem
        return self.autovacuum_work_mem


def worst_case_mb(s: ServerSettings) -> float:
    """The module docstring's formula."""
    per_process = BASELINE_MB + s.work_mem * s.hash_mem_multiplier * PLAN_NODES
    backends = (s.max_connections + s.parallel_workers) * per_process
    autovacuum = s.autovacuum_max_workers * (BASELINE_MB + s.autovacuum_mem)
    return s.shared_buffers + backends + s.maintenance_work_mem + autovacuum


def pgtune_work_mem_mb(ram_mb: float, shared_buffers_mb: float, connections: int, workers: int):
    """PGTune's web profile: what is left after shared_buffers, shared by 3 allocations per
    connection and worker process; PGTune's own floor is 64 kB."""
    return max(64 / 1024, (ram_mb - shared_buffers_mb) / ((connections + workers) * 3))


@dataclass(frozen=True)
class Recommendation:
    settings: ServerSettings
    connection_limit: int  # Prisma's ?connection_limit= per backend instance
    notes: tuple[str, ...] = ()


def recommend(current: ServerSettings, ram_mb: int, instances: int = 1) -> Recommendation:
    """Settings whose worst case fits ``ram_mb``, and the Prisma pool size per instance.

    Applied to a server, the same call recommends the same values again (a fixed point): every
    value depends only on RAM, the reserved slots and what it would lower."""
    per_gather = min(current.max_parallel_workers_per_gather, PARALLEL_PER_GATHER_MAX)
    fitted = replace(
        current,
        shared_buffers=float(ram_mb // 4),  # PGTune
        effective_cache_size=float(ram_mb * 3 // 4),  # PGTune (a planner hint, not allocated)
        maintenance_work_mem=max(MAINTENANCE_FLOOR_MB, float(ram_mb // 16)),  # PGTune
        autovacuum_work_mem=max(AUTOVACUUM_FLOOR_MB, float(ram_mb // 64)),  # ours
        hash_mem_multiplier=min(current.hash_mem_multiplier, HASH_MEM_MAX),
        max_parallel_workers_per_gather=per_gather,
        max_parallel_workers=min(current.max_parallel_workers, per_gather),  # one query at once
    )
    workers = min(fitted.max_parallel_workers, fitted.max_worker_processes)
    left = ram_mb - fitted.shared_buffers - fitted.maintenance_work_mem
    left -= fitted.autovacuum_max_workers * (BASELINE_MB + fitted.autovacuum_mem)
    hash_nodes = fitted.hash_mem_multiplier * PLAN_NODES
    slots = math.floor(left / (BASELINE_MB + hash_nodes * WORK_MEM_FLOOR_MB)) - workers
    needed = current.reserved + MONITORING_SLOTS + instances
    notes = []
    if slots < needed:
        notes.append(
            f"{ram_mb} MB cannot hold {needed} connections ({current.reserved} reserved, "
            f"{MONITORING_SLOTS} for monitoring, 1 per instance) at work_mem "
            f"{WORK_MEM_FLOOR_MB:g} MB: give the server more RAM or run fewer instances."
        )
    connections = max(needed, min(current.max_connections, slots))
    fit = (left / (connections + workers) - BASELINE_MB) / hash_nodes
    pgtune = pgtune_work_mem_mb(
        ram_mb, fitted.shared_buffers, connections, fitted.max_worker_processes
    )
    work_mem = max(WORK_MEM_FLOOR_MB, math.floor(min(pgtune, fit)))
    fitted = replace(fitted, max_connections=connections, work_mem=float(work_mem))
    limit = max(1, (connections - current.reserved - MONITORING_SLOTS) // instances)
    return Recommendation(fitted, limit, tuple(notes))


@dataclass(frozen=True)
class SettingAdvice:
    name: str
    current: str
    recommended: str
    why: str
    restart: bool  # takes effect only after a server restart, not pg_reload_conf()

    @property
    def changed(self) -> bool:
        return self.current != self.recommended

    def alter_system(self) -> str:
        """The line an admin copies into psql; the value as a quoted literal."""
        value = self.recommended.replace("'", "''")
        return f"ALTER SYSTEM SET {self.name} = '{value}';"


@dataclass(frozen=True)
class ApplicationConnections:
    application: str  # application_name, '' when the client set none
    count: int
    over_limit: bool


@dataclass(frozen=True)
class MemoryBudget:
    ram_mb: int
    instances: int
    worst_case_mb: float
    recommended_worst_case_mb: float
    connection_limit: int
    settings: tuple[SettingAdvice, ...]
    connections: tuple[ApplicationConnections, ...]
    notes: tuple[str, ...] = field(default_factory=tuple)

    @property
    def fits(self) -> bool:
        return self.worst_case_mb <= self.ram_mb

    def limit_for(self, application: str) -> int:
        return limit_for(application, self.connection_limit)

    def alter_system(self) -> list[str]:
        return [s.alter_system() for s in self.settings if s.changed]

    def psql_script(self) -> list[str]:
        """What the admin runs as a superuser to apply the recommendations: the ``ALTER SYSTEM``
        lines, the reload, and which settings wait for a restart. Empty when nothing changes."""
        changes = [s for s in self.settings if s.changed]
        if not changes:
            return []
        lines = [*self.alter_system(), "SELECT pg_reload_conf();"]
        restart = [s.name for s in changes if s.restart]
        if restart:
            lines.append(f"-- then restart PostgreSQL for {', '.join(restart)}")
        return lines

    def to_json(self) -> dict:
        return {
            "ramMb": self.ram_mb,
            "worstCaseMb": round(self.worst_case_mb, 1),
            "settings": [asdict(s) for s in self.settings],  # name, current, ...
            "connections": [
                {"application": c.application, "count": c.count, "overLimit": c.over_limit}
                for c in self.connections
            ],
            "connectionLimit": self.connection_limit,
            "recommendedWorstCaseMb": round(self.recommended_worst_case_mb, 1),
            "notes": list(self.notes),
        }


_WHY = {
    "shared_buffers": "PGTune web: RAM/4",
    "effective_cache_size": "PGTune web: RAM x 3/4 (planner hint; nothing is allocated)",
    "work_mem": "PGTune web (RAM - shared_buffers) / ((max_connections + max_worker_processes)"
    " x 3), cut so every slot can run {nodes} hash/sort nodes within RAM; at least {floor:g}MB",
    "hash_mem_multiplier": "at most {hash:g} (PostgreSQL 15's default): hashes get this x work_mem",
    "maintenance_work_mem": "PGTune web: RAM/16 (one manual VACUUM or CREATE INDEX)",
    "autovacuum_work_mem": "RAM/64 per autovacuum worker (~175,000 dead rows per MB per pass)",
    "autovacuum_max_workers": "kept: each worker is counted with its autovacuum_work_mem",
    "max_connections": "what fits RAM at {base:g} MB + work memory per slot; the pools get "
    "max_connections - reserved - {monitoring} monitoring slots",
    "superuser_reserved_connections": "kept: admin slots, not for the pools",
    "reserved_connections": "kept: pg_use_reserved_connections slots, not for the pools",
    "max_parallel_workers_per_gather": "at most {gather}: a small server has 1-2 cores",
    "max_parallel_workers": "= max_parallel_workers_per_gather: one parallel query at a time",
    "max_worker_processes": "kept (needs a restart; bounded by max_parallel_workers)",
}


def _advice(current: ServerSettings, fitted: ServerSettings, present: set[str]):
    constants = {
        "nodes": PLAN_NODES,
        "floor": WORK_MEM_FLOOR_MB,
        "hash": HASH_MEM_MAX,
        "base": BASELINE_MB,
        "monitoring": MONITORING_SLOTS,
        "gather": PARALLEL_PER_GATHER_MAX,
    }
    for spec in fields(ServerSettings):
        name = spec.name
        if name not in _WHY or name not in present:
            continue
        show = memory_text if name in _MEMORY else _number_text
        yield SettingAdvice(
            name,
            show(getattr(current, name)),
            show(getattr(fitted, name)),
            _WHY[name].format(**constants),
            name in current.restart_needed,
        )


def _number_text(value: float) -> str:
    return f"{value:g}"


def read_settings(cur: Cursor) -> tuple[ServerSettings, set[str]]:
    """The settings from pg_settings, converted with each one's unit; and which exist here."""
    names = [*_MEMORY, *_COUNTS, "hash_mem_multiplier"]
    cur.execute(
        "SELECT name, setting, unit, context FROM pg_settings WHERE name = ANY(%s)", [names]
    )
    rows = {row["name"]: row for row in cur.fetchall()}
    # Before PostgreSQL 16 there are no reserved_connections; before 13, hashes get work_mem.
    values: dict[str, object] = {"reserved_connections": 0, "hash_mem_multiplier": 1.0}
    for name, row in rows.items():
        if name in _MEMORY:
            values[name] = setting_mb(row["setting"], row["unit"])
        elif name in _COUNTS:
            values[name] = int(row["setting"])
        else:
            values[name] = float(row["setting"])
    restart = frozenset(n for n, row in rows.items() if row["context"] == "postmaster")
    return ServerSettings(**values, restart_needed=restart), set(rows)


def application_connections(cur: Cursor) -> list[tuple[str, int]]:
    """Client connections per application_name over the whole server (they share
    max_connections). application_name is visible for every session, privileged or not."""
    cur.execute(
        "SELECT coalesce(application_name, '') AS application, count(*) AS n "
        "FROM pg_stat_activity WHERE backend_type = 'client backend' "
        "GROUP BY 1 ORDER BY 2 DESC, 1"
    )
    return [(row["application"], int(row["n"])) for row in cur.fetchall()]


def limit_for(application: str, connection_limit: int) -> int:
    """The connections a client may hold: Fibuca Desktop is measured against its own pool,
    every other client against Prisma's ``connection_limit``."""
    return MONITORING_SLOTS if application == APPLICATION_NAME else connection_limit


def memory_budget(cur: Cursor, ram_mb: int = 500, instances: int = 1) -> MemoryBudget:
    """Read, compute and recommend in the caller's read-only transaction
    (``session.run(memory_budget, 500)`` or ``session.submit`` from a worker)."""
    current, present = read_settings(cur)
    advice = recommend(current, ram_mb, instances)
    limit = advice.connection_limit
    connections = tuple(
        ApplicationConnections(app, n, n > limit_for(app, limit))
        for app, n in application_connections(cur)
    )
    notes = list(advice.notes)
    notes += [
        f"{c.application or '(no application_name)'} holds {c.count} connections, more than "
        f"the limit of {limit_for(c.application, limit)}: a "
        "second instance sharing its application_name, a larger pool, or a leak"
        for c in connections
        if c.over_limit
    ]
    return MemoryBudget(
        ram_mb=ram_mb,
        instances=instances,
        worst_case_mb=worst_case_mb(current),
        recommended_worst_case_mb=worst_case_mb(advice.settings),
        connection_limit=limit,
        settings=tuple(_advice(current, advice.settings, present)),
        connections=connections,
        notes=tuple(notes),
    )
