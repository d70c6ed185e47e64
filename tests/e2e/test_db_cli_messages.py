"""``fibuca-desktop db`` as a user meets it when things are wrong: one actionable line, no
traceback (only with -vv), and never a piece of the password, whatever the URL looks like."""

from __future__ import annotations

import contextlib
import os
import subprocess
import sys
import time

import psycopg2
import pytest

from tests.core.test_db_secrets import PASSWORDS, assert_hidden
from tests.pg_cluster import PASSWORD, PgCluster

COMMAND = [sys.executable, "-m", "fibuca_desktop"]


def run(*args: str, verbose: bool = False) -> subprocess.CompletedProcess:
    result = subprocess.run(
        [*COMMAND, *(["-vv"] if verbose else []), "db", *args],
        capture_output=True,
        text=True,
        timeout=120,
        stdin=subprocess.DEVNULL,
        env=os.environ.copy(),
    )
    assert PASSWORD not in result.stdout + result.stderr
    return result


def one_line_failure(result: subprocess.CompletedProcess) -> str:
    """The failure's stderr, checked to be a single line (notes aside) without a traceback."""
    assert result.returncode == 1, result.stdout + result.stderr
    assert "Traceback" not in result.stderr
    lines = [line for line in result.stderr.splitlines() if not line.startswith("note: ")]
    assert len(lines) == 1, result.stderr
    return lines[0]


@pytest.fixture(scope="module")
def special_url(pg_cluster):
    def make(secret: str, password: str | None = None) -> str:
        pg_cluster.add_role("fibuca_cli_special", secret)
        given = secret if password is None else password
        return f"postgresql://fibuca_cli_special:{given}@127.0.0.1:{pg_cluster.port}/postgres"

    return make


@pytest.mark.parametrize("secret", PASSWORDS)
def test_verbose_output_never_shows_any_part_of_the_password(special_url, secret):
    """The issue's case and its variants, as typed (unencoded), against the real server: it
    connects, says to percent-encode, and -vv shows the masked URL only."""
    result = run("overview", "--url", special_url(secret), verbose=True)
    assert result.returncode == 0, result.stderr
    assert "fibuca_cli_special:***@127.0.0.1" in result.stderr
    assert "must be percent-encoded" in result.stderr
    assert_hidden(secret, result.stdout, result.stderr)

    wrong = run("overview", "--url", special_url(secret, secret + "Q"), verbose=True)
    assert wrong.returncode == 1 and "Wrong password" in wrong.stderr
    assert_hidden(secret, wrong.stdout, wrong.stderr)
    quiet = run("overview", "--url", special_url(secret, secret + "Q"))
    assert "Wrong password" in one_line_failure(quiet)
    assert_hidden(secret, quiet.stdout, quiet.stderr)


@pytest.mark.parametrize("secret", PASSWORDS)
def test_an_unknown_host_names_the_host_not_the_password(secret):
    result = run("overview", "--url", f"postgresql://ro:{secret}@no-such-host.invalid:55999/x")
    line = one_line_failure(result)
    assert "Unknown host" in line and "no-such-host.invalid" in line
    assert_hidden(secret, result.stdout, result.stderr)


@pytest.mark.parametrize(
    ("query", "says"),
    [
        ("connection_limit=-1", "connection_limit='-1' in the URL must be a whole number"),
        ("connection_limit=0", "connection_limit='0' in the URL must be a whole number"),
        ("connection_limit=lots", "connection_limit='lots' in the URL must be a whole number"),
        ("sslmode=bogus", "option PostgreSQL's client refuses"),
        ("nosuchoption=1", "option PostgreSQL's client refuses"),
    ],
)
def test_bad_url_options_are_one_line(pg_cluster, query, says):
    url = f"{pg_cluster.url('postgres')}?{query}"
    assert says in one_line_failure(run("overview", "--url", url))
    verbose = run("overview", "--url", url, verbose=True)
    assert verbose.returncode == 1 and says in verbose.stderr


