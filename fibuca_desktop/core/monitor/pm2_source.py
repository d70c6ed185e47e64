"""PM2's apps on this computer (``pm2 jlist``), each one polled as a target.

``Pm2Listing`` runs ``pm2 jlist`` (no shell, a total deadline, a cap on what it may print) and
keeps, of each app, only the whitelisted fields below; ``Pm2Source`` polls one app from a shared
listing, so N PM2 targets cost one ``pm2 jlist`` per interval, not N.

Why a whitelist and nothing else: ``pm2 jlist`` prints each app's whole environment, twice (in
``pm2_env.env`` and at the top level of ``pm2_env`` itself), with its passwords and tokens, plus
its arguments. The JSON is parsed, the fields below are copied out, and the text and the parsed
tree are dropped at once: never kept, logged, put in an exception (not even as a chained
``JSONDecodeError``, whose ``doc`` is the whole text) or shown.

==========================  ==================================================
PM2 field                   here
==========================  ==================================================
``pm_id``, ``name``         ``Pm2App.pm_id``, ``.name`` (the target's label)
``pid``                     ``.pid`` (None while stopped)
``monit.memory``            rssMB
``monit.cpu``               cpuPercent
``pm2_env.status``          ``.status``: "online"; anything else is DOWN
``pm2_env.restart_time``    ``.restarts``: PM2's restart count
``pm2_env.pm_uptime``       ``.started_at``: when PM2 last started it (epoch s)
``pm2_env.axm_monitor``     heapUsedMB, heapTotalMB, loopLatencyMs (p50),
                            loopLatencyP95Ms, when PM2's agent reports them
==========================  ==================================================
"""

from __future__ import annotations

import json
import logging
import math
import os
import shutil
import subprocess
import sys
import threading
import time
from dataclasses import dataclass
from pathlib import Path

from fibuca_desktop.core.errors import FibucaError

from .http_fetch import SourceDown, one_line
from .samples import (
    CPU_PERCENT,
    HEAP_TOTAL_MB,
    HEAP_USED_MB,
    LOOP_LATENCY_MS,
    LOOP_LATENCY_P95_MS,
    MB,
    RSS_MB,
    ProcessIdentity,
    Sample,
    plausible_number,
)

log = logging.getLogger(__name__)

PM2_METRICS = (
    RSS_MB,
    CPU_PERCENT,
    HEAP_USED_MB,
    HEAP_TOTAL_MB,
    LOOP_LATENCY_MS,
    LOOP_LATENCY_P95_MS,
)
"""A PM2 target's metrics, as the per-sample JSON names them."""
__all__ = ["CPU_PERCENT", "LOOP_LATENCY_MS", "LOOP_LATENCY_P95_MS", "PM2_METRICS"]

ONLINE = "online"
TIMEOUT_S = 5.0  # `pm2 jlist` starts a Node process: slower than an HTTP poll
MAX_OUTPUT = 16 * 1024 * 1024  # 16 MiB: hundreds of apps with large environments
MAX_NAME = 80
MAX_VALUE = float(2**53)
# pm2_env.axm_monitor entries, by their "type" (PM2 5, @pm2/io) or, failing that, their key.
_AXM = {
    "internal/v8/heap/used": HEAP_USED_MB,
    "internal/v8/heap/total": HEAP_TOTAL_MB,
    "internal/libuv/latency/p50": LOOP_LATENCY_MS,
    "internal/libuv/latency/p95": LOOP_LATENCY_P95_MS,
}
_AXM_KEYS = {
    "Used Heap Size": HEAP_USED_MB,
    "Heap Size": HEAP_TOTAL_MB,
    "Event Loop Latency": LOOP_LATENCY_MS,
    "Event Loop Latency p95": LOOP_LATENCY_P95_MS,
}
_UNITS = {HEAP_USED_MB: ("MiB", "MB"), HEAP_TOTAL_MB: ("MiB", "MB")}  # latencies: "ms"


class Pm2Unavailable(FibucaError):
    """PM2 cannot be asked (not installed, not running, no answer, odd output); says what to do.

    Its message never quotes PM2's output: that holds the apps' environments.
    """


@dataclass(frozen=True)
class Pm2App:
    """One app as ``pm2 jlist`` lists it: only the whitelisted fields (see the module doc)."""

    pm_id: int
    name: str
    status: str | None = None
    pid: int | None = None
    restarts: int | None = None
    started_at: float | None = None
    metrics: tuple[tuple[str, float | None], ...] = ()

    @property
    def online(self) -> bool:
        return self.status == ONLINE

    @property
    def identity(self) -> ProcessIdentity:
        """What restart detection compares: PID, PM2's count, PM2's start time."""
        return ProcessIdentity(
            start_time=self.started_at, pid=self.pid, restart_count=self.restarts
        )

    def sample(self, now: float) -> Sample:
        """The app as a ``Sample``: DOWN unless PM2 says it is online."""
        metrics = {name: None for name in PM2_METRICS} | dict(self.metrics)
        down = None if self.online else f"PM2 says the app is {self.status or 'in no state'}"
        return Sample(now, metrics, self.status, down, self.identity)


