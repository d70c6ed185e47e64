"""Last guards of the pipeline and the scheduler (issue 10 items 3, 6, 16).

- bytes always match the name: a job planned under one format and run under another is refused;
- a full disk stops the batch early, saying why, instead of running the model on every photo;
- the worker count is capped at what the memory budget holds, and a budget too small to hold
  the model is refused up front with the numbers;
- stale temporary files of a killed run are cleaned, fresh ones (a running writer's) are not.
"""

from __future__ import annotations

import os
import re
import subprocess
import time
from pathlib import Path

import pytest
from PIL import Image

from fibuca_desktop.core.errors import UsageError
from fibuca_desktop.core.imaging.batch import Job, plan_batch
from fibuca_desktop.core.imaging.output_records import (
    RECORD_NAME,
    clean_stale_parts,
    read_records,
    record_output,
    recorded_input,
)
from fibuca_desktop.core.imaging.pipeline import FAILED, PROCESSED, Pipeline
from fibuca_desktop.core.imaging.presets import get_preset
from fibuca_desktop.core.imaging.scheduler import (
    TYPICAL_JOB_BYTES,
    Capacity,
    Scheduler,
    machine_capacity,
)
from tests import corpus
from tests.small_disk import small_disk

MB = 1024 * 1024
PILLOW_FORMAT = {".png": "PNG", ".jpg": "JPEG", ".jpeg": "JPEG", ".webp": "WEBP"}


def preset(name: str, **options):
    return get_preset(name).with_options(**options)


MISMATCHES = [  # (preset, options, the extension a stale plan gave the job)
    ("web", {}, ".png"),
    ("transparent", {}, ".jpg"),
    ("transparent", {}, ".webp"),
    ("transparent", {"format": "webp"}, ".png"),
    ("square", {"format": "png"}, ".jpg"),
    ("mask", {}, ".jpeg"),
    ("web", {"format": "webp"}, ".jpg"),
]


@pytest.mark.parametrize(("name", "options", "extension"), MISMATCHES)
def test_an_output_whose_bytes_would_not_match_its_name_is_refused(
    engines, tmp_path, name, options, extension
):
    [photo] = corpus.copy_photos(tmp_path / "in", "car-2.jpg")
    output = tmp_path / "out" / f"car-2{extension}"
    result = Pipeline(engines, preset(name, **options), "u2netp").process(Job(photo, output))
    assert result.status == FAILED
    assert "car-2" in result.message and "was not written" in result.message
    assert extension in result.message
    assert corpus.written_files(tmp_path / "out") == [] and corpus.leftovers(tmp_path) == []


@pytest.mark.parametrize(
    ("name", "options"),
    [("transparent", {}), ("web", {}), ("web", {"format": "webp"}), ("square", {})],
)
def test_the_planned_extension_is_the_format_written(engines, tmp_path, name, options):
    chosen = preset(name, **options)
    [photo] = corpus.copy_photos(tmp_path / "in", "car-2.jpg")
    [job] = plan_batch([photo], tmp_path / "out", chosen.extension).jobs
    assert Pipeline(engines, chosen, "u2netp").process(job).status == PROCESSED
    with Image.open(job.output) as image:
        assert image.format == PILLOW_FORMAT[job.output.suffix]


@pytest.mark.parametrize(("options", "words"), [("size=64k", "is full"), ("ro", "Read-only")])
def test_a_full_disk_stops_the_batch_early_and_says_why(engines, tmp_path, options, words):
    """Full, or turned read-only after planning (a USB stick the kernel remounts after errors;
    one read-only when planned is refused by the plan itself)."""
    photos = corpus.copy_photos(tmp_path / "in", *(f"{i}/car-2.jpg" for i in range(6)))
    with small_disk(tmp_path / "small", "size=64k") as disk:
        plan = plan_batch([tmp_path / "in"], disk / "out", ".png")
        if options == "ro":
            subprocess.run(["mount", "-o", "remount,ro", str(disk)], check=True)
        scheduler = Scheduler(
            Pipeline(engines, get_preset("transparent"), "u2netp"), Capacity(1, 4096 * MB)
        )
        results = scheduler.run_batch(plan.jobs)
        assert corpus.leftovers(disk) == []
    assert len(results) == len(photos)
    full = [r for r in results if words in r.message and not r.message.startswith("Not")]
    not_started = [r for r in results if r.message.startswith("Not started")]
    assert len(full) == 1 and full[0].status == FAILED
    assert scheduler.halted == full[0].message
    first_after = results.index(full[0]) + 1
    assert not_started == results[first_after:] and len(not_started) >= 4
    assert all(r.status == FAILED and words in r.message for r in not_started)


