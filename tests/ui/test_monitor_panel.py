"""The Monitor tab on real widgets, polling a real Node.js server and this computer."""

from __future__ import annotations

import csv
import time
from collections.abc import Iterator

import numpy as np
import pytest
from PySide6.QtCore import QSettings, Qt, QTimer
from PySide6.QtWidgets import QApplication, QDialogButtonBox, QSystemTrayIcon

from fibuca_desktop.core.monitor.samples import (
    GC_MS_PER_S,
    HEAP_USED_MB,
    LAG_P99_MS,
    RESPONSE_MS,
    RSS_MB,
    ProcessIdentity,
    Sample,
)
from fibuca_desktop.core.monitor.targets import HEALTH, KEYRING_SERVICE, METRICS, MonitorTarget
from fibuca_desktop.core.monitor.thresholds import State, Trend
from fibuca_desktop.core.settings import Settings, SettingsStore
from fibuca_desktop.ui.log_pane import QtLogHandler
from fibuca_desktop.ui.main_window import MainWindow
from fibuca_desktop.ui.monitor.monitor_hub import MonitorHub
from fibuca_desktop.ui.monitor.monitor_panel import MonitorPanel
from fibuca_desktop.ui.monitor.notifier import IN_APP, TRAY, StateNotifier
from fibuca_desktop.ui.monitor.target_dialog import AddTargetDialog
from fibuca_desktop.ui.monitor.target_table import trend_text
from fibuca_desktop.ui.process.process_panel import ProcessService
from tests.node_server import NodeServer

WAIT_MS = 15_000


@pytest.fixture(scope="module")
def server() -> Iterator[NodeServer]:
    node = NodeServer()
    yield node
    node.stop()


def health(server: NodeServer, name: str = "api", path: str = "/health", **levels):
    return MonitorTarget(name, HEALTH, url=server.base + path, **levels)


def state_of(panel: MonitorPanel, name: str) -> State | None:
    outcome = panel.model.latest(name)
    return None if outcome is None else outcome.state


def roomy(settings: Settings) -> Settings:
    """The default target with levels far above this test process's own memory: "This
    computer" watches the app, here pytest, which holds well over 1 GB by the end of the suite
    (the suite's models, clusters and Celery clients), over the default 1000 MB warning."""
    local = settings.monitor.targets[0]
    local.warning_mb, local.critical_mb = 1_000_000.0, 2_000_000.0
    return settings


def test_this_computer_is_watched_and_drawn_by_default(qtbot, make_panel):
    panel = make_panel(roomy(Settings()))
    assert [panel.model.target_at(r).name for r in range(panel.model.rowCount())] == [
        "This computer"
    ]
    qtbot.waitUntil(lambda: state_of(panel, "This computer") == State.OK, timeout=WAIT_MS)
    with qtbot.waitSignal(panel.view.redrawn, timeout=WAIT_MS):
        pass
    panel.view.redraw()  # samples are recorded on this thread: nothing lands until we return
    times, values = panel.view.graph.curve("This computer", RSS_MB).getData()
    history = panel.hub.pollers["This computer"].history.series[RSS_MB]
    assert len(times) >= 1 and values[-1] == pytest.approx(history.latest()[1])
    memory = panel.model.index(0, 2).data()
    assert memory.startswith("app ") and "% used" in memory


