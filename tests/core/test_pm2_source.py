"""PM2 apps as targets, against a real PM2 (from npm) in a temporary PM2_HOME running a real app.

PM2 is installed once into a cache folder (``$FIBUCA_TEST_NPM_CACHE``, else
~/.cache/fibuca-test-npm), so CI fetches it once per machine. No npm at all skips with the
reason; npm that cannot install PM2 fails. Every daemon started here is killed at teardown, and
the test checks that it is gone.
"""

from __future__ import annotations

import json
import logging
import os
import shutil
import signal
import subprocess
import tempfile
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import psutil
import pytest

from fibuca_desktop.core.monitor.pm2_source import (
    CPU_PERCENT,
    LOOP_LATENCY_MS,
    PM2_METRICS,
    Pm2App,
    Pm2Listing,
    Pm2Source,
    Pm2Unavailable,
    parse_jlist,
)
from fibuca_desktop.core.monitor.restarts import CrashLoop, Restart, RestartTracker
from fibuca_desktop.core.monitor.samples import HEAP_TOTAL_MB, HEAP_USED_MB, MB, RSS_MB

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


@pytest.fixture(scope="session")
def pm2_bin() -> str:
    """pm2 from npm, installed once into the cache folder (atomically: staged, then renamed)."""
    if shutil.which("node") is None:
        pytest.fail("Node.js is required for the PM2 tests (CI installs it)")
    folder = _npm_cache() / "pm2-5"
    pm2 = folder / "node_modules" / ".bin" / "pm2"
    if pm2.exists():
        return str(pm2)
    npm = shutil.which("npm")
    if npm is None:
        pytest.skip("npm is not installed on this machine, so PM2 cannot be installed to test")
    folder.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix="pm2-staging-", dir=folder.parent))
    argv = [npm, "install", "--prefix", str(staging), "--no-audit", "--no-fund", PM2_SPEC]
    try:
        result = subprocess.run(argv, capture_output=True, text=True, timeout=600)
    except subprocess.TimeoutExpired:
        shutil.rmtree(staging, ignore_errors=True)
        pytest.fail(f"`npm install {PM2_SPEC}` did not finish within 10 min")
    if result.returncode != 0 or not (staging / "node_modules" / ".bin" / "pm2").exists():
        shutil.rmtree(staging, ignore_errors=True)
        tail = (result.stderr or result.stdout).strip()[-800:]
        pytest.fail(f"could not install {PM2_SPEC} from npm for the PM2 tests: {tail}")
    try:
        staging.rename(folder)
    except OSError:  # another run installed it meanwhile
        shutil.rmtree(staging, ignore_errors=True)
    return str(pm2)


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
        left = [p for p in ({pid} | app_pids) - {None} if not _wait(lambda p=p: _gone(p), 15)]
        assert not left, f"PM2 processes left running after `pm2 kill`: {left}"


def _wait(condition: Callable[[], object], seconds: float = WAIT_S) -> object:
    deadline = time.monotonic() + seconds
    while True:
        value = condition()
        if value or time.monotonic() > deadline:
            return value
        time.sleep(0.2)


def _listing(pm2: Pm2, **kwargs) -> Pm2Listing:
    return Pm2Listing(pm2.pm2, pm2_home=pm2.home, max_age_s=0.0, **kwargs)


def _app(pm2: Pm2) -> Pm2App:
    [app] = [app for app in _listing(pm2).apps() if app.name == APP]
    return app


# --- against the real PM2 --------------------------------------------------------------------


def test_the_listing_has_the_real_app_with_its_pid_memory_and_state(pm2):
    app = _wait(lambda: (a := _app(pm2)).online and a.pid and a)
    assert app, "PM2 never reported the app online"
    process = psutil.Process(app.pid)
    assert any(part.endswith("app.js") for part in process.cmdline())
    metrics = dict(app.metrics)
    assert metrics[RSS_MB] == pytest.approx(process.memory_info().rss / MB, rel=0.5)
    assert metrics[CPU_PERCENT] is not None and metrics[CPU_PERCENT] >= 0
    assert app.restarts == 0 and app.status == "online"
    assert abs(app.started_at - process.create_time()) < 10


