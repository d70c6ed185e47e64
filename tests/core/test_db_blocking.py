"""The lock tree and ending a blocker, against real sessions waiting in the throwaway cluster."""

from __future__ import annotations

import contextlib

import psycopg2
import pytest

from fibuca_desktop.core.database.blocking import BlockedSession, blocking_tree, build_tree
from fibuca_desktop.core.database.connection import PoolSettings
from fibuca_desktop.core.database.session import DatabaseSession
from fibuca_desktop.core.database.session_ending import end_session
from fibuca_desktop.core.errors import UsageError, WriteRefused
from tests.lock_scene import LockScene, create_target


@pytest.fixture(scope="module")
def blocking_url(pg_cluster) -> str:
    url = pg_cluster.clone("shop_blocking")
    create_target(url)
    return url


@pytest.fixture
def observer(pg_cluster):
    with contextlib.closing(pg_cluster.admin("shop_blocking")) as connection:
        yield connection


@pytest.fixture
def writable(blocking_url):
    with DatabaseSession(blocking_url, read_only=False) as session:
        yield session


def tree_of(session: DatabaseSession, limit: int = 200):
    return session.run(blocking_tree, limit)


def places(tree) -> dict[int, tuple[int, BlockedSession]]:
    return {node.pid: (depth, node) for depth, node in tree.walk() if not node.repeated}


def test_the_holder_is_the_root_and_its_waiters_hang_below_with_growing_waits(
    blocking_url, observer
):
    with DatabaseSession(blocking_url) as session, LockScene(blocking_url, observer) as scene:
        first = scene.add_waiter("waiter-1")
        second = scene.add_waiter("waiter-2")  # waits for the row lock waiter-1 holds
        tree = tree_of(session)
        assert not tree.truncated
        assert [root.pid for root in tree.roots] == [scene.pid]
        root = tree.roots[0]
        assert (root.application, root.user, root.blocks) == ("holder", "fibuca", 2)
        assert root.state == "idle in transaction" and root.wait_event.startswith("Client")
        found = places(tree)
        assert set(found) == {scene.pid, first.pid, second.pid}
        depth, one = found[first.pid]
        assert (depth, one.application, one.blocks, one.state) == (1, "waiter-1", 1, "active")
        assert one.wait_event == "Lock: transactionid"
        assert one.query == 'UPDATE "lock_target" SET n = n + 1 WHERE id = 1'
        depth, two = found[second.pid]
        assert (depth, two.application, two.blocks) == (2, "waiter-2", 0)
        assert two.blocked_by == (first.pid,) and two in one.children
        assert tree.to_json()["tree"][0]["children"][0]["children"][0]["pid"] == second.pid
        assert scene.wait_until(
            lambda: places(tree_of(session))[first.pid][1].wait_seconds > one.wait_seconds + 0.2
        )


def test_cancelling_a_waiter_ends_its_wait_and_terminating_the_holder_frees_the_rest(
    blocking_url, observer, writable
):
    with LockScene(blocking_url, observer) as scene:
        first = scene.add_waiter("waiter-1")
        second = scene.add_waiter("waiter-2")
        cancelled = end_session(writable, first.pid)
        assert cancelled.outcome == "cancelled"
        assert cancelled.message == (
            f"Cancelled the running query of pid {first.pid} (user fibuca, application 'waiter-1')."
        )
        assert first.finished.wait(30)
        assert isinstance(first.error, psycopg2.errors.QueryCanceled)
        assert not second.finished.is_set()  # now waits for the holder itself
        assert scene.wait_until(lambda: places(tree_of(writable)).keys() == {scene.pid, second.pid})

        terminated = end_session(writable, scene.pid, terminate=True)
        assert terminated.outcome == "terminated"
        assert terminated.message.startswith(f"Terminated pid {scene.pid} (user fibuca, ")
        assert second.finished.wait(30) and second.error is None  # its update went through
        assert scene.wait_until(lambda: scene.gone(scene.pid))
        assert tree_of(writable).roots == []
        gone = end_session(writable, scene.pid)
        assert (gone.outcome, gone.message) == (
            "gone",
            f"pid {scene.pid} is already gone: nothing to cancel.",
        )


