"""Index names that never collide, "unused" only after a fair window, the schema the advice is
for, and a wait on a lock that says who holds it (issue 10, item 13)."""

from __future__ import annotations

import contextlib
from datetime import UTC, datetime, timedelta

import psycopg2
import pytest

from fibuca_desktop.core.database.advisor import advise, schema_note
from fibuca_desktop.core.database.connection import PoolSettings
from fibuca_desktop.core.database.index_build import IndexBuilder
from fibuca_desktop.core.database.index_health import index_health
from fibuca_desktop.core.database.index_suggestion import IndexSuggestion, index_name
from fibuca_desktop.core.database.session import DatabaseSession
from fibuca_desktop.core.errors import DatabaseUnavailable, IndexBuildFailed, UsageError
from tests.shop_schema import open_writer

LONG = "customerReferenceNumberAssignedByTheWarehouse"  # 45 bytes
WIDE_DDL = f"""
CREATE TABLE "Shipment" ("id" TEXT PRIMARY KEY, "{LONG}A" TEXT, "{LONG}B" TEXT, "{LONG}C" TEXT,
    "größeÜberschriftÄnderungsdatumFürDieSendungsverfolgung" TEXT, "note" TEXT);
INSERT INTO "Shipment" SELECT 's' || g, 'a' || g, 'b' || g, 'c' || g, 'd' || g, 'n'
    FROM generate_series(1, 200) g;
ANALYZE "Shipment";
"""


@pytest.fixture(scope="module")
def rules_url(pg_cluster) -> str:
    url = pg_cluster.clone("shop_index_rules")
    with contextlib.closing(pg_cluster.admin("shop_index_rules")) as admin, admin.cursor() as cur:
        cur.execute("SET ROLE fibuca")
        cur.execute(WIDE_DDL)
        cur.execute('CREATE SCHEMA "billing"')
        cur.execute('CREATE TABLE "billing"."Invoice" ("id" TEXT PRIMARY KEY)')
        cur.execute('CREATE TABLE "billing"."Payment" ("id" TEXT PRIMARY KEY)')
    return url


@pytest.fixture
def writable(rules_url):
    with DatabaseSession(rules_url, read_only=False) as session:
        yield session


@pytest.mark.parametrize(
    ("first", "second"),
    [
        ((f"{LONG}A",), (f"{LONG}B",)),  # differ after byte 63 once joined with the table name
        ((f"{LONG}A", f"{LONG}B"), (f"{LONG}A", f"{LONG}C")),
        ((f"{LONG}A", "note"), (f"{LONG}A", "id")),
        (("größeÜberschriftÄnderungsdatumFürDieSendungsverfolgung",), (f"{LONG}C",)),
    ],
)
def test_long_names_never_collide_and_both_indexes_are_built(writable, pg_cluster, first, second):
    a, b = index_name("Shipment", first), index_name("Shipment", second)
    assert a != b and max(len(a.encode()), len(b.encode())) <= 63
    assert a.endswith("_idx") and b.endswith("_idx")
    builder = IndexBuilder(writable)
    try:
        for columns in (first, second):
            result = builder.run(builder.plan("Shipment", columns))
            assert result.valid
        built = {p.index for p in writable.run(index_health, "public", None, 0).unused}
        assert {a, b} <= built
    finally:
        _drop(pg_cluster, a, b)


CUT_TABLE = "Lieferß" + "é" * 40  # 87 bytes: CREATE TABLE keeps 63, cut inside no character
CUT_COLUMN = "Menge€" + "€" * 30  # 98 bytes


@pytest.mark.parametrize("given", ["full", "as kept"])
def test_names_longer_than_63_bytes_mean_what_postgresql_kept(writable, pg_cluster, given):
    """CREATE TABLE cut the long names (on a character boundary); the long names still mean
    those, as they do in SQL: "There is no table ..." left no way to index the table."""
    with contextlib.closing(pg_cluster.admin("shop_index_rules")) as admin, admin.cursor() as cur:
        cur.execute("SET ROLE fibuca")
        cur.execute(f'CREATE TABLE IF NOT EXISTS "{CUT_TABLE}" ("{CUT_COLUMN}" int, "x""y" int)')
        cur.execute("SELECT relname FROM pg_class WHERE relname LIKE 'Lieferß%'")
        kept_table = cur.fetchone()[0]
        cur.execute("SELECT attname FROM pg_attribute WHERE attname LIKE 'Menge€%'")
        kept_column = cur.fetchone()[0]
    assert len(kept_table.encode()) <= 63 and kept_table != CUT_TABLE
    table, column = (CUT_TABLE, CUT_COLUMN) if given == "full" else (kept_table, kept_column)
    builder = IndexBuilder(writable)
    plan = builder.plan(table, (column, 'x"y'))
    assert (plan.table, plan.columns) == (kept_table, (kept_column, 'x"y'))
    assert len(plan.name.encode()) <= 63
    try:
        assert builder.run(plan).valid
    finally:
        _drop(pg_cluster, plan.name)


