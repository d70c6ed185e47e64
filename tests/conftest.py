"""Shared fixtures. Qt runs offscreen; the real u2netp model must be present (CI fetches it)."""

from __future__ import annotations

import os
import shutil
import tempfile
from pathlib import Path

import pytest
from keyring.backend import KeyringBackend

# The throwaway PostgreSQL clusters (15 from Debian, 17 from npm) and the shop databases for the
# database tests; a real PM2; a real Redis and real Celery workers for the cluster tests.
pytest_plugins = [
    "tests.pg_cluster",
    "tests.pm2_daemon",
    "tests.pg17_cluster",
    "tests.redis_server",
]

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
# Derived caches (the rewritten u2netp graph) go to a throwaway folder, not the user's cache.
os.environ.setdefault("FIBUCA_CACHE_DIR", tempfile.mkdtemp(prefix="fibuca-test-cache-"))
# Stored masks too; each test then gets its own folder (mask_store_folder), but a fixture of a
# wider scope (one ProcessService for a module) is made before that and keeps this one.
os.environ.setdefault("FIBUCA_MASKS_DIR", tempfile.mkdtemp(prefix="fibuca-test-masks-"))
# Index snapshots (every index build keeps one) never land in the user's data folder either.
os.environ.setdefault(
    "FIBUCA_INDEX_SNAPSHOTS",
    str(Path(tempfile.mkdtemp(prefix="fibuca-test-snapshots-")) / "index-snapshots.json"),
)
# The monitor's history file (app-level tests open it) never lands in the user's data folder.
os.environ.setdefault(
    "FIBUCA_HISTORY_FILE",
    str(Path(tempfile.mkdtemp(prefix="fibuca-test-history-")) / "history.sqlite3"),
)

FIXTURES = Path(__file__).parent / "fixtures"
PHOTOS = FIXTURES / "photos"
EXPECTED = FIXTURES / "expected"
PHOTO_NAMES = sorted(p.name for p in PHOTOS.iterdir() if p.suffix == ".jpg")


@pytest.fixture(autouse=True)
def mask_store_folder(tmp_path_factory, monkeypatch) -> Path:
    """A fresh mask store for every test (subprocesses inherit it): a mask stored by one test
    must never change another's output, and none reaches the user's cache."""
    folder = tmp_path_factory.mktemp("masks")
    monkeypatch.setenv("FIBUCA_MASKS_DIR", str(folder))
    return folder


@pytest.fixture(scope="session")
def u2netp_path() -> Path:
    """The verified default model from the user's store; fails loudly when it is missing."""
    from fibuca_desktop.core.errors import ModelUnavailable
    from fibuca_desktop.core.imaging.models import ModelStore

    try:
        return ModelStore().path("u2netp")
    except ModelUnavailable as error:
        pytest.fail(f"{error} (the test command fetches it; see README)")


@pytest.fixture
def photos(tmp_path: Path) -> Path:
    """A private copy of the real photos, so a test can never touch the fixtures."""
    target = tmp_path / "photos"
    shutil.copytree(PHOTOS, target, ignore=shutil.ignore_patterns("*.md"))
    return target


@pytest.fixture(scope="session")
def engines(u2netp_path):
    """One engine provider for the session, as the app has one."""
    from fibuca_desktop.core.imaging.engine import EngineProvider

    return EngineProvider(threads=2)


class MemoryKeyring(KeyringBackend):
    """Stands in for an OS keyring (there is none on this machine or in CI).

    Defining a backend class registers it with keyring; a negative priority keeps keyring from
    choosing it by itself, so it is only used where a test sets it.
    """

    priority = -1

    def __init__(self) -> None:
        super().__init__()
        self.store: dict[tuple[str, str], str] = {}

    def get_password(self, service, username):
        return self.store.get((service, username))

    def set_password(self, service, username, password):
        self.store[(service, username)] = password

    def delete_password(self, service, username):
        self.store.pop((service, username), None)


@pytest.fixture
def os_keyring():
    """An OS keyring for the test (none exists here); the real no-backend state after."""
    import keyring

    previous = keyring.get_keyring()
    backend = MemoryKeyring()
    keyring.set_keyring(backend)
    yield backend
    keyring.set_keyring(previous)
