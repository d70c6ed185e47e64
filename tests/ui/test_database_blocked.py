"""The "Blocked now" page on real widgets offscreen, with real sessions waiting for a real lock."""

from __future__ import annotations

import contextlib

import psycopg2
import pytest
from PySide6.QtWidgets import QMessageBox

from fibuca_desktop.core.settings import Settings
from fibuca_desktop.ui.database.blocked_widget import (
    APPLICATION,
    BLOCKER,
    BLOCKS,
    PICK_TIP,
    READ_ONLY_TIP,
    BlockedNowWidget,
)
from fibuca_desktop.ui.database.database_panel import DatabasePanel
from tests.lock_scene import LockScene, create_target
from tests.ui.test_database_panel import WAIT_MS, ModalAnswerer, connect, make_writable, no, yes


@pytest.fixture(scope="module")
def blocked_url(pg_cluster) -> str:
    url = pg_cluster.clone("shop_blocking_ui")
    create_target(url)
    return url


@pytest.fixture
def panel(qtbot):
    """A shown Database panel, shut down after the test (its pools and session closed)."""
    panel = DatabasePanel(Settings())
    qtbot.addWidget(panel)
    panel.resize(1000, 700)
    panel.show()
    yield panel
    panel.shutdown()


@pytest.fixture
def scene(pg_cluster, blocked_url):
    with (
        contextlib.closing(pg_cluster.admin("shop_blocking_ui")) as observer,
        LockScene(blocked_url, observer) as scene,
    ):
        yield scene


def rows(page: BlockedNowWidget) -> list[tuple[int, str, str, str]]:
    """(depth, pid, application, blocks) of every row, top to bottom."""
    found, stack = (
        [],
        [(0, page.tree.topLevelItem(i)) for i in range(page.tree.topLevelItemCount())],
    )
    stack.reverse()
    while stack:
        depth, item = stack.pop()
        found.append((depth, int(item.text(0)), item.text(APPLICATION), item.text(BLOCKS)))
        stack.extend((depth + 1, item.child(i)) for i in reversed(range(item.childCount())))
    return found


def select(page: BlockedNowWidget, pid: int) -> None:
    page._select(pid)
    assert page.selected_pid() == pid


def test_the_page_shows_the_lock_tree_and_cancel_asks_then_releases_the_waiter(
    qtbot, panel, blocked_url, scene
):
    connect(qtbot, panel, blocked_url)
    page = panel.blocked
    first = scene.add_waiter("waiter-1")
    panel.tabs.setCurrentWidget(page)  # on screen: read now, then every 3 s
    qtbot.waitUntil(lambda: len(rows(page)) == 2, timeout=WAIT_MS)
    assert page.timer.isActive()
    second = scene.add_waiter("waiter-2")  # picked up by the auto-refresh, no click
    qtbot.waitUntil(lambda: len(rows(page)) == 3, timeout=WAIT_MS)
    assert rows(page) == [
        (0, scene.pid, "holder", "2"),
        (1, first.pid, "waiter-1", "1"),
        (2, second.pid, "waiter-2", "0"),
    ]
    root = page.tree.topLevelItem(0)
    assert root.background(0).color() == BLOCKER
    assert root.text(3) == "idle in transaction"
    assert root.child(0).text(5) == "Lock: transactionid"
    assert "2 session(s) waiting behind 1 blocker(s)" in page.summary.text()

    select(page, first.pid)  # read-only: nothing can be ended
    assert not page.cancel_button.isEnabled()
    assert page.cancel_button.toolTip() == READ_ONLY_TIP
    make_writable(qtbot, panel)
    assert page.cancel_button.isEnabled() and page.terminate_button.isEnabled()
    select(page, second.pid)  # blocks nobody
    assert not page.cancel_button.isEnabled() and page.cancel_button.toolTip() == PICK_TIP

    select(page, first.pid)
    answers = ModalAnswerer((QMessageBox, no))
    page.cancel_button.click()
    assert answers.done
    assert answers.seen[0].startswith(
        f"Cancel the running query of pid {first.pid} (user fibuca, application 'waiter-1', "
        "active)?"
    )
    assert not first.finished.is_set() and scene.waiting(first.pid)

    answers = ModalAnswerer((QMessageBox, yes))
    page.cancel_button.click()
    assert answers.done
    assert first.finished.wait(30)
    assert isinstance(first.error, psycopg2.errors.QueryCanceled)
    qtbot.waitUntil(lambda: page.outcome.text().startswith("Cancelled"), timeout=WAIT_MS)
    assert page.outcome.text() == (
        f"Cancelled the running query of pid {first.pid} (user fibuca, application 'waiter-1')."
    )
    qtbot.waitUntil(lambda: [r[1] for r in rows(page)] == [scene.pid, second.pid], timeout=WAIT_MS)

    select(page, scene.pid)
    answers = ModalAnswerer((QMessageBox, yes))
    page.terminate_button.click()
    assert answers.done and answers.seen[0].startswith(f"Terminate the session of pid {scene.pid}")
    assert second.finished.wait(30) and second.error is None
    qtbot.waitUntil(lambda: rows(page) == [], timeout=WAIT_MS)
    assert page.outcome.text().startswith(f"Terminated pid {scene.pid} (user fibuca, ")
    assert page.summary.text().startswith("No session of this database is waiting for a lock.")
    assert not page.cancel_button.isEnabled()

    panel.tabs.setCurrentIndex(0)  # off screen: no more reads
    assert not page.timer.isActive()


def test_turning_read_only_back_on_disables_the_buttons(qtbot, panel, blocked_url, scene):
    connect(qtbot, panel, blocked_url)
    make_writable(qtbot, panel)
    scene.add_waiter("waiter-1")
    panel.tabs.setCurrentWidget(panel.blocked)
    qtbot.waitUntil(lambda: len(rows(panel.blocked)) == 2, timeout=WAIT_MS)
    select(panel.blocked, scene.pid)
    assert panel.blocked.terminate_button.isEnabled()
    panel.connect_bar.read_only_box.setChecked(True)  # no question when turning it on
    assert not panel.blocked.terminate_button.isEnabled()
    assert panel.blocked.terminate_button.toolTip() == READ_ONLY_TIP
