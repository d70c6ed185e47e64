"""What Fibuca leaves in an output folder, and how it recognises it again.

Each output folder holds a small append-only record, ``.fibuca-outputs.jsonl``: one JSON line
``{"name": ..., "input": ...}`` per output (blank lines between them), written before the output
itself. It lets the planner
tell "this photo's own earlier cut-out" (skip it, or replace it) from "another photo's cut-out
with the same name" (never touch it: pick another name), and lets a folder walk recognise our
outputs so they are never processed as photos. Lines are appended with one ``write`` on an
``O_APPEND`` descriptor, so concurrent workers (and processes) do not interleave them.

Temporary files are those of ``core.atomic_write``: ``.<name>.<random>.part`` beside the target.
A kill -9 leaves them behind. The pipeline holds an exclusive ``flock`` on each one while it
writes (``hold_while_writing``), so ``clean_stale_parts`` can tell a dead writer's file (no lock:
removed once a few seconds old) from a live one (locked: kept). Where locks are unavailable, a
file is stale once it is older than any write can take.
"""

from __future__ import annotations

import contextlib
import errno
import json
import logging
import os
import re
import threading
import time
import unicodedata
from collections.abc import Iterable
from pathlib import Path

try:
    import fcntl
except ImportError:  # Windows: an open file cannot be removed there anyway
    fcntl = None

from fibuca_desktop.core.atomic_write import part_prefix

log = logging.getLogger(__name__)

RECORD_NAME = ".fibuca-outputs.jsonl"
STALE_PART_SECONDS = 3600  # far beyond the longest single write; younger ones may be in flight
UNLOCKED_PART_SECONDS = 5.0  # an unlocked one this old has no writer (it locks at once)
# atomic_write: mkstemp(prefix=f".{target.name}.", suffix=".part") adds 8 random characters.
_CACHED_FOLDERS = 32  # records kept parsed, for the folders used last
_PART = re.compile(r"^\..+\.[A-Za-z0-9_]{8}\.part$")


def name_key(name: str) -> str:
    """A file name as case-insensitive, normalisation-insensitive disks (Windows, macOS) see it."""
    return unicodedata.normalize("NFC", name).casefold()


def is_temporary_name(name: str) -> bool:
    """True for the name of one of our temporary (unfinished) output files."""
    return bool(_PART.match(name))


def record_output(output: Path, source: Path) -> None:
    """Note that ``output`` is (about to be) made from ``source``. Raises OSError, also when the
    disk took only part of the line (then no output may follow it).

    Each line starts with a newline of its own: a line cut by a kill -9 or a full disk costs
    only itself, instead of swallowing the next record appended after it."""
    output.parent.mkdir(parents=True, exist_ok=True)
    entry = json.dumps({"name": output.name, "input": str(source)}, ensure_ascii=False)
    data = f"\n{entry}\n".encode("utf-8", "surrogateescape")  # names that are not UTF-8: as is
    fd = os.open(output.parent / RECORD_NAME, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o666)
    try:
        if os.write(fd, data) != len(data):
            raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC), str(output.parent))
    finally:
        os.close(fd)


def read_records(folder: Path) -> dict[str, Path]:
    """``name_key(output name)`` -> the input it was made from; the last line for a name wins.

    A missing or unreadable record is empty; a damaged line is ignored (a kill can cut the last).
    """
    return dict(_cache.current(folder / RECORD_NAME))


def recorded_input(folder: Path, name: str) -> Path | None:
    """The input our record says ``folder/name`` was made from, or None. Called once per job
    that replaces an output: it reads only what was appended since the last call, so a batch
    of N replacements costs N lines, not N whole records."""
    return _cache.current(folder / RECORD_NAME).get(name_key(name))


