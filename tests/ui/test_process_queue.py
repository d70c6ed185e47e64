"""The Process tab's queue through the core's BatchPlan, with real widgets, photos and model.

Issue 10 items 1 (same names across adds), 3 (names follow the preset), 5 (never into the photo
folder), 6 (stale temporary files), 16 (disk full) and 18 (dialogs, progress, full reasons).
"""

from __future__ import annotations

import os
import time
from pathlib import Path

import pytest
from PIL import Image

from fibuca_desktop.core.errors import UsageError
from fibuca_desktop.core.settings import Settings
from fibuca_desktop.ui.process.choosers import PHOTO_FILTER, photo_files_dialog
from fibuca_desktop.ui.process.process_panel import ProcessPanel, ProcessService
from fibuca_desktop.ui.process.queue_model import DONE, FAILED, QUEUED, SKIPPED
from tests import corpus
from tests.small_disk import small_disk

BATCH_TIMEOUT_MS = 120_000
FORMATS = {".png": "PNG", ".jpg": "JPEG", ".webp": "WEBP"}
FORMATS_BACK = {fmt: suffix for suffix, fmt in FORMATS.items()}


@pytest.fixture(scope="module")
def service(u2netp_path, qapp):
    """One service (model sessions, pools) for the module, as the app has one: a session per
    test would hold ~200 MB each until the process ends."""
    service = ProcessService(Settings())
    yield service
    service.shutdown()


@pytest.fixture
def panel(qtbot, service):
    settings = Settings()
    settings.processing.workers = 1
    panel = ProcessPanel(service, settings)
    qtbot.addWidget(panel)
    panel.resize(900, 500)
    panel.show()
    yield panel
    panel.shutdown()


def photo(path: Path, source: str) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(corpus.encode(corpus.photo(source), "JPEG"))
    return path


def run(panel, qtbot) -> None:
    with qtbot.waitSignal(panel.batch_finished, timeout=BATCH_TIMEOUT_MS):
        panel.start()


def outputs(panel) -> dict[str, Path]:
    return {str(item.job.input): item.job.output for item in panel.model.items}


@pytest.mark.parametrize(
    ("first", "second", "replace", "when"),
    [
        ("shoes/item.jpg", "bags/item.jpg", False, "queued"),
        ("shoes/item.jpg", "bags/item.jpg", True, "queued"),
        ("shoes/Item.jpg", "bags/ITEM.JPG", True, "queued"),
        ("shoes/item.jpeg", "bags/item.jpg", False, "queued"),
        ("shoes/item.jpg", "bags/item.jpg", False, "after the first ran"),
        ("shoes/Item.jpg", "bags/ITEM.JPG", True, "after the first ran"),
        ("shoes/item.jpeg", "bags/item.jpg", True, "after the first ran"),
    ],
)
def test_photos_with_the_same_name_added_separately_both_survive(
    panel, qtbot, tmp_path, first, second, replace, when
):
    panel.overwrite_box.setChecked(replace)
    shoe = photo(tmp_path / first, "car-1.jpg")  # 320x240
    bag = photo(tmp_path / second, "girl-1.jpg")  # 320x213
    assert panel.add_paths([shoe]) == 1
    if when != "queued":
        run(panel, qtbot)
        panel.clear_button.click()
    assert panel.add_paths([bag]) == 1
    run(panel, qtbot)
    assert {item.status for item in panel.model.items} == {DONE}
    written = corpus.written_files(panel.output_folder)
    assert len({p.name.casefold() for p in written}) == 2
    sizes = set()
    for path in written:
        with Image.open(path) as image:
            sizes.add(image.size)
    assert sizes == {(320, 240), (320, 213)}  # the shoe's cut-out and the bag's


@pytest.mark.parametrize(
    ("queued_under", "started_under", "suffix"),
    [
        ("transparent", "web", ".jpg"),
        ("web", "transparent", ".png"),
        ("square", "transparent", ".png"),
    ],
)
def test_a_preset_change_replans_the_queue_so_bytes_match_names(
    panel, qtbot, tmp_path, queued_under, started_under, suffix
):
    panel.preset_combo.setCurrentText(queued_under)
    panel.add_paths([photo(tmp_path / "in" / "car-2.jpg", "car-2.jpg")])
    panel.preset_combo.setCurrentText(started_under)
    [item] = panel.model.items
    assert item.job.output.suffix == suffix
    run(panel, qtbot)
    assert item.status == DONE, item.message
    [written] = corpus.written_files(panel.output_folder)
    assert written == item.job.output
    with Image.open(written) as image:
        assert image.format == FORMATS[suffix]


