"""``fibuca-desktop db budget`` end to end: subprocesses against the budget tests' two real
clusters (100 slots x 64 MB work_mem, and one started with its recommendations)."""

from __future__ import annotations

import pytest

from tests.e2e.test_db_cli import db, ok_json
from tests.pg_cluster import _free_port

KEYS = {
    "ramMb",
    "worstCaseMb",
    "settings",
    "connections",
    "connectionLimit",
    "recommendedWorstCaseMb",
    "notes",
}
SETTING_KEYS = {"name", "current", "recommended", "why", "restart"}


def test_json_of_the_bad_configuration(bad_budget_cluster):
    data = ok_json(db("budget", "--url", bad_budget_cluster.url("postgres"), "--json"))
    assert set(data) == KEYS
    assert data["ramMb"] == 500 and data["worstCaseMb"] == 29142.0
    assert data["recommendedWorstCaseMb"] <= 500 and data["connectionLimit"] == 6
    assert all(set(s) == SETTING_KEYS for s in data["settings"])
    settings = {s["name"]: s for s in data["settings"]}
    assert (settings["work_mem"]["current"], settings["work_mem"]["recommended"]) == (
        "64MB",
        "2MB",
    )
    assert settings["max_connections"]["restart"] is True
    assert settings["work_mem"]["why"].startswith("PGTune web")
    [mine] = [c for c in data["connections"] if c["application"] == "fibuca-desktop"]
    assert set(mine) == {"application", "count", "overLimit"} and mine["count"] >= 1


def test_text_says_it_does_not_fit_and_prints_the_lines_never_run(bad_budget_cluster):
    url = bad_budget_cluster.url("postgres")
    result = db("budget", "--url", url)
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    assert "postgresql://fibuca:***@" in lines[0]  # the password masked
    assert lines[1].startswith("worst case 29142.0 MB of 500 MB RAM: DOES NOT FIT; ")
    assert "-- as a superuser in psql (nothing was changed here):" in lines
    assert "ALTER SYSTEM SET work_mem = '2MB';" in lines
    assert "ALTER SYSTEM SET max_connections = '14';" in lines
    assert "SELECT pg_reload_conf();" in lines
    assert lines[-1].startswith("-- then restart PostgreSQL for ") and "shared_buffers" in lines[-1]
    assert "Prisma: ?connection_limit=6 in each of the 1 instance(s)' DATABASE_URL" in lines
    again = ok_json(db("budget", "--url", url, "--json"))  # printed, never applied
    assert again["worstCaseMb"] == 29142.0


def test_the_fitted_cluster_fits_and_wants_no_change(fitted_budget_cluster):
    url = fitted_budget_cluster.url("postgres")
    result = db("budget", "--url", url)
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    assert lines[1].startswith("worst case 495.0 MB of 500 MB RAM: fits; ")
    assert lines[-1] == "no change recommended"
    assert not any(line.startswith("ALTER SYSTEM") for line in lines)
    data = ok_json(db("budget", "--url", url, "--json", "--instances", "2"))
    assert data["connectionLimit"] == 3  # (14 - 3 reserved - 5 monitoring) // 2
    assert all(s["current"] == s["recommended"] for s in data["settings"])


def test_more_ram_fits_the_bad_configuration(bad_budget_cluster):
    url = bad_budget_cluster.url("postgres")
    data = ok_json(db("budget", "--url", url, "--json", "--ram-mb", "65536"))
    assert data["ramMb"] == 65536 and data["worstCaseMb"] <= 65536


@pytest.mark.parametrize(
    ("option", "value", "says"),
    [
        ("--ram-mb", "100", "--ram-mb: "),
        ("--ram-mb", "abc", "'abc' is not"),
        ("--instances", "0", "--instances: "),
    ],
)
def test_bad_numbers_are_one_line_before_connecting(option, value, says):
    closed = f"postgresql://nobody@127.0.0.1:{_free_port()}/none"  # never reached
    result = db("budget", "--url", closed, option, value)
    assert result.returncode == 2
    [line] = result.stderr.splitlines()
    assert line.startswith("fibuca-desktop db budget: error: ") and says in line
    assert result.stdout == ""


def test_a_server_that_is_not_there_is_one_line_without_traceback():
    closed = f"postgresql://nobody:pw-secret@127.0.0.1:{_free_port()}/none"
    result = db("budget", "--url", closed)
    assert result.returncode == 1
    assert "Traceback" not in result.stderr and "pw-secret" not in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1, result.stderr
    assert result.stdout == ""
