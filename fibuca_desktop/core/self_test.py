"""``fibuca-desktop self-test``: prove this copy of the app does its main job, offline.

Runs the same way from source and in the packaged app: the default model from the store (or the
bundle), the bundled sample photo through the real pipeline, checks on the cut-out, and, through a
hook the caller passes in (the core never imports Qt), the main window opened and closed offscreen.
The sample runs with rembg's edges (``--edges rembg``), as its cut-out is compared with rembg's own
mask: refined edges, the default, differ from rembg's on purpose.
The report is one JSON-able dict; ``ok`` is true only when every check passed.
"""

from __future__ import annotations

import platform
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np
from PIL import Image

from fibuca_desktop import __version__
from fibuca_desktop.core.errors import FibucaError
from fibuca_desktop.core.imaging.batch import Job
from fibuca_desktop.core.imaging.decode import Limits, read_header
from fibuca_desktop.core.imaging.engine import EngineProvider
from fibuca_desktop.core.imaging.models import DEFAULT_MODEL, ModelStore, md5_of, spec_for
from fibuca_desktop.core.imaging.optional_features import rembg_available, rembg_features
from fibuca_desktop.core.imaging.pipeline import PROCESSED, Pipeline
from fibuca_desktop.core.imaging.presets import get_preset
from fibuca_desktop.core.imaging.static_resize import prepared_graph
from fibuca_desktop.core.resources import is_frozen, sample_expected_mask, sample_photo

# What a sane cut-out of the sample looks like. The sample's subject covers 22.7% of it.
MIN_CLEAR_FRACTION = 0.05  # alpha < 16 and alpha > 240 each cover at least this much
FOREGROUND_RANGE = (0.10, 0.60)  # alpha >= 128
MIN_IOU = 0.98  # against the expected mask made by real rembg
SAMPLE_EDGES = "rembg"  # what that mask is compared with: rembg's edges, not refined ones

WindowCheck = Callable[[], dict]
"""Opens the main window offscreen, closes it, and returns details (raises on failure)."""


@dataclass
class Check:
    name: str
    passed: bool
    detail: str


class _Report:
    def __init__(self) -> None:
        self.checks: list[Check] = []
        self.timings_ms: dict[str, float] = {}

    def check(self, name: str, passed: bool, detail: str) -> bool:
        self.checks.append(Check(name, bool(passed), detail))
        return bool(passed)

    def timed(self, name: str, started: float) -> None:
        self.timings_ms[name] = round((time.perf_counter() - started) * 1000, 1)


def run_self_test(window_check: WindowCheck | None = None) -> dict:
    """Run every check; never raises for a failed check (it is reported)."""
    started = time.perf_counter()
    report = _Report()
    result: dict = {
        "ok": False,
        "app": __version__,
        "frozen": is_frozen(),
        "optional": {
            "rembg": rembg_available(),
            "unavailable": [] if rembg_available() else rembg_features(),
        },
    }
    result["model"] = _check_model(report)
    if result["model"].get("md5_verified"):
        _check_cutout(report, Path(result["model"]["path"]), result)
    _check_history(report)
    if window_check is not None:
        window_started = time.perf_counter()
        try:
            result["window"] = window_check()
            report.check(
                "main window opens and closes offscreen",
                True,
                f"shown and closed on the {result['window'].get('platform')} platform",
            )
        except Exception as error:  # any failure of the window is this check's answer
            report.check("main window opens and closes offscreen", False, repr(error))
        report.timed("window", window_started)
    report.timed("total", started)
    result["versions"] = _versions()
    result["timings_ms"] = report.timings_ms
    result["checks"] = [asdict(check) for check in report.checks]
    result["ok"] = bool(report.checks) and all(check.passed for check in report.checks)
    return result


def _check_history(report: _Report) -> None:
    """The monitor's history file: SQLite is in the bundle, a sample goes in and comes back."""
    from fibuca_desktop.core.monitor.history_store import HistoryStore
    from fibuca_desktop.core.monitor.samples import HEAP_USED_MB, Sample

    started = time.perf_counter()
    try:
        with tempfile.TemporaryDirectory(prefix="fibuca-self-test-history-") as tmp:
            store = HistoryStore.open(Path(tmp) / "history.sqlite3")
            try:
                now = time.time()
                store.append("self-test", Sample(now, {HEAP_USED_MB: 42.0}))
                store.flush(timeout_s=10.0)
                back = store.load("self-test", now - 60).raw.values.get(HEAP_USED_MB)
            finally:
                store.close()
        passed = back is not None and back.tolist() == [42.0]
        report.check("monitor history stores and reads back", passed, f"read back {back}")
    except Exception as error:  # no sqlite3 in the bundle, an unwritable temp folder
        report.check("monitor history stores and reads back", False, repr(error))
    report.timed("history", started)


