"""The live memory graph: one curve per (target, metric), created once and then only ``setData``.

Cheap by construction (STYLE.md): 1-px pens, no antialiasing, no OpenGL, peak downsampling and
clip-to-view, so 24 h of 1 s samples per curve redraw in milliseconds. Gaps (DOWN, a metric the
target does not report) are NaN and show as breaks in the line.

Older than this session's samples (the 7 d and 30 d windows, or yesterday after a restart of the
app), the history on disk is drawn as minute **bands**: the minute's mean as the series' own
line, its min-max as a translucent band, so the GC floor and the peaks both stay visible.
"""

from __future__ import annotations

import math
from collections.abc import Mapping

import numpy as np
import pyqtgraph as pg
from PySide6.QtCore import Qt
from PySide6.QtGui import QColor
from PySide6.QtWidgets import QVBoxLayout, QWidget

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

PLOTTABLE = {
    HEAP_USED_MB: "heap used",
    HEAP_TOTAL_MB: "heap total",
    EXTERNAL_MB: "external",
    RSS_MB: "RSS",
    SYSTEM_AVAILABLE_MB: "system available",
}
"""The MB metrics the graph can show, with their legend names (percent is not MB)."""

TIMING = {
    RESPONSE_MS: "response",
    LAG_P99_MS: "loop lag p99",
    GC_MS_PER_S: "GC ms/s",
    LOOP_LATENCY_P95_MS: "loop latency p95",
}
"""The timing series (ms), drawn in a smaller plot below the memory one, same time axis."""

_STYLES = {
    HEAP_USED_MB: Qt.PenStyle.SolidLine,
    RSS_MB: Qt.PenStyle.DashLine,
    HEAP_TOTAL_MB: Qt.PenStyle.DotLine,
    EXTERNAL_MB: Qt.PenStyle.DashDotLine,
    SYSTEM_AVAILABLE_MB: Qt.PenStyle.DashDotDotLine,
    RESPONSE_MS: Qt.PenStyle.SolidLine,
    LAG_P99_MS: Qt.PenStyle.DashLine,
    GC_MS_PER_S: Qt.PenStyle.DotLine,
    LOOP_LATENCY_P95_MS: Qt.PenStyle.DashDotLine,
}
_TARGET_COLOURS = ("#1f77b4", "#2ca02c", "#9467bd", "#8c564b", "#e377c2", "#17becf", "#7f7f7f")
WARNING_COLOUR, CRITICAL_COLOUR = "#d98c00", "#d62728"
LEFT_AXIS_PX = 56
LABEL_PX = 18  # a level line's label, above the line
TIMING_MIN_PX = 120  # its legend (two columns) and a readable curve
NEAR_LEVELS = 0.6  # show the level lines once the data reaches 60% of the warning level
RESTART_COLOUR = "#455a64"
MAX_RESTART_LINES = 50  # a crash loop of hundreds draws the latest ones

BAND_ALPHA = 60  # of 255: the min-max band behind the mean line
GAP_S = 120.0  # minutes further apart than this (the app was closed) break the band

Series = tuple[np.ndarray, np.ndarray]  # epoch seconds, MB (NaN = gap)
Band = tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]  # minute starts, low, high, mean


class _BandItems:
    """One series' band: the mean line, two invisible edge curves and the fill between them."""

    def __init__(self, plot: pg.PlotWidget, pen: QColor, style: Qt.PenStyle) -> None:
        self.mean = pg.PlotCurveItem(pen=pg.mkPen(pen, width=1, style=style), connect="finite")
        self.low = pg.PlotCurveItem(pen=pg.mkPen(None), connect="finite")
        self.high = pg.PlotCurveItem(pen=pg.mkPen(None), connect="finite")
        fill = QColor(pen)
        fill.setAlpha(BAND_ALPHA)
        self.fill = pg.FillBetweenItem(self.low, self.high, brush=pg.mkBrush(fill))
        for item in (self.fill, self.low, self.high, self.mean):
            plot.addItem(item)  # PlotCurveItems are not listed in the legend
        self.fill.setZValue(-2)

    def set(self, band: Band | None) -> None:
        if band is None:
            empty = np.zeros(0)
            for curve in (self.low, self.high, self.mean):
                curve.setData(empty, empty)
            self.fill.setVisible(False)
            return
        times, low, high, mean = _with_gaps(*band)
        self.low.setData(times, low)
        self.high.setData(times, high)
        self.mean.setData(times, mean)
        self.fill.setVisible(True)

    def remove(self, plot: pg.PlotWidget) -> None:
        for item in (self.fill, self.low, self.high, self.mean):
            plot.removeItem(item)


