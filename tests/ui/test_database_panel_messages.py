"""The Database panel says what it knows (issue 10): the password stays behind an edited masked
URL and never shows, hidden statements are counted, the advised schema is named, read-only mode
says why Apply is off, and the Apply dialog lets the person name the index."""

from __future__ import annotations

import contextlib

import psycopg2
import pytest

from fibuca_desktop.core.database.index_build import IndexPlan
from fibuca_desktop.core.settings import Settings
from fibuca_desktop.ui.database.advisor_widget import READ_ONLY_HINT
from fibuca_desktop.ui.database.apply_dialog import ApplyIndexDialog
from fibuca_desktop.ui.database.database_panel import DatabasePanel
from tests.core.test_db_secrets import PASSWORDS, assert_hidden
from tests.shop_schema import run_workload
from tests.ui.test_database_panel import (
    WAIT_MS,
    connect,
    make_writable,
    run_advisor,
    status,
    texts_on_screen,
)

PLAIN, PLAIN_PASSWORD = "fibuca_panel_plain", "Rt5-panel-Qz"


@pytest.fixture
def make_panel(qtbot):
    panels = []

    def make() -> DatabasePanel:
        panel = DatabasePanel(Settings())
        qtbot.addWidget(panel)
        panel.resize(1000, 700)
        panel.show()
        panels.append(panel)
        return panel

    yield make
    for panel in panels:
        panel.shutdown()


@pytest.fixture(scope="module")
def messages_db(pg_cluster) -> str:
    """A shop with the owner's workload, a second schema, and a role without
    pg_read_all_stats that may read it."""
    url = pg_cluster.clone("shop_panel_messages", ("pg_stat_statements", "hypopg"))
    with contextlib.closing(psycopg2.connect(url)) as connection:
        connection.autocommit = True
        run_workload(connection)
        with connection.cursor() as cur:
            cur.execute('CREATE SCHEMA "billing"')
            cur.execute('CREATE TABLE "billing"."Invoice" ("id" TEXT PRIMARY KEY)')
    pg_cluster.add_role(PLAIN, PLAIN_PASSWORD)
    with contextlib.closing(pg_cluster.admin("shop_panel_messages")) as admin:
        admin.cursor().execute(f'GRANT SELECT ON ALL TABLES IN SCHEMA public TO "{PLAIN}"')
    return "shop_panel_messages"


@pytest.mark.parametrize("secret", PASSWORDS)
def test_an_edited_masked_url_connects_with_the_real_password(
    qtbot, make_panel, pg_cluster, messages_db, secret
):
    pg_cluster.add_role("fibuca_panel_special", secret)
    typed = f"postgresql://fibuca_panel_special:{secret}@127.0.0.1:{pg_cluster.port}/{messages_db}"
    panel = make_panel()
    connect(qtbot, panel, typed)
    shown = panel.connect_bar.url_edit.text()
    assert "***" in shown and "must be percent-encoded" in status(panel)
    panel.connect_bar.url_edit.setText(shown + "?schema=billing")  # the user edits the mask
    panel.connect_bar.connect_button.click()
    qtbot.waitUntil(lambda: status(panel).startswith("Connected to"), timeout=WAIT_MS)
    assert panel.session.schema == "billing"
    assert panel.session.target.url.password == secret  # not the literal ***
    last_url = panel.settings.database.last_url
    assert last_url.endswith("?schema=billing") and "***" not in last_url
    assert_hidden(secret, *texts_on_screen(panel), last_url)


def test_hidden_statements_are_counted_on_the_slow_queries_page(
    qtbot, make_panel, pg_cluster, messages_db
):
    panel = make_panel()
    connect(qtbot, panel, pg_cluster.url(messages_db, PLAIN_PASSWORD, PLAIN))
    panel.slow.min_mean.setValue(0)
    panel.slow.min_calls.setValue(30)
    panel.slow.refresh_button.click()
    qtbot.waitUntil(lambda: "are hidden" in panel.slow.notice.text(), timeout=WAIT_MS)
    assert not panel.slow.notice.isHidden()
    assert f"GRANT pg_read_all_stats TO {PLAIN};" in panel.slow.notice.text()


def test_the_advisor_names_the_schema_and_read_only_says_why_apply_is_off(
    qtbot, make_panel, pg_cluster, messages_db
):
    panel = make_panel()
    connect(qtbot, panel, pg_cluster.url(messages_db))
    run_advisor(qtbot, panel)
    notes = panel.advisor.notes.text()
    assert 'Advice for schema "public" only' in notes and '"billing" (1 tables)' in notes
    hint = panel.advisor.read_only_hint
    assert hint.isVisible() and hint.text() == READ_ONLY_HINT
    assert not panel.advisor.apply_button.isEnabled()
    make_writable(qtbot, panel)
    assert not hint.isVisible()


