"""Start-up limits, measured in a fresh process as a user would start the app (offscreen)."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys

HEAVY = (
    "rembg",
    "numba",
    "scipy",
    "skimage",
    "onnxruntime",
    "onnx",
    "pyqtgraph",
    "keyring",
    "prometheus_client",  # ~80 ms: imported on the first /metrics parse (core/monitor/prom_text.py)
    "celery",  # the cluster extra: only when a broker is used (issue 16)
    "kombu",
    "redis",
)

SCRIPT = f"""
import json, sys
from fibuca_desktop.__main__ import main
status = main(sys.argv[1:])
print("HEAVY=" + json.dumps([m for m in {HEAVY!r} if m in sys.modules]), file=sys.stderr)
sys.exit(status)
"""


def run_app(tmp_path, *args: str) -> subprocess.CompletedProcess:
    env = {**os.environ, "QT_QPA_PLATFORM": "offscreen"}
    return subprocess.run(
        [sys.executable, "-c", SCRIPT, "-v", "--no-crash-dialog", *args],
        capture_output=True,
        text=True,
        timeout=120,
        env=env,
    )


def test_window_shows_fast_and_idles_small_without_heavy_imports(tmp_path):
    done = run_app(
        tmp_path, "--quit-after", "1500", "--settings-file", str(tmp_path / "settings.json")
    )
    assert done.returncode == 0, done.stderr
    shown = float(re.search(r"window shown (\d+) ms after the process started", done.stderr)[1])
    idle = float(re.search(r"quitting; memory (\d+) MB", done.stderr)[1])
    assert shown < 2000  # the limit, offscreen on this machine
    assert idle <= 150
    assert json.loads(done.stderr.rsplit("HEAVY=", 1)[1]) == []  # the model loads on first use
    assert "Traceback" not in done.stderr


def test_run_on_workers_chosen_in_the_settings_imports_no_celery_at_start(tmp_path):
    """The Process tab with "Run on workers" on and a broker set: Celery, kombu and redis-py
    load only when Start sends a batch (issue 16)."""
    settings = tmp_path / "settings.json"
    cluster = {"run_on_workers": True, "broker_url": "redis://127.0.0.1:6379/0"}
    settings.write_text(json.dumps({"schema_version": 1, "cluster": cluster}))
    done = run_app(tmp_path, "--quit-after", "800", "--settings-file", str(settings))
    assert done.returncode == 0, done.stderr
    assert "Traceback" not in done.stderr and "cluster.broker_url" not in done.stderr
    assert json.loads(done.stderr.rsplit("HEAVY=", 1)[1]) == []
    assert json.loads(settings.read_text())["cluster"] == cluster  # kept as it was


def test_a_broken_settings_file_is_reported_and_replaced(tmp_path):
    settings = tmp_path / "settings.json"
    settings.write_text("{ this is not json")
    done = run_app(tmp_path, "--quit-after", "300", "--settings-file", str(settings))
    assert done.returncode == 0, done.stderr
    assert "Traceback" not in done.stderr
    kept = list(tmp_path.glob("settings.json.broken-*"))
    assert len(kept) == 1 and kept[0].read_text() == "{ this is not json"
    assert str(settings) in done.stderr  # the warning names the file


def test_a_model_that_needs_the_missing_rembg_is_reported_at_start(tmp_path):
    """As in the packaged app: no rembg, and the settings choose a rembg-only model."""
    settings = tmp_path / "settings.json"
    settings.write_text(json.dumps({"schema_version": 1, "processing": {"model": "isnet-anime"}}))
    hide_rembg = (
        "from fibuca_desktop.core.imaging import optional_features\n"
        "optional_features.rembg_available = lambda: False\n"
    )
    args = ["-v", "--no-crash-dialog", "--quit-after", "300", "--settings-file", str(settings)]
    done = subprocess.run(
        [sys.executable, "-c", hide_rembg + SCRIPT, *args],
        capture_output=True,
        text=True,
        timeout=120,
        env={**os.environ, "QT_QPA_PLATFORM": "offscreen"},
    )
    assert done.returncode == 0, done.stderr
    assert "Model isnet-anime, chosen in the settings, needs the optional rembg" in done.stderr
    assert "Traceback" not in done.stderr
