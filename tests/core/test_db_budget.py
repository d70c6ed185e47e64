"""``db budget``'s formulas on plain numbers, then on real clusters: one started with a bad
configuration, one with what was recommended for it, and real connections per application."""

from __future__ import annotations

import contextlib
from dataclasses import replace

import psycopg2
import pytest

from fibuca_desktop.core.database.budget import (
    BASELINE_MB,
    MONITORING_SLOTS,
    ServerSettings,
    SettingAdvice,
    memory_budget,
    memory_text,
    pgtune_work_mem_mb,
    recommend,
    setting_mb,
    worst_case_mb,
)
from fibuca_desktop.core.database.session import DatabaseSession

# PostgreSQL 15's defaults with issue 15's bad values (and the test clusters' 64 MB maintenance).
BAD = ServerSettings(
    shared_buffers=128.0,
    effective_cache_size=4096.0,
    work_mem=64.0,
    hash_mem_multiplier=2.0,
    maintenance_work_mem=64.0,
    autovacuum_work_mem=-1.0,
    max_connections=100,
    superuser_reserved_connections=3,
    reserved_connections=0,
    autovacuum_max_workers=3,
    max_parallel_workers_per_gather=2,
    max_parallel_workers=8,
    max_worker_processes=8,
)
# 128 + (100 slots + 8 parallel workers) x (10 + 64 x 2 x 2) + 64 + 3 autovacuum x (10 + 64)
BAD_WORST_MB = 128 + 108 * (BASELINE_MB + 256) + 64 + 3 * (BASELINE_MB + 64)


@pytest.mark.parametrize(
    ("setting", "unit", "mb"),
    [
        ("16384", "8kB", 128.0),  # shared_buffers counts 8 kB blocks
        ("48000", "8kB", 375.0),
        ("4096", "kB", 4.0),
        ("64", "MB", 64.0),
        ("2", "GB", 2048.0),
        ("1048576", "B", 1.0),
        ("-1", "kB", -1.0),  # autovacuum_work_mem: use maintenance_work_mem
    ],
)
def test_settings_are_converted_with_their_unit(setting, unit, mb):
    assert setting_mb(setting, unit) == mb


@pytest.mark.parametrize("unit", ["ms", "s", None, "8 blocks"])
def test_a_unit_that_is_not_memory_is_refused(unit):
    with pytest.raises(ValueError, match="not a memory unit"):
        setting_mb("10", unit)


def test_memory_is_written_as_postgresql_writes_it():
    assert [memory_text(mb) for mb in (125, 2, 1.5, 0.0625, -1)] == [
        "125MB",
        "2MB",
        "1536kB",
        "64kB",
        "-1",
    ]


def test_worst_case_of_the_bad_configuration():
    assert worst_case_mb(BAD) == BAD_WORST_MB == 29_142
    assert BAD.parallel_workers == 8 and BAD.autovacuum_mem == 64


def test_parallel_workers_are_bounded_by_every_limit():
    assert replace(BAD, max_parallel_workers_per_gather=0).parallel_workers == 0
    assert replace(BAD, max_worker_processes=3).parallel_workers == 3
    assert replace(BAD, max_connections=2, max_parallel_workers_per_gather=1).parallel_workers == 2
    own_memory = replace(BAD, autovacuum_work_mem=7.0)
    assert worst_case_mb(BAD) - worst_case_mb(own_memory) == 3 * (64 - 7)


def test_pgtune_work_mem_matches_pgtune_s_web_profile():
    """PGTune for 4 GB, 200 connections, 8 worker processes: (4194304 kB - 1048576 kB) /
    ((200 + 8) x 3) = 5041 kB; and never below its 64 kB floor."""
    assert int(pgtune_work_mem_mb(4096, 1024, 200, 8) * 1024) == 5041
    assert pgtune_work_mem_mb(128, 32, 10_000, 8) == 64 / 1024


def test_the_recommendation_for_500_mb():
    advice = recommend(BAD, 500)
    fitted = advice.settings
    assert (fitted.shared_buffers, fitted.effective_cache_size) == (125, 375)
    assert (fitted.maintenance_work_mem, fitted.autovacuum_work_mem) == (31, 7)
    assert (fitted.max_connections, fitted.work_mem, fitted.max_parallel_workers) == (14, 2, 2)
    # 125 + (14 + 2) x (10 + 2 x 2 x 2) + 31 + 3 x (10 + 7)
    assert worst_case_mb(fitted) == 495 <= 500
    assert advice.connection_limit == 14 - 3 - MONITORING_SLOTS == 6
    assert advice.notes == ()