def test_heap_and_loop_latency_come_from_pm2s_agent(pm2):
    def reported():
        metrics = dict(_app(pm2).metrics)
        return metrics if metrics.get(HEAP_USED_MB) and metrics.get(LOOP_LATENCY_MS) else None

    metrics = _wait(reported)
    assert metrics, "PM2 never reported the app's heap and event loop latency"
    assert 0 < metrics[HEAP_USED_MB] <= metrics[HEAP_TOTAL_MB] < metrics[RSS_MB]
    assert metrics[LOOP_LATENCY_MS] >= 0


def test_a_pm2_source_gives_a_sample_in_the_projects_shape(pm2):
    source = Pm2Source(_listing(pm2), name=APP)
    sample = source.poll()
    assert not sample.is_down and sample.backend_status == "online"
    assert tuple(sample.metrics) == PM2_METRICS
    assert sample.value(RSS_MB) > 0
    assert sample.identity.pid == _app(pm2).pid and sample.identity.restart_count == 0
    gone = Pm2Source(_listing(pm2), name="no-such-app").poll()
    assert gone.is_down and "no app 'no-such-app'" in gone.down_reason


def test_the_apps_secrets_appear_nowhere(pm2, caplog, tmp_path):
    raw = pm2.raw_jlist()
    assert SECRET in raw and SECRET_ARG in raw  # PM2 does print them: there is something to leak
    caplog.set_level(logging.DEBUG)
    listing = _listing(pm2)
    apps = listing.apps()
    sample = Pm2Source(listing, name=APP).poll()
    seen = [repr(apps), repr(sample), repr(vars(listing)), caplog.text]
    # output that breaks in the middle, or is too long: the error says so, and quotes nothing
    cut = tmp_path / "pm2-cut"
    cut.write_text(f'#!/bin/sh\n"{pm2.pm2}" jlist | head -c {raw.index(SECRET) + 40}\n')
    cut.chmod(0o755)
    errors = []
    for broken in (Pm2Listing(str(cut), pm2.home), _listing(pm2, max_output=200)):
        with pytest.raises(Pm2Unavailable) as caught:
            broken.apps()
        errors.append(caught.value)
        assert caught.value.__context__ is None and caught.value.__cause__ is None
    assert "not JSON" in str(errors[0]) and "more than 200 bytes" in str(errors[1])
    seen += [str(e) for e in errors] + [repr(e.args) for e in errors] + [caplog.text]
    for text in seen:
        assert SECRET not in text and SECRET_ARG not in text


def test_pm2_restart_and_a_killed_app_are_counted_as_restarts(pm2):
    tracker, events = RestartTracker(), []
    listing = _listing(pm2)
    source = Pm2Source(listing, name=APP)

    def online_after(restarts: int) -> Pm2App | None:
        app = _app(pm2)
        return app if app.online and app.restarts == restarts and app.pid else None

    first = _wait(lambda: online_after(0))
    assert first
    events += tracker.observe(source.poll())
    pm2.run("restart", APP)
    second = _wait(lambda: online_after(1))
    assert second, "`pm2 restart` was not counted by PM2"
    events += tracker.observe(source.poll())
    os.kill(second.pid, signal.SIGKILL)
    third = _wait(lambda: online_after(2))
    assert third, "PM2 did not restart the killed app"
    events += tracker.observe(source.poll())
    events += tracker.observe(source.poll())  # nothing new
    reasons = [event.reason for event in events if isinstance(event, Restart)]
    assert len(reasons) == 2 and tracker.total == 2
    assert "PM2 restart count 0 -> 1" in reasons[0] and f"new PID {first.pid}" in reasons[0]
    assert "PM2 restart count 1 -> 2" in reasons[1] and f"{second.pid} -> {third.pid}" in reasons[1]