class MemoryGraphWidget(QWidget):
    """A time-axis plot with a legend and the selected target's warning/critical lines."""

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        pg.setConfigOptions(antialias=False, useOpenGL=False)
        self.plot, self.legend = _plot("memoryPlot", "MB")
        # Response time, loop lag and GC time: their own axis in ms, shown while plotted.
        self.timing_plot, self.timing_legend = _plot("timingPlot", "ms", columns=2)
        self.timing_plot.setXLink(self.plot)
        self.timing_plot.hide()
        self.curves: dict[tuple[str, str], pg.PlotDataItem] = {}
        self.bands: dict[tuple[str, str], _BandItems] = {}
        self._colours: dict[str, str] = {}
        self.warning_line = self._threshold_line(WARNING_COLOUR)
        self.critical_line = self._threshold_line(CRITICAL_COLOUR)
        self.x_range: tuple[float, float] = (0.0, 1.0)
        self.restart_lines: list[pg.InfiniteLine] = []  # reused; the extra ones hidden
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.setSpacing(2)
        self.timing_plot.setMinimumHeight(TIMING_MIN_PX)
        layout.addWidget(self.plot, 2)
        layout.addWidget(self.timing_plot, 1)

    def _threshold_line(self, colour: str) -> pg.InfiniteLine:
        line = pg.InfiniteLine(
            angle=0,
            movable=False,
            pen=pg.mkPen(colour, width=1, style=Qt.PenStyle.DashLine),
            label="",
            labelOpts={"position": 0.99, "color": colour, "anchors": [(1, 1), (1, 1)]},
        )
        line.setZValue(-10)
        line.hide()
        self.plot.addItem(line, ignoreBounds=True)
        return line

    def colour_for(self, target: str) -> str:
        if target not in self._colours:
            used = set(self._colours.values())
            free = [c for c in _TARGET_COLOURS if c not in used]
            self._colours[target] = free[0] if free else _TARGET_COLOURS[len(self._colours) % 7]
        return self._colours[target]

    def curve(self, target: str, metric: str) -> pg.PlotDataItem:
        """The curve of one series, created (with its legend entry) the first time only."""
        key = (target, metric)
        if key not in self.curves:
            pen = pg.mkPen(QColor(self.colour_for(target)), width=1, style=_STYLES[metric])
            label = PLOTTABLE.get(metric) or TIMING[metric]
            curve = pg.PlotDataItem(pen=pen, name=f"{target} · {label}")
            curve.setDownsampling(auto=True, method="peak")
            curve.setClipToView(True)
            plot, legend = self._plot_for(metric)
            plot.addItem(curve)  # also lists it in the legend
            curve.setVisible(False)
            legend.removeItem(curve)  # _show lists it while it has data
            self.curves[key] = curve
        return self.curves[key]

    def _plot_for(self, metric: str) -> tuple[pg.PlotWidget, pg.LegendItem]:
        if metric in TIMING_SERIES:
            return self.timing_plot, self.timing_legend
        return self.plot, self.legend

    def forget_target(self, target: str) -> None:
        """Remove a target's curves and legend entries (it was removed from the monitor)."""
        for key in [key for key in self.curves if key[0] == target]:
            curve = self.curves.pop(key)
            plot, legend = self._plot_for(key[1])
            legend.removeItem(curve)
            plot.removeItem(curve)
        for key in [key for key in self.bands if key[0] == target]:
            self.bands.pop(key).remove(self._plot_for(key[1])[0])
        self._colours.pop(target, None)

    def show_window(
        self,
        start: float,
        end: float,
        series: Mapping[tuple[str, str], Series],
        thresholds: tuple[float, float] | None,
        bands: Mapping[tuple[str, str], Band] | None = None,
    ) -> None:
        """Show ``series`` between epoch seconds ``start`` and ``end``; hide the other curves.

        ``bands`` are the stored minute bands of the same (target, metric) keys, drawn before
        the live series begin. The y axis starts at 0 (memory is read against zero).
        ``thresholds`` (warning, critical) are the selected target's levels.
        """
        tops = self._show_bands(bands or {})
        shown = set()
        for key, (times, values) in series.items():
            if not values.size or np.isnan(values).all():
                continue  # nothing to draw (a DOWN target): no line, no legend entry
            curve = self.curve(*key)
            curve.setData(times, values)
            self._show(curve, True)
            shown.add(key)
            timing = key[1] in TIMING_SERIES
            tops[timing] = max(tops[timing], float(np.nanmax(values)))
        top = tops[False]
        timed = any(key[1] in TIMING_SERIES for key in shown) or tops[True] > 0
        self.timing_plot.setVisible(timed)
        # One time scale under both plots: the memory plot's labels go while the timing plot
        # (x-linked, the same axis width) shows them; its grid lines stay.
        self.plot.getPlotItem().getAxis("bottom").setStyle(showValues=not timed)
        if timed:
            self.timing_plot.setYRange(0, _nice_top(max(tops[True], 1.0) * 1.08), padding=0)
        for key, curve in self.curves.items():
            if key not in shown:
                curve.setData([], [])
                self._show(curve, False)
        lines = (self.warning_line, self.critical_line)
        # The levels join the view once the data gets within reach of them; until then they
        # would squash a 40 MB curve against a 1,500 MB scale.
        if thresholds is not None and top >= NEAR_LEVELS * thresholds[0]:
            for line, level, name in zip(lines, thresholds, ("warning", "critical"), strict=True):
                line.setValue(level)
                line.label.setFormat(f"{name} {level:g} MB")
                line.show()
            # room above the critical line for its label, however short the plot is
            room = LABEL_PX / max(60, self.plot.getPlotItem().vb.height())
            top = max(top, thresholds[1] * (1 + room) / 1.08)
        else:
            for line in lines:
                line.hide()
        top = _nice_top(top * 1.08 if top > 0 else 100.0)
        self.x_range = (start, end)
        self.plot.setXRange(start, end, padding=0)
        self.plot.setYRange(0, top, padding=0)

    def _show_bands(self, bands: Mapping[tuple[str, str], Band]) -> dict[bool, float]:
        """Set the bands' data, hide the others; the highest value shown in the memory plot
        (key False) and in the timing plot (True), for their y axes."""
        tops = {False: 0.0, True: 0.0}
        for key, band in bands.items():
            if not band[0].size or np.isnan(band[2]).all():
                continue
            if key not in self.bands:
                pen = QColor(self.colour_for(key[0]))
                plot = self._plot_for(key[1])[0]
                self.bands[key] = _BandItems(plot, pen, _STYLES[key[1]])
            self.bands[key].set(band)
            timing = key[1] in TIMING_SERIES
            tops[timing] = max(tops[timing], float(np.nanmax(band[2])))
        for key, items in self.bands.items():
            if key not in bands or not bands[key][0].size:
                items.set(None)
        return tops

    def show_restarts(self, restarts: list[tuple[float, str]]) -> None:
        """A dotted vertical line with the target's name at each restart (time, target) in
        view: the memory after it belongs to a new process."""
        start, end = self.x_range
        shown = [(t, name) for t, name in restarts if start <= t <= end][-MAX_RESTART_LINES:]
        while len(self.restart_lines) < len(shown):
            line = pg.InfiniteLine(
                angle=90,
                movable=False,
                pen=pg.mkPen(RESTART_COLOUR, width=1, style=Qt.PenStyle.DotLine),
                label="",
                labelOpts={"position": 0.95, "color": RESTART_COLOUR, "rotateAxis": (1, 0)},
            )
            line.setZValue(-5)
            self.plot.addItem(line, ignoreBounds=True)
            self.restart_lines.append(line)
        for index, line in enumerate(self.restart_lines):
            if index < len(shown):
                time, name = shown[index]
                line.setValue(time)
                line.label.setFormat(f"{name} restarted")
                line.show()
            else:
                line.hide()

    def _show(self, curve: pg.PlotDataItem, visible: bool) -> None:
        legend = self.timing_legend if curve.getViewBox() is self._timing_box() else self.legend
        listed = any(sample.item is curve for sample, _ in legend.items)
        if visible and not listed:
            legend.addItem(curve, curve.name())
        elif not visible and listed:
            legend.removeItem(curve)
        curve.setVisible(visible)

    def _timing_box(self) -> pg.ViewBox:
        return self.timing_plot.getPlotItem().getViewBox()

    def set_interactive(self, interactive: bool) -> None:
        """Pan and zoom with the mouse only while paused; live, the window scrolls itself."""
        self.plot.setMouseEnabled(x=interactive, y=interactive)
        self.timing_plot.setMouseEnabled(x=interactive, y=interactive)


