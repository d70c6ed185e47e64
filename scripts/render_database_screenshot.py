"""Render the Database tab for the README from the real panel on a throwaway PostgreSQL cluster.

Starts the test suite's cluster (tests/pg_cluster.py: PostgreSQL 15 binaries, hypopg), loads the
Prisma-style shop and its workload, connects the real ``DatabasePanel`` offscreen, runs the
advisor and grabs it (and the Over-fetching page before it); then holds real locks
(tests/lock_scene.py) and grabs "Blocked now", then the Memory budget page. Separate from
render_screenshots.py because it needs a PostgreSQL server.
Usage: .venv/bin/python scripts/render_database_screenshot.py [OUTPUT_FOLDER]
"""

from __future__ import annotations

import contextlib
import os
import sys
import time
from pathlib import Path

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import psycopg2  # noqa: E402
from PySide6.QtWidgets import QApplication  # noqa: E402
from render_screenshots import wait_until  # noqa: E402 (this folder is on sys.path)

from fibuca_desktop.core.settings import Settings  # noqa: E402
from fibuca_desktop.ui.database.database_panel import DatabasePanel  # noqa: E402
from tests.lock_scene import LockScene, create_target  # noqa: E402
from tests.pg_cluster import PASSWORD, ROLE, TEMPLATE, PgCluster  # noqa: E402
from tests.shop_schema import load_shop, run_workload  # noqa: E402


def main(out_dir: Path) -> int:
    out_dir.mkdir(parents=True, exist_ok=True)
    app = QApplication(sys.argv[:1])
    cluster = PgCluster()
    try:
        cluster.init()
        cluster.start()
        with contextlib.closing(cluster.admin()) as admin, admin.cursor() as cur:
            cur.execute(
                f"CREATE ROLE {ROLE} LOGIN PASSWORD %s IN ROLE pg_read_all_stats", [PASSWORD]
            )
            cur.execute(f"CREATE DATABASE {TEMPLATE} OWNER {ROLE}")
        with contextlib.closing(cluster.admin(TEMPLATE)) as admin:
            load_shop(admin)
        url = cluster.clone("shop", ("pg_stat_statements", "hypopg"))
        with contextlib.closing(psycopg2.connect(url)) as connection:
            connection.autocommit = True
            run_workload(connection)
            with connection.cursor() as cur:  # a duplicate of User_email_key, as in the tests
                cur.execute('CREATE INDEX "User_email_idx" ON "User" ("email")')
        panel = DatabasePanel(Settings())
        panel.resize(1100, 640)
        panel.show()
        panel.connect_bar.url_edit.setText(url)
        panel.connect_bar.connect_button.click()
        wait_until(app, lambda: panel.connected)
        panel.slow.min_mean.setValue(0)
        panel.slow.min_calls.setValue(30)
        panel.tabs.setCurrentWidget(panel.overfetch)  # reads its ranking when first shown
        wait_until(app, lambda: panel.overfetch.loaded)
        app.processEvents()
        target = out_dir / "database-overfetch.png"
        panel.grab().save(str(target))
        print(target)
        panel.tabs.setCurrentWidget(panel.advisor_page)
        panel.advise()
        wait_until(app, lambda: not panel.bridge.pending())
        panel.advisor.table.selectRow(0)
        app.processEvents()
        target = out_dir / "database-tab.png"
        panel.grab().save(str(target))
        print(target)
        print(render_blocked(app, panel, cluster, url, out_dir))
        print(render_budget(app, panel, url, out_dir))
        panel.shutdown()
    finally:
        cluster.remove()
    return 0


def render_blocked(app, panel: DatabasePanel, cluster: PgCluster, url: str, out_dir: Path) -> Path:
    """Two blockers: a transaction idle on an updated row with two updates queued behind it,
    and a table lock with a read waiting; read-only off, the first waiter selected."""
    create_target(url)
    create_target(url, "ReportCache")
    with (
        contextlib.closing(cluster.admin("shop")) as observer,
        LockScene(url, observer, holder="order-import") as rows,
        LockScene(url, observer, "table", "ReportCache", "nightly-report") as report,
    ):
        first = rows.add_waiter("shop-api")
        rows.add_waiter("shop-worker")
        report.add_waiter("admin-dashboard")
        box = panel.connect_bar.read_only_box  # read-only off without the question
        box.blockSignals(True)
        box.setChecked(False)
        box.blockSignals(False)
        panel.session.read_only = False
        panel.blocked.set_writable(True)
        panel.tabs.setCurrentWidget(panel.blocked)
        wait_until(app, lambda: panel.blocked.tree.topLevelItemCount() == 2)
        time.sleep(4)  # waits of a few seconds, as a person sees them
        panel.refresh_blocked()
        wait_until(app, lambda: not panel.bridge.pending("blocked"))
        panel.blocked._select(first.pid)
        app.processEvents()
        target = out_dir / "blocked-now.png"
        panel.grab().save(str(target))
    return target


def render_budget(app, panel: DatabasePanel, url: str, out_dir: Path) -> Path:
    """The Memory budget page for a 500 MB server on PostgreSQL's default configuration, with a
    backend holding more connections than its pool should."""
    with contextlib.ExitStack() as stack:
        for name in ["shop-api"] * 8 + ["report-job"]:
            stack.enter_context(contextlib.closing(psycopg2.connect(url, application_name=name)))
        panel.tabs.setCurrentWidget(panel.budget)
        panel.budget.request_refresh()
        wait_until(app, lambda: not panel.bridge.pending("budget") and panel.budget.loaded)
        app.processEvents()
        target = out_dir / "database-budget.png"
        panel.grab().save(str(target))
    return target


if __name__ == "__main__":
    sys.exit(main(Path(sys.argv[1]) if len(sys.argv) > 1 else ROOT / "docs" / "screenshots"))
