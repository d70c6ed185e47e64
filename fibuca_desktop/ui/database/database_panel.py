"""The Database tab: connect to Fibuca's PostgreSQL, see its health and slow queries, apply
the indexes the planner confirms.

The panel receives its settings and a session factory; the ``DatabaseSession`` is created when
the user connects (nothing database-related exists at start-up, and SQLAlchemy is imported only
then). Every query runs on the session's bounded workers; results come back through
``TaskBridge`` signals, newest request of each kind only. Index builds run on a small pool of
their own (two threads: the build, and its cancel or clean-up); cancelling or terminating a
blocker on the "Blocked now" page, a write too, runs there as well. The page's auto-refresh
skips a tick while its previous read is still running, so a slow server never piles them up.

On close, a running build is not left half-done silently: the window asks first, and quitting
cancels the build and drops the INVALID index it leaves (``IndexBuildWidget.stop_for_exit``).
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import TYPE_CHECKING

from PySide6.QtCore import QTimer
from PySide6.QtWidgets import (
    QDialog,
    QMessageBox,
    QTabWidget,
    QVBoxLayout,
    QWidget,
)

from fibuca_desktop.core.database.database_settings import url_without_password
from fibuca_desktop.core.errors import DatabaseUnavailable, FibucaError, UsageError
from fibuca_desktop.core.settings import Settings
from fibuca_desktop.ui.database.advisor_widget import AdvisorWidget
from fibuca_desktop.ui.database.apply_dialog import ApplyIndexDialog
from fibuca_desktop.ui.database.blocked_widget import BlockedNowWidget
from fibuca_desktop.ui.database.budget_widget import BudgetWidget
from fibuca_desktop.ui.database.connect_bar import ConnectBarWidget
from fibuca_desktop.ui.database.filling_page import scrolled
from fibuca_desktop.ui.database.index_build_widget import IndexBuildWidget
from fibuca_desktop.ui.database.overfetch_widget import OverfetchWidget
from fibuca_desktop.ui.database.overview_widget import OverviewWidget
from fibuca_desktop.ui.database.plan_tree_widget import PlanTreeWidget
from fibuca_desktop.ui.database.slow_queries_widget import SlowQueriesWidget
from fibuca_desktop.ui.database.suggestion_export import export_suggestions
from fibuca_desktop.ui.database.task_bridge import TaskBridge

if TYPE_CHECKING:
    from fibuca_desktop.core.database.index_build import IndexBuilder, IndexPlan
    from fibuca_desktop.core.database.index_suggestion import IndexSuggestion
    from fibuca_desktop.core.database.session import DatabaseSession

log = logging.getLogger(__name__)

SessionFactory = Callable[[str, bool], "DatabaseSession"]  # (url, read_only) -> session
POOL_REFRESH_MS = 1000
BLOCKED_LIMIT = 200  # sessions in the lock tree: the most blocking first


def _work():
    """The worker functions (and SQLAlchemy with them), imported on first connect."""
    from fibuca_desktop.ui.database import database_work

    return database_work


class DatabasePanel(QWidget):
    def __init__(
        self,
        settings: Settings,
        session_factory: SessionFactory | None = None,
        parent: QWidget | None = None,
    ) -> None:
        super().__init__(parent)
        self.setObjectName("databasePanel")
        self.settings = settings
        self._session_factory = session_factory
        self.session: DatabaseSession | None = None
        self.connected = False
        self._url: str | None = None
        self._problem_shown = False
        self.bridge = TaskBridge(self)
        self.build_pool = ThreadPoolExecutor(2, thread_name_prefix="fibuca-db-build")

        database = settings.database
        self.connect_bar = ConnectBarWidget(database.last_url)
        self.connect_bar.connect_requested.connect(self.connect_to)
        self.connect_bar.disconnect_requested.connect(self.disconnect)
        self.connect_bar.read_only_changed.connect(self._read_only_changed)
        self.overview = OverviewWidget()
        self.overview.refresh_requested.connect(self.refresh_overview)
        self.slow = SlowQueriesWidget(database.min_mean_ms, database.min_calls)
        self.slow.refresh_requested.connect(self.refresh_slow_queries)
        self.slow.explain_requested.connect(self.explain)
        self.plan = PlanTreeWidget()
        self.overfetch = OverfetchWidget()
        self.overfetch.refresh_requested.connect(self.refresh_overfetch)
        self.overfetch.measure_requested.connect(self.measure_serialized)
        self.advisor = AdvisorWidget()
        self.advisor.max_statements.setValue(database.advise_max_statements)
        self.advisor.advise_requested.connect(self.advise)
        self.advisor.apply_requested.connect(self.apply)
        self.advisor.export_requested.connect(self.export)
        self.build = IndexBuildWidget(self.build_pool, self.bridge)
        self.build.busy_changed.connect(self._build_busy)
        self.build.finished.connect(self._build_finished)
        self.build.measure_requested.connect(self.measure)
        self.blocked = BlockedNowWidget()
        self.blocked.refresh_requested.connect(self.refresh_blocked)
        self.blocked.end_requested.connect(self.end_blocker)
        self.budget = BudgetWidget(database.budget_ram_mb, database.budget_instances)
        self.budget.refresh_requested.connect(self.refresh_budget)
        advisor_page = QWidget()
        advisor_layout = QVBoxLayout(advisor_page)
        advisor_layout.addWidget(self.advisor, 1)
        advisor_layout.addWidget(self.build)
        self.tabs = QTabWidget()
        self.tabs.addTab(scrolled(self.overview), "Overview")
        self.tabs.addTab(self.slow, "Slow queries")
        self.tabs.addTab(self.plan, "Explain")
        self.tabs.addTab(self.overfetch, "Over-fetching")
        self.advisor_page = scrolled(advisor_page)
        self.tabs.addTab(self.advisor_page, "Index advisor")
        self.tabs.addTab(self.blocked, "Blocked now")
        self.tabs.addTab(self.budget, "Memory budget")
        self.tabs.setEnabled(False)
        self.tabs.currentChanged.connect(self._page_shown)
        layout = QVBoxLayout(self)
        layout.addWidget(self.connect_bar)
        layout.addWidget(self.tabs, 1)
        self.pool_timer = QTimer(self)
        self.pool_timer.setInterval(POOL_REFRESH_MS)
        self.pool_timer.timeout.connect(self.refresh_pool)

    # -- connection -----------------------------------------------------------------------

    def connect_to(self, url: str) -> None:
        """Open a session for ``url`` and check it with a first overview (off the GUI thread)."""
        if self.build.building:
            self.connect_bar.show_error(
                "An index build is running: wait for it or cancel it first.", connected=True
            )
            return
        self._close_session()
        factory = self._session_factory or _work().default_session
        try:
            session = factory(url, self.connect_bar.read_only)
        except FibucaError as error:  # not a URL, unsupported scheme, no database name
            self.connect_bar.show_error(str(error), connected=False)
            return
        self.session, self._url = session, url
        self.connect_bar.url_note = session.target.encoding_note
        self.connect_bar.show_connecting(session.masked_url)
        self._request("overview", _work().overview, on_result=self._connected)

    def _connected(self, view) -> None:
        self.connected = True
        self._problem_shown = False
        self.connect_bar.show_connected(
            self.session.masked_url, f"PostgreSQL {view.server_version}"
        )
        self.tabs.setEnabled(True)
        self.overview.show_overview(view)
        self.overfetch.set_server(view.server_version_num, view.server_version)
        self.advisor.set_writable(not self.session.read_only)
        self.blocked.set_writable(not self.session.read_only)
        self.settings.database.last_url = url_without_password(self._url or "")
        self.refresh_pool()
        self.pool_timer.start()
        self.slow.request_refresh()
        if self.blocked.isVisible():  # connected with the page on screen: read it now
            self.refresh_blocked()

    def disconnect(self) -> None:
        if self.build.building:
            self.connect_bar.show_error(
                "An index build is running: wait for it or cancel it first.", connected=True
            )
            return
        self._close_session()
        self.connect_bar.show_disconnected()

    def _close_session(self) -> None:
        self.bridge.forget()  # whatever the old session still delivers is ignored
        self.overfetch.loaded = False
        self.budget.loaded = False
        self.pool_timer.stop()
        self.connected = False
        self.tabs.setEnabled(False)
        self.advisor.set_writable(False)
        self.blocked.set_writable(False)
        if self.session is not None:
            # close() waits for running queries: never on the GUI thread.
            self.build_pool.submit(self.session.close)
            self.session = None

    def refresh_pool(self) -> None:
        if self.session is not None:
            status = self.session.pool_status()  # counters only, no query
            self.connect_bar.show_pool(status.size, status.checked_out, status.waiting)

    def _read_only_changed(self, read_only: bool) -> None:
        if self.session is not None:
            self.session.read_only = read_only
        self.advisor.set_writable(self.connected and not read_only)
        self.blocked.set_writable(self.connected and not read_only)

    # -- requests ---------------------------------------------------------------------------

    def _request(self, kind: str, work, *args, on_result, on_error=None) -> None:
        if self.session is None:
            return
        future = self.session.submit(work, *args)
        self.bridge.watch(kind, future, self._succeeded(on_result), on_error or self._failed)

    def _succeeded(self, on_result):
        def deliver(result) -> None:
            if self._problem_shown and self.session is not None:  # the server is back
                self._problem_shown = False
                self.connect_bar.show_connected(self.session.masked_url, "connection restored")
            on_result(result)

        return deliver

    def _failed(self, error: BaseException) -> None:
        if not isinstance(error, FibucaError):
            log.error("database request failed unexpectedly", exc_info=error)
        if not self.connected:  # the first request: the connection itself failed
            message = str(error)
            self._close_session()
            self.connect_bar.show_error(message, connected=False)
            return
        self._problem_shown = True
        self.connect_bar.show_error(str(error), connected=True)
        if isinstance(error, DatabaseUnavailable):
            log.warning("%s", error)

    def refresh_overview(self) -> None:
        self._request("overview", _work().overview, on_result=self.overview.show_overview)

    def refresh_slow_queries(self, min_mean_ms: float, min_calls: int) -> None:
        thresholds = self._thresholds(min_mean_ms, min_calls)
        self._request("slow", _work().slow_queries, thresholds, on_result=self.slow.show_report)

    def _page_shown(self, _index: int) -> None:
        """The Over-fetching and Memory budget pages read the first time they are shown (the
        first plans up to 100 statements: not worth doing at every connect)."""
        shown = self.tabs.currentWidget()
        for page in (self.overfetch, self.budget):
            if shown is page and self.connected and not page.loaded:
                page.request_refresh()

    def refresh_overfetch(self, include_all: bool) -> None:
        def failed(error: BaseException) -> None:  # never left saying "Reading…"
            self.overfetch.show_error(str(error))
            self._failed(error)

        self._request(
            "overfetch",
            _work().find_overfetch,
            _work().OVERFETCH_LIMIT,
            include_all,
            on_result=self.overfetch.show_report,
            on_error=failed,
        )

    def refresh_budget(self, ram_mb: int, instances: int) -> None:
        self.settings.database.budget_ram_mb = ram_mb  # remembered for the next run
        self.settings.database.budget_instances = instances

        def failed(error: BaseException) -> None:
            self.budget.show_error(str(error))
            self._failed(error)

        self._request(
            "budget",
            _work().memory_budget,
            ram_mb,
            instances,
            on_result=self.budget.show_budget,
            on_error=failed,
        )

    def measure_serialized(self, queryid: str, values: list) -> None:
        """The real bytes of one statement (PostgreSQL 17+), run once off the GUI thread."""

        def failed(error: BaseException) -> None:  # said on the page; the connection's own
            self.overfetch.show_measure_error(queryid, str(error))  # problems in the bar too
            if not isinstance(error, FibucaError) or isinstance(error, DatabaseUnavailable):
                self._failed(error)

        self._request(
            "serialize",
            _work().serialize_work,
            queryid,
            values,
            on_result=self.overfetch.show_measured,
            on_error=failed,
        )

    def _thresholds(self, min_mean_ms: float, min_calls: int):
        """The thresholds as the Slow queries tab shows them, remembered in the settings."""
        self.settings.database.min_mean_ms = float(min_mean_ms)
        self.settings.database.min_calls = int(min_calls)
        return _work().SlowQueryThresholds(float(min_mean_ms), int(min_calls))

    def explain(self, query: str) -> None:
        self.tabs.setCurrentWidget(self.plan)
        self.plan.show_pending(query)

        def failed(error: BaseException) -> None:
            self.plan.show_error(str(error))
            self._failed(error)

        self._request(
            "explain",
            _work().explain_work,
            query,
            on_result=lambda root: self.plan.show_plan(query, root),
            on_error=failed,
        )

    def advise(self) -> None:
        self.advisor.notes.setText("Running the advisor…")
        schema = self.session.schema if self.session else "public"
        thresholds = self._thresholds(self.slow.min_mean.value(), self.slow.min_calls.value())
        limit = self.advisor.max_statements.value()
        self.settings.database.advise_max_statements = limit  # remembered for the next run
        thresholds = _work().SlowQueryThresholds(
            thresholds.min_mean_ms, thresholds.min_calls, limit
        )
        work = _work().advice_work
        built = self.session.built_in(schema) if self.session else {}

        def failed(error: BaseException) -> None:  # never left saying "Running…"
            self.advisor.notes.setText(f"The advisor stopped: {error}")
            self._failed(error)

        self._request(
            "advice",
            work,
            schema,
            thresholds,
            built,
            on_result=self.advisor.show_advice,
            on_error=failed,
        )

    # -- blocked now ------------------------------------------------------------------------

    def refresh_blocked(self) -> None:
        """Read the lock tree, unless the last read is still running (a slow server)."""
        if not self.connected or self.bridge.pending("blocked"):
            return

        def failed(error: BaseException) -> None:
            self.blocked.show_error(str(error))
            self._failed(error)

        self._request(
            "blocked",
            _work().blocking_tree,
            BLOCKED_LIMIT,
            on_result=self.blocked.show_tree,
            on_error=failed,
        )

    def end_blocker(self, pid: int, terminate: bool) -> None:
        """Cancel or terminate ``pid`` (the person confirmed), then read the tree again."""
        if self.session is None:
            return
        future = self.build_pool.submit(_work().end_session, self.session, pid, terminate=terminate)

        def ended(result) -> None:
            self.blocked.show_outcome(result)
            self.refresh_blocked()

        def failed(error: BaseException) -> None:
            if not isinstance(error, FibucaError):
                log.error("ending pid %s failed unexpectedly", pid, exc_info=error)
            self.blocked.show_end_error(str(error))

        self.bridge.watch("end", future, ended, failed)

    # -- apply and export -------------------------------------------------------------------

    def apply(self, suggestion: IndexSuggestion) -> None:
        """Plan the build (reads the catalog, off the GUI thread), then confirm and build."""
        if self.session is None:
            return
        builder = _work().IndexBuilder(self.session)
        future = self.build_pool.submit(builder.plan_suggestion, suggestion)
        self.bridge.watch(
            "plan", future, lambda plan: self.confirm_and_build(builder, plan), self._failed
        )

    def confirm_and_build(self, builder: IndexBuilder, plan: IndexPlan) -> bool:
        """Show the exact SQL; build only when the person accepts. Returns whether it started."""
        if self.session is None or self.build.building:
            return False
        dialog = ApplyIndexDialog(plan, self.session.masked_url, self)
        if dialog.exec() != QDialog.DialogCode.Accepted:
            return False
        self.build.start(builder, dialog.plan())
        return True

    def _build_busy(self, busy: bool) -> None:
        self.advisor.set_busy(busy)
        self.connect_bar.disconnect_button.setEnabled(self.connected and not busy)

    def _build_finished(self, outcome) -> None:
        if not isinstance(outcome, BaseException) and self.connected:
            self.advise()  # the built index no longer shows as a suggestion

    def measure(self, index: str) -> None:
        """What the index built last really did, from the snapshot kept at its build."""
        if self.session is None:
            return

        def failed(error: BaseException) -> None:
            self.build.show_effect_error(error)
            if not isinstance(error, UsageError):  # no snapshot: said beside the button only
                self._failed(error)

        self._request(
            "measure",
            _work().measure_in,
            self.session.target.server,
            self.session.schema,
            index,
            on_result=self.build.show_effect,
            on_error=failed,
        )

    def export(self, kind: str) -> None:
        written = export_suggestions(self, kind, self.advisor.chosen())
        if written is not None:
            self.advisor.notes.setText(
                f"Wrote {len(self.advisor.chosen())} index(es) to {written}."
            )

    # -- closing ----------------------------------------------------------------------------

    def may_close(self, parent: QWidget | None = None) -> bool:
        """Ask before quitting during a build; True when there is none or the person agrees."""
        if not self.build.building:
            return True
        answer = QMessageBox.question(
            parent or self,
            "An index build is running",
            "Quit anyway? Fibuca cancels the build and drops the INVALID index it leaves behind, "
            "so the table is as it was before the build.",
        )
        return answer == QMessageBox.StandardButton.Yes

    def shutdown(self) -> None:
        """Cancel a running build and clean up after it, then close the session and the pools."""
        self.pool_timer.stop()
        self.blocked.timer.stop()
        self.bridge.forget()
        outcome = self.build.stop_for_exit()
        if outcome:
            log.warning("index build at exit: %s", outcome)
        if self.session is not None:
            self.session.close()
            self.session = None
        self.build_pool.shutdown(wait=True, cancel_futures=True)
