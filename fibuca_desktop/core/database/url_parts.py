"""Split a database URL into its parts without ever letting the password leak into the others.

People paste Prisma URLs whose password holds ``@ : / # ?`` unencoded. A generic URL parser then
cuts the password at the first ``@`` or ``/`` and shows the rest of it as the host or the
database (``ro:***@ss/w%3Ard...``). Here the user part ends at the first ``@`` after which the
text reads as ``host[:port][/database][?key=value&...]`` with no further ``@`` outside the
query, so ``ro:p@ss/w:rd#1@127.0.0.1:55999/x`` is user ``ro`` on ``127.0.0.1:55999/x``; the URL
is then flagged (``needs_encoding``) so the user is told to percent-encode the password. Every
URL shown to a person is rendered from these parts (``render(masked=True)``), never by pattern
on the text. Pure Python: the settings file uses it at start-up, before SQLAlchemy loads.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field, replace
from urllib.parse import quote, unquote, unquote_plus, urlencode

MASK = "***"
UNREADABLE = "<unreadable database URL>"
SECRET_PARAMETERS = frozenset({"password", "sslpassword"})
# Every option a URL may name (libpq's connection keywords and Prisma's own). After a secret
# parameter, a piece that names none of them is read as more of that secret: an unencoded
# ``?password=a&b=c`` means the password "a&b=c", never an option ``b`` shown in a message.
KNOWN_PARAMETERS = frozenset(
    {"host", "hostaddr", "port", "dbname", "user", "password", "passfile", "channel_binding"}
    | {"connect_timeout", "client_encoding", "options", "application_name"}
    | {"fallback_application_name", "keepalives", "keepalives_idle", "keepalives_interval"}
    | {"keepalives_count", "tcp_user_timeout", "replication", "gssencmode", "sslmode"}
    | {"requiressl", "sslcompression", "sslcert", "sslkey", "sslpassword", "sslcertmode"}
    | {"sslrootcert", "sslcrl", "sslcrldir", "sslsni", "requirepeer", "require_auth"}
    | {"ssl_min_protocol_version", "ssl_max_protocol_version", "krbsrvname", "gsslib"}
    | {"gssdelegation", "service", "target_session_attrs", "load_balance_hosts"}
    | {"schema", "connection_limit", "pool_timeout", "socket_timeout", "pgbouncer"}
    | {"statement_cache_size", "sslaccept", "sslidentity", "connect_timeout"}
)
ENCODE_HINT = (
    "special characters in a password (@ / # ? % & space) must be percent-encoded in a URL, "
    "e.g. @ as %40, / as %2F, # as %23, ? as %3F, % as %25"
)

_SCHEME = re.compile(r"([A-Za-z][A-Za-z0-9+.-]*)://")
_HOST = r"(?:\[[0-9A-Fa-f:.%a-zA-Z]*\]|[^/?#@\[\]:,]*)"
_HOSTS = rf"{_HOST}(?::[^/?#@,]*)?(?:,{_HOST}(?::[^/?#@,]*)?)*"
_TAIL = re.compile(rf"(?P<hosts>{_HOSTS})(?P<path>/[^?#@]*)?(?:\?(?P<query>[^#]*))?")
_PARAMETER = re.compile(r"[A-Za-z_][A-Za-z0-9_.]*=.*")  # one piece, after _query_pieces
_NEEDS_ENCODING = re.compile(r"[@/?#\[\] &]|%(?![0-9A-Fa-f]{2})")


class UrlSyntaxError(ValueError):
    """Not a URL; the message never contains any part of the text."""


@dataclass(frozen=True)
class UrlParts:
    scheme: str
    user: str | None
    password: str | None = field(repr=False)  # decoded; never in a repr or a traceback
    hosts: str  # as written: ``host:port``, ``[::1]:5433`` or a libpq multi-host list
    database: str  # decoded
    query: tuple[tuple[str, str], ...] = field(repr=False)  # may hold ?password=
    needs_encoding: bool = False  # the password was written with characters a URL reserves

    @property
    def host(self) -> str | None:
        first = self.hosts.split(",")[0]
        if first.startswith("["):
            return first[1 : first.index("]")] if "]" in first else first
        return first.rpartition(":")[0] if ":" in first else first or None

    @property
    def port(self) -> int | None:
        first = self.hosts.split(",")[0]
        after = first[first.index("]") + 1 :] if first.startswith("[") and "]" in first else first
        text = after.rpartition(":")[2] if ":" in after else ""
        return int(text) if text else None

    def secret(self) -> str | None:
        """The password from the user part or from ``?password=``."""
        if self.password is not None:
            return self.password
        return next((v for k, v in self.query if k == "password"), None)

    def without_password(self) -> UrlParts:
        query = tuple((k, v) for k, v in self.query if k not in SECRET_PARAMETERS)
        return replace(self, password=None, query=query, needs_encoding=False)

    def render(self, masked: bool = True) -> str:
        """The URL rebuilt from its parts, the password as ``***`` (or left out when
        ``masked`` is False and there is none; a real password is never rendered)."""
        auth = ""
        if self.user is not None:
            auth = quote(self.user, safe="")
            if self.password is not None and masked:
                auth += f":{MASK}"
            auth += "@"
        query = [(k, MASK if k in SECRET_PARAMETERS else v) for k, v in self.query]
        text = f"{self.scheme}://{auth}{self.hosts}/{quote(self.database, safe='')}"
        return text + (f"?{urlencode(query, safe='/:*')}" if query else "")


def mask_url(text: str) -> str:
    """The URL with its password (in the user part or ``?password=``) shown as ``***``."""
    try:
        return split_url(text).render(masked=True)
    except UrlSyntaxError:
        return UNREADABLE


def keep_password_behind_mask(edited: str, original: str) -> tuple[str, str | None]:
    """The URL to connect with after someone edited the masked URL shown for ``original``.

    Where ``edited`` still holds the mask as its password (``user:***@`` or ``?password=***``),
    the real password of ``original`` is put back, but only for the same user on the same
    server (another database there is fine): a password is never sent to a server or user it
    was not typed for. Then the mask is dropped
    instead (libpq's PGPASSWORD, ~/.pgpass or the keyring are asked) and the note says so.
    """
    try:
        new, old = split_url(edited), split_url(original)
    except UrlSyntaxError:
        return edited, None
    masked_query = any(k in SECRET_PARAMETERS and v == MASK for k, v in new.query)
    if new.password != MASK and not masked_query:
        return edited, None
    secret = old.secret()
    same = (new.user, new.hosts) == (old.user, old.hosts)  # a password belongs to a login
    if secret is None or not same:
        note = (
            "The password was not kept: the URL now names another user or server. "
            "Type the password again (or leave it out to use PGPASSWORD, ~/.pgpass or the keyring)."
        )
        return _compose(new.without_password(), None), note
    return _compose(new.without_password(), secret), None


def _compose(parts: UrlParts, password: str | None) -> str:
    """The URL for the connection itself (percent-encoded). Never shown, never logged."""
    auth = ""
    if parts.user is not None:
        auth = quote(parts.user, safe="")
        if password is not None:
            auth += ":" + quote(password, safe="")
        auth += "@"
    text = f"{parts.scheme}://{auth}{parts.hosts}/{quote(parts.database, safe='')}"
    return text + (f"?{urlencode(parts.query)}" if parts.query else "")


def split_url(text: str) -> UrlParts:
    """The parts of ``scheme://[user[:password]@]hosts[/database][?query]``."""
    text = text.strip()
    scheme = _SCHEME.match(text)
    if scheme is None:
        raise UrlSyntaxError("not a URL: expected scheme://...")
    rest = text[scheme.end() :]
    split, tail = _split_user_part(rest)
    user = password = None
    raw_password = ""
    if split is not None:
        userinfo = rest[:split]
        raw_user, colon, raw_password = userinfo.partition(":")
        user = unquote(raw_user)
        password = unquote(raw_password) if colon else None
    if tail is None:
        raise UrlSyntaxError("the host, port or database part of the URL cannot be read")
    hosts = tail.group("hosts")
    _check_ports(hosts)
    path = tail.group("path") or ""
    query, merged = _query_pairs(tail.group("query") or "")
    return UrlParts(
        scheme.group(1),
        user,
        password,
        hosts,
        unquote(path[1:]),
        query,
        bool(_NEEDS_ENCODING.search(raw_password)) or merged,
    )


def _query_pieces(query: str) -> tuple[list[str], bool]:
    """The ``key=value`` pieces of a query; a piece after a secret parameter that names no
    known option is joined back to that secret (True when that happened)."""
    pieces: list[str] = []
    in_secret = merged = False
    for piece in query.split("&"):
        key, equals, _value = piece.partition("=")
        if in_secret and (not equals or key not in KNOWN_PARAMETERS):
            pieces[-1] += "&" + piece
            merged = True
            continue
        in_secret = key in SECRET_PARAMETERS
        if piece:
            pieces.append(piece)
    return pieces, merged


def _query_pairs(query: str) -> tuple[tuple[tuple[str, str], ...], bool]:
    pieces, merged = _query_pieces(query)
    pairs = []
    for piece in pieces:
        key, _, value = piece.partition("=")
        pairs.append((unquote_plus(key), unquote_plus(value)))
    return tuple(pairs), merged


def _split_user_part(rest: str) -> tuple[int | None, re.Match | None]:
    """Where the user part ends (the ``@``) and the match of what follows it.

    First choice: the first ``@`` followed by ``host[:port]/database[?query]`` with no ``@`` in
    the query outside a secret's value (``?password=a@b`` is the password's); then the first
    followed by anything host-like (an ``@`` in a query value). When in doubt more is taken as
    the password, never less: over-masking is safe, leaking is not.
    """
    ats = [i for i, char in enumerate(rest) if char == "@"]
    for strict in (True, False):
        for at in ats:
            tail = _tail(rest[at + 1 :])
            if tail is None:
                continue
            if strict and (not tail.group("path") or _open_at(tail.group("query") or "")):
                continue
            return at, tail
    if ats:  # nothing after any '@' reads as a host: treat everything up to the last as secret
        return ats[-1], _tail(rest[ats[-1] + 1 :])
    return None, _tail(rest)


def _open_at(query: str) -> bool:
    """Whether an ``@`` sits in the query outside the value of a secret parameter."""
    pieces, _ = _query_pieces(query)
    return any("@" in p for p in pieces if p.partition("=")[0] not in SECRET_PARAMETERS)


def _tail(text: str) -> re.Match | None:
    match = _TAIL.fullmatch(text)
    if match is None:
        return None
    query = match.group("query")
    if query and not all(_PARAMETER.fullmatch(p) for p in _query_pieces(query)[0]):
        return None
    return match


def _check_ports(hosts: str) -> None:
    for host in hosts.split(","):
        after = host[host.index("]") + 1 :] if host.startswith("[") and "]" in host else host
        port = after.rpartition(":")[2] if ":" in after else ""
        if port and not (port.isdigit() and 0 < int(port) < 65536):
            raise UrlSyntaxError("the port in the URL is not a number from 1 to 65535")
