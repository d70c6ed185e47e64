"""Add target… > PM2 processes: pick apps from `pm2 jlist` to watch, each one a target.

PM2 is asked off the UI thread (`pm2 jlist` starts a Node process and may take up to its 5 s
deadline); the dialog says so meanwhile and stays usable. Only what ``Pm2App`` whitelists is
shown (name, state, PID, restarts, memory, CPU): never the apps' environments or arguments.
"""

from __future__ import annotations

import threading
from concurrent.futures import Future

from PySide6.QtCore import Qt, QTimer
from PySide6.QtWidgets import (
    QAbstractItemView,
    QDialog,
    QDialogButtonBox,
    QFormLayout,
    QHBoxLayout,
    QHeaderView,
    QLabel,
    QPushButton,
    QTreeWidget,
    QTreeWidgetItem,
    QVBoxLayout,
    QWidget,
)

from fibuca_desktop.core.monitor.pm2_source import CPU_PERCENT, Pm2App, Pm2Listing
from fibuca_desktop.core.monitor.samples import RSS_MB
from fibuca_desktop.core.monitor.targets import PM2, MonitorTarget, suggest_name
from fibuca_desktop.ui.monitor.target_dialog import mb_box

COLUMNS = ("App", "State", "PID", "Restarts", "Memory", "CPU")
APP, STATE, PID, RESTARTS, MEMORY, CPU = range(len(COLUMNS))
CHECK_MS = 100  # how often the dialog looks whether PM2 has answered
NOT_INSTALLED_TIP = "PM2 is not installed here: `pm2` is not on PATH (npm install -g pm2)"


