"""The main window: Process, Monitor and Database tabs over a log pane, and a status bar."""

from __future__ import annotations

import logging
from pathlib import Path

import psutil
from PySide6.QtCore import QSettings, Qt, QTimer, Signal
from PySide6.QtGui import QCloseEvent
from PySide6.QtWidgets import (
    QFrame,
    QHBoxLayout,
    QLabel,
    QMainWindow,
    QMessageBox,
    QPushButton,
    QSplitter,
    QTabWidget,
    QVBoxLayout,
    QWidget,
)

from fibuca_desktop import __version__
from fibuca_desktop.core.settings import Settings
from fibuca_desktop.ui.database.database_panel import DatabasePanel
from fibuca_desktop.ui.log_pane import LogPaneWidget, QtLogHandler
from fibuca_desktop.ui.main_menu import build_menu_bar
from fibuca_desktop.ui.monitor.monitor_hub import MonitorHub
from fibuca_desktop.ui.monitor.monitor_panel import MonitorPanel
from fibuca_desktop.ui.monitor.notifier import IN_APP, StateNotifier
from fibuca_desktop.ui.process.process_panel import ProcessPanel, ProcessService

log = logging.getLogger(__name__)

MEMORY_REFRESH_MS = 2000
_MB = 1024 * 1024


class NoticeBar(QFrame):
    """A dismissable banner for problems the user should know about but need not act on now."""

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("noticeBar")
        self.setStyleSheet(
            "#noticeBar { background: #fff4ce; border: 1px solid #e0c060; border-radius: 4px; }"
        )
        self.message = QLabel()
        self.message.setWordWrap(True)
        dismiss = QPushButton("Dismiss")
        dismiss.clicked.connect(self.hide)
        layout = QHBoxLayout(self)
        layout.addWidget(self.message, 1)
        layout.addWidget(dismiss)
        self.hide()

    def show_message(self, text: str) -> None:
        self.message.setText(text)
        self.show()


class MainWindow(QMainWindow):
    """Receives its services; owns no global state. Window geometry lives in ``window_state``."""

    closing = Signal()  # the close was accepted: the panels are about to shut down

    def __init__(
        self,
        settings: Settings,
        window_state: QSettings,
        log_handler: QtLogHandler,
        process_service: ProcessService,
        monitor_hub: MonitorHub,
        parent: QWidget | None = None,
    ) -> None:
        super().__init__(parent)
        self.ask_before_closing = True
        self.log_path: Path | None = None  # the log file, when the app writes one
        self.settings = settings
        self.window_state = window_state
        self.setObjectName("mainWindow")
        self.setWindowTitle(f"Fibuca Desktop {__version__}")
        self.resize(1100, 720)

        self.notice = NoticeBar()
        self.tabs = QTabWidget()
        self.tabs.setObjectName("mainTabs")
        self.process_panel = ProcessPanel(process_service, settings)
        self.process_panel.batch_finished.connect(self._on_batch_finished)
        self.tabs.addTab(self.process_panel, "Process")
        self.notifier = StateNotifier(self)
        self.notifier.shown.connect(self._on_notification)
        self.monitor_panel = MonitorPanel(monitor_hub, settings, self.notifier)
        self.tabs.addTab(self.monitor_panel, "Monitor")
        self.database_panel = DatabasePanel(settings)  # its session is created on Connect
        self.tabs.addTab(self.database_panel, "Database")
        self.log_pane = LogPaneWidget()
        log_handler.record_formatted.connect(self.log_pane.append_line)

        self.splitter = QSplitter(Qt.Orientation.Vertical)
        self.splitter.setObjectName("mainSplitter")
        self.splitter.addWidget(self.tabs)
        self.splitter.addWidget(self.log_pane)
        self.splitter.setStretchFactor(0, 4)
        self.splitter.setStretchFactor(1, 1)
        central = QWidget()
        layout = QVBoxLayout(central)
        layout.setContentsMargins(6, 6, 6, 0)
        layout.addWidget(self.notice)
        layout.addWidget(self.splitter)
        self.setCentralWidget(central)
        self.menu_actions = build_menu_bar(
            self,
            self.tabs,
            self.process_panel.choose_files,
            self.process_panel.choose_folder,
            lambda: self.log_path,
        )

        self.memory_label = QLabel()
        self.model_label = QLabel()
        self.statusBar().addPermanentWidget(self.model_label)
        self.statusBar().addPermanentWidget(self.memory_label)
        self._process = psutil.Process()
        self._memory_timer = QTimer(self)
        self._memory_timer.setInterval(MEMORY_REFRESH_MS)
        self._memory_timer.timeout.connect(self.refresh_status)
        self._memory_timer.start()
        self.refresh_status()
        self._restore_window_state()

    def refresh_status(self) -> None:
        """Status bar: this app's resident memory and the model the Process tab will use."""
        rss = self._process.memory_info().rss / _MB
        self.memory_label.setText(f"Memory: {rss:.0f} MB")
        model = self.settings.processing.model
        loaded = self.process_panel.service.engines.is_loaded(model)
        self.model_label.setText(f"Model: {model} ({'loaded' if loaded else 'loads on first use'})")

    def _on_batch_finished(self, summary: str) -> None:
        self.refresh_status()
        self.statusBar().showMessage(f"Batch finished: {summary}", 10_000)

    def _on_notification(self, title: str, text: str, channel: str) -> None:
        """Without a system tray the window itself must carry the news."""
        if channel == IN_APP:
            self.show_notice(f"{title}. {text}")

    def show_notice(self, text: str) -> None:
        self.notice.show_message(text)

    def _restore_window_state(self) -> None:
        geometry = self.window_state.value("geometry")
        if geometry is not None:
            self.restoreGeometry(geometry)
        splitter = self.window_state.value("splitter")
        if splitter is not None:
            self.splitter.restoreState(splitter)
        else:
            self.splitter.setSizes([560, 140])

    def close_without_asking(self) -> None:
        """Close even while photos are processing (``--quit-after``): cancel, wait, close."""
        self.ask_before_closing = False
        self.close()

    def closeEvent(self, event: QCloseEvent) -> None:
        if self.process_panel.busy and self.ask_before_closing:
            answer = QMessageBox.question(
                self,
                "Photos are still processing",
                "Stop processing and quit? Photos already finished are kept; the ones in "
                "progress stop without leaving partial files.",
            )
            if answer != QMessageBox.StandardButton.Yes:
                event.ignore()
                return
        if self.ask_before_closing and not self.process_panel.touch_up.may_close():
            event.ignore()  # the editor has unsaved changes and the person chose to keep them
            return
        if self.ask_before_closing and not self.database_panel.may_close(self):
            event.ignore()  # an index build is running and the person chose to wait for it
            return
        self.closing.emit()
        self.database_panel.shutdown()  # cancels a build (and drops its INVALID index), closes
        self.process_panel.shutdown()
        self.monitor_panel.shutdown()
        self._memory_timer.stop()
        self.window_state.setValue("geometry", self.saveGeometry())
        self.window_state.setValue("splitter", self.splitter.saveState())
        self.window_state.sync()
        super().closeEvent(event)
