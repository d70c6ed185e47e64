"""BatchPlan owns every output name of a queue: across adds, on disk, across preset changes.

Issue 10 items 1 (same names overwrite each other), 3 (extension follows the preset), 5 (never
into the photo folder, never our own outputs) and 11 (symlinked and hidden folders).
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from fibuca_desktop.core.errors import UsageError
from fibuca_desktop.core.imaging.batch import BatchPlan, default_output_folder, plan_batch
from fibuca_desktop.core.imaging.folder_walk import (
    HIDDEN,
    LEGACY_OUTPUT,
    OUTPUT_FOLDER,
    TEMPORARY,
)
from fibuca_desktop.core.imaging.output_records import name_key, record_output
from tests.small_disk import small_disk


def touch(path: Path) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(b"x")
    return path


def names(jobs) -> list[str]:
    return [job.output.name for job in jobs]


CLASHES = [  # two photos, added one at a time, whose first-choice output names are the same
    ("shoes/item.jpg", "bags/item.jpg"),
    ("shoes/item.jpg", "bags/ITEM.JPG"),
    ("shoes/Item.png", "bags/item.webp"),
    ("shoes/item.jpg", "bags/item.jpeg"),
    ("a/photo 1.tiff", "b/Photo 1.TIF"),
    ("a/über.jpg", "b/ÜBER.jpg"),
    ("a/caf\u00e9.jpg", "b/cafe\u0301.jpg"),  # NFC and NFD: one name on macOS disks
]


@pytest.mark.parametrize(("first", "second"), CLASHES)
def test_photos_added_separately_never_share_an_output(tmp_path, first, second):
    out = tmp_path / "out"
    plan = BatchPlan(".png")
    one = plan.add([touch(tmp_path / first)], out).jobs
    two = plan.add([touch(tmp_path / second)], out).jobs
    assert len(one) == len(two) == 1
    assert one[0].output.name.casefold() != two[0].output.name.casefold()
    assert one[0].output.parent == two[0].output.parent == out


@pytest.mark.parametrize(("first", "second"), CLASHES)
def test_files_already_on_disk_from_another_photo_are_never_reused(tmp_path, first, second):
    """A second run (CLI or GUI) into the same folder: the first run's cut-out stays."""
    out = tmp_path / "out"
    [earlier] = plan_batch([touch(tmp_path / first)], out, ".png").jobs
    touch(earlier.output)  # written by the first run, with its record
    record_output(earlier.output, earlier.input)
    [later] = plan_batch([touch(tmp_path / second)], out, ".png").jobs
    assert later.output.name.casefold() != earlier.output.name.casefold()


@pytest.mark.parametrize("existing", ["item.png", "ITEM.PNG", "Item.png"])
def test_a_file_we_did_not_make_is_never_planned_over(tmp_path, existing):
    touch(tmp_path / "out" / existing)  # the user's own file in the output folder
    [job] = plan_batch([touch(tmp_path / "in" / "item.jpg")], tmp_path / "out", ".png").jobs
    assert job.output.name == "item-jpg.png"


def test_the_same_photo_again_gets_its_own_earlier_output(tmp_path):
    """Re-running a folder is a skip (or a replace with overwrite), not a second copy."""
    photo = touch(tmp_path / "in" / "item.jpg")
    [first] = plan_batch([photo], tmp_path / "out", ".png").jobs
    touch(first.output)
    record_output(first.output, photo)
    [again] = plan_batch([photo], tmp_path / "out", ".png").jobs
    assert again == first


def test_adding_the_same_photo_twice_to_a_queue_queues_it_once(tmp_path):
    photo = touch(tmp_path / "in" / "a.jpg")
    plan = BatchPlan(".png")
    assert len(plan.add([photo], tmp_path / "out").jobs) == 1
    assert plan.add([tmp_path / "in"], tmp_path / "out").jobs == []
    assert len(plan.jobs) == 1


@pytest.mark.parametrize(
    ("before", "after"), [(".png", ".jpg"), (".jpg", ".webp"), (".webp", ".png")]
)
def test_a_preset_change_replans_queued_jobs_with_its_extension(tmp_path, before, after):
    plan = BatchPlan(before)
    jobs = plan.add(
        [touch(tmp_path / "in" / "car-2.jpg"), touch(tmp_path / "x" / "car-2.png")],
        tmp_path / "out",
    ).jobs
    changed = plan.retarget(jobs, after)
    assert set(changed) == set(jobs)
    assert all(job.output.suffix == after for job in plan.jobs)
    assert len({job.output.name for job in plan.jobs}) == 2
    new = plan.add([touch(tmp_path / "y" / "car-2.gif")], tmp_path / "out").jobs
    assert new[0].output.suffix == after  # later adds use the new extension too


