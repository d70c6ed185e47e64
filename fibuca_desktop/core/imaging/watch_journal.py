"""The watch folder's memory: which photo, in which state, made which output.

An append-only JSON-lines file in the output folder (``.fibuca-watch.jsonl``), one line per
result, fsynced before the result is reported. Chosen over sqlite because it is the format our
output records already use, reads back with any text tool, needs no locking that network shares
do badly, and a kill -9 can only cut the last line, which is ignored (and cut off on open, so
the next line starts clean). The last line for an input wins.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import threading
from dataclasses import asdict, dataclass
from pathlib import Path

JOURNAL_NAME = ".fibuca-watch.jsonl"
DONE, FAILED = "done", "failed"  # a skipped photo (its output is not ours) counts as done
_CHUNK = 1024 * 1024


@dataclass(frozen=True)
class Entry:
    input: str
    size: int
    mtime_ns: int
    hash: str  # BLAKE2b of the file's bytes, hex
    status: str  # DONE or FAILED
    output: str = ""
    message: str = ""


def file_hash(path: Path) -> str:
    """BLAKE2b of the whole file: a touched but unchanged photo is recognised as done."""
    digest = hashlib.blake2b(digest_size=32)
    with open(path, "rb") as handle:
        while chunk := handle.read(_CHUNK):
            digest.update(chunk)
    return digest.hexdigest()


class WatchJournal:
    """The journal of one output folder. Thread-safe; ``record`` returns once it is on disk."""

    def __init__(self, output_dir: Path) -> None:
        output_dir.mkdir(parents=True, exist_ok=True)
        self.path = output_dir / JOURNAL_NAME
        self._lock = threading.Lock()
        self._entries: dict[str, Entry] = {}
        self._load()

    def get(self, source: Path) -> Entry | None:
        with self._lock:
            return self._entries.get(str(source))

    def __len__(self) -> int:
        with self._lock:
            return len(self._entries)

    def record(self, entry: Entry) -> None:
        """Append ``entry`` and fsync it. Raises OSError (a full disk): the caller reports it."""
        line = json.dumps(asdict(entry), ensure_ascii=False) + "\n"
        data = line.encode("utf-8", "surrogateescape")
        with self._lock:
            fd = os.open(self.path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o666)
            try:
                if os.write(fd, data) != len(data):
                    raise OSError(28, "No space left on device", str(self.path))
                os.fsync(fd)
            finally:
                os.close(fd)
            self._entries[entry.input] = entry

    def _load(self) -> None:
        try:
            with open(self.path, "rb") as handle:
                data = handle.read()
        except FileNotFoundError:
            return
        complete = data.rfind(b"\n") + 1
        if complete < len(data):  # a line cut by a kill: drop it so the next one starts clean
            with open(self.path, "r+b") as handle:
                handle.truncate(complete)
                os.fsync(handle.fileno())
        for line in data[:complete].decode("utf-8", "surrogateescape").splitlines():
            with contextlib.suppress(ValueError, TypeError, KeyError):
                fields = json.loads(line)
                entry = Entry(**{key: fields[key] for key in Entry.__dataclass_fields__})
                self._entries[entry.input] = entry
