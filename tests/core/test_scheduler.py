"""Bounded, memory-aware concurrency: budgets block, oversize jobs fail, cancel stops the queue."""

from __future__ import annotations

import os
import threading

import psutil
import pytest
from PIL import Image

from fibuca_desktop.core.errors import Cancelled, JobTooLarge
from fibuca_desktop.core.imaging.batch import plan_batch
from fibuca_desktop.core.imaging.memory_budget import MemoryBudget
from fibuca_desktop.core.imaging.pipeline import CANCELLED, FAILED, PROCESSED, Pipeline
from fibuca_desktop.core.imaging.presets import get_preset
from fibuca_desktop.core.imaging.scheduler import Capacity, Scheduler, machine_capacity
from tests.corpus import written_files

MB = 1024 * 1024


def test_capacity_comes_from_the_machine():
    capacity = machine_capacity()
    cores = os.cpu_count()
    assert capacity.workers == min(cores, 4)
    assert (capacity.inference_slots, capacity.threads_per_inference) == (1, cores)
    available = psutil.virtual_memory().available
    assert 0.3 * available < capacity.budget_bytes < 0.7 * available


def test_workers_override_sizes_inference_threads():
    capacity = machine_capacity(workers=1, budget_mb=500)
    assert (capacity.workers, capacity.threads_per_inference) == (1, os.cpu_count())
    assert capacity.budget_bytes == 500 * MB
    two = machine_capacity(workers=2, inference_slots=2)
    assert (two.inference_slots, two.threads_per_inference) == (2, max(1, os.cpu_count() // 2))
    assert machine_capacity(workers=1, inference_slots=3).inference_slots == 1  # never > workers


def test_small_outputs_default_to_one_worker():
    from fibuca_desktop.core.imaging.presets import get_preset

    assert get_preset("web").small_output and not get_preset("square").small_output
    assert not get_preset("transparent").small_output
    assert get_preset("transparent").with_options(max_side=600).small_output
    assert machine_capacity(small_outputs=True).workers == 1
    assert machine_capacity(workers=3, small_outputs=True).workers == 3  # the user decides
    with pytest.raises(ValueError):
        machine_capacity(workers=0)


def test_a_job_larger_than_the_budget_fails_at_once():
    budget = MemoryBudget(100)
    with (
        pytest.raises(JobTooLarge, match="more than the whole memory budget"),
        budget.reserve(101, name="huge.jpg"),
    ):
        pass
    assert budget.used == 0


def test_a_job_waits_while_the_budget_is_used():
    budget = MemoryBudget(100)
    acquired, release_first = threading.Event(), threading.Event()

    def second():
        with budget.reserve(60):
            acquired.set()

    with budget.reserve(60):
        waiter = threading.Thread(target=second)
        waiter.start()
        assert not acquired.wait(0.3)  # 60 + 60 > 100: it must wait
        assert budget.used == 60
        release_first.set()
    assert acquired.wait(5)
    waiter.join(5)
    assert budget.peak == 60 and budget.used == 0


def test_cancel_stops_a_waiting_job():
    budget = MemoryBudget(100)
    cancel = threading.Event()
    errors = []

    def waiter():
        try:
            with budget.reserve(80, cancel):
                pass
        except Cancelled as error:
            errors.append(error)

    with budget.reserve(50):
        thread = threading.Thread(target=waiter)
        thread.start()
        cancel.set()
        thread.join(5)
    assert len(errors) == 1 and budget.used == 0


@pytest.fixture
def batch(photos, tmp_path):
    return plan_batch([photos], tmp_path / "out", ".png")


def test_budget_bounds_concurrency_and_oversize_photos_fail_alone(engines, batch):
    pipeline = Pipeline(engines, get_preset("transparent"), "u2netp")
    estimates = {
        job.input.name: pipeline.estimate_bytes(pipeline.header(job)) for job in batch.jobs
    }
    biggest = max(estimates, key=estimates.get)
    # Room for any one job but the biggest, and never two at once: 2 workers run one at a time.
    budget = sorted(estimates.values())[-2]
    model = pipeline.model_spec.activation_mb * MB  # reserved once for the single inference slot
    scheduler = Scheduler(pipeline, Capacity(2, budget + model, 1, 1))
    seen = []
    results = scheduler.run_batch(batch.jobs, seen.append)
    assert len(seen) == len(batch.jobs)
    by_name = {r.input.name: r for r in results}
    assert by_name[biggest].status == FAILED
    assert "memory budget" in by_name[biggest].message
    assert {r.status for n, r in by_name.items() if n != biggest} == {PROCESSED}
    assert scheduler.budget.peak <= budget
    assert not by_name[biggest].output.exists()


def test_cancel_mid_batch_drops_the_queue(engines, batch):
    pipeline = Pipeline(engines, get_preset("mask"), "u2netp")
    scheduler = Scheduler(pipeline, Capacity(1, 4096 * MB, 1, 2))
    cancel = threading.Event()

    def on_result(result):
        cancel.set()  # the user presses Cancel as soon as the first photo is done

    results = scheduler.run_batch(batch.jobs, on_result, cancel)
    statuses = [r.status for r in results]
    assert statuses[0] == PROCESSED
    assert set(statuses[1:]) == {CANCELLED}
    written = written_files(batch.jobs[0].output.parent)
    assert written == [batch.jobs[0].output]


def test_an_unexpected_bug_fails_only_its_own_job(engines, batch, monkeypatch):
    """Fault injection: a programming error while reading one header must not stop the batch."""
    from fibuca_desktop.core.imaging import pipeline as pipeline_module

    real_read_header = pipeline_module.read_header
    victim = batch.jobs[1].input

    def read_header(path, limits):
        if path == victim:
            raise RuntimeError("injected bug")
        return real_read_header(path, limits)

    monkeypatch.setattr(pipeline_module, "read_header", read_header)
    pipeline = Pipeline(engines, get_preset("mask"), "u2netp")
    results = Scheduler(pipeline, Capacity(2, 4096 * MB, 1, 1)).run_batch(batch.jobs)
    by_input = {r.input: r for r in results}
    assert by_input[victim].status == FAILED
    assert "injected bug" in by_input[victim].message
    assert {r.status for r in results if r.input != victim} == {PROCESSED}


def test_one_inference_slot_serialises_model_runs_across_workers(u2netp_path, batch):
    """Two workers, one slot: model runs never overlap, so activations never double."""
    from fibuca_desktop.core.imaging.engine import EngineProvider

    engines = EngineProvider(threads=2, inference_slots=1)
    engine = engines.get("u2netp")
    engine.predict(Image.new("RGB", (32, 32)))  # build the real session
    session = engine._session
    running, overlaps, lock = [0], [0], threading.Lock()

    class CountingSession:
        """The real session, with a count of how many runs are inside it at once."""

        def run(self, *args):
            with lock:
                running[0] += 1
                overlaps[0] = max(overlaps[0], running[0])
            try:
                return session.run(*args)
            finally:
                with lock:
                    running[0] -= 1

    engine._session = CountingSession()
    pipeline = Pipeline(engines, get_preset("mask"), "u2netp")
    results = Scheduler(pipeline, Capacity(2, 4096 * MB, 1, 2)).run_batch(batch.jobs)
    assert {r.status for r in results} == {PROCESSED}
    assert overlaps[0] == 1
