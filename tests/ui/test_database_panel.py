"""The Database panel with real widgets offscreen against the real throwaway PostgreSQL cluster.

The panel gets its own copy of the Prisma-style shop (``shop_panel``) because these tests build
and drop indexes in it; the session-wide ``plain_url`` (no hypopg) is only read.
"""

from __future__ import annotations

import contextlib
import os
import subprocess
import sys
import threading
import time

import psycopg2
import pytest
from PySide6.QtCore import Qt, QTimer
from PySide6.QtWidgets import QApplication, QLabel, QLineEdit, QMessageBox

from fibuca_desktop.core.database.connection import PoolSettings
from fibuca_desktop.core.database.index_build import IndexBuilder
from fibuca_desktop.core.database.migration_export import migration_sql
from fibuca_desktop.core.database.session import DatabaseSession
from fibuca_desktop.core.settings import Settings
from fibuca_desktop.ui.database.advisor_widget import READ_ONLY_TIP, VERIFIED
from fibuca_desktop.ui.database.apply_dialog import ApplyIndexDialog
from fibuca_desktop.ui.database.database_panel import DatabasePanel
from fibuca_desktop.ui.database.index_build_widget import BAR_MAX, DROP_AND_RETRY, DROP_ONLY
from fibuca_desktop.ui.database.overfetch_widget import PRISMA, TABLE, WIDE
from fibuca_desktop.ui.database.overview_widget import FLAG
from fibuca_desktop.ui.database.plan_tree_widget import SEQ_SCAN_HIGHLIGHT
from fibuca_desktop.ui.database.slow_queries_widget import CALLS, MEAN, SOURCE
from tests.pg_cluster import PASSWORD
from tests.shop_schema import (
    ORDERS_OF_USER,
    PAGE_TITLES,
    PAGES_FIND_MANY,
    USER_BY_ID,
    normalised,
    open_writer,
    run_workload,
)

WAIT_MS = 60_000
EXPECTED = {
    ("Order", ("userId", "createdAt")),
    ("OrderItem", ("orderId",)),
    ("OrderItem", ("productId",)),
    ('Audit "Log"', ('actor"Id',)),
}


@pytest.fixture(scope="module")
def panel_url(pg_cluster) -> str:
    """A private shop with hypopg, the Prisma workload and a duplicate index."""
    url = pg_cluster.clone("shop_panel", ("pg_stat_statements", "hypopg"))
    with contextlib.closing(psycopg2.connect(url)) as connection:
        connection.autocommit = True
        run_workload(connection)
        with connection.cursor() as cur:
            cur.execute('CREATE INDEX "User_email_idx" ON "User" ("email")')
    return url


@pytest.fixture
def make_panel(qtbot):
    panels = []

    def make(
        statement_timeout_s: float | None = None, lock_timeout_s: float | None = None
    ) -> DatabasePanel:
        factory = None
        if statement_timeout_s is not None or lock_timeout_s is not None:
            changed = {"statement_timeout_s": statement_timeout_s, "lock_timeout_s": lock_timeout_s}
            changed = {name: value for name, value in changed.items() if value is not None}

            def factory(url: str, read_only: bool) -> DatabaseSession:
                return DatabaseSession(url, PoolSettings(**changed), read_only=read_only)

        panel = DatabasePanel(Settings(), factory)
        qtbot.addWidget(panel)
        panel.resize(1000, 700)
        panel.show()
        panels.append(panel)
        return panel

    yield make
    for panel in panels:
        panel.shutdown()


def connect(qtbot, panel: DatabasePanel, url: str) -> None:
    panel.connect_bar.url_edit.setText(url)
    panel.connect_bar.connect_button.click()
    qtbot.waitUntil(lambda: panel.connected, timeout=WAIT_MS)


def status(panel: DatabasePanel) -> str:
    return panel.connect_bar.status_label.text()


def texts_on_screen(panel: DatabasePanel) -> list[str]:
    return [w.text() for w in panel.findChildren(QLabel) + panel.findChildren(QLineEdit)]


def set_thresholds(panel: DatabasePanel, mean_ms: float, calls: int) -> None:
    panel.slow.min_mean.setValue(mean_ms)
    panel.slow.min_calls.setValue(calls)