@pytest.mark.parametrize("table", ['Audit "Log" of ' + "x" * 50, "Back\\slash" + "y" * 60])
def test_a_cut_name_with_a_quote_or_backslash_is_a_valid_prisma_string(table):
    """``map: "Audit "Log"..."`` ended the string at the quote: schema.prisma would not parse."""
    import json

    suggestion = IndexSuggestion("public", table, ("id",), "slow-query", True, 1, 0.1)
    line = suggestion.prisma_line()
    mapped = line.split("map: ", 1)[1].rstrip(")")
    assert json.loads(mapped) == suggestion.name  # Prisma's string escapes are JSON's


def test_the_prisma_line_maps_a_cut_name(writable):
    columns = (f"{LONG}A", f"{LONG}B")
    suggestion = IndexSuggestion("public", "Shipment", columns, "slow-query", True, 1, 0.1)
    assert f'map: "{suggestion.name}"' in suggestion.prisma_line()
    short = IndexSuggestion("public", "Shipment", ("note",), "slow-query", True, 1, 0.1)
    assert "map:" not in short.prisma_line()


def test_a_name_taken_by_another_relation_gets_a_number(writable, pg_cluster):
    with contextlib.closing(pg_cluster.admin("shop_index_rules")) as admin, admin.cursor() as cur:
        cur.execute('CREATE TABLE "Shipment_note_idx" (x int)')  # a table with the index's name
    try:
        builder = IndexBuilder(writable)
        plan = builder.plan("Shipment", ("note",))
        assert plan.name == "Shipment_note_2_idx"
        builder.run(plan)
        again = builder.plan("Shipment", ("note",))
        assert again.name == "Shipment_note_2_idx"  # the same index: "exists already"
        with pytest.raises(UsageError, match="exists already"):
            builder.run(again)
    finally:
        _drop(pg_cluster, "Shipment_note_2_idx")
        with contextlib.closing(pg_cluster.admin("shop_index_rules")) as admin:
            admin.cursor().execute('DROP TABLE "Shipment_note_idx"')


@pytest.mark.parametrize("name", ["my_index", "Größe-Index", 'with "quote" and space'])
def test_the_user_names_the_index(writable, pg_cluster, name):
    builder = IndexBuilder(writable)
    plan = builder.plan("Shipment", ("note",), name=name)
    assert plan.name == name and plan.sql.startswith("CREATE INDEX CONCURRENTLY")
    try:
        assert builder.run(plan).valid
        other = builder.plan("Shipment", ("id", "note"), name=name)
        with pytest.raises(UsageError, match=r"is taken by an index on Shipment.*choose another"):
            builder.run(other)
    finally:
        _drop(pg_cluster, name)


@pytest.mark.parametrize("name", ["x" * 64, "ü" * 32, ""])
def test_a_name_postgresql_would_cut_is_refused(writable, name):
    builder = IndexBuilder(writable)
    with pytest.raises(UsageError):
        builder.plan("Shipment", ("note",), name=name)
    with pytest.raises(UsageError):
        builder.plan("Shipment", ("note",)).renamed(name)


def test_an_index_built_a_minute_ago_is_not_unused(writable, pg_cluster):
    with contextlib.closing(pg_cluster.admin("shop_index_rules")) as admin, admin.cursor() as cur:
        cur.execute('CREATE INDEX "Shipment_fresh_idx" ON "Shipment" ("note")')
    try:
        health = writable.run(index_health, "public")
        assert "Shipment_fresh_idx" not in {p.index for p in health.unused}
        fresh = next(p for p in health.not_judged if p.index == "Shipment_fresh_idx")
        assert fresh.drop_sql == "" and "judged after 7 days" in fresh.note
        assert health.to_json()["not_judged"] and health.to_json()["stats_since"]
    finally:
        _drop(pg_cluster, "Shipment_fresh_idx")


def test_the_window_is_the_later_of_the_stats_start_and_the_creation(writable, pg_cluster):
    """Two never-scanned indexes, an older and a fresh one: with a window between their ages
    (read in the same transaction, so the same now()) the older one is unused with its DROP,
    the fresh one not judged yet."""
    for name, columns in (
        ("Shipment_old_idx", '"id", "note"'),
        ("Shipment_new_idx", '"note", "id"'),
    ):
        with contextlib.closing(pg_cluster.admin("shop_index_rules")) as admin:
            admin.cursor().execute(f'CREATE INDEX "{name}" ON "Shipment" ({columns})')
    recorded = {"Shipment_old_idx": datetime.now(UTC) + timedelta(minutes=1)}

    def judge(cur):
        old_age, new_age = _ages(cur, "Shipment_old_idx", "Shipment_new_idx")
        days = (old_age + new_age) / 2 / 86400
        # A server without commit timestamps: Fibuca's own record of a build counts too.
        return (
            old_age > new_age,
            index_health(cur, "public", None, days),
            index_health(cur, "public", recorded, days),
        )

    try:
        ordered, health, with_record = writable.run(judge)
        assert ordered
        unused = {p.index: p for p in health.unused}
        assert "Shipment_old_idx" in unused and unused["Shipment_old_idx"].drop_sql
        assert "it was created" in unused["Shipment_old_idx"].note
        assert "Shipment_new_idx" in {p.index for p in health.not_judged}
        assert "Shipment_old_idx" in {p.index for p in with_record.not_judged}
    finally:
        _drop(pg_cluster, "Shipment_old_idx", "Shipment_new_idx")


