"""A throwaway PostgreSQL cluster for the database tests, started once per test session.

initdb and pg_ctl refuse to run as root, so when the tests run as root the cluster belongs to the
``postgres`` user (``runuser``). The cluster listens on 127.0.0.1 on a free port with scram
password auth for the test role (so a wrong password can be tested) and on a unix socket in its
own folder with trust for the superuser (fixture set-up only). pg_stat_statements is preloaded;
hypopg is created where a test database wants it and the server has it (CI installs Debian's
package; without it the tests that need the planner's verification skip, saying so, and the
unverified path is still tested). Everything is removed at the end, also on failure.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import socket
import subprocess
import tempfile
from collections.abc import Iterator
from pathlib import Path

import psycopg2
import pytest

PG_BIN = Path(os.environ.get("FIBUCA_PG_BIN", "/usr/lib/postgresql/15/bin"))
ROLE, PASSWORD = "fibuca", "s3cret-Pa55"
TEMPLATE = "shop_template"


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


class PgCluster:
    """One running cluster: its folder, port, superuser socket and URLs for the test role."""

    def __init__(self, settings: dict[str, str] | None = None, pg_bin: Path = PG_BIN) -> None:
        """``settings``: postgresql.conf lines (name -> value as written there) appended after
        the defaults below, so they win; ``pg_bin``: the server's initdb, pg_ctl and postgres
        (another major version: tests/pg17_cluster.py)."""
        self.extra_settings = dict(settings or {})
        self.pg_bin = pg_bin
        self.root = Path(tempfile.mkdtemp(prefix="fibuca-pg-"))
        self.data = self.root / "data"
        self.port = _free_port()
        self._as_user: list[str] = []
        if os.geteuid() == 0:
            shutil.chown(self.root, "postgres", "postgres")
            self._as_user = ["runuser", "-u", "postgres", "--"]
        os.chmod(self.root, 0o755)

    def _run(self, *args: str) -> None:
        result = subprocess.run(
            [*self._as_user, *args], capture_output=True, text=True, timeout=120
        )
        if result.returncode != 0:
            raise RuntimeError(f"{args[0]} failed: {result.stdout}{result.stderr}")

    def init(self) -> None:
        self._run(
            str(self.pg_bin / "initdb"),
            "-D",
            str(self.data),
            "-U",
            "postgres",
            "--auth-local=trust",
            "--auth-host=scram-sha-256",
            "--no-sync",
        )
        settings = {
            "listen_addresses": "'127.0.0.1'",
            "port": str(self.port),
            "unix_socket_directories": f"'{self.root}'",
            "shared_preload_libraries": "'pg_stat_statements'",
            "pg_stat_statements.track": "all",
            "fsync": "off",
            "synchronous_commit": "off",
            "full_page_writes": "off",
            "max_connections": "60",
            "shared_buffers": "64MB",
            "maintenance_work_mem": "64MB",
            "log_min_messages": "warning",
            # index ages for the "unused" rule (core/database/index_health.py)
            "track_commit_timestamp": "on",
            **self.extra_settings,
        }
        with (self.data / "postgresql.conf").open("a") as conf:
            conf.writelines(f"{name} = {value}\n" for name, value in settings.items())

    def start(self) -> None:
        log = self.root / "server.log"
        self._run(str(self.pg_bin / "pg_ctl"), "-D", str(self.data), "-l", str(log), "-w", "start")

    def stop(self) -> None:
        self._run(str(self.pg_bin / "pg_ctl"), "-D", str(self.data), "-m", "fast", "-w", "stop")

    def admin(self, dbname: str = "postgres"):
        """A superuser connection over the unix socket (autocommit), for set-up only."""
        connection = psycopg2.connect(
            host=str(self.root), port=self.port, user="postgres", dbname=dbname
        )
        connection.autocommit = True
        return connection

    def add_role(self, name: str, password: str, *grants: str) -> None:
        """A login role (dropped and created again), member of ``grants``; may use every
        database of the cluster."""
        with contextlib.closing(self.admin()) as admin, admin.cursor() as cur:
            cur.execute("SELECT 1 FROM pg_roles WHERE rolname = %s", [name])
            if cur.fetchone() is None:
                cur.execute(f'CREATE ROLE "{name}" LOGIN')
            cur.execute(f'ALTER ROLE "{name}" PASSWORD %s', [password])
            for grant in grants:
                cur.execute(f'GRANT {grant} TO "{name}"')

    def url(self, dbname: str, password: str | None = PASSWORD, user: str = ROLE) -> str:
        auth = user if password is None else f"{user}:{password}"
        return f"postgresql://{auth}@127.0.0.1:{self.port}/{dbname}"

    @property
    def has_hypopg(self) -> bool:
        """Whether the server can create hypopg (FIBUCA_TEST_NO_HYPOPG=1 pretends it cannot)."""
        if os.environ.get("FIBUCA_TEST_NO_HYPOPG") == "1":
            return False
        with contextlib.closing(self.admin()) as admin, admin.cursor() as cur:
            cur.execute("SELECT count(*) FROM pg_available_extensions WHERE name = 'hypopg'")
            return cur.fetchone()[0] == 1

    def require_hypopg(self) -> None:
        """Skip without hypopg; in CI (which installs it) fail instead, so it is never lost."""
        if not self.has_hypopg:
            reason = (
                "hypopg is not installed for this PostgreSQL (apt-get install "
                "postgresql-15-hypopg; .ci/run does): the planner-verified path is not tested"
            )
            if os.environ.get("CI") == "true":
                pytest.fail(reason)
            pytest.skip(reason)

    def clone(self, name: str, extensions: tuple[str, ...] = ("pg_stat_statements",)) -> str:
        """A fresh database copied from the loaded template; returns the test role's URL.
        hypopg is left out when the server does not have it."""
        if "hypopg" in extensions and not self.has_hypopg:
            extensions = tuple(e for e in extensions if e != "hypopg")
        with contextlib.closing(self.admin()) as admin, admin.cursor() as cur:
            cur.execute(f'CREATE DATABASE "{name}" TEMPLATE {TEMPLATE} OWNER {ROLE}')
        with contextlib.closing(self.admin(name)) as admin, admin.cursor() as cur:
            for extension in extensions:
                cur.execute(f"CREATE EXTENSION IF NOT EXISTS {extension}")
        return self.url(name)

    def hypopg_missing_message(self) -> str:
        """What the advisor says in a database without hypopg on this server."""
        if self.has_hypopg or os.environ.get("FIBUCA_TEST_NO_HYPOPG") == "1":
            return "hypopg is installed on the server but not enabled"
        return "hypopg is not installed on the server"

    def remove(self) -> None:
        with contextlib.suppress(Exception):
            self.stop()
        shutil.rmtree(self.root, ignore_errors=True)


@pytest.fixture(scope="session")
def pg_cluster() -> Iterator[PgCluster]:
    """The running cluster with the Prisma-style shop loaded into ``shop_template``."""
    if not (PG_BIN / "initdb").exists():
        pytest.skip(f"PostgreSQL server binaries not found in {PG_BIN} (set FIBUCA_PG_BIN)")
    cluster = PgCluster()
    try:
        start_with_shop(cluster)
        yield cluster
    finally:
        cluster.remove()


def start_with_shop(cluster: PgCluster) -> None:
    """Initialise and start ``cluster``, add the test role and load the shop into the template."""
    cluster.init()
    cluster.start()
    from tests.shop_schema import load_shop

    with contextlib.closing(cluster.admin()) as admin, admin.cursor() as cur:
        role = f"CREATE ROLE {ROLE} LOGIN PASSWORD %s IN ROLE pg_read_all_stats"
        cur.execute(role, [PASSWORD])
        cur.execute(f"CREATE DATABASE {TEMPLATE} OWNER {ROLE}")
    with contextlib.closing(cluster.admin(TEMPLATE)) as admin:
        load_shop(admin)


@contextlib.contextmanager
def running_cluster(settings: dict[str, str]) -> Iterator[PgCluster]:
    """A cluster of its own, started with ``settings`` on top of the defaults, with the test
    role (``pg_read_all_stats``) and no shop; stopped and removed on exit, also on failure."""
    if not (PG_BIN / "initdb").exists():
        pytest.skip(f"PostgreSQL server binaries not found in {PG_BIN} (set FIBUCA_PG_BIN)")
    cluster = PgCluster(settings)
    try:
        cluster.init()
        cluster.start()
        cluster.add_role(ROLE, PASSWORD, "pg_read_all_stats")
        yield cluster
    finally:
        cluster.remove()


def with_workload(cluster: PgCluster, name: str, extensions: tuple[str, ...]) -> str:
    from tests.shop_schema import run_workload

    url = cluster.clone(name, extensions)
    with contextlib.closing(psycopg2.connect(url)) as connection:
        connection.autocommit = True
        run_workload(connection)
    return url


@pytest.fixture(scope="session")
def shop_url(pg_cluster: PgCluster) -> str:
    """The shop with pg_stat_statements, hypopg (when the server has it), the Prisma workload
    and three bad indexes:
    ``User_email_idx`` duplicates the unique ``User_email_key``, ``Product_name_idx`` is never
    used, and ``Order_status_key`` is INVALID (a unique concurrent build over duplicates)."""
    url = with_workload(pg_cluster, "shop", ("pg_stat_statements", "hypopg"))
    with contextlib.closing(psycopg2.connect(url)) as connection:
        connection.autocommit = True
        with connection.cursor() as cur:
            cur.execute('CREATE INDEX "User_email_idx" ON "User" ("email")')
            cur.execute('CREATE INDEX "Product_name_idx" ON "Product" ("name")')
            with contextlib.suppress(psycopg2.errors.UniqueViolation):
                cur.execute(
                    'CREATE UNIQUE INDEX CONCURRENTLY "Order_status_key" ON "Order" (status)'
                )
    return url


@pytest.fixture(scope="session")
def plain_url(pg_cluster: PgCluster) -> str:
    """The same shop and workload in a database where hypopg is not created."""
    return with_workload(pg_cluster, "shop_plain", ("pg_stat_statements",))


# What issue 15 calls a bad configuration for a 500 MB server: 100 slots x 64 MB work_mem.
BAD_BUDGET = {"max_connections": "100", "work_mem": "'64MB'", "shared_buffers": "'128MB'"}


@pytest.fixture(scope="session")
def bad_budget_cluster() -> Iterator[PgCluster]:
    """A cluster of its own with ``BAD_BUDGET`` (the shared one must keep its settings)."""
    with running_cluster(BAD_BUDGET) as cluster:
        yield cluster


@pytest.fixture(scope="session")
def fitted_budget_cluster(bad_budget_cluster: PgCluster) -> Iterator[PgCluster]:
    """A second cluster started with what ``db budget`` recommends for the bad one at 500 MB,
    written into its postgresql.conf as an admin would put them there."""
    from fibuca_desktop.core.database.budget import memory_budget
    from fibuca_desktop.core.database.session import DatabaseSession

    with DatabaseSession(bad_budget_cluster.url("postgres")) as session:
        budget = session.run(memory_budget, 500)
    changes = {s.name: f"'{s.recommended}'" for s in budget.settings if s.changed}
    with running_cluster({**BAD_BUDGET, **changes}) as cluster:
        yield cluster
