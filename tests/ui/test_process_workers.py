"""The Process tab's "Run on workers" (issue 16) with real parts: a Redis of the test's own,
real ``fibuca-desktop worker`` processes, the real panel offscreen and real photos.

The panel plans as for a local run; the photos' rows, progress and outputs must read as they
do after a local run, and a broker nobody answers on must never freeze the window.
"""

from __future__ import annotations

import itertools
import json
import os
import shutil
import socket
import time
from pathlib import Path

import pytest
from PySide6.QtCore import QTimer

from fibuca_desktop.core.settings import Settings, SettingsStore
from fibuca_desktop.ui.process import broker_password
from fibuca_desktop.ui.process.process_panel import ProcessPanel, ProcessService
from fibuca_desktop.ui.process.queue_model import CANCELLED, DONE, FAILED, QUEUED, RUNNING
from fibuca_desktop.ui.process.run_on_workers import BrokerDialog
from fibuca_desktop.ui.settings_autosave import SettingsAutosave
from tests import corpus
from tests.conftest import PHOTOS
from tests.e2e.test_cluster_faults import large_photos

BATCH_TIMEOUT_MS = 180_000
NAMES = ["animal-1.jpg", "car-1.jpg", "cloth-1.jpg"]  # a small batch: wall time stays modest
SCREENSHOT = os.environ.get("FIBUCA_SCREENSHOT")  # docs/screenshots/process-workers.png


@pytest.fixture
def make_panel(qtbot, u2netp_path):
    panels = []

    def make(broker_url: str | None = None, on_workers: bool = True) -> ProcessPanel:
        settings = Settings()
        settings.processing.workers = 1
        settings.cluster.broker_url = broker_url
        settings.cluster.run_on_workers = on_workers and broker_url is not None
        panel = ProcessPanel(ProcessService(settings), settings)
        qtbot.addWidget(panel)
        panel.resize(1100, 560)
        panel.show()
        panels.append(panel)
        return panel

    yield make
    for panel in panels:
        started = time.monotonic()
        panel.shutdown()
        assert time.monotonic() - started < 20  # closing never hangs on the broker


def small_batch(folder: Path) -> Path:
    folder.mkdir(parents=True)
    for name in NAMES:
        shutil.copy(PHOTOS / name, folder / name)
    (folder / "broken.jpg").write_bytes(b"\xff\xd8\xff\xe0 not really a JPEG" * 20)
    return folder


def run_batch(qtbot, panel: ProcessPanel, inputs: Path, out: Path) -> None:
    panel.output_folder = out
    assert panel.add_paths([inputs]) == len(NAMES) + 1
    with qtbot.waitSignal(panel.batch_finished, timeout=BATCH_TIMEOUT_MS):
        panel.start()


def rows(panel: ProcessPanel) -> dict[str, tuple[str, str]]:
    return {i.job.input.name: (i.status, i.job.output.name) for i in panel.model.items}


def by_name(folder: Path) -> dict[str, bytes]:
    return {p.relative_to(folder).as_posix(): p.read_bytes() for p in corpus.written_files(folder)}


def test_a_batch_on_workers_reads_and_writes_as_a_local_batch(
    qtbot, tmp_path, redis_server, cluster_workers, make_panel
):
    inputs = small_batch(tmp_path / "in")
    local = make_panel()
    run_batch(qtbot, local, inputs, tmp_path / "local")
    masks = {"FIBUCA_MASKS_DIR": str(tmp_path / "worker-masks")}  # its own masks, not ours
    [worker] = cluster_workers(redis_server.url, count=1, concurrency=2, env=masks)

    remote = make_panel(redis_server.url)
    assert remote.run_on_workers.box.isChecked() and not remote.workers_combo.isEnabled()
    run_batch(qtbot, remote, inputs, tmp_path / "remote")

    assert rows(remote) == rows(local)
    assert rows(remote)["broken.jpg"][0] == FAILED
    assert by_name(tmp_path / "remote") == by_name(tmp_path / "local")  # byte for byte
    failed_local = [i.message for i in local.model.items if i.status == FAILED]
    assert [i.message for i in remote.model.items if i.status == FAILED] == failed_local
    done = [i for i in remote.model.items if i.status == DONE]
    pids = worker.pool_pids()  # the row says which machine and process made it
    assert {i.worker.split(", process ")[0] for i in done} == {socket.gethostname()}
    assert {int(i.worker.rsplit(" ", 1)[1]) for i in done} <= set(pids)
    assert done[0].worker in done[0].details
    assert remote.progress.value() == remote.progress.maximum()
    port = redis_server.port
    assert remote.progress_label.text() == f"3 done, 1 failed · on workers at 127.0.0.1:{port}"
    assert not remote.busy and remote.start_button.isEnabled() is False
    if SCREENSHOT:  # README: docs/screenshots/process-workers.png
        remote.table.selectRow(0)
        qtbot.wait(200)
        remote.grab().save(SCREENSHOT)


