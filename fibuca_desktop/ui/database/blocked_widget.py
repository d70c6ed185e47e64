"""The "Blocked now" page: the lock tree (who is blocking whom), refreshed while it is visible,
and Cancel / Terminate for a selected blocker.

The widget only shows and asks: it emits ``refresh_requested`` (Refresh, and every few seconds
while the page is on screen) and ``end_requested(pid, terminate)`` after the person confirmed;
the panel runs the queries on its workers and calls ``show_*`` back. Cancel and Terminate are
enabled only for a session that blocks others, and only with read-only mode off.
"""

from __future__ import annotations

import time
from typing import TYPE_CHECKING

from PySide6.QtCore import Qt, QTimer, Signal
from PySide6.QtGui import QBrush, QColor
from PySide6.QtWidgets import (
    QAbstractItemView,
    QCheckBox,
    QHBoxLayout,
    QHeaderView,
    QLabel,
    QMessageBox,
    QPushButton,
    QTreeWidget,
    QTreeWidgetItem,
    QVBoxLayout,
    QWidget,
)

from fibuca_desktop.ui.database.connect_bar import ERROR_STYLE, OK_STYLE

if TYPE_CHECKING:
    from fibuca_desktop.core.database.blocking import BlockedSession, LockTree
    from fibuca_desktop.core.database.session_ending import EndResult

AUTO_REFRESH_MS = 3000
COLUMNS = ["PID", "Application", "User", "State", "For (s)", "Wait event", "Blocks", "Query"]
SECONDS_TIP = "A waiter: how long it has waited for its lock. A blocker: how long in its state."
PADDING_PX = 14  # between columns sized to their contents
PID, APPLICATION, USER, STATE, SECONDS, WAIT, BLOCKS, QUERY = range(len(COLUMNS))
BLOCKER = QColor("#ffe0b2")  # a root: the session holding the others up
READ_ONLY_TIP = "Turn read-only mode off (the connect bar) to cancel or terminate a session."
PICK_TIP = (
    "Select a session that blocks others (a top-level row, or one with waiters below it); pid 0 "
    "is a prepared transaction: COMMIT PREPARED or ROLLBACK PREPARED ends it."
)