class _RecordCache:
    """The parsed records of each folder, read on: the file is append-only, so what was read
    stays true and only the bytes after it are new. A file that shrank or was replaced (another
    inode) is read again from the start."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._files: dict[Path, tuple[tuple[int, int], int, dict[str, Path]]] = {}

    def current(self, path: Path) -> dict[str, Path]:
        try:
            with open(path, "rb") as handle:
                stat = os.fstat(handle.fileno())
                identity = (stat.st_dev, stat.st_ino)
                with self._lock:
                    known, offset, records = self._files.get(path, (identity, 0, {}))
                    if known != identity or stat.st_size < offset:
                        offset, records = 0, {}
                    handle.seek(offset)
                    data = handle.read()
                    complete = data.rfind(b"\n") + 1  # a line still being written waits
                    _parse(data[:complete], records)
                    self._files.pop(path, None)  # newest last: the oldest folder goes first
                    self._files[path] = (identity, offset + complete, records)
                    while len(self._files) > _CACHED_FOLDERS:
                        del self._files[next(iter(self._files))]
                    return records
        except OSError:
            return {}


def _parse(data: bytes, records: dict[str, Path]) -> None:
    for line in data.decode("utf-8", "surrogateescape").splitlines():
        with contextlib.suppress(ValueError, TypeError, KeyError, AttributeError):
            entry = json.loads(line)
            records[name_key(str(entry["name"]))] = Path(entry["input"])


_cache = _RecordCache()


def is_output_folder(folder: Path) -> bool:
    return (folder / RECORD_NAME).is_file()


def hold_while_writing(fd: int) -> None:
    """Mark a temporary file as in use until ``fd`` is closed (no-op without ``flock``)."""
    if fcntl is not None:
        with contextlib.suppress(OSError):
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)


def _in_use(path: str) -> bool | None:
    """True while a writer holds the file, False if none does, None when we cannot tell."""
    if fcntl is None:
        return None
    try:
        fd = os.open(path, os.O_RDONLY)
    except OSError:
        return None
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except OSError as error:
        return True if error.errno in (errno.EWOULDBLOCK, errno.EAGAIN, errno.EACCES) else None
    else:
        return False
    finally:
        os.close(fd)  # also releases the lock we may have taken


def clean_parts_of(output: Path) -> list[Path]:
    """Remove the temporary files of this one ``output`` that no writer holds, whatever their
    age: a redelivered job (its first run killed mid-write) clears what that run left before
    it writes the same name again. A locked one (a live writer) stays; so does everything
    where locks cannot be told (then ``clean_stale_parts``' age rule applies)."""
    prefix = part_prefix(output.name)
    removed = []
    try:
        entries = list(os.scandir(output.parent))
    except OSError:
        return removed
    for entry in entries:
        if not (entry.name.startswith(prefix) and is_temporary_name(entry.name)):
            continue
        if entry.name[len(prefix) :].count(".") != 1:  # ".a.png." also begins ".a.png.x.png."
            continue
        if _in_use(entry.path) is not False:
            continue
        try:
            os.unlink(entry.path)
        except OSError as error:
            log.warning("could not remove stale temporary file %s: %s", entry.path, error)
            continue
        removed.append(Path(entry.path))
    return removed


def clean_stale_parts(
    folders: Iterable[Path], older_than: float = STALE_PART_SECONDS, now: float | None = None
) -> list[Path]:
    """Remove our temporary files that no writer holds (or, where that cannot be told, older
    than ``older_than`` seconds) from ``folders`` (not recursive); returns what was removed.
    Anything else, or anything we cannot remove, stays."""
    now = time.time() if now is None else now
    removed = []
    for folder in sorted(set(folders)):
        try:
            entries = list(os.scandir(folder))
        except OSError:
            continue  # not created yet, or unreadable: the run reports that itself
        for entry in entries:
            if not is_temporary_name(entry.name):
                continue
            try:
                if not entry.is_file(follow_symlinks=False):
                    continue
                age = now - entry.stat(follow_symlinks=False).st_mtime
                in_use = _in_use(entry.path)
                if in_use or age < (older_than if in_use is None else UNLOCKED_PART_SECONDS):
                    continue
                os.unlink(entry.path)
            except OSError as error:
                log.warning("could not remove stale temporary file %s: %s", entry.path, error)
                continue
            removed.append(Path(entry.path))
    if removed:
        log.info("removed %d stale temporary files: %s", len(removed), removed)
    return removed
