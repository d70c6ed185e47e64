"""Render real screenshots of Fibuca Desktop for the README (offscreen; no display needed).

The real main window processes copies of the fixture photos with the real model, then each view
is grabbed to a PNG. Usage: .venv/bin/python scripts/render_screenshots.py [OUTPUT_FOLDER]
(default docs/screenshots). Run it after a visible change and commit the PNGs.
"""

from __future__ import annotations

import logging
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from urllib.request import urlopen

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")

from PySide6.QtCore import QEventLoop, QSettings
from PySide6.QtWidgets import QApplication

from fibuca_desktop.core.monitor.samples import HEAP_USED_MB, LAG_P99_MS, RESPONSE_MS, RSS_MB
from fibuca_desktop.core.monitor.targets import HEALTH, METRICS, MonitorTarget
from fibuca_desktop.core.settings import Settings
from fibuca_desktop.ui.log_pane import QtLogHandler
from fibuca_desktop.ui.main_window import MainWindow
from fibuca_desktop.ui.monitor.monitor_hub import MonitorHub
from fibuca_desktop.ui.process.editor.display import TINT
from fibuca_desktop.ui.process.preview import LOADED, SIDE_BY_SIDE, SLIDER
from fibuca_desktop.ui.process.process_panel import ProcessService

ROOT = Path(__file__).resolve().parents[1]
PHOTOS = ROOT / "tests" / "fixtures" / "photos"
SHOWN = ("cloth-1.jpg", "car-1.jpg", "girl-1.jpg", "anime-girl-1.jpg", "animal-2.jpg")


def wait_until(app: QApplication, condition) -> None:
    while not condition():
        app.processEvents(QEventLoop.ProcessEventsFlag.AllEvents, 50)


def process_shoot(
    app: QApplication, handler: QtLogHandler, settings: Settings, state_file: Path, shoot: Path
) -> MainWindow:
    """The real main window, 1100 x 700, once it has processed every photo of ``shoot``."""
    state = QSettings(str(state_file), QSettings.Format.IniFormat)
    window = MainWindow(settings, state, handler, ProcessService(settings), MonitorHub())
    window.resize(1100, 700)
    window.show()
    panel = window.process_panel
    panel.add_paths([shoot])
    panel.start()
    wait_until(app, lambda: not panel.busy)
    return window


def main(out_dir: Path) -> int:
    out_dir.mkdir(parents=True, exist_ok=True)
    app = QApplication(sys.argv[:1])
    handler = QtLogHandler()
    logging.getLogger().addHandler(handler)
    logging.getLogger().setLevel(logging.INFO)
    with tempfile.TemporaryDirectory(prefix="fibuca-shots-") as tmp:
        shoot = Path(tmp) / "new-arrivals"
        shoot.mkdir()
        for name in SHOWN:
            shutil.copy(PHOTOS / name, shoot / name)
        (shoot / "notes.txt").write_text("not a photo")
        (shoot / "copying.jpg").write_bytes((PHOTOS / "car-2.jpg").read_bytes()[:3000])
        window = process_shoot(app, handler, Settings(), Path(tmp) / "state.ini", shoot)
        panel = window.process_panel
        wait_until(
            app,
            lambda: all(i.thumbnail is not None for i in panel.model.items if i.status == "done"),
        )
        for mode, name in (
            (SLIDER, "process-tab-slider.png"),
            (SIDE_BY_SIDE, "process-tab-side-by-side.png"),
        ):
            panel.table.selectRow(0)
            panel.preview.set_mode(mode)
            wait_until(app, lambda: panel.preview.state == LOADED)
            app.processEvents()
            window.grab().save(str(out_dir / name))
            print(out_dir / name)
        render_editor(app, window, out_dir)
        panel.shutdown()
        window.monitor_panel.shutdown()
        render_profile(app, handler, Path(tmp), out_dir)
    render_monitor(app, handler, out_dir)
    return 0