class ModalAnswerer:
    """Answers the next modal dialogs as they open (they open after asynchronous work), in
    order: each step is ``(dialog class, callable(dialog))``; records each dialog's text."""

    def __init__(self, *steps) -> None:
        self.steps = list(steps)
        self.seen: list[str] = []
        self.timer = QTimer()
        self.timer.setInterval(20)
        self.timer.timeout.connect(self._poll)
        self.timer.start()

    def _poll(self) -> None:
        dialog = QApplication.activeModalWidget()
        if not self.steps or dialog is None or not isinstance(dialog, self.steps[0][0]):
            return
        _kind, act = self.steps.pop(0)
        self.seen.append(
            dialog.sql_view.toPlainText() if isinstance(dialog, ApplyIndexDialog) else dialog.text()
        )
        act(dialog)
        if not self.steps:
            self.timer.stop()

    @property
    def done(self) -> bool:
        return not self.steps


def click_button(text: str):
    return lambda box: next(b for b in box.buttons() if b.text() == text).click()


def accept_build(dialog: ApplyIndexDialog) -> None:
    dialog.accept()


def yes(box: QMessageBox) -> None:
    box.button(QMessageBox.StandardButton.Yes).click()


def no(box: QMessageBox) -> None:
    box.button(QMessageBox.StandardButton.No).click()


def make_writable(qtbot, panel: DatabasePanel) -> None:
    answers = ModalAnswerer((QMessageBox, yes))
    panel.connect_bar.read_only_box.setChecked(False)
    assert answers.done and "Turn read-only mode off?" in answers.seen[0]
    assert panel.session.read_only is False


def run_advisor(qtbot, panel: DatabasePanel) -> None:
    set_thresholds(panel, 0, 30)  # the workload ran each query 30 times, a few ms each
    panel.tabs.setCurrentWidget(panel.advisor_page)
    panel.advisor.advise_button.click()
    qtbot.waitUntil(lambda: not panel.bridge.pending("advice"), timeout=WAIT_MS)
    assert panel.advisor.suggestions, panel.advisor.notes.text()


def index_valid(pg_cluster, dbname: str, name: str) -> bool | None:
    with contextlib.closing(pg_cluster.admin(dbname)) as admin, admin.cursor() as cur:
        cur.execute(
            "SELECT x.indisvalid FROM pg_index x JOIN pg_class c ON c.oid = x.indexrelid "
            "WHERE c.relname = %s",
            [name],
        )
        row = cur.fetchone()
    return None if row is None else row[0]


class FreezeProbe:
    """A 10 ms timer on the GUI thread; its largest gap shows whether the event loop stalled."""

    def __init__(self) -> None:
        self.max_gap = 0.0
        self._last = time.monotonic()
        self.timer = QTimer()
        self.timer.setInterval(10)
        self.timer.timeout.connect(self._tick)
        self.timer.start()

    def _tick(self) -> None:
        now = time.monotonic()
        self.max_gap = max(self.max_gap, now - self._last)
        self._last = now

    def stop(self) -> float:
        self.timer.stop()
        return self.max_gap


def test_nothing_database_related_until_connect(make_panel):
    panel = make_panel()
    assert panel.session is None and not panel.tabs.isEnabled()
    # In a fresh process: the panel is built without loading SQLAlchemy or psycopg2.
    script = (
        "import sys; from PySide6.QtWidgets import QApplication; app = QApplication([]); "
        "from fibuca_desktop.core.settings import Settings; "
        "from fibuca_desktop.ui.database.database_panel import DatabasePanel; "
        "DatabasePanel(Settings()).shutdown(); "
        "print([m for m in ('sqlalchemy', 'psycopg2') if m in sys.modules])"
    )
    env = {**os.environ, "QT_QPA_PLATFORM": "offscreen"}
    done = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, env=env, timeout=120
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "[]"
    assert panel.connect_bar.url_edit.placeholderText() == "postgresql://user@host:5432/db"
    assert panel.connect_bar.read_only_box.isChecked()  # read-only by default


