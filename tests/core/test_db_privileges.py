"""A role without pg_read_all_stats sees other roles' statements as ``<insufficient privilege>``:
the slow-query report, the advisor and the CLI say how many were hidden and what to grant."""

from __future__ import annotations

import contextlib
import threading
import time

import psycopg2
import pytest

from fibuca_desktop.core.database.advisor import advise
from fibuca_desktop.core.database.session import DatabaseSession
from fibuca_desktop.core.database.slow_queries import SlowQueryThresholds, slow_queries
from tests.e2e.test_db_cli_messages import run
from tests.pg_cluster import ROLE
from tests.shop_schema import run_workload

PLAIN, PLAIN_PASSWORD = "fibuca_plain", "Vw7-plain-Xy"
LOW = SlowQueryThresholds(min_mean_ms=0, min_calls=30)
WORKLOAD_QUERIES = 9  # tests/shop_schema.py run_workload: nine queries, 30 rounds each


def plain_url(pg_cluster, dbname: str) -> str:
    return pg_cluster.url(dbname, PLAIN_PASSWORD, PLAIN)


@pytest.fixture(scope="module")
def hidden_db(pg_cluster) -> str:
    """The shop's workload run by the owner role; read by a role without pg_read_all_stats."""
    owner_url = pg_cluster.clone("shop_privileges")
    with contextlib.closing(psycopg2.connect(owner_url)) as connection:
        connection.autocommit = True
        run_workload(connection)
    pg_cluster.add_role(PLAIN, PLAIN_PASSWORD)
    with contextlib.closing(pg_cluster.admin("shop_privileges")) as admin, admin.cursor() as cur:
        cur.execute(f'GRANT SELECT ON ALL TABLES IN SCHEMA public TO "{PLAIN}"')
    return "shop_privileges"


def test_hidden_statements_are_counted_with_what_to_grant(pg_cluster, hidden_db):
    with DatabaseSession(plain_url(pg_cluster, hidden_db)) as session:
        report = session.run(slow_queries, LOW)
    assert all(q.query != "<insufficient privilege>" for q in report.queries)
    assert report.hidden >= WORKLOAD_QUERIES  # each judged on its own, none folded into one
    assert f"{report.hidden} statements of role {ROLE} above the thresholds" in (
        report.hidden_message
    )
    assert f"GRANT pg_read_all_stats TO {PLAIN};" in report.hidden_message
    assert report.to_json()["hidden"] == report.hidden


@pytest.mark.parametrize(
    ("thresholds", "hidden"),
    [
        (SlowQueryThresholds(min_mean_ms=0, min_calls=10**6), 0),  # none qualifies
        (SlowQueryThresholds(min_mean_ms=10**6, min_calls=1), 0),
        (SlowQueryThresholds(min_mean_ms=0, min_calls=1), WORKLOAD_QUERIES),
    ],
)
def test_only_hidden_statements_over_the_thresholds_are_counted(
    pg_cluster, hidden_db, thresholds, hidden
):
    with DatabaseSession(plain_url(pg_cluster, hidden_db)) as session:
        report = session.run(slow_queries, thresholds)
    assert report.hidden >= hidden if hidden else report.hidden == 0
    assert (report.hidden_message is None) == (report.hidden == 0)


def test_a_role_with_pg_read_all_stats_sees_them(pg_cluster, hidden_db):
    with DatabaseSession(pg_cluster.url(hidden_db)) as session:  # the owner: granted
        report = session.run(slow_queries, LOW)
    assert report.hidden == 0 and len(report.queries) >= WORKLOAD_QUERIES


def test_the_advisor_says_so_too(pg_cluster, hidden_db):
    from fibuca_desktop.core.database.advisor import AdvisorSettings

    with DatabaseSession(plain_url(pg_cluster, hidden_db)) as session:
        advice = advise(session, AdvisorSettings(thresholds=LOW))
    assert "GRANT pg_read_all_stats" in advice.statements_hidden