def test_run_again_plans_unique_names_in_the_sibling_folder(tmp_path):
    plan = BatchPlan(".png")
    touch(tmp_path / "in" / "a.jpg")
    touch(tmp_path / "in" / "sub" / "b.jpg")
    jobs = plan.add([tmp_path / "in"], tmp_path / "shoot-cutouts").jobs
    plan.retarget([], ".jpg")
    again = plan.again_into_siblings(jobs, "web")
    web = tmp_path / "shoot-cutouts-web"
    assert [job.output for job in again] == [web / "a.jpg", web / "sub" / "b.jpg"]
    assert plan.again_into_siblings(jobs + again, "web") == []  # Run again twice: once each


def test_run_again_after_run_again_plans_each_photo_once_beside_the_first_folder(tmp_path):
    """Finished photos include the first Run again's results: a second Run again with another
    preset runs each photo once, into 'shoot-cutouts-square' (not also '...-web-square')."""
    plan = BatchPlan(".png")
    touch(tmp_path / "in" / "a.jpg")
    touch(tmp_path / "in" / "sub" / "b.jpg")
    jobs = plan.add([tmp_path / "in"], tmp_path / "shoot-cutouts").jobs
    plan.retarget([], ".jpg")
    web = plan.again_into_siblings(jobs, "web")
    square = plan.again_into_siblings(jobs + web, "square")
    root = tmp_path / "shoot-cutouts-square"
    assert [job.output for job in square] == [root / "a.jpg", root / "sub" / "b.jpg"]
    assert plan.again_into_siblings(web + jobs + square, "square") == []
    retargeted = plan.retarget(square, ".png")  # a preset change keeps where they belong
    again = plan.again_into_siblings(list(retargeted.values()), "web")
    assert again == []  # the web copies of these photos are in this queue already


@pytest.mark.parametrize("kind", ["file", "folder"])
def test_the_default_output_is_beside_the_photo_folder_never_inside(tmp_path, kind):
    photo = touch(tmp_path / "shoes" / "item.jpg")
    given = photo if kind == "file" else photo.parent
    out = default_output_folder(given)
    assert out == tmp_path / "shoes-cutouts"
    assert photo.parent.resolve() not in (out.resolve(), *out.resolve().parents)
    plan = BatchPlan(".png")
    plan.add([photo], out)
    assert len(plan.add([photo.parent], out).ignored) == 0  # adding the photo folder later works


def test_our_outputs_are_never_processed_as_photos(tmp_path):
    """A later run over a folder that holds earlier cut-outs (any extension) skips them."""
    photos = tmp_path / "photos"
    photo = touch(photos / "shoes" / "item.jpg")
    out = photos / "old-results"  # e.g. made by an earlier version's default
    for name in ("item.png", "item.jpg", "mask.webp"):
        touch(out / name)
        record_output(out / name, photo)
    touch(out / ".item.png.a1b2c3d4.part")
    plan = plan_batch([photos], tmp_path / "new", ".png")
    assert [job.input for job in plan.jobs] == [photo]
    reasons = {i.input.name: i.reason for i in plan.ignored}
    assert "3 cut-outs made by Fibuca" in reasons["old-results"]
    assert reasons[".item.png.a1b2c3d4.part"] == TEMPORARY


@pytest.mark.parametrize("name", ["cutouts", "Cutouts", "shoes-cutouts"])
def test_output_folders_of_earlier_versions_inside_an_input_are_listed_not_walked(tmp_path, name):
    """Before records, the window wrote into ``<photo folder>/cutouts``; a later run over the
    photo folder must not process those cut-outs. Given on its own, such a folder is walked."""
    photos = tmp_path / "photos"
    photo = touch(photos / "item.jpg")
    touch(photos / name / "item.png")
    plan = plan_batch([photos], tmp_path / "out", ".png")
    assert [job.input for job in plan.jobs] == [photo]
    assert [(i.input, i.reason) for i in plan.ignored] == [(photos / name, LEGACY_OUTPUT)]
    assert len(plan_batch([photos / name], tmp_path / "out2", ".png").jobs) == 1


def test_adding_the_output_folder_itself_lists_it_and_adds_nothing(tmp_path):
    out = tmp_path / "out"
    touch(out / "old.png")
    record_output(out / "old.png", tmp_path / "old.jpg")
    plan = plan_batch([out], out, ".png")
    assert plan.jobs == []
    assert [(i.input, i.reason) for i in plan.ignored] == [(out, OUTPUT_FOLDER)]


