"""Who is blocking whom right now: the lock tree from ``pg_blocking_pids``.

One bounded query: the sessions of this database that wait for a heavyweight lock, the sessions
blocking them (wherever they are), and for each how many sessions it holds up, directly or
through others. ``pg_blocking_pids`` takes the lock manager's locks for a moment, so it is only
called for sessions that wait on a lock (a materialized CTE keeps the planner from calling it on
every backend). The transitive counts are computed by the server over every waiting session, so
they stay right when only the top ``limit`` sessions are returned; the recursion uses ``UNION``
(pairs are never revisited), so a deadlock in progress (a cycle) ends instead of looping.

The tree shows each waiter under the blockers closest to it: in a lock queue (B waits for A, C
waits for A and for B queued ahead of it) C is shown under B only, since B is already under A, so
a queue reads as a chain and the tree stays as long as the list of sessions. A waiter blocked by
two unrelated sessions shows under both; its own waiters are listed at its first place.

A prepared transaction holding a lock is blocker pid 0 (``pg_blocking_pids`` says so). Ending a
blocker is ``session_ending.py``'s job.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from typing import TYPE_CHECKING

from fibuca_desktop.core.errors import UsageError

if TYPE_CHECKING:
    from psycopg2.extensions import cursor as Cursor


DEFAULT_LIMIT = 200
QUERY_CHARS = 200  # one line of the query text per session
PREPARED_PID = 0  # what pg_blocking_pids reports for a prepared transaction

_TREE = """
WITH RECURSIVE waiting AS MATERIALIZED (
    SELECT pid FROM pg_stat_activity
    WHERE wait_event_type = 'Lock' AND datname = current_database()
),
edges AS MATERIALIZED (
    SELECT w.pid AS waiter, b.blocker
    FROM waiting w, unnest(pg_blocking_pids(w.pid)) AS b(blocker)
),
reach(blocker, waiter) AS (
    SELECT blocker, waiter FROM edges
    UNION
    SELECT r.blocker, e.waiter FROM reach r JOIN edges e ON e.blocker = r.waiter
),
nodes AS (
    SELECT waiter AS pid FROM edges UNION SELECT blocker FROM edges
)
SELECT n.pid,
    coalesce(a.application_name, '') AS application, coalesce(a.usename::text, '') AS user_name,
    CASE WHEN n.pid = 0 THEN 'prepared transaction' WHEN a.pid IS NULL THEN 'gone'
        ELSE coalesce(a.state, '') END AS state,
    coalesce(extract(epoch FROM clock_timestamp() - CASE WHEN a.wait_event_type = 'Lock'
        THEN a.query_start ELSE coalesce(a.state_change, a.backend_start) END), 0) AS seconds,
    coalesce(a.wait_event_type || coalesce(': ' || a.wait_event, ''), '') AS wait_event,
    left(coalesce(a.query, ''), 2000) AS query,
    (SELECT count(DISTINCT r.waiter) FROM reach r WHERE r.blocker = n.pid AND r.waiter <> n.pid)
        AS blocks,
    coalesce((SELECT array_agg(DISTINCT e.blocker) FROM edges e WHERE e.waiter = n.pid), '{}')
        AS blocked_by