def test_cancel_revokes_the_photos_no_worker_has_started_and_retry_sends_them_again(
    qtbot, tmp_path, redis_server, cluster_workers, make_panel
):
    cluster_workers(redis_server.url, count=1, concurrency=1)
    large_photos(tmp_path / "in", 6, side=1600)
    panel = make_panel(redis_server.url)
    panel.output_folder = tmp_path / "out"
    panel.add_paths([tmp_path / "in"])
    panel.start()
    qtbot.waitUntil(lambda: bool(panel.model.with_status(RUNNING)), timeout=BATCH_TIMEOUT_MS)
    with qtbot.waitSignal(panel.batch_finished, timeout=BATCH_TIMEOUT_MS):
        panel.cancel()
    statuses = [i.status for i in panel.model.items]
    assert statuses.count(CANCELLED) >= 3, statuses
    assert set(statuses) <= {DONE, CANCELLED}
    qtbot.waitUntil(lambda: redis_server.queue_length() == 0, timeout=BATCH_TIMEOUT_MS)
    qtbot.wait(3000)  # a revoked photo that did run would be written by now
    done = sorted(i.job.output for i in panel.model.items if i.status == DONE)
    assert corpus.written_files(tmp_path / "out") == done
    # Retry failed sends the cancelled photos again, as new tasks: now every photo is written.
    assert panel.retry_button.isEnabled()
    with qtbot.waitSignal(panel.batch_finished, timeout=BATCH_TIMEOUT_MS):
        panel.retry_button.click()
    assert {i.status for i in panel.model.items} == {DONE}
    everything = sorted(i.job.output for i in panel.model.items)
    assert corpus.written_files(tmp_path / "out") == everything
    assert corpus.leftovers(tmp_path / "out") == []


def silent_broker() -> socket.socket:
    """A port that takes connections and never answers: the slowest way for a broker to fail."""
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(16)
    return listener


@pytest.mark.parametrize("kind", ["refused", "silent"])
def test_a_broker_nobody_answers_on_is_one_line_and_never_freezes_the_window(
    qtbot, tmp_path, make_panel, kind
):
    if kind == "silent":
        listener = silent_broker()
        port = listener.getsockname()[1]
    else:
        with socket.socket() as probe:
            probe.bind(("127.0.0.1", 0))
            port = probe.getsockname()[1]  # closed again: nobody listens there
    panel = make_panel(f"redis://127.0.0.1:{port}/0")
    panel.output_folder = tmp_path / "out"
    panel.add_paths([PHOTOS / NAMES[0], PHOTOS / NAMES[1]])
    ticks: list[float] = []
    timer = QTimer()
    timer.timeout.connect(lambda: ticks.append(time.monotonic()))
    timer.start(50)
    started = time.monotonic()
    with qtbot.waitSignal(panel.batch_finished, timeout=60_000):
        panel.start()
        assert time.monotonic() - started < 0.5  # Start returns at once
    failed_after = time.monotonic() - started
    timer.stop()
    points = [started, *ticks, started + failed_after]
    gaps = [b - a for a, b in itertools.pairwise(points)]
    assert len(ticks) >= int(failed_after / 0.2)  # the loop kept turning all along
    assert max(gaps) < 1.0, max(gaps)
    line = panel.notice.text()
    assert panel.notice.isVisible() and f"127.0.0.1:{port}" in line
    assert "check that Redis runs there" in line and "\n" not in line
    assert {i.status for i in panel.model.items} == {FAILED}
    assert all(i.message == line for i in panel.model.items)
    assert panel.retry_button.isEnabled() and not panel.busy
    if kind == "silent":
        listener.close()


