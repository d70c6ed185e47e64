"""The folder watcher with real files, real watchdog observers and the real u2netp pipeline.

No timing assertions: every wait polls a condition until a deadline. Ordering is proven with a
sentinel photo: once a photo dropped later has its result, every event before it was seen.
"""

from __future__ import annotations

import os
import shutil
import threading
import time
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from fibuca_desktop.core.imaging.batch import Job
from fibuca_desktop.core.imaging.pipeline import FAILED, PROCESSED, Pipeline
from fibuca_desktop.core.imaging.presets import get_preset
from fibuca_desktop.core.imaging.scheduler import Scheduler, machine_capacity
from fibuca_desktop.core.imaging.watch import FolderWatcher, WatchSettings
from fibuca_desktop.core.imaging.watch_journal import DONE, JOURNAL_NAME, Entry, WatchJournal
from fibuca_desktop.core.imaging.watch_journal import FAILED as JOURNAL_FAILED
from tests.conftest import PHOTOS

FAST = WatchSettings(settle_polls=2, settle_interval=0.2, queue_size=2)
DEADLINE_S = 120


def wait_until(condition, seconds: float = DEADLINE_S, what: str = "the condition") -> None:
    deadline = time.monotonic() + seconds
    while not condition():
        if time.monotonic() > deadline:
            pytest.fail(f"gave up waiting for {what} after {seconds} s")
        time.sleep(0.05)


class Running:
    """A watcher on its own thread, collecting results; stopped (and joined) on exit."""

    def __init__(self, engines, watched: Path, out: Path, settings=FAST, preset="web", workers=1):
        preset = get_preset(preset)
        self.preset = preset
        capacity = machine_capacity(workers, 2048, model_mb=100)
        self.pipeline = Pipeline(engines, preset, "u2netp", None, True, None)
        self.scheduler = Scheduler(self.pipeline, capacity)
        self.results = []
        self._lock = threading.Lock()
        self.watcher = FolderWatcher(
            watched, out, self.scheduler, preset.extension, settings, self._add
        )
        self.stop = threading.Event()
        self.thread = threading.Thread(target=self.watcher.run, args=(self.stop,))

    def _add(self, watched) -> None:
        with self._lock:
            self.results.append(watched.result)

    def of(self, path: Path) -> list:
        with self._lock:
            return [r for r in self.results if r.input == Path(os.path.abspath(path))]

    def __enter__(self):
        self.thread.start()
        wait_until(lambda: self.watcher.observer_kind, 30, "the observer to start")
        return self

    def __exit__(self, *exc) -> None:
        self.stop.set()
        self.thread.join(60)
        assert not self.thread.is_alive()


def run_once(engines, watched: Path, out: Path, preset="web", settings=FAST) -> list:
    preset = get_preset(preset)
    pipeline = Pipeline(engines, preset, "u2netp", None, True, None)
    results = []
    watcher = FolderWatcher(
        watched,
        out,
        Scheduler(pipeline, machine_capacity(1, 2048, model_mb=100)),
        preset.extension,
        settings,
        lambda w: results.append(w.result),
    )
    watcher.run(threading.Event(), once=True)
    return results


def big_jpeg(path: Path) -> None:
    """A real photo enlarged to a few MB: many 64 KB chunks to copy slowly."""
    with Image.open(PHOTOS / "cloth-1.jpg") as image:
        image.convert("RGB").resize((2400, 2400)).save(path, quality=97)


def pixels(path: Path) -> np.ndarray:
    with Image.open(path) as image:
        return np.asarray(image.convert("RGBA"))


