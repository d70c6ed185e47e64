"""The batch on Celery workers, end to end: a Redis server of the test's own, real
``fibuca-desktop worker`` processes, the real u2netp model and ``process --broker`` as a
subprocess. Outputs must be exactly those of a local batch.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests import corpus
from tests.conftest import PHOTO_NAMES
from tests.e2e.test_process_cli import report_of

CLI_TIMEOUT_S = 300


def run_cli(*args, env: dict | None = None) -> subprocess.CompletedProcess:
    command = [sys.executable, "-m", "fibuca_desktop", *map(str, args)]
    return subprocess.run(
        command,
        capture_output=True,
        text=True,
        timeout=CLI_TIMEOUT_S,
        env={**os.environ, **(env or {})},
    )


def start_cli(*args, env: dict | None = None) -> subprocess.Popen:
    command = [sys.executable, "-m", "fibuca_desktop", *map(str, args)]
    return subprocess.Popen(
        command,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env={**os.environ, "PYTHONUNBUFFERED": "1", **(env or {})},
    )


def by_name(folder: Path) -> dict[str, bytes]:
    return {p.relative_to(folder).as_posix(): p.read_bytes() for p in corpus.written_files(folder)}


def test_two_workers_write_the_same_files_as_a_local_batch(
    photos, tmp_path, redis_server, cluster_workers
):
    (photos / "broken.jpg").write_bytes(b"\xff\xd8\xff\xe0 not really a JPEG" * 20)
    local = run_cli(
        "process", photos, "-o", tmp_path / "local", "--preset", "web", "--no-mask-cache", "--json"
    )
    assert local.returncode == 1, local.stderr  # the broken photo
    workers = cluster_workers(redis_server.url, count=2)

    remote = run_cli(
        "process",
        photos,
        "-o",
        tmp_path / "remote",
        "--preset",
        "web",
        "--no-mask-cache",
        "--json",
        "--broker",
        redis_server.url,
    )

    assert remote.returncode == 1, remote.stderr
    local_report, remote_report = report_of(local), report_of(remote)
    assert len(remote_report["processed"]) == len(PHOTO_NAMES)
    # A bad photo fails with the local batch's own message; the rest finish.
    assert remote_report["failed"] == local_report["failed"]
    [failure] = remote_report["failed"]
    assert "broken.jpg" in failure["error"]
    assert by_name(tmp_path / "remote") == by_name(tmp_path / "local")  # byte for byte
    for item in remote_report["processed"]:
        assert item["output"].startswith(str(tmp_path / "remote"))
    strip = {"ms", "output"}
    assert [{k: v for k, v in i.items() if k not in strip} for i in remote_report["processed"]] == [
        {k: v for k, v in i.items() if k not in strip} for i in local_report["processed"]
    ]
    assert corpus.leftovers(tmp_path / "remote") == []
    assert f"] {len(PHOTO_NAMES) + 1}/{len(PHOTO_NAMES) + 1}" in remote.stderr  # progress bar
    # Both workers took part.
    assert all("process_photo" in w.text() and "succeeded" in w.text() for w in workers)


def test_the_broker_password_is_never_printed(
    tmp_path, redis_with_password, cluster_workers, monkeypatch
):
    from urllib.parse import quote

    from tests.redis_server import REDIS_PASSWORD

    secret_forms = {REDIS_PASSWORD, quote(REDIS_PASSWORD, safe="")}
    monkeypatch.setenv("FIBUCA_BROKER_PASSWORD", REDIS_PASSWORD)  # the worker's way
    [worker] = cluster_workers(redis_with_password.url, count=1)
    monkeypatch.delenv("FIBUCA_BROKER_PASSWORD")
    corpus.copy_photos(tmp_path / "in", "car-1.jpg")
    port = redis_with_password.port
    in_url = f"redis://:{quote(REDIS_PASSWORD, safe='')}@127.0.0.1:{port}/0"

    done = run_cli("-v", "process", tmp_path / "in", "-o", tmp_path / "out", "--broker", in_url)
    status = run_cli("cluster", "status", env={"FIBUCA_BROKER_URL": in_url})
    wrong = run_cli("cluster", "status", "--broker", f"redis://:wrong-{port}@127.0.0.1:{port}/0")

    assert done.returncode == 0, done.stderr
    assert (tmp_path / "out" / "car-1.png").is_file()
    assert status.returncode == 0 and "1 worker online" in status.stdout
    assert f"redis://:***@127.0.0.1:{port}/0" in status.stdout
    assert wrong.returncode == 1 and f"wrong-{port}" not in wrong.stderr
    assert "Cannot reach the broker redis://:***@" in wrong.stderr
    for text in (done.stdout, done.stderr, status.stdout, status.stderr, worker.text()):
        assert not any(form in text for form in secret_forms)


def test_ctrl_c_revokes_the_queued_photos_and_reports_them(tmp_path, redis_server, cluster_workers):
    import signal
    import time

    from tests.e2e.test_cluster_faults import large_photos

    cluster_workers(redis_server.url, count=1)
    large_photos(tmp_path / "in", 8, side=1600)
    out = tmp_path / "out"
    process = start_cli(
        "process",
        tmp_path / "in",
        "-o",
        out,
        "--json",
        "--no-mask-cache",
        "--broker",
        redis_server.url,
    )
    try:
        deadline = time.monotonic() + 120
        while not any(out.glob("*.png")) and time.monotonic() < deadline:
            time.sleep(0.05)
        process.send_signal(signal.SIGINT)
        stdout, stderr = process.communicate(timeout=120)
    finally:
        process.kill()
    assert process.returncode == 1, stderr
    assert "queued photos revoked" in stderr and "Traceback" not in stderr
    report = report_of(subprocess.CompletedProcess([], 1, stdout, stderr))
    cancelled = [i for i in report["failed"] if i["error"] == "Cancelled before it started."]
    assert len(cancelled) >= 4
    assert len(report["processed"]) + len(cancelled) == 8
    time.sleep(3)  # a revoked photo that ran anyway would be written by now
    assert corpus.written_files(out) == sorted(Path(i["output"]) for i in report["processed"])


def test_worker_and_status_usage_errors_are_one_line(monkeypatch):
    monkeypatch.delenv("FIBUCA_BROKER_URL", raising=False)
    no_broker = run_cli("worker")
    bad_map = run_cli("worker", "--broker", "redis://127.0.0.1:9/0", "--path-map", "/mnt")
    bad_url = run_cli("cluster", "status", "--broker", "http://:hunter2@x/0")
    for result in (no_broker, bad_map, bad_url):
        assert result.returncode == 2, result.stderr
        assert len(result.stderr.strip().splitlines()) == 1, result.stderr
    assert "FIBUCA_BROKER_URL" in no_broker.stderr
    assert "FROM=TO" in bad_map.stderr
    assert "hunter2" not in bad_url.stderr


def test_cluster_status_counts_workers_running_and_queued_photos(
    tmp_path, redis_server, cluster_workers
):
    import json

    from fibuca_desktop.cluster.broker_url import parse_broker_url
    from fibuca_desktop.cluster.submit import ClusterBatch
    from fibuca_desktop.core.imaging.batch import plan_batch
    from tests.e2e.test_cluster_faults import WAIT_S, large_photos, settings, until

    [worker] = cluster_workers(redis_server.url, count=1, concurrency=1)
    idle = run_cli("cluster", "status", "--broker", redis_server.url, "--json")
    large_photos(tmp_path / "in", 6)
    plan = plan_batch([tmp_path / "in"], tmp_path / "out", ".png")
    with ClusterBatch(parse_broker_url(redis_server.url), settings()) as batch:
        batch.start(plan.jobs)
        until(lambda: batch.running(), WAIT_S, "a photo starting")
        busy = run_cli("cluster", "status", "--broker", redis_server.url, "--json")
        text = run_cli("cluster", "status", "--broker", redis_server.url)
        batch.cancel()
        assert batch.wait(WAIT_S)

    assert json.loads(idle.stdout) == {
        "broker": redis_server.url,
        "workers": [{"name": worker.name, "concurrency": 1, "running": 0, "reserved": 0}],
        "running": 0,
        "queued": 0,
    }
    status = json.loads(busy.stdout)
    assert status["running"] == 1 and status["workers"][0]["running"] == 1
    assert 1 <= status["queued"] <= 5  # the rest wait in Redis: prefetch 1 holds none back
    assert "1 worker online, 1 photo running" in text.stdout and worker.name in text.stdout


class _HostilePeer:
    """A TCP server on a free port that accepts and then never answers (``trickle`` False) or
    answers one byte a second without ever finishing a reply."""

    def __init__(self, trickle: bool) -> None:
        import socket
        import threading

        self.trickle = trickle
        self.server = socket.create_server(("127.0.0.1", 0))
        self.port = self.server.getsockname()[1]
        self.stop = threading.Event()
        threading.Thread(target=self._serve, daemon=True).start()

    def _serve(self) -> None:
        import threading

        self.server.settimeout(0.2)
        while not self.stop.is_set():
            try:
                conn, _ = self.server.accept()
            except OSError:
                continue
            threading.Thread(target=self._hold, args=(conn,), daemon=True).start()

    def _hold(self, conn) -> None:
        with conn:
            while not self.stop.wait(1.0):
                if self.trickle:
                    try:
                        conn.sendall(b"+")  # a simple-string reply that never ends
                    except OSError:
                        return

    def close(self) -> None:
        self.stop.set()
        self.server.close()


@pytest.mark.parametrize("trickle", [False, True], ids=["silent", "trickling"])
def test_a_broker_that_never_answers_is_an_error_within_the_deadline(tmp_path, trickle):
    import time

    peer = _HostilePeer(trickle)
    url = f"redis://127.0.0.1:{peer.port}/0"
    corpus.copy_photos(tmp_path / "in", "car-1.jpg")
    try:
        started = time.monotonic()
        status = run_cli("cluster", "status", "--broker", url)
        process = run_cli("process", tmp_path / "in", "-o", tmp_path / "out", "--broker", url)
        seconds = time.monotonic() - started
    finally:
        peer.close()
    for result in (status, process):
        assert result.returncode == 1, result.stderr
        [line] = result.stderr.strip().splitlines()
        assert f"broker {url}" in line and "Traceback" not in line
    assert seconds < 2 * 20  # each within the 15 s deadline (plus the interpreter's start)
    assert not (tmp_path / "out").exists() or corpus.written_files(tmp_path / "out") == []


def test_retries_send_only_the_failed_photos_again(photos, tmp_path, redis_server, cluster_workers):
    inputs = tmp_path / "in"
    inputs.mkdir()
    good = next(p for p in sorted(photos.iterdir()) if p.name in PHOTO_NAMES)
    (inputs / good.name).write_bytes(good.read_bytes())
    (inputs / "broken.jpg").write_bytes(b"\xff\xd8\xff\xe0 not really a JPEG" * 20)
    [worker] = cluster_workers(redis_server.url)
    args = ("process", inputs, "-o", tmp_path / "out", "--preset", "web", "--no-mask-cache")
    result = run_cli(*args, "--json", "--broker", redis_server.url, "--retries", "2")
    assert result.returncode == 1, result.stderr  # the broken photo fails every time
    assert "retry 1 of 2: sending 1 failed photo again" in result.stderr
    assert "retry 2 of 2: sending 1 failed photo again" in result.stderr
    report = report_of(result)
    assert [Path(i["input"]).name for i in report["processed"]] == [good.name]
    [failure] = report["failed"]
    assert "broken.jpg" in failure["error"]
    # The worker really ran the broken photo three times and the good one once.
    assert worker.text().count("] received") == 4
    assert corpus.leftovers(tmp_path / "out") == []
    usage = run_cli(*args, "--retries", "1")  # no broker: refused before anything runs
    assert usage.returncode == 2 and "--retries goes with --broker" in usage.stderr
