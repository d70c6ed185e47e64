"""The panel's units of work, run on the session's workers (never on the GUI thread).

This module pulls in SQLAlchemy and psycopg2, so the panel imports it only when the user connects:
start-up stays fast and small for people who never open the Database tab.
"""

from __future__ import annotations

from dataclasses import dataclass

from fibuca_desktop.core.database.advisor import Advice, AdvisorSettings, IndexAdvisor
from fibuca_desktop.core.database.blocking import blocking_tree
from fibuca_desktop.core.database.budget import memory_budget
from fibuca_desktop.core.database.connection import PoolSettings
from fibuca_desktop.core.database.explain import PlanNode, generic_plan, plan_tree
from fibuca_desktop.core.database.index_build import IndexBuilder
from fibuca_desktop.core.database.index_effect import measure_in
from fibuca_desktop.core.database.index_health import IndexHealth, index_health
from fibuca_desktop.core.database.overfetch import DEFAULT_LIMIT as OVERFETCH_LIMIT
from fibuca_desktop.core.database.overfetch import find_overfetch
from fibuca_desktop.core.database.overview import overview
from fibuca_desktop.core.database.serialize_measure import SerializedBytes, measure_serialized
from fibuca_desktop.core.database.session import DatabaseSession
from fibuca_desktop.core.database.session_ending import end_session
from fibuca_desktop.core.database.slow_queries import SlowQueryThresholds, slow_queries

__all__ = [
    "OVERFETCH_LIMIT",
    "AdviceWithHealth",
    "DatabaseSession",
    "IndexBuilder",
    "PoolSettings",
    "SlowQueryThresholds",
    "advice_work",
    "blocking_tree",
    "default_session",
    "end_session",
    "explain_work",
    "find_overfetch",
    "measure_in",
    "memory_budget",
    "overview",
    "serialize_work",
    "slow_queries",
]


def default_session(url: str, read_only: bool) -> DatabaseSession:
    """The app's session factory: pool size from the URL's connection_limit, else 5."""
    return DatabaseSession(url, read_only=read_only)


def explain_work(cur, query: str) -> PlanNode:
    """The generic plan of ``query`` as a tree (the caller's transaction is rolled back)."""
    return plan_tree(cur, generic_plan(cur, query))


@dataclass(frozen=True)
class AdviceWithHealth:
    advice: Advice
    health: IndexHealth


def advice_work(
    cur, schema: str, thresholds: SlowQueryThresholds, built: dict | None = None
) -> AdviceWithHealth:
    """Suggestions and duplicate/unused/INVALID indexes, on one connection in one transaction;
    ``built``: the indexes built in this session, with when (not "unused" while young)."""
    advice = IndexAdvisor(cur, schema, AdvisorSettings(thresholds=thresholds)).advise()
    return AdviceWithHealth(advice, index_health(cur, schema, built))


def serialize_work(cur, queryid: str, values: list[str]) -> SerializedBytes:
    """The bytes one statement really sends (PostgreSQL 17+), with the default timeouts."""
    return measure_serialized(cur, queryid, values)
