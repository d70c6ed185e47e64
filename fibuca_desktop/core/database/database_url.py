"""Database URLs as Prisma writes them, turned into what SQLAlchemy and libpq accept.

A password may sit in the URL; it is never logged or shown: every URL that leaves this module for
a person goes through ``mask_database_url``.
"""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy.engine import URL, make_url
from sqlalchemy.exc import ArgumentError

from fibuca_desktop.core.errors import UsageError

# Query parameters Prisma understands and libpq does not (libpq refuses unknown ones).
PRISMA_ONLY = frozenset(
    {"schema", "connection_limit", "pool_timeout", "socket_timeout", "pgbouncer"}
    | {"statement_cache_size", "sslaccept"}
)
_SCHEMES = {"postgresql", "postgres", "postgresql+psycopg2"}


@dataclass(frozen=True)
class DatabaseTarget:
    """A parsed URL: the SQLAlchemy URL for psycopg2, the schema to inspect, Prisma's limit."""

    url: URL
    schema: str
    connection_limit: int | None

    @property
    def masked(self) -> str:
        return _render_masked(self.url)

    @property
    def server(self) -> str:
        """``host:port/database`` (or the socket folder), for messages."""
        host = self.url.host or self.url.query.get("host") or "localhost"
        return f"{host}:{self.url.port or 5432}/{self.url.database or ''}"


def parse_database_url(text: str) -> DatabaseTarget:
    """Accept ``postgresql://`` and ``postgres://`` URLs, Prisma's query parameters included."""
    try:
        url = make_url(text)
    except (ArgumentError, ValueError):
        raise UsageError(
            "Not a database URL: expected postgresql://USER[:PASSWORD]@HOST[:PORT]/DATABASE"
        ) from None
    if url.drivername not in _SCHEMES:
        raise UsageError(
            f"Unsupported database URL scheme {url.drivername!r}: Fibuca Desktop talks to "
            "PostgreSQL (postgresql://...)."
        )
    if not url.database:
        raise UsageError(f"The URL {_render_masked(url)} names no database: add /DATABASE.")
    schema = str(url.query.get("schema") or "public")
    limit = url.query.get("connection_limit")
    try:
        connection_limit = int(limit) if limit is not None else None
    except (TypeError, ValueError):
        raise UsageError(f"connection_limit={limit!r} in the URL is not a number") from None
    url = url.set(drivername="postgresql+psycopg2").difference_update_query(PRISMA_ONLY)
    return DatabaseTarget(url, schema, connection_limit)


def mask_database_url(text: str) -> str:
    """The URL with its password (in the user part or ``?password=``) shown as ``***``."""
    try:
        return _render_masked(make_url(text))
    except (ArgumentError, ValueError):
        return "<unreadable database URL>"


def _render_masked(url: URL) -> str:
    url = url.set(drivername="postgresql")
    if "password" in url.query:
        url = url.update_query_dict({"password": "***"})
    return url.render_as_string(hide_password=True)