@pytest.mark.parametrize("asked", [5, 64, 1000])
def test_workers_are_capped_at_what_the_memory_budget_holds(asked):
    budget_mb = 1024
    model_mb = 300
    fits = (budget_mb - model_mb) * MB // TYPICAL_JOB_BYTES
    capacity = machine_capacity(asked, budget_mb, model_mb=model_mb)
    assert capacity.workers == min(asked, fits)
    if asked > fits:
        assert f"{asked} workers asked for, {fits} used" in capacity.note
        assert "1024 MB" in capacity.note
    else:
        assert capacity.note == ""


@pytest.mark.parametrize("budget_mb", [1, 5, 100, 319])
def test_a_budget_too_small_for_the_model_is_refused_with_the_numbers(budget_mb):
    with pytest.raises(UsageError) as raised:
        machine_capacity(1, budget_mb, model_mb=300)
    message = str(raised.value)
    assert f"budget of {budget_mb} MB is too small" in message
    assert "at least 320 MB" in message
    assert not re.search(r"\b0 MB", message)  # base said "more than the whole budget of 0 MB"


def test_stale_temporary_files_are_removed_and_live_ones_kept(tmp_path):
    out = tmp_path / "out"
    (out / "sub").mkdir(parents=True)
    ages = {  # seconds since the writer was killed
        out / ".car-1.png.k2j4h5g6.part": 2 * 3600,
        out / "sub" / ".ünïcode name.jpg.abcd_123.part": 30,  # kill -9, then a rerun at once
        out / ".a.b.c.webp.ZZZZZZZZ.part": 10,
    }
    just_made = out / ".car-3.png.r5t6y7u8.part"  # unlocked, but a writer may lock it any moment
    not_ours = [out / "notes.part", out / ".config", out / "car-1.png", out / ".x.part"]
    now = time.time()
    for path, age in [*ages.items(), *((p, 2 * 3600) for p in not_ours), (just_made, 0)]:
        path.write_bytes(b"data")
        os.utime(path, (now - age, now - age))
    with corpus.live_writer(out / ".car-2.png.q1w2e3r4.part") as live:
        os.utime(live, (now - 2 * 3600, now - 2 * 3600))  # old, but its writer is alive
        removed = clean_stale_parts([out, out / "sub", tmp_path / "missing"])
        assert live.exists()
    assert sorted(removed) == sorted(ages)
    assert all(not p.exists() for p in ages)
    assert just_made.exists() and all(p.exists() for p in not_ours)


@pytest.mark.parametrize("maker", ["someone else", "another photo"])
def test_replace_never_replaces_a_file_that_appeared_after_planning(engines, tmp_path, maker):
    [photo] = corpus.copy_photos(tmp_path / "in", "car-1.jpg")
    [job] = plan_batch([photo], tmp_path / "out", ".png").jobs
    job.output.parent.mkdir(parents=True)
    job.output.write_bytes(b"not ours to replace")  # appeared while the job was queued
    if maker == "another photo":
        record_output(job.output, tmp_path / "elsewhere" / "car-1.jpg")
    result = Pipeline(engines, get_preset("transparent"), "u2netp", overwrite=True).process(job)
    assert result.status == "skipped" and "not made from this photo" in result.message
    assert job.output.read_bytes() == b"not ours to replace"


@pytest.mark.parametrize(
    "cut",
    ['{"name": "a.png", "inp', '{"name": "a.png", "input": "/x/a.jpg"}', "{", '{"name": "a.p\\u00'],
)
def test_a_record_line_cut_by_a_kill_or_a_full_disk_costs_only_itself(tmp_path, cut):
    """A kill -9 (or a full disk) mid-line leaves a record without its newline: the next
    output's record must not be glued onto it and lost (its cut-out would then count as a
    stranger's file, and as a photo when the folder is walked)."""
    out = tmp_path / "out"
    out.mkdir()
    (out / RECORD_NAME).write_text(cut, encoding="utf-8")
    record_output(out / "b.png", tmp_path / "in" / "b.jpg")
    record_output(out / "c.png", tmp_path / "in" / "c.jpg")
    records = read_records(out)
    assert records["b.png"] == tmp_path / "in" / "b.jpg"
    assert records["c.png"] == tmp_path / "in" / "c.jpg"