def test_connect_shows_the_masked_url_pool_and_overview(qtbot, make_panel, panel_url):
    panel = make_panel()
    connect(qtbot, panel, panel_url)
    assert PASSWORD not in " ".join(texts_on_screen(panel))
    assert panel.connect_bar.url_edit.text() == panel_url.replace(PASSWORD, "***")
    assert status(panel).startswith(f"Connected to {panel_url.replace(PASSWORD, '***')}")
    assert panel.settings.database.last_url == panel_url.replace(f":{PASSWORD}", "")
    reopened = DatabasePanel(panel.settings)  # the next start: the URL is back, not the password
    assert reopened.connect_bar.url_edit.text() == panel_url.replace(f":{PASSWORD}", "")
    reopened.shutdown()
    qtbot.waitUntil(lambda: panel.connect_bar.pool_label.text().endswith("waiting"))
    assert "/5 in use" in panel.connect_bar.pool_label.text()
    fields = {key: label.text() for key, label in panel.overview.fields.items()}
    assert fields["server"].startswith("PostgreSQL 15.") and fields["server"].endswith("shop_panel")
    assert fields["size"].endswith("MB")
    assert "of max_connections 60" in fields["connections"]
    assert fields["cache"].endswith("%")
    assert "fibuca-desktop" in fields["by_application"]

    # Seven connections from one client: more than Fibuca's limit of 5, flagged.
    api = [psycopg2.connect(panel_url, application_name="shop-api") for _ in range(7)]
    try:
        panel.overview.refresh_button.click()

        def shop_api_row():
            for row in range(panel.overview.clients.rowCount()):
                if panel.overview.clients.item(row, 2).text() == "shop-api":
                    return row
            return None

        qtbot.waitUntil(lambda: shop_api_row() is not None, timeout=WAIT_MS)
    finally:
        for connection in api:
            connection.close()
    cell = panel.overview.clients.item(shop_api_row(), 3)
    assert cell.text() == "7" and cell.background().color() == FLAG
    assert "more than Fibuca's limit of 5" in cell.toolTip()


def test_wrong_password_is_a_clear_error_and_a_later_connect_works(qtbot, make_panel, panel_url):
    panel = make_panel()
    panel.connect_bar.url_edit.setText("mysql://fibuca@db/shop")
    panel.connect_bar.connect_button.click()  # refused before any connection is tried
    assert status(panel).startswith("Unsupported database URL scheme 'mysql'")
    assert panel.session is None
    panel.connect_bar.url_edit.setText(panel_url.replace(PASSWORD, "not-the-password"))
    panel.connect_bar.connect_button.click()
    qtbot.waitUntil(lambda: status(panel).startswith("Wrong password"), timeout=WAIT_MS)
    assert "for user 'fibuca' on 127.0.0.1:" in status(panel)
    assert "not-the-password" not in " ".join(texts_on_screen(panel))
    assert not panel.connected and panel.session is None and not panel.tabs.isEnabled()
    connect(qtbot, panel, panel_url)
    assert status(panel).startswith("Connected to")


def test_slow_queries_are_listed_and_sortable(qtbot, make_panel, panel_url):
    panel = make_panel()
    connect(qtbot, panel, panel_url)
    set_thresholds(panel, 0, 30)
    panel.slow.refresh_button.click()
    wanted = normalised(ORDERS_OF_USER)
    qtbot.waitUntil(lambda: wanted in panel.slow.queries(), timeout=WAIT_MS)
    assert panel.slow.notice.isHidden()
    table = panel.slow.table
    assert {table.item(r, SOURCE).text() for r in range(table.rowCount())} == {"pg_stat_statements"}

    def column(index: int) -> list[float]:
        return [float(table.item(r, index).text()) for r in range(table.rowCount())]

    table.sortByColumn(CALLS, Qt.SortOrder.DescendingOrder)
    assert column(CALLS) == sorted(column(CALLS), reverse=True)
    table.sortByColumn(MEAN, Qt.SortOrder.AscendingOrder)
    assert column(MEAN) == sorted(column(MEAN)) and len(set(column(MEAN))) > 1
    assert panel.settings.database.min_calls == 30  # remembered for the next run