def test_run_again_with_an_unusable_preset_is_a_notice_not_a_crash(
    panel, qtbot, tmp_path, monkeypatch
):
    """The settings helper makes bad option combinations unrepresentable; this is the guard
    for whatever the core still refuses (fault injected: the preset raises UsageError)."""
    panel.add_paths([photo(tmp_path / "in" / "car-1.jpg", "car-1.jpg")])
    run(panel, qtbot)
    processing = panel.settings.processing

    def refuse():
        raise UsageError("JPEG cannot store transparency: use --format png or webp.")

    monkeypatch.setattr(processing, "resolved_preset", refuse)
    assert panel.rerun_with_current_preset() == 0
    assert "cannot be used: JPEG cannot store transparency" in panel.notice.text()
    assert not panel.busy
    panel.preset_combo.setCurrentText("web")  # switching, adding and starting: notices too
    assert panel.add_paths([photo(tmp_path / "in2" / "x.jpg", "car-2.jpg")]) == 0
    panel.start()
    assert not panel.busy and panel.notice.isVisible()


def test_the_default_output_is_beside_the_photo_folder_and_the_folder_can_be_added(
    panel, qtbot, tmp_path
):
    shoes = tmp_path / "shoes"
    photo(shoes / "a.jpg", "car-1.jpg")
    photo(shoes / "b.jpg", "girl-1.jpg")
    assert panel.add_paths([shoes / "a.jpg"]) == 1
    assert panel.output_folder == tmp_path / "shoes-cutouts"
    run(panel, qtbot)
    assert panel.add_paths([shoes]) == 1  # b.jpg; a.jpg is queued already in this folder
    assert "inside" not in panel.notice.text()
    run(panel, qtbot)
    assert sorted(p.name for p in shoes.iterdir()) == ["a.jpg", "b.jpg"]  # nothing written in
    assert panel.add_paths([panel.output_folder]) == 0  # our outputs are never photos
    assert "the output folder" in panel.notice.text()


def test_stale_temporary_files_are_removed_when_a_batch_starts(panel, qtbot, tmp_path):
    out = tmp_path / "in-cutouts"
    out.mkdir()
    stale = out / ".old.png.a1b2c3d4.part"
    stale.write_bytes(b"half")
    os.utime(stale, (time.time() - 60, time.time() - 60))  # a kill -9 a minute ago
    panel.add_paths([photo(tmp_path / "in" / "car-1.jpg", "car-1.jpg")])
    with corpus.live_writer(out / ".new.png.e5f6g7h8.part") as live:  # the CLI writing there now
        run(panel, qtbot)
        assert live.exists()
    assert not stale.exists()


def test_stale_temporary_files_are_removed_where_photos_join_a_running_batch(
    panel, qtbot, tmp_path
):
    for number in range(3):
        photo(tmp_path / "in" / f"{number}.jpg", "car-2.jpg")
    panel.add_paths([tmp_path / "in"])
    other = tmp_path / "other-cutouts"
    other.mkdir()
    stale = other / ".old.png.a1b2c3d4.part"
    stale.write_bytes(b"half")
    os.utime(stale, (time.time() - 60, time.time() - 60))  # a kill -9 a minute ago
    with qtbot.waitSignal(panel.batch_finished, timeout=BATCH_TIMEOUT_MS):
        panel.start()
        panel.output_folder = other
        assert panel.add_paths([photo(tmp_path / "more" / "late.jpg", "car-1.jpg")]) == 1
        assert panel.busy and not stale.exists()
    assert (other / "late.png").is_file() and corpus.leftovers(other) == []


