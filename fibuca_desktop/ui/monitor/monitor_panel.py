"""The Monitor tab: targets with their state badges, a live memory graph, and state events.

The panel only reads: polls happen in the ``MonitorHub``'s pool, and the graph is redrawn at
most every ``REDRAW_MS``, only when new samples arrived, and only while the tab is visible and
not paused. pyqtgraph is imported the first time the tab is shown, so start-up does not pay it.
"""

from __future__ import annotations

import logging
import time
from datetime import datetime
from pathlib import Path

from PySide6.QtCore import QItemSelectionModel, Qt, QTimer, Signal
from PySide6.QtGui import QAction, QColor
from PySide6.QtWidgets import (
    QAbstractItemView,
    QComboBox,
    QFileDialog,
    QHBoxLayout,
    QHeaderView,
    QLabel,
    QListWidget,
    QMenu,
    QPushButton,
    QSplitter,
    QTableView,
    QToolButton,
    QVBoxLayout,
    QWidget,
)

from fibuca_desktop.core.errors import OutputError
from fibuca_desktop.core.monitor.poller import PollOutcome
from fibuca_desktop.core.monitor.samples import HEAP_USED_MB, RSS_MB
from fibuca_desktop.core.monitor.targets import KEYRING_SERVICE, WINDOWS_S, MonitorTarget
from fibuca_desktop.core.monitor.thresholds import State
from fibuca_desktop.core.secrets import SecretStoreUnavailable, delete_secret, save_secret
from fibuca_desktop.core.settings import Settings
from fibuca_desktop.ui.monitor.monitor_hub import MonitorHub
from fibuca_desktop.ui.monitor.notifier import StateNotifier
from fibuca_desktop.ui.monitor.target_dialog import AddTargetDialog
from fibuca_desktop.ui.monitor.target_table import (
    NAME,
    STATE,
    STATE_COLOURS,
    StateBadgeDelegate,
    TargetTableModel,
)

log = logging.getLogger(__name__)

REDRAW_MS = 250
MAX_EVENTS = 500
WINDOW_LABELS = {300: "5 min", 3600: "1 h", 86_400: "24 h"}
SERIES_LABELS = {
    HEAP_USED_MB: "Heap used",
    "heapTotalMB": "Heap total",
    "externalMB": "External",
    RSS_MB: "RSS",
    "systemAvailableMB": "System available",
}