class Pm2PickerDialog(QDialog):
    """Lists PM2's apps with a checkbox each; ``targets()`` are the ticked ones, named uniquely.

    ``watched_apps`` are apps some target already watches: listed, but not offered again.
    """

    def __init__(
        self,
        listing: Pm2Listing,
        taken_names: set[str],
        watched_apps: set[str],
        parent: QWidget | None = None,
    ) -> None:
        super().__init__(parent)
        self.setWindowTitle("Watch PM2 apps")
        self.setMinimumWidth(560)
        self.listing = listing
        self._taken = taken_names
        self._watched = watched_apps
        self._asking: Future | None = None
        self.apps: list[Pm2App] = []

        self.status = QLabel()
        self.status.setObjectName("pm2Status")
        self.status.setWordWrap(True)
        self.tree = QTreeWidget()
        self.tree.setObjectName("pm2Apps")
        self.tree.setHeaderLabels(COLUMNS)
        self.tree.setRootIsDecorated(False)
        self.tree.setSelectionMode(QAbstractItemView.SelectionMode.NoSelection)
        header = self.tree.header()
        header.setStretchLastSection(False)
        header.setSectionResizeMode(QHeaderView.ResizeMode.ResizeToContents)
        header.setSectionResizeMode(STATE, QHeaderView.ResizeMode.Stretch)
        self.tree.itemChanged.connect(lambda *_: self._update_ok())
        self.warning = mb_box(350)
        self.critical = mb_box(450)
        self.warning.valueChanged.connect(self._update_ok)
        self.critical.valueChanged.connect(self._update_ok)
        levels = QFormLayout()
        levels.addRow("Warning at (MB of RSS)", self.warning)
        levels.addRow("Critical at (MB of RSS)", self.critical)
        self.refresh_button = QPushButton("Refresh")
        self.refresh_button.clicked.connect(self.refresh)
        self.buttons = QDialogButtonBox(
            QDialogButtonBox.StandardButton.Ok | QDialogButtonBox.StandardButton.Cancel
        )
        self.ok_button = self.buttons.button(QDialogButtonBox.StandardButton.Ok)
        self.ok_button.setText("Watch")
        self.buttons.accepted.connect(self.accept)
        self.buttons.rejected.connect(self.reject)
        bottom = QHBoxLayout()
        bottom.addWidget(self.refresh_button)
        bottom.addStretch(1)
        bottom.addWidget(self.buttons)
        layout = QVBoxLayout(self)
        layout.addWidget(self.status)
        layout.addWidget(self.tree, 1)
        layout.addLayout(levels)
        layout.addLayout(bottom)
        self._timer = QTimer(self)
        self._timer.setInterval(CHECK_MS)
        self._timer.timeout.connect(self._check_answer)
        self.refresh()

    @property
    def busy(self) -> bool:
        """Whether PM2 is still being asked."""
        return self._asking is not None

    def refresh(self) -> None:
        """Ask PM2 for its apps on a thread of its own; the answer fills the list."""
        if self._asking is not None:
            return
        asking: Future = Future()
        listing = self.listing

        def run() -> None:
            try:
                asking.set_result(listing.apps())
            except BaseException as error:  # shown by _check_answer, on the UI thread
                asking.set_exception(error)

        self._asking = asking
        self.status.setStyleSheet("")
        self.status.setText("Asking PM2 for its apps…")
        self.refresh_button.setEnabled(False)
        self._update_ok()
        threading.Thread(target=run, name="pm2-picker", daemon=True).start()
        self._timer.start()

    def _check_answer(self) -> None:
        if self._asking is None or not self._asking.done():
            return
        asking, self._asking = self._asking, None
        self._timer.stop()
        self.refresh_button.setEnabled(True)
        try:
            apps = asking.result()
        except Exception as error:  # Pm2Unavailable says what to do; anything else, one line
            self._show_problem(str(error) or type(error).__name__)
            return
        self._fill(apps)

    def _show_problem(self, text: str) -> None:
        self.apps = []
        self.tree.clear()
        self.status.setStyleSheet("color: #b00020;")
        self.status.setText(text[:1].upper() + text[1:])
        self._update_ok()

    def _fill(self, apps: list[Pm2App]) -> None:
        checked = set(self.chosen_apps())
        self.apps = apps
        self.tree.blockSignals(True)
        self.tree.clear()
        counts: dict[str, int] = {}
        for app in apps:
            counts[app.name] = counts.get(app.name, 0) + 1
        shown: set[str] = set()
        for app in apps:
            if app.name in shown:  # a cluster's instances: one row for the name
                continue
            shown.add(app.name)
            self.tree.addTopLevelItem(self._item(app, counts[app.name], app.name in checked))
        self.tree.blockSignals(False)
        if not apps:
            self.status.setText("PM2 runs no apps. Start one with `pm2 start app.js`.")
        else:
            self.status.setText("Tick the apps to watch. Each becomes a target of its own.")
        self._update_ok()

    def _item(self, app: Pm2App, instances: int, checked: bool) -> QTreeWidgetItem:
        metrics = dict(app.metrics)
        rss, cpu = metrics.get(RSS_MB), metrics.get(CPU_PERCENT)
        item = QTreeWidgetItem(
            [
                app.name,
                app.status or "–",
                "–" if app.pid is None else str(app.pid),
                "–" if app.restarts is None else str(app.restarts),
                "–" if rss is None else f"{rss:.0f} MB",
                "–" if cpu is None else f"{cpu:.0f}%",
            ]
        )
        item.setData(APP, Qt.ItemDataRole.UserRole, app.name)
        for column in (PID, RESTARTS, MEMORY, CPU):
            item.setTextAlignment(column, Qt.AlignmentFlag.AlignRight)
        why = None
        if app.name in self._watched:
            why = "Already watched"
        elif instances > 1:
            why = (
                f"Runs {instances} instances (cluster mode): watching a cluster is not supported "
                "yet; watch each instance's /metrics instead"
            )
        if why is None:
            item.setCheckState(APP, Qt.CheckState.Checked if checked else Qt.CheckState.Unchecked)
        else:
            off = Qt.ItemFlag.ItemIsEnabled | Qt.ItemFlag.ItemIsUserCheckable
            item.setFlags(item.flags() & ~off)
            item.setText(STATE, f"{app.status or '–'} · {why.split(':')[0].lower()}")
            for column in range(len(COLUMNS)):
                item.setToolTip(column, why)
        return item

    def chosen_apps(self) -> list[str]:
        """The names of the ticked apps, in the list's order."""
        names = []
        for row in range(self.tree.topLevelItemCount()):
            item = self.tree.topLevelItem(row)
            if item.checkState(APP) == Qt.CheckState.Checked:
                names.append(item.data(APP, Qt.ItemDataRole.UserRole))
        return names

    def set_checked(self, app: str, checked: bool = True) -> None:
        """Tick (or untick) an app by name, as a click on its box does."""
        for row in range(self.tree.topLevelItemCount()):
            item = self.tree.topLevelItem(row)
            offered = item.flags() & Qt.ItemFlag.ItemIsUserCheckable
            if item.data(APP, Qt.ItemDataRole.UserRole) == app and offered:
                state = Qt.CheckState.Checked if checked else Qt.CheckState.Unchecked
                item.setCheckState(APP, state)
                return
        raise KeyError(f"PM2 lists no app {app!r} that can be watched")

    def targets(self) -> list[MonitorTarget]:
        """One target per ticked app, each with a name no watched target (or sibling) has."""
        taken = set(self._taken)
        targets = []
        for app in self.chosen_apps():
            draft = MonitorTarget(
                "",
                PM2,
                pm2_app=app,
                warning_mb=self.warning.value(),
                critical_mb=self.critical.value(),
            )
            draft.name = suggest_name(draft, taken)
            draft.check("target")
            taken.add(draft.name)
            targets.append(draft)
        return targets

    def _update_ok(self) -> None:
        levels_ok = self.warning.value() < self.critical.value()
        self.ok_button.setEnabled(not self.busy and levels_ok and bool(self.chosen_apps()))
        self.ok_button.setToolTip("" if levels_ok else "The warning level must be below critical")

    def done(self, result: int) -> None:
        self._timer.stop()  # a late answer has nowhere to go; its thread ends at the deadline
        super().done(result)