def test_the_cli_says_how_many_were_hidden_not_just_none(pg_cluster, hidden_db):
    result = run(
        "slow", "--url", plain_url(pg_cluster, hidden_db), "--min-mean-ms", "0", "--min-calls", "30"
    )
    assert result.returncode == 0, result.stderr
    assert "no query above the thresholds" not in result.stdout
    assert "statements of role fibuca above the thresholds are hidden" in result.stderr
    assert f"GRANT pg_read_all_stats TO {PLAIN};" in result.stderr
    advice = run(
        "advise",
        "--url",
        plain_url(pg_cluster, hidden_db),
        "--min-mean-ms",
        "0",
        "--min-calls",
        "30",
    )
    assert advice.returncode == 0, advice.stderr
    assert "GRANT pg_read_all_stats" in advice.stderr


def test_sampled_activity_of_other_roles_is_counted_as_hidden(pg_cluster):
    """Without pg_stat_statements the report samples pg_stat_activity, where another role's
    session shows neither query nor state nor timing: it is counted as hidden."""
    owner_url = pg_cluster.clone("shop_privileges_nostat", extensions=())
    pg_cluster.add_role(PLAIN, PLAIN_PASSWORD)
    sleeper = psycopg2.connect(owner_url)
    job = threading.Thread(target=lambda: _sleep(sleeper))
    job.start()
    try:
        _wait_until_running(pg_cluster, "shop_privileges_nostat")
        with DatabaseSession(plain_url(pg_cluster, "shop_privileges_nostat")) as session:
            report = session.run(slow_queries, LOW, "total", 0.3)
        assert not report.statements_available
        assert report.hidden == 1 and "1 session of role fibuca connected now" in (
            report.hidden_message
        )
    finally:
        sleeper.cancel()
        job.join(30)
        sleeper.close()


def _sleep(connection) -> None:
    with contextlib.suppress(psycopg2.Error), connection.cursor() as cur:
        cur.execute("SELECT pg_sleep(60)")


def _wait_until_running(pg_cluster, dbname: str) -> None:
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        with contextlib.closing(pg_cluster.admin()) as admin, admin.cursor() as cur:
            cur.execute(
                "SELECT count(*) FROM pg_stat_activity WHERE datname = %s AND state = 'active' "
                "AND query LIKE 'SELECT pg_sleep%%'",
                [dbname],
            )
            if cur.fetchone()[0]:
                return
    raise AssertionError("the sleeping query never showed up")


PARTIAL, PARTIAL_PASSWORD = "fibuca_partial", "Qm4-part-Zt"


@pytest.fixture(scope="module")
def partial_url(pg_cluster, hidden_db) -> str:
    """A role that may read "Order" only: no SELECT on "OrderItem" or 'Audit "Log"'."""
    pg_cluster.add_role(PARTIAL, PARTIAL_PASSWORD, "pg_read_all_stats")
    with contextlib.closing(pg_cluster.admin(hidden_db)) as admin, admin.cursor() as cur:
        cur.execute(f'GRANT SELECT ON "Order" TO "{PARTIAL}"')
    return pg_cluster.url(hidden_db, PARTIAL_PASSWORD, PARTIAL)


def test_the_advisor_skips_tables_the_role_may_not_read_and_names_them(partial_url):
    """It failed whole ("cannot plan this query: permission denied for table ...")."""
    with DatabaseSession(partial_url) as session:
        advice = advise(session)
    assert [(s.table, s.columns) for s in advice.suggestions] == [("Order", ("userId",))]
    assert {"OrderItem", 'Audit "Log"'} <= set(advice.unreadable)
    assert "Order" not in advice.unreadable
    note = advice.unreadable_note
    assert f'role "{PARTIAL}" may not read' in note
    assert '"public"."OrderItem"' in note and '"public"."Audit ""Log"""' in note
    assert note.endswith(f'TO "{PARTIAL}";')
    assert advice.to_json()["unreadable_tables"] == advice.unreadable


def test_the_cli_advises_on_what_it_can_read_and_says_what_to_grant(partial_url):
    result = run("advise", "--url", partial_url)
    assert result.returncode == 0, result.stderr
    assert '"Order_userId_idx"' in result.stdout
    assert "GRANT SELECT ON" in result.stderr and "OrderItem" in result.stderr
    assert "Traceback" not in result.stderr