def test_cancelling_an_idle_holder_says_it_keeps_its_locks(blocking_url, observer, writable):
    with LockScene(blocking_url, observer) as scene:
        waiter = scene.add_waiter("waiter-1")
        result = end_session(writable, scene.pid)
        assert result.outcome == "no effect"
        assert "idle in transaction: there is no query to cancel" in result.message
        assert "terminate it to free them" in result.message
        assert scene.waiting(waiter.pid)


def test_read_only_mode_refuses_and_nothing_is_sent(blocking_url, observer):
    with DatabaseSession(blocking_url) as session, LockScene(blocking_url, observer) as scene:
        waiter = scene.add_waiter("waiter-1")
        with pytest.raises(WriteRefused, match="Read-only mode is on, so Fibuca will not cancel"):
            end_session(session, scene.pid)
        with pytest.raises(WriteRefused, match="terminate another session"):
            end_session(session, scene.pid, terminate=True)
        assert scene.waiting(waiter.pid)


def test_our_own_backend_is_refused(blocking_url):
    settings = PoolSettings(size=1)  # one connection: the request runs on the pid we ask about
    with DatabaseSession(blocking_url, settings, read_only=False) as session:

        def own(cur) -> int:
            cur.execute("SELECT pg_backend_pid() AS pid")
            return cur.fetchone()["pid"]

        pid = session.run(own)
        with pytest.raises(UsageError, match=f"pid {pid} is the connection Fibuca is using"):
            end_session(session, pid, terminate=True)
        assert session.run(own) == pid  # still alive
        with pytest.raises(UsageError, match="is not a process id"):
            end_session(session, -5)
        with pytest.raises(UsageError, match=r"pid 0 is a prepared transaction.*ROLLBACK PREPARED"):
            end_session(session, 0)


def test_a_session_of_a_superuser_is_not_permitted_with_what_to_do(
    pg_cluster, blocking_url, writable
):
    with contextlib.closing(pg_cluster.admin("shop_blocking")) as superuser:
        pid = superuser.get_backend_pid()
        result = end_session(writable, pid, terminate=True)
        assert result.outcome == "not permitted"
        assert result.message.startswith(f"Not permitted to end pid {pid} (user postgres")
        assert "GRANT pg_signal_backend TO fibuca;" in result.message
        with superuser.cursor() as cur:
            cur.execute("SELECT 1")  # untouched


def test_the_limit_truncates_and_says_so(blocking_url, observer):
    with DatabaseSession(blocking_url) as session, LockScene(blocking_url, observer, "table") as s:
        for name in ("waiter-1", "waiter-2", "waiter-3"):
            s.add_waiter(name)
        full = tree_of(session)
        assert not full.truncated and full.roots[0].pid == s.pid and full.roots[0].blocks == 3
        assert len(full.walk()) == 4
        cut = tree_of(session, limit=2)
        assert cut.truncated and cut.roots[0].pid == s.pid  # the most blocking comes first
        assert len(cut.walk()) == 2
        assert cut.to_json()["truncated"] is True


def node(pid: int, blocks: int, *blocked_by: int) -> BlockedSession:
    return BlockedSession(pid, f"app-{pid}", "u", "active", 1.0, "Lock: relation", "q", blocks,
                          blocked_by)  # fmt: skip


def test_a_deadlock_in_progress_is_shown_once_and_never_loops():
    # 1 and 2 wait for each other (a cycle the server has not broken yet); 3 waits for both.
    sessions = [node(1, 2, 2), node(2, 2, 1), node(3, 0, 1, 2)]
    tree = build_tree(sessions, truncated=False, limit=200)
    assert [root.pid for root in tree.roots] == [1]
    assert [(depth, n.pid, n.repeated) for depth, n in tree.walk()] == [
        (0, 1, False),
        (1, 2, False),
        (2, 1, True),
        (2, 3, True),
        (1, 3, False),
    ]
    assert not tree.truncated


def test_a_queue_reads_as_a_chain_and_a_long_one_stays_bounded():
    # A lock queue: every waiter is blocked by the holder and by each waiter queued ahead.
    count = 300
    sessions = [node(pid, count - pid, *range(pid)) for pid in range(count)]
    tree = build_tree(sessions, truncated=False, limit=1000)
    assert [depth for depth, _n in tree.walk()] == list(range(count))
    bounded = build_tree(sessions, truncated=False, limit=50)
    assert len(bounded.walk()) == 50 and bounded.truncated