def test_over_fetching_page_ranks_the_find_many_without_select_and_says_the_fix(
    qtbot, make_panel, panel_url
):
    panel = make_panel()
    connect(qtbot, panel, panel_url)
    page = panel.overfetch
    assert not page.loaded
    panel.tabs.setCurrentWidget(page)  # the first showing reads it
    qtbot.waitUntil(lambda: page.loaded, timeout=WAIT_MS)
    table = page.table
    assert table.rowCount() == 1  # the one statement returning wide columns
    assert table.item(0, TABLE).text() == "ProductPage"
    assert table.item(0, WIDE).text() == "all columns · description, specs"
    assert table.item(0, PRISMA).text() == "prisma.productPage.findMany"
    assert table.item(0, TABLE).background().color() == FLAG
    assert page.fix.toPlainText().startswith(
        "prisma.productPage.findMany({ omit: { description: true, specs: true } })"
    )
    assert "1 statement(s) return every column" in page.summary.text()
    page.include_all.setChecked(True)  # asks again, with every statement
    qtbot.waitUntil(lambda: table.rowCount() > 5, timeout=WAIT_MS)
    queries = [table.item(r, TABLE).toolTip() for r in range(table.rowCount())]
    assert normalised(PAGE_TITLES) in queries and normalised(PAGES_FIND_MANY) in queries
    flagged = [
        r for r in range(table.rowCount()) if table.item(r, TABLE).background().color() == FLAG
    ]
    assert [queries[r] for r in flagged] == [normalised(PAGES_FIND_MANY)]


def test_missing_pg_stat_statements_says_how_and_samples_activity(qtbot, make_panel, pg_cluster):
    url = pg_cluster.clone("shop_panel_nostats", extensions=())
    panel = make_panel()
    connect(qtbot, panel, url)
    sleeper = psycopg2.connect(url, application_name="report-job")
    job = threading.Thread(target=lambda: sleeper.cursor().execute("SELECT pg_sleep(3)"))
    job.start()
    try:
        qtbot.waitUntil(lambda: panel.session.pool_status().checked_out == 0, timeout=WAIT_MS)
        panel.tabs.setCurrentWidget(panel.slow)
        set_thresholds(panel, 0, 1)
        panel.slow.refresh_button.click()

        def sampled() -> bool:
            return any("pg_sleep" in query for query in panel.slow.queries())

        qtbot.waitUntil(sampled, timeout=WAIT_MS)
    finally:
        job.join()
        sleeper.close()
    notice = panel.slow.notice.text()
    assert panel.slow.notice.isVisible()
    assert 'run CREATE EXTENSION pg_stat_statements; in database "shop_panel_nostats"' in notice
    assert "pg_stat_activity" in notice
    assert panel.slow.table.item(0, SOURCE).text() == "pg_stat_activity"


def test_explain_tree_highlights_the_seq_scan_and_ignores_a_superseded_request(
    qtbot, make_panel, panel_url
):
    panel = make_panel()
    connect(qtbot, panel, panel_url)
    panel.explain(normalised(USER_BY_ID))  # superseded by the next one before it can arrive
    panel.explain(normalised(ORDERS_OF_USER))
    qtbot.waitUntil(lambda: not panel.bridge.pending("explain"), timeout=WAIT_MS)
    assert panel.tabs.currentWidget() is panel.plan
    assert panel.plan.query_view.toPlainText() == normalised(ORDERS_OF_USER)
    items = []
    stack = [panel.plan.tree.topLevelItem(i) for i in range(panel.plan.tree.topLevelItemCount())]
    while stack:
        item = stack.pop()
        items.append(item)
        stack.extend(item.child(i) for i in range(item.childCount()))
    relations = {item.text(1) for item in items}
    assert "Order" in relations and "User" not in relations
    scan = next(item for item in items if item.text(0) == "Seq Scan")
    assert scan.text(1) == "Order" and float(scan.text(2).replace(",", "")) > 0
    assert scan.background(0).color() == SEQ_SCAN_HIGHLIGHT
    assert "Sequential scan of Order" in scan.toolTip(0)
    assert "userId" in scan.text(5)
    assert "Sequential scan of a large table (red): Order" in panel.plan.summary.text()
    root = panel.plan.tree.topLevelItem(0)
    assert root.background(0).color() != SEQ_SCAN_HIGHLIGHT  # only the scan itself