def test_symlinked_folders_are_followed_once_and_loops_are_listed(tmp_path):
    real = tmp_path / "real"
    touch(real / "a.jpg")
    touch(tmp_path / "elsewhere" / "b.jpg")
    shop = tmp_path / "shop"
    shop.mkdir()
    os.symlink(real, shop / "linked")
    os.symlink(tmp_path / "elsewhere", shop / "other")
    os.symlink(shop, shop / "other" / "back")  # a loop through the link
    plan = plan_batch([shop], tmp_path / "out", ".png")
    assert sorted(str(j.output.relative_to(tmp_path / "out")) for j in plan.jobs) == [
        "linked/a.png",
        "other/b.png",
    ]
    [loop] = plan.ignored
    assert loop.input == shop / "other" / "back" and "already included" in loop.reason


def test_a_symlink_as_the_input_folder_is_walked(tmp_path):
    touch(tmp_path / "real" / "x" / "a.jpg")
    os.symlink(tmp_path / "real", tmp_path / "link")
    plan = plan_batch([tmp_path / "link"], tmp_path / "out", ".png")
    assert names(plan.jobs) == ["a.png"]


@pytest.mark.parametrize("layout", [[".hidden/a.jpg"], [".a.jpg"], [".x/.y/a.jpg", ".b.png"], []])
def test_nothing_is_left_out_silently(tmp_path, layout):
    folder = tmp_path / "in"
    folder.mkdir()
    for name in layout:
        touch(folder / name)
    plan = plan_batch([folder], tmp_path / "out", ".png")
    assert plan.jobs == [] and plan.ignored  # never "0 processed, 0 skipped"
    if layout:
        assert {i.reason for i in plan.ignored} == {HIDDEN}
    else:
        assert plan.ignored[0].reason == "no files in this folder"


def test_a_hidden_file_given_on_its_own_is_processed(tmp_path):
    plan = plan_batch([touch(tmp_path / "in" / ".secret.jpg")], tmp_path / "out", ".png")
    assert names(plan.jobs) == [".secret.png"]


def test_an_output_folder_given_through_a_link_is_the_same_folder(tmp_path):
    (tmp_path / "out").mkdir()
    os.symlink(tmp_path / "out", tmp_path / "alias")
    plan = BatchPlan(".png")
    [one] = plan.add([touch(tmp_path / "a" / "item.jpg")], tmp_path / "out").jobs
    [two] = plan.add([touch(tmp_path / "b" / "item.jpg")], tmp_path / "alias").jobs
    assert (one.output.name, two.output.name) == ("item.png", "item-jpg.png")


@pytest.mark.parametrize(
    "links",
    [{"b.jpg": "b.jpg"}, {"b.jpg": "c.jpg", "c.jpg": "b.jpg"}, {"b.jpg": "sub/../b.jpg"}],
    ids=["to itself", "to each other", "through a folder"],
)
def test_a_loop_of_file_links_is_listed_as_a_loop(tmp_path, links):
    touch(tmp_path / "in" / "a.jpg")
    (tmp_path / "in" / "sub").mkdir()
    for name, target in links.items():
        os.symlink(target, tmp_path / "in" / name)
    plan = plan_batch([tmp_path / "in"], tmp_path / "out", ".png")
    assert names(plan.jobs) == ["a.png"]
    reasons = {item.input.name: item.reason for item in plan.ignored}
    assert set(reasons) == set(links)
    assert all("loops back on itself" in reason for reason in reasons.values())
    with pytest.raises(UsageError, match="loops back on itself"):  # given on its own
        plan_batch([tmp_path / "in" / "b.jpg"], tmp_path / "out", ".png")


def test_a_broken_link_is_listed(tmp_path):
    touch(tmp_path / "in" / "a.jpg")
    os.symlink(tmp_path / "gone.jpg", tmp_path / "in" / "b.jpg")
    plan = plan_batch([tmp_path / "in"], tmp_path / "out", ".png")
    assert names(plan.jobs) == ["a.png"]
    [broken] = plan.ignored
    assert broken.input.name == "b.jpg" and "broken link" in broken.reason


@pytest.mark.parametrize(
    ("before", "after"), [(".png", ".jpg"), (".jpg", ".webp"), (".webp", ".png")]
)
def test_a_job_left_out_of_a_preset_change_takes_the_extension_when_queued_again(
    tmp_path, before, after
):
    """Retry failed after a preset change: the failed job was not queued at the change, so it
    is re-planned when retried, although the plan's extension is already the new one."""
    plan = BatchPlan(before)
    [failed] = plan.add([touch(tmp_path / "in" / "bad.jpg")], tmp_path / "out").jobs
    [queued] = plan.add([touch(tmp_path / "in2" / "ok.jpg")], tmp_path / "out").jobs
    assert plan.retarget([queued], after)  # the change: only the queued job is re-planned
    changed = plan.retarget([failed], after)  # Retry failed: the same extension, an old job
    assert set(changed) == {failed}
    assert changed[failed].output.suffix == after
    assert {job.output.suffix for job in plan.jobs} == {after}
    assert plan.retarget(plan.jobs, after) == {}  # jobs that already fit are left alone


