"""Photos that arrived under a watched folder and are completely written.

Complete means the size and mtime held still over ``settle_polls`` checks ``settle_interval``
apart, or the file was closed after writing (inotify's close-write, which saves one check): a
file still growing is never handed on. A rename or move into the folder counts. watchdog's
native observer (inotify on Linux) by default; its PollingObserver with ``poll`` (network
shares, where inotify sees nothing) or when the native one cannot start. Pure Python: the CLI's
``FolderWatcher`` and the Process tab's switch both use it.
"""

from __future__ import annotations

import logging
import os
import queue
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from watchdog.events import FileSystemEvent, FileSystemEventHandler
from watchdog.observers import Observer
from watchdog.observers.polling import PollingObserver

from fibuca_desktop.core.imaging.batch import IMAGE_EXTENSIONS
from fibuca_desktop.core.imaging.folder_walk import walk_watched

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class WatchSettings:
    settle_polls: int = 2  # checks with the same size and mtime before a file counts as complete
    settle_interval: float = 0.5  # seconds between those checks
    queue_size: int = 2  # jobs handed to the scheduler beyond the running ones
    poll: bool = False  # PollingObserver instead of the native one
    poll_interval: float = 1.0  # PollingObserver's seconds between folder scans


@dataclass
class _Pending:
    size: int = -1
    mtime_ns: int = -1
    stable: int = 0
    closed: bool = False


class Arrivals:
    """Photos under ``input_dir`` that are new or changed and completely written, in ``ready``
    (path -> size, mtime_ns). Used from one thread; the observer only queues paths to it.
    ``events`` also carries other work for that thread (``step``'s ``on_other``)."""

    def __init__(self, input_dir: Path, output_dir: Path, settings: WatchSettings) -> None:
        self.input_dir = Path(os.path.abspath(input_dir))
        self.output_dir = Path(os.path.abspath(output_dir))
        self.settings = settings
        self.events: queue.Queue = queue.Queue()
        self.ready: dict[Path, tuple[int, int]] = {}
        self.observer_kind = ""  # "native" or "polling", once started
        self.note = ""  # why the polling observer is used although the native one was asked for
        self._pending: dict[Path, _Pending] = {}
        self._observer = None
        self._next_check = 0.0

    @property
    def idle(self) -> bool:
        return not (self._pending or self.ready)

    def scan(self) -> None:
        """Take every photo there now: the journal decides which ones are new."""
        for source, _ in walk_watched(self.input_dir, self.output_dir, IMAGE_EXTENSIONS).pairs:
            self._seen(source)

    def start(self) -> None:
        self._observer = self._start_observer()

    def stop(self) -> None:
        if self._observer is not None:
            self._observer.stop()
            self._observer.join(timeout=5)
            self._observer = None

    def step(self, on_other: Callable[[str, object], None]) -> None:
        """Wait for events until the next settle check is due, then check."""
        self._drain(max(0.0, self._next_check - time.monotonic()), on_other)
        if time.monotonic() >= self._next_check:
            self._check_pending()
            self._next_check = time.monotonic() + self.settings.settle_interval

    def _start_observer(self):
        handler = _Handler(self.events)
        if not self.settings.poll:
            observer = Observer()
            try:
                observer.schedule(handler, str(self.input_dir), recursive=True)
                observer.start()
                self.observer_kind = "native"
                return observer
            except OSError as error:  # inotify's watch limit, a filesystem without it
                self.note = f"the native folder watcher could not start ({error}); polling"
                log.warning("%s", self.note)
        observer = PollingObserver(timeout=self.settings.poll_interval)
        observer.schedule(handler, str(self.input_dir), recursive=True)
        observer.start()
        self.observer_kind = "polling"
        return observer

    def _drain(self, timeout: float, on_other) -> None:
        try:
            item = self.events.get(timeout=timeout) if timeout > 0 else self.events.get_nowait()
            while True:
                self._handle(*item, on_other)
                item = self.events.get_nowait()
        except queue.Empty:
            return

    def _handle(self, kind: str, value, on_other) -> None:
        if kind not in ("scan", "changed", "closed"):
            on_other(kind, value)
        elif kind == "scan":
            folder = Path(value)
            if folder.is_dir() and self.relative(folder / "photo.jpg") is not None:
                for source, _ in walk_watched(folder, self.output_dir, IMAGE_EXTENSIONS).pairs:
                    self._seen(source)
        else:
            self._seen(Path(value), closed=kind == "closed")

    def _seen(self, path: Path, closed: bool = False) -> None:
        if self.relative(path) is None:
            return
        pending = self._pending.setdefault(path, _Pending())
        pending.closed = closed
        if not closed:
            pending.stable = 0

    def relative(self, path: Path) -> Path | None:
        """``path`` under the watched folder if it is a photo to process, else None: hidden
        names, our temporary files and records (all start with a dot), the output folder."""
        path = Path(os.path.abspath(path))
        if path.suffix.lower() not in IMAGE_EXTENSIONS or self.output_dir in path.parents:
            return None
        try:
            relative = path.relative_to(self.input_dir)
        except ValueError:
            return None
        return None if any(part.startswith(".") for part in relative.parts) else relative

    def _check_pending(self) -> None:
        for path, pending in list(self._pending.items()):
            try:
                stat = os.stat(path)
            except OSError:  # gone (moved away, deleted) or unreadable: nothing to do
                del self._pending[path]
                continue
            if not os.path.isfile(path):
                del self._pending[path]
                continue
            now = (stat.st_size, stat.st_mtime_ns)
            if now == (pending.size, pending.mtime_ns):
                pending.stable += 1
            else:
                pending.size, pending.mtime_ns = now
                pending.stable = 0
            if pending.stable >= self.settings.settle_polls or (pending.closed and pending.stable):
                del self._pending[path]
                self.ready[path] = now


class _Handler(FileSystemEventHandler):
    """Runs on the observer's thread: only queues paths for the watcher's own thread."""

    def __init__(self, events: queue.Queue) -> None:
        self.events = events

    def on_any_event(self, event: FileSystemEvent) -> None:
        kind = event.event_type
        path = event.dest_path if kind == "moved" else event.src_path
        if event.is_directory:
            if kind in ("created", "moved"):
                self.events.put(("scan", os.fsdecode(path)))
        elif kind in ("created", "modified", "moved"):
            self.events.put(("changed", os.fsdecode(path)))
        elif kind == "closed":
            self.events.put(("closed", os.fsdecode(path)))