def render_editor(app: QApplication, window: MainWindow, out_dir: Path) -> None:
    """The queue with the flagged photos first, and the editor fixing girl-1's lost arm."""
    panel = window.process_panel
    panel.flagged_first_box.setChecked(True)
    flagged = panel.model.flagged()
    panel.table.selectRow(0)
    wait_until(app, lambda: panel.preview.state == LOADED)
    window.grab().save(str(out_dir / "process-tab-check.png"))
    print(out_dir / "process-tab-check.png")
    dialog = panel.touch_up.edit(flagged[0].job_id)
    dialog.resize(1100, 760)
    wait_until(app, lambda: dialog.ready)
    dialog.set_view(TINT)
    app.processEvents()
    dialog.grab().save(str(out_dir / "editor.png"))
    print(out_dir / "editor.png")
    dialog.discard()
    dialog.close()


def render_profile(app: QApplication, handler: QtLogHandler, tmp: Path, out_dir: Path) -> None:
    """The queue exported for Amazon: every photo's preflight badge, one of them failing (a
    product cut off at the photo's edge cannot have the white frame)."""
    shoot = tmp / "for-amazon"
    shoot.mkdir()
    for name in ("car-2.jpg", "animal-1.jpg", "cloth-1.jpg", "plants-1.jpg"):
        shutil.copy(PHOTOS / name, shoot / name)
    settings = Settings()
    settings.processing.profile = "amazon"
    window = process_shoot(app, handler, settings, tmp / "state-profile.ini", shoot)
    panel = window.process_panel
    panel.table.selectRow(0)
    wait_until(app, lambda: panel.preview.state == LOADED)
    app.processEvents()
    window.grab().save(str(out_dir / "process-tab-amazon.png"))
    print(out_dir / "process-tab-amazon.png")
    panel.shutdown()
    window.monitor_panel.shutdown()


def render_monitor(app: QApplication, handler: QtLogHandler, out_dir: Path) -> None:
    """The Monitor tab watching a real Node server whose heap leaks towards Fibuca's levels."""
    node = subprocess.Popen(
        ["node", "--expose-gc", str(ROOT / "tests" / "monitor_server.js")],
        stdout=subprocess.PIPE,
        text=True,
    )
    base = f"http://127.0.0.1:{int(node.stdout.readline())}"
    try:
        with tempfile.TemporaryDirectory(prefix="fibuca-shots-") as tmp:
            settings = Settings()
            settings.monitor.targets += [
                MonitorTarget("backend", HEALTH, url=base + "/health"),
                MonitorTarget("backend metrics", METRICS, url=base + "/metrics?runtime=1"),
                MonitorTarget("staging", HEALTH, url="http://127.0.0.1:9/health"),
            ]
            settings.monitor.plotted = [HEAP_USED_MB, RSS_MB, RESPONSE_MS, LAG_P99_MS]
            state = QSettings(str(Path(tmp) / "state.ini"), QSettings.Format.IniFormat)
            window = MainWindow(settings, state, handler, ProcessService(settings), MonitorHub(0.5))
            window.resize(1100, 800)
            window.show()
            window.tabs.setCurrentWidget(window.monitor_panel)
            window.monitor_panel.select("backend")
            for step in range(40):  # a fast leak, to show in 40 s: 150 MB to about 370 MB of heap
                urlopen(f"{base}/heap?mb={150 + step * 5.6:.0f}", timeout=5).read()
                deadline = time.monotonic() + 1.0
                wait_until(app, lambda deadline=deadline: time.monotonic() > deadline)
            window.notice.hide()
            app.processEvents()  # let the layout take the hidden notice's space back
            window.grab().save(str(out_dir / "monitor-tab.png"))
            print(out_dir / "monitor-tab.png")
            window.close_without_asking()
    finally:
        node.kill()
        node.communicate()


if __name__ == "__main__":
    sys.exit(main(Path(sys.argv[1]) if len(sys.argv) > 1 else ROOT / "docs" / "screenshots"))