def test_advisor_shows_verified_suggestions_and_index_problems(
    qtbot, make_panel, panel_url, pg_cluster
):
    pg_cluster.require_hypopg()
    panel = make_panel()
    connect(qtbot, panel, panel_url)
    run_advisor(qtbot, panel)
    assert {(s.table, s.columns) for s in panel.advisor.suggestions} == EXPECTED
    table = panel.advisor.table
    for row in range(table.rowCount()):
        assert table.item(row, VERIFIED).text() == "verified (hypopg)"
        assert table.item(row, 7).text().endswith("%")  # the saving
    health = panel.advisor.health
    rows = {(health.item(r, 0).text(), health.item(r, 1).text()) for r in range(health.rowCount())}
    assert ("duplicate", "User_email_idx") in rows


def test_the_advisors_statement_cap_is_an_option_remembered_in_the_settings(
    qtbot, make_panel, panel_url
):
    panel = make_panel()
    connect(qtbot, panel, panel_url)
    run_advisor(qtbot, panel)
    many = {q for s in panel.advisor.suggestions if s.reason == "slow-query" for q in s.queries}
    panel.advisor.max_statements.setValue(1)
    panel.advisor.advise_button.click()
    qtbot.waitUntil(lambda: not panel.bridge.pending("advice"), timeout=WAIT_MS)
    few = {q for s in panel.advisor.suggestions if s.reason == "slow-query" for q in s.queries}
    assert len(few) <= 1 < len(many)
    assert panel.settings.database.advise_max_statements == 1


def test_advisor_without_hypopg_marks_suggestions_unverified_with_the_reason(
    qtbot, make_panel, plain_url, pg_cluster
):
    panel = make_panel()
    connect(qtbot, panel, plain_url)
    run_advisor(qtbot, panel)
    assert {(s.table, s.columns) for s in panel.advisor.suggestions} == EXPECTED
    for row in range(panel.advisor.table.rowCount()):
        text = panel.advisor.table.item(row, VERIFIED).text()
        assert text.startswith(f"unverified: {pg_cluster.hypopg_missing_message()}")
    assert "CREATE EXTENSION hypopg" in panel.advisor.notes.text()


def test_read_only_mode_disables_apply_and_turning_it_off_asks(qtbot, make_panel, panel_url):
    panel = make_panel()
    connect(qtbot, panel, panel_url)
    run_advisor(qtbot, panel)
    panel.advisor.table.selectRow(0)
    assert not panel.advisor.apply_button.isEnabled()
    assert panel.advisor.apply_button.toolTip() == READ_ONLY_TIP
    answers = ModalAnswerer((QMessageBox, no))
    panel.connect_bar.read_only_box.setChecked(False)
    assert answers.done and panel.connect_bar.read_only_box.isChecked()
    assert panel.session.read_only and not panel.advisor.apply_button.isEnabled()
    make_writable(qtbot, panel)
    assert panel.advisor.apply_button.isEnabled()


