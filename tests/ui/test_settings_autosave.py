"""Settings are written when they change, atomically, from whichever tab changed them."""

from __future__ import annotations

import json
import os

import pytest
from PySide6.QtCore import QSettings

from fibuca_desktop.core.monitor.targets import HEALTH, MonitorTarget
from fibuca_desktop.core.settings import Settings, SettingsStore
from fibuca_desktop.ui.log_pane import QtLogHandler
from fibuca_desktop.ui.main_window import MainWindow
from fibuca_desktop.ui.monitor.monitor_hub import MonitorHub
from fibuca_desktop.ui.process.process_panel import ProcessService
from fibuca_desktop.ui.settings_autosave import SettingsAutosave

WAIT_MS = 10_000


@pytest.fixture
def window(qtbot, tmp_path):
    settings = Settings()
    state = QSettings(str(tmp_path / "window-state.ini"), QSettings.Format.IniFormat)
    hub = MonitorHub()
    window = MainWindow(settings, state, QtLogHandler(), ProcessService(settings), hub)
    qtbot.addWidget(window)
    yield window
    window.close_without_asking()


def _saved(path) -> dict:
    return json.loads(path.read_text()) if path.exists() else {}


def test_changes_in_every_tab_reach_the_file_without_quitting(qtbot, window, tmp_path):
    path = tmp_path / "settings.json"
    autosave = SettingsAutosave(SettingsStore(path), window.settings)
    window.process_panel.preset_combo.setCurrentText("web")
    qtbot.waitUntil(
        lambda: _saved(path).get("processing", {}).get("preset") == "web", timeout=WAIT_MS
    )
    target = MonitorTarget("shop api", HEALTH, url="http://127.0.0.1:9/health")
    window.monitor_panel.add_target(target)
    qtbot.waitUntil(
        lambda: "shop api" in [t["name"] for t in _saved(path)["monitor"]["targets"]],
        timeout=WAIT_MS,
    )
    window.settings.database.last_url = "postgresql://fibuca@db.example.com:5432/shop"
    qtbot.waitUntil(
        lambda: (_saved(path)["database"]["last_url"] or "").endswith("/shop"), timeout=WAIT_MS
    )
    # Atomic: no temporary file is left next to it, and nothing was written while unchanged.
    assert sorted(p.name for p in tmp_path.iterdir() if p.name.startswith(".")) == []
    before = path.stat().st_mtime_ns
    assert autosave.save_if_changed() is False
    assert path.stat().st_mtime_ns == before


def test_a_failing_save_is_announced_once_and_retried(qtbot, window, tmp_path):
    folder = tmp_path / "config"
    folder.mkdir()
    path = folder / "settings.json"
    autosave = SettingsAutosave(SettingsStore(path), window.settings)
    problems: list[str] = []
    autosave.failed.connect(problems.append)
    autosave.failed.connect(window.show_notice)
    os.chmod(folder, 0o500)
    try:
        if os.access(folder, os.W_OK) and os.geteuid() == 0:
            # root writes anyway: make the target a folder so the rename fails instead
            os.chmod(folder, 0o700)
            path.mkdir()
        window.settings.processing.preset = "square"
        for _ in range(3):
            assert autosave.save_if_changed() is False
        assert len(problems) == 1
        assert "Could not save the settings" in problems[0]
        assert (
            window.notice.isVisibleTo(window) and "Could not save" in window.notice.message.text()
        )
        assert autosave.pending
    finally:
        os.chmod(folder, 0o700)
        if path.is_dir():
            path.rmdir()
    assert autosave.save_if_changed() is True
    assert _saved(path)["processing"]["preset"] == "square"
    assert not autosave.pending


def test_a_file_of_a_newer_version_is_never_overwritten(qtbot, window, tmp_path):
    path = tmp_path / "settings.json"
    path.write_text('{"schema_version": 99}')
    autosave = SettingsAutosave(SettingsStore(path), window.settings, enabled=False)
    window.settings.processing.preset = "web"
    assert autosave.save_if_changed() is False
    autosave.stop()
    assert json.loads(path.read_text()) == {"schema_version": 99}