def _versions() -> dict:
    """Versions of what this run actually loaded (the window hook adds Qt's)."""
    versions = {"python": platform.python_version()}
    for module in ("onnxruntime", "numpy", "PIL", "PySide6"):
        loaded = sys.modules.get(module)
        versions[module] = getattr(loaded, "__version__", None) if loaded else None
    return versions


def _check_model(report: _Report) -> dict:
    spec = spec_for(DEFAULT_MODEL)
    store = ModelStore()
    info: dict = {"name": spec.name, "expected_md5": spec.md5, "store": str(store.home)}
    started = time.perf_counter()
    try:
        path = store.path(spec.name)  # never downloads
    except FibucaError as error:
        report.check("default model present", False, str(error))
        return info
    actual = md5_of(path)
    report.timed("model_md5", started)
    info.update(path=str(path), md5=actual, md5_verified=actual == spec.md5)
    report.check("default model md5", actual == spec.md5, f"{path}: {actual}")
    if spec.static_resize:
        graph = prepared_graph(path, spec.md5, spec.input_size)
        info["graph"] = str(graph)
    return info


def _check_cutout(report: _Report, model_path: Path, result: dict) -> None:
    photo = sample_photo()
    if not report.check("sample photo present", photo.is_file(), str(photo)):
        return
    header = read_header(photo, Limits())
    with tempfile.TemporaryDirectory(prefix="fibuca-self-test-") as tmp:
        job = Job(photo, Path(tmp) / "cutout.png")
        engines = EngineProvider(ModelStore())
        preset = get_preset("transparent").with_options(edges=SAMPLE_EDGES)
        pipeline = Pipeline(engines, preset, DEFAULT_MODEL)
        started = time.perf_counter()
        outcome = pipeline.process(job)
        report.timed("process_sample", started)
        if not report.check(
            "sample photo processed", outcome.status == PROCESSED, outcome.message or "processed"
        ):
            return
        with Image.open(job.output) as cutout:
            cutout.load()
    result["sample"] = {
        "photo": str(photo),
        "width": header.width,
        "height": header.height,
        "edges": SAMPLE_EDGES,
    }
    report.check(
        "cut-out has the photo's size and an alpha channel",
        cutout.size == (header.width, header.height) and cutout.mode == "RGBA",
        f"{cutout.size[0]}x{cutout.size[1]} {cutout.mode}",
    )
    alpha = np.asarray(cutout.getchannel("A"))
    clear = float(np.mean(alpha < 16))
    solid = float(np.mean(alpha > 240))
    foreground = float(np.mean(alpha >= 128))
    report.check(
        "cut-out has clearly transparent and clearly opaque regions",
        clear >= MIN_CLEAR_FRACTION and solid >= MIN_CLEAR_FRACTION,
        f"transparent {clear:.3f}, opaque {solid:.3f} (each >= {MIN_CLEAR_FRACTION})",
    )
    low, high = FOREGROUND_RANGE
    report.check(
        "foreground fraction is sensible",
        low <= foreground <= high,
        f"{foreground:.3f} (expected {low}-{high})",
    )
    expected_path = sample_expected_mask()
    if report.check("expected mask present", expected_path.is_file(), str(expected_path)):
        with Image.open(expected_path) as expected_image:
            expected = np.asarray(expected_image.convert("L")) >= 128
        if expected.shape != alpha.shape:
            report.check("mask matches rembg's", False, f"expected mask is {expected.shape}")
            return
        mine = alpha >= 128
        iou = float(np.sum(mine & expected) / max(np.sum(mine | expected), 1))
        report.check(
            "mask matches rembg's",
            iou >= MIN_IOU,
            f"IoU {iou:.4f} (>= {MIN_IOU}), with --edges {SAMPLE_EDGES}",
        )
