"""One crash path: errors from the GUI thread and from workers are logged, then shown."""

from __future__ import annotations

import sys
import threading

import pytest
from PySide6.QtCore import QTimer
from PySide6.QtGui import QGuiApplication
from PySide6.QtWidgets import QApplication

from fibuca_desktop.ui.crash_dialog import CrashDialog
from fibuca_desktop.ui.crash_handler import CrashHandler


@pytest.fixture
def handler():
    crash = CrashHandler(show_dialog=True)
    crash.install()
    yield crash
    crash.uninstall()


def _raise_in_thread(message: str) -> None:
    def boom():
        raise ValueError(message)

    thread = threading.Thread(target=boom, name="fibuca-image_0")
    thread.start()
    thread.join()


def test_a_worker_error_opens_the_dialog_on_the_gui_thread(qtbot, handler, caplog):
    seen = []

    def answer():  # runs inside the dialog's own event loop, as a person clicking would
        dialog = QApplication.activeModalWidget()
        if isinstance(dialog, CrashDialog):
            seen.append((dialog.details.toPlainText(), threading.current_thread().name))
            dialog.continue_button.click()

    clicker = QTimer()
    clicker.timeout.connect(answer)
    clicker.start(20)
    try:
        _raise_in_thread("disk on fire")
        qtbot.waitUntil(lambda: bool(seen), timeout=5000)
    finally:
        clicker.stop()
    details, thread = seen[0]
    assert thread == threading.main_thread().name  # the dialog lives on the GUI thread
    assert "ValueError: disk on fire" in details and "Traceback" in details
    assert handler.count == 1
    assert "unexpected error in fibuca-image_0" in caplog.text


def test_copy_button_puts_the_details_on_the_clipboard(qtbot):
    dialog = CrashDialog("ValueError: x", "Traceback (most recent call last):\n  ...")
    qtbot.addWidget(dialog)
    dialog.copy_button.click()
    assert QGuiApplication.clipboard().text().startswith("Traceback (most recent call last)")
    assert dialog.copy_button.text() == "Copied"


def test_without_dialog_errors_go_to_stderr(qtbot, capsys):
    crash = CrashHandler(show_dialog=False)
    crash.install()
    try:
        try:
            raise RuntimeError("gui thread error")
        except RuntimeError:
            sys.excepthook(*sys.exc_info())
        _raise_in_thread("worker error")
    finally:
        crash.uninstall()
    err = capsys.readouterr().err
    assert "RuntimeError: gui thread error" in err
    assert "ValueError: worker error" in err
    assert crash.count == 2
    assert QApplication.activeModalWidget() is None


def test_uninstall_restores_the_previous_hooks():
    before = (sys.excepthook, threading.excepthook)
    crash = CrashHandler(show_dialog=False)
    crash.install()
    assert sys.excepthook != before[0]
    crash.uninstall()
    assert (sys.excepthook, threading.excepthook) == before
