"""Add target… > PM2 processes, on real widgets, against a real PM2 (tests/pm2_daemon.py) whose
real app the tests restart, kill and stop."""

from __future__ import annotations

import logging
import os
import signal

import pytest
from PySide6.QtCore import Qt, QTimer
from PySide6.QtWidgets import QApplication

from fibuca_desktop.core.monitor.pm2_source import CPU_PERCENT, Pm2Listing
from fibuca_desktop.core.monitor.samples import RSS_MB
from fibuca_desktop.core.monitor.targets import PM2, PM2_MIN_INTERVAL_S, MonitorTarget
from fibuca_desktop.core.monitor.thresholds import State
from fibuca_desktop.core.settings import Settings, SettingsStore
from fibuca_desktop.ui.monitor.monitor_panel import MonitorPanel
from fibuca_desktop.ui.monitor.pm2_picker import (
    APP as APP_COLUMN,
)
from fibuca_desktop.ui.monitor.pm2_picker import (
    NOT_INSTALLED_TIP,
    PID,
    STATE,
    Pm2PickerDialog,
)
from fibuca_desktop.ui.monitor.target_dialog import AddTargetDialog
from tests.pm2_daemon import APP, SECRET, SECRET_ARG, Pm2, wait

WAIT_MS = 30_000


def _rows(dialog: Pm2PickerDialog) -> dict[str, object]:
    items = (dialog.tree.topLevelItem(row) for row in range(dialog.tree.topLevelItemCount()))
    return {item.text(APP_COLUMN): item for item in items}


def _latest(panel: MonitorPanel, name: str):
    return panel.model.latest(name)


def test_a_pm2_app_picked_from_the_list_is_watched_restarted_and_seen_down(
    qtbot, make_panel, pm2_here, caplog, tmp_path
):
    caplog.set_level(logging.DEBUG)
    app_online = wait(lambda: any(a.name == APP and a.online for a in _apps(pm2_here)))
    assert app_online, "the PM2 test app never came online"
    settings = Settings()
    settings.monitor.targets = []
    panel = make_panel(settings, interval_s=0.5)
    panel.add_menu.aboutToShow.emit()
    assert panel.add_pm2_action.isEnabled()
    seen: dict[str, object] = {}

    def pick() -> None:
        dialog = QApplication.activeModalWidget()
        assert isinstance(dialog, Pm2PickerDialog)
        assert not dialog.ok_button.isEnabled()  # nothing ticked (and PM2 still being asked)
        qtbot.waitUntil(lambda: not dialog.busy, timeout=WAIT_MS)
        row = _rows(dialog)[APP]
        seen["row"] = [row.text(c) for c in range(dialog.tree.columnCount())]
        seen["status"] = dialog.status.text()
        dialog.set_checked(APP)
        assert dialog.ok_button.isEnabled()
        dialog.ok_button.click()

    QTimer.singleShot(0, pick)
    panel.ask_add_pm2()
    row = seen["row"]
    assert row[STATE] == "online" and row[PID].isdigit() and "MB" in row[4]
    assert [(t.name, t.kind, t.pm2_app) for t in settings.monitor.targets] == [(APP, PM2, APP)]
    poller = panel.hub.pollers[APP]
    assert poller.interval_s == PM2_MIN_INTERVAL_S and poller.source.listing is panel.hub.pm2

    qtbot.waitUntil(
        lambda: bool((o := _latest(panel, APP)) and o.sample.value(RSS_MB)), timeout=WAIT_MS
    )
    outcome = _latest(panel, APP)
    assert outcome.state == State.OK and outcome.sample.backend_status == "online"
    assert outcome.sample.value(CPU_PERCENT) is not None
    row = panel.model.row_of(APP)
    memory = panel.model.index(row, 2).data()
    assert memory.startswith("RSS ") and "CPU" in memory and panel.model.index(row, 3).data()

    pm2_here.run("restart", APP)
    qtbot.waitUntil(lambda: _latest(panel, APP).restarts == 1, timeout=WAIT_MS)
    events = lambda: [panel.events.item(i).text() for i in range(panel.events.count())]  # noqa: E731
    assert any("restarted" in e and "PM2 restart count" in e for e in events())

    pid = _latest(panel, APP).sample.identity.pid
    os.kill(pid, signal.SIGKILL)  # PM2 starts it again: a second restart
    qtbot.waitUntil(lambda: _latest(panel, APP).restarts == 2, timeout=WAIT_MS)

    pm2_here.run("stop", APP)
    try:
        qtbot.waitUntil(lambda: _latest(panel, APP).state == State.DOWN, timeout=WAIT_MS)
        assert "PM2 says the app is stopped" in _latest(panel, APP).reason
    finally:
        pm2_here.run("restart", APP)  # the module's other tests want it online

    rows = panel.view.export_csv(tmp_path / "pm2.csv")
    assert rows
    shown = [
        panel.model.index(r, c).data(role)
        for r in range(panel.model.rowCount())
        for c in range(panel.model.columnCount())
        for role in (Qt.ItemDataRole.DisplayRole, Qt.ItemDataRole.ToolTipRole)
    ]
    texts = [
        SettingsStore(tmp_path / "s.json").serialize(settings),
        (tmp_path / "pm2.csv").read_text(),
        caplog.text,
        *events(),
        *(str(text) for text in shown),
    ]
    for text in texts:
        assert SECRET not in text and SECRET_ARG not in text