class MonitorPanel(QWidget):
    """Receives its hub, the settings it keeps in sync and a notifier; owns no global state."""

    redrawn = Signal()  # after each graph redraw (tests and the benchmark wait on it)

    def __init__(
        self,
        hub: MonitorHub,
        settings: Settings,
        notifier: StateNotifier,
        parent: QWidget | None = None,
    ) -> None:
        super().__init__(parent)
        self.hub = hub
        self.settings = settings
        self.notifier = notifier
        self.graph = None  # MemoryGraphWidget, created on first show
        self.paused_at: float | None = None
        self._dirty = True
        self._removed: list[tuple[int, MonitorTarget, object]] = []  # undo stack
        self._build()
        hub.outcome.connect(self._on_outcome)
        hub.state_changed.connect(self._on_state_changed)
        for target in list(self.settings.monitor.targets):
            if target.name in hub.pollers:  # the app started watching it already
                self.model.add(target)
            else:
                self._watch(target, save=False)
        if self.model.rowCount():
            self.select(self.model.target_at(0).name)
        self._timer = QTimer(self)
        self._timer.setInterval(REDRAW_MS)
        self._timer.timeout.connect(self._maybe_redraw)
        self._timer.start()
        hub.start()

    # --- layout ------------------------------------------------------------------------
    def _build(self) -> None:
        monitor = self.settings.monitor
        self.add_button = QPushButton("Add target…")
        self.add_button.clicked.connect(self.ask_add_target)
        self.edit_button = QPushButton("Levels…")
        self.edit_button.setToolTip("Change the selected target's warning and critical levels")
        self.edit_button.clicked.connect(self.ask_edit_levels)
        self.remove_button = QPushButton("Remove")
        self.remove_button.clicked.connect(self.remove_selected)
        self.undo_button = QPushButton("Undo remove")
        self.undo_button.setEnabled(False)
        self.undo_button.clicked.connect(self.undo_remove)
        self.window_box = QComboBox()
        self.window_box.setObjectName("windowBox")
        for seconds in WINDOWS_S:
            self.window_box.addItem(WINDOW_LABELS[seconds], seconds)
        self.window_box.setCurrentIndex(WINDOWS_S.index(monitor.window_s))
        self.window_box.currentIndexChanged.connect(self._window_changed)
        self.pause_button = QPushButton("Pause")
        self.pause_button.setCheckable(True)
        self.pause_button.toggled.connect(self.set_paused)
        self.export_button = QPushButton("Export CSV…")
        self.export_button.clicked.connect(self.ask_export_csv)
        self.series_button = QToolButton()
        self.series_button.setText("Series ▾")
        self.series_button.setToolTip("Which memory figures the graph shows")
        self.series_button.setStyleSheet("QToolButton::menu-indicator { image: none; }")
        self.series_button.setPopupMode(QToolButton.ToolButtonPopupMode.InstantPopup)
        menu = QMenu(self.series_button)
        self.series_actions: dict[str, QAction] = {}
        for metric, label in SERIES_LABELS.items():
            action = menu.addAction(label)
            action.setCheckable(True)
            action.setChecked(metric in monitor.plotted)
            action.toggled.connect(self._series_changed)
            self.series_actions[metric] = action
        self.series_button.setMenu(menu)
        toolbar = QHBoxLayout()
        for widget in (self.add_button, self.edit_button, self.remove_button, self.undo_button):
            toolbar.addWidget(widget)
        toolbar.addSpacing(16)
        toolbar.addWidget(QLabel("Show"))
        toolbar.addWidget(self.window_box)
        toolbar.addWidget(self.series_button)
        toolbar.addStretch(1)
        toolbar.addWidget(self.pause_button)
        toolbar.addWidget(self.export_button)

        self.model = TargetTableModel(self)
        self.table = QTableView()
        self.table.setObjectName("targetTable")
        self.table.setModel(self.model)
        self.table.setItemDelegateForColumn(STATE, StateBadgeDelegate(self.table))
        self.table.setSelectionBehavior(QAbstractItemView.SelectionBehavior.SelectRows)
        self.table.setSelectionMode(QAbstractItemView.SelectionMode.SingleSelection)
        self.table.verticalHeader().hide()
        header = self.table.horizontalHeader()
        header.setSectionResizeMode(QHeaderView.ResizeMode.ResizeToContents)
        header.setStretchLastSection(True)
        self.table.selectionModel().currentRowChanged.connect(lambda *_: self._mark_dirty())
        self.table.doubleClicked.connect(lambda _: self.ask_edit_levels())
        self.events = QListWidget()
        self.events.setObjectName("monitorEvents")
        self.events.setWordWrap(True)
        self.events.setHorizontalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAlwaysOff)
        self.message = QLabel()
        self.message.setWordWrap(True)
        self.message.hide()

        top = QSplitter(Qt.Orientation.Horizontal)
        top.addWidget(self.table)
        top.addWidget(_titled("State changes", self.events))
        top.setStretchFactor(0, 3)
        top.setStretchFactor(1, 2)
        top.setSizes([640, 420])
        self.graph_holder = QVBoxLayout()
        self.graph_holder.setContentsMargins(0, 0, 0, 0)
        graph_area = QWidget()
        graph_area.setLayout(self.graph_holder)
        self.splitter = QSplitter(Qt.Orientation.Vertical)
        self.splitter.setObjectName("monitorSplitter")
        self.splitter.addWidget(top)
        self.splitter.addWidget(graph_area)
        self.splitter.setStretchFactor(1, 1)
        self.splitter.setSizes([150, 400])
        layout = QVBoxLayout(self)
        layout.addLayout(toolbar)
        layout.addWidget(self.message)
        layout.addWidget(self.splitter, 1)

    def showEvent(self, event) -> None:
        if self.graph is None:
            from fibuca_desktop.ui.monitor.memory_graph import MemoryGraphWidget  # pyqtgraph

            self.graph = MemoryGraphWidget()
            self.graph_holder.addWidget(self.graph)
            self._dirty = True
        super().showEvent(event)
        QTimer.singleShot(0, self._maybe_redraw)

    # --- targets -----------------------------------------------------------------------
    def ask_add_target(self) -> None:
        dialog = AddTargetDialog(set(self.hub.pollers), self)
        if dialog.exec() == AddTargetDialog.DialogCode.Accepted:
            self.add_target(dialog.target(), dialog.token)

    def add_target(self, target: MonitorTarget, token: str | None = None) -> None:
        """Watch a new target; a typed ``token`` goes to the keyring, or is kept for the session."""
        self.message.hide()
        if token:
            try:
                save_secret(KEYRING_SERVICE, target.url or "", token)
                target.token_in_keyring = True
            except SecretStoreUnavailable as error:
                self.show_message(f"{target.name}: {error}")
        self._watch(target, token=token)

    def _watch(self, target: MonitorTarget, token: str | None = None, save: bool = True) -> None:
        try:
            self.hub.add(target, token)
        except ValueError as error:  # a duplicate name in a hand-edited file
            self.show_message(str(error))
            return
        self.model.add(target)
        if save:
            self.settings.monitor.targets.append(target)
        if self.table.currentIndex().row() < 0:
            self.select(target.name)
        self._mark_dirty()

    def ask_edit_levels(self) -> None:
        target = self.selected_target()
        if target is None:
            return
        dialog = AddTargetDialog(set(self.hub.pollers), self, editing=target)
        if dialog.exec() == AddTargetDialog.DialogCode.Accepted:
            edited = dialog.target()
            self.set_levels(target.name, edited.warning_mb, edited.critical_mb)

    def set_levels(self, name: str, warning_mb: float, critical_mb: float) -> None:
        """New levels for a watched target; its state follows from the next samples."""
        target = self.hub.targets[name]
        target.warning_mb, target.critical_mb = warning_mb, critical_mb  # the settings' object
        self.hub.pollers[name].machine.thresholds = target.thresholds()
        log.info("%s: warning %g MB, critical %g MB", name, warning_mb, critical_mb)
        self._mark_dirty()

    def remove_selected(self) -> None:
        row = self.table.currentIndex().row()
        if row >= 0:
            self.remove_target(self.model.target_at(row).name)

    def remove_target(self, name: str) -> None:
        """Stop watching ``name``; its history is kept until the next removal, for undo."""
        target, poller = self.hub.remove(name)
        row = self.model.remove(name)
        self.settings.monitor.targets.remove(target)
        self._forget_removed()  # only the latest removal can be undone
        self._removed = [(row, target, poller)]
        if self.graph is not None:
            self.graph.forget_target(name)
        self.undo_button.setEnabled(True)
        self.undo_button.setToolTip(f"Watch {name} again, with its history")
        self.show_message(f"Stopped watching {name}. Undo brings it back with its history.")
        self._mark_dirty()

    def undo_remove(self) -> None:
        if not self._removed:
            return
        row, target, poller = self._removed.pop()
        if target.name in self.hub.pollers:
            self.show_message(f"A target named {target.name!r} was added since; not restored.")
        else:
            self.hub.restore(target, poller)
            self.model.add(target, row)
            self.settings.monitor.targets.insert(row, target)
            self.select(target.name)
            self.message.hide()
        self.undo_button.setEnabled(bool(self._removed))
        self._mark_dirty()

    def _forget_removed(self) -> None:
        """Drop what undo kept; a token the removed target kept in the keyring goes too."""
        for _, target, _ in self._removed:
            still_used = any(
                t.url == target.url and t.token_in_keyring for t in self.hub.targets.values()
            )
            if target.token_in_keyring and not still_used:
                delete_secret(KEYRING_SERVICE, target.url or "")
        self._removed = []

    def select(self, name: str) -> None:
        row = self.model.row_of(name)
        if row >= 0:
            self.table.selectionModel().setCurrentIndex(
                self.model.index(row, NAME),
                QItemSelectionModel.SelectionFlag.ClearAndSelect
                | QItemSelectionModel.SelectionFlag.Rows,
            )

    def selected_target(self) -> MonitorTarget | None:
        row = self.table.currentIndex().row()
        if row < 0 and self.model.rowCount():
            row = 0
        return self.model.target_at(row) if row >= 0 else None

    def show_message(self, text: str) -> None:
        self.message.setText(text)
        self.message.show()

    # --- samples and states ------------------------------------------------------------
    def _on_outcome(self, name: str, outcome: PollOutcome) -> None:
        self.model.update(name, outcome)
        self._mark_dirty()

    def _on_state_changed(self, name: str, outcome: PollOutcome) -> None:
        change = outcome.change
        if change.old is None and change.new == State.OK:
            return  # a target starting healthy is not news
        old = "new" if change.old is None else str(change.old)
        clock = datetime.fromtimestamp(change.time).strftime("%H:%M:%S")
        text = f"{old} → {change.new}: {change.reason}"
        self.events.insertItem(0, f"{clock}  {name}  {text}")
        self.events.item(0).setForeground(_colour(change.new))
        while self.events.count() > MAX_EVENTS:
            self.events.takeItem(self.events.count() - 1)
        if self.settings.monitor.notify:
            self.notifier.notify(f"{name} is {change.new}", text, change.new)

    # --- graph -------------------------------------------------------------------------
    @property
    def window_s(self) -> int:
        return self.window_box.currentData()

    def _window_changed(self) -> None:
        self.settings.monitor.window_s = self.window_s
        self._mark_dirty()

    def _series_changed(self) -> None:
        self.settings.monitor.plotted = [m for m, a in self.series_actions.items() if a.isChecked()]
        self._mark_dirty()

    def set_paused(self, paused: bool) -> None:
        """Freeze the graph (sampling goes on); resuming jumps back to live."""
        self.paused_at = time.time() if paused else None
        self.pause_button.setChecked(paused)
        self.pause_button.setText("Resume" if paused else "Pause")
        if self.graph is not None:
            self.graph.set_interactive(paused)
        self._dirty = True
        self.redraw()

    def _mark_dirty(self) -> None:
        self._dirty = True

    def _maybe_redraw(self) -> None:
        if self._dirty and self.paused_at is None and self.isVisible():
            self.redraw()

    def shown_end(self) -> float:
        """The right edge of what the graph shows: now, or the moment of pausing."""
        return self.paused_at if self.paused_at is not None else time.time()

    def redraw(self) -> None:
        if self.graph is None:
            return
        self._dirty = False
        end, seconds = self.shown_end(), self.window_s
        series = {}
        for name, poller in self.hub.pollers.items():
            for metric in self.settings.monitor.plotted:
                history = poller.history.series.get(metric)
                if history is not None and len(history):
                    series[(name, metric)] = history.window(seconds, end)
        target = self.selected_target()
        levels = None if target is None else (target.warning_mb, target.critical_mb)
        self.graph.show_window(end - seconds, end, series, levels)
        self.redrawn.emit()

    # --- export ------------------------------------------------------------------------
    def ask_export_csv(self) -> None:
        target = self.selected_target()
        if target is None:
            self.show_message("Add a target first: there is nothing to export.")
            return
        safe = "".join(c if c.isalnum() or c in "-_" else "-" for c in target.name)
        default = Path.home() / f"fibuca-{safe}-{datetime.now():%Y%m%d-%H%M}.csv"
        path, _ = QFileDialog.getSaveFileName(self, "Export CSV", str(default), "CSV (*.csv)")
        if path:
            self.export_csv(path)

    def export_csv(self, path: str | Path) -> int | None:
        """Write the selected target's shown window to ``path``; the number of rows, or None."""
        target = self.selected_target()
        if target is None:
            return None
        history = self.hub.pollers[target.name].history
        try:
            rows = history.to_csv(path, self.window_s, now=self.shown_end())
        except OutputError as error:
            self.show_message(str(error))
            return None
        self.show_message(f"Exported {rows} samples of {target.name} to {path}.")
        return rows

    def shutdown(self) -> None:
        self._forget_removed()
        self._timer.stop()
        self.hub.shutdown()
        self.notifier.close()


def _titled(title: str, widget: QWidget) -> QWidget:
    box = QWidget()
    layout = QVBoxLayout(box)
    layout.setContentsMargins(0, 0, 0, 0)
    layout.setSpacing(2)
    layout.addWidget(QLabel(f"<b>{title}</b>"))
    layout.addWidget(widget)
    return box


def _colour(state: State) -> QColor:
    return QColor(STATE_COLOURS[state])
