"""``fibuca-desktop process`` end to end: a real subprocess, the real u2netp model, real files.

Exit status 0 when nothing failed, 1 when something failed, 2 on usage errors; ``--json`` prints
exactly one JSON object; progress goes to stderr; originals are never touched.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from tests import corpus

REPORT_KEYS = {"processed", "skipped", "failed", "seconds", "peak_rss_mb"}
PROCESSED_KEYS = {"input", "output", "width", "height", "ms", "mask", "review"}
# Root ignores file permissions through these two capabilities; without them a root process is
# refused a read-only folder as any user is. (Running as ``nobody`` is not possible here: the
# interpreter lives under /root, which only root may enter.)
_NO_OVERRIDE = ["setpriv", "--bounding-set", "-dac_override,-dac_read_search", "--"]


def _can_lock_a_folder() -> bool:
    """Whether this process can be refused a read-only folder (as root, only through setpriv)."""
    if os.geteuid() != 0:
        return True
    if shutil.which("setpriv") is None:
        return False
    return subprocess.run([*_NO_OVERRIDE, "true"], capture_output=True).returncode == 0


def run_cli(*args, cwd: Path | None = None, as_ordinary_user: bool = False):
    command = [sys.executable, "-m", "fibuca_desktop", "process", *map(str, args)]
    if as_ordinary_user and os.geteuid() == 0:
        command = [*_NO_OVERRIDE, *command]
    return subprocess.run(command, cwd=cwd, capture_output=True, text=True, timeout=600)


def report_of(result) -> dict:
    """stdout must be exactly one JSON object with the documented keys."""
    report = json.loads(result.stdout)  # raises on anything before or after the object
    assert isinstance(report, dict)
    assert set(report) - {"preflight"} == REPORT_KEYS  # preflight: with --profile
    assert isinstance(report["seconds"], float) and report["seconds"] > 0
    assert isinstance(report["peak_rss_mb"], float) and report["peak_rss_mb"] > 0
    for item in report["processed"]:
        assert PROCESSED_KEYS <= set(item) <= PROCESSED_KEYS | {"notes", "preflight"}
        assert Path(item["input"]).is_absolute() and Path(item["output"]).is_absolute()
        assert item["ms"] > 0
        assert item["mask"] in {"model", "stored", "edited"}
        assert isinstance(item["review"], list)
        assert all(isinstance(reason, str) and reason for reason in item["review"])
    for item in report["skipped"]:
        assert set(item) == {"input", "output", "reason"}
        assert Path(item["input"]).is_absolute()
    for item in report["failed"]:
        assert set(item) == {"input", "error"}
        assert Path(item["input"]).is_absolute()
    return report


def files_under(folder: Path) -> list[Path]:
    return corpus.written_files(folder)


def test_corpus_of_bad_inputs(tmp_path):
    """Every awkward file processed right or failed clearly, on two workers, nothing else harmed."""
    source = tmp_path / "in"
    entries = corpus.build_corpus(source)
    before = corpus.hash_tree(source)

    # Relative paths on the command line; the report must still give absolute ones.
    result = run_cli("in", "-o", "out", "--workers", "2", "--json", cwd=tmp_path)

    assert result.returncode == 1, result.stderr
    report = report_of(result)
    out = tmp_path / "out"
    processed = {Path(i["input"]).relative_to(source).as_posix(): i for i in report["processed"]}
    failed = {Path(i["input"]).relative_to(source).as_posix(): i for i in report["failed"]}
    assert sorted(processed) == sorted(e.name for e in entries if not e.fails)
    assert sorted(failed) == sorted(e.name for e in entries if e.fails)
    assert report["skipped"] == [
        {
            "input": str(source / "readme.txt"),
            "output": None,
            "reason": "not an image file type (.txt)",
        }
    ]

    for entry in entries:
        if entry.fails:
            error = failed[entry.name]["error"]
            assert Path(entry.name).name in error, error
            assert all(word in error.lower() for word in entry.error), (entry.name, error)
            continue
        item = processed[entry.name]
        assert item["output"] == str(out / Path(entry.name).with_suffix(".png"))  # mirrored
        assert (item["width"], item["height"]) == entry.size
        if entry.note:
            assert any(entry.note in note for note in item["notes"]), item
        corpus.check_output(entry, Path(item["output"]))

    assert files_under(out) == sorted(Path(i["output"]) for i in report["processed"])
    assert corpus.leftovers(out) == []
    assert corpus.hash_tree(source) == before  # originals byte-identical, nothing added beside
    total = len(entries)
    assert f"] {total}/{total}" in result.stderr  # the progress bar, on stderr
    assert "failed bomb.png" in result.stderr


def test_a_file_over_the_size_limit_fails_alone(tmp_path):
    source = tmp_path / "in"
    corpus.copy_photos(source, "car-1.jpg")
    (source / "scan.png").write_bytes(corpus.noise_png(int(1.2 * 1024 * 1024)))

    result = run_cli(source, "-o", tmp_path / "out", "--max-file-mb", "1", "--json")

    assert result.returncode == 1, result.stderr
    report = report_of(result)
    assert [Path(i["input"]).name for i in report["processed"]] == ["car-1.jpg"]
    [failure] = report["failed"]
    assert failure["input"] == str(source / "scan.png")
    assert "scan.png" in failure["error"] and "over the 1 MB limit" in failure["error"]
    assert files_under(tmp_path / "out") == [tmp_path / "out/car-1.png"]


def test_folders_are_mirrored_and_success_exits_0(tmp_path):
    source = tmp_path / "shoot"
    corpus.copy_photos(source, "car-1.jpg", "day-2/girl-1.jpg", "day-2/studio/car-3.jpg")
    (single,) = corpus.copy_photos(tmp_path / "extra", "animal-2.jpg")

    result = run_cli(source, single, "-o", tmp_path / "out")

    assert result.returncode == 0, result.stderr
    assert result.stdout.startswith("4 processed, 0 skipped, 0 failed in ")
    assert "] 4/4" in result.stderr
    out = tmp_path / "out"
    assert files_under(out) == [
        out / "animal-2.png",
        out / "car-1.png",
        out / "day-2/girl-1.png",
        out / "day-2/studio/car-3.png",
    ]
    for path in files_under(out):
        with Image.open(path) as image:
            image.load()
            assert image.mode == "RGBA" and max(image.size) == corpus.SIDE


def test_existing_outputs_are_skipped_unless_overwrite(tmp_path):
    (photo,) = corpus.copy_photos(tmp_path / "in", "car-1.jpg")
    output = tmp_path / "out" / "car-1.png"
    assert run_cli(photo, "-o", tmp_path / "out").returncode == 0
    output.write_bytes(b"an earlier result")

    again = run_cli(photo, "-o", tmp_path / "out", "--json")

    assert again.returncode == 0, again.stderr
    report = report_of(again)
    assert report["processed"] == [] and report["failed"] == []
    [skip] = report["skipped"]
    assert (skip["input"], skip["output"]) == (str(photo), str(output))
    assert "exists" in skip["reason"]
    assert output.read_bytes() == b"an earlier result"

    replaced = run_cli(photo, "-o", tmp_path / "out", "--overwrite", "--json")

    assert replaced.returncode == 0, replaced.stderr
    assert [i["output"] for i in report_of(replaced)["processed"]] == [str(output)]
    with Image.open(output) as image:
        image.load()
        assert (image.mode, image.size) == ("RGBA", (320, 240))


def test_inputs_with_the_same_name_get_distinct_outputs(tmp_path):
    source = tmp_path / "in"
    source.mkdir()
    (source / "shot.jpg").write_bytes(corpus.encode(corpus.photo("car-1.jpg"), "JPEG"))
    (source / "shot.png").write_bytes(corpus.encode(corpus.photo("girl-1.jpg"), "PNG"))
    (source / "Shot.JPEG").write_bytes(corpus.encode(corpus.photo("animal-2.jpg"), "JPEG"))

    result = run_cli(source, "-o", tmp_path / "out", "--json")

    assert result.returncode == 0, result.stderr
    sizes = {
        Path(i["input"]).name: (Path(i["output"]).name, i["width"], i["height"])
        for i in report_of(result)["processed"]
    }
    assert sizes == {
        "Shot.JPEG": ("Shot.png", 279, 320),
        "shot.jpg": ("shot-jpg.png", 320, 240),
        "shot.png": ("shot-png.png", 320, 213),
    }
    assert len(files_under(tmp_path / "out")) == 3


@pytest.mark.parametrize(
    ("args", "words"),
    [
        (["in", "-o", "in/out"], "inside the input folder"),
        (["in/car-1.jpg", "-o", "in"], "next to the originals"),
        (["in", "-o", "notes.txt/out"], "is a file, not a folder"),
        (["in", "missing.jpg", "-o", "out"], "missing.jpg does not exist"),
        (["in", "-o", "out", "--preset", "web", "--bg", "transparent"], "JPEG cannot store"),
        (["in", "-o", "out", "--workers", "0"], "must be at least 1"),
        (["in", "-o", "out", "--preset", "poster"], "invalid choice"),
    ],
)
def test_usage_errors_exit_2_and_write_nothing(tmp_path, args, words):
    corpus.copy_photos(tmp_path / "in", "car-1.jpg")
    (tmp_path / "notes.txt").write_text("x")
    before = corpus.hash_tree(tmp_path)

    result = run_cli(*args, cwd=tmp_path)

    assert result.returncode == 2, (result.stdout, result.stderr)
    assert words in result.stderr
    assert result.stdout == ""
    assert corpus.hash_tree(tmp_path) == before
    assert not (tmp_path / "out").exists() and not (tmp_path / "in/out").exists()


@pytest.mark.parametrize("output", ["out", "out/new-folder"])
def test_an_unwritable_output_folder_is_refused_before_any_photo_runs(tmp_path, output):
    """Not one 'Permission denied' per photo, each after its model run: a usage error first."""
    if not _can_lock_a_folder():
        pytest.skip("root without a working setpriv: no folder can be made unwritable")
    source = tmp_path / "in"
    corpus.copy_photos(source, "car-1.jpg", "sub/girl-1.jpg")
    before = corpus.hash_tree(source)
    locked = tmp_path / "out"
    locked.mkdir(mode=0o555)

    try:
        result = run_cli(source, "-o", tmp_path / output, "--json", as_ordinary_user=True)
    finally:
        locked.chmod(0o755)

    assert result.returncode == 2, result.stderr
    assert f"{locked} is not writable for you; choose an output folder" in result.stderr
    assert result.stdout == "" and "Traceback" not in result.stderr
    assert list(locked.rglob("*")) == []
    assert corpus.hash_tree(source) == before


def test_alpha_matting_goes_through_rembg_and_keeps_the_subject(tmp_path):
    """--alpha-matting refines edges with rembg's pymatting; the subject stays where it was.
    It replaces the mask's edge, so --edges makes no difference to it (as --help says)."""
    photo = Path(__file__).parents[1] / "fixtures" / "photos" / "girl-1.jpg"
    outputs = {}
    for name, extra in (
        ("plain", ["--edges", "rembg"]),  # rembg's own mask: what matting starts from
        ("matted", ["--alpha-matting"]),
        ("matted-rembg", ["--alpha-matting", "--edges", "rembg"]),
    ):
        done = subprocess.run(
            [
                sys.executable,
                "-m",
                "fibuca_desktop",
                "process",
                str(photo),
                "-o",
                str(tmp_path / name),
                "--json",
                *extra,
            ],
            capture_output=True,
            text=True,
            timeout=900,
        )
        assert done.returncode == 0, done.stderr[-2000:]
        outputs[name] = np.asarray(Image.open(tmp_path / name / "girl-1.png").getchannel("A"))
    plain, matted = outputs["plain"] >= 128, outputs["matted"] >= 128
    assert plain.shape == matted.shape == (399, 600)
    overlap = np.logical_and(plain, matted).sum() / np.logical_or(plain, matted).sum()
    assert overlap > 0.8
    assert not np.array_equal(outputs["plain"], outputs["matted"])  # matting changed the edges
    assert np.array_equal(outputs["matted"], outputs["matted-rembg"])