def find_pm2(executable: str | None = None) -> str | None:
    """The pm2 executable to run: ``executable`` when it is one, else ``pm2`` on PATH; or None."""
    if executable:
        return shutil.which(executable)
    return shutil.which("pm2")


def pm2_home() -> Path:
    """Where PM2 keeps its daemon's sockets: $PM2_HOME, else ~/.pm2 (as PM2 itself decides)."""
    home = os.environ.get("PM2_HOME")
    return Path(home) if home else Path.home() / ".pm2"


class Pm2Listing:
    """``pm2 jlist``, run at most once per ``max_age_s`` however many targets ask; thread-safe.

    ``pm2_home`` picks the daemon (default: $PM2_HOME, else ~/.pm2, as PM2 does). A daemon that
    is not running is not started: ``pm2 jlist`` would spawn one. PM2 runs with this process's
    environment, read at each run and never kept here.
    """

    def __init__(
        self,
        pm2: str | None = None,
        pm2_home: str | Path | None = None,
        timeout_s: float = TIMEOUT_S,
        max_output: int = MAX_OUTPUT,
        max_age_s: float = 0.5,
    ) -> None:
        self.pm2 = pm2
        self.pm2_home = None if pm2_home is None else Path(pm2_home)
        self.timeout_s = timeout_s
        self.max_output = max_output
        self.max_age_s = max_age_s
        self._lock = threading.Lock()
        self._apps: list[Pm2App] | None = None
        self._at = -math.inf

    def apps(self) -> list[Pm2App]:
        """Every app PM2 manages, fresh within ``max_age_s``; raises ``Pm2Unavailable``."""
        with self._lock:
            if self._apps is not None and time.monotonic() - self._at < self.max_age_s:
                return self._apps
            self._apps = None
            apps = self._list()
            self._apps, self._at = apps, time.monotonic()
            return apps

    def _list(self) -> list[Pm2App]:
        pm2 = find_pm2(self.pm2)
        if pm2 is None:
            where = self.pm2 or "pm2 on PATH"
            raise Pm2Unavailable(f"PM2 is not installed here ({where} not found)")
        environ = None if self.pm2_home is None else {**os.environ, "PM2_HOME": str(self.pm2_home)}
        home = self.pm2_home or pm2_home()
        if sys.platform != "win32" and not (home / "rpc.sock").exists():
            raise Pm2Unavailable(f"PM2 is not running (no PM2 daemon in {home}); start it first")
        output = _run_bounded([pm2, "jlist"], environ, self.timeout_s, self.max_output)
        apps = parse_jlist(output)
        del output  # the apps' environments: not one reference longer than needed
        log.debug("pm2 jlist: %d app(s): %s", len(apps), ", ".join(a.name for a in apps))
        return apps


def _run_bounded(
    argv: list[str], environ: dict[str, str] | None, timeout_s: float, limit: int
) -> bytes:
    """stdout of ``argv`` (no shell, no stdin, stderr dropped) within ``timeout_s`` in all, at
    most ``limit`` bytes; raises ``Pm2Unavailable``, killing the process on either bound."""
    try:
        process = subprocess.Popen(
            argv,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.DEVNULL,
            env=environ,
        )
    except OSError as error:
        raise Pm2Unavailable(f"could not run {argv[0]}: {error.strerror or error}") from None
    chunks: list[bytes] = []
    state = {"size": 0, "too_big": False}

    def read() -> None:
        assert process.stdout is not None
        while chunk := process.stdout.read1(65536):
            state["size"] += len(chunk)
            if state["size"] > limit:
                state["too_big"] = True
                process.kill()
                return
            chunks.append(chunk)

    reader = threading.Thread(target=read, name="pm2-jlist-reader", daemon=True)
    deadline = time.monotonic() + timeout_s
    reader.start()
    reader.join(timeout_s)
    try:
        code = process.wait(max(0.0, deadline - time.monotonic()))
    except subprocess.TimeoutExpired:
        code = None
    if code is None or reader.is_alive():
        process.kill()
        process.wait()
        reader.join(1.0)
        chunks.clear()
        raise Pm2Unavailable(f"pm2 jlist gave no complete answer within {timeout_s:g} s")
    if process.stdout is not None:
        process.stdout.close()
    if state["too_big"]:
        chunks.clear()
        raise Pm2Unavailable(f"pm2 jlist printed more than {_size(limit)}; not read")
    if code != 0:
        chunks.clear()
        raise Pm2Unavailable(f"pm2 jlist failed (exit code {code}); try `pm2 list` in a terminal")
    return b"".join(chunks)


def _size(count: int) -> str:
    return f"{count / MB:g} MB" if count >= MB else f"{count} bytes"


