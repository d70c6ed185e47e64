"""Watch a folder: every new or changed photo under it is processed once, when it is complete.

- Complete: ``watch_arrivals.Arrivals`` hands on a file only once it stopped changing.
- Once: the journal (``watch_journal``) says which content (BLAKE2b) made which output. A
  touched but unchanged photo is not redone; a changed one is redone into the same output name;
  a bad file is reported once and retried only when it changes. What arrived while nothing was
  watching is found by the first scan against the journal.
- Bounded: at most ``workers + queue_size`` jobs are handed to the scheduler at once; the rest
  wait as paths (no decoded image), so 200 photos dropped at once cost 200 paths.
- One ``BatchPlan`` for the watcher's life names every output (mirroring subfolders).
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, replace
from pathlib import Path

from fibuca_desktop.core.errors import UsageError
from fibuca_desktop.core.imaging.batch import BatchPlan
from fibuca_desktop.core.imaging.output_records import clean_stale_parts
from fibuca_desktop.core.imaging.pipeline import CANCELLED, FAILED, PROCESSED, JobResult
from fibuca_desktop.core.imaging.scheduler import Scheduler
from fibuca_desktop.core.imaging.watch_arrivals import Arrivals, WatchSettings
from fibuca_desktop.core.imaging.watch_journal import DONE, Entry, WatchJournal, file_hash
from fibuca_desktop.core.imaging.watch_journal import FAILED as JOURNAL_FAILED

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class WatchResult:
    """One photo's outcome: ``result`` is the pipeline's (status processed, skipped, failed or
    cancelled); cancelled ones are not journaled, so the next start does them."""

    result: JobResult

    @property
    def status(self) -> str:
        return self.result.status


@dataclass(frozen=True)
class _Running:
    source: Path
    size: int
    mtime_ns: int
    digest: str


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
            if entry is not None and self._other_format(entry):
                entry = None  # done for another preset's format: done again for this one
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

    def _other_format(self, entry: Entry) -> bool:
        suffix = Path(entry.output).suffix.lower() if entry.output else ""
        return entry.status == DONE and bool(suffix) and suffix != self.plan.extension.lower()

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