def test_add_a_target_through_the_dialog_then_remove_and_undo(qtbot, make_panel, server):
    settings = Settings()
    panel = make_panel(settings)

    def fill_dialog():
        dialog = QApplication.activeModalWidget()
        assert isinstance(dialog, AddTargetDialog)
        ok = dialog.buttons.button(QDialogButtonBox.StandardButton.Ok)
        dialog.kind.setCurrentIndex(dialog.kind.findData(HEALTH))
        dialog.url.setText("ftp://nope")
        assert not ok.isEnabled() and "not an http:// or https://" in dialog.error.text()
        dialog.url.setText(server.base + "/health")
        assert dialog.name.text() == "127.0.0.1"  # suggested from the address
        dialog.name.setText("This computer")
        assert not ok.isEnabled() and "already watched" in dialog.error.text()
        dialog.name.setText("backend")
        dialog.warning.setValue(500)
        assert not ok.isEnabled() and "below the critical" in dialog.error.text()
        dialog.warning.setValue(350)
        assert ok.isEnabled()
        ok.click()

    QTimer.singleShot(0, fill_dialog)
    panel.ask_add_target()
    assert [t.name for t in settings.monitor.targets] == ["This computer", "backend"]
    qtbot.waitUntil(lambda: state_of(panel, "backend") == State.OK, timeout=WAIT_MS)
    poller = panel.hub.pollers["backend"]
    qtbot.waitUntil(lambda: len(poller.history.series[HEAP_USED_MB]) >= 3, timeout=WAIT_MS)

    panel.select("backend")
    panel.remove_selected()
    assert "backend" not in panel.hub.pollers
    assert [t.name for t in settings.monitor.targets] == ["This computer"]
    assert panel.model.rowCount() == 1 and panel.undo_button.isEnabled()
    kept = len(poller.history.series[HEAP_USED_MB])

    panel.undo_button.click()
    assert panel.hub.pollers["backend"] is poller  # the same history comes back
    assert [t.name for t in settings.monitor.targets] == ["This computer", "backend"]
    qtbot.waitUntil(lambda: len(poller.history.series[HEAP_USED_MB]) > kept, timeout=WAIT_MS)
    assert not panel.undo_button.isEnabled()


def test_levels_of_a_watched_target_can_be_changed(qtbot, make_panel):
    settings = roomy(Settings())
    panel = make_panel(settings, interval_s=0.2)
    qtbot.waitUntil(lambda: state_of(panel, "This computer") == State.OK, timeout=WAIT_MS)

    def lower_levels():
        dialog = QApplication.activeModalWidget()
        assert dialog.windowTitle() == "Levels for This computer"
        assert not dialog.name.isEnabled() and not dialog.kind.isEnabled()
        dialog.critical.setValue(2)
        dialog.warning.setValue(1)
        dialog.buttons.button(QDialogButtonBox.StandardButton.Ok).click()

    QTimer.singleShot(0, lower_levels)
    panel.ask_edit_levels()
    target = settings.monitor.targets[0]
    assert (target.warning_mb, target.critical_mb) == (1.0, 2.0)  # kept in the settings
    qtbot.waitUntil(lambda: state_of(panel, "This computer") == State.CRITICAL, timeout=WAIT_MS)


def idle_target_with_history(hours: float, step_s: float) -> tuple[Settings, MonitorHub, float]:
    """A target with ``hours`` of history at ``step_s``, polled once more (DOWN) and then not
    for a minute; returns the settings, the hub and the newest sample's time."""
    settings = Settings()
    settings.monitor.targets = [MonitorTarget("old", HEALTH, url="http://127.0.0.1:9/health")]
    hub = MonitorHub(60.0)
    poller = hub.add(settings.monitor.targets[0])
    end = time.time() - 1
    times = np.arange(end - hours * 3600, end, step_s)
    for t in times:
        poller.history.append(Sample(float(t), {HEAP_USED_MB: 100 + (t % 600) / 10}))
    return settings, hub, float(times[-1])