@pytest.mark.parametrize(
    ("query", "says"),
    [
        ("gssencmode=require", "Could not connect to 127.0.0.1:"),
        ("target_session_attrs=standby", "Could not connect to 127.0.0.1:"),
        ("target_session_attrs=read-write", "use target_session_attrs=primary"),
    ],
)
def test_a_connection_refused_for_an_option_is_not_called_lost(pg_cluster, query, says):
    """These said "The connection ... was lost (the server stopped or restarted)"."""
    line = one_line_failure(run("overview", "--url", f"{pg_cluster.url('postgres')}?{query}"))
    assert says in line and "lost" not in line and "restarted" not in line


@pytest.mark.parametrize("mode", ["require", "verify-ca", "verify-full"])
def test_tls_required_by_the_url_but_not_offered_by_the_server(pg_cluster, mode):
    """The test cluster has no TLS: the message says so, not "connection lost"."""
    line = one_line_failure(
        run("overview", "--url", f"{pg_cluster.url('postgres')}?sslmode={mode}")
    )
    assert "does not accept TLS (SSL)" in line and f"sslmode={mode}" in line
    assert "lost" not in line


def test_apply_yes_drops_a_leftover_invalid_index_and_then_builds(pg_cluster):
    url = pg_cluster.clone("shop_cli_leftover")
    with contextlib.closing(psycopg2.connect(url)) as connection:
        connection.autocommit = True
        with connection.cursor(), contextlib.suppress(psycopg2.errors.UniqueViolation):
            # A unique build over duplicates fails and leaves an INVALID index under the name
            # the plain index will want.
            connection.cursor().execute(
                'CREATE UNIQUE INDEX CONCURRENTLY "Order_status_idx" ON "Order" (status)'
            )
    result = run("apply", "--url", url, "--table", "Order", "--columns", "status", "--yes")
    assert result.returncode == 0, result.stderr
    assert 'DROP INDEX CONCURRENTLY IF EXISTS "public"."Order_status_idx";' in result.stderr
    assert result.stdout.startswith("Order_status_idx: valid in ")
    with contextlib.closing(psycopg2.connect(url)) as connection, connection.cursor() as cur:
        cur.execute(
            "SELECT x.indisvalid, x.indisunique FROM pg_index x JOIN pg_class c "
            "ON c.oid = x.indexrelid WHERE c.relname = 'Order_status_idx'"
        )
        assert cur.fetchall() == [(True, False)]