def test_apply_confirms_the_exact_sql_shows_progress_and_builds_a_valid_index(
    qtbot, make_panel, panel_url, pg_cluster
):
    panel = make_panel()
    connect(qtbot, panel, panel_url)
    make_writable(qtbot, panel)
    run_advisor(qtbot, panel)
    panel.advisor.select("OrderItem", ("productId",))
    with open_writer(panel_url, "OrderItem") as writer:
        answers = ModalAnswerer((ApplyIndexDialog, accept_build))
        panel.advisor.apply_button.click()
        # The open write makes the build wait in its first phase: progress is live.
        qtbot.waitUntil(
            lambda: "waiting for writers before build" in panel.build.phases_seen,
            timeout=WAIT_MS,
        )
        assert panel.build.building and panel.build.cancel_button.isEnabled()
        assert not panel.advisor.apply_button.isEnabled()  # one build at a time
        assert "waiting for writers before build" in panel.build.phase_label.text()
        writer.commit()
        qtbot.waitUntil(lambda: not panel.build.building, timeout=WAIT_MS)
    assert answers.seen == [
        'CREATE INDEX CONCURRENTLY "OrderItem_productId_idx" ON "public"."OrderItem" ("productId");'
    ]
    assert panel.build.progress.value() == BAR_MAX
    result = panel.build.result_label.text()
    assert result.startswith("OrderItem_productId_idx is valid. Plan cost ")
    assert "% less" in result
    assert index_valid(pg_cluster, "shop_panel", "OrderItem_productId_idx") is True
    # The advisor runs again: the built index is no longer suggested.
    qtbot.waitUntil(
        lambda: (
            ("OrderItem", ("productId",))
            not in {(s.table, s.columns) for s in panel.advisor.suggestions}
        ),
        timeout=WAIT_MS,
    )
    # Measure now: nothing ran since; then the shop's pages again, and the drop is measured.
    effect = panel.build.effect_label
    assert panel.build.measure_button.isVisible()
    panel.build.measure_button.click()
    qtbot.waitUntil(lambda: "no calls yet" in effect.text(), timeout=WAIT_MS)
    with contextlib.closing(psycopg2.connect(panel_url)) as connection:
        connection.autocommit = True
        run_workload(connection, rounds=10)
    panel.build.measure_button.click()
    qtbot.waitUntil(lambda: "helped: mean" in effect.text(), timeout=WAIT_MS)
    assert effect.text().startswith("OrderItem_productId_idx: helped: mean ")
    assert "· helped (10 calls since): mean " in effect.text()


def test_a_failing_build_offers_to_drop_the_invalid_index_and_retry(
    qtbot, make_panel, panel_url, pg_cluster
):
    panel = make_panel()
    connect(qtbot, panel, panel_url)
    make_writable(qtbot, panel)
    builder = IndexBuilder(panel.session)
    unique = builder.plan("Order", ("status",), unique=True)  # 4 values in 60k rows: fails
    answers = ModalAnswerer(
        (ApplyIndexDialog, accept_build),
        (QMessageBox, click_button(DROP_AND_RETRY)),
        (QMessageBox, click_button(DROP_ONLY)),
    )
    assert panel.confirm_and_build(builder, unique)
    qtbot.waitUntil(lambda: answers.done, timeout=WAIT_MS)
    qtbot.waitUntil(lambda: panel.build.phase_label.text().startswith("Dropped:"), timeout=WAIT_MS)
    assert answers.seen[0].startswith('CREATE UNIQUE INDEX CONCURRENTLY "Order_status_key"')
    for message in answers.seen[1:]:  # the first build, then the retry
        assert "could not create unique index" in message
        assert "left the INVALID index Order_status_key" in message
    assert "could not create unique index" in panel.build.result_label.text()
    assert index_valid(pg_cluster, "shop_panel", "Order_status_key") is None  # dropped


def test_cancel_a_running_build_and_drop_what_it_left(qtbot, make_panel, panel_url, pg_cluster):
    panel = make_panel()
    connect(qtbot, panel, panel_url)
    make_writable(qtbot, panel)
    builder = IndexBuilder(panel.session)
    plan = builder.plan("OrderItem", ("price",))
    with open_writer(panel_url, "OrderItem"):
        answers = ModalAnswerer(
            (ApplyIndexDialog, accept_build), (QMessageBox, click_button(DROP_ONLY))
        )
        assert panel.confirm_and_build(builder, plan)
        qtbot.waitUntil(lambda: bool(panel.build.phases_seen), timeout=WAIT_MS)
        panel.build.cancel_button.click()
        qtbot.waitUntil(lambda: answers.done, timeout=WAIT_MS)
    assert answers.seen[1].startswith("The build of OrderItem_price_idx was cancelled.")
    qtbot.waitUntil(lambda: panel.build.phase_label.text().startswith("Dropped:"), timeout=WAIT_MS)
    assert index_valid(pg_cluster, "shop_panel", "OrderItem_price_idx") is None


