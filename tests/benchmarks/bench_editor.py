"""Benchmark: the touch-up editor on a 12 MP photo (issue 12).

Run from the project folder (offscreen Qt, the real u2netp model)::

    QT_QPA_PLATFORM=offscreen .venv/bin/python tests/benchmarks/bench_editor.py
    QT_QPA_PLATFORM=offscreen .venv/bin/python tests/benchmarks/bench_editor.py --moves 200

What it measures, all in this one process, on a fixture photo upscaled to 4000 x 3000 (JPEG 92):

- **input-to-paint latency** of brush strokes: each mouse move is a real ``QMouseEvent`` sent
  to the editor's canvas; the time runs from just before the event is sent until the canvas has
  finished the paint it asked for (``last_paint_end``), at fit zoom and at 100%. Side by side,
  the **baseline** a simple editor would be: apply the stroke to the full-resolution mask on the
  GUI thread at every move and compose the view again before painting (what this editor does
  off the GUI thread, once per stroke);
- the full-resolution work per stroke (on the editor's worker thread, after the release);
- the **memory of 100 strokes of undo** (the stack's bytes, and the process's RSS growth);
- the time to **open** (mask from the store; and with no stored mask: the model runs) and to
  **save** (edited mask into the store, the output rendered again, atomically).

The report is printed and written to ``tests/benchmarks/editor.md``.
"""

from __future__ import annotations

import argparse
import os
import shlex
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
PROJECT = HERE.parents[1]
sys.path[:0] = [str(PROJECT), str(HERE)]
os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")

import numpy as np  # noqa: E402
import psutil  # noqa: E402
from bench_report import code_state, load_line, publish, run_lines  # noqa: E402
from PIL import Image  # noqa: E402
from PySide6.QtCore import QPointF, Qt  # noqa: E402
from PySide6.QtGui import QMouseEvent  # noqa: E402
from PySide6.QtWidgets import QApplication  # noqa: E402

RESULTS = HERE / "editor.md"
PHOTO = PROJECT / "tests" / "fixtures" / "photos" / "animal-1.jpg"
SIZE = (4000, 3000)
P99_TARGET_MS = 30.0


def _photo(folder: Path) -> Path:
    path = folder / "animal-12mp.jpg"
    with Image.open(PHOTO) as image:
        image.convert("RGB").resize(SIZE, Image.Resampling.LANCZOS).save(path, quality=92)
    return path


def _percentile(values: list[float], q: float) -> float:
    return float(np.percentile(np.asarray(values), q))


def _wait(dialog, app) -> None:
    while dialog.worker.busy or dialog.canvas.pending:
        app.processEvents()
        time.sleep(0.001)


def _send(canvas, kind, at: QPointF, buttons) -> None:
    button = (
        Qt.MouseButton.LeftButton if kind != QMouseEvent.Type.MouseMove else Qt.MouseButton.NoButton
    )
    event = QMouseEvent(
        kind, at, canvas.mapToGlobal(at), button, buttons, Qt.KeyboardModifier.NoModifier
    )
    QApplication.sendEvent(canvas, event)


def _paint_latency(app, canvas, paths: list[list[QPointF]], naive=None) -> list[float]:
    """Milliseconds from each move's event to the end of the paint it caused."""
    held = Qt.MouseButton.LeftButton
    latencies = []
    for path in paths:
        _send(canvas, QMouseEvent.Type.MouseButtonPress, path[0], held)
        app.processEvents()
        for at in path[1:]:
            sent = time.perf_counter()
            _send(canvas, QMouseEvent.Type.MouseMove, at, held)
            if naive is not None:
                naive(at)
            while canvas.last_paint_end < sent:
                app.processEvents()
            latencies.append((canvas.last_paint_end - sent) * 1000)
        _send(canvas, QMouseEvent.Type.MouseButtonRelease, path[-1], Qt.MouseButton.NoButton)
    return latencies


