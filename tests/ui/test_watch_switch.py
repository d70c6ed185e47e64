"""The Process tab's watch switch: a photo that arrives in the watched folder joins the queue
through the panel's add path, complete and once; the output folder is never watched."""

from __future__ import annotations

import os
import shutil

from fibuca_desktop.core.imaging.watch_arrivals import WatchSettings
from tests.conftest import PHOTOS


def test_a_photo_arriving_in_the_watched_folder_joins_the_queue_once(
    panel_factory, qtbot, tmp_path
):
    panel = panel_factory()
    watched, out, outside = tmp_path / "in", tmp_path / "out", tmp_path / "outside"
    watched.mkdir()
    outside.mkdir()
    panel.output_folder = out
    switch = panel.watch_switch
    switch._settings = WatchSettings(settle_polls=2, settle_interval=0.1)
    switch.watch(watched)
    assert switch.isChecked() and switch.watching

    shutil.copy(PHOTOS / "car-1.jpg", outside / "first.jpg")
    os.rename(outside / "first.jpg", watched / "first.jpg")
    qtbot.waitUntil(lambda: panel.model.rowCount() == 1, timeout=30_000)
    os.utime(watched / "first.jpg")  # a touch after it was queued: the queue keeps one row
    shutil.copy(PHOTOS / "car-3.jpg", watched / "second.jpg")
    qtbot.waitUntil(lambda: panel.model.rowCount() == 2, timeout=30_000)
    inputs = sorted(item.job.input.name for item in panel.model.items)
    assert inputs == ["first.jpg", "second.jpg"]
    assert all(item.job.output.parent == out for item in panel.model.items)

    switch.setChecked(False)  # the user switches it off: the thread ends before it returns
    assert not switch.watching and not switch.isChecked()
    shutil.copy(PHOTOS / "car-2.jpg", watched / "late.jpg")
    qtbot.wait(500)  # nothing may arrive now; a wait is the only way to show an absence
    assert panel.model.rowCount() == 2