def test_window_switch_and_pause_show_the_right_span(qtbot, make_panel):
    settings, hub, _ = idle_target_with_history(hours=2, step_s=10)
    panel = make_panel(settings, hub=hub)
    spans = {}
    for index, seconds in enumerate((300, 3600, 86_400)):
        with qtbot.waitSignal(panel.view.redrawn, timeout=WAIT_MS):
            panel.view.window_box.setCurrentIndex(index)
        start, end = panel.view.graph.x_range
        assert end - start == seconds and settings.monitor.window_s == seconds
        times, values = panel.view.graph.curve("old", HEAP_USED_MB).getData()
        spans[seconds] = int(np.isfinite(values).sum())  # the DOWN poll at start is a gap
        assert times.min() > start
    assert spans[300] in (29, 30, 31) and spans[3600] in (359, 360, 361)
    assert spans[86_400] == 720  # all two hours

    panel.view.set_paused(True)
    frozen = panel.view.graph.x_range
    qtbot.wait(600)
    assert panel.view.graph.x_range == frozen  # no redraw while paused
    assert panel.view.pause_button.text() == "Resume"
    with qtbot.waitSignal(panel.view.redrawn, timeout=WAIT_MS):
        panel.view.pause_button.click()
    assert panel.view.graph.x_range[1] > frozen[1]


def test_csv_export_is_exactly_the_shown_window(qtbot, make_panel, tmp_path):
    settings, hub, end = idle_target_with_history(hours=2, step_s=10)
    panel = make_panel(settings, hub=hub)
    panel.view.window_box.setCurrentIndex(1)  # 1 h
    panel.view.set_paused(True)
    panel.view.paused_at = end  # what the graph shows ends at the newest sample
    rows = panel.view.export_csv(tmp_path / "old.csv")
    with open(tmp_path / "old.csv", newline="") as handle:
        table = list(csv.DictReader(handle))
    assert rows == len(table) == 360
    epochs = [float(row["epoch"]) for row in table]
    assert end - 3600 < epochs[0] and epochs[-1] == pytest.approx(end, abs=1e-3)
    expected = [100 + (t % 600) / 10 for t in epochs]
    assert [float(row[HEAP_USED_MB]) for row in table] == pytest.approx(expected, rel=1e-6)
    assert "Exported 360 samples" in panel.message.text()
    (tmp_path / "a-file").write_text("")
    assert panel.view.export_csv(tmp_path / "a-file" / "x.csv") is None  # not a folder
    assert "a-file" in panel.message.text()


def test_states_go_up_and_back_down_with_hysteresis_and_notify(qtbot, make_panel, server):
    """Fibuca's real levels (350 / 450 MB heap used) on a real Node heap."""
    settings = Settings()
    settings.monitor.targets = [health(server, "backend")]
    panel = make_panel(settings, interval_s=0.2)
    shown = []
    panel.notifier.shown.connect(lambda title, text, channel: shown.append((title, channel)))
    assert panel.notifier.channel == IN_APP  # offscreen there is no system tray

    def walk(heap_mb: float, expected: State, samples: int = 6) -> None:
        server.heap(heap_mb)
        qtbot.waitUntil(lambda: state_of(panel, "backend") == expected, timeout=WAIT_MS)
        poller = panel.hub.pollers["backend"]
        seen = len(poller.history.series[HEAP_USED_MB]) + samples
        qtbot.waitUntil(lambda: len(poller.history.series[HEAP_USED_MB]) >= seen, timeout=WAIT_MS)
        assert state_of(panel, "backend") == expected  # and it stays there

    try:
        walk(100, State.OK)
        walk(400, State.WARNING)
        walk(470, State.CRITICAL)
        walk(445, State.CRITICAL)  # above 450 - 10 MB of hysteresis: no flapping
        walk(420, State.WARNING)
        walk(345, State.WARNING)  # above 350 - 10
        walk(150, State.OK)
    finally:
        server.heap(5)
    assert [title for title, _ in shown] == [
        "backend is WARNING",
        "backend is CRITICAL",
        "backend is WARNING",
        "backend is OK",
    ]
    assert {channel for _, channel in shown} == {IN_APP}
    events = [panel.events.item(i).text() for i in range(panel.events.count())]
    assert "WARNING → OK" in events[0] and "OK → WARNING" in events[-1]
    assert panel.model.index(0, 3).data() == "OK"  # the backend's own status beside ours


