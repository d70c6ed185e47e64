"""The Monitor tab: targets with their state badges, state events, and the live graph below.

The panel only reads: polls happen on the ``MonitorHub``'s poll threads; the graph and its
controls are a ``GraphViewWidget``.
"""

from __future__ import annotations

import logging
from datetime import datetime

from PySide6.QtCore import QItemSelectionModel, Qt
from PySide6.QtGui import QColor
from PySide6.QtWidgets import (
    QAbstractItemView,
    QHBoxLayout,
    QHeaderView,
    QLabel,
    QListWidget,
    QMenu,
    QPushButton,
    QSplitter,
    QTableView,
    QVBoxLayout,
    QWidget,
)

from fibuca_desktop.core.monitor.pm2_source import find_pm2
from fibuca_desktop.core.monitor.poller import PollOutcome
from fibuca_desktop.core.monitor.restarts import CrashLoop
from fibuca_desktop.core.monitor.targets import KEYRING_SERVICE, PM2, MonitorTarget
from fibuca_desktop.core.monitor.thresholds import State
from fibuca_desktop.core.secrets import SecretStoreUnavailable, delete_secret, save_secret
from fibuca_desktop.core.settings import Settings
from fibuca_desktop.ui.monitor.graph_view import GraphViewWidget
from fibuca_desktop.ui.monitor.monitor_hub import MonitorHub
from fibuca_desktop.ui.monitor.notifier import StateNotifier
from fibuca_desktop.ui.monitor.pm2_picker import NOT_INSTALLED_TIP, Pm2PickerDialog
from fibuca_desktop.ui.monitor.target_dialog import AddTargetDialog
from fibuca_desktop.ui.monitor.target_table import (
    NAME,
    STATE,
    STATE_COLOURS,
    StateBadgeDelegate,
    TargetTableModel,
)

log = logging.getLogger(__name__)

MAX_EVENTS = 500


