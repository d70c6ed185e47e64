"""The Monitor tab with its history on disk: yesterday after a restart, 7 d and 30 d windows drawn
as minute bands, CSV export over them, a broken file set aside, and no freeze with 30 days.

Real widgets offscreen, a real Node.js server polled live, and a real SQLite history file written
through ``HistoryStore`` (30 days at one sample per 20 s, as the writer thread downsamples them).
"""

from __future__ import annotations

import csv
import shutil
import time
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest
from PySide6.QtCore import QTimer

from fibuca_desktop.core.monitor.history_key import target_key
from fibuca_desktop.core.monitor.history_store import HistoryStore
from fibuca_desktop.core.monitor.samples import HEAP_USED_MB, RSS_MB, Sample
from fibuca_desktop.core.monitor.targets import HEALTH, WINDOWS_S, MonitorTarget
from fibuca_desktop.core.settings import Settings
from fibuca_desktop.ui.monitor.graph_view import MAX_BAND_POINTS
from fibuca_desktop.ui.monitor.monitor_hub import MonitorHub
from fibuca_desktop.ui.monitor.monitor_panel import MonitorPanel
from fibuca_desktop.ui.monitor.notifier import StateNotifier
from tests.node_server import NodeServer

WAIT_MS = 20_000
DAY = 86_400.0
STEP_S = 20.0  # three samples a minute: each stored minute has a real min, max and mean


@pytest.fixture(scope="module")
def server() -> Iterator[NodeServer]:
    node = NodeServer()
    yield node
    node.stop()


def api(server: NodeServer) -> MonitorTarget:
    return MonitorTarget("api", HEALTH, url=server.base + "/health")


def heap_at(t: np.ndarray) -> np.ndarray:
    """A 20-minute sawtooth of 30 MB over a floor of 80 MB, the same function for the checks."""
    return 80.0 + 30.0 * ((t % 1200.0) / 1200.0)


@pytest.fixture
def month_file(month_master, tmp_path) -> tuple[Path, float]:
    """A copy of the month for one test: each panel appends its own live samples to it."""
    master, then = month_master
    copy = tmp_path / master.name
    for suffix in ("", "-wal"):
        if Path(f"{master}{suffix}").exists():
            shutil.copyfile(f"{master}{suffix}", f"{copy}{suffix}")
    return copy, then


@pytest.fixture(scope="module")
def month_master(tmp_path_factory, server) -> tuple[Path, float]:
    """A history file holding 30 days of the api target, up to 10 minutes ago; (path, then)."""
    path = tmp_path_factory.mktemp("history") / "history.sqlite3"
    now = time.time()
    store = HistoryStore(path, clock=lambda: now)
    times = np.arange(now - 30 * DAY + STEP_S, now - 600.0, STEP_S)
    key = target_key(api(server))
    for n, (t, heap) in enumerate(zip(times.tolist(), heap_at(times).tolist(), strict=True)):
        store.append(key, Sample(t, {HEAP_USED_MB: heap, RSS_MB: heap + 50.0}))
        if n % 10_000 == 9_999:  # the queue holds 20,000: let the writer keep up
            assert store.flush(timeout_s=120.0)
    assert store.flush(timeout_s=120.0, catch_up=True)
    store.close()
    assert store.dropped == 0
    return path, now


@pytest.fixture
def make_panel(qtbot):
    panels: list[MonitorPanel] = []

    def make(settings: Settings, history_file: Path) -> MonitorPanel:
        hub = MonitorHub(1.0)  # a 0.8 s deadline: a loaded machine still answers in time
        hub.open_history(lambda: HistoryStore.open(history_file))
        panel = MonitorPanel(hub, settings, StateNotifier())
        qtbot.addWidget(panel)
        panel.resize(1000, 600)
        panel.show()
        qtbot.waitExposed(panel)
        qtbot.waitUntil(lambda: hub.history is not None, timeout=WAIT_MS)
        panels.append(panel)
        return panel

    yield make
    for panel in panels:
        panel.shutdown()


def show(panel: MonitorPanel, seconds: int) -> None:
    panel.view.window_box.setCurrentIndex(WINDOWS_S.index(seconds))


def band(panel: MonitorPanel, metric: str = HEAP_USED_MB):
    """(times, low, high, mean) of the api target's stored band as drawn, NaN gaps removed."""
    items = panel.view.graph.bands.get(("api", metric))
    if items is None:
        return None
    times, mean = items.mean.getData()
    _, low = items.low.getData()
    _, high = items.high.getData()
    if times is None or not len(times):
        return None
    keep = np.isfinite(mean)
    return times[keep], low[keep], high[keep], mean[keep]


def read_for(panel: MonitorPanel, seconds: int) -> bool:
    """The stored bands for this window are read and drawn (not an earlier window's)."""
    view = panel.view
    request = view._stored_request
    if view._loading is not None or request is None or request[0] != seconds:
        return False
    view.redraw()
    return True


def month_shown(panel: MonitorPanel) -> bool:
    drawn = band(panel)
    return drawn is not None and drawn[0][0] < time.time() - 29 * DAY


