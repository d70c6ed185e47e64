"""Database URLs as Prisma writes them, turned into what SQLAlchemy and libpq accept.

A password may sit in the URL; it is never logged or shown. The URL is split once
(``url_parts.split_url``, which never lets a password with ``@ / # ?`` in it spill into the host
or database), the SQLAlchemy URL is built from the parts, and every URL shown to a person is
rendered from the parts with the password as ``***``. Prisma's own query parameters are checked
here, so a bad one is a one-line ``UsageError``, never a traceback.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from sqlalchemy.engine import URL

from fibuca_desktop.core.database.url_parts import (
    ENCODE_HINT,
    MASK,
    SECRET_PARAMETERS,
    UrlParts,
    UrlSyntaxError,
    mask_url,
    split_url,
)
from fibuca_desktop.core.errors import UsageError

# Query parameters Prisma understands and libpq does not (libpq refuses unknown ones).
PRISMA_ONLY = frozenset(
    {"schema", "connection_limit", "pool_timeout", "socket_timeout", "pgbouncer"}
    | {"statement_cache_size", "sslaccept"}
)
_SCHEMES = {"postgresql", "postgres", "postgresql+psycopg2"}
_MAX_CONNECTION_LIMIT = 1000


@dataclass(frozen=True)
class DatabaseTarget:
    """A parsed URL: the SQLAlchemy URL for psycopg2, the schema to inspect, Prisma's limit."""

    url: URL
    schema: str
    connection_limit: int | None
    parts: UrlParts | None = None
    # ?sslpassword= and the like: handed to libpq with the connection arguments, never kept in
    # the URL object (whose repr SQLAlchemy renders with its query).
    secret_args: dict[str, str] = field(default_factory=dict, repr=False)

    @property
    def masked(self) -> str:
        if self.parts is not None:
            return self.parts.render(masked=True)
        return _render_masked(self.url)

    @property
    def server(self) -> str:
        """``host:port/database`` (or the socket folder), for messages."""
        host = self.url.host or self.url.query.get("host") or "localhost"
        if ":" in str(host):
            host = f"[{host}]"
        return f"{host}:{self.url.port or 5432}/{self.url.database or ''}"

    @property
    def encoding_note(self) -> str | None:
        """Set when the password was written with characters a URL reserves."""
        if self.parts is None or not self.parts.needs_encoding:
            return None
        return (
            f"the password in the URL is not percent-encoded; it was read as user "
            f"{self.parts.user!r} on {self.server}: {ENCODE_HINT} (Prisma and psql need that)."
        )


def parse_database_url(text: str) -> DatabaseTarget:
    """Accept ``postgresql://`` and ``postgres://`` URLs, Prisma's query parameters included."""
    try:
        parts = split_url(text)
    except UrlSyntaxError as error:
        raise UsageError(
            f"Not a database URL ({error}): expected "
            f"postgresql://USER[:PASSWORD]@HOST[:PORT]/DATABASE; {ENCODE_HINT}."
        ) from None
    if parts.scheme not in _SCHEMES:
        raise UsageError(
            f"Unsupported database URL scheme {parts.scheme!r}: Fibuca Desktop talks to "
            "PostgreSQL (postgresql://...)."
        )
    if "," in parts.hosts:
        raise UsageError(f"The URL {parts.render()} names several hosts: give one.")
    if not parts.database:
        raise UsageError(f"The URL {parts.render()} names no database: add /DATABASE.")
    query: dict[str, str] = {}
    for key, value in parts.query:
        query[key] = value
    password = parts.password
    if password is None and "password" in query:
        password = query["password"]  # libpq reads both the same way
    secret_args = {k: v for k, v in query.items() if k in SECRET_PARAMETERS and k != "password"}
    query = {k: v for k, v in query.items() if k not in SECRET_PARAMETERS}
    schema = query.get("schema") or "public"
    connection_limit = _connection_limit(query.get("connection_limit"))
    url = URL.create(
        "postgresql+psycopg2",
        username=parts.user or None,
        password=password,
        host=parts.host or None,
        port=parts.port,
        database=parts.database,
        query={k: v for k, v in query.items() if k not in PRISMA_ONLY},
    )
    return DatabaseTarget(url, schema, connection_limit, parts, secret_args)


def _connection_limit(text: str | None) -> int | None:
    if text is None:
        return None
    try:
        limit = int(text)
    except ValueError:
        limit = 0
    if not 1 <= limit <= _MAX_CONNECTION_LIMIT:
        raise UsageError(
            f"connection_limit={text!r} in the URL must be a whole number from 1 to "
            f"{_MAX_CONNECTION_LIMIT} (the most connections Fibuca may open): fix or remove it."
        )
    return limit


def mask_database_url(text: str) -> str:
    """The URL with its password (in the user part or ``?password=``) shown as ``***``."""
    return mask_url(text)


def _render_masked(url: URL) -> str:
    url = url.set(drivername="postgresql")
    if "password" in url.query:
        url = url.update_query_dict({"password": MASK})
    return url.render_as_string(hide_password=True)