def test_a_slowly_copied_photo_is_processed_once_after_it_is_complete(engines, tmp_path):
    source = tmp_path / "big.jpg"
    big_jpeg(source)
    data = source.read_bytes()
    assert len(data) > 16 * 64 * 1024
    watched, out = tmp_path / "in", tmp_path / "out"
    watched.mkdir()
    with Running(engines, watched, out) as running:
        target = watched / "big.jpg"
        with open(target, "wb") as handle:
            for start in range(0, len(data), 64 * 1024):
                handle.write(data[start : start + 64 * 1024])
                handle.flush()
                assert running.results == [], "processed while it was still being written"
                time.sleep(0.02)  # the copier's pace, far inside the settle period
        wait_until(lambda: running.of(target), what="the copied photo's result")
        shutil.copy(PHOTOS / "car-1.jpg", watched / "sentinel.jpg")
        wait_until(lambda: running.of(watched / "sentinel.jpg"), what="the sentinel")
        [result] = running.of(target)
    assert result.status == PROCESSED, result.message
    one_shot = tmp_path / "one-shot.jpg"
    direct = running.pipeline.process(Job(source, one_shot))
    assert direct.status == PROCESSED
    assert np.array_equal(pixels(result.output), pixels(one_shot))
    assert WatchJournal(out).get(target).status == DONE


def small_jpegs(folder: Path, count: int) -> list[Path]:
    folder.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(7)
    paths = []
    for index in range(count):
        image = np.full((48, 64, 3), rng.integers(0, 255, 3), np.uint8)
        image[12:36, 16:48] = rng.integers(0, 255, 3)
        path = folder / f"p{index:03d}.jpg"
        Image.fromarray(image).save(path, quality=80)
        paths.append(path)
    return paths


def test_200_photos_dropped_at_once_are_all_done_with_bounded_jobs_in_flight(engines, tmp_path):
    staged = small_jpegs(tmp_path / "staging", 200)
    watched, out = tmp_path / "in", tmp_path / "out"
    watched.mkdir()
    settings = WatchSettings(settle_polls=2, settle_interval=0.2, queue_size=3)
    with Running(engines, watched, out, settings, workers=2) as running:
        for path in staged:  # renames: all 200 are complete at once
            os.rename(path, watched / path.name)
        wait_until(lambda: len(running.results) >= 200, 600, "200 results")
    assert {r.status for r in running.results} == {PROCESSED}
    assert len({r.output for r in running.results}) == 200
    assert all(r.output.is_file() for r in running.results)
    # Never more than the workers plus the bounded queue handed to the scheduler...
    assert running.watcher.max_in_flight <= 2 + 3
    # ...and the bound was actually reached (the test would notice a bound that never bites).
    assert running.watcher.max_in_flight == 2 + 3
    budget = running.scheduler.budget
    assert budget.peak <= budget.total


def test_restart_resumes_without_repeating_and_takes_what_arrived_meanwhile(engines, tmp_path):
    watched, out = tmp_path / "in", tmp_path / "out"
    (watched / "sub").mkdir(parents=True)
    shutil.copy(PHOTOS / "car-1.jpg", watched / "a.jpg")
    shutil.copy(PHOTOS / "car-3.jpg", watched / "sub" / "b.jpg")
    first = run_once(engines, watched, out)
    assert sorted(r.output.relative_to(out).as_posix() for r in first) == ["a.jpg", "sub/b.jpg"]
    mtimes = {r.output: r.output.stat().st_mtime_ns for r in first}

    shutil.copy(PHOTOS / "animal-2.jpg", watched / "sub" / "c.jpg")  # added while stopped
    os.utime(watched / "a.jpg", ns=(1, 10**18))  # touched, content unchanged
    second = run_once(engines, watched, out)
    assert [r.input.name for r in second] == ["c.jpg"]
    assert {o: o.stat().st_mtime_ns for o in mtimes} == mtimes

    before = pixels(out / "sub" / "b.jpg")
    shutil.copy(PHOTOS / "animal-1.jpg", watched / "sub" / "b.jpg")  # a real change
    third = run_once(engines, watched, out)
    assert [(r.input.name, r.output) for r in third] == [("b.jpg", out / "sub" / "b.jpg")]
    assert not np.array_equal(pixels(out / "sub" / "b.jpg"), before)
    assert sorted(p.name for p in (out / "sub").iterdir() if not p.name.startswith(".")) == [
        "b.jpg",
        "c.jpg",
    ]
    assert run_once(engines, watched, out) == []
    # Another preset's format into the same folder: done again for it, beside the first outputs.
    masks = run_once(engines, watched, out, preset="mask")
    assert sorted(r.output.name for r in masks) == ["a.png", "b.png", "c.png"]
    assert run_once(engines, watched, out, preset="mask") == []


