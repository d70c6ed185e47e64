"""Monitor benchmark: memory of 24 h of history, and the graph's redraw time.

    .venv/bin/python tests/benchmarks/bench_monitor.py [--rounds 5]

Side by side in one run, as ratios (this machine is shared and noisy):

- **History memory**: one remote target (4 series) with 24 h at 1 s, in this project's ring
  buffers (``TargetHistory``) against the obvious alternative, a ``deque`` of ``Sample`` objects.
  Each is built in a fresh process and measured with tracemalloc (numpy reports its buffers to
  it) and as growth of the resident set.
- **Redraw**: the real ``MonitorPanel`` offscreen, 3 targets x 2 plotted series, each with a
  full 24 h history, redrawn and painted (``grab``) for the 5 min, 1 h and 24 h windows; against
  a naive pyqtgraph redraw (``clear()`` and ``plot()`` every time, antialiasing on, no
  downsampling or clipping) with the same grid and legend. Median of ``--rounds`` redraws per
  window, after one warm-up.

The report is printed and written to tests/benchmarks/monitor.md.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path

HERE = Path(__file__).parent
ROOT = HERE.parents[1]
DAY = 86_400
METRICS = ("heapUsedMB", "heapTotalMB", "externalMB", "rssMB")


def _values(i: int) -> dict[str, float]:
    return {name: 200.0 + (i % 3600) / 36 + k for k, name in enumerate(METRICS)}


def memory_child(kind: str) -> dict:
    """Runs in a fresh process: build 24 h of history one way, report what it holds."""
    import tracemalloc
    from collections import deque

    import psutil

    from fibuca_desktop.core.monitor.history import TargetHistory
    from fibuca_desktop.core.monitor.samples import Sample

    process = psutil.Process()
    before = process.memory_info().rss
    tracemalloc.start()
    start = time.time() - DAY
    if kind == "ring buffers":
        history = TargetHistory(DAY)
        for i in range(DAY):
            history.append(Sample(start + i, _values(i)))
    else:
        history = deque(maxlen=DAY)
        for i in range(DAY):
            history.append(Sample(start + i, _values(i)))
    traced, _ = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    points = len(history.series[METRICS[0]]) if kind == "ring buffers" else len(history)
    return {"traced": traced, "rss": process.memory_info().rss - before, "points": points}


def redraw_child(rounds: int) -> dict:
    """Runs in a fresh process: time redraws of the real panel and of a naive plot."""
    os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
    import pyqtgraph as pg
    from PySide6.QtWidgets import QApplication

    from fibuca_desktop.core.monitor.samples import Sample
    from fibuca_desktop.core.monitor.targets import HEALTH, MonitorTarget
    from fibuca_desktop.core.settings import Settings
    from fibuca_desktop.ui.monitor.monitor_hub import MonitorHub
    from fibuca_desktop.ui.monitor.monitor_panel import MonitorPanel
    from fibuca_desktop.ui.monitor.notifier import StateNotifier

    app = QApplication([])
    settings = Settings()
    settings.monitor.targets = [
        MonitorTarget(f"api-{n}", HEALTH, url=f"http://127.0.0.1:9/{n}") for n in range(3)
    ]
    hub = MonitorHub(1.0)  # 24 h at 1 s; polls of the dead URLs land after the shown window
    end = time.time() - DAY
    for target in settings.monitor.targets:
        poller = hub.add(target)
        for i in range(DAY):
            poller.history.append(Sample(end + i, _values(i)))
    end += DAY
    panel = MonitorPanel(hub, settings, StateNotifier())
    panel.resize(1100, 600)
    panel.show()
    app.processEvents()
    panel.view.set_paused(True)
    panel.view.paused_at = end
    data = {
        (name, metric): poller.history.series[metric]
        for name, poller in hub.pollers.items()
        for metric in settings.monitor.plotted
    }

    naive = pg.PlotWidget(axisItems={"bottom": pg.DateAxisItem()}, background="w")
    naive.showGrid(x=True, y=True, alpha=0.15)  # the same decoration as ours
    naive.addLegend(offset=(8, 8))
    naive.resize(panel.view.graph.size())
    naive.show()

    def ours(seconds: int) -> None:
        panel.view.window_box.setCurrentIndex((300, 3600, DAY).index(seconds))
        panel.view.redraw()
        panel.view.graph.grab()

    def baseline(seconds: int) -> None:
        pg.setConfigOptions(antialias=True)
        naive.clear()
        for (target, metric), series in data.items():
            times, values = series.window(seconds, end)
            naive.plot(times, values, name=f"{target} · {metric}")
        naive.grab()
        pg.setConfigOptions(antialias=False)

    def ours_data_only(seconds: int) -> None:
        panel.view.window_box.setCurrentIndex((300, 3600, DAY).index(seconds))
        panel.view.redraw()

    results = {}
    for seconds in (300, 3600, DAY):
        timings = {"ours": [], "baseline": [], "ours_data": []}
        runs = (("ours", ours), ("baseline", baseline), ("ours_data", ours_data_only))
        for _, fn in runs:
            fn(seconds)  # warm-up
        for _ in range(rounds):
            for name, fn in runs:  # interleaved
                started = time.perf_counter()
                fn(seconds)
                timings[name].append((time.perf_counter() - started) * 1000)
        results[str(seconds)] = {name: statistics.median(t) for name, t in timings.items()}
        results[str(seconds)]["points"] = int(
            sum(len(s.window(seconds, end)[0]) for s in data.values())
        )
    panel.shutdown()
    return results


def _child(*args: str) -> dict:
    run = subprocess.run(
        [sys.executable, __file__, "--child", *args], capture_output=True, text=True, cwd=ROOT
    )
    if run.returncode != 0:
        sys.exit(f"benchmark child {args} failed:\n{run.stderr}")
    return json.loads(run.stdout.strip().splitlines()[-1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--child", nargs="+", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        kind, *rest = args.child
        result = redraw_child(int(rest[0])) if kind == "redraw" else memory_child(kind)
        print(json.dumps(result))
        return

    ring = _child("ring buffers")
    deque_ = _child("deque of samples")
    redraw = _child("redraw", str(args.rounds))
    mib = 1024 * 1024
    lines = [
        "# Monitor benchmark",
        "",
        f"`.venv/bin/python tests/benchmarks/bench_monitor.py --rounds {args.rounds}`, "
        f"{time.strftime('%Y-%m-%d %H:%M')} UTC, commit {_commit()}.",
        "",
        "## 24 h of history at 1 s, one remote target (4 series)",
        "",
        "| storage | traced MiB | RSS growth MiB | points |",
        "|---|---:|---:|---:|",
    ]
    for name, row in (("ring buffers (ours)", ring), ("deque of Sample (baseline)", deque_)):
        lines.append(
            f"| {name} | {row['traced'] / mib:.1f} | {row['rss'] / mib:.1f} | {row['points']:,} |"
        )
    lines += [
        "",
        f"Ours / baseline: **{ring['traced'] / deque_['traced']:.3f}x** traced memory, "
        f"{ring['traced'] / mib / 4:.2f} MiB per series.",
        "",
        "## Redraw and paint, 3 targets x 2 series with 24 h each (median ms)",
        "",
        "| window | points shown | ours ms | of which data + setData | naive ms | ours / naive |",
        "|---|---:|---:|---:|---:|---:|",
    ]
    for seconds, label in ((300, "5 min"), (3600, "1 h"), (DAY, "24 h")):
        row = redraw[str(seconds)]
        lines.append(
            f"| {label} | {row['points']:,} | {row['ours']:.1f} | {row['ours_data']:.1f} | "
            f"{row['baseline']:.1f} | "
            f"{row['ours'] / row['baseline']:.2f}x |"
        )
    report = "\n".join(lines) + "\n"
    print(report)
    (HERE / "monitor.md").write_text(report)


def _commit() -> str:
    try:
        return subprocess.run(
            ["git", "rev-parse", "--short", "HEAD"], capture_output=True, text=True, cwd=ROOT
        ).stdout.strip()
    except OSError:
        return "unknown"


if __name__ == "__main__":
    main()
