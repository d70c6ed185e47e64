"""``fibuca-desktop process`` end to end: nothing overwritten across runs, our own files known,
nothing left out silently, honest limits (issue 10 items 1, 5, 6, 11, 16)."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import time

import pytest
from PIL import Image

from fibuca_desktop.core.imaging.output_records import RECORD_NAME
from tests import corpus
from tests.e2e.test_process_cli import run_cli
from tests.small_disk import small_disk


def report(result) -> dict:
    return json.loads(result.stdout)


@pytest.mark.parametrize(
    ("first", "second"),
    [("shoes/item.jpg", "bags/item.jpg"), ("shoes/Item.jpg", "bags/ITEM.JPG")],
)
def test_a_second_run_never_overwrites_another_photos_cut_out(tmp_path, first, second):
    shoe, bag = tmp_path / first, tmp_path / second
    for path, source in ((shoe, "car-1.jpg"), (bag, "girl-1.jpg")):
        path.parent.mkdir(parents=True)
        path.write_bytes(corpus.encode(corpus.photo(source), "JPEG"))
    out = tmp_path / "out"
    assert run_cli(shoe, "-o", out).returncode == 0
    [shoe_output] = corpus.written_files(out)
    shoe_bytes = shoe_output.read_bytes()
    for overwrite in ([], ["--overwrite"]):  # with or without replacing: never the other photo's
        again = run_cli(bag, "-o", out, "--json", *overwrite)
        assert again.returncode == 0, again.stderr
    [processed] = report(again)["processed"]
    assert processed["output"] != str(shoe_output)
    assert shoe_output.read_bytes() == shoe_bytes
    assert len({p.name.casefold() for p in corpus.written_files(out)}) == 2
    with Image.open(processed["output"]) as image:
        assert (image.width, image.height) == (320, 213)  # the bag, not the shoe (320x240)


def test_a_later_run_over_the_photo_folder_skips_earlier_cut_outs(tmp_path):
    photos = tmp_path / "photos"
    corpus.copy_photos(photos, "car-1.jpg", "sub/girl-1.jpg")
    assert run_cli(photos / "car-1.jpg", "-o", photos / "sub" / "results").returncode == 0
    result = run_cli(photos, "-o", tmp_path / "out", "--json")
    assert result.returncode == 0, result.stderr
    inputs = sorted(os.path.basename(i["input"]) for i in report(result)["processed"])
    assert inputs == ["car-1.jpg", "girl-1.jpg"]  # not results/car-1.png
    reasons = {os.path.basename(i["input"]): i["reason"] for i in report(result)["skipped"]}
    assert "cut-out made by Fibuca" in reasons["results"]


def test_hidden_and_symlinked_folders_are_never_a_silent_zero(tmp_path):
    shop = tmp_path / "shop"
    corpus.copy_photos(tmp_path / "elsewhere", "car-1.jpg")
    for hidden in (shop / ".hidden" / "girl.jpg", shop / ".animal-2.jpg"):
        hidden.parent.mkdir(parents=True, exist_ok=True)
        hidden.write_bytes(corpus.encode(corpus.photo("girl-1.jpg"), "JPEG"))
    os.symlink(tmp_path / "elsewhere", shop / "linked")
    result = run_cli(shop, "-o", tmp_path / "out")
    assert result.returncode == 0, result.stderr
    assert result.stdout.startswith("1 processed, 2 skipped, 0 failed")
    assert (tmp_path / "out" / "linked" / "car-1.png").is_file()
    assert re.search(r"skipped .*\.hidden: hidden", result.stdout)
    assert re.search(r"skipped .*\.animal-2\.jpg: hidden", result.stdout)


def test_stale_temporary_files_of_a_killed_run_are_removed_at_the_next_run(tmp_path):
    [photo] = corpus.copy_photos(tmp_path / "in", "car-1.jpg")
    out = tmp_path / "out"
    out.mkdir()
    stale = [out / ".car-1.png.x7y8z9a0.part", out / ".car-7.png.a1b2c3d4.part"]
    for path, age in zip(stale, (2 * 3600, 20), strict=True):  # long ago; a kill -9 just now
        path.write_bytes(b"half a png")
        os.utime(path, (time.time() - age, time.time() - age))
    with corpus.live_writer(out / ".car-9.png.b1c2d3e4.part") as live:  # another process writing
        result = run_cli(photo, "-o", out)
        assert live.exists()
    assert result.returncode == 0, result.stderr
    assert not any(path.exists() for path in stale)
    for path in stale:
        assert f"removed {path}" in result.stderr


@pytest.mark.parametrize("value", ["abc", "1.5", "", "two"])
@pytest.mark.parametrize("option", ["--workers", "--memory-budget-mb", "--max-file-mb"])
def test_a_non_number_says_so(tmp_path, option, value):
    [photo] = corpus.copy_photos(tmp_path / "in", "car-1.jpg")
    result = run_cli(photo, "-o", tmp_path / "out", option, value)
    assert result.returncode == 2
    assert f"argument {option}: {value!r} is not a whole number" in result.stderr
    assert "_positive_int" not in result.stderr


def test_too_many_workers_are_capped_and_it_says_so(tmp_path):
    [photo] = corpus.copy_photos(tmp_path / "in", "car-1.jpg")
    result = run_cli(
        photo, "-o", tmp_path / "out", "--workers", "1000", "--memory-budget-mb", "900"
    )
    assert result.returncode == 0, result.stderr
    assert "note: 1000 workers asked for, 4 used: the memory budget of 900 MB" in result.stderr
    assert "4 workers" in result.stdout


@pytest.mark.parametrize("budget", ["1", "64", "300"])
def test_a_memory_budget_below_the_model_is_a_usage_error(tmp_path, budget):
    [photo] = corpus.copy_photos(tmp_path / "in", "car-1.jpg")
    result = run_cli(photo, "-o", tmp_path / "out", "--memory-budget-mb", budget)
    assert result.returncode == 2
    assert f"A memory budget of {budget} MB is too small" in result.stderr
    assert "Allow at least 320 MB" in result.stderr
    assert not (tmp_path / "out").exists()


def test_a_full_disk_stops_the_batch_early(tmp_path):
    corpus.copy_photos(tmp_path / "in", *(f"{i}/car-2.jpg" for i in range(6)))
    with small_disk(tmp_path / "small", "size=64k") as disk:
        result = run_cli(tmp_path / "in", "-o", disk / "out", "--workers", "1")
        files = [p for p in corpus.written_files(disk) if p.name != RECORD_NAME]
        assert corpus.leftovers(disk) == []
    assert result.returncode == 1
    assert "Stopped early: The disk holding" in result.stdout and "is full" in result.stdout
    assert result.stdout.count("Not started: The disk holding") >= 4
    assert len(files) <= 1


@pytest.mark.parametrize("folder", ["car-1.png", "CAR-1.PNG"])
def test_a_photo_named_like_a_subfolder_and_the_subfolder_both_get_cut_outs(tmp_path, folder):
    """``car-1.jpg`` beside a folder ``car-1.png/``: the photo's first-choice output is the folder's
    mirrored name (it failed with 'File exists', or the folder's photos did)."""
    shop = tmp_path / "shop"
    corpus.copy_photos(shop, "car-1.jpg", f"{folder}/girl-1.jpg")
    result = run_cli(shop, "-o", tmp_path / "out", "--json")
    assert result.returncode == 0, result.stdout
    processed = report(result)["processed"]
    assert len(processed) == 2 and report(result)["failed"] == []
    for item in processed:
        assert os.path.isfile(item["output"])


def test_a_photo_whose_name_is_not_utf8_is_processed_and_printed(tmp_path):
    """A Latin-1 name from an old archive, on a strict UTF-8 terminal: the record write failed
    ('Unexpected error'), then printing the summary crashed halfway."""
    folder = tmp_path / "in"
    [photo] = corpus.copy_photos(folder, "car-1.jpg")
    photo.rename(folder / os.fsdecode(b"caf\xe9.jpg"))
    (folder / os.fsdecode(b"n\xf6tes.txt")).write_text("not a photo")
    env = {**os.environ, "PYTHONIOENCODING": "utf-8:strict"}
    command = [sys.executable, "-m", "fibuca_desktop", "process", "in", "-o", "out"]
    for expected in ("1 processed, 1 skipped, 0 failed", "0 processed, 2 skipped, 0 failed"):
        result = subprocess.run(command, cwd=tmp_path, env=env, capture_output=True, timeout=600)
        assert result.returncode == 0, result.stderr.decode(errors="replace")
        assert result.stdout.decode().startswith(expected)  # the second run: its own output
        assert b"n\\udcf6tes.txt: not an image" in result.stdout  # printed, with an escape
        assert b"Traceback" not in result.stderr and b"nexpected" not in result.stdout
    assert [p.name for p in corpus.written_files(tmp_path / "out")] == [os.fsdecode(b"caf\xe9.png")]


def test_photos_with_names_near_the_255_byte_limit_are_processed(tmp_path):
    """The hidden temporary name adds 15 bytes, a clash '-jpeg': both went over 255 bytes."""
    folder = tmp_path / "in"
    names = ["a" * 240 + ".jpg", "商品" * 41 + ".jpg", "b" * 250 + ".jpeg"]
    for name, source in zip(names, ("car-1.jpg", "car-2.jpg", "car-3.jpg"), strict=True):
        [photo] = corpus.copy_photos(folder, source)
        photo.rename(folder / name)
    corpus.copy_photos(tmp_path, "girl-1.jpg")[0].rename(folder / ("b" * 250 + ".tif"))  # a clash
    result = run_cli(folder, "-o", tmp_path / "out", "--json")
    assert result.returncode == 0, result.stdout
    assert len(report(result)["processed"]) == 4 and report(result)["failed"] == []
    for item in report(result)["processed"]:
        with Image.open(item["output"]) as image:
            assert image.format == "PNG"


def test_a_read_only_output_disk_is_a_usage_error_before_the_model_loads(tmp_path):
    corpus.copy_photos(tmp_path / "in", "car-1.jpg", "car-2.jpg")
    with small_disk(tmp_path / "cd", "ro") as disk:
        result = run_cli(tmp_path / "in", "-o", disk / "out")
    assert result.returncode == 2 and "is on a read-only disk" in result.stderr
    assert "Traceback" not in result.stderr and result.stdout == ""