def test_the_broker_url_is_saved_without_its_password(qtbot, tmp_path, monkeypatch, make_panel):
    """No keyring backend here (as offscreen CI): the password is kept for this session."""
    monkeypatch.setenv("PYTHON_KEYRING_BACKEND", "keyring.backends.fail.Keyring")
    monkeypatch.setattr(broker_password, "_SESSION", {})
    panel = make_panel(None, on_workers=False)
    path = tmp_path / "settings.json"
    autosave = SettingsAutosave(SettingsStore(path), panel.settings)  # the app's own
    dialog = BrokerDialog(panel.settings.cluster, panel)
    dialog.url_edit.setText("redis://:pa:ss@w0rd@127.0.0.1:6390/0")
    dialog.accept()
    assert dialog.result() == BrokerDialog.DialogCode.Accepted
    assert "for this session only" in dialog.note
    cluster = panel.settings.cluster
    assert cluster.broker_url == "redis://127.0.0.1:6390/0"
    qtbot.waitUntil(lambda: path.exists() and "6390" in path.read_text(), timeout=10_000)
    text = path.read_text()
    assert "redis://127.0.0.1:6390/0" in text and "w0rd" not in text and "pa:ss" not in text
    assert SettingsStore(path).load().settings.cluster.broker_url == "redis://127.0.0.1:6390/0"
    # Shown masked; Celery gets the password (from this session); OK on the mask keeps it.
    again = BrokerDialog(cluster, panel)
    assert again.url_edit.text() == "redis://:***@127.0.0.1:6390/0"
    again.accept()
    assert broker_password.url_to_connect(cluster.broker_url) == (
        "redis://:pa%3Ass%40w0rd@127.0.0.1:6390/0"
    )
    # A URL that is not a broker's is refused in the dialog, its password not shown.
    bad = BrokerDialog(cluster, panel)
    bad.url_edit.setText("http://:hunter2@example.com/")
    bad.accept()
    assert not bad.error.isHidden() and "hunter2" not in bad.error.text()
    assert cluster.broker_url == "redis://127.0.0.1:6390/0"
    # The password field, never echoed, wins over the URL's.
    other = BrokerDialog(cluster, panel)
    assert other.password_edit.echoMode() == other.password_edit.EchoMode.Password
    other.url_edit.setText("redis://127.0.0.1:6390/0")
    other.password_edit.setText("n3w")
    other.accept()
    assert broker_password.url_to_connect(cluster.broker_url) == "redis://:n3w@127.0.0.1:6390/0"
    panel.run_on_workers.box.setChecked(True)
    assert cluster.run_on_workers and panel.settings.cluster.run_on_workers
    qtbot.waitUntil(
        lambda: json.loads(path.read_text())["cluster"]["run_on_workers"], timeout=10_000
    )
    assert "n3w" not in path.read_text()
    autosave.save_if_changed()
    assert panel.model.with_status(QUEUED) == []


def test_with_no_worker_online_the_photos_wait_and_closing_is_prompt(
    qtbot, tmp_path, redis_server, make_panel
):
    panel = make_panel(redis_server.url)
    panel.output_folder = tmp_path / "out"
    panel.add_paths([PHOTOS / NAMES[0], PHOTOS / NAMES[1]])
    panel.start()
    qtbot.waitUntil(lambda: "No worker answers" in panel.notice.text(), timeout=30_000)
    assert f"127.0.0.1:{redis_server.port}" in panel.notice.text()
    qtbot.waitUntil(lambda: redis_server.queue_length() == 2, timeout=30_000)  # sent, waiting
    assert {i.status for i in panel.model.items} == {QUEUED}
    assert panel.busy and panel.cancel_button.isEnabled() and not panel.start_button.isEnabled()
    started = time.monotonic()
    panel.shutdown()
    assert time.monotonic() - started < 10


def test_run_on_workers_without_a_broker_says_where_to_set_one(qtbot, monkeypatch, make_panel):
    monkeypatch.delenv("FIBUCA_BROKER_URL", raising=False)
    panel = make_panel(None, on_workers=False)
    panel.settings.cluster.run_on_workers = True  # as loaded from a file whose URL was refused
    panel.add_paths([PHOTOS / NAMES[0]])
    with qtbot.waitSignal(panel.batch_finished, timeout=30_000):
        panel.start()
    assert panel.notice.text().startswith("No broker is set for Run on workers: give one with")
    assert {i.status for i in panel.model.items} == {FAILED}


def test_the_broker_going_away_mid_batch_fails_the_rest_with_one_line(
    qtbot, tmp_path, redis_server, cluster_workers, make_panel
):
    cluster_workers(redis_server.url, count=1, concurrency=1)
    large_photos(tmp_path / "in", 6, side=1600)
    panel = make_panel(redis_server.url)
    panel.output_folder = tmp_path / "out"
    panel.add_paths([tmp_path / "in"])
    panel.start()
    qtbot.waitUntil(lambda: bool(panel.model.with_status(RUNNING)), timeout=BATCH_TIMEOUT_MS)
    redis_server.stop()
    ticks: list[float] = []
    timer = QTimer()
    timer.timeout.connect(lambda: ticks.append(time.monotonic()))
    timer.start(50)
    started = time.monotonic()
    with qtbot.waitSignal(panel.batch_finished, timeout=60_000):
        pass
    points = [started, *ticks, time.monotonic()]
    timer.stop()
    assert max(b - a for a, b in itertools.pairwise(points)) < 1.0  # never frozen meanwhile
    line = panel.notice.text()
    assert line.startswith("Cannot keep in touch with the broker redis://127.0.0.1:")
    assert "Photos written so far are complete." in line
    failed = panel.model.with_status(FAILED)
    assert failed and all(i.message == line for i in failed)
    assert {i.status for i in panel.model.items} <= {DONE, FAILED}
    assert corpus.leftovers(tmp_path / "out") == []