def _apps(pm2: Pm2):
    return Pm2Listing(pm2.pm2, pm2_home=pm2.home, max_age_s=0.0).apps()


def test_the_list_offers_no_app_twice_and_refuses_a_cluster(qtbot, pm2_here, tmp_path):
    script = tmp_path / "clustered.js"
    script.write_text("setInterval(() => {}, 1000);\n")
    pm2_here.run("start", str(script), "--name", "fibuca-cluster", "-i", "2")
    try:
        dialog = Pm2PickerDialog(Pm2Listing(max_age_s=0.0), {APP}, {APP})
        qtbot.addWidget(dialog)
        qtbot.waitUntil(lambda: not dialog.busy, timeout=WAIT_MS)
        rows = _rows(dialog)
    finally:
        pm2_here.run("delete", "fibuca-cluster")
    watched, cluster = rows[APP], rows["fibuca-cluster"]
    assert not watched.flags() & Qt.ItemFlag.ItemIsEnabled
    assert "already watched" in watched.text(STATE)
    assert not cluster.flags() & Qt.ItemFlag.ItemIsEnabled
    assert "Runs 2 instances (cluster mode)" in cluster.toolTip(APP_COLUMN)
    with pytest.raises(KeyError):
        dialog.set_checked("fibuca-cluster")
    assert dialog.chosen_apps() == [] and not dialog.ok_button.isEnabled()
    # a name already taken by another kind of target: the new one gets its own
    dialog._watched = set()
    dialog._fill(_apps(pm2_here))
    dialog.set_checked(APP)
    [target] = dialog.targets()
    assert (target.name, target.pm2_app) == (f"{APP} (PM2)", APP)


def test_the_list_says_so_when_pm2_is_not_running_and_refresh_asks_again(
    qtbot, pm2_bin, pm2_here, tmp_path
):
    empty = tmp_path / "no-daemon"
    empty.mkdir()
    listing = Pm2Listing(pm2_bin, pm2_home=empty, max_age_s=0.0)
    dialog = Pm2PickerDialog(listing, set(), set())
    qtbot.addWidget(dialog)
    qtbot.waitUntil(lambda: not dialog.busy, timeout=WAIT_MS)
    assert "PM2 is not running" in dialog.status.text() and dialog.tree.topLevelItemCount() == 0
    assert not dialog.ok_button.isEnabled() and dialog.refresh_button.isEnabled()
    assert list(empty.iterdir()) == []  # no daemon was started to answer
    listing.pm2_home = pm2_here.home
    dialog.refresh_button.click()
    qtbot.waitUntil(lambda: not dialog.busy, timeout=WAIT_MS)
    assert APP in _rows(dialog) and "Tick the apps" in dialog.status.text()


def test_without_pm2_on_path_the_entry_is_disabled_and_says_why(
    qtbot, make_panel, monkeypatch, tmp_path
):
    monkeypatch.setenv("PATH", str(tmp_path))
    settings = Settings()
    settings.monitor.targets = []
    panel = make_panel(settings, interval_s=0.5)
    panel.add_menu.aboutToShow.emit()
    assert not panel.add_pm2_action.isEnabled()
    assert panel.add_pm2_action.toolTip() == NOT_INSTALLED_TIP
    assert panel.add_address_action.isEnabled()


def test_a_pm2_targets_levels_can_be_changed_and_nothing_else(qtbot):
    target = MonitorTarget("worker", PM2, pm2_app="worker")
    dialog = AddTargetDialog({"worker", "other"}, editing=target)
    qtbot.addWidget(dialog)
    assert dialog.kind.currentData() == PM2 and dialog.process.text() == "worker"
    dialog.warning.setValue(600)
    dialog.critical.setValue(800)
    edited = dialog.target()
    assert (edited.kind, edited.pm2_app, edited.name) == (PM2, "worker", "worker")
    assert (edited.warning_mb, edited.critical_mb) == (600, 800)
