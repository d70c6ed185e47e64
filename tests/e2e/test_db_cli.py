"""``fibuca-desktop db`` end to end: real subprocesses against the throwaway cluster."""

from __future__ import annotations

import contextlib
import json
import os
import signal
import subprocess
import sys
import time

import psycopg2
import pytest

from tests.core.test_db_advisor import EXPECTED
from tests.pg_cluster import PASSWORD
from tests.shop_schema import (
    ORDERS_OF_USER,
    PAGE_TITLES,
    PAGES_FIND_MANY,
    normalised,
    run_workload,
)

COMMAND = [sys.executable, "-m", "fibuca_desktop", "db"]
LOW = ["--min-mean-ms", "0", "--min-calls", "30"]
SUGGESTION_KEYS = {"table", "columns", "reason", "sql", "prisma", "verified"}
SUGGESTION_KEYS |= {"cost_before", "cost_after", "queries"}


def db(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess:
    result = subprocess.run(
        [*COMMAND, *args],
        capture_output=True,
        text=True,
        timeout=120,
        stdin=subprocess.DEVNULL,  # as in CI: no terminal to confirm on
        env={**os.environ, **(env or {})},
    )
    assert PASSWORD not in result.stdout + result.stderr
    return result


def ok_json(result: subprocess.CompletedProcess) -> dict:
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout)


def test_advise_json(pg_cluster, shop_url, tmp_path):
    pg_cluster.require_hypopg()
    migration = tmp_path / "migration.sql"
    data = ok_json(db("advise", "--url", shop_url, "--json", *LOW, "--migration", str(migration)))
    assert set(data) == {"suggestions", "unreadable_tables", "unreadable_note"}
    assert (data["unreadable_tables"], data["unreadable_note"]) == ([], None)
    assert all(set(s) == SUGGESTION_KEYS for s in data["suggestions"])
    assert {(s["table"], tuple(s["columns"]), s["reason"]) for s in data["suggestions"]} == EXPECTED
    assert all(s["verified"] and s["cost_after"] < s["cost_before"] for s in data["suggestions"])
    assert migration.read_text().count("CREATE INDEX IF NOT EXISTS") == len(EXPECTED)


def test_advise_without_hypopg_says_why(pg_cluster, plain_url):
    result = db("advise", "--url", plain_url, "--json", *LOW)
    data = ok_json(result)
    assert {s["verified"] for s in data["suggestions"]} == {False}
    assert f"note: {pg_cluster.hypopg_missing_message()}" in result.stderr


def test_indexes_overview_and_slow_json(shop_url):
    health = ok_json(db("indexes", "--url", shop_url, "--json"))
    assert set(health) == {"duplicate", "unused", "invalid", "not_judged", "stats_since"}
    assert health["unused"] == [] and "Product_name_idx" in health["not_judged"]  # too young
    assert health["duplicate"] == ["User_email_idx"]
    assert health["invalid"] == ["Order_status_key"]
    view = ok_json(db("overview", "--json", env={"DATABASE_URL": shop_url}))  # Prisma's variable
    assert view["database"] == "shop" and view["max_connections"] == 60
    slow = ok_json(db("slow", "--url", shop_url, "--json", *LOW, "--sort", "calls"))
    assert slow["available"] and len(slow["queries"]) >= 7


def test_apply_needs_confirmation_then_builds(pg_cluster):
    url = pg_cluster.clone("shop_cli_apply")
    refused = db("apply", "--url", url, "--table", "Order", "--columns", "userId,createdAt")
    assert refused.returncode == 1
    assert 'CREATE INDEX CONCURRENTLY "Order_userId_createdAt_idx"' in refused.stderr
    assert "not confirmed: nothing was run" in refused.stderr
    built = ok_json(
        db(
            "apply",
            "--url",
            url,
            "--table",
            "Order",
            "--columns",
            "userId,createdAt",
            "--yes",
            "--json",
        )
    )
    assert set(built) == {"index", "valid", "seconds"}
    assert (built["index"], built["valid"]) == ("Order_userId_createdAt_idx", True)
    again = db("apply", "--url", url, "--table", "Order", "--columns", "userId,createdAt", "--yes")
    assert again.returncode == 1 and "exists already" in again.stderr


@pytest.mark.parametrize(
    ("password", "message"),
    [("wrong-" + PASSWORD, "Wrong password for user 'fibuca'"), (PASSWORD, "no table 'order'")],
)
def test_failures_exit_1_with_a_clear_message_and_no_password(pg_cluster, password, message):
    url = pg_cluster.url("shop_template", password=password)
    result = db("apply", "--url", url, "--table", "order", "--columns", "userId", "--yes")
    assert result.returncode == 1
    assert message in result.stderr
    assert result.stdout == ""


def test_human_output_shows_sql_and_prisma_lines(shop_url):
    result = db("advise", "--url", shop_url, *LOW)
    assert result.returncode == 0, result.stderr
    assert 'CREATE INDEX CONCURRENTLY "OrderItem_orderId_idx"' in result.stdout
    assert "model Order {" in result.stdout and "@@index([userId, createdAt])" in result.stdout


