"""The Memory budget page on real widgets offscreen, against the two real clusters of the budget
tests: one started with 100 slots x 64 MB work_mem, one started with its recommendations."""

from __future__ import annotations

import contextlib

import psycopg2
from PySide6.QtGui import QGuiApplication

from fibuca_desktop.core.settings import Settings
from fibuca_desktop.ui.database.budget_widget import CONNECTION_COLUMNS, SETTING_COLUMNS
from fibuca_desktop.ui.database.database_panel import DatabasePanel
from fibuca_desktop.ui.database.overview_widget import FLAG
from tests.ui.test_database_panel import WAIT_MS, connect

NAME, CURRENT, RECOMMENDED, APPLIES, _WHY = range(len(SETTING_COLUMNS))
APP, COUNT, LIMIT = range(len(CONNECTION_COLUMNS))


def make_panel(qtbot, settings: Settings | None = None) -> DatabasePanel:
    panel = DatabasePanel(settings or Settings())
    qtbot.addWidget(panel)
    panel.resize(1100, 760)
    panel.show()
    return panel


def show_budget(qtbot, panel: DatabasePanel, url: str):
    connect(qtbot, panel, url)
    page = panel.budget
    assert not page.loaded  # nothing is read before the page is shown
    panel.tabs.setCurrentWidget(page)
    qtbot.waitUntil(lambda: page.loaded, timeout=WAIT_MS)
    return page


def settings_rows(page) -> dict[str, tuple[str, str, str, bool]]:
    table = page.settings_table
    rows = {}
    for r in range(table.rowCount()):
        cells = [table.item(r, c) for c in (NAME, CURRENT, RECOMMENDED, APPLIES)]
        flagged = cells[0].background().color() == FLAG
        rows[cells[0].text()] = (cells[1].text(), cells[2].text(), cells[3].text(), flagged)
    return rows


def test_a_bad_configuration_reads_as_not_fitting_with_the_lines_to_copy(qtbot, bad_budget_cluster):
    panel = make_panel(qtbot)
    try:
        page = show_budget(qtbot, panel, bad_budget_cluster.url("postgres"))
        assert page.verdict.text() == "Worst case 29,142 MB of 500 MB RAM: does NOT fit."
        assert "With the recommendations: " in page.detail.text()
        rows = settings_rows(page)
        assert rows["work_mem"] == ("64MB", "2MB", "on reload", True)
        assert rows["max_connections"] == ("100", "14", "after a restart", True)
        assert rows["shared_buffers"][3]  # 128MB -> 125MB: flagged
        assert not rows["autovacuum_max_workers"][3]  # kept: not flagged
        script = page.script.toPlainText().splitlines()
        assert "ALTER SYSTEM SET work_mem = '2MB';" in script
        assert "SELECT pg_reload_conf();" in script
        assert script[-1].startswith("-- then restart PostgreSQL for ")
        assert "max_connections" in script[-1]
        assert page.copy_button.isEnabled()
        page.copy_button.click()
        assert QGuiApplication.clipboard().text() == page.script.toPlainText()
        assert page.prisma.text().startswith("Prisma: ?connection_limit=6 in each of the 1 ")
    finally:
        panel.shutdown()


def test_more_ram_or_instances_ask_again_and_are_remembered(qtbot, bad_budget_cluster):
    settings = Settings()
    panel = make_panel(qtbot, settings)
    try:
        page = show_budget(qtbot, panel, bad_budget_cluster.url("postgres"))
        first = page.prisma.text()
        page.instances.setValue(2)
        qtbot.waitUntil(lambda: page.prisma.text() != first, timeout=WAIT_MS)
        assert "connection_limit=3 in each of the 2 " in page.prisma.text()
        page.ram_mb.setValue(65536)  # 64 GB: even 100 x 64 MB fits
        qtbot.waitUntil(lambda: "fits." in page.verdict.text(), timeout=WAIT_MS)
        assert page.verdict.text() == "Worst case 29,142 MB of 65,536 MB RAM: fits."
        assert (settings.database.budget_ram_mb, settings.database.budget_instances) == (
            65536,
            2,
        )
    finally:
        panel.shutdown()
    again = make_panel(qtbot, settings)  # the next run starts from the remembered values
    try:
        assert (again.budget.ram_mb.value(), again.budget.instances.value()) == (65536, 2)
    finally:
        again.shutdown()


def test_the_fitted_cluster_fits_wants_nothing_and_flags_the_greedy_client(
    qtbot, fitted_budget_cluster
):
    url = fitted_budget_cluster.url("postgres")
    panel = make_panel(qtbot)
    with contextlib.ExitStack() as stack:
        for _ in range(7):
            stack.enter_context(
                contextlib.closing(psycopg2.connect(url, application_name="shop-api"))
            )
        try:
            page = show_budget(qtbot, panel, url)
            assert page.verdict.text() == "Worst case 495 MB of 500 MB RAM: fits."
            assert not any(flagged for *_, flagged in settings_rows(page).values())
            assert page.script.toPlainText() == ""
            assert page.script.placeholderText() == "No change recommended."
            assert not page.copy_button.isEnabled()
            table = page.connections_table
            row = {table.item(r, APP).text(): r for r in range(table.rowCount())}
            shop = row["shop-api"]
            assert (table.item(shop, COUNT).text(), table.item(shop, LIMIT).text()) == ("7", "6")
            assert table.item(shop, APP).background().color() == FLAG
            assert table.item(row["fibuca-desktop"], APP).background().color() != FLAG
            assert page.notice.isVisible()
            assert "shop-api holds 7 connections, more than the limit of 6" in page.notice.text()
        finally:
            panel.shutdown()
