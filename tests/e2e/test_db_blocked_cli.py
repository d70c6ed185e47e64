"""``fibuca-desktop db blocked`` and ``db cancel`` end to end: subprocesses, real lock waits."""

from __future__ import annotations

import contextlib

import psycopg2
import pytest

from tests.e2e.test_db_cli import db, ok_json
from tests.lock_scene import LockScene, create_target

NODE_KEYS = {"pid", "application", "user", "state", "waitSeconds", "waitEvent", "query"}
NODE_KEYS |= {"blocks", "children"}


@pytest.fixture(scope="module")
def cli_url(pg_cluster) -> str:
    url = pg_cluster.clone("shop_blocking_cli")
    create_target(url)
    return url


@pytest.fixture
def scene(pg_cluster, cli_url):
    with (
        contextlib.closing(pg_cluster.admin("shop_blocking_cli")) as observer,
        LockScene(cli_url, observer) as scene,
    ):
        yield scene


def test_blocked_prints_the_tree_as_json_and_indented(cli_url, scene):
    first = scene.add_waiter("waiter-1")
    second = scene.add_waiter("waiter-2")
    data = ok_json(db("blocked", "--url", cli_url, "--json"))
    assert set(data) == {"tree", "truncated"} and data["truncated"] is False
    [root] = data["tree"]
    assert set(root) == NODE_KEYS
    assert (root["pid"], root["application"], root["blocks"]) == (scene.pid, "holder", 2)
    [child] = root["children"]
    assert set(child) == NODE_KEYS and child["waitEvent"] == "Lock: transactionid"
    assert (child["pid"], child["application"], child["blocks"]) == (first.pid, "waiter-1", 1)
    assert child["waitSeconds"] > 0 and child["user"] == "fibuca"
    assert [c["pid"] for c in child["children"]] == [second.pid]

    text = db("blocked", "--url", cli_url)
    assert text.returncode == 0, text.stderr
    lines = text.stdout.splitlines()
    assert lines[0].startswith(f"pid {scene.pid}  holder  fibuca  idle in transaction  ")
    assert lines[1].startswith(f"  pid {first.pid}  waiter-1  fibuca  active  ")
    assert "Lock: transactionid  blocks 1  UPDATE" in lines[1]
    assert lines[2].startswith(f"    pid {second.pid}  waiter-2  ")

    cut = db("blocked", "--url", cli_url, "--json", "--limit", "1")
    assert ok_json(cut)["truncated"] is True
    assert "note: showing the 1 most blocking sessions; more are blocked" in cut.stderr
    assert [n["pid"] for n in ok_json(cut)["tree"]] == [scene.pid]


def test_cancel_asks_then_cancels_and_terminate_frees_the_rest(cli_url, scene):
    first = scene.add_waiter("waiter-1")
    second = scene.add_waiter("waiter-2")
    refused = db("cancel", str(first.pid), "--url", cli_url)  # no terminal to confirm on
    assert refused.returncode == 1
    assert f"Cancel the running query of pid {first.pid} (user fibuca, application " in (
        refused.stderr
    )
    assert "not confirmed: nothing was sent (use --yes" in refused.stderr
    assert scene.waiting(first.pid)

    done = db("cancel", str(first.pid), "--url", cli_url, "--yes")
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == (
        f"Cancelled the running query of pid {first.pid} (user fibuca, application 'waiter-1')."
    )
    assert first.finished.wait(30)
    assert isinstance(first.error, psycopg2.errors.QueryCanceled)

    idle = db("cancel", str(scene.pid), "--url", cli_url, "--yes")
    assert idle.returncode == 1 and "terminate it to free them" in idle.stderr
    assert "Traceback" not in idle.stderr and len(idle.stderr.splitlines()) == 1

    ended = ok_json(
        db("cancel", str(scene.pid), "--url", cli_url, "--terminate", "--yes", "--json")
    )
    assert set(ended) == {"pid", "outcome", "message"}
    assert (ended["pid"], ended["outcome"]) == (scene.pid, "terminated")
    assert second.finished.wait(30) and second.error is None
    assert scene.wait_until(lambda: scene.gone(scene.pid))
    gone = db("cancel", str(scene.pid), "--url", cli_url, "--yes")
    assert gone.returncode == 0 and gone.stdout.strip().endswith(
        "is already gone: nothing to cancel."
    )
    assert ok_json(db("blocked", "--url", cli_url, "--json")) == {"tree": [], "truncated": False}
    assert db("blocked", "--url", cli_url).stdout.strip() == "no session is blocked"


def test_a_bad_pid_is_a_usage_error(cli_url):
    result = db("cancel", "0", "--url", cli_url, "--yes")
    assert result.returncode == 2 and "0 is out of range; use 1 to 2147483647" in result.stderr
