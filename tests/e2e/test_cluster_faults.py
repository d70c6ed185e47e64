"""Machines dying mid-photo, cancel, and the broker going away: real Redis, real workers, and
``ClusterBatch`` (the API the CLI and the Process tab use) or ``process --broker``.

Every photo is done exactly once: one output each, one result each, no temporary file left.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from PIL import Image

from fibuca_desktop.cluster.broker_url import parse_broker_url
from fibuca_desktop.cluster.job_spec import Settings
from fibuca_desktop.cluster.submit import ClusterBatch
from fibuca_desktop.core.imaging.batch import plan_batch
from fibuca_desktop.core.imaging.decode import Limits
from fibuca_desktop.core.imaging.pipeline import PROCESSED
from fibuca_desktop.core.imaging.presets import get_preset
from tests import corpus
from tests.conftest import PHOTOS

WAIT_S = 120.0


def large_photos(folder: Path, count: int, side: int = 2400) -> list[Path]:
    """Photos slow enough (about a second each here) to be killed in the middle of."""
    folder.mkdir(parents=True, exist_ok=True)
    names = ["car-1.jpg", "animal-1.jpg", "cloth-1.jpg", "car-2.jpg"]
    paths = []
    for index in range(count):
        with Image.open(PHOTOS / names[index % len(names)]) as image:
            scale = side / max(image.size)
            big = image.convert("RGB").resize(
                (round(image.width * scale), round(image.height * scale)), Image.LANCZOS
            )
        path = folder / f"photo-{index:02d}.jpg"
        big.save(path, quality=90)
        paths.append(path)
    return paths


def settings(preset: str = "transparent") -> Settings:
    return Settings(get_preset(preset), "u2netp", Limits(), use_masks=False)


def until(condition, within: float, what: str) -> None:
    deadline = time.monotonic() + within
    while time.monotonic() < deadline:
        if condition():
            return
        time.sleep(0.02)
    pytest.fail(f"{what} did not happen within {within:.0f} s")


def check_exactly_once(plan, batch, calls, out: Path) -> None:
    results = {r.input: r for r in batch.results}
    assert sorted(results) == sorted(job.input for job in plan.jobs)
    assert all(r.status == PROCESSED for r in results.values()), [
        (r.input.name, r.message) for r in results.values() if r.status != PROCESSED
    ]
    assert sorted(calls) == sorted(job.input for job in plan.jobs)  # one report per photo
    assert corpus.written_files(out) == sorted(job.output for job in plan.jobs)  # no -2 copies
    assert corpus.leftovers(out) == []


def test_a_pool_process_killed_mid_photo_loses_and_duplicates_nothing(
    tmp_path, redis_server, cluster_workers
):
    [worker] = cluster_workers(redis_server.url, count=1, concurrency=1)
    large_photos(tmp_path / "in", 4)
    out = tmp_path / "out"
    plan = plan_batch([tmp_path / "in"], out, ".png")
    calls = []
    batch = ClusterBatch(
        parse_broker_url(redis_server.url), settings(), lambda r: calls.append(r.input)
    )
    with batch:
        batch.start(plan.jobs)
        until(lambda: batch.running(), WAIT_S, "a photo starting")
        [victim] = batch.running()
        [child] = worker.pool_pids()
        os.kill(child, signal.SIGKILL)  # an out-of-memory kill, say: the pool replaces it
        assert batch.wait(WAIT_S)
    check_exactly_once(plan, batch, calls, out)
    redone = {r.input: r for r in batch.results}[victim.input]
    assert redone.pid != child  # it was redone by the new pool process, not finished before
    assert "WorkerLostError" in worker.text() or "lost" in worker.text().lower()


def test_a_whole_worker_killed_mid_photo_is_redone_by_another_after_the_visibility_timeout(
    tmp_path, redis_server, cluster_workers, monkeypatch
):
    monkeypatch.setenv("FIBUCA_VISIBILITY_TIMEOUT", "4")
    first, second = cluster_workers(redis_server.url, count=2, concurrency=1)
    large_photos(tmp_path / "in", 5)
    out = tmp_path / "out"
    plan = plan_batch([tmp_path / "in"], out, ".png")
    calls, arrived = [], {}

    def on_result(result) -> None:
        calls.append(result.input)
        arrived[result.input] = time.monotonic()

    broker = parse_broker_url(redis_server.url)
    batch = ClusterBatch(broker, settings(), on_result)
    with batch:
        batch.start(plan.jobs)
        # limit=1: the answer comes as soon as the one worker asked replies, not after 1 s.
        inspect = batch._app.control.inspect(destination=[first.name], timeout=1.0, limit=1)
        found = {}

        def first_busy() -> bool:
            active = (inspect.active() or {}).get(first.name) or []
            if active:
                found["task"] = active[0]["id"]
            return bool(active)

        until(first_busy, WAIT_S, "the first worker starting a photo")
        task = found["task"]
        first.kill_whole()  # the machine loses power: nobody rejects its message
        killed_at = time.monotonic()
        assert batch.wait(WAIT_S)
        survivors = set(second.pool_pids())
    check_exactly_once(plan, batch, calls, out)
    victim = next(job for job in plan.jobs if batch.task_id(job) == task)
    redone = {r.input: r for r in batch.results}[victim.input]
    assert redone.pid in survivors  # the other worker did it
    assert arrived[victim.input] - killed_at >= 4 - 1.5  # not before the visibility timeout


def test_cancel_stops_queued_photos(tmp_path, redis_server, cluster_workers):
    [worker] = cluster_workers(redis_server.url, count=1, concurrency=1)
    large_photos(tmp_path / "in", 8, side=1600)
    out = tmp_path / "out"
    plan = plan_batch([tmp_path / "in"], out, ".png")
    with ClusterBatch(parse_broker_url(redis_server.url), settings()) as batch:
        batch.start(plan.jobs)
        until(lambda: batch.running(), WAIT_S, "a photo starting")
        cancelled = batch.cancel()
        assert batch.wait(WAIT_S)
        results = {r.input: r for r in batch.results}
    assert len(cancelled) >= 5
    assert {results[job.input].status for job in cancelled} == {"cancelled"}
    # Let the worker drain the queue: the revoked photos are dropped there, not run.
    until(lambda: redis_server.queue_length() == 0, WAIT_S, "the queue draining")
    time.sleep(3)  # a revoked photo that did run would be written by now
    written = corpus.written_files(out)
    done = sorted(job.output for job in plan.jobs if results[job.input].status == PROCESSED)
    assert written == done
    assert all(job.output not in written for job in cancelled)
    assert corpus.leftovers(out) == []
    assert "revoked" in worker.text().lower()


def test_the_broker_going_away_is_one_clear_line_and_nothing_half_written(
    tmp_path, redis_server, cluster_workers
):
    cluster_workers(redis_server.url, count=1, concurrency=1)
    large_photos(tmp_path / "in", 8, side=1600)
    out = tmp_path / "out"
    process = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "fibuca_desktop",
            "process",
            tmp_path / "in",
            "-o",
            out,
            "--no-mask-cache",
            "--broker",
            redis_server.url,
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env={**os.environ, "PYTHONUNBUFFERED": "1"},
    )
    try:
        until(lambda: any(out.glob("*.png")), WAIT_S, "a first photo written")
        redis_server.stop()
        stdout, stderr = process.communicate(timeout=60)
    finally:
        process.kill()
    assert process.returncode == 1, stderr
    assert "Traceback" not in stderr
    [line] = [text for text in stderr.splitlines() if "error:" in text]
    assert "broker redis://127.0.0.1:" in line and "check that Redis runs" in line
    assert "No result: the broker went away" in stdout
    time.sleep(3)  # the worker finishes the photo it had, writing it whole or not at all
    assert corpus.leftovers(out) == []
    for path in corpus.written_files(out):
        with Image.open(path) as image:
            image.load()  # every file there is complete


def test_failed_photos_are_retried_and_paths_are_mapped_on_the_worker(
    tmp_path, redis_server, cluster_workers
):
    """The submitter sees the share as ``view`` (a link it removes once the batch is sent); the
    worker reaches it only as ``share`` through --path-map. A photo broken at first fails with
    its message; mended, "retry failed" sends it again and it is done once."""
    share = tmp_path / "share"
    good, bad = large_photos(share / "in", 2, side=800)
    kept = bad.read_bytes()
    bad.write_bytes(b"\xff\xd8\xff\xe0 damaged on the way" * 10)
    view = tmp_path / "view"
    view.symlink_to(share)
    plan = plan_batch([view / "in"], view / "out", ".jpg")
    web = settings("web")
    with ClusterBatch(parse_broker_url(redis_server.url), web) as batch:
        batch.start(plan.jobs)
        view.unlink()  # from now on only the mapped path works
        cluster_workers(redis_server.url, count=1, extra=("--path-map", f"{view}={share}"))
        assert batch.wait(WAIT_S)
        first = {r.input.name: r for r in batch.results}
        bad.write_bytes(kept)
        again = batch.retry_failed()
        assert batch.wait(WAIT_S)
        second = {r.input.name: r for r in batch.results}
    assert first[good.name].status == PROCESSED
    assert first[bad.name].status == "failed" and bad.name in first[bad.name].message
    assert [job.input.name for job in again] == [bad.name]
    assert second[bad.name].status == PROCESSED
    assert all(str(r.output).startswith(str(view)) for r in second.values())  # the submitter's
    assert corpus.written_files(share / "out") == sorted(
        share / "out" / j.output.name for j in plan.jobs
    )
    assert corpus.leftovers(share / "out") == []


def test_a_worker_started_after_cancel_learns_the_revoked_photos(
    tmp_path, redis_server, cluster_workers
):
    """Revocations live in the workers' memory: one that starts later asks the running ones
    (Celery's mingle) and drops the revoked photos it finds in the queue instead of running
    them. The first worker's pool process is paused (SIGSTOP) on its photo meanwhile, so only
    the late worker can take from the queue."""
    [busy] = cluster_workers(redis_server.url, count=1, concurrency=1)
    large_photos(tmp_path / "in", 6, side=800)
    out = tmp_path / "out"
    plan = plan_batch([tmp_path / "in"], out, ".png")
    with ClusterBatch(parse_broker_url(redis_server.url), settings()) as batch:
        batch.start(plan.jobs)
        until(lambda: batch.running(), WAIT_S, "a photo starting")
        [child] = busy.pool_pids()
        os.kill(child, signal.SIGSTOP)
        try:
            [running] = batch.running()
            cancelled = batch.cancel()
            [late] = cluster_workers(redis_server.url, count=1, concurrency=1)
            until(lambda: redis_server.queue_length() == 0, WAIT_S, "the queue draining")
        finally:
            os.kill(child, signal.SIGCONT)
        assert batch.wait(WAIT_S)
    assert len(cancelled) == 5
    assert corpus.written_files(out) == [running.output]
    # Without the revocations the late worker would have run them (and written their outputs).
    assert late.text().count("Discarding revoked task") == 5
    assert "Discarding revoked task" not in busy.text()


def test_photos_cancelled_while_no_worker_runs_are_not_made_by_a_worker_started_later(
    tmp_path, redis_server, cluster_workers
):
    """No worker heard the revocation, so none can tell a later one (mingle has nobody to ask):
    the cancelled photos are also kept in Redis, and the late worker drops them there."""
    large_photos(tmp_path / "in", 4, side=600)
    out = tmp_path / "out"
    plan = plan_batch([tmp_path / "in"], out, ".png")
    with ClusterBatch(parse_broker_url(redis_server.url), settings()) as batch:
        batch.start(plan.jobs)
        assert len(batch.cancel()) == 4  # nobody is running: every photo is still queued
        assert batch.wait(WAIT_S)
    assert redis_server.queue_length() == 4  # the tasks are still there
    [late] = cluster_workers(redis_server.url, count=1, concurrency=1)
    until(lambda: redis_server.queue_length() == 0, WAIT_S, "the queue draining")
    until(lambda: late.text().count("cancelled by its submitter") == 4, WAIT_S, "4 drops")
    assert corpus.written_files(out) == []
    assert corpus.leftovers(out) == []