class MonitorPanel(QWidget):
    """Receives its hub, the settings it keeps in sync and a notifier; owns no global state."""

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
        self._removed: list[tuple[int, MonitorTarget, object]] = []  # undo stack
        self._build()
        hub.outcome.connect(self._on_outcome)
        hub.state_changed.connect(self._on_state_changed)
        hub.incident.connect(self._on_incident)
        hub.stale_changed.connect(self.model.set_stale)
        for target in list(self.settings.monitor.targets):
            if target.name in hub.pollers:  # the app started watching it already
                self.model.add(target)
            else:
                self._watch(target, save=False)
        if self.model.rowCount():
            self.select(self.model.target_at(0).name)
        hub.start()

    # --- layout ------------------------------------------------------------------------
    def _build(self) -> None:
        self.add_button = QPushButton("Add target…")
        self.add_menu = QMenu(self.add_button)
        self.add_menu.setToolTipsVisible(True)
        self.add_address_action = self.add_menu.addAction(
            "Address or process…", self.ask_add_target
        )
        self.add_pm2_action = self.add_menu.addAction("PM2 processes…", self.ask_add_pm2)
        self.add_menu.aboutToShow.connect(self._update_add_menu)
        self.add_button.setMenu(self.add_menu)
        self._update_add_menu()
        self.edit_button = QPushButton("Levels…")
        self.edit_button.setToolTip("Change the selected target's warning and critical levels")
        self.edit_button.clicked.connect(self.ask_edit_levels)
        self.remove_button = QPushButton("Remove")
        self.remove_button.clicked.connect(self.remove_selected)
        self.undo_button = QPushButton("Undo remove")
        self.undo_button.setEnabled(False)
        self.undo_button.clicked.connect(self.undo_remove)
        toolbar = QHBoxLayout()
        for widget in (self.add_button, self.edit_button, self.remove_button, self.undo_button):
            toolbar.addWidget(widget)
        toolbar.addStretch(1)

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
        self.table.setWordWrap(False)  # one line per target; the tooltip has it all
        self.table.selectionModel().currentRowChanged.connect(lambda *_: self.view.mark_dirty())
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
        top.setStretchFactor(0, 2)
        top.setStretchFactor(1, 1)
        top.setSizes([730, 330])  # the Trend column's "collecting evidence (4 of 10 min)"
        self.view = GraphViewWidget(
            self.hub, self.settings.monitor, self.selected_target, self.show_message
        )
        self.splitter = QSplitter(Qt.Orientation.Vertical)
        self.splitter.setObjectName("monitorSplitter")
        self.splitter.addWidget(top)
        self.splitter.addWidget(self.view)
        self.splitter.setStretchFactor(1, 1)
        self.splitter.setSizes([150, 400])
        layout = QVBoxLayout(self)
        layout.addLayout(toolbar)
        layout.addWidget(self.message)
        layout.addWidget(self.splitter, 1)

    # --- targets -----------------------------------------------------------------------
    def ask_add_target(self) -> None:
        dialog = AddTargetDialog(set(self.hub.pollers), self)
        if dialog.exec() == AddTargetDialog.DialogCode.Accepted:
            self.add_target(dialog.target(), dialog.token)

    def _update_add_menu(self) -> None:
        """PM2's entry works only where `pm2` is on PATH; the tooltip says why not."""
        installed = find_pm2() is not None
        self.add_pm2_action.setEnabled(installed)
        self.add_pm2_action.setToolTip("" if installed else NOT_INSTALLED_TIP)

    def ask_add_pm2(self) -> None:
        watched = {t.pm2_app for t in self.hub.targets.values() if t.kind == PM2 and t.pm2_app}
        dialog = Pm2PickerDialog(self.hub.pm2, set(self.hub.pollers), watched, self)
        if dialog.exec() == Pm2PickerDialog.DialogCode.Accepted:
            for target in dialog.targets():
                self.add_target(target)

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
        self.view.mark_dirty()

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
        self.view.mark_dirty()

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
        self.view.forget_target(name)
        self.undo_button.setEnabled(True)
        self.undo_button.setToolTip(f"Watch {name} again, with its history")
        self.show_message(f"Stopped watching {name}. Undo brings it back with its history.")
        self.view.mark_dirty()

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
        self.view.mark_dirty()

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
        self.view.mark_dirty()

    def _on_state_changed(self, name: str, outcome: PollOutcome) -> None:
        change = outcome.change
        if change.old is None and change.new == State.OK:
            return  # a target starting healthy is not news
        old = "new" if change.old is None else str(change.old)
        text = f"{old} → {change.new}: {change.reason}"
        self._list_event(change.time, name, text, change.new)
        if self.settings.monitor.notify:
            self.notifier.notify(f"{name} is {change.new}", text, change.new)

    def _on_incident(self, name: str, outcome: PollOutcome) -> None:
        """A restart, a crash loop (CRITICAL) or a leak newly suspected: listed, and notified
        once each (a leak before WARNING is reached, which is the point of calling it)."""
        notify = self.settings.monitor.notify
        for event in outcome.events:
            loop = isinstance(event, CrashLoop)
            state = State.CRITICAL if loop else State.WARNING
            self._list_event(event.time, name, event.reason, state)
            if not loop:
                self.view.mark_restart(name, event.time)
            if notify and loop:
                self.notifier.notify(f"{name} is in a crash loop", event.reason, State.CRITICAL)
        if outcome.leak_alert:
            text = f"leak suspected: {outcome.leak_alert}"
            self._list_event(outcome.sample.time, name, text, State.WARNING)
            if notify:
                self.notifier.notify(f"{name}: leak suspected", outcome.leak_alert, State.WARNING)

    def _list_event(self, time: float, name: str, text: str, state: State) -> None:
        clock = datetime.fromtimestamp(time).strftime("%H:%M:%S")
        self.events.insertItem(0, f"{clock}  {name}  {text}")
        self.events.item(0).setForeground(_colour(state))
        while self.events.count() > MAX_EVENTS:
            self.events.takeItem(self.events.count() - 1)

    def shutdown(self) -> None:
        self._forget_removed()
        self.view.stop()
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