def test_down_targets_never_freeze_the_ui(qtbot, make_panel, server):
    """Hang, HTTP 500, garbage and a killed server, polled while a 10 ms timer probes."""
    killed = NodeServer()
    killed.stop()
    settings = Settings()
    settings.monitor.targets = [
        health(server, "hang", "/hang"),
        health(server, "error", "/error"),
        health(server, "garbage", "/garbage"),
        MonitorTarget("killed", METRICS, url=killed.base + "/metrics"),
    ]
    # A 2 s interval gives 1.6 s timeouts: a poll on the GUI thread would stall it that long.
    panel = make_panel(settings, interval_s=2.0)
    gaps, last = [], [time.monotonic()]

    def probe():
        now = time.monotonic()
        gaps.append(now - last[0])
        last[0] = now

    timer = QTimer()
    timer.setInterval(10)
    timer.timeout.connect(probe)
    timer.start()
    qtbot.waitUntil(
        lambda: all(state_of(panel, t.name) == State.DOWN for t in settings.monitor.targets),
        timeout=WAIT_MS,
    )
    qtbot.wait(4500)  # two more rounds, the hanging poll reaching its deadline
    timer.stop()
    reasons = {t.name: panel.model.latest(t.name).reason for t in settings.monitor.targets}
    assert reasons["hang"].startswith("no complete answer within 1.6 s")
    assert "HTTP 500" in reasons["error"]
    assert "not JSON" in reasons["garbage"] or "unparsable" in reasons["garbage"]
    assert reasons["killed"] == "connection refused"
    trends = {panel.model.index(row, 4).data() for row in range(panel.model.rowCount())}
    assert trends == {"–"}  # no answer: no evidence being collected, whatever it says
    assert max(gaps) < 1.0, f"the UI stalled for {max(gaps):.2f} s"
    assert panel.hub.pollers["hang"].skipped_ticks + panel.hub.pollers["hang"].backed_off_ticks


def test_a_token_without_a_keyring_is_used_for_the_session_only(
    qtbot, make_panel, server, tmp_path
):
    settings = Settings()
    panel = make_panel(settings)
    target = health(server, "secured", "/auth/health")
    panel.add_target(target, token="s3cret")
    assert "used for this session only" in panel.message.text()
    qtbot.waitUntil(lambda: state_of(panel, "secured") == State.OK, timeout=WAIT_MS)
    assert not target.token_in_keyring
    store = SettingsStore(tmp_path / "settings.json")
    store.save(settings)
    assert "s3cret" not in store.path.read_text()
    assert store.load().settings.monitor.targets[-1].url.endswith("/auth/health")


def test_a_token_in_the_keyring_survives_a_restart_and_goes_with_its_target(
    qtbot, make_panel, server, os_keyring
):
    settings = Settings()
    panel = make_panel(settings)
    target = health(server, "secured", "/auth/health")
    panel.add_target(target, token="s3cret")
    assert target.token_in_keyring and not panel.message.isVisible()
    assert os_keyring.store == {(KEYRING_SERVICE, target.url): "s3cret"}
    qtbot.waitUntil(lambda: state_of(panel, "secured") == State.OK, timeout=WAIT_MS)
    panel.shutdown()

    again = make_panel(settings)  # a restart: the token comes from the keyring
    qtbot.waitUntil(lambda: state_of(again, "secured") == State.OK, timeout=WAIT_MS)
    again.remove_target("secured")
    assert os_keyring.store  # undo is still possible
    again.shutdown()
    assert os_keyring.store == {}


def test_notifications_use_the_tray_when_there_is_one_and_can_be_muted(qtbot, make_panel):
    assert not QSystemTrayIcon.isSystemTrayAvailable()
    tray = StateNotifier(use_tray=True)  # as on a desktop with a tray
    with qtbot.waitSignal(tray.shown) as signal:
        tray.notify("api is DOWN", "connection refused", State.DOWN)
    assert signal.args == ["api is DOWN", "connection refused", TRAY]
    tray.close()

    fallback = StateNotifier()
    fallback.enabled = False
    with qtbot.assertNotEmitted(fallback.shown):
        fallback.notify("api is DOWN", "connection refused", State.DOWN)