def test_a_build_is_recorded_so_the_index_is_young_without_commit_timestamps(writable, pg_cluster):
    builder = IndexBuilder(writable)
    result = builder.run(builder.plan("Shipment", ("id", "note")))
    try:
        assert result.index in writable.built_in("public")
        assert writable.built_in("billing") == {}
    finally:
        _drop(pg_cluster, result.index)


def test_advice_says_which_schema_and_offers_the_others(rules_url):
    with DatabaseSession(rules_url) as session:
        advice = advise(session)
        note = session.run(schema_note, "billing")
    assert advice.schema == "public"
    assert advice.schema_note.startswith('advice for schema "public" only')
    assert '"billing" (2 tables)' in advice.schema_note and "?schema=NAME" in advice.schema_note
    assert '"public" (' in note  # from billing, public is the other one
    with DatabaseSession(rules_url + "?schema=billing") as session:
        assert advise(session).schema_note.startswith('advice for schema "billing" only')


@pytest.mark.parametrize(
    "inspection",
    [
        lambda cur: index_health(cur, "public"),
        lambda cur: cur.execute('EXPLAIN SELECT * FROM "Shipment"'),
        lambda cur: cur.execute('SELECT count(*) FROM "Shipment"'),
    ],
)
def test_a_held_lock_is_named_with_who_holds_it(rules_url, inspection):
    settings = PoolSettings(lock_timeout_s=0.3, statement_timeout_s=30)
    holder = psycopg2.connect(rules_url, application_name="migration-job")
    try:
        with holder.cursor() as cur:
            cur.execute('LOCK TABLE "Shipment" IN ACCESS EXCLUSIVE MODE')
            cur.execute("SELECT pg_backend_pid()")
            pid = cur.fetchone()[0]
        with (
            DatabaseSession(rules_url, settings) as session,
            pytest.raises(DatabaseUnavailable) as caught,
        ):
            session.run(inspection)
    finally:
        holder.rollback()
        holder.close()
    message = str(caught.value)
    assert "waited more than 0.3 s for a lock" in message and "overloaded server" in message
    assert f"pid {pid}" in message and "'migration-job'" in message
    assert "AccessExclusiveLock on public.Shipment" in message
    assert "statement timeout" not in message


def test_a_build_waiting_on_a_writer_names_the_writer(writable, rules_url, pg_cluster):
    builder = IndexBuilder(writable, lock_timeout_s=0.3)
    plan = builder.plan("OrderItem", ("quantity", "price"))
    with open_writer(rules_url, "OrderItem"), pytest.raises(IndexBuildFailed) as caught:
        builder.run(plan)
    message = str(caught.value)
    assert "waited more than 0.3 s for a lock on OrderItem" in message
    assert "'shop-api'" in message and "RowExclusiveLock on public.OrderItem" in message
    _drop(pg_cluster, plan.name)


def _ages(cur, *names: str) -> list[float]:
    cur.execute(
        "SELECT extract(epoch FROM now() - pg_xact_commit_timestamp(xmin)) AS age FROM pg_class "
        "WHERE relname = ANY(%s) ORDER BY array_position(%s, relname::text)",
        [list(names), list(names)],
    )
    return [float(row["age"]) for row in cur.fetchall()]


def _drop(pg_cluster, *names: str) -> None:
    with contextlib.closing(pg_cluster.admin("shop_index_rules")) as admin, admin.cursor() as cur:
        for name in names:
            cur.execute("SELECT quote_ident(%s)", [name])
            cur.execute(f"DROP INDEX IF EXISTS public.{cur.fetchone()[0]}")


def test_a_stats_reset_starts_the_window_again(writable, pg_cluster):
    with contextlib.closing(pg_cluster.admin("shop_index_rules")) as admin, admin.cursor() as cur:
        cur.execute('CREATE INDEX "Shipment_reset_idx" ON "Shipment" ("note", "id", "note")')
        cur.execute("SELECT pg_stat_reset()")  # after the index: the reset starts the window
    try:
        health = writable.run(index_health, "public")
        reset = next(p for p in health.not_judged if p.index == "Shipment_reset_idx")
        assert "since the statistics reset" in reset.note and reset.drop_sql == ""
        aged = writable.run(index_health, "public", None, 0)
        assert "Shipment_reset_idx" in {p.index for p in aged.unused}
    finally:
        _drop(pg_cluster, "Shipment_reset_idx")