FROM nodes n
LEFT JOIN pg_stat_activity a ON a.pid = n.pid
ORDER BY blocks DESC, seconds DESC, n.pid
LIMIT %(rows)s
"""


@dataclass
class BlockedSession:
    """One place in the lock tree: a session, what it waits for, whom it holds up."""

    pid: int
    application: str
    user: str
    state: str
    wait_seconds: float
    wait_event: str
    query: str
    blocks: int  # sessions waiting for it, directly or behind others
    blocked_by: tuple[int, ...] = ()
    children: list[BlockedSession] = field(default_factory=list)
    repeated: bool = False  # shown again under a second blocker; its children are at the first

    def to_json(self) -> dict:
        return {
            "pid": self.pid,
            "application": self.application,
            "user": self.user,
            "state": self.state,
            "waitSeconds": round(self.wait_seconds, 3),
            "waitEvent": self.wait_event,
            "query": self.query,
            "blocks": self.blocks,
            "children": [child.to_json() for child in self.children],
        }


@dataclass
class LockTree:
    """The roots (blockers not blocked themselves), and whether sessions were left out."""

    roots: list[BlockedSession]
    truncated: bool
    limit: int

    def to_json(self) -> dict:
        return {"tree": [root.to_json() for root in self.roots], "truncated": self.truncated}

    def walk(self) -> list[tuple[int, BlockedSession]]:
        """Every place in the tree with its depth, depth first (for printing and tests)."""
        places: list[tuple[int, BlockedSession]] = []
        stack = [(0, root) for root in reversed(self.roots)]
        while stack:
            depth, node = stack.pop()
            places.append((depth, node))
            stack.extend((depth + 1, child) for child in reversed(node.children))
        return places


def one_line(text: str, limit: int = QUERY_CHARS) -> str:
    """A query on one line: newlines and runs of spaces become one space, cut at ``limit``."""
    flat = " ".join(text.split())
    return flat if len(flat) <= limit else flat[: limit - 1] + "…"


def blocking_tree(cur: Cursor, limit: int = DEFAULT_LIMIT) -> LockTree:
    """The lock tree of this database now, at most ``limit`` sessions (most blocking first)."""
    if limit < 1:
        raise UsageError("The limit of the lock tree must be at least 1.")
    cur.execute(_TREE, {"rows": limit + 1})
    rows = cur.fetchall()
    sessions = [_session(row) for row in rows[:limit]]
    return build_tree(sessions, truncated=len(rows) > limit, limit=limit)


def _session(row) -> BlockedSession:
    return BlockedSession(
        pid=int(row["pid"]),
        application=row["application"],
        user=row["user_name"],
        state=row["state"],
        wait_seconds=float(row["seconds"] or 0),
        wait_event=row["wait_event"],
        query=one_line(row["query"]),
        blocks=int(row["blocks"]),
        blocked_by=tuple(sorted(int(pid) for pid in row["blocked_by"] or ())),
    )


def build_tree(sessions: list[BlockedSession], *, truncated: bool, limit: int) -> LockTree:
    """Hang each session under its closest blockers (see the module's docstring). Sessions with
    no blocker among ``sessions`` are roots; a cycle with no root outside it (a deadlock the
    server has not broken yet) is entered at its most blocking session. At most ``limit``
    places: a session under two blockers takes two."""
    waiters: dict[int, list[BlockedSession]] = {s.pid: [] for s in sessions}
    closest = _closest_blockers(sessions)
    has_parent: set[int] = set()
    for session in sessions:  # sessions come most blocking first: children keep that order
        for parent in closest[session.pid]:
            waiters[parent].append(session)
            has_parent.add(session.pid)
    # Roots first; then whatever no root reaches, which sits on a cycle.
    candidates = [s for s in sessions if s.pid not in has_parent]
    candidates += [s for s in sessions if s.pid in has_parent]
    roots: list[BlockedSession] = []
    placed: set[int] = set()
    budget = _Budget(limit)
    for session in candidates:
        if session.pid in placed:
            continue
        if not budget.take():
            break
        roots.append(_place(session, waiters, placed, budget))
    complete = not budget.overrun and len(placed) == len(sessions)
    return LockTree(roots, truncated or not complete, limit)


def _closest_blockers(sessions: list[BlockedSession]) -> dict[int, list[int]]:
    """For each session, its blockers that are not above another of its blockers (on a cycle,
    where each is above the others, all of them). Ancestor sets are bit masks, filled in the
    given order (most blocking first: blockers before their waiters, so a lock queue of
    hundreds takes one pass), repeated until nothing changes (a cycle takes a few more)."""
    index = {s.pid: i for i, s in enumerate(sessions)}
    direct = {
        s.pid: [pid for pid in s.blocked_by if pid in index and pid != s.pid] for s in sessions
    }
    above = dict.fromkeys(index, 0)
    changed = True
    while changed:  # monotone and bounded by the number of sessions: it ends
        changed = False
        for session in sessions:
            mask = above[session.pid]
            for pid in direct[session.pid]:
                mask |= (1 << index[pid]) | above[pid]
            if mask != above[session.pid]:
                above[session.pid], changed = mask, True
    closest = {}
    for pid, blockers in direct.items():
        higher = 0
        for blocker in blockers:
            higher |= above[blocker]
        closest[pid] = [b for b in blockers if not higher >> index[b] & 1] or blockers
    return closest


class _Budget:
    """Places left in the tree; ``overrun`` once one had to be left out."""

    def __init__(self, places: int) -> None:
        self.left = places
        self.overrun = False

    def take(self) -> bool:
        if self.left <= 0:
            self.overrun = True
            return False
        self.left -= 1
        return True


def _place(
    node: BlockedSession,
    waiters: dict[int, list[BlockedSession]],
    placed: set[int],
    budget: _Budget,
) -> BlockedSession:
    """``node`` with its waiters below it, each expanded at its first place only (iterative:
    a long queue is a deep chain)."""
    node.children = []
    placed.add(node.pid)
    stack = [node]
    while stack:
        parent = stack.pop()
        for waiter in waiters[parent.pid]:
            if not budget.take():
                return node
            if waiter.pid in placed:
                parent.children.append(replace(waiter, children=[], repeated=True))
                continue
            placed.add(waiter.pid)
            waiter.children = []
            parent.children.append(waiter)
            stack.append(waiter)
    return node