def settings_with(server: NodeServer) -> Settings:
    settings = Settings()
    settings.monitor.targets = [api(server)]
    return settings


def test_after_a_restart_the_24_h_window_shows_yesterday_from_disk(
    qtbot, make_panel, month_file, server
):
    path, _ = month_file
    panel = make_panel(settings_with(server), path)
    show(panel, 86_400)
    qtbot.waitUntil(lambda: band(panel) is not None, timeout=WAIT_MS)
    times, low, high, mean = band(panel)
    now = time.time()
    assert times[0] == pytest.approx(now - DAY, abs=180)  # the whole day before this session
    assert times[-1] <= now - 600  # the file ends where it ends
    assert np.all(low <= mean) and np.all(mean <= high)
    # Each minute band holds the true samples' min and max: floor and peaks survive.
    expected = heap_at(times[:, None] + np.array([0.0, 20.0, 40.0]))
    assert np.nanmin(low) == pytest.approx(expected.min(), abs=1.0)
    assert np.nanmax(high) == pytest.approx(expected.max(), abs=1.0)
    # The live part is still drawn, from RAM, after the stored part.
    qtbot.waitUntil(lambda: bool(panel.hub.pollers["api"].history.series), timeout=WAIT_MS)
    panel.view.redraw()
    live, _ = panel.view.graph.curve("api", HEAP_USED_MB).getData()
    assert live is not None and len(live) and live[0] > times[-1]


def test_7_and_30_day_windows_draw_minute_bands_and_export_them(
    qtbot, make_panel, month_file, server, tmp_path
):
    path, _ = month_file
    panel = make_panel(settings_with(server), path)
    show(panel, 30 * 86_400)
    qtbot.waitUntil(lambda: month_shown(panel), timeout=WAIT_MS)
    times, low, high, mean = band(panel)
    assert times[0] == pytest.approx(time.time() - 30 * DAY, abs=180)
    # 43,190 minutes drawn as at most MAX_BAND_POINTS merged bands, floor and peaks kept
    assert 1000 <= len(times) <= MAX_BAND_POINTS
    assert np.nanmin(low) == pytest.approx(80.0, abs=0.5)
    assert np.nanmax(high) == pytest.approx(110.0, abs=0.5)
    assert np.all(low <= mean) and np.all(mean <= high)
    assert band(panel, RSS_MB) is not None  # every plotted series has its band

    show(panel, 7 * 86_400)
    qtbot.waitUntil(lambda: read_for(panel, 7 * 86_400), timeout=WAIT_MS)
    assert band(panel)[0][0] == pytest.approx(time.time() - 7 * DAY, abs=180)

    show(panel, 30 * 86_400)
    rows = panel.view.export_csv(tmp_path / "month.csv")
    assert rows is not None and rows > 40_000
    with open(tmp_path / "month.csv", newline="", encoding="utf-8") as handle:
        table = list(csv.reader(handle))
    header = table[0]
    assert header[:2] == ["time", "epoch"] and "heapUsedMB min" in header
    assert "heapUsedMB max" in header and header[-1] == "interval_s"
    assert len(table) - 1 == rows
    first = dict(zip(header, table[1], strict=True))
    assert float(first["epoch"]) == pytest.approx(time.time() - 30 * DAY, abs=180)
    assert first["interval_s"] == "60"
    assert float(first["heapUsedMB min"]) <= float(first["heapUsedMB"])
    assert "exported" in panel.message.text().lower()


def test_30_days_load_without_freezing_the_window(qtbot, make_panel, month_file, server):
    """The existing freeze probe: a 10 ms timer on the GUI thread while 30 days are read and
    drawn (about a third of a second to read: on the reader thread, never the GUI's)."""
    path, _ = month_file
    panel = make_panel(settings_with(server), path)
    gaps, last = [], [time.monotonic()]

    def probe() -> None:
        now = time.monotonic()
        gaps.append(now - last[0])
        last[0] = now

    timer = QTimer()
    timer.setInterval(10)
    timer.timeout.connect(probe)
    timer.start()
    for _ in range(3):  # switch back and forth: each switch reads the file again
        show(panel, 30 * 86_400)
        qtbot.waitUntil(lambda: month_shown(panel), timeout=WAIT_MS)
        show(panel, 300)
        qtbot.waitUntil(lambda: band(panel) is None, timeout=WAIT_MS)
    timer.stop()
    assert max(gaps) < 1.0, f"the UI stalled for {max(gaps):.2f} s"


def test_a_broken_history_file_is_set_aside_with_a_message(qtbot, make_panel, server, tmp_path):
    path = tmp_path / "history.sqlite3"
    path.write_bytes(b"not a database, whatever it once was\n" * 100)
    hub = MonitorHub(0.25)
    with qtbot.waitSignal(hub.history_opened, timeout=WAIT_MS) as opened:
        hub.open_history(lambda: HistoryStore.open(path))
        hub.start()
    store = opened.args[0]
    assert store.usable and "kept as" in store.problem and "a new one started" in store.problem
    assert store.kept_as is not None and store.kept_as.read_bytes().startswith(b"not a database")
    hub.shutdown()
