"""Watch a folder: every new or changed photo under it is processed once, when it is complete.

- Complete means its size and mtime held still over ``settle_polls`` checks ``settle_interval``
  apart, or it was closed after writing (inotify's close-write): a file still growing never runs.
- Once: the journal (``watch_journal``) says which content (BLAKE2b) made which output. A
  touched but unchanged photo is not redone; a changed one is redone into the same output name;
  a bad file is reported once and retried only when it changes. What arrived while nothing was
  watching is found by the first scan against the journal.
- Bounded: at most ``workers + queue_size`` jobs are handed to the scheduler at once; the rest
  wait as paths (no decoded image), so 200 photos dropped at once cost 200 paths.
- One ``BatchPlan`` for the watcher's life names every output (mirroring subfolders).

watchdog's native observer (inotify on Linux) by default; its PollingObserver with ``poll``
(network shares, where inotify sees nothing) or when the native one cannot start.
"""

from __future__ import annotations

import logging
import os
import queue
import threading
import time
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, replace
from pathlib import Path

from watchdog.events import FileSystemEvent, FileSystemEventHandler
from watchdog.observers import Observer
from watchdog.observers.polling import PollingObserver

from fibuca_desktop.core.errors import UsageError
from fibuca_desktop.core.imaging.batch import IMAGE_EXTENSIONS, BatchPlan
from fibuca_desktop.core.imaging.folder_walk import walk_watched
from fibuca_desktop.core.imaging.output_records import clean_stale_parts
from fibuca_desktop.core.imaging.pipeline import CANCELLED, FAILED, PROCESSED, JobResult
from fibuca_desktop.core.imaging.scheduler import Scheduler
from fibuca_desktop.core.imaging.watch_journal import DONE, Entry, WatchJournal, file_hash
from fibuca_desktop.core.imaging.watch_journal import FAILED as JOURNAL_FAILED

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class WatchSettings:
    settle_polls: int = 2  # checks with the same size and mtime before a file counts as complete
    settle_interval: float = 0.5  # seconds between those checks
    queue_size: int = 2  # jobs handed to the scheduler beyond the running ones
    poll: bool = False  # PollingObserver instead of the native one
    poll_interval: float = 1.0  # PollingObserver's seconds between folder scans


@dataclass(frozen=True)
class WatchResult:
    """One photo's outcome: ``result`` is the pipeline's (status processed, skipped, failed or
    cancelled); cancelled ones are not journaled, so the next start does them."""

    result: JobResult

    @property
    def status(self) -> str:
        return self.result.status


@dataclass
class _Pending:
    size: int = -1
    mtime_ns: int = -1
    stable: int = 0
    closed: bool = False


@dataclass(frozen=True)
class _Running:
    source: Path
    size: int
    mtime_ns: int
    digest: str


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