def test_progress_counts_the_whole_queue(panel, qtbot, tmp_path):
    panel.add_paths([photo(tmp_path / "a" / "one.jpg", "car-1.jpg")])
    run(panel, qtbot)
    panel.add_paths([photo(tmp_path / "a" / "two.jpg", "car-2.jpg")])
    panel.add_paths([photo(tmp_path / "a" / "three.jpg", "girl-1.jpg")])
    assert (panel.progress.value(), panel.progress.maximum()) == (1, 3)  # not 100%
    assert panel.progress_label.text() == "2 queued, 1 done"
    seen = []  # the label as each photo starts (connected after the panel's own slot)
    panel.signals.started.connect(lambda _id: seen.append(panel.progress_label.text()))
    run(panel, qtbot)
    assert seen[0].startswith("1 queued, 1 running, 1 done")
    assert seen[1].startswith("1 running, 2 done")
    assert panel.progress_label.text() == "3 done"
    assert panel.progress.value() == panel.progress.maximum() == 3


def test_a_failure_reason_is_shown_in_full(panel, qtbot, tmp_path):
    deep = tmp_path / ("a-long-folder-name-" * 6) / "shop"
    broken = deep / "broken.jpg"
    broken.parent.mkdir(parents=True)
    broken.write_bytes((corpus.encode(corpus.photo("car-2.jpg"), "JPEG"))[:3000])
    panel.add_paths([broken])
    run(panel, qtbot)
    [item] = panel.model.items
    assert item.status == FAILED and len(item.message) > 40
    assert "select one to read why" in panel.notice.text()
    panel.table.selectRow(0)
    assert panel.details.isVisible()
    assert item.message in panel.details.text() and str(broken) in panel.details.text()


def test_add_files_offers_photos_and_opens_where_photos_are(panel, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)  # the program's folder, where a bare dialog would open
    dialog = photo_files_dialog(panel, None)
    assert dialog.nameFilters()[0] == PHOTO_FILTER
    assert dialog.selectedNameFilter() == PHOTO_FILTER
    for pattern in ("*.jpg", "*.JPG", "*.png", "*.webp", "*.tiff", "*.gif"):
        assert pattern in PHOTO_FILTER
    assert Path(dialog.directory().absolutePath()) != tmp_path
    photos = tmp_path / "shoot"
    photos.mkdir()
    assert Path(photo_files_dialog(panel, photos).directory().absolutePath()) == photos


def test_a_full_disk_stops_the_batch_and_says_why(panel, qtbot, tmp_path):
    for number in range(5):
        photo(tmp_path / "in" / f"{number}.jpg", "car-2.jpg")
    with small_disk(tmp_path / "small", "size=64k") as disk:
        panel.output_folder = disk / "out"
        panel.add_paths([tmp_path / "in"])
        run(panel, qtbot)
        assert corpus.leftovers(disk) == []
    assert panel.notice.text().startswith("Stopped early: The disk holding")
    statuses = [(item.status, item.message) for item in panel.model.items]
    not_started = [s for s in statuses if s[1].startswith("Not started")]
    assert len(not_started) >= 3 and {s[0] for s in not_started} == {FAILED}
    assert panel.retry_button.isEnabled()
    assert {s[0] for s in statuses} <= {DONE, FAILED, SKIPPED, QUEUED}


@pytest.mark.parametrize(
    ("failed_under", "retried_under", "fmt"),
    [("transparent", "web", "JPEG"), ("web", "transparent", "PNG"), ("web", "mask", "PNG")],
)
def test_retry_failed_after_a_preset_change_writes_what_the_name_says(
    panel, qtbot, tmp_path, failed_under, retried_under, fmt
):
    """The failed photo was not queued when the preset changed; a later photo's batch ran
    under the new preset; Retry failed must re-plan the failed one too (not 'bytes do not
    match the name')."""
    panel.preset_combo.setCurrentText(failed_under)
    late = tmp_path / "in" / "late.jpg"
    late.parent.mkdir(parents=True)
    late.write_bytes(b"still copying")
    panel.add_paths([late])
    run(panel, qtbot)
    panel.preset_combo.setCurrentText(retried_under)
    panel.add_paths([photo(tmp_path / "in2" / "ok.jpg", "car-1.jpg")])
    run(panel, qtbot)
    photo(late, "girl-1.jpg")  # the copy has finished
    with qtbot.waitSignal(panel.batch_finished, timeout=BATCH_TIMEOUT_MS):
        panel.retry_failed()
    assert [item.status for item in panel.model.items] == [DONE, DONE], [
        item.message for item in panel.model.items
    ]
    for item in panel.model.items:
        with Image.open(item.job.output) as image:
            assert image.format == fmt, item.job.output
        assert item.job.output.suffix == FORMATS_BACK[fmt]


