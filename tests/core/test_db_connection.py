"""DatabaseSession on the real throwaway cluster: pool bounds, credentials, failures, recovery."""

from __future__ import annotations

import contextlib
import logging
import threading
import time

import keyring
import pytest
from jaraco.classes import properties
from keyring.backend import KeyringBackend

from fibuca_desktop.core.database.connection import APPLICATION_NAME, PoolSettings
from fibuca_desktop.core.database.credentials import KEYRING_SERVICE
from fibuca_desktop.core.database.database_url import mask_database_url, parse_database_url
from fibuca_desktop.core.database.session import DatabaseSession, PoolStatus
from fibuca_desktop.core.errors import DatabaseUnavailable, QueryFailed, UsageError, WriteRefused
from tests.pg_cluster import PASSWORD, ROLE


def backend_pid(cur) -> int:
    cur.execute("SELECT pg_backend_pid() AS pid")
    return cur.fetchone()["pid"]


def fibuca_connections(pg_cluster, dbname: str) -> int:
    """Counted by an observer that is not part of the session (superuser, unix socket)."""
    with contextlib.closing(pg_cluster.admin()) as observer, observer.cursor() as cur:
        cur.execute(
            "SELECT count(*) FROM pg_stat_activity WHERE application_name = %s AND datname = %s",
            [APPLICATION_NAME, dbname],
        )
        return cur.fetchone()[0]


@pytest.fixture(scope="module")
def conn_url(pg_cluster) -> str:
    return pg_cluster.clone("shop_connections")


def test_fifty_concurrent_requests_never_open_more_than_the_pool(pg_cluster, conn_url):
    gate = threading.Event()
    pids: list[int] = []

    def request(cur) -> None:
        pid = backend_pid(cur)
        gate.wait(30)
        pids.append(pid)

    with DatabaseSession(conn_url) as session:
        threads = [threading.Thread(target=session.run, args=(request,)) for _ in range(50)]
        for thread in threads:
            thread.start()
        deadline = time.monotonic() + 30
        while session.pool_status() != PoolStatus(5, 5, 0, 45) and time.monotonic() < deadline:
            time.sleep(0.01)
        status = session.pool_status()
        open_now = fibuca_connections(pg_cluster, "shop_connections")
        gate.set()
        for thread in threads:
            thread.join(30)
        assert status == PoolStatus(size=5, checked_out=5, idle=0, waiting=45)
        assert open_now == 5
        assert len(pids) == 50 and len(set(pids)) == 5
        assert fibuca_connections(pg_cluster, "shop_connections") == 5
        # The worker pool is bounded too: 50 futures, still the same 5 connections.
        futures = [session.submit(backend_pid) for _ in range(50)]
        assert {future.result(30) for future in futures} <= set(pids)
    # Closed on exit (a backend leaves pg_stat_activity a moment after its client hangs up).
    deadline = time.monotonic() + 10
    while fibuca_connections(pg_cluster, "shop_connections") and time.monotonic() < deadline:
        time.sleep(0.02)
    assert fibuca_connections(pg_cluster, "shop_connections") == 0


def test_inspections_are_read_only_and_rolled_back(conn_url):
    with DatabaseSession(conn_url) as session:
        with pytest.raises(QueryFailed, match="read-only transaction"):
            session.run(lambda cur: cur.execute('CREATE TABLE "Sneaky" (id int)'))
        with pytest.raises(WriteRefused, match="Read-only mode is on"):
            session.require_writes("create an index")
        with pytest.raises(WriteRefused):
            session.writer_engine()
        # The connection that saw the error is healthy again for the next request.
        assert session.run(lambda cur: backend_pid(cur)) > 0


def test_statement_timeout_is_a_clear_error(conn_url):
    with DatabaseSession(conn_url, PoolSettings(statement_timeout_s=0.2)) as session:
        with pytest.raises(DatabaseUnavailable, match=r"statement timeout \(0.2 s\)"):
            session.run(lambda cur: cur.execute("SELECT pg_sleep(5)"))
        assert session.run(backend_pid) > 0


def test_wrong_password_unknown_database_and_no_server(pg_cluster):
    wrong = pg_cluster.url("shop_template", password="not-the-password")
    with DatabaseSession(wrong) as session, pytest.raises(DatabaseUnavailable) as caught:
        session.run(backend_pid)
    assert str(caught.value).startswith("Wrong password for user 'fibuca' on 127.0.0.1:")
    assert "not-the-password" not in str(caught.value)

    missing = pytest.raises(DatabaseUnavailable, match="'no_such_db' does not exist")
    with DatabaseSession(pg_cluster.url("no_such_db")) as session, missing:
        session.run(backend_pid)

    with socket_nobody_listens_on() as port:
        url = f"postgresql://{ROLE}:{PASSWORD}@127.0.0.1:{port}/shop"
        refused = pytest.raises(DatabaseUnavailable, match="PostgreSQL is not running at")
        with DatabaseSession(url) as session, refused:
            session.run(backend_pid)


@contextlib.contextmanager
def socket_nobody_listens_on():
    import socket

    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        yield probe.getsockname()[1]  # bound, not listening: connections are refused