class BlockedNowWidget(QWidget):
    """Emits ``refresh_requested()`` and ``end_requested(pid, terminate)``."""

    refresh_requested = Signal()
    end_requested = Signal(int, bool)

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self._writable = False
        self._sessions: dict[int, BlockedSession] = {}
        self.summary = QLabel("Not read yet.")
        self.summary.setWordWrap(True)
        self.refresh_button = QPushButton("Refresh")
        self.refresh_button.clicked.connect(self.refresh_requested)
        self.auto_box = QCheckBox(f"Every {AUTO_REFRESH_MS // 1000} s")
        self.auto_box.setChecked(True)
        self.auto_box.setToolTip("Refresh by itself while this page is on screen")
        self.cancel_button = QPushButton("Cancel query…")
        self.cancel_button.clicked.connect(lambda: self._confirm_end(terminate=False))
        self.terminate_button = QPushButton("Terminate session…")
        self.terminate_button.clicked.connect(lambda: self._confirm_end(terminate=True))
        self.outcome = QLabel()
        self.outcome.setWordWrap(True)
        self.outcome.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self.tree = QTreeWidget()
        self.tree.setColumnCount(len(COLUMNS))
        self.tree.setHeaderLabels(COLUMNS)
        self.tree.setSelectionMode(QAbstractItemView.SelectionMode.SingleSelection)
        self.tree.setUniformRowHeights(True)
        self.tree.setWordWrap(False)
        self.tree.headerItem().setToolTip(SECONDS, SECONDS_TIP)
        header = self.tree.header()
        header.setSectionResizeMode(QHeaderView.ResizeMode.Interactive)
        header.setStretchLastSection(True)
        self.tree.itemSelectionChanged.connect(self._update_buttons)
        self.timer = QTimer(self)
        self.timer.setInterval(AUTO_REFRESH_MS)
        self.timer.timeout.connect(self._tick)

        row = QHBoxLayout()
        row.addWidget(self.summary, 1)
        row.addWidget(self.refresh_button)
        row.addWidget(self.auto_box)
        row.addWidget(self.cancel_button)
        row.addWidget(self.terminate_button)
        layout = QVBoxLayout(self)
        layout.addLayout(row)
        layout.addWidget(self.tree, 1)
        layout.addWidget(self.outcome)
        self._update_buttons()

    # -- refreshing -------------------------------------------------------------------------

    def showEvent(self, event) -> None:  # the page came on screen: read now, then every 3 s
        super().showEvent(event)
        self.timer.start()
        self.refresh_requested.emit()

    def hideEvent(self, event) -> None:  # another page or tab: no queries for nobody
        self.timer.stop()
        super().hideEvent(event)

    def _tick(self) -> None:
        if self.auto_box.isChecked():
            self.refresh_requested.emit()

    def show_tree(self, tree: LockTree) -> None:
        """Replace the tree, keeping the selected session selected while it is still there."""
        selected = self.selected_pid()
        self.tree.clear()
        self._sessions = {}
        for root in tree.roots:
            self.tree.addTopLevelItem(self._item(root, is_root=True))
        self.tree.expandAll()
        for column in range(len(COLUMNS) - 1):  # the query takes the rest
            self.tree.resizeColumnToContents(column)
            self.tree.setColumnWidth(column, self.tree.columnWidth(column) + PADDING_PX)
        waiting = sum(1 for _d, node in tree.walk() if node.blocked_by and not node.repeated)
        if not tree.roots:
            text = "No session of this database is waiting for a lock."
        else:
            text = (
                f"{waiting} session(s) waiting behind {len(tree.roots)} blocker(s) (orange); "
                "select a blocker to cancel its query or terminate it."
            )
        if tree.truncated:
            text += f" Showing the {tree.limit} most blocking sessions: more are blocked."
        self.summary.setStyleSheet("")
        self.summary.setText(f"{text} Read at {time.strftime('%H:%M:%S')}.")
        if selected is not None:
            self._select(selected)
        self._update_buttons()

    def _item(self, node: BlockedSession, is_root: bool) -> QTreeWidgetItem:
        """The row of ``node`` and, iteratively, the rows of everything below it."""
        top = self._row(node, is_root)
        stack = [(top, node)]
        while stack:
            item, session = stack.pop()
            for child in session.children:
                child_item = self._row(child, False)
                item.addChild(child_item)
                stack.append((child_item, child))
        return top

    def _row(self, node: BlockedSession, is_root: bool) -> QTreeWidgetItem:
        item = QTreeWidgetItem()
        values = [
            node.pid,
            node.application,
            node.user,
            node.state,
            f"{node.wait_seconds:.1f}",
            node.wait_event,
            node.blocks,
            node.query,
        ]
        if node.repeated:
            values[QUERY] = "(also waits here; its waiters are listed at its first place)"
        for column, value in enumerate(values):
            item.setData(column, Qt.ItemDataRole.DisplayRole, value)
        item.setData(PID, Qt.ItemDataRole.UserRole, node.pid)
        item.setToolTip(QUERY, node.query)
        item.setToolTip(SECONDS, "waiting for its lock" if node.blocked_by else "in this state")
        if is_root:
            for column in range(len(COLUMNS)):
                item.setBackground(column, QBrush(BLOCKER))
        if not node.repeated:
            self._sessions[node.pid] = node
        return item

    def show_error(self, message: str) -> None:
        """The last tree stays; the summary says the refresh failed and why."""
        self.summary.setStyleSheet(ERROR_STYLE)
        self.summary.setText(f"Could not read the lock tree: {message}")

    # -- cancelling and terminating ---------------------------------------------------------

    def set_writable(self, writable: bool) -> None:
        self._writable = writable
        self._update_buttons()

    def selected_pid(self) -> int | None:
        items = self.tree.selectedItems()
        return None if not items else int(items[0].data(PID, Qt.ItemDataRole.UserRole))

    def selected_blocker(self) -> BlockedSession | None:
        pid = self.selected_pid()
        session = self._sessions.get(pid) if pid else None  # 0: a prepared transaction
        return session if session is not None and session.blocks > 0 else None

    def _select(self, pid: int) -> None:
        for item in self._items():
            if int(item.data(PID, Qt.ItemDataRole.UserRole)) == pid:
                self.tree.setCurrentItem(item)
                return

    def _items(self) -> list[QTreeWidgetItem]:
        items, stack = [], [self.tree.topLevelItem(i) for i in range(self.tree.topLevelItemCount())]
        while stack:
            item = stack.pop()
            items.append(item)
            stack.extend(item.child(i) for i in range(item.childCount()))
        return items

    def _update_buttons(self) -> None:
        enabled = self._writable and self.selected_blocker() is not None
        tip = "" if enabled else READ_ONLY_TIP if not self._writable else PICK_TIP
        for button in (self.cancel_button, self.terminate_button):
            button.setEnabled(enabled)
            button.setToolTip(tip)

    def _confirm_end(self, terminate: bool) -> None:
        blocker = self.selected_blocker()
        if blocker is None or not self._writable:
            return
        app = f", application {blocker.application!r}" if blocker.application else ""
        who = f"pid {blocker.pid} (user {blocker.user or '?'}{app}, {blocker.state})"
        if terminate:
            title = f"Terminate pid {blocker.pid}?"
            text = (
                f"Terminate the session of {who}? Its transaction is rolled back, its locks are "
                f"freed and its client loses the connection. It blocks {blocker.blocks} "
                "session(s)."
            )
        else:
            title = f"Cancel the query of pid {blocker.pid}?"
            text = (
                f"Cancel the running query of {who}? The session stays connected. A session "
                "idle in transaction has no query to cancel and keeps its locks: terminate it "
                f"instead. It blocks {blocker.blocks} session(s)."
            )
        answer = QMessageBox.question(self, title, text)
        if answer == QMessageBox.StandardButton.Yes:
            self.outcome.setStyleSheet("")
            self.outcome.setText(f"{'Terminating' if terminate else 'Cancelling'} {who}…")
            self.end_requested.emit(blocker.pid, terminate)

    def show_outcome(self, result: EndResult) -> None:
        failed = result.outcome in ("no effect", "not permitted")
        self.outcome.setStyleSheet(ERROR_STYLE if failed else OK_STYLE)
        self.outcome.setText(result.message)

    def show_end_error(self, message: str) -> None:
        self.outcome.setStyleSheet(ERROR_STYLE)
        self.outcome.setText(message)
