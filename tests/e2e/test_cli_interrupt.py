"""Ctrl-C during a batch: queued photos are dropped at once, nothing partial is left behind."""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
from pathlib import Path

from fibuca_desktop.core.imaging.output_records import RECORD_NAME
from tests.conftest import PHOTOS


def test_ctrl_c_cancels_the_queue_and_reports(tmp_path):
    inputs = tmp_path / "in"
    inputs.mkdir()
    for copy in range(12):  # enough queued work that finishing it all would take seconds
        for name in ("cloth-1.jpg", "car-2.jpg", "animal-1.jpg"):
            shutil.copy(PHOTOS / name, inputs / f"{copy:02d}-{name}")
    out = tmp_path / "out"
    process = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "fibuca_desktop",
            "process",
            str(inputs),
            "-o",
            str(out),
            "--workers",
            "1",
            "--json",
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env={**os.environ, "PYTHONUNBUFFERED": "1"},
    )
    first_line = process.stderr.readline()  # the progress bar's first update: one photo done
    assert "1/36" in first_line, first_line
    process.send_signal(signal.SIGINT)
    stdout, stderr = process.communicate(timeout=120)
    assert process.returncode == 1, stderr
    report = json.loads(stdout)
    # One worker: the photo running at the signal may finish; the queue must not run.
    assert 1 <= len(report["processed"]) <= 3
    assert len(report["processed"]) + len(report["failed"]) == 36
    assert any("cancelled" in item["error"] for item in report["failed"])
    written = sorted(p.name for p in out.rglob("*") if p.name != RECORD_NAME)
    assert written == sorted(Path(item["output"]).name for item in report["processed"])
