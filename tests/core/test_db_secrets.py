"""No part of a password is ever shown: any URL shape, any special character, everywhere.

Every check scans the output for every substring of three or more characters of the password
(issue 10, item 15). The passwords avoid runs that occur in Fibuca's own messages.
"""

from __future__ import annotations

from urllib.parse import quote

import psycopg2
import pytest

from fibuca_desktop.core.database.connection import PoolSettings, translate
from fibuca_desktop.core.database.database_settings import url_without_password
from fibuca_desktop.core.database.database_url import mask_database_url, parse_database_url
from fibuca_desktop.core.database.session import DatabaseSession
from fibuca_desktop.core.database.url_parts import keep_password_behind_mask, split_url
from fibuca_desktop.core.errors import FibucaError, UsageError

PASSWORDS = [
    "p@ss/w:rd#1",  # the issue's: @ : / # unencoded
    "Qx?yz#w@v",
    "Kj%zz Lm/Np",  # a stray percent sign, a space
    "Ünï©ød€@Ωx",  # unicode
    "Zz9::@@//Yy",
    "k=1&Hh=Gg7?",  # looks like a query
    "Tr4w@",  # ends with @
    "Mn@b?c=dV",  # an @ then what reads as a host with a query
]


def pieces(secret: str) -> set[str]:
    """Every substring of ``secret`` of three characters or more."""
    return {secret[i:j] for i in range(len(secret)) for j in range(i + 3, len(secret) + 1)}


def assert_hidden(secret: str, *texts: str) -> None:
    leaked = sorted(p for p in pieces(secret) for text in texts if p in text)
    assert not leaked, f"parts of the password shown: {leaked} in {texts}"


def shapes(secret: str) -> list[tuple[str, str, int | None, str]]:
    """(url, host, port, database): the password as typed (unencoded) and percent-encoded."""
    encoded = quote(secret, safe="")
    return [
        (f"postgresql://ro:{secret}@127.0.0.1:55999/x", "127.0.0.1", 55999, "x"),
        (f"postgresql://ro:{encoded}@127.0.0.1:55999/x", "127.0.0.1", 55999, "x"),
        (f"postgres://ro:{secret}@[::1]:5433/shop?schema=sales", "::1", 5433, "shop"),
        (
            f"postgresql://ro:{secret}@db.example.com/shop?sslmode=require",
            "db.example.com",
            None,
            "shop",
        ),
        (f"postgresql://ro@db:6543/shop?password={encoded}&schema=s", "db", 6543, "shop"),
        (
            f"postgresql://ro:{encoded}@db/shop?connection_limit=3&password={encoded}",
            "db",
            None,
            "shop",
        ),
    ]


CASES = [(secret, *shape) for secret in PASSWORDS for shape in shapes(secret)]


@pytest.mark.parametrize(("secret", "url", "host", "port", "database"), CASES)
def test_every_url_shape_is_split_right_and_masked_from_its_parts(
    secret, url, host, port, database
):
    target = parse_database_url(url)
    assert (target.url.host, target.url.port, target.url.database) == (host, port, database)
    assert target.url.password == secret
    assert target.url.username == "ro"
    masked = target.masked
    assert "***" in masked
    kept = url_without_password(url)
    assert kept is not None and split_url(kept).secret() is None
    note = target.encoding_note or ""
    assert_hidden(
        secret, masked, mask_database_url(url), target.server, note, repr(target), kept,
        repr(target.url), str(target.url),
    )  # fmt: skip


QUERY_SHAPES = [
    "postgresql://ro@db.example.com:6543/shop?password={}",
    "postgresql://ro@db.example.com:6543/shop?sslmode=require&password={}&schema=s",
    "postgres://ro@db.example.com:6543/shop?password={}&application_name=me",
]


@pytest.mark.parametrize("shape", QUERY_SHAPES)
@pytest.mark.parametrize("secret", [s for s in PASSWORDS if "#" not in s] + ["Gp/Mz@Ky.Zw:1/x"])
def test_an_unencoded_password_in_the_query_is_read_whole_and_masked(shape, secret):
    """``?password=`` typed unencoded: an ``@`` in it is not the user part's end, and ``&x=y``
    naming no option is more of the password, not an option shown in a message."""
    url = shape.format(secret)
    target = parse_database_url(url)
    assert (target.url.host, target.url.port, target.url.database) == (
        "db.example.com",
        6543,
        "shop",
    )
    assert (target.url.username, target.url.password) == ("ro", secret)
    failures = [
        'could not translate host name "db.example.com" to address: Name or service not known',
        'FATAL:  password authentication failed for user "ro"',
    ]
    messages = [
        str(translate(psycopg2.OperationalError(f), target, PoolSettings())) for f in failures
    ]
    kept = url_without_password(url) or ""
    assert_hidden(
        secret, target.masked, mask_database_url(url), target.server, *messages, kept,
        target.encoding_note or "", repr(target), repr(target.url),
    )  # fmt: skip


