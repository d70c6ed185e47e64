"""The health overview: version, size, who holds connections, what is stuck, cache hit rate.

Connections are counted over the whole server (they share ``max_connections``); a client holding
more than Fibuca's limit of 5 is flagged: with Prisma's pool it is usually a second app instance
or a leak. Seeing other users' connections needs ``pg_read_all_stats`` (or a superuser).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field

from psycopg2.extensions import cursor as Cursor

FIBUCA_CONNECTION_LIMIT = 5
LONG_QUERY_S = 60.0


@dataclass(frozen=True)
class ClientConnections:
    client: str  # address, or "local socket"
    user: str
    application: str
    connections: int
    over_limit: bool


@dataclass(frozen=True)
class StuckSession:
    pid: int
    user: str
    application: str
    state: str
    seconds: float
    query: str


@dataclass
class Overview:
    server_version: str
    database: str
    database_bytes: int
    max_connections: int
    connections: int
    by_state: dict[str, int] = field(default_factory=dict)
    by_user: dict[str, int] = field(default_factory=dict)
    by_application: dict[str, int] = field(default_factory=dict)
    clients: list[ClientConnections] = field(default_factory=list)
    idle_in_transaction: list[StuckSession] = field(default_factory=list)
    long_running: list[StuckSession] = field(default_factory=list)
    cache_hit_rate: float | None = None  # None until the database has read a block
    server_version_num: int = 0  # 170004 for 17.4: what a feature needs is compared on this

    def to_json(self) -> dict:
        return asdict(self)


_CONNECTIONS = """
SELECT pid, coalesce(usename::text, '') AS "user", coalesce(application_name, '') AS app,
    coalesce(host(client_addr), 'local socket') AS client, coalesce(state, 'unknown') AS state,
    extract(epoch FROM clock_timestamp() - coalesce(state_change, backend_start)) AS state_s,
    extract(epoch FROM clock_timestamp() - query_start) AS query_s, coalesce(query, '') AS query
FROM pg_stat_activity
WHERE backend_type = 'client backend'
"""


def overview(
    cur: Cursor, long_query_s: float = LONG_QUERY_S, client_limit: int = FIBUCA_CONNECTION_LIMIT
) -> Overview:
    """Read everything in one read-only transaction (the caller's)."""
    cur.execute(
        "SELECT current_setting('server_version') AS version, "
        "current_setting('server_version_num')::int AS version_num, current_database() AS db, "
        "pg_database_size(current_database()) AS bytes, "
        "current_setting('max_connections')::int AS max_connections, "
        "(SELECT sum(blks_hit)::float8 / nullif(sum(blks_hit) + sum(blks_read), 0) "
        " FROM pg_stat_database WHERE datname = current_database()) AS hit_rate"
    )
    head = cur.fetchone()
    cur.execute(_CONNECTIONS)
    rows = [row for row in cur.fetchall() if row["pid"] is not None]
    result = Overview(
        server_version=head["version"],
        server_version_num=int(head["version_num"]),
        database=head["db"],
        database_bytes=int(head["bytes"]),
        max_connections=int(head["max_connections"]),
        connections=len(rows),
        cache_hit_rate=None if head["hit_rate"] is None else float(head["hit_rate"]),
    )
    clients: dict[tuple[str, str, str], int] = {}
    for row in rows:
        _count(result.by_state, row["state"])
        _count(result.by_user, row["user"])
        _count(result.by_application, row["app"])
        key = (row["client"], row["user"], row["app"])
        clients[key] = clients.get(key, 0) + 1
        if row["state"].startswith("idle in transaction"):
            result.idle_in_transaction.append(_stuck(row, row["state_s"]))
        elif row["state"] == "active" and (row["query_s"] or 0) >= long_query_s:
            result.long_running.append(_stuck(row, row["query_s"]))
    result.clients = sorted(
        (
            ClientConnections(client, user, app, count, count > client_limit)
            for (client, user, app), count in clients.items()
        ),
        key=lambda c: (-c.connections, c.client, c.user, c.application),
    )
    return result


def _count(counts: dict[str, int], key: str) -> None:
    counts[key] = counts.get(key, 0) + 1


def _stuck(row: dict, seconds) -> StuckSession:
    return StuckSession(
        int(row["pid"]),
        row["user"],
        row["app"],
        row["state"],
        float(seconds or 0),
        row["query"],
    )