@pytest.mark.parametrize(
    ("name", "accepted"),
    [("orders_by_user", True), ("Größe Index", True), ("x" * 64, False), ("", False)],
)
def test_the_apply_dialog_lets_the_person_name_the_index(qtbot, name, accepted):
    plan = IndexPlan(
        "public", "Order", ("userId",), "Order_userId_idx", False,
        'CREATE INDEX CONCURRENTLY "Order_userId_idx" ON "public"."Order" ("userId");', (),
    )  # fmt: skip
    dialog = ApplyIndexDialog(plan, "postgresql://u:***@db/shop")
    qtbot.addWidget(dialog)
    dialog.name_edit.setText(name)
    dialog.name_edit.textEdited.emit(name)
    ok = dialog.buttons.buttons()[0]
    assert ok.isEnabled() is accepted
    if accepted:
        assert dialog.plan().name == name
        assert dialog.sql_view.toPlainText().startswith(f"CREATE INDEX CONCURRENTLY {_q(name)}")
    else:
        assert "63 bytes" in ok.toolTip() or "empty" in ok.toolTip()


def _q(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


@pytest.mark.parametrize(
    "query", ["connection_limit=-1", "connection_limit=abc", "sslmode=require", "bogus=1"]
)
def test_bad_url_options_are_one_line_in_the_panel_never_a_traceback(
    qtbot, make_panel, pg_cluster, messages_db, caplog, query
):
    panel = make_panel()
    panel.connect_bar.url_edit.setText(f"{pg_cluster.url(messages_db)}?{query}")
    panel.connect_bar.connect_button.click()
    qtbot.waitUntil(lambda: panel.connect_bar.connect_button.isEnabled(), timeout=WAIT_MS)
    qtbot.waitUntil(lambda: not panel.bridge.pending(), timeout=WAIT_MS)
    message = status(panel)
    assert not panel.connected and message and "\n" not in message
    assert any(word in message for word in ("connection_limit", "TLS", "option"))
    assert not [r for r in caplog.records if r.exc_info or "Traceback" in r.getMessage()]


@pytest.mark.parametrize("secret", PASSWORDS[:3])
def test_a_refused_url_is_masked_too_and_fixing_it_keeps_the_password(
    qtbot, make_panel, pg_cluster, messages_db, secret
):
    pg_cluster.add_role("fibuca_panel_special", secret)
    panel = make_panel()
    server = f"127.0.0.1:{pg_cluster.port}"
    panel.connect_bar.url_edit.setText(f"postgresql://fibuca_panel_special:{secret}@{server}/")
    panel.connect_bar.connect_button.click()  # no database: refused before connecting
    assert "names no database" in status(panel)
    shown = panel.connect_bar.url_edit.text()
    assert shown == f"postgresql://fibuca_panel_special:***@{server}/"
    assert_hidden(secret, *texts_on_screen(panel))
    panel.connect_bar.url_edit.setText(shown + messages_db)  # the user fixes the URL
    panel.connect_bar.connect_button.click()
    qtbot.waitUntil(lambda: panel.connected, timeout=WAIT_MS)
    assert panel.session.target.url.password == secret
    assert_hidden(secret, *texts_on_screen(panel), panel.settings.database.last_url)


def test_the_advisor_names_tables_the_role_may_not_read_with_the_grant(
    qtbot, make_panel, pg_cluster, messages_db
):
    """The whole advice failed ("permission denied for table ...") for such a role."""
    role, password = "fibuca_panel_partial", "Hv3-partial-Wq"
    pg_cluster.add_role(role, password, "pg_read_all_stats")
    with contextlib.closing(pg_cluster.admin(messages_db)) as admin:
        admin.cursor().execute(f'GRANT SELECT ON "Order" TO "{role}"')
    panel = make_panel()
    connect(qtbot, panel, pg_cluster.url(messages_db, password, role))
    run_advisor(qtbot, panel)
    notes = panel.advisor.notes.text()
    assert f'Role "{role}" may not read' in notes and '"public"."OrderItem"' in notes
    assert panel.advisor.table.rowCount() >= 1  # what it could read is still advised


def test_an_advice_that_fails_on_a_lock_says_so_on_the_advisor_page(qtbot, make_panel, pg_cluster):
    """The page kept saying "Running the advisor…" after the lock wait failed."""
    url = pg_cluster.clone("shop_panel_locked")
    panel = make_panel()
    connect(qtbot, panel, url)
    locker = psycopg2.connect(url, application_name="migration-tool")
    try:
        with locker.cursor() as cur:
            cur.execute('LOCK TABLE "Order" IN ACCESS EXCLUSIVE MODE')
        panel.tabs.setCurrentWidget(panel.advisor_page)
        panel.advisor.advise_button.click()
        qtbot.waitUntil(lambda: not panel.bridge.pending("advice"), timeout=WAIT_MS)
    finally:
        locker.rollback()
        locker.close()
    notes = panel.advisor.notes.text()
    assert notes.startswith("The advisor stopped:") and "Running" not in notes
    assert "application 'migration-tool'" in notes and "AccessExclusiveLock" in notes
