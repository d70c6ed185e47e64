"""``fibuca-desktop self-test`` from source: a real subprocess, the real model, the real window."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import numpy as np
from PIL import Image

from fibuca_desktop.core import self_test
from fibuca_desktop.core.resources import sample_expected_mask


def run_self_test_cli(env_changes: dict) -> subprocess.CompletedProcess:
    env = {**os.environ, "QT_QPA_PLATFORM": "offscreen", **env_changes}
    return subprocess.run(
        [sys.executable, "-m", "fibuca_desktop", "self-test"],
        capture_output=True,
        text=True,
        timeout=300,
        env=env,
    )


def test_self_test_passes_and_reports_everything(u2netp_path, tmp_path):
    done = run_self_test_cli({"U2NET_HOME": str(u2netp_path.parent)})
    assert done.returncode == 0, done.stderr
    report = json.loads(done.stdout)  # stdout is exactly the JSON report
    assert report["ok"] is True and report["frozen"] is False
    assert report["model"]["md5_verified"] is True
    assert report["model"]["path"] == str(u2netp_path)
    names = {check["name"] for check in report["checks"]}
    assert {"default model md5", "mask matches rembg's", "foreground fraction is sensible"} <= names
    assert "main window opens and closes offscreen" in names
    assert all(check["passed"] for check in report["checks"])
    assert report["sample"]["edges"] == "rembg"  # compared with rembg's mask: rembg's edges
    (mask_check,) = [c for c in report["checks"] if c["name"] == "mask matches rembg's"]
    assert mask_check["detail"].endswith("with --edges rembg")
    assert report["window"]["platform"] == "offscreen"
    assert report["window"]["exit_status"] == 0
    assert report["window"]["log"].startswith("window shown")  # the app's own start-up line
    assert report["versions"]["onnxruntime"] and report["versions"]["PySide6"]
    assert {"process_sample", "window", "total"} <= set(report["timings_ms"])
    assert "self-test passed" in done.stderr


def test_self_test_without_a_model_fails_clearly(tmp_path):
    empty = tmp_path / "u2net"
    empty.mkdir()
    done = run_self_test_cli({"U2NET_HOME": str(empty)})
    assert done.returncode == 1
    report = json.loads(done.stdout)
    assert report["ok"] is False
    assert "self-test FAILED: default model present" in done.stderr
    assert "fibuca-desktop models fetch u2netp" in done.stderr  # says what to do
    assert list(empty.iterdir()) == []  # and never downloads


def test_a_wrong_cutout_fails_the_mask_check(u2netp_path, tmp_path, monkeypatch):
    """The comparison with rembg's mask can fail: an inverted expected mask makes it fail."""
    with Image.open(sample_expected_mask()) as expected:
        Image.fromarray(~(np.asarray(expected.convert("L")) >= 128)).save(tmp_path / "wrong.png")
    monkeypatch.setattr(self_test, "sample_expected_mask", lambda: tmp_path / "wrong.png")
    report = self_test.run_self_test(window_check=None)
    failed = [check for check in report["checks"] if not check["passed"]]
    assert report["ok"] is False
    assert [check["name"] for check in failed] == ["mask matches rembg's"]
    assert failed[0]["detail"].startswith("IoU 0.0")


def test_a_window_that_fails_is_reported_not_raised(u2netp_path):
    def broken_window():
        raise RuntimeError("no platform plugin")

    report = self_test.run_self_test(window_check=broken_window)
    window = [c for c in report["checks"] if c["name"].startswith("main window")]
    assert report["ok"] is False
    assert window[0]["passed"] is False and "no platform plugin" in window[0]["detail"]