def test_an_app_that_keeps_crashing_is_a_crash_loop_through_pm2s_count(pm2, tmp_path):
    script = tmp_path / "crashing.js"
    script.write_text("setTimeout(() => process.exit(1), 1200);\n")  # past PM2's min_uptime
    pm2.run("start", str(script), "--name", "fibuca-crashing", "--restart-delay", "200")
    try:
        source = Pm2Source(_listing(pm2), name="fibuca-crashing")
        tracker, events = RestartTracker(loop_restarts=3), []

        def looped() -> bool:
            events.extend(tracker.observe(source.poll()))
            return tracker.in_crash_loop

        assert _wait(looped), f"no crash loop seen: {tracker.total} restart(s)"
    finally:
        pm2.run("delete", "fibuca-crashing")
    [loop] = [event for event in events if isinstance(event, CrashLoop)]
    assert loop.reason == "crash loop: 3 restarts within 1 h"
    assert all("PM2 restart count" in e.reason for e in events if isinstance(e, Restart))


def test_targets_on_one_listing_share_one_pm2_jlist(pm2, tmp_path):
    runs = tmp_path / "runs"
    counting = tmp_path / "pm2-counting"
    counting.write_text(f'#!/bin/sh\necho run >> "{runs}"\nexec "{pm2.pm2}" "$@"\n')
    counting.chmod(0o755)
    listing = Pm2Listing(str(counting), pm2.home, max_age_s=60.0)
    samples = [Pm2Source(listing, name=APP).poll() for _ in range(3)]
    samples.append(Pm2Source(listing, pm_id=_app(pm2).pm_id).poll())
    assert all(not sample.is_down for sample in samples)
    assert runs.read_text().count("run") == 1


def test_a_pm2_that_does_not_answer_in_time_is_stopped_at_the_deadline(pm2, tmp_path):
    slow = tmp_path / "pm2-slow"
    slow.write_text("#!/bin/sh\nexec sleep 60\n")
    slow.chmod(0o755)
    with pytest.raises(Pm2Unavailable, match=r"no complete answer within 0\.5 s"):
        Pm2Listing(str(slow), pm2.home, timeout_s=0.5).apps()


def test_no_daemon_is_started_where_pm2_is_not_running(pm2_bin, tmp_path):
    home = tmp_path / "pm2-empty-home"
    home.mkdir()
    listing = Pm2Listing(pm2_bin, pm2_home=home)
    with pytest.raises(Pm2Unavailable, match="PM2 is not running"):
        listing.apps()
    assert list(home.iterdir()) == []  # `pm2 jlist` would have spawned a daemon here


def test_pm2_not_installed_says_so(tmp_path):
    with pytest.raises(Pm2Unavailable, match="not installed"):
        Pm2Listing(str(tmp_path / "pm2")).apps()
    with pytest.raises(ValueError):
        Pm2Source(Pm2Listing())


# --- odd output ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "output",
    [b"", b"{}", b"null", b"[PM2] Spawning PM2 daemon", b"\xff\xfe[", b"[" * 100_000],
)
def test_output_that_is_not_a_list_of_apps_is_one_clear_error(output):
    with pytest.raises(Pm2Unavailable, match=r"^pm2 jlist printed"):
        parse_jlist(output)


def test_odd_entries_are_skipped_and_odd_values_are_gaps():
    entries = [
        1,
        {"name": "no id"},
        {"pm_id": True, "name": "bool id"},
        {
            "pm_id": 3,
            "name": "odd\x1b[31m",
            "pid": -1,
            "monit": {"memory": "lots", "cpu": float("inf")},
            "pm2_env": {
                "status": 5,
                "restart_time": "2",
                "axm_monitor": {
                    "Used Heap Size": {"value": "12", "unit": "KiB"},
                    "custom": {"value": SECRET, "type": "internal/v8/heap/total", "unit": "MiB"},
                },
            },
        },
    ]
    output = b">>>> In-memory PM2 is out-of-date, do:\n" + json.dumps(entries).encode()
    [app] = parse_jlist(output)
    assert app.pm_id == 3 and app.name == "odd [31m" and app.pid is None and app.status is None
    assert app.restarts is None and dict(app.metrics)[HEAP_USED_MB] is None
    assert SECRET not in repr(app)
    assert app.sample(0.0).is_down