def test_server_stopped_mid_session_then_back(pg_cluster, conn_url):
    with DatabaseSession(conn_url) as session:
        assert session.run(backend_pid) > 0
        running = {}

        def long_query() -> None:
            try:
                session.run(lambda cur: cur.execute("SELECT pg_sleep(60)"))
            except DatabaseUnavailable as error:
                running["error"] = error

        thread = threading.Thread(target=long_query)
        thread.start()
        deadline = time.monotonic() + 10
        while session.pool_status().checked_out == 0 and time.monotonic() < deadline:
            time.sleep(0.01)
        try:
            pg_cluster.stop()
            thread.join(30)
            assert "was lost (the server stopped or restarted)" in str(running["error"])
            with pytest.raises(DatabaseUnavailable, match="PostgreSQL is not running at"):
                session.run(backend_pid)
        finally:
            pg_cluster.start()
        # Pre-ping throws away the dead connections: the same session works again.
        assert session.run(backend_pid) > 0
        assert session.pool_status().checked_out == 0


def test_password_from_pgpassword_pgpass_or_keyring(pg_cluster, monkeypatch, tmp_path):
    url = pg_cluster.url("shop_template", password=None)
    monkeypatch.delenv("PGPASSWORD", raising=False)
    monkeypatch.setenv("PGPASSFILE", str(tmp_path / "none"))
    with DatabaseSession(url) as session, pytest.raises(DatabaseUnavailable) as caught:
        session.run(backend_pid)
    message = str(caught.value)
    assert "wants a password for user 'fibuca'" in message
    assert "PGPASSWORD" in message and "~/.pgpass" in message
    assert "the OS keyring is not usable here (NoKeyringError)" in message

    monkeypatch.setenv("PGPASSWORD", PASSWORD)
    with DatabaseSession(url) as session:
        assert session.run(backend_pid) > 0
    monkeypatch.delenv("PGPASSWORD")

    pgpass = tmp_path / "pgpass"
    pgpass.write_text(f"127.0.0.1:{pg_cluster.port}:*:{ROLE}:{PASSWORD}\n")
    pgpass.chmod(0o600)
    monkeypatch.setenv("PGPASSFILE", str(pgpass))
    with DatabaseSession(url) as session:
        assert session.run(backend_pid) > 0
    monkeypatch.setenv("PGPASSFILE", str(tmp_path / "none"))

    store = MemoryKeyring()
    previous = keyring.get_keyring()
    keyring.set_keyring(store)
    try:
        with DatabaseSession(url) as session, pytest.raises(DatabaseUnavailable, match="no entry"):
            session.run(backend_pid)
        entry = f"{ROLE}@127.0.0.1:{pg_cluster.port}/shop_template"
        store.set_password(KEYRING_SERVICE, entry, PASSWORD)
        with DatabaseSession(url) as session:
            assert session.run(backend_pid) > 0
    finally:
        keyring.set_keyring(previous)


class MemoryKeyring(KeyringBackend):
    """A real keyring backend that keeps passwords in memory (keyring's plug-in interface).

    Never chosen automatically: keyring would otherwise pick it for every test in the process.
    """

    @properties.classproperty
    def priority(cls):
        raise RuntimeError("only used when set explicitly")

    def __init__(self) -> None:
        super().__init__()
        self._passwords: dict[tuple[str, str], str] = {}

    def get_password(self, service, username):
        return self._passwords.get((service, username))

    def set_password(self, service, username, password):
        self._passwords[(service, username)] = password

    def delete_password(self, service, username):
        self._passwords.pop((service, username), None)


def test_passwords_are_masked_everywhere(pg_cluster, caplog):
    url = pg_cluster.url("shop_template")
    assert (
        mask_database_url(url)
        == f"postgresql://{ROLE}:***@127.0.0.1:{pg_cluster.port}/shop_template"
    )
    assert PASSWORD not in mask_database_url(url + "?password=" + PASSWORD)
    assert mask_database_url("not a url at all") == "<unreadable database URL>"
    caplog.set_level(logging.DEBUG)
    with DatabaseSession(url) as session:
        session.run(backend_pid)
        assert PASSWORD not in session.masked_url and "***" in session.masked_url
        assert PASSWORD not in repr(session.engine.url)
    assert caplog.records and all(PASSWORD not in r.getMessage() for r in caplog.records)


def test_prisma_urls_are_understood():
    target = parse_database_url(
        "postgresql://app:pw@db.example.com:6543/shop?schema=sales&connection_limit=3"
        "&sslmode=require&pool_timeout=20"
    )
    assert (target.schema, target.connection_limit) == ("sales", 3)
    assert dict(target.url.query) == {"sslmode": "require"}  # what libpq understands
    assert target.server == "db.example.com:6543/shop"
    with DatabaseSession("postgres://app@localhost/shop?connection_limit=3") as session:
        assert session.pool_status().size == 3
    for bad in ("mysql://a@b/c", "postgresql://a@b", "nonsense"):
        with pytest.raises(UsageError):
            parse_database_url(bad)


@pytest.mark.parametrize(
    ("failure", "connecting", "says"),
    [
        ("GSSAPI encryption required but no credential cache", True, "Could not connect to"),
        ('connection to server at "db", port 5 failed: server is not in hot standby mode', True,
         "Could not connect to"),
        ('connection to server at "db", port 5 failed: FATAL:  the database system is shutting '
         "down", True, "was lost (the server stopped or restarted)"),
        ("FATAL:  the database system is starting up", True, "was lost"),
        ("server closed the connection unexpectedly", True, "was lost"),
        ("GSSAPI encryption required but no credential cache", False, "was lost"),
    ],
)  # fmt: skip
def test_a_failure_while_connecting_is_not_called_lost_unless_the_server_stops(
    failure, connecting, says
):
    import psycopg2

    from fibuca_desktop.core.database.connection import translate

    target = parse_database_url("postgresql://ro:pw@db:5/shop")
    error = translate(
        psycopg2.OperationalError(failure), target, PoolSettings(), connecting=connecting
    )
    assert says in str(error) and isinstance(error, DatabaseUnavailable)