def test_records_read_on_see_what_was_appended_replaced_or_cut_since(tmp_path):
    """The record is read on from where the last read stopped (a batch of replacements must
    not read the whole file per photo), yet every later change to it is seen."""
    out = tmp_path / "out"
    record_output(out / "a.png", tmp_path / "a.jpg")
    assert recorded_input(out, "A.PNG") == tmp_path / "a.jpg"
    record_output(out / "b.png", tmp_path / "b.jpg")  # appended after the first read
    record_output(out / "a.png", tmp_path / "other" / "a.jpg")  # the last line wins
    assert recorded_input(out, "b.png") == tmp_path / "b.jpg"
    assert read_records(out) == {
        "a.png": tmp_path / "other" / "a.jpg",
        "b.png": tmp_path / "b.jpg",
    }
    replacement = tmp_path / "replacement"  # another file renamed over it, longer than read
    replacement.write_text(
        "\n".join(f'{{"name": "n{i}.png", "input": "/in/n{i}.jpg"}}' for i in range(50)) + "\n"
    )
    os.replace(replacement, out / RECORD_NAME)
    assert recorded_input(out, "a.png") is None and recorded_input(out, "n49.png") == Path(
        "/in/n49.jpg"
    )
    with open(out / RECORD_NAME, "r+") as handle:  # cut shorter in place
        handle.truncate(0)
    record_output(out / "c.png", tmp_path / "c.jpg")
    assert read_records(out) == {"c.png": tmp_path / "c.jpg"}
    (out / RECORD_NAME).unlink()
    assert read_records(out) == {} and recorded_input(out, "c.png") is None


@pytest.mark.parametrize("raw", [b"caf\xe9", b"\xff\xfe", b"na\xefve-\xc3\xa9t\xe9"])
def test_a_name_that_is_not_utf8_is_recorded_and_found_again(tmp_path, raw):
    """An old archive's Latin-1 names reach Python as escapes: the record failed with
    UnicodeEncodeError ('Unexpected error'), so such a photo could never be processed."""
    photo = tmp_path / "in" / os.fsdecode(raw + b".jpg")
    photo.parent.mkdir()
    photo.write_bytes(corpus.encode(corpus.photo("car-1.jpg"), "JPEG"))
    [job] = plan_batch([photo], tmp_path / "out", ".png").jobs
    record_output(job.output, job.input)
    job.output.write_bytes(b"made")
    assert read_records(job.output.parent)[job.output.name] == photo
    assert plan_batch([photo], tmp_path / "out", ".png").jobs == [job]  # its own, found again


class _AnotherProcessWritesMeanwhile:
    """The real engines; while the mask is predicted, another process (the CLI beside the
    window, say) writes its own photo's cut-out under the same name, with its record."""

    def __init__(self, engines, output: Path, other_photo: Path) -> None:
        self.engines, self.output, self.other_photo = engines, output, other_photo

    def get(self, model):
        engine = self.engines.get(model)
        writer = self

        class During:
            def predict(self, image, exact=True):
                record_output(writer.output, writer.other_photo)
                writer.output.write_bytes(b"the other photo's cut-out")
                return engine.predict(image, exact)

        return During()


@pytest.mark.parametrize("overwrite", [False, True], ids=["keep", "replace"])
def test_a_cut_out_another_process_writes_during_the_job_is_never_replaced(
    engines, tmp_path, overwrite
):
    """Checked at the start, the name was free; a rename at the end replaced whatever was
    written there meanwhile (with Replace existing, always; without, in a small window)."""
    [photo] = corpus.copy_photos(tmp_path / "in", "car-1.jpg")
    [job] = plan_batch([photo], tmp_path / "out", ".png").jobs
    job.output.parent.mkdir(parents=True)
    racing = _AnotherProcessWritesMeanwhile(engines, job.output, tmp_path / "cli" / "car-1.jpg")
    result = Pipeline(racing, get_preset("transparent"), "u2netp", overwrite=overwrite).process(job)
    assert result.status == "skipped", result.message
    assert job.output.read_bytes() == b"the other photo's cut-out"
    assert corpus.leftovers(job.output.parent) == []
