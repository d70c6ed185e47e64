"""The main window's menu bar: File (add photos, quit with Ctrl+Q), View (the tabs), Help."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from PySide6.QtCore import QUrl
from PySide6.QtGui import QAction, QDesktopServices, QKeySequence
from PySide6.QtWidgets import QMainWindow, QMessageBox, QTabWidget

from fibuca_desktop import __version__


def build_menu_bar(
    window: QMainWindow,
    tabs: QTabWidget,
    add_files: Callable[[], None],
    add_folder: Callable[[], None],
    log_path: Callable[[], Path | None],
) -> dict[str, QAction]:
    """Fill ``window``'s menu bar; returns the actions by name (tests trigger them)."""
    bar = window.menuBar()
    actions: dict[str, QAction] = {}

    def action(menu, name: str, text: str, slot, shortcut: str | None = None) -> QAction:
        item = QAction(text, window)
        if shortcut:
            item.setShortcut(QKeySequence(shortcut))
        item.triggered.connect(slot)
        menu.addAction(item)
        actions[name] = item
        return item

    file_menu = bar.addMenu("&File")
    action(file_menu, "add_files", "&Add photos…", lambda: _show(tabs, 0, add_files), "Ctrl+O")
    action(
        file_menu, "add_folder", "Add &folder…", lambda: _show(tabs, 0, add_folder), "Ctrl+Shift+O"
    )
    file_menu.addSeparator()
    action(file_menu, "quit", "&Quit", window.close, "Ctrl+Q")

    view_menu = bar.addMenu("&View")
    for index in range(tabs.count()):
        action(
            view_menu,
            f"tab_{index}",
            tabs.tabText(index),
            lambda _checked=False, i=index: tabs.setCurrentIndex(i),
            f"Alt+{index + 1}",
        )

    help_menu = bar.addMenu("&Help")
    open_log = action(
        help_menu, "open_log", "Open the &log file", lambda: _open_log(window, log_path())
    )
    open_log.setToolTip("Every message with its details, to send with a problem report")
    action(help_menu, "about", "&About Fibuca Desktop", lambda: _about(window))
    return actions


def _show(tabs: QTabWidget, index: int, then: Callable[[], None]) -> None:
    tabs.setCurrentIndex(index)
    then()


def _open_log(window: QMainWindow, path: Path | None) -> None:
    if path is None or not path.exists():
        QMessageBox.information(
            window, "No log file", "This session writes no log file (its folder is not writable)."
        )
        return
    QDesktopServices.openUrl(QUrl.fromLocalFile(str(path)))


def _about(window: QMainWindow) -> None:
    QMessageBox.about(
        window,
        "About Fibuca Desktop",
        f"Fibuca Desktop {__version__}\n\nRemoves photo backgrounds on this computer, watches the "
        "backend's memory and tunes its database.",
    )
