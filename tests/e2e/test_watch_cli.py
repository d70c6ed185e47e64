"""``fibuca-desktop watch`` end to end: a real subprocess, the real u2netp model, real signals.

A photo is printed only after its journal line is on disk, so what a killed run printed is
exactly what a restart must not do again.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

from fibuca_desktop.core.imaging.output_records import UNLOCKED_PART_SECONDS, is_temporary_name
from fibuca_desktop.core.imaging.watch_journal import JOURNAL_NAME, WatchJournal
from tests.conftest import PHOTOS

NAMES = ("cloth-1.jpg", "car-2.jpg", "animal-1.jpg")


def command(*args) -> list[str]:
    return [sys.executable, "-m", "fibuca_desktop", "watch", *map(str, args)]


def start(*args) -> subprocess.Popen:
    return subprocess.Popen(
        command(*args),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env={**os.environ, "PYTHONUNBUFFERED": "1"},
    )


def photo_folder(folder: Path, copies: int) -> list[Path]:
    (folder / "sub").mkdir(parents=True)
    made = []
    for copy in range(copies):
        for index, name in enumerate(NAMES):
            target = folder / ("sub" if index == 2 else "") / f"{copy:02d}-{name}"
            shutil.copy(PHOTOS / name, target)
            made.append(target)
    return made


def test_kill_9_mid_batch_then_restart_finishes_the_rest_and_repeats_nothing(tmp_path):
    watched, out = tmp_path / "in", tmp_path / "out"
    photos = photo_folder(watched, 4)  # 12 photos
    process = start(watched, "-o", out, "--workers", "1", "--json", "--settle", "0.1")
    first = []
    while len(first) < 3:
        line = process.stdout.readline()
        assert line, process.stderr.read()
        first.append(json.loads(line))
    process.kill()  # SIGKILL: no handler, no cleanup
    process.communicate(timeout=60)
    killed_at = time.time()
    assert {item["status"] for item in first} == {"processed"}
    journal = WatchJournal(out)
    assert all(journal.get(Path(item["input"])).status == "done" for item in first)
    mtimes = {item["output"]: Path(item["output"]).stat().st_mtime_ns for item in first}

    # An unlocked temporary file is only taken for abandoned once it is this old (the cleaner's
    # rule for a writer that may just have created it); the restart must then remove any.
    while time.time() - killed_at <= UNLOCKED_PART_SECONDS:
        time.sleep(0.1)
    rest = subprocess.run(
        command(watched, "-o", out, "--workers", "1", "--json", "--once", "--settle", "0.1"),
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert rest.returncode == 0, rest.stderr
    second = [json.loads(line) for line in rest.stdout.splitlines()]
    done_first = {item["input"] for item in first}
    done_second = {item["input"] for item in second}
    assert not done_first & done_second, "a photo journaled as done was done again"
    assert done_first | done_second == {str(p) for p in photos}
    assert {item["status"] for item in second} == {"processed"}
    assert {o: Path(o).stat().st_mtime_ns for o in mtimes} == mtimes
    assert [p for p in out.rglob("*") if is_temporary_name(p.name)] == []
    assert len(WatchJournal(out)) == 12


def test_sigterm_stops_cleanly_and_lines_are_printed_per_photo(tmp_path):
    watched, out = tmp_path / "in", tmp_path / "out"
    watched.mkdir()
    (watched / "bad.jpg").write_text("not a photo")
    process = start(watched, "-o", out, "--workers", "1", "--settle", "0.1")
    assert "watching" in process.stderr.readline()
    shutil.copy(PHOTOS / "car-1.jpg", watched / "later.jpg")  # arrives while watching
    lines = [process.stdout.readline(), process.stdout.readline()]
    process.send_signal(signal.SIGTERM)
    stdout, stderr = process.communicate(timeout=60)
    assert process.returncode == 0, stderr
    assert stdout == ""
    assert sorted(line.split()[0] for line in lines) == ["FAILED", "processed"]
    assert any(f"processed {watched / 'later.jpg'} -> {out / 'later.png'}" in x for x in lines)
    assert (out / "later.png").is_file()
    # Consistent journal: one complete line per photo, each parsed.
    entries = [json.loads(x) for x in (out / JOURNAL_NAME).read_text().splitlines()]
    assert sorted((Path(e["input"]).name, e["status"]) for e in entries) == [
        ("bad.jpg", "failed"),
        ("later.jpg", "done"),
    ]


def test_once_exits_1_when_a_photo_failed_and_usage_errors_exit_2(tmp_path):
    watched = tmp_path / "in"
    watched.mkdir()
    (watched / "bad.jpg").write_text("not a photo")
    result = subprocess.run(
        command(watched, "-o", tmp_path / "out", "--once", "--json"), capture_output=True, text=True
    )
    assert result.returncode == 1, result.stderr
    [item] = [json.loads(line) for line in result.stdout.splitlines()]
    assert item["status"] == "failed" and "not an image" in item["message"]
    missing = subprocess.run(
        command(tmp_path / "nowhere", "-o", tmp_path / "out", "--once"),
        capture_output=True,
        text=True,
    )
    assert missing.returncode == 2 and "not a folder" in missing.stderr


def test_a_watched_folder_exports_to_a_profile_and_checks_every_photo(tmp_path):
    watched = tmp_path / "in"
    watched.mkdir()
    shutil.copy(PHOTOS / "car-1.jpg", watched)
    result = subprocess.run(
        command(watched, "-o", tmp_path / "out", "--once", "--json", "--profile", "ebay"),
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert result.returncode == 0, result.stderr
    [item] = [json.loads(line) for line in result.stdout.splitlines()]
    assert item["status"] == "processed" and (item["width"], item["height"]) == (1600, 1600)
    assert item["preflight"]["profile"] == "ebay" and item["preflight"]["passed"] is True
    same_scale = subprocess.run(
        command(watched, "-o", tmp_path / "o2", "--once", "--profile", "ebay", "--same-scale"),
        capture_output=True,
        text=True,
    )
    assert same_scale.returncode == 2 and "a watched folder never ends" in same_scale.stderr