def test_other_commands_do_not_load_the_database_stack():
    """`process` starts without SQLAlchemy or psycopg2 (its memory budget is tight)."""
    from fibuca_desktop.cli.db_command import SORT_KEYS
    from fibuca_desktop.core.database.slow_queries import SORT_KEYS as CORE_SORT_KEYS

    assert SORT_KEYS == CORE_SORT_KEYS
    code = (
        "import sys; from fibuca_desktop.__main__ import build_parser; build_parser(); "
        "print(sorted(m for m in ('sqlalchemy', 'psycopg2') if m in sys.modules))"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert result.stdout.strip() == "[]", result.stderr


def test_ctrl_c_cancels_the_build_and_drops_what_it_left(pg_cluster):
    url = pg_cluster.clone("shop_cli_interrupt")
    writer = psycopg2.connect(url)  # a write in progress makes the build wait in phase 1
    writer.cursor().execute(
        'UPDATE "OrderItem" SET "quantity" = "quantity" WHERE "id" = %s', ["i1"]
    )
    args = ["apply", "--url", url, "--table", "OrderItem", "--columns", "price", "--yes"]
    args += ["--lock-timeout", "120"]  # only a real cancel ends the wait within the test
    process = subprocess.Popen(
        [*COMMAND, *args],
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        assert wait_for_phase(pg_cluster, "waiting for writers before build")
        process.send_signal(signal.SIGINT)
        assert wait_for_phase(pg_cluster, None)  # the build is gone
    finally:
        writer.rollback()  # lets DROP INDEX CONCURRENTLY through
        writer.close()
        out, err = process.communicate(timeout=60)
    assert process.returncode == 1 and out == ""
    assert PASSWORD not in err
    assert "The build of OrderItem_price_idx was cancelled." in err
    assert 'DROP INDEX CONCURRENTLY IF EXISTS "public"."OrderItem_price_idx";' in err
    with contextlib.closing(psycopg2.connect(url)) as check, check.cursor() as cur:
        cur.execute("SELECT count(*) FROM pg_indexes WHERE indexname = 'OrderItem_price_idx'")
        assert cur.fetchone()[0] == 0


def wait_for_phase(pg_cluster, phase: str | None) -> bool:
    """Until the one running build is in ``phase`` (None: until there is none)."""
    deadline = time.monotonic() + 30
    with contextlib.closing(pg_cluster.admin()) as observer, observer.cursor() as cur:
        while time.monotonic() < deadline:
            cur.execute("SELECT phase FROM pg_stat_progress_create_index")
            phases = [row[0] for row in cur.fetchall()]
            if (phase is None and not phases) or (phase is not None and phase in phases):
                return True
            time.sleep(0.02)
    return False


def test_debug_logging_never_shows_the_password(shop_url):
    """-vv shows the INFO and DEBUG logs (the URL is logged, masked)."""
    result = subprocess.run(
        [sys.executable, "-m", "fibuca_desktop", "-vv", "db", "overview", "--url", shop_url],
        capture_output=True,
        text=True,
        timeout=120,
        stdin=subprocess.DEVNULL,
    )
    assert result.returncode == 0, result.stderr
    assert "INFO fibuca_desktop.core.database.connection: engine for" in result.stderr
    assert "fibuca:***@" in result.stderr
    assert PASSWORD not in result.stdout + result.stderr


OVERFETCH_KEYS = {"queryid", "query", "table", "allColumns", "rowsPerCall", "bytesPerCall"}
OVERFETCH_KEYS |= {"totalBytes", "wideColumns", "fix", "schema", "flagged", "savedBytesPerCall"}
OVERFETCH_KEYS |= {"prisma"}


def test_overfetch_json_ranks_the_find_many_without_select(shop_url):
    data = ok_json(db("overfetch", "--url", shop_url, "--json"))
    assert set(data) == {"queries", "available", "message", "skipped"}
    [first] = data["queries"]  # the one statement that returns wide columns
    assert set(first) == OVERFETCH_KEYS
    assert first["query"] == normalised(PAGES_FIND_MANY) and first["allColumns"]
    assert first["wideColumns"] == ["description", "specs"] and first["flagged"]
    assert first["totalBytes"] == pytest.approx(first["bytesPerCall"] * 30, rel=1e-3)
    every = ok_json(db("overfetch", "--url", shop_url, "--json", "--all"))["queries"]
    totals = [q["totalBytes"] for q in every]
    assert totals == sorted(totals, reverse=True) and len(every) > 5
    [titles] = [q for q in every if q["query"] == normalised(PAGE_TITLES)]
    assert not titles["flagged"] and titles["bytesPerCall"] < first["bytesPerCall"] / 50


def test_overfetch_text_says_the_fix(shop_url):
    result = db("overfetch", "--url", shop_url)
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    assert "ProductPage  ALL COLUMNS (wide: description, specs)  20 rows/call" in lines[0]
    assert lines[1].startswith("  fix: prisma.productPage.findMany({ omit: { description: true")
    bad = db("overfetch", "--url", shop_url, "--limit", "0")
    assert bad.returncode == 2 and "Traceback" not in bad.stderr


SERIALIZE_KEYS = {"queryid", "query", "parameters", "rows", "outputKiloBytes", "outputBytes"}
SERIALIZE_KEYS |= {"serializeMs", "executionMs", "estimatedBytesPerCall", "estimatedRowsPerCall"}


def test_serialize_measures_the_find_many_found_by_overfetch(shop17_url):
    [first] = ok_json(db("overfetch", "--url", shop17_url, "--json"))["queries"]
    measure = ("serialize", first["queryid"], "--url", shop17_url, "--param", "20")
    data = ok_json(db(*measure, "--param", "0", "--json"))
    assert set(data) == SERIALIZE_KEYS and data["parameters"] == ["20", "0"]
    assert data["rows"] == 20 and data["query"] == normalised(PAGES_FIND_MANY)
    assert data["outputBytes"] == pytest.approx(first["bytesPerCall"], rel=0.2)
    assert data["estimatedBytesPerCall"] == pytest.approx(first["bytesPerCall"], rel=1e-3)
    text = db(*measure, "--param", "0")
    assert text.returncode == 0 and text.stdout.startswith("measured 71.0 kB (71 kB) for 20 rows")
    assert "  estimate (db overfetch): 71." in text.stdout
    # measuring left the finder's entry as it was: the same statement, text and calls
    [again] = ok_json(db("overfetch", "--url", shop17_url, "--json"))["queries"]
    assert (again["queryid"], again["query"]) == (first["queryid"], first["query"])
    wrong = db(*measure)
    assert wrong.returncode == 2 and "Traceback" not in wrong.stderr
    assert wrong.stderr.count("\n") == 1 and "needs 2 parameter value(s)" in wrong.stderr
    slow = db(
        "serialize", "SELECT pg_sleep($1)", "--param", "5", "--timeout", "0.2", "--url", shop17_url
    )
    assert slow.returncode == 1 and "measuring timeout (0.2 s)" in slow.stderr
    bad = db("serialize", first["queryid"], "--timeout", "0", "--url", shop17_url)
    assert bad.returncode == 2 and "--timeout" in bad.stderr


def test_serialize_on_postgresql_15_fails_saying_it_needs_17(shop_url):
    result = db(
        "serialize", normalised(PAGE_TITLES), "--param", "5", "--param", "0", "--url", shop_url
    )
    assert result.returncode == 1 and result.stderr.count("\n") == 1
    assert "needs PostgreSQL 17 or later (this server is 15." in result.stderr


def test_measure_after_apply_and_the_workload_says_helped(pg_cluster, tmp_path):
    url = pg_cluster.clone("shop_cli_measure")
    with contextlib.closing(psycopg2.connect(url)) as connection:
        connection.autocommit = True
        run_workload(connection)
    env = {"FIBUCA_INDEX_SNAPSHOTS": str(tmp_path / "snapshots.json")}
    apply = ("apply", "--url", url, "--table", "Order", "--columns", "userId,createdAt", "--yes")
    assert db(*apply, env=env).returncode == 0
    early = ok_json(db("measure", "Order_userId_createdAt_idx", "--url", url, "--json", env=env))
    assert early["verdict"] == "no calls yet" and early["indexScans"] == 0
    with contextlib.closing(psycopg2.connect(url)) as connection:
        connection.autocommit = True
        run_workload(connection)
    data = ok_json(db("measure", "Order_userId_createdAt_idx", "--url", url, "--json", env=env))
    assert data["verdict"] == "helped" and data["indexScans"] >= 30
    by_query = {s["query"]: s for s in data["statements"]}
    orders = by_query[normalised(ORDERS_OF_USER)]  # found by the table and its first column
    assert orders["callsAfter"] == 30 and orders["meanMsAfter"] < orders["meanMsBefore"]
    text = db("measure", "Order_userId_createdAt_idx", "--url", url, env=env)
    assert text.stdout.startswith("Order_userId_createdAt_idx: helped: mean ")
    unknown = db("measure", "Order_pkey", "--url", url, env=env)
    assert unknown.returncode == 1 and "No snapshot of Order_pkey" in unknown.stderr


def test_advise_looks_at_only_the_slowest_n_statements(pg_cluster, shop_url):
    pg_cluster.require_hypopg()
    every = ok_json(db("advise", "--url", shop_url, "--json", *LOW))["suggestions"]
    one = ok_json(db("advise", "--url", shop_url, "--json", *LOW, "--max-statements", "1"))
    queries = {q for s in one["suggestions"] if s["reason"] == "slow-query" for q in s["queries"]}
    assert (
        len(queries)
        <= 1
        < len({q for s in every if s["reason"] == "slow-query" for q in s["queries"]})
    )
    bad = db("advise", "--url", shop_url, "--max-statements", "0")
    assert bad.returncode == 2 and "Traceback" not in bad.stderr