class FolderWatcher:
    """Watches ``input_dir`` into ``output_dir`` through ``scheduler``. ``run`` blocks; call it
    from one thread (it owns the plan); ``stop`` may be set from any thread or a signal handler.
    """

    def __init__(
        self,
        input_dir: Path,
        output_dir: Path,
        scheduler: Scheduler,
        extension: str,
        settings: WatchSettings | None = None,
        on_result: Callable[[WatchResult], None] | None = None,
    ) -> None:
        self.settings = settings or WatchSettings()
        self.arrivals = Arrivals(input_dir, output_dir, self.settings)
        self.input_dir, self.output_dir = self.arrivals.input_dir, self.arrivals.output_dir
        if not self.input_dir.is_dir():
            raise UsageError(f"{input_dir} is not a folder; give the folder to watch.")
        if self.output_dir.resolve() == self.input_dir.resolve():
            raise UsageError("The output folder must not be the watched folder itself.")
        self.scheduler = scheduler
        self.on_result = on_result
        self.plan = BatchPlan(extension)
        self.plan.add([], self.output_dir)  # checks the output folder can be written
        self.journal = WatchJournal(self.output_dir)
        self.max_in_flight = 0
        self.halted: str | None = None
        self._running: dict[Future, _Running] = {}
        self._cancel = threading.Event()

    @property
    def observer_kind(self) -> str:
        return self.arrivals.observer_kind

    @property
    def note(self) -> str:
        return self.arrivals.note

    @property
    def limit(self) -> int:
        return self.scheduler.capacity.workers + self.settings.queue_size

    def run(self, stop: threading.Event, once: bool = False) -> None:
        """Process what is there, then (unless ``once``) what arrives, until ``stop`` is set.
        On stop, running photos stop at their next safe point and are not journaled."""
        self._clean_parts()
        pool = ThreadPoolExecutor(
            self.scheduler.capacity.workers, thread_name_prefix="fibuca-watch"
        )
        arrivals = self.arrivals
        if not once:
            arrivals.start()  # before the scan: nothing arrives unseen in between
        try:
            arrivals.scan()
            while not stop.is_set() and self.halted is None:
                arrivals.step(self._other)
                self._submit(pool)
                if once and arrivals.idle and not self._running:
                    break
        finally:
            arrivals.stop()
            self._cancel.set()
            pool.shutdown(wait=True, cancel_futures=True)
            arrivals.step(self._other)  # results of the photos that finished meanwhile
            self._clean_parts()

    def _other(self, kind: str, value) -> None:
        if kind == "done":
            self._finished(value)

    def _submit(self, pool: ThreadPoolExecutor) -> None:
        busy = {running.source for running in self._running.values()}
        ready = self.arrivals.ready
        for path in list(ready):
            if len(self._running) >= self.limit:
                return
            if path in busy:  # changed while running: done again after this run
                continue
            size, mtime_ns = ready.pop(path)
            entry = self.journal.get(path)
            if entry is not None and (entry.size, entry.mtime_ns) == (size, mtime_ns):
                continue
            try:
                digest = file_hash(path)
            except OSError:
                continue  # gone since it settled
            if entry is not None and entry.hash == digest:  # touched, not changed
                self._journal(replace(entry, size=size, mtime_ns=mtime_ns))
                continue
            relative = self.arrivals.relative(path)
            job = self.plan.add_file(path, relative, self.output_dir)
            future = pool.submit(self.scheduler.run_job, job, self._cancel)
            self._running[future] = _Running(path, size, mtime_ns, digest)
            self.max_in_flight = max(self.max_in_flight, len(self._running))
            future.add_done_callback(lambda done: self.arrivals.events.put(("done", done)))

    def _finished(self, future: Future) -> None:
        running = self._running.pop(future, None)
        if running is None or future.cancelled():
            return
        result: JobResult = future.result()  # run_job never raises
        if result.status == FAILED and self.scheduler.halted:
            self.halted = self.scheduler.halted  # a full disk: nothing more can be written
        elif result.status != CANCELLED:
            status = JOURNAL_FAILED if result.status == FAILED else DONE
            output = str(result.output) if result.status == PROCESSED else ""
            entry = Entry(
                str(running.source),
                running.size,
                running.mtime_ns,
                running.digest,
                status,
                output,
                result.message,
            )
            if not self._journal(entry):
                result = JobResult(result.job, FAILED, message="could not write the journal")
        if self.on_result is not None:
            self.on_result(WatchResult(result))

    def _journal(self, entry: Entry) -> bool:
        try:
            self.journal.record(entry)
            return True
        except OSError as error:
            self.halted = f"cannot write {self.journal.path}: {error.strerror or error}"
            log.error("%s", self.halted)
            return False

    def _clean_parts(self) -> None:
        folders = [self.output_dir] + [p for p in self.output_dir.rglob("*") if p.is_dir()]
        for stale in clean_stale_parts(folders):
            log.info("removed %s, left by an interrupted run", stale)


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
