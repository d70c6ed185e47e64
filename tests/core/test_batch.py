"""Output planning: mirrored folders, unique names, never beside the originals."""

from __future__ import annotations

from pathlib import Path

import pytest

from fibuca_desktop.core.errors import UsageError
from fibuca_desktop.core.imaging.batch import plan_batch
from fibuca_desktop.core.imaging.folder_walk import HIDDEN


def touch(path: Path) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(b"x")
    return path


def outputs(plan, root: Path) -> dict[str, str]:
    return {str(j.input.relative_to(root)): str(j.output.relative_to(root)) for j in plan.jobs}


def test_folders_are_mirrored_recursively(tmp_path):
    for name in ("shop/a.jpg", "shop/shoes/b.JPG", "shop/shoes/red/c.webp", "loose.png"):
        touch(tmp_path / name)
    plan = plan_batch([tmp_path / "shop", tmp_path / "loose.png"], tmp_path / "out", ".png")
    assert outputs(plan, tmp_path) == {
        "shop/a.jpg": "out/a.png",
        "shop/shoes/b.JPG": "out/shoes/b.png",
        "shop/shoes/red/c.webp": "out/shoes/red/c.png",
        "loose.png": "out/loose.png",
    }
    assert all(job.input.is_absolute() and job.output.is_absolute() for job in plan.jobs)


def test_two_inputs_never_share_an_output(tmp_path):
    for name in ("p/a.jpg", "p/a.png", "p/A.webp", "q/a.jpg", "p/a-jpg.png"):
        touch(tmp_path / name)
    plan = plan_batch([tmp_path / "p", tmp_path / "q"], tmp_path / "out", ".png")
    names = outputs(plan, tmp_path)
    assert len({n.casefold() for n in names.values()}) == 5  # unique on case-insensitive disks
    assert names == {
        "p/A.webp": "out/A.png",  # the first (sorted) keeps the plain name
        "p/a-jpg.png": "out/a-jpg.png",
        "p/a.jpg": "out/a-2.png",  # "a-jpg.png" is taken by a real input
        "p/a.png": "out/a-png.png",
        "q/a.jpg": "out/a-3.png",
    }


def test_the_same_file_twice_is_one_job(tmp_path):
    photo = touch(tmp_path / "in" / "a.jpg")
    plan = plan_batch([tmp_path / "in", photo], tmp_path / "out", ".png")
    assert [job.input for job in plan.jobs] == [photo]


def test_non_images_and_hidden_files_are_listed_with_their_reason(tmp_path):
    touch(tmp_path / "in" / "a.jpg")
    touch(tmp_path / "in" / "notes.txt")
    touch(tmp_path / "in" / ".DS_Store")
    touch(tmp_path / "in" / ".thumbs" / "b.jpg")
    plan = plan_batch([tmp_path / "in"], tmp_path / "out", ".png")
    assert [job.input.name for job in plan.jobs] == ["a.jpg"]
    assert [(i.input.name, i.reason) for i in plan.ignored] == [
        (".thumbs", HIDDEN),
        (".DS_Store", HIDDEN),
        ("notes.txt", "not an image file type (.txt)"),
    ]


@pytest.mark.parametrize("out", ["in", "in/results", "in/sub"])
def test_output_inside_an_input_folder_is_refused(tmp_path, out):
    touch(tmp_path / "in" / "sub" / "a.jpg")
    with pytest.raises(UsageError, match="inside the input folder"):
        plan_batch([tmp_path / "in"], tmp_path / out, ".png")


def test_output_next_to_an_original_is_refused(tmp_path):
    photo = touch(tmp_path / "a.jpg")
    with pytest.raises(UsageError, match="next to the originals"):
        plan_batch([photo], tmp_path, ".png")


def test_missing_input_is_a_usage_error(tmp_path):
    with pytest.raises(UsageError, match="does not exist"):
        plan_batch([tmp_path / "nope.jpg"], tmp_path / "out", ".png")