def test_export_the_chosen_suggestions_as_migration_and_prisma_lines(
    qtbot, make_panel, plain_url, tmp_path, monkeypatch
):
    panel = make_panel()
    connect(qtbot, panel, plain_url)
    run_advisor(qtbot, panel)
    skipped = panel.advisor.suggestions.index(
        next(s for s in panel.advisor.suggestions if s.table == 'Audit "Log"')
    )
    panel.advisor.table.item(skipped, 0).setCheckState(
        panel.advisor.table.item(0, 0).checkState().Unchecked
    )
    chosen = panel.advisor.chosen()
    assert len(chosen) == len(EXPECTED) - 1
    targets = iter([tmp_path / "migration.sql", tmp_path / "schema-indexes.prisma"])
    monkeypatch.setattr(
        "PySide6.QtWidgets.QFileDialog.getSaveFileName",
        lambda *args: (str(next(targets)), ""),
    )
    panel.advisor.migration_button.click()
    panel.advisor.prisma_button.click()
    migration = (tmp_path / "migration.sql").read_text()
    assert migration == migration_sql(chosen)
    assert (
        'CREATE INDEX IF NOT EXISTS "Order_userId_createdAt_idx" ON "public"."Order" '
        '("userId", "createdAt");' in migration
    )
    assert "Audit" not in migration
    prisma = (tmp_path / "schema-indexes.prisma").read_text()
    assert (
        "model Order {\n  // ... existing fields ...\n  @@index([userId, createdAt])\n}" in prisma
    )
    assert "model OrderItem {" in prisma and "@@index([orderId])" in prisma
    assert "@@index([productId])" in prisma and "Audit" not in prisma


def test_fifty_requests_use_at_most_the_pool_and_only_the_newest_result_is_shown(
    qtbot, make_panel, panel_url, pg_cluster
):
    panel = make_panel()
    connect(qtbot, panel, panel_url)
    qtbot.waitUntil(lambda: not panel.bridge.pending(), timeout=WAIT_MS)  # the first slow list
    delivered: list[str] = []
    panel.bridge.delivered.connect(delivered.append)
    with contextlib.closing(pg_cluster.admin()) as observer, observer.cursor() as cur:
        cur.execute("SELECT now()")
        started = cur.fetchone()[0]
        for _ in range(25):
            panel.refresh_overview()
            panel.explain(normalised(ORDERS_OF_USER))
        qtbot.waitUntil(lambda: not panel.bridge.pending(), timeout=WAIT_MS)
        # Pooled connections stay open, so every connection the burst opened is still listed.
        cur.execute(
            "SELECT count(*) FROM pg_stat_activity WHERE application_name = 'fibuca-desktop' "
            "AND datname = 'shop_panel' AND backend_start >= %s",
            [started],
        )
        opened_during_burst = cur.fetchone()[0]
    assert opened_during_burst <= 5
    assert panel.session.pool_status().size == 5
    assert sorted(delivered) == ["explain", "overview"]  # 48 superseded results dropped
    assert panel.plan.tree.topLevelItemCount() == 1


def test_a_query_that_hits_the_statement_timeout_never_freezes_the_window(
    qtbot, make_panel, panel_url
):
    panel = make_panel(statement_timeout_s=2)
    connect(qtbot, panel, panel_url)
    locker = psycopg2.connect(panel_url)
    try:
        with locker.cursor() as cur:
            cur.execute('LOCK TABLE "Order" IN ACCESS EXCLUSIVE MODE')  # planning must wait
        probe = FreezeProbe()
        panel.explain(normalised(ORDERS_OF_USER))
        qtbot.waitUntil(lambda: "statement timeout" in status(panel), timeout=WAIT_MS)
        max_gap = probe.stop()
    finally:
        locker.rollback()
        locker.close()
    assert "did not finish the query within the statement timeout (2 s)" in status(panel)
    assert "statement timeout" in panel.plan.summary.text()
    assert max_gap < 1.0, f"the GUI thread stalled for {max_gap:.2f} s"
    panel.explain(normalised(ORDERS_OF_USER))  # the lock is gone: the same panel carries on
    qtbot.waitUntil(lambda: panel.plan.tree.topLevelItemCount() == 1, timeout=WAIT_MS)
    assert status(panel).endswith("connection restored")


