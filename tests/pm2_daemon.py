"""A real PM2 (from npm) in a temporary PM2_HOME running a real Node app: fixtures for the tests.

PM2 is installed once into a cache folder (``$FIBUCA_TEST_NPM_CACHE``, else
~/.cache/fibuca-test-npm), so CI fetches it once per machine. No npm at all skips with the
reason; npm that cannot install PM2 fails. Every daemon started here is killed at teardown, and
the fixture checks that it is gone. A pytest plugin (see conftest.py's ``pytest_plugins``).
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import tempfile
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import psutil
import pytest

PM2_SPEC = "pm2@5"
APP = "fibuca-test-app"
SECRET = "hunter2-secret"
SECRET_ARG = "tok-3f9a-secret-arg"
WAIT_S = 30.0
APP_JS = """
// A tiny real app for PM2: keeps a little heap churning so PM2's agent has numbers to report.
const held = [];
setInterval(() => {
  held.push(new Array(1000).fill(Math.random()));
  if (held.length > 500) held.length = 0;
}, 50);
"""


def _npm_cache() -> Path:
    folder = os.environ.get("FIBUCA_TEST_NPM_CACHE")
    return Path(folder) if folder else Path.home() / ".cache" / "fibuca-test-npm"


def npm_install_once(
    spec: str, name: str, marker: str, purpose: str, prepare: Callable[[Path], None] | None = None
) -> Path:
    """``npm install spec`` into the cache folder ``name``, once per machine: staged in a
    temporary folder, checked by ``marker`` (a path under the staging folder), ``prepare``d, then
    renamed into place. Returns the installed folder. No npm skips; a failed install fails the
    tests ``purpose`` names."""
    folder = _npm_cache() / name
    if (folder / marker).exists():
        return folder
    npm = shutil.which("npm")
    if npm is None:
        pytest.skip(f"npm is not installed on this machine, so {purpose} cannot be installed")
    folder.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=f"{name}-staging-", dir=folder.parent))
    argv = [npm, "install", "--prefix", str(staging), "--no-audit", "--no-fund", spec]
    try:
        result = subprocess.run(argv, capture_output=True, text=True, timeout=600)
    except subprocess.TimeoutExpired:
        shutil.rmtree(staging, ignore_errors=True)
        pytest.fail(f"`npm install {spec}` did not finish within 10 min")
    if result.returncode != 0 or not (staging / marker).exists():
        shutil.rmtree(staging, ignore_errors=True)
        tail = (result.stderr or result.stdout).strip()[-800:]
        pytest.fail(f"could not install {spec} from npm for the {purpose} tests: {tail}")
    if prepare is not None:
        prepare(staging)
    try:
        staging.rename(folder)
    except OSError:  # another run installed it meanwhile
        shutil.rmtree(staging, ignore_errors=True)
    return folder


@pytest.fixture(scope="session")
def pm2_bin() -> str:
    """pm2 from npm, installed once into the cache folder (atomically: staged, then renamed)."""
    if shutil.which("node") is None:
        pytest.fail("Node.js is required for the PM2 tests (CI installs it)")
    pm2 = Path("node_modules") / ".bin" / "pm2"
    return str(npm_install_once(PM2_SPEC, "pm2-5", str(pm2), "PM2") / pm2)


class Pm2:
    """A real PM2 daemon in its own PM2_HOME; ``run`` is the pm2 CLI against it."""

    def __init__(self, pm2: str, home: Path) -> None:
        self.pm2 = pm2
        self.home = home
        self.environ = {**os.environ, "PM2_HOME": str(home)}
        self.environ.pop("DB_PASSWORD", None)

    def run(self, *args: str, env: dict[str, str] | None = None) -> str:
        result = subprocess.run(
            [self.pm2, *args],
            env=env or self.environ,
            capture_output=True,
            text=True,
            timeout=60,
            stdin=subprocess.DEVNULL,
        )
        assert result.returncode == 0, f"pm2 {' '.join(args)} failed: {result.stderr[-500:]}"
        return result.stdout

    def raw_jlist(self) -> str:
        return self.run("jlist")

    def daemon_pid(self) -> int | None:
        try:
            return int((self.home / "pm2.pid").read_text().strip())
        except (OSError, ValueError):
            return None


def _gone(pid: int) -> bool:
    try:
        return psutil.Process(pid).status() == psutil.STATUS_ZOMBIE
    except psutil.NoSuchProcess:
        return True


@pytest.fixture(scope="module")
def pm2(pm2_bin, tmp_path_factory) -> Iterator[Pm2]:
    """A daemon running APP (with a secret in its environment and arguments); killed after."""
    home = tmp_path_factory.mktemp("pm2home")
    script = tmp_path_factory.mktemp("pm2app") / "app.js"
    script.write_text(APP_JS)
    daemon = Pm2(pm2_bin, home)
    app_pids: set[int] = set()
    try:
        env = {**daemon.environ, "DB_PASSWORD": SECRET}
        daemon.run("start", str(script), "--name", APP, "--", f"--token={SECRET_ARG}", env=env)
        yield daemon
        app_pids = {a["pid"] for a in json.loads(daemon.raw_jlist().splitlines()[-1]) if a["pid"]}
    finally:
        pid = daemon.daemon_pid()
        subprocess.run(
            [pm2_bin, "kill"],
            env=daemon.environ,
            capture_output=True,
            timeout=60,
            stdin=subprocess.DEVNULL,
        )
        left = [p for p in ({pid} | app_pids) - {None} if not wait(lambda p=p: _gone(p), 15)]
        assert not left, f"PM2 processes left running after `pm2 kill`: {left}"


def wait(condition: Callable[[], object], seconds: float = WAIT_S) -> object:
    deadline = time.monotonic() + seconds
    while True:
        value = condition()
        if value or time.monotonic() > deadline:
            return value
        time.sleep(0.2)


@pytest.fixture
def pm2_here(pm2: Pm2, monkeypatch) -> Pm2:
    """This process (and what it starts) sees the test's PM2 as a user's shell would: on PATH,
    with its PM2_HOME."""
    monkeypatch.setenv("PATH", f"{Path(pm2.pm2).parent}{os.pathsep}{os.environ['PATH']}")
    monkeypatch.setenv("PM2_HOME", str(pm2.home))
    return pm2