FOLDER_AND_FILE = [  # a photo whose output name is the name of a mirrored folder
    ("a.jpg", "a.png/x.jpg"),
    ("a.jpg", "A.PNG/x.jpg"),
    ("deep/a.jpg", "deep/a.png/more/x.jpg"),
    ("caf\u00e9.jpg", "cafe\u0301.png/x.jpg"),
]


@pytest.mark.parametrize(("file", "inside"), FOLDER_AND_FILE)
def test_a_file_output_never_takes_the_name_of_a_mirrored_folder(tmp_path, file, inside):
    touch(tmp_path / "in" / file)
    touch(tmp_path / "in" / inside)
    out = tmp_path / "out"
    jobs = plan_batch([tmp_path / "in"], out, ".png").jobs
    files = {_fold(job.output) for job in jobs}
    folders = {_fold(parent) for job in jobs for parent in job.output.parents}
    assert len(files) == 2 and not files & folders


@pytest.mark.parametrize("order", ["file first", "folder first"])
@pytest.mark.parametrize(("file", "inside"), FOLDER_AND_FILE)
def test_a_folder_and_a_file_of_the_same_name_in_separate_adds_both_fit(
    tmp_path, order, file, inside
):
    """The GUI adds one at a time: a folder whose name a queued file holds is mirrored under
    another name (and a file yields to a queued folder), never one over the other."""
    out = tmp_path / "out"
    touch(tmp_path / "one" / file)
    touch(tmp_path / "two" / inside)
    photo, folder = [tmp_path / "one"], [tmp_path / "two"]
    plan = BatchPlan(".png")
    for paths in (photo, folder) if order == "file first" else (folder, photo):
        plan.add(paths, out)
    files = {_fold(job.output) for job in plan.jobs}
    folders = {_fold(parent) for job in plan.jobs for parent in job.output.parents}
    assert len(files) == 2 and not files & folders


@pytest.mark.parametrize(("file", "inside"), FOLDER_AND_FILE)
def test_a_folder_is_never_mirrored_over_a_file_of_an_earlier_run(tmp_path, file, inside):
    out = tmp_path / "out"
    touch(tmp_path / "one" / file)
    [made] = plan_batch([tmp_path / "one"], out, ".png").jobs
    touch(made.output)  # the earlier run's cut-out, with its record
    record_output(made.output, made.input)
    touch(tmp_path / "two" / inside)
    [later] = plan_batch([tmp_path / "two"], out, ".png").jobs
    assert _fold(made.output) not in {_fold(parent) for parent in later.output.parents}
    again = plan_batch([tmp_path / "two"], out, ".png").jobs
    assert again == [later]  # the same plan each run: its own output is found again


def _fold(path: Path) -> str:
    return name_key(str(path))


LONG_NAMES = ["a" * 240 + ".jpg", "商品" * 41 + ".jpg", "b" * 250 + ".jpeg", "c" * 251 + ".tif"]


@pytest.mark.parametrize("name", LONG_NAMES, ids=["240 ASCII", "246 bytes CJK", "255", "255 tif"])
def test_every_planned_name_fits_in_a_file_name(tmp_path, name):
    """A 250-byte photo name plus '-jpeg.png' is over the 255 bytes a name may have: such a
    photo failed with 'File name too long' after its model run, every time."""
    photo = touch(tmp_path / "in" / name)
    other = touch(tmp_path / "elsewhere" / name)  # the same long name: the second candidate
    twin = touch(tmp_path / "more" / (name[:-6] + "X" + name[-5:]))  # differs past the cut
    plan = BatchPlan(".png")
    for path in (photo, other, twin):
        plan.add([path], tmp_path / "out")
    outputs = [job.output.name for job in plan.jobs]
    assert all(len(os.fsencode(output)) <= 255 for output in outputs)
    assert len({name_key(output) for output in outputs}) == 3
    assert all(output.endswith(".png") for output in outputs)
    again = plan.again_into_siblings(plan.jobs, "web")
    assert all(len(os.fsencode(job.output.parent.name)) <= 255 for job in again)


@pytest.mark.parametrize("below", ["", "new", "new/deeper"], ids=["itself", "a new folder", "two"])
def test_an_output_folder_on_a_read_only_disk_is_refused_before_any_photo_runs(tmp_path, below):
    """Not one 'Read-only file system' per photo after its model run: the plan says so."""
    photo = touch(tmp_path / "in" / "car.jpg")
    refused = pytest.raises(UsageError, match=r"cd is on a read-only disk; choose an output")
    with small_disk(tmp_path / "cd", "ro") as disk, refused:
        plan_batch([photo], disk / below, ".png")