@pytest.mark.parametrize("ram_mb", [256, 500, 1024, 2048, 8192, 65536])
@pytest.mark.parametrize("instances", [1, 2, 3])
def test_recommendations_fit_and_are_stable(ram_mb, instances):
    """Whatever the RAM: the worst case fits, the pools fit the slots, and applying the
    recommendation and asking again recommends the same (no endless tuning)."""
    advice = recommend(BAD, ram_mb, instances)
    if advice.notes:  # too small for this many pools: said, not hidden
        assert ram_mb == 256  # 10 MB + 8 MB work memory per slot: 7 slots, 9 needed
        assert worst_case_mb(advice.settings) > ram_mb
        return
    fitted = advice.settings
    assert worst_case_mb(fitted) <= ram_mb
    pools = advice.connection_limit * instances
    assert pools + fitted.reserved + MONITORING_SLOTS <= fitted.max_connections
    assert recommend(fitted, ram_mb, instances) == advice
    assert fitted.work_mem >= 2


def test_a_server_too_small_says_so():
    advice = recommend(BAD, 128)
    assert "128 MB cannot hold 9 connections" in advice.notes[0]
    assert advice.connection_limit == 1


def test_a_lower_max_connections_is_kept_and_gets_more_work_mem():
    advice = recommend(replace(BAD, max_connections=10), 500)
    assert advice.settings.max_connections == 10  # (293 MB / 12 processes - 10) / 4
    assert advice.settings.work_mem == 3 > recommend(BAD, 500).settings.work_mem
    roomy = recommend(replace(BAD, max_connections=10), 2048)
    assert roomy.settings.max_connections == 10 and roomy.settings.work_mem > 4


def test_alter_system_quotes_the_value():
    advice = SettingAdvice("search_path", "a", "it's", "why", False)
    assert advice.alter_system() == "ALTER SYSTEM SET search_path = 'it''s';"


def budget_of(cluster, ram_mb: int = 500, instances: int = 1):
    with DatabaseSession(cluster.url("postgres")) as session:
        return session.run(memory_budget, ram_mb, instances)


def test_a_bad_configuration_does_not_fit_500_mb(bad_budget_cluster):
    budget = budget_of(bad_budget_cluster)
    assert budget.worst_case_mb == pytest.approx(BAD_WORST_MB) and not budget.fits
    current = {s.name: s.current for s in budget.settings}
    assert current["shared_buffers"] == "128MB"  # 16384 blocks of 8 kB
    assert (current["work_mem"], current["max_connections"]) == ("64MB", "100")
    assert current["autovacuum_work_mem"] == "-1"
    restart = {s.name for s in budget.settings if s.restart}
    assert {"shared_buffers", "max_connections"} <= restart and "work_mem" not in restart
    assert "ALTER SYSTEM SET work_mem = '2MB';" in budget.alter_system()
    assert "ALTER SYSTEM SET max_connections = '14';" in budget.alter_system()
    assert budget.recommended_worst_case_mb <= 500


def test_the_recommendations_applied_fit_and_want_no_further_change(fitted_budget_cluster):
    budget = budget_of(fitted_budget_cluster)
    assert budget.fits and budget.worst_case_mb == budget.recommended_worst_case_mb == 495
    assert [s.name for s in budget.settings if s.changed] == []
    assert budget.alter_system() == [] and budget.notes == ()
    assert budget.connection_limit == 6


def test_connections_are_counted_per_application_and_the_greedy_one_flagged(
    fitted_budget_cluster,
):
    url = fitted_budget_cluster.url("postgres")
    names = ["shop-api"] * 7 + ["report-job", ""]
    with contextlib.ExitStack() as stack:
        for name in names:
            stack.enter_context(contextlib.closing(psycopg2.connect(url, application_name=name)))
        budget = budget_of(fitted_budget_cluster)
    seen = {c.application: (c.count, c.over_limit) for c in budget.connections}
    assert seen == {
        "shop-api": (7, True),  # more than connection_limit 6
        "report-job": (1, False),
        "": (1, False),
        "fibuca-desktop": (1, False),
    }
    assert budget.connections[0].application == "shop-api"  # most first
    assert any("shop-api holds 7 connections, more than the limit of 6" in n for n in budget.notes)


def test_two_instances_share_the_slots(fitted_budget_cluster):
    budget = budget_of(fitted_budget_cluster, instances=2)
    assert budget.connection_limit == 3  # (14 - 3 reserved - 5 monitoring) // 2
    assert all(s.current == s.recommended for s in budget.settings)