@pytest.mark.parametrize("poll", [False, True], ids=["native", "polling"])
def test_a_rename_into_the_folder_counts(engines, tmp_path, poll):
    watched, out, outside = tmp_path / "in", tmp_path / "out", tmp_path / "outside"
    (watched / "sub").mkdir(parents=True)
    outside.mkdir()
    shutil.copy(PHOTOS / "car-1.jpg", outside / "moved.jpg")
    settings = WatchSettings(settle_polls=2, settle_interval=0.2, poll=poll, poll_interval=0.2)
    with Running(engines, watched, out, settings) as running:
        assert running.watcher.observer_kind == ("polling" if poll else "native")
        os.rename(outside / "moved.jpg", watched / "sub" / "moved.jpg")
        wait_until(lambda: running.of(watched / "sub" / "moved.jpg"), what="the moved photo")
        [result] = running.of(watched / "sub" / "moved.jpg")
    assert result.status == PROCESSED and result.output == out / "sub" / "moved.jpg"


def test_a_bad_file_is_reported_once_and_retried_only_when_it_changes(engines, tmp_path):
    watched, out = tmp_path / "in", tmp_path / "out"
    watched.mkdir()
    bad = watched / "bad.jpg"
    with Running(engines, watched, out) as running:
        bad.write_text("not a photo")
        wait_until(lambda: running.of(bad), what="the bad file's result")
        os.utime(bad, ns=(1, 10**18))  # touched: the same bytes, not retried
        shutil.copy(PHOTOS / "car-1.jpg", watched / "sentinel-1.jpg")
        wait_until(lambda: running.of(watched / "sentinel-1.jpg"), what="the first sentinel")
        assert [r.status for r in running.of(bad)] == [FAILED]
        shutil.copy(PHOTOS / "car-3.jpg", bad)  # fixed: now it is a photo
        wait_until(lambda: len(running.of(bad)) == 2, what="the fixed file's result")
        statuses = [r.status for r in running.of(bad)]
    assert statuses == [FAILED, PROCESSED]
    assert "not an image" in running.of(bad)[0].message
    assert WatchJournal(out).get(bad).status == DONE
    # The failure was journaled with its message: a restart does not report it again.
    lines = (out / JOURNAL_NAME).read_text().splitlines()
    assert sum(JOURNAL_FAILED in line and "bad.jpg" in line for line in lines) == 1


def test_hidden_temporary_and_output_files_are_never_taken(engines, tmp_path):
    watched = tmp_path / "in"
    out = watched / "cutouts-out"  # the output folder inside the watched one
    watched.mkdir()
    shutil.copy(PHOTOS / "car-1.jpg", watched / ".hidden.jpg")
    shutil.copy(PHOTOS / "car-1.jpg", watched / ".a.jpg.abcdefgh.part")
    shutil.copy(PHOTOS / "car-1.jpg", watched / "notes.txt")
    shutil.copy(PHOTOS / "car-1.jpg", watched / "a.jpg")
    assert [r.input.name for r in run_once(engines, watched, out)] == ["a.jpg"]
    assert run_once(engines, watched, out) == []  # its own output is not a new photo


def test_the_journal_tolerates_a_torn_last_line(tmp_path):
    journal = WatchJournal(tmp_path)
    journal.record(Entry("/in/a.jpg", 1, 2, "ab", DONE, "/out/a.jpg"))
    with open(tmp_path / JOURNAL_NAME, "ab") as handle:
        handle.write(b'{"input": "/in/b.jpg", "size": 3, "mti')  # a kill -9 mid-line
    reopened = WatchJournal(tmp_path)
    assert reopened.get(Path("/in/a.jpg")).output == "/out/a.jpg"
    assert reopened.get(Path("/in/b.jpg")) is None
    reopened.record(Entry("/in/b.jpg", 3, 4, "cd", JOURNAL_FAILED, message="bad"))
    again = WatchJournal(tmp_path)
    assert again.get(Path("/in/b.jpg")).message == "bad" and len(again) == 2