@pytest.mark.parametrize(
    ("url", "host", "query"),
    [
        ("postgresql://ro:pw@db/shop?application_name=me@x", "db", {"application_name": "me@x"}),
        (
            "postgresql://ro@db/shop?application_name=a@b&sslmode=prefer",
            "db",
            {"sslmode": "prefer"},
        ),
        ("postgresql://ro:pw@db:5/shop?options=-c%20a%3Db", "db", {"options": "-c a=b"}),
    ],
)
def test_an_at_sign_in_a_query_value_is_not_taken_for_the_user_part(url, host, query):
    target = parse_database_url(url)
    assert target.url.host == host and target.url.database == "shop"
    assert query.items() <= dict(target.url.query).items()


@pytest.mark.parametrize("secret", PASSWORDS)
def test_an_unencoded_password_is_read_and_the_user_is_told_to_encode_it(secret):
    target = parse_database_url(f"postgresql://ro:{secret}@127.0.0.1:55999/x")
    assert target.url.password == secret
    assert "must be percent-encoded" in (target.encoding_note or "")
    assert (
        parse_database_url(
            f"postgresql://ro:{quote(secret, safe='')}@127.0.0.1:55999/x"
        ).encoding_note
        is None
        or "@" not in secret
    )


@pytest.mark.parametrize("secret", PASSWORDS)
@pytest.mark.parametrize(
    "failure",
    [
        'could not translate host name "db.example.com" to address: Name or service not known',
        'connection to server at "127.0.0.1", port 55999 failed: Connection refused',
        'FATAL:  password authentication failed for user "ro"',
        "server does not support SSL, but SSL was required",
        'invalid sslmode value: "bogus"',
    ],
)
def test_error_messages_name_the_server_never_the_password(secret, failure):
    target = parse_database_url(f"postgresql://ro:{secret}@db.example.com:6543/shop")
    message = str(translate(psycopg2.OperationalError(failure), target, PoolSettings()))
    assert "db.example.com" in message
    assert_hidden(secret, message)


@pytest.mark.parametrize(
    "bad",
    [
        "postgresql://ro:pw@db/shop?connection_limit=-1",
        "postgresql://ro:pw@db/shop?connection_limit=0",
        "postgresql://ro:pw@db/shop?connection_limit=abc",
        "postgresql://ro:pw@db/shop?connection_limit=100000",
        "postgresql://ro:pw@db:port/shop",
        "postgresql://ro:pw@db:70000/shop",
        "postgresql://ro:pw@h1:1,h2:2/shop",
        "postgresql://",
    ],
)
def test_bad_url_parts_are_usage_errors_not_tracebacks(bad):
    with pytest.raises(UsageError) as caught:
        DatabaseSession(bad)
    assert "pw@" not in str(caught.value) and "\n" not in str(caught.value)


@pytest.mark.parametrize("secret", PASSWORDS)
def test_an_edited_masked_url_keeps_the_real_password_for_the_same_server(secret):
    typed = f"postgresql://ro:{secret}@127.0.0.1:55999/x"
    masked = mask_database_url(typed)
    url, note = keep_password_behind_mask(masked + "?schema=public", typed)
    target = parse_database_url(url)
    assert (target.url.password, target.schema, note) == (secret, "public", None)
    # Another server or user: the password stays behind, and the note says to type it again.
    for elsewhere in (masked.replace("127.0.0.1", "10.9.9.9"), masked.replace("ro:", "admin:")):
        url, note = keep_password_behind_mask(elsewhere, typed)
        assert parse_database_url(url).url.password is None
        assert "Type the password again" in note
    # The ?password=*** form too.
    query_typed = f"postgresql://ro@127.0.0.1/x?password={quote(secret, safe='')}"
    url, _ = keep_password_behind_mask(mask_database_url(query_typed) + "&schema=s", query_typed)
    assert parse_database_url(url).url.password == secret


@pytest.fixture(scope="module")
def special_role(pg_cluster):
    def make(secret: str) -> str:
        pg_cluster.add_role("fibuca_special", secret)
        return f"postgresql://fibuca_special:{secret}@127.0.0.1:{pg_cluster.port}/postgres"

    return make


@pytest.mark.parametrize("secret", PASSWORDS)
def test_a_real_server_accepts_the_unencoded_password(special_role, secret):
    with DatabaseSession(special_role(secret)) as session:
        assert session.run(lambda cur: cur.execute("SELECT 1") or cur.fetchone()) == {"?column?": 1}
        assert_hidden(secret, session.masked_url, repr(session.engine.url))
    wrong = special_role(secret).replace(f":{secret}@", f":{secret}Q@")
    with DatabaseSession(wrong) as session, pytest.raises(FibucaError) as caught:
        session.run(lambda cur: None)
    assert "Wrong password" in str(caught.value)
    assert_hidden(secret, str(caught.value))
