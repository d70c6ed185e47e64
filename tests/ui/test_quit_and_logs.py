"""Quitting is bounded, the log pane shows one line per problem, the menu bar quits with Ctrl+Q."""

from __future__ import annotations

import logging
import subprocess
import sys
import time

import pytest
from PySide6.QtCore import QSettings
from PySide6.QtGui import QKeySequence

from fibuca_desktop.core.log_file import open_log_file
from fibuca_desktop.core.settings import Settings
from fibuca_desktop.ui.log_pane import LogPaneWidget, QtLogHandler
from fibuca_desktop.ui.main_window import MainWindow
from fibuca_desktop.ui.monitor.monitor_hub import MonitorHub
from fibuca_desktop.ui.process.process_panel import ProcessService

STUCK_AT_QUIT = """
import threading, time
from fibuca_desktop.app import _end_within
threading.Thread(target=time.sleep, args=(120,), name="stuck-poll").start()  # not a daemon
_end_within({seconds}, None)
"""


def test_a_thread_stuck_at_quit_cannot_keep_the_process_alive():
    started = time.monotonic()
    result = subprocess.run(
        [sys.executable, "-c", STUCK_AT_QUIT.format(seconds=1.0)],
        capture_output=True,
        text=True,
        timeout=60,
    )
    took = time.monotonic() - started
    assert result.returncode != 0  # ended by the watchdog, not by the thread
    assert took < 30  # 1 s armed; the sleeping thread alone would take 120 s
    assert "stuck-poll" in result.stderr or "Thread 0x" in result.stderr  # where it hung


def test_the_real_app_quits_within_its_deadline(tmp_path):
    started = time.monotonic()
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "fibuca_desktop",
            "--settings-file",
            str(tmp_path / "settings.json"),
            "--quit-after",
            "300",
        ],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0, result.stderr
    assert time.monotonic() - started < 60
    log = (tmp_path / "fibuca-desktop.log").read_text()
    assert "quitting: the process ends within 8 s" in log


@pytest.fixture
def pane_and_file(qtbot, tmp_path):
    """A log pane and the log file, both fed by one logger, as the window has them."""
    pane = LogPaneWidget()
    qtbot.addWidget(pane)
    handler = QtLogHandler()
    handler.record_formatted.connect(pane.append_line)
    file_handler = open_log_file(tmp_path)
    logger = logging.getLogger("fibuca_desktop.test_log_pane")
    logger.setLevel(logging.INFO)
    for each in (handler, file_handler):
        logger.addHandler(each)
    yield pane, logger, tmp_path / "fibuca-desktop.log"
    for each in (handler, file_handler):
        logger.removeHandler(each)
    file_handler.close()


def test_the_log_pane_shows_one_line_and_the_log_file_the_traceback(qtbot, pane_and_file):
    pane, logger, log_path = pane_and_file
    try:
        int("9" * 5000)
    except ValueError:
        logger.exception("could not read the heap size")
    logger.warning("first line\nsecond line\nthird line")
    qtbot.waitUntil(lambda: pane.blockCount() >= 2)
    lines = pane.toPlainText().splitlines()
    assert len(lines) == 2
    assert lines[0].endswith("could not read the heap size (details in the log file)")
    assert lines[1].endswith("first line (details in the log file)")
    assert "Traceback" not in pane.toPlainText()
    written = log_path.read_text()
    assert "Traceback (most recent call last)" in written and "third line" in written


@pytest.mark.parametrize(
    "message",
    ["x" * 100_000, "SELECT " + ", ".join(f"c{i}" for i in range(20_000)), "9" * 4301],
)
def test_a_huge_one_line_record_is_cut_in_the_pane_and_kept_whole_in_the_file(
    qtbot, pane_and_file, message
):
    """One line per record, but a 100 000-character line flooded the pane."""
    from fibuca_desktop.ui.log_pane import MAX_LINE_CHARS

    pane, logger, log_path = pane_and_file
    logger.warning("%s", message)
    qtbot.waitUntil(lambda: bool(pane.toPlainText()))
    shown = pane.toPlainText()
    assert len(shown) < MAX_LINE_CHARS + 200 and shown.endswith("… (details in the log file)")
    assert message in log_path.read_text()


def test_a_log_file_on_a_full_disk_says_so_once_never_a_traceback_per_record(tmp_path):
    """/dev/full takes the writes and refuses them (ENOSPC), as a full disk does; each record
    printed "--- Logging error ---" and a traceback on stderr."""
    (tmp_path / "fibuca-desktop.log").symlink_to("/dev/full")
    script = (
        "import logging, pathlib, sys\n"
        "from fibuca_desktop.core.log_file import open_log_file\n"
        "handler = open_log_file(pathlib.Path(sys.argv[1]))\n"
        "log = logging.getLogger('fibuca_desktop.full')\n"
        "log.addHandler(handler)\n"
        "for n in range(5):\n"
        "    log.warning('record %d', n)\n"
        "print('still running')\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", script, str(tmp_path)], capture_output=True, text=True, timeout=60
    )
    assert result.returncode == 0 and result.stdout == "still running\n"
    assert "Traceback" not in result.stderr and "Logging error" not in result.stderr
    lines = result.stderr.splitlines()
    assert len(lines) == 1 and "cannot be written (No space left on device)" in lines[0]


def test_an_unwritable_log_folder_is_no_reason_not_to_start(tmp_path):
    blocker = tmp_path / "not-a-folder"
    blocker.write_text("")
    assert open_log_file(blocker) is None


def test_menu_bar_quits_with_ctrl_q_and_adds_photos(qtbot, tmp_path):
    settings = Settings()
    state = QSettings(str(tmp_path / "window-state.ini"), QSettings.Format.IniFormat)
    window = MainWindow(settings, state, QtLogHandler(), ProcessService(settings), MonitorHub())
    qtbot.addWidget(window)
    window.show()
    qtbot.waitExposed(window)
    menus = [action.text() for action in window.menuBar().actions()]
    assert menus == ["&File", "&View", "&Help"]
    actions = window.menu_actions
    assert actions["quit"].shortcut() == QKeySequence("Ctrl+Q")
    assert actions["add_files"].shortcut() == QKeySequence("Ctrl+O")
    window.tabs.setCurrentIndex(2)
    actions["tab_1"].trigger()
    assert window.tabs.currentIndex() == 1
    closing = []
    window.closing.connect(lambda: closing.append(True))
    actions["quit"].trigger()
    assert closing == [True]
    assert not window.isVisible()
