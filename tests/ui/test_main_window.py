"""The app shell with real widgets offscreen: tabs, status bar, window state, log pane."""

from __future__ import annotations

import logging
import threading

from PySide6.QtCore import QSettings

from fibuca_desktop.core.settings import Settings
from fibuca_desktop.ui.log_pane import MAX_LINES, QtLogHandler
from fibuca_desktop.ui.main_window import MainWindow
from fibuca_desktop.ui.monitor.monitor_hub import MonitorHub
from fibuca_desktop.ui.process.process_panel import ProcessService


def make_window(qtbot, tmp_path, handler=None):
    state = QSettings(str(tmp_path / "window-state.ini"), QSettings.Format.IniFormat)
    settings = Settings()
    window = MainWindow(
        settings, state, handler or QtLogHandler(), ProcessService(settings), MonitorHub()
    )
    qtbot.addWidget(window)
    return window


def test_tabs_and_status_bar(qtbot, tmp_path):
    window = make_window(qtbot, tmp_path)
    window.show()
    qtbot.waitExposed(window)
    tabs = [window.tabs.tabText(i) for i in range(window.tabs.count())]
    assert tabs == ["Process", "Monitor", "Database"]
    assert window.model_label.text() == "Model: u2netp (loads on first use)"
    megabytes = int(window.memory_label.text().removeprefix("Memory: ").removesuffix(" MB"))
    assert 20 < megabytes < 4000


def test_geometry_and_splitter_survive_a_restart(qtbot, tmp_path):
    first = make_window(qtbot, tmp_path)
    first.show()
    first.resize(780, 600)  # above the minimum size (menu bar included)
    first.splitter.setSizes([400, 200])
    sizes = first.splitter.sizes()
    first.close()
    second = make_window(qtbot, tmp_path)
    second.show()
    qtbot.waitExposed(second)
    assert (second.width(), second.height()) == (780, 600)
    assert second.splitter.sizes() == sizes


def test_log_pane_shows_records_from_worker_threads_and_stays_bounded(qtbot, tmp_path):
    handler = QtLogHandler()
    window = make_window(qtbot, tmp_path, handler)
    logger = logging.getLogger("fibuca_desktop.test_worker")
    logger.addHandler(handler)
    logger.setLevel(logging.INFO)
    try:
        worker = threading.Thread(target=lambda: logger.info("hello from a worker"))
        worker.start()
        worker.join()
        qtbot.waitUntil(lambda: "hello from a worker" in window.log_pane.toPlainText())
        for number in range(MAX_LINES + 50):
            logger.info("line %d", number)
        qtbot.waitUntil(lambda: f"line {MAX_LINES + 49}" in window.log_pane.toPlainText())
        assert window.log_pane.document().blockCount() == MAX_LINES
        assert "hello from a worker" not in window.log_pane.toPlainText()  # oldest dropped
    finally:
        logger.removeHandler(handler)


def test_notice_bar_shows_and_dismisses(qtbot, tmp_path):
    window = make_window(qtbot, tmp_path)
    window.show()
    assert not window.notice.isVisible()
    window.show_notice("Your settings file was broken")
    assert window.notice.isVisible()
    assert "broken" in window.notice.message.text()