def test_server_stopped_mid_session_is_reported_then_the_panel_recovers(
    qtbot, make_panel, panel_url, pg_cluster
):
    # The query must still be waiting when the server stops, however late the stop comes on a
    # loaded machine: the pool's 5 s lock timeout would otherwise end it first (a lock message).
    panel = make_panel(statement_timeout_s=120, lock_timeout_s=110)
    connect(qtbot, panel, panel_url)
    locker = psycopg2.connect(panel_url)
    with locker.cursor() as cur:
        cur.execute('LOCK TABLE "Order" IN ACCESS EXCLUSIVE MODE')
    panel.explain(normalised(ORDERS_OF_USER))  # waits for the lock: running when the server stops
    qtbot.waitUntil(lambda: panel.session.pool_status().checked_out == 1, timeout=WAIT_MS)
    probe = FreezeProbe()
    stopper = threading.Thread(target=pg_cluster.stop)
    stopper.start()
    try:
        qtbot.waitUntil(lambda: "was lost" in status(panel), timeout=WAIT_MS)
        max_gap = probe.stop()
        stopper.join()
        assert "(the server stopped or restarted)" in status(panel)
        assert "was lost" in panel.plan.summary.text()
        panel.overview.refresh_button.click()
        qtbot.waitUntil(lambda: "PostgreSQL is not running at" in status(panel), timeout=WAIT_MS)
    finally:
        stopper.join()
        with contextlib.suppress(psycopg2.Error):
            locker.close()
        pg_cluster.start()
    assert max_gap < 1.0, f"the GUI thread stalled for {max_gap:.2f} s"
    panel.overview.fields["server"].setText("–")
    panel.overview.refresh_button.click()
    qtbot.waitUntil(lambda: status(panel).endswith("connection restored"), timeout=WAIT_MS)
    assert panel.overview.fields["server"].text().startswith("PostgreSQL 15.")
    assert panel.connected and panel.tabs.isEnabled()


def release_when_a_drop_waits(pg_cluster, writer) -> threading.Thread:
    """End ``writer``'s transaction once a DROP INDEX CONCURRENTLY waits for it (it must: it
    waits for every transaction on the table), from a helper thread, as the other client
    would."""

    def run() -> None:
        with contextlib.closing(pg_cluster.admin()) as observer, observer.cursor() as cur:
            deadline = time.monotonic() + 60
            while time.monotonic() < deadline:
                cur.execute(
                    "SELECT count(*) FROM pg_stat_activity WHERE query LIKE 'DROP INDEX %%' "
                    "AND wait_event_type = 'Lock'"
                )
                if cur.fetchone()[0]:
                    break
                time.sleep(0.05)
        writer.rollback()

    thread = threading.Thread(target=run)
    thread.start()
    return thread


def test_closing_the_window_during_a_build_asks_then_cancels_and_drops_the_invalid_index(
    qtbot, tmp_path, panel_url, pg_cluster
):
    from tests.ui.test_main_window import make_window

    window = make_window(qtbot, tmp_path)
    window.show()
    panel = window.database_panel
    assert window.tabs.widget(window.tabs.count() - 1) is panel
    connect(qtbot, panel, panel_url)
    make_writable(qtbot, panel)
    builder = IndexBuilder(panel.session)
    plan = builder.plan("OrderItem", ("quantity",))
    with open_writer(panel_url, "OrderItem") as writer:
        answers = ModalAnswerer((ApplyIndexDialog, accept_build))
        assert panel.confirm_and_build(builder, plan)
        qtbot.waitUntil(lambda: bool(panel.build.phases_seen), timeout=WAIT_MS)
        answers = ModalAnswerer((QMessageBox, no))
        window.close()
        assert answers.seen == [
            "Quit anyway? Fibuca cancels the build and drops the INVALID index it leaves behind, "
            "so the table is as it was before the build."
        ]
        assert window.isVisible() and panel.build.building  # "No": the build goes on
        releaser = release_when_a_drop_waits(pg_cluster, writer)
        answers = ModalAnswerer((QMessageBox, yes))
        window.close()
        releaser.join()
    assert answers.done and not window.isVisible()
    assert panel.session is None and not panel.build.building
    assert index_valid(pg_cluster, "shop_panel", "OrderItem_quantity_idx") is None