def _plot(name: str, unit: str, columns: int = 1) -> tuple[pg.PlotWidget, pg.LegendItem]:
    """A white time-axis plot with a light grid and a legend (in ``columns``), no menu or
    buttons."""
    plot = pg.PlotWidget(axisItems={"bottom": pg.DateAxisItem()}, background="w")
    plot.setObjectName(name)
    item = plot.getPlotItem()
    item.showGrid(x=True, y=True, alpha=0.15)
    item.setLabel("left", unit)
    item.getAxis("left").setWidth(LEFT_AXIS_PX)  # the same in both plots, so times line up
    item.setMenuEnabled(False)
    item.hideButtons()
    legend = item.addLegend(
        offset=(8, 8),
        labelTextColor="#333",
        brush=pg.mkBrush(255, 255, 255, 210),
        colCount=columns,
    )
    return plot, legend


def _with_gaps(times: np.ndarray, *columns: np.ndarray) -> tuple[np.ndarray, ...]:
    """Insert a NaN row where bands are more than ``GAP_S`` (or 2.5 bands) apart, so lines and
    the band break where the app was closed instead of bridging the hours."""
    steps = np.diff(times)
    if not steps.size:
        return (times, *columns)
    step = float(np.median(steps))  # 60 s, or wider where the bands were merged for drawing
    gaps = np.flatnonzero(steps > max(GAP_S, 2.5 * step)) + 1
    if not gaps.size:
        return (times, *columns)
    times = np.insert(times.astype(np.float64), gaps, times[gaps - 1] + step)
    return (times, *(np.insert(c.astype(np.float64), gaps, np.nan) for c in columns))


def _nice_top(value: float) -> float:
    """Round up to a round number (1, 1.5, 2, 2.5 ... x 10^n), so the axis does not jitter."""
    exponent = 10 ** math.floor(math.log10(value))
    for step in (1, 1.5, 2, 2.5, 3, 4, 5, 6, 8, 10):
        if value <= step * exponent:
            return step * exponent
    return 10 * exponent