def _paths(canvas, moves: int, rng) -> list[list[QPointF]]:
    """Strokes of 25 moves each, 6 screen pixels apart, inside the widget."""
    paths = []
    width, height = canvas.width(), canvas.height()
    while sum(len(p) - 1 for p in paths) < moves:
        x, y = rng.uniform(150, width - 150), rng.uniform(150, height - 150)
        angle = rng.uniform(0, 2 * np.pi)
        path = []
        for _ in range(26):
            path.append(QPointF(x, y))
            angle += rng.uniform(-0.3, 0.3)
            x = float(np.clip(x + 6 * np.cos(angle), 20, width - 20))
            y = float(np.clip(y + 6 * np.sin(angle), 20, height - 20))
        paths.append(path)
    return paths


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--moves", type=int, default=300, help="mouse moves per zoom level")
    parser.add_argument("--output", type=Path, default=RESULTS)
    args = parser.parse_args(argv)
    context = {
        "command": shlex.join(["python", *sys.argv]),
        "code": code_state(PROJECT),
        "load_before": os.getloadavg(),
    }
    app = QApplication.instance() or QApplication([])
    from fibuca_desktop.core.imaging.batch import plan_batch
    from fibuca_desktop.core.imaging.engine import EngineProvider
    from fibuca_desktop.core.imaging.mask_store import MaskStore
    from fibuca_desktop.core.imaging.pipeline import Pipeline
    from fibuca_desktop.core.imaging.presets import get_preset
    from fibuca_desktop.ui.process.editor.edit_session import EditSession
    from fibuca_desktop.ui.process.editor.editor_backend import EditorBackend, EditTarget
    from fibuca_desktop.ui.process.editor.editor_dialog import EditorDialog
    from fibuca_desktop.ui.process.editor.mask_edits import REMOVE, Stroke

    rng = np.random.default_rng(12)
    rows: dict[str, float | str] = {}
    with tempfile.TemporaryDirectory(prefix="fibuca-bench-editor-") as tmp:
        folder = Path(tmp)
        photo = _photo(folder)
        engines = EngineProvider(threads=2)
        store = MaskStore(folder / "masks")
        preset = get_preset("transparent")
        [job] = plan_batch([photo], folder / "out", ".png").jobs
        Pipeline(engines, preset, "u2netp", masks=store).process(job)  # the model's mask, stored
        target = EditTarget(0, job, preset, "u2netp")
        backend = EditorBackend(engines, store)

        fresh = EditorBackend(engines, MaskStore(folder / "empty-store"))
        started = time.perf_counter()
        fresh.open(target)
        rows["open, no stored mask (model runs) s"] = time.perf_counter() - started

        dialog = EditorDialog(backend)
        dialog.resize(1280, 860)
        dialog.show()
        app.processEvents()
        started = time.perf_counter()
        dialog.open_target(target)
        while not dialog.ready:
            app.processEvents()
            time.sleep(0.001)
        dialog.canvas.repaint()
        rows["open, stored mask (decode, masks, pyramid, first paint) s"] = (
            time.perf_counter() - started
        )
        canvas = dialog.canvas
        canvas.brush_mode = REMOVE
        canvas.radius = 60
        results: dict[str, list[float]] = {}
        for zoom in ("fit", "100%"):
            canvas.fit() if zoom == "fit" else canvas.actual_size()
            app.processEvents()
            results[zoom] = _paint_latency(app, canvas, _paths(canvas, args.moves, rng))
            _wait(dialog, app)

        # The baseline: the full-resolution stroke and a new view at every move, on this thread.
        canvas.fit()
        app.processEvents()
        session = dialog.session
        points: list[tuple[float, float]] = []

        def naive(at: QPointF) -> None:
            points.append(canvas.to_image(at))
            box = session.stroke(Stroke(tuple(points[-2:]), canvas.radius, 0.8, REMOVE))
            canvas.mask_changed(box)

        results["baseline (fit)"] = _paint_latency(
            app, canvas, _paths(canvas, max(60, args.moves // 5), rng), naive
        )
        _wait(dialog, app)

        # Full-resolution work per stroke, and 100 strokes of undo.
        process = psutil.Process()
        session = EditSession(session.photo, session.model_mask)
        rss_before = process.memory_info().rss
        stroke_ms = []
        width, height = session.size
        for _ in range(100):
            x, y = rng.uniform(0, width), rng.uniform(0, height)
            path = [(x, y)]
            for _ in range(25):
                x, y = x + rng.uniform(-40, 40), y + rng.uniform(-40, 40)
                path.append((x, y))
            radius = float(rng.uniform(20, 150))
            started = time.perf_counter()
            session.stroke(
                Stroke(tuple(path), radius, 0.8, REMOVE, edge_aware=bool(rng.random() < 0.3))
            )
            stroke_ms.append((time.perf_counter() - started) * 1000)
        rows["100 strokes of undo: stack MB"] = session.undo.nbytes / 1e6
        rows["100 strokes of undo: RSS growth MB"] = (process.memory_info().rss - rss_before) / 1e6
        rows["full-resolution stroke (worker thread) median ms"] = _percentile(stroke_ms, 50)
        rows["full-resolution stroke (worker thread) p99 ms"] = _percentile(stroke_ms, 99)

        started = time.perf_counter()
        result = backend.save(target, dialog.opened.key, session.snapshot(), session.model_mask)
        rows["save (mask into the store, output rendered again) s"] = time.perf_counter() - started
        rows["save result"] = f"{result.status} {result.output.name} ({result.mask})"
        rows["peak RSS MB"] = process.memory_info().rss / 1e6
        dialog.worker.shutdown()
    context["load_after"] = os.getloadavg()
    context["code_after"] = code_state(PROJECT)
    report = _report(context, results, rows)
    publish(report, args.output)
    return 0


def _report(context, results: dict[str, list[float]], rows: dict) -> str:
    lines = [
        "# Benchmark: the touch-up editor on a 12 MP photo (4000 x 3000)",
        "",
        *run_lines(context, ("PySide6-Essentials", "numpy", "pillow")),
        load_line(context),
        "",
        "## Input-to-paint latency of brush strokes",
        "",
        "| view | moves | median ms | p90 ms | p99 ms | max ms | p99 target |",
        "|---|---:|---:|---:|---:|---:|---|",
    ]
    for name, values in results.items():
        p99 = _percentile(values, 99)
        verdict = (
            "" if name.startswith("baseline") else ("PASS" if p99 < P99_TARGET_MS else "**FAIL**")
        )
        lines.append(
            f"| {name} | {len(values)} | {_percentile(values, 50):.1f} | "
            f"{_percentile(values, 90):.1f} | {p99:.1f} | {max(values):.1f} | "
            f"{verdict or 'baseline'} |"
        )
    base = _percentile(results["baseline (fit)"], 99)
    lines += [
        "",
        f"p99 at fit zoom is {_percentile(results['fit'], 99) / base:.3f}x the baseline's "
        "(a full-resolution stroke and a new view at every move, on the GUI thread).",
        "",
        "## Open, save, undo",
        "",
        "| measure | value |",
        "|---|---:|",
    ]
    for name, value in rows.items():
        shown = f"{value:.3f}" if isinstance(value, float) else str(value)
        lines.append(f"| {name} | {shown} |")
    return "\n".join(lines) + "\n"


if __name__ == "__main__":
    raise SystemExit(main())