def test_the_main_window_shows_monitor_news_without_a_tray(qtbot, tmp_path):
    settings = Settings()
    settings.monitor.targets = [MonitorTarget("dead", HEALTH, url="http://127.0.0.1:9/health")]
    window = MainWindow(
        settings,
        QSettings(str(tmp_path / "state.ini"), QSettings.Format.IniFormat),
        QtLogHandler(),
        ProcessService(settings),
        MonitorHub(0.25),
    )
    qtbot.addWidget(window)
    window.show()
    try:
        qtbot.waitUntil(lambda: window.notice.isVisible(), timeout=WAIT_MS)
        assert "dead is DOWN" in window.notice.message.text()
        assert window.monitor_panel.view.graph is None  # pyqtgraph waits for the tab to be shown
        window.tabs.setCurrentWidget(window.monitor_panel)
        assert window.monitor_panel.view.graph is not None
    finally:
        window.close_without_asking()


@pytest.mark.parametrize(
    ("rate", "seconds", "text"),
    [
        (3.24, 1500.0, "+3.2 MB/min · critical in 25 min"),
        (0.5, 100_000.0, "+0.5 MB/min · critical in 27.8 h"),
        (0.5, 500_000.0, "+0.5 MB/min · critical in 6 days"),
        (12.0, 45.0, "+12.0 MB/min · critical in 45 s"),
        (0.8, None, "+0.8 MB/min"),  # growing, but already past critical
        (0.05, 9e9, "steady"),
        (-2.0, None, "falling"),
    ],
)
def test_trend_says_how_fast_and_how_long_until_critical(rate, seconds, text):
    assert trend_text(Trend(rate, seconds)) == text


def test_a_leak_shows_its_verdict_in_the_table(qtbot, make_panel):
    settings = Settings()
    settings.monitor.targets = [MonitorTarget("leaky", HEALTH, url="http://127.0.0.1:9/health")]
    hub = MonitorHub(60.0, leak_min_span_s=120.0)
    poller = hub.add(settings.monitor.targets[0])
    start = time.time() - 400
    panel = make_panel(settings, hub=hub)
    for i in range(400):  # +6 MB per minute from 300 MB, no sawtooth: 450 MB in 18 min
        outcome = poller.record(Sample(start + i, {HEAP_USED_MB: 300 + i / 10}))
        if i == 60:
            panel.model.update("leaky", outcome)
            assert panel.model.index(0, 4).data() == "collecting evidence (1 of 2 min)"
    panel.model.update("leaky", outcome)
    text = panel.model.index(0, 4).data()
    assert text.startswith("leak +6.0 MB/min · critical in "), text
    low, high = (int(n) for n in text.split("critical in ")[1].removesuffix(" min").split("–"))
    assert low <= 18 <= high
    tip = panel.model.index(0, 4).data(Qt.ItemDataRole.ToolTipRole)
    assert "heapUsedMB floor +6.0 MB/min" in tip and "no sawtooth" in tip