def test_apply_with_a_chosen_name(pg_cluster):
    url = pg_cluster.clone("shop_cli_named")
    result = run(
        "apply", "--url", url, "--table", "OrderItem", "--columns", "quantity", "--yes",
        "--name", "items by quantity",
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    assert 'CREATE INDEX CONCURRENTLY "items by quantity"' in result.stderr
    too_long = run(
        "apply", "--url", url, "--table", "OrderItem", "--columns", "price", "--yes",
        "--name", "n" * 64,
    )  # fmt: skip
    assert "PostgreSQL keeps only 63 bytes" in one_line_failure(too_long)


def test_server_stopped_during_apply_is_one_line_without_traceback(tmp_path):
    """Its own cluster (the shared one must stay up): a build waits for a writer's open
    transaction, the server stops (pg_ctl -m fast) under it; the command ends with a message
    that says what happened and what to do."""
    cluster = PgCluster()
    try:
        cluster.init()
        cluster.start()
        with contextlib.closing(cluster.admin()) as admin, admin.cursor() as cur:
            cur.execute("CREATE ROLE stopper LOGIN SUPERUSER PASSWORD 'Stop-Pw-42'")
            cur.execute("CREATE TABLE t AS SELECT g AS a FROM generate_series(1, 1000) g")
        url = f"postgresql://stopper:Stop-Pw-42@127.0.0.1:{cluster.port}/postgres"
        writer = psycopg2.connect(url)
        writer.cursor().execute("UPDATE t SET a = a WHERE a = 1")  # open: the build waits
        command = [*COMMAND, "db", "apply", "--url", url, "--table", "t", "--columns", "a"]
        build = subprocess.Popen(
            [*command, "--yes", "--lock-timeout", "60"],
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        _wait_for_build(cluster)
        cluster.stop()
        out, err = build.communicate(timeout=60)
        writer.close()
    finally:
        cluster.remove()
    assert build.returncode == 1, out + err
    assert "Traceback" not in err and "Stop-Pw-42" not in out + err, err
    last = err.strip().splitlines()[-1]
    assert last.startswith("fibuca-desktop db apply: ")
    assert "lost" in last and "once the server is back, run it again" in last


def _wait_for_build(cluster: PgCluster) -> None:
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        with contextlib.closing(cluster.admin()) as admin, admin.cursor() as cur:
            cur.execute("SELECT count(*) FROM pg_stat_progress_create_index")
            if cur.fetchone()[0]:
                return
    raise AssertionError("the build never started")


@pytest.mark.parametrize(
    "action",
    [("overview",), ("indexes", "--json"), ("slow", "--min-calls", "0", "--min-mean-ms", "0")],
)
def test_a_reader_that_stopped_early_is_not_an_unexpected_error(pg_cluster, action):
    """``db slow | head``: it said "unexpected error (BrokenPipeError ...)"."""
    read, write = os.pipe()
    os.close(read)  # the reader is gone before the first line is written
    try:
        result = subprocess.run(
            [*COMMAND, "db", *action, "--url", pg_cluster.url("postgres")],
            stdout=write,
            stderr=subprocess.PIPE,
            stdin=subprocess.DEVNULL,
            text=True,
            timeout=120,
        )
    finally:
        os.close(write)
    assert result.returncode == 141, result.stderr
    assert "pipe" not in result.stderr.lower() and "unexpected" not in result.stderr


@pytest.mark.parametrize(
    ("migration", "says"),
    [
        ("missing-folder/x.sql", "missing-folder does not exist; create it first"),
        (".", "is a folder: name the file to write"),
    ],
)
def test_a_migration_file_that_cannot_be_written_is_refused_before_advising(
    pg_cluster, tmp_path, migration, says
):
    """The folder was created silently (as --csv did, issue 10 item 4)."""
    target = tmp_path / migration
    result = run("advise", "--url", pg_cluster.url("postgres"), "--migration", str(target))
    assert result.returncode == 2 and says in result.stderr
    assert result.stdout == "" and "Traceback" not in result.stderr
    assert sorted(tmp_path.iterdir()) == []


def test_query_texts_are_one_line_each(pg_cluster):
    """A statement written over several lines printed its newlines into the table."""
    url = pg_cluster.clone("shop_multiline")
    with contextlib.closing(psycopg2.connect(url)) as connection, connection.cursor() as cur:
        for _ in range(3):
            cur.execute('SELECT count(*)\nFROM "Order"\n\n   WHERE total > %s', [1])
    result = run("slow", "--url", url, "--min-calls", "3", "--min-mean-ms", "0")
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    assert any('SELECT count(*) FROM "Order" WHERE total > $1' in line for line in lines)
    assert all(" ms mean " in line for line in lines)


def _answer_on_a_terminal(argv: list[str], keys: bytes) -> tuple[str, int]:
    """Run the CLI on a pseudo-terminal; send ``keys`` once it asks [y/N]."""
    import pty
    import select

    pid, fd = pty.fork()
    if pid == 0:  # the child: the CLI, its stdin a terminal
        os.execv(sys.executable, [sys.executable, "-m", "fibuca_desktop", *argv])
    output, sent, deadline = b"", False, time.monotonic() + 60
    while time.monotonic() < deadline:
        ready, _, _ = select.select([fd], [], [], 0.5)
        if not ready:
            continue
        try:
            data = os.read(fd, 4096)
        except OSError:  # the child closed the terminal
            break
        if not data:
            break
        output += data
        if b"[y/N]" in output and not sent:
            os.write(fd, keys)
            sent = True
    _, status = os.waitpid(pid, 0)
    os.close(fd)
    return output.decode(errors="replace"), os.waitstatus_to_exitcode(status)


@pytest.mark.parametrize("keys", [b"\x04", b"n\r", b"\r"])
def test_no_answer_at_the_confirmation_is_a_no_not_an_error(pg_cluster, keys):
    """Ctrl-D at "Run it on the live database? [y/N]" was "unexpected error (EOFError)"."""
    url = pg_cluster.clone(f"shop_confirm_{keys[0]}")
    argv = ["db", "apply", "--table", "Order", "--columns", "createdAt", "--url", url]
    output, status = _answer_on_a_terminal(argv, keys)
    assert status == 1, output
    assert "not confirmed: nothing was run" in output
    assert "unexpected" not in output and "Traceback" not in output


HOSTILE = "Evil\x1b[2J\x1b]0;pwned\x07\u202eTable"  # clear screen, retitle, reverse the text


def test_control_characters_from_the_database_are_shown_not_run(pg_cluster):
    """Names and query texts come from other sessions: an escape sequence in them reached the
    terminal as a command (it cleared the screen and retitled the window)."""
    url = pg_cluster.clone("shop_hostile_names")
    with contextlib.closing(psycopg2.connect(url)) as connection, connection.cursor() as cur:
        cur.execute("SELECT quote_ident(%s)", [HOSTILE])
        table = cur.fetchone()[0]
        cur.execute(f'CREATE TABLE {table} (id int PRIMARY KEY, "userId" text REFERENCES "User")')
        cur.execute(f"INSERT INTO {table} SELECT g, NULL FROM generate_series(1, 50) g")
        cur.execute(f'CREATE INDEX "evil_idx" ON {table} (id)')
        cur.execute(f"ANALYZE {table}")
        connection.commit()
        for _ in range(3):
            cur.execute(f"SELECT count(*) FROM {table} WHERE id > %s", [0])
    results = [
        run("advise", "--url", url, "--min-rows", "0", "--min-calls", "1", "--min-mean-ms", "0"),
        run("slow", "--url", url, "--min-calls", "3", "--min-mean-ms", "0"),
        run("indexes", "--url", url),
        run("apply", "--url", url, "--table", HOSTILE, "--columns", "userId"),
    ]
    for result in results:
        shown = result.stdout + result.stderr
        assert "\x1b" not in shown and "\x07" not in shown and "\u202e" not in shown, shown
    assert any("Evil\\x1b[2J\\x1b]0;pwned\\x07\\u202eTable" in r.stdout + r.stderr for r in results)


@pytest.mark.parametrize("seconds", ["1.5", "2"])
def test_apply_reads_wait_for_a_lock_as_long_as_lock_timeout_says(pg_cluster, seconds):
    """Planning waited the pool's 5 s whatever --lock-timeout said, and said "5 s"."""
    url = pg_cluster.clone(f"shop_apply_wait_{seconds.replace('.', '_')}")
    locker = psycopg2.connect(url, application_name="locker")
    try:
        locker.cursor().execute('LOCK TABLE "Order" IN ACCESS EXCLUSIVE MODE')
        result = run(
            "apply", "--url", url, "--table", "Order", "--columns", "total", "--yes",
            "--lock-timeout", seconds,
        )  # fmt: skip
    finally:
        locker.rollback()
        locker.close()
    assert result.returncode == 1 and "Traceback" not in result.stderr
    line = result.stderr.strip().splitlines()[-1]  # after the SQL it would have run
    assert f"waited more than {float(seconds):g} s for a lock" in line
    assert "application 'locker'" in line


def test_apply_waits_past_the_pool_s_5_s_when_lock_timeout_allows(pg_cluster):
    url = pg_cluster.clone("shop_apply_long_wait")
    locker = psycopg2.connect(url, application_name="locker")
    locker.cursor().execute('LOCK TABLE "Order" IN ACCESS EXCLUSIVE MODE')
    started = time.monotonic()
    build = subprocess.Popen(
        [*COMMAND, "db", "apply", "--url", url, "--table", "Order", "--columns", "total",
         "--yes", "--lock-timeout", "60"],
        stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )  # fmt: skip
    try:
        with contextlib.closing(psycopg2.connect(url)) as watcher:
            watcher.autocommit = True
            with watcher.cursor() as cur:  # past the pool's 5 s, the CLI must still wait
                while time.monotonic() - started < 7:
                    cur.execute(
                        "SELECT count(*) FROM pg_stat_activity WHERE wait_event_type = 'Lock' "
                        "AND application_name = 'fibuca-desktop'"
                    )
                    waiting = cur.fetchone()[0]
                    assert waiting or build.poll() is None, build.communicate()
    finally:
        locker.rollback()
        locker.close()
    out, err = build.communicate(timeout=120)
    assert build.returncode == 0, err
    assert "Order_total_idx: valid" in out
