"""The monitor history's SQLite file: its schema, its checks, and setting aside a broken one.

The history is a convenience, never worth a crash or a blocked start: a file that is not ours
(random bytes, another program's database), damaged (truncated, malformed pages), of another
schema version, or locked by another process is renamed beside itself with a timestamp suffix
(``history.sqlite3.broken-20261202T153000``, with its ``-wal``/``-shm``/``-journal`` files, so a
stale log is never replayed into the new file) and a fresh one is started. Every problem comes
back as one line for the person; nothing here raises for a bad file.
"""

from __future__ import annotations

import contextlib
import logging
import os
import sqlite3
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from fibuca_desktop.core.data_folder import user_data_folder

log = logging.getLogger(__name__)

FILE_NAME = "history.sqlite3"
APPLICATION_ID = 0x46494255  # "FIBU": tells our file from any other SQLite database
SCHEMA_VERSION = 1
SIDE_FILES = ("-wal", "-shm", "-journal")

# Times are integer milliseconds and minutes epoch seconds of the minute's start. WITHOUT ROWID
# clusters each table on its key, so one target's window is one contiguous range to read,
# downsample or delete. A row packs all metrics of a sample or a minute (``history_rows``).
SCHEMA = """
CREATE TABLE targets (id INTEGER PRIMARY KEY, key TEXT NOT NULL UNIQUE);
CREATE TABLE metrics (id INTEGER PRIMARY KEY, name TEXT NOT NULL UNIQUE);
CREATE TABLE layouts (id INTEGER PRIMARY KEY, metrics TEXT NOT NULL UNIQUE);
CREATE TABLE raw (
    target INTEGER NOT NULL, t INTEGER NOT NULL, layout INTEGER NOT NULL, vals BLOB NOT NULL,
    PRIMARY KEY (target, t)
) WITHOUT ROWID;
CREATE TABLE minute (
    target INTEGER NOT NULL, minute INTEGER NOT NULL, layout INTEGER NOT NULL,
    stats BLOB NOT NULL,
    PRIMARY KEY (target, minute)
) WITHOUT ROWID;
"""


def default_history_path() -> Path:
    """``$FIBUCA_HISTORY_FILE``, else ``history.sqlite3`` in this platform's per-user data folder.

    A data folder, not the config one: tens of MB per target do not belong in a roaming profile.
    """
    override = os.environ.get("FIBUCA_HISTORY_FILE")
    if override:
        return Path(override).expanduser()
    return user_data_folder() / FILE_NAME


def connect(path: Path, busy_timeout_s: float) -> sqlite3.Connection:
    """A connection in autocommit mode (transactions are explicit), waiting ``busy_timeout_s``
    for another connection's write lock. ``check_same_thread`` is off so ``close`` may run on
    another thread; each connection is still used by one thread only."""
    conn = sqlite3.connect(
        path, timeout=busy_timeout_s, isolation_level=None, check_same_thread=False
    )
    conn.execute("PRAGMA synchronous = NORMAL")  # WAL: survives a killed process, not power loss
    return conn


@dataclass(frozen=True)
class Opened:
    """How opening went: ``usable`` False means the history is kept nowhere this session."""

    usable: bool
    problem: str | None = None
    kept_as: Path | None = None


def prepare(path: Path, busy_timeout_s: float = 1.0, now: datetime | None = None) -> Opened:
    """Make ``path`` a usable history file (created if absent); never raises."""
    problem = _check_or_create(path, busy_timeout_s)
    if problem is None:
        return Opened(True)
    if not _exists(path):  # nothing to set aside: the folder itself is the problem
        message = (
            f"The monitor history cannot be kept in {path.parent} ({problem}); "
            "history is not kept this session."
        )
        log.warning("%s", message)
        return Opened(False, message)
    try:
        kept = set_aside(path, now)
    except OSError as error:
        message = (
            f"The monitor history {path} {problem}, and could not be moved aside "
            f"({error.strerror or error}); history is not kept this session."
        )
        log.warning("%s", message)
        return Opened(False, message)
    second = _check_or_create(path, busy_timeout_s)
    if second is not None:
        message = (
            f"The monitor history {path} {problem}; kept as {kept.name}, but a new one "
            f"failed ({second}); history is not kept this session."
        )
        log.warning("%s", message)
        return Opened(False, message, kept)
    message = f"The monitor history {path} {problem}; kept as {kept.name} and a new one started."
    log.warning("%s", message)
    return Opened(True, message, kept)


def set_aside(path: Path, now: datetime | None = None) -> Path:
    """Rename ``path`` and its side files to ``<name>.broken-<UTC time>``; raises OSError."""
    stamp = (now or datetime.now(UTC)).strftime("%Y%m%dT%H%M%S")
    kept = path.with_name(f"{path.name}.broken-{stamp}")
    number = 2
    while _exists(kept):
        kept = path.with_name(f"{path.name}.broken-{stamp}-{number}")
        number += 1
    os.replace(path, kept)
    for suffix in SIDE_FILES:
        side = Path(f"{path}{suffix}")
        with contextlib.suppress(FileNotFoundError):
            os.replace(side, Path(f"{kept}{suffix}"))
    return kept


def _exists(path: Path) -> bool:
    return os.path.lexists(path)


def _check_or_create(path: Path, busy_timeout_s: float) -> str | None:
    """None when ``path`` is (now) our schema, checked and writable; else why not, in words."""
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
    except OSError as error:
        return f"cannot create the folder: {error.strerror or error}"
    try:
        conn = connect(path, busy_timeout_s)
    except sqlite3.Error as error:
        return _why(error)
    try:
        return _check(conn)
    except sqlite3.Error as error:
        return _why(error)
    finally:
        conn.close()


def _check(conn: sqlite3.Connection) -> str | None:
    app_id = conn.execute("PRAGMA application_id").fetchone()[0]
    version = conn.execute("PRAGMA user_version").fetchone()[0]
    tables = conn.execute("SELECT count(*) FROM sqlite_schema").fetchone()[0]
    if app_id == 0 and tables == 0:  # new or empty: make it ours
        conn.execute("PRAGMA auto_vacuum = INCREMENTAL")  # freed pages can be returned
        conn.execute("PRAGMA journal_mode = WAL")
        conn.executescript(  # one transaction: a half-made schema never stays behind
            f"BEGIN IMMEDIATE;{SCHEMA}PRAGMA application_id = {APPLICATION_ID};"
            f"PRAGMA user_version = {SCHEMA_VERSION};COMMIT;"
        )
        return None
    if app_id != APPLICATION_ID:
        return "is another program's database, not a Fibuca history"
    if version != SCHEMA_VERSION:
        return f"has schema version {version}, this version of the app reads {SCHEMA_VERSION}"
    result = conn.execute("PRAGMA quick_check(1)").fetchone()[0]
    if result != "ok":
        return f"is damaged ({result})"
    mode = conn.execute("PRAGMA journal_mode = WAL").fetchone()[0]
    if mode != "wal":
        log.info("the monitor history is in %s journal mode (no WAL on this disk)", mode)
    conn.execute("BEGIN IMMEDIATE")  # a write lock we can take: not locked by another process
    conn.execute("COMMIT")
    return None


def _why(error: sqlite3.Error) -> str:
    text = str(error)
    if "locked" in text or "busy" in text:
        return "is locked by another program"
    if "unable to open" in text:
        return "cannot be opened or created there (a read-only or missing folder?)"
    if "not a database" in text:
        return "is not a database"
    if "malformed" in text or "corrupt" in text:
        return "is damaged"
    return f"could not be opened ({text})"