def parse_jlist(output: bytes) -> list[Pm2App]:
    """The apps in ``pm2 jlist`` output, whitelisted fields only; raises ``Pm2Unavailable``.

    PM2 may print notices before the JSON (">>>> In-memory PM2 is out-of-date"): the list is
    the last line that starts with "[". Entries that are not apps are skipped.
    """
    text = output.decode("utf-8", errors="replace")
    lines = [line for line in text.splitlines() if line.startswith("[")]
    data: object = None
    problem = None
    try:
        data = json.loads(lines[-1]) if lines else None
    except (ValueError, RecursionError) as error:
        problem = f"at character {getattr(error, 'pos', '?')}"
    del text, lines
    if problem is not None:  # raised here, outside the handler: no chained error holds the text
        raise Pm2Unavailable(f"pm2 jlist printed something that is not JSON ({problem})")
    if not isinstance(data, list):
        raise Pm2Unavailable("pm2 jlist printed no list of apps; try `pm2 list` in a terminal")
    apps = [app for entry in data if (app := _app(entry)) is not None]
    del data
    return apps


def _app(entry: object) -> Pm2App | None:
    if not isinstance(entry, dict):
        return None
    pm_id = _int(entry.get("pm_id"))
    name = entry.get("name")
    if pm_id is None or not isinstance(name, str):
        return None
    env = entry.get("pm2_env")
    env = env if isinstance(env, dict) else {}
    monit = entry.get("monit")
    monit = monit if isinstance(monit, dict) else {}
    metrics: dict[str, float | None] = {}
    memory = _number(monit.get("memory"))
    metrics[RSS_MB] = None if memory is None else memory / MB
    metrics[CPU_PERCENT] = _number(monit.get("cpu"))
    metrics.update(_axm(env.get("axm_monitor")))
    status = env.get("status")
    started = _number(env.get("pm_uptime"))
    pid = _int(entry.get("pid"))
    return Pm2App(
        pm_id=pm_id,
        name=one_line(name, MAX_NAME),
        status=one_line(status, 30) if isinstance(status, str) else None,
        pid=pid if pid else None,  # 0 while stopped
        restarts=_int(env.get("restart_time")),
        started_at=None if started is None else started / 1000.0,
        metrics=tuple(metrics.items()),
    )


def _axm(monitor: object) -> dict[str, float | None]:
    """Heap and loop latency from PM2's agent metrics, in MB and ms; custom metrics are skipped."""
    found: dict[str, float | None] = {}
    if not isinstance(monitor, dict):
        return found
    for key, probe in monitor.items():
        if not isinstance(probe, dict):
            continue
        ours = _AXM.get(probe.get("type")) or _AXM_KEYS.get(key)  # type: ignore[arg-type]
        if ours is None or ours in found:
            continue
        unit = probe.get("unit")
        expected = _UNITS.get(ours, ("ms",))
        found[ours] = _number(probe.get("value")) if unit in expected else None
    return found


def _number(value: object) -> float | None:
    """A finite, non-negative number from a JSON number or numeric string ("6.49"); else None."""
    return plausible_number(value, MAX_VALUE, max_text=40)


def _int(value: object) -> int | None:
    if isinstance(value, bool) or not isinstance(value, int):
        return None
    return value if 0 <= value < 2**53 else None


class Pm2Source:
    """Polls one PM2 app (by ``pm_id``, else by name) from a ``Pm2Listing``; for ``TargetPoller``.

    ``poll`` returns a ``Sample`` (DOWN when PM2 has no such app or says it is not online) whose
    ``identity`` carries PID, restart count and start time for a ``RestartTracker``; raises
    ``SourceDown`` when PM2 itself cannot be asked.
    """

    def __init__(
        self, listing: Pm2Listing, name: str | None = None, pm_id: int | None = None
    ) -> None:
        if name is None and pm_id is None:
            raise ValueError("choose a PM2 app by name or by pm_id")
        self.listing = listing
        self.name = name
        self.pm_id = pm_id
        self.timeout_s = listing.timeout_s  # the poller's deadline

    @property
    def label(self) -> str:
        return self.name or f"PM2 app {self.pm_id}"

    def poll(self) -> Sample:
        now = time.time()
        try:
            apps = self.listing.apps()
        except Pm2Unavailable as error:
            raise SourceDown(str(error)) from None
        app = self._find(apps)
        if app is None:
            metrics = {name: None for name in PM2_METRICS}
            return Sample(now, metrics, down_reason=f"PM2 has no app {self.label!r} any more")
        return app.sample(now)

    def _find(self, apps: list[Pm2App]) -> Pm2App | None:
        if self.pm_id is not None:
            for app in apps:
                if app.pm_id == self.pm_id and (self.name is None or app.name == self.name):
                    return app
        named = [app for app in apps if app.name == self.name]
        return named[0] if len(named) == 1 else None