def test_restarts_a_crash_loop_and_a_leak_are_listed_notified_and_drawn(qtbot, make_panel):
    settings = Settings()
    settings.monitor.targets = [MonitorTarget("api", HEALTH, url="http://127.0.0.1:9/health")]
    hub = MonitorHub(60.0, leak_min_span_s=120.0)
    poller = hub.add(settings.monitor.targets[0])
    panel = make_panel(settings, hub=hub)
    shown = []
    panel.notifier.shown.connect(lambda title, text, channel: shown.append((title, text)))
    start = time.time() - 700
    uptime = 0.0
    for i in range(700):
        uptime = 1.0 if i in (300, 320, 340) else uptime + 1  # three restarts within a minute
        heap = 300 + (i - 340) / 10 if i > 340 else 300.0  # +6 MB/min after the last one
        identity = ProcessIdentity(uptime_s=uptime)
        outcome = poller.record(Sample(start + i, {HEAP_USED_MB: heap}, identity=identity))
        if outcome.events or outcome.leak_alert:
            hub.incident.emit("api", outcome)  # as the hub delivers it
    events = [panel.events.item(i).text() for i in range(panel.events.count())]
    restarts = [e for e in events if "restarted: uptime" in e]
    assert len(restarts) == 3 and all("api" in e for e in restarts)
    assert sum("crash loop" in e for e in events) == 1
    assert sum("leak suspected: heap leak +6.0 MB/min" in e for e in events) == 1
    titles = [title for title, _ in shown]
    assert titles == ["api is in a crash loop", "api: leak suspected"]  # restarts: listed only
    box = panel.view.window_box
    box.setCurrentIndex(box.findData(3600))  # the restarts were 6-7 minutes ago
    panel.view.redraw()
    lines = [line for line in panel.view.graph.restart_lines if line.isVisible()]
    assert sorted(line.value() for line in lines) == pytest.approx(
        [start + 300, start + 320, start + 340]
    )
    assert lines[0].label.format == "api restarted"


def test_response_time_loop_lag_and_gc_time_have_their_own_plot(
    qtbot, make_panel, server, tmp_path
):
    """A /metrics target with prom-client's runtime figures: our response time, the loop lag p99
    and GC ms per second are drawn in the ms plot below the memory one, kept in the history and
    exported; unticking them hides the plot."""
    settings = Settings()
    settings.monitor.targets = [
        MonitorTarget("api", METRICS, url=server.base + "/metrics?runtime=1")
    ]
    panel = make_panel(settings)
    history = lambda: panel.hub.pollers["api"].history.series  # noqa: E731
    for _ in range(6):  # real collections between polls: the GC total grows
        server.heap(40)
        server.json("/free")
        qtbot.wait(300)
    qtbot.waitUntil(
        lambda: GC_MS_PER_S in history() and len(history()[GC_MS_PER_S]) >= 3, timeout=WAIT_MS
    )
    with qtbot.waitSignal(panel.view.redrawn, timeout=WAIT_MS):
        pass
    panel.view.redraw()
    graph = panel.view.graph
    assert graph.timing_plot.isVisible() and graph.plot.isVisible()
    times, values = graph.curve("api", RESPONSE_MS).getData()
    assert len(times) >= 3 and values[-1] == pytest.approx(history()[RESPONSE_MS].latest()[1])
    assert 0 < np.nanmax(values) < 800  # a loopback poll, under the 0.8 s deadline
    assert graph.curve("api", RESPONSE_MS).getViewBox() is graph.timing_plot.getViewBox()
    _, lag = graph.curve("api", LAG_P99_MS).getData()
    assert np.isfinite(lag).any() and np.nanmin(lag) >= 0
    gc = history()[GC_MS_PER_S].window(3600)[1]
    assert (gc >= 0).all() and gc.max() > 0  # forced full collections take real time
    rows = panel.view.export_csv(tmp_path / "api.csv")
    with open(tmp_path / "api.csv", newline="") as handle:
        table = list(csv.DictReader(handle))
    assert rows and {RESPONSE_MS, LAG_P99_MS, HEAP_USED_MB} <= set(table[0])

    for metric in (RESPONSE_MS, LAG_P99_MS):
        panel.view.series_actions[metric].trigger()  # untick: GC is not plotted by default
    assert RESPONSE_MS not in settings.monitor.plotted
    with qtbot.waitSignal(panel.view.redrawn, timeout=WAIT_MS):
        pass
    panel.view.redraw()
    assert not graph.timing_plot.isVisible() and graph.plot.isVisible()
