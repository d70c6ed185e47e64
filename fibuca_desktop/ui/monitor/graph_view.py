"""The Monitor tab's graph with its controls: window, series, pause, CSV export of what is shown.

Redraws happen at most every ``REDRAW_MS``, only when new samples arrived (``mark_dirty``), and
only while visible and not paused. pyqtgraph is imported the first time the view is shown, so
start-up does not pay it.

The live part of a window comes from the RAM history; what lies before this session's first
sample (7 d, 30 d, or yesterday after the app restarted) from the history on disk, as minute
bands read on a thread of their own (30 days take about a third of a second) and kept for
``STORED_REFRESH_S``: a window of days gains one band per minute.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from datetime import datetime
from pathlib import Path

from PySide6.QtCore import QTimer, Signal
from PySide6.QtGui import QAction
from PySide6.QtWidgets import (
    QComboBox,
    QFileDialog,
    QHBoxLayout,
    QLabel,
    QMenu,
    QPushButton,
    QToolButton,
    QVBoxLayout,
    QWidget,
)

from fibuca_desktop.core.errors import OutputError
from fibuca_desktop.core.monitor.history_bands import MINUTE, MinuteBands, reduce_bands
from fibuca_desktop.core.monitor.history_key import target_key
from fibuca_desktop.core.monitor.samples import (
    EXTERNAL_MB,
    GC_MS_PER_S,
    HEAP_TOTAL_MB,
    HEAP_USED_MB,
    LAG_P99_MS,
    LOOP_LATENCY_P95_MS,
    RESPONSE_MS,
    RSS_MB,
    SYSTEM_AVAILABLE_MB,
    TIMING_SERIES,
)
from fibuca_desktop.core.monitor.targets import WINDOWS_S, MonitorSettings, MonitorTarget
from fibuca_desktop.ui.monitor.monitor_hub import MonitorHub

log = logging.getLogger(__name__)

REDRAW_MS = 250
MAX_RESTARTS_KEPT = 500  # restart markers remembered (all targets)
WINDOW_LABELS = {300: "5 min", 3600: "1 h", 86_400: "24 h", 604_800: "7 d", 2_592_000: "30 d"}
STORED_REFRESH_S = 30.0  # stored bands are read again after this long (live windows move)
MIN_STORED_S = 120.0  # a stored part shorter than this (two minute bands) is not read
MAX_BAND_POINTS = 2000  # stored bands per series drawn: 30 days become 22-minute bands
SERIES_LABELS = {
    HEAP_USED_MB: "Heap used",
    HEAP_TOTAL_MB: "Heap total",
    EXTERNAL_MB: "External",
    RSS_MB: "RSS",
    SYSTEM_AVAILABLE_MB: "System available",
    RESPONSE_MS: "Response time (ms)",
    LAG_P99_MS: "Event-loop lag p99 (ms)",
    GC_MS_PER_S: "GC time (ms per s)",
    LOOP_LATENCY_P95_MS: "Event-loop latency p95, PM2 (ms)",
}


class GraphViewWidget(QWidget):
    """Draws every watched target's chosen series; levels and export follow the selected one."""

    redrawn = Signal()  # after each graph redraw (tests and the benchmark wait on it)

    def __init__(
        self,
        hub: MonitorHub,
        monitor: MonitorSettings,
        selected_target: Callable[[], MonitorTarget | None],
        show_message: Callable[[str], None],
        parent: QWidget | None = None,
    ) -> None:
        super().__init__(parent)
        self.hub = hub
        self.monitor = monitor
        self._selected_target = selected_target
        self._show_message = show_message
        self.graph = None  # MemoryGraphWidget, created on first show
        self.paused_at: float | None = None
        self.restarts: list[tuple[float, str]] = []  # (time, target) of each restart seen
        self._dirty = True
        # Stored minute bands per target name, for the request they answer, read on _reader.
        self.stored: dict[str, MinuteBands] = {}
        self._stored_request: tuple | None = None
        self._stored_at = -float("inf")
        self._loading: Future | None = None
        self._reader = ThreadPoolExecutor(1, thread_name_prefix="history-read")
        self._build()
        self._timer = QTimer(self)
        self._timer.setInterval(REDRAW_MS)
        self._timer.timeout.connect(self._maybe_redraw)
        self._timer.start()

    def _build(self) -> None:
        self.window_box = QComboBox()
        self.window_box.setObjectName("windowBox")
        for seconds in WINDOWS_S:
            self.window_box.addItem(WINDOW_LABELS[seconds], seconds)
        self.window_box.setCurrentIndex(WINDOWS_S.index(self.monitor.window_s))
        self.window_box.currentIndexChanged.connect(self._window_changed)
        self.series_button = QToolButton()
        self.series_button.setText("Series ▾")
        self.series_button.setToolTip("Which memory figures the graph shows")
        self.series_button.setStyleSheet("QToolButton::menu-indicator { image: none; }")
        self.series_button.setPopupMode(QToolButton.ToolButtonPopupMode.InstantPopup)
        menu = QMenu(self.series_button)
        self.series_actions: dict[str, QAction] = {}
        for metric, label in SERIES_LABELS.items():
            if metric == TIMING_SERIES[0]:
                menu.addSeparator()  # below: the timing plot, in ms
            action = menu.addAction(label)
            action.setCheckable(True)
            action.setChecked(metric in self.monitor.plotted)
            action.toggled.connect(self._series_changed)
            self.series_actions[metric] = action
        self.series_button.setMenu(menu)
        self.pause_button = QPushButton("Pause")
        self.pause_button.setCheckable(True)
        self.pause_button.toggled.connect(self.set_paused)
        self.export_button = QPushButton("Export CSV…")
        self.export_button.clicked.connect(self.ask_export_csv)
        self.history_label = QLabel("")
        self.history_label.setObjectName("historyLabel")
        self.history_label.setStyleSheet("color: #666;")
        controls = QHBoxLayout()
        controls.addWidget(QLabel("Show"))
        controls.addWidget(self.window_box)
        controls.addWidget(self.series_button)
        controls.addWidget(self.history_label)
        controls.addStretch(1)
        controls.addWidget(self.pause_button)
        controls.addWidget(self.export_button)
        self.graph_holder = QVBoxLayout()
        self.graph_holder.setContentsMargins(0, 0, 0, 0)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addLayout(controls)
        layout.addLayout(self.graph_holder, 1)

    def showEvent(self, event) -> None:
        if self.graph is None:
            from fibuca_desktop.ui.monitor.memory_graph import MemoryGraphWidget  # pyqtgraph

            self.graph = MemoryGraphWidget()
            self.graph_holder.addWidget(self.graph)
            self._dirty = True
        super().showEvent(event)
        QTimer.singleShot(0, self._maybe_redraw)

    @property
    def window_s(self) -> int:
        return self.window_box.currentData()

    def _window_changed(self) -> None:
        self.monitor.window_s = self.window_s
        self.mark_dirty()

    def _series_changed(self) -> None:
        self.monitor.plotted = [m for m, a in self.series_actions.items() if a.isChecked()]
        self.mark_dirty()

    def set_paused(self, paused: bool) -> None:
        """Freeze the graph (sampling goes on); resuming jumps back to live."""
        self.paused_at = time.time() if paused else None
        self.pause_button.blockSignals(True)  # called by the button, or directly
        self.pause_button.setChecked(paused)
        self.pause_button.blockSignals(False)
        self.pause_button.setText("Resume" if paused else "Pause")
        if self.graph is not None:
            self.graph.set_interactive(paused)
        self.redraw()

    def mark_dirty(self) -> None:
        self._dirty = True

    def mark_restart(self, name: str, time: float) -> None:
        """Draw a restart of target ``name`` at ``time`` (epoch seconds) from now on."""
        self.restarts.append((time, name))
        del self.restarts[:-MAX_RESTARTS_KEPT]
        self.mark_dirty()

    def forget_target(self, name: str) -> None:
        if self.graph is not None:
            self.graph.forget_target(name)
        self.restarts = [(t, n) for t, n in self.restarts if n != name]
        self.mark_dirty()

    def _maybe_redraw(self) -> None:
        if self._loading is not None and self._loading.done():
            self._take_stored()
        if self._dirty and self.paused_at is None and self.isVisible():
            self.redraw()

    def shown_end(self) -> float:
        """The right edge of what the graph shows: now, or the moment of pausing."""
        return self.paused_at if self.paused_at is not None else time.time()

    def redraw(self) -> None:
        if self.graph is None:
            return
        self._dirty = False
        end, seconds = self.shown_end(), self.window_s
        series = {}
        live_from: dict[str, float] = {}  # per target: its first RAM sample in the window
        for name, poller in self.hub.pollers.items():
            for metric in self.monitor.plotted:
                history = poller.history.series.get(metric)
                if history is not None and len(history):
                    times, values = history.window(seconds, end)
                    series[(name, metric)] = times, values
                    if times.size:
                        live_from[name] = min(live_from.get(name, end), float(times[0]))
        self._ask_stored(end, seconds, live_from)
        bands = {}
        for name, minutes in self.stored.items():
            cut = live_from.get(name, end)
            keep = minutes.times <= cut - 60.0  # the view clips the left edge itself
            for metric in self.monitor.plotted:
                if metric in minutes.mean and keep.any():
                    bands[(name, metric)] = tuple(
                        column[keep]
                        for column in (
                            minutes.times,
                            minutes.low[metric],
                            minutes.high[metric],
                            minutes.mean[metric],
                        )
                    )
        target = self._selected_target()
        levels = None if target is None else (target.warning_mb, target.critical_mb)
        self.graph.show_window(end - seconds, end, series, levels, bands)
        self.graph.show_restarts(self.restarts)
        self.redrawn.emit()

    # The history on disk: what the window shows before this session's samples.

    def _ask_stored(self, end: float, seconds: float, live_from: dict[str, float]) -> None:
        """Start reading the stored bands this window needs, unless they are fresh or on the
        way; the result is taken by ``_maybe_redraw`` and drawn at the next redraw."""
        store = self.hub.history
        if store is None or not store.usable:
            return
        wanted = {}
        for name, target in self.hub.targets.items():
            until = live_from.get(name, end)
            if until - (end - seconds) >= MIN_STORED_S:
                wanted[name] = (target_key(target), end - seconds, until)
        request = (seconds, self.paused_at, tuple(sorted((n, w[0]) for n, w in wanted.items())))
        fresh = time.monotonic() - self._stored_at < STORED_REFRESH_S
        if self._loading is not None or (request == self._stored_request and fresh):
            return
        if not wanted:
            self.stored, self._stored_request = {}, request
            return
        self._stored_request, self._stored_at = request, time.monotonic()
        self.history_label.setText(f"reading {WINDOW_LABELS.get(seconds, '')} of history…")

        def read() -> dict[str, MinuteBands]:
            return {
                name: reduce_bands(
                    store.load(key, since, until, resolution=MINUTE).minutes, MAX_BAND_POINTS
                )
                for name, (key, since, until) in wanted.items()
            }

        self._loading = self._reader.submit(read)

    def _take_stored(self) -> None:
        loading, self._loading = self._loading, None
        self.history_label.setText("")
        try:
            self.stored = loading.result()
        except Exception as error:  # load() never raises for a bad file; anything else is a bug
            log.warning("monitor history: could not be read: %s", error)
            log.debug("monitor history: read failed", exc_info=True)
            self.stored = {}
        self.mark_dirty()

    def ask_export_csv(self) -> None:
        target = self._selected_target()
        if target is None:
            self._show_message("Add a target first: there is nothing to export.")
            return
        safe = "".join(c if c.isalnum() or c in "-_" else "-" for c in target.name)
        default = Path.home() / f"fibuca-{safe}-{datetime.now():%Y%m%d-%H%M}.csv"
        path, _ = QFileDialog.getSaveFileName(self, "Export CSV", str(default), "CSV (*.csv)")
        if path:
            self.export_csv(path)

    def export_csv(self, path: str | Path) -> int | None:
        """Write the selected target's shown window to ``path``; the number of rows, or None."""
        target = self._selected_target()
        if target is None:
            return None
        history = self.hub.pollers[target.name].history
        end, seconds = self.shown_end(), self.window_s
        store = self.hub.history
        first = history.first_time()
        try:
            if store is not None and store.usable and (first is None or first > end - seconds):
                # The window reaches past this session: the file has it all, minute bands
                # (with their min and max) before 24 h ago, raw samples after.
                store.flush(timeout_s=5.0)
                rows = store.export_csv(target_key(target), path, end - seconds, end)
            else:
                rows = history.to_csv(path, seconds, now=end)
        except OutputError as error:
            self._show_message(str(error))
            return None
        self._show_message(f"Exported {rows} samples of {target.name} to {path}.")
        return rows

    def stop(self) -> None:
        self._timer.stop()
        self._reader.shutdown(wait=False, cancel_futures=True)
