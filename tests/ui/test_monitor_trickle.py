"""Trickling backends in the Monitor tab and at quit (issue 10, items 7 and 8).

Four real trickling peers (tests/monitor_server.js) next to a healthy backend and "This
computer": the slow ones go DOWN at their deadline, the others keep updating, and quitting ends
every poll thread within a few seconds, in the widget and in a real GUI process.
"""

from __future__ import annotations

import dataclasses
import os
import subprocess
import sys
import threading
import time
from collections import Counter
from collections.abc import Iterator

import pytest
from PySide6.QtCore import Qt

from fibuca_desktop.core.monitor.health_source import HealthReading
from fibuca_desktop.core.monitor.poller import TargetPoller
from fibuca_desktop.core.monitor.targets import HEALTH, METRICS, MonitorTarget, this_computer
from fibuca_desktop.core.monitor.thresholds import State
from fibuca_desktop.core.settings import Settings, SettingsStore
from fibuca_desktop.ui.monitor.monitor_hub import MonitorHub
from fibuca_desktop.ui.monitor.monitor_panel import MonitorPanel
from fibuca_desktop.ui.monitor.notifier import StateNotifier
from fibuca_desktop.ui.monitor.target_table import STALE_ROLE, STATE
from tests.node_server import NodeServer

WAIT_MS = 20_000
QUIT_BOUND_S = 5.0  # "a few seconds": generous on a loaded machine
GUI_EXIT_BOUND_S = 30  # start-up, 1.5 s, quit; a poll trickled at 0.5 s a byte takes 22-75 s


@pytest.fixture(scope="module")
def server() -> Iterator[NodeServer]:
    node = NodeServer()
    yield node
    node.stop()


def trickling(server: NodeServer, ms: int) -> list[MonitorTarget]:
    base = server.base
    return [
        MonitorTarget("body", HEALTH, url=f"{base}/trickle/body?ms={ms}"),
        MonitorTarget("headers", HEALTH, url=f"{base}/trickle/headers?ms={ms}"),
        MonitorTarget("chunked", HEALTH, url=f"{base}/trickle/chunked?ms={ms}"),
        MonitorTarget("metrics", METRICS, url=f"{base}/trickle/chunked?ms={ms}"),
    ]


def this_process() -> MonitorTarget:
    """This computer, with levels no test process reaches: its RSS depends on every test run
    before it in the same process (near 1 GB late in a full run), and levels are not what these
    tests are about."""
    return dataclasses.replace(this_computer(), warning_mb=1e6, critical_mb=2e6)


def poll_threads() -> list[threading.Thread]:
    return [t for t in threading.enumerate() if t.name.startswith("monitor-poll")]


@pytest.mark.parametrize("ms", [100, 500])
def test_trickling_targets_go_down_and_never_starve_the_others(qtbot, server, ms):
    settings = Settings()
    slow = trickling(server, ms)
    settings.monitor.targets = [
        this_process(),
        MonitorTarget("backend", HEALTH, url=server.base + "/health"),
        *slow,
    ]
    panel = MonitorPanel(MonitorHub(2.0), settings, StateNotifier())  # 1.6 s deadlines
    qtbot.addWidget(panel)
    counts: Counter[str] = Counter()
    panel.hub.outcome.connect(lambda name, _: counts.update([name]))
    try:
        # Three rounds: the healthy targets answer every one of them, the slow ones are DOWN.
        qtbot.waitUntil(
            lambda: (
                all(
                    (o := panel.model.latest(t.name)) is not None and o.state == State.DOWN
                    for t in slow
                )
                and min(counts["This computer"], counts["backend"]) >= 4
            ),
            timeout=WAIT_MS,
        )
        for target in slow:
            latest = panel.model.latest(target.name)
            assert latest.reason == "no complete answer within 1.6 s"
        for name in ("This computer", "backend"):
            assert panel.model.latest(name).state == State.OK
            assert not panel.model.is_stale(name)
    finally:
        started = time.monotonic()
        panel.shutdown()
        assert time.monotonic() - started < QUIT_BOUND_S
    assert not poll_threads()


def test_closing_the_panel_ends_every_poll_thread_within_seconds(qtbot, server):
    settings = Settings()
    settings.monitor.targets = [this_process(), *trickling(server, 500)]
    hub = MonitorHub(60.0)  # 5 s deadlines: polls still hang when the panel closes
    panel = MonitorPanel(hub, settings, StateNotifier())
    qtbot.addWidget(panel)
    qtbot.waitUntil(lambda: hub.threads.running == 4, timeout=WAIT_MS)
    started = time.monotonic()
    panel.shutdown()
    assert time.monotonic() - started < QUIT_BOUND_S
    assert hub.threads.running == 0
    assert not poll_threads()


class Stuck:
    """Answers once, then never again (until released)."""

    def __init__(self) -> None:
        self.gate = threading.Event()
        self.gate.set()

    def poll(self) -> HealthReading:
        self.gate.wait(30)
        return HealthReading({"heapUsedMB": 100.0})


def test_a_value_older_than_its_deadline_is_marked_stale(qtbot):
    clock = [1000.0]
    hub = MonitorHub(0.25)
    source = Stuck()
    target = MonitorTarget("stuck", HEALTH, url="http://127.0.0.1:9/health")
    poller = TargetPoller(
        source, "stuck", hub.threads, 0.25, deadline_s=1.0, monotonic=lambda: clock[0]
    )
    settings = Settings()
    settings.monitor.targets = []
    panel = MonitorPanel(hub, settings, StateNotifier())
    qtbot.addWidget(panel)
    hub.restore(target, poller)
    panel.model.add(target)
    try:
        qtbot.waitUntil(lambda: panel.model.latest("stuck") is not None, timeout=WAIT_MS)
        source.gate.clear()
        hub._timer.stop()  # a stalled heartbeat (a suspended laptop, a busy GUI thread)
        index = panel.model.index(0, STATE)
        assert index.data() == "OK" and not index.data(STALE_ROLE)
        clock[0] += 0.25 + 1.0 + 0.01
        hub.check_stale()
        assert index.data() == "OK · stale" and index.data(STALE_ROLE)
        assert "stale" in index.data(Qt.ItemDataRole.ToolTipRole)  # the tooltip says since when
    finally:
        source.gate.set()
        panel.shutdown()


def test_the_gui_process_quits_within_seconds_with_trickling_targets(tmp_path, server):
    settings = Settings()
    settings.monitor.targets = [this_process(), *trickling(server, 500)]
    settings.monitor.interval_s = 60.0  # 5 s deadlines, the longest a poll may take
    path = tmp_path / "settings.json"
    SettingsStore(path).save(settings)
    env = {**os.environ, "QT_QPA_PLATFORM": "offscreen"}
    command = [sys.executable, "-m", "fibuca_desktop", "--no-crash-dialog"]
    process = subprocess.Popen(
        [*command, "--quit-after", "1500", "--settings-file", str(path)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=env,
    )
    try:
        _, stderr = process.communicate(timeout=GUI_EXIT_BOUND_S)
    except subprocess.TimeoutExpired:
        process.kill()
        process.communicate()
        pytest.fail(f"the GUI was still running {GUI_EXIT_BOUND_S} s after start (quit at 1.5 s)")
    assert process.returncode == 0, stderr
    assert "Traceback" not in stderr