def test_retry_failed_during_a_batch_runs_each_photo_once(panel, qtbot, tmp_path):
    """Photos still queued in a running batch are already submitted: Retry failed adds only
    the failed ones (a second submission ran a photo twice, twice writing with Replace)."""
    broken = tmp_path / "first" / "broken.jpg"
    broken.parent.mkdir(parents=True)
    broken.write_bytes(b"not yet")
    panel.add_paths([broken])
    run(panel, qtbot)
    for number in range(4):
        photo(tmp_path / "in" / f"{number}.jpg", "car-2.jpg")
    panel.add_paths([tmp_path / "in"])
    started: list[int] = []
    panel.signals.started.connect(started.append)
    panel.start()
    assert panel.busy and panel.retry_button.isEnabled()
    panel.retry_failed()
    qtbot.waitUntil(lambda: not panel.busy, timeout=BATCH_TIMEOUT_MS)
    assert sorted(started) == sorted(item.job_id for item in panel.model.items)


def test_run_again_twice_runs_each_photo_once_per_preset(panel, qtbot, tmp_path):
    """Run again's finished photos include the last Run again's results: pressing it again
    (same preset, or another) must not run a photo twice, nor nest '-web-square' folders."""
    panel.add_paths([photo(tmp_path / "shoot" / "car.jpg", "car-1.jpg")])
    run(panel, qtbot)
    panel.preset_combo.setCurrentText("web")
    with qtbot.waitSignal(panel.batch_finished, timeout=BATCH_TIMEOUT_MS):
        assert panel.rerun_with_current_preset() == 1
    assert panel.rerun_with_current_preset() == 0  # the same preset again: nothing to do
    assert "run with the web preset" in panel.notice.text() and not panel.busy
    panel.preset_combo.setCurrentText("square")
    with qtbot.waitSignal(panel.batch_finished, timeout=BATCH_TIMEOUT_MS):
        assert panel.rerun_with_current_preset() == 1
    folders = sorted(p.name for p in tmp_path.iterdir() if p.name != "shoot")
    assert folders == ["shoot-cutouts", "shoot-cutouts-square", "shoot-cutouts-web"]
    assert [len(corpus.written_files(tmp_path / name)) for name in folders] == [1, 1, 1]
    assert [item.status for item in panel.model.items] == [DONE, DONE, DONE]


@pytest.mark.parametrize("word", ["_", "-", "é"], ids=["underscores", "hyphens", "accents"])
def test_long_paths_never_widen_the_window(panel, qtbot, tmp_path, word):
    """A 400-character folder name (output label, failure details, 'Not added' notice) made
    the tab wider than the screen: the window could not fit an 800-pixel screen any more."""
    deep = tmp_path.joinpath(*[f"shop{word}photos{word}" * 12] * 3)
    broken = deep / f"broken{word}upload{word}{'x' * 80}.jpg"
    broken.parent.mkdir(parents=True)
    broken.write_bytes(b"\xff\xd8\xff" + b"0" * 2000)
    (deep / f"notes{word}{'y' * 120}.txt").write_text("not a photo")
    panel.add_paths([deep])
    assert panel.notice.isVisible()
    run(panel, qtbot)
    panel.table.selectRow(0)
    assert panel.details.isVisible() and str(broken) in panel.details.text()
    assert str(deep) in panel.output_label.toolTip()  # whole, where it is cut
    panel.resize(780, 560)
    qtbot.waitUntil(lambda: panel.width() <= 800)
    assert panel.minimumSizeHint().width() <= 800
    panel.grab().save(str(tmp_path / "panel.png"))
    assert max(panel.details.width(), panel.notice.width(), panel.output_label.width()) <= 800
