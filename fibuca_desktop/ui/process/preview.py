"""Before/after preview of one photo and its cut-out: side by side, or split by a slider.

Decoding and downsizing run on the image pool (QImage is safe off the GUI thread, QPixmap is not);
the GUI thread only paints the small QImages it receives through a queued signal.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path

from PySide6.QtCore import QObject, QPoint, QRect, QRunnable, QSize, Qt, QThreadPool, Signal, Slot
from PySide6.QtGui import QBrush, QColor, QImage, QMouseEvent, QPainter, QPaintEvent, QPen, QPixmap
from PySide6.QtWidgets import QComboBox, QHBoxLayout, QLabel, QSlider, QVBoxLayout, QWidget

from fibuca_desktop.core.errors import ImageRejected
from fibuca_desktop.core.imaging.decode import Limits
from fibuca_desktop.core.imaging.preview_images import load_preview

log = logging.getLogger(__name__)

EMPTY, LOADING, LOADED, NO_CUTOUT, ERROR = "empty", "loading", "loaded", "no cut-out", "error"
SIDE_BY_SIDE, SLIDER = "Side by side", "Slider"
EMPTY_TEXT = "Select a photo to preview it"
LOADING_TEXT = "Loading preview…"
NO_CUTOUT_TEXT = "No cut-out yet"
CHECKER_LIGHT, CHECKER_DARK = QColor("#ffffff"), QColor("#d6d6d6")
_CHECKER_SQUARE = 12
_GAP = 8
_SPLIT_STEPS = 1000


@dataclass
class _Loaded:
    original: QImage | None = None
    cutout: QImage | None = None
    error: str = ""


class _PreviewSignals(QObject):
    """Lives on the GUI thread; emitted from the worker, so the connection is queued."""

    finished = Signal(int, object)  # request id, _Loaded


def _load_qimage(path: Path, limits: Limits) -> QImage:
    image = load_preview(path, limits)  # RGB or RGBA, at most PREVIEW_MAX_SIDE
    alpha = image.mode == "RGBA"
    data = image.tobytes()
    source_format = QImage.Format.Format_RGBA8888 if alpha else QImage.Format.Format_RGB888
    wrapped = QImage(data, image.width, image.height, image.width * len(image.mode), source_format)
    # A new format is a deep copy, independent of ``data``, and the fastest to paint.
    paint_format = (
        QImage.Format.Format_ARGB32_Premultiplied if alpha else QImage.Format.Format_RGB32
    )
    return wrapped.convertToFormat(paint_format)


class _PreviewRunnable(QRunnable):
    """Decodes one photo and its cut-out; reports a _Loaded, never raises or touches widgets."""

    def __init__(
        self,
        request_id: int,
        original: Path,
        cutout: Path | None,
        limits: Limits,
        signals: _PreviewSignals,
    ) -> None:
        super().__init__()
        self.setAutoDelete(False)  # the widget keeps it until it reports, so tryTake is safe
        self.request_id, self._original, self._cutout = request_id, original, cutout
        self._limits, self._signals = limits, signals

    def run(self) -> None:
        loaded = _Loaded()
        try:
            loaded.original = _load_qimage(self._original, self._limits)
            if self._cutout is not None:
                loaded.cutout = _load_qimage(self._cutout, self._limits)
        except ImageRejected as error:
            loaded.error = str(error)
        except Exception as error:  # a preview must never take the app down
            log.exception("preview of %s failed", self._original)
            loaded.error = f"Cannot preview {self._original.name}: {error}"
        self._signals.finished.emit(self.request_id, loaded)


def _fit(size: QSize, area: QRect) -> QRect:
    """The largest rect with ``size``'s aspect ratio inside ``area``, centred."""
    scale = min(area.width() / size.width(), area.height() / size.height())
    width, height = max(1, round(size.width() * scale)), max(1, round(size.height() * scale))
    left = area.left() + (area.width() - width) // 2
    return QRect(left, area.top() + (area.height() - height) // 2, width, height)


class _PreviewCanvas(QWidget):
    """Paints what CutoutPreviewWidget gives it; in slider mode a drag moves the split."""

    split_dragged = Signal(float)  # 0.0 (all cut-out) .. 1.0 (all original)

    def __init__(self, parent: QWidget) -> None:
        super().__init__(parent)
        self.setMinimumSize(240, 160)
        self.original: QImage | None = None
        self.cutout: QImage | None = None
        self.text, self.mode, self.split = EMPTY_TEXT, SIDE_BY_SIDE, 0.5
        square = _CHECKER_SQUARE
        tile = QPixmap(2 * square, 2 * square)
        tile.fill(CHECKER_LIGHT)
        with QPainter(tile) as painter:
            painter.fillRect(0, 0, square, square, CHECKER_DARK)
            painter.fillRect(square, square, square, square, CHECKER_DARK)
        self._checker = QBrush(tile)

    def _text_rect(self) -> QRect:
        if self.original is None:
            return self.rect()
        flags = Qt.AlignmentFlag.AlignCenter | Qt.TextFlag.TextWordWrap
        bounds = self.fontMetrics().boundingRect(
            QRect(0, 0, self.width() - 16, 10_000), flags, self.text
        )
        height = bounds.height() + 12 if self.text else 0
        return QRect(0, self.height() - height, self.width(), height)

    def image_rects(self) -> tuple[QRect | None, QRect | None]:
        """Where the original and the cut-out are drawn, in this widget's coordinates."""
        if self.original is None:
            return None, None
        area = self.rect().adjusted(4, 4, -4, -4)
        area.setBottom(min(area.bottom(), self._text_rect().top() - 1))
        if self.cutout is None:
            return _fit(self.original.size(), area), None
        if self.mode == SLIDER:
            return _fit(self.original.size(), area), _fit(self.cutout.size(), area)
        half = (area.width() - _GAP) // 2
        left, right = QRect(area.left(), area.top(), half, area.height()), QRect(area)
        right.setLeft(area.right() - half + 1)
        return _fit(self.original.size(), left), _fit(self.cutout.size(), right)

    def _slider_area(self) -> QRect | None:
        """In slider mode with both images: the area the split runs across."""
        original_rect, cutout_rect = self.image_rects()
        if self.mode != SLIDER or cutout_rect is None:
            return None
        return original_rect.united(cutout_rect)

    def split_x(self) -> int | None:
        """The first column showing the cut-out in slider mode."""
        whole = self._slider_area()
        return None if whole is None else whole.left() + round(self.split * whole.width())

    def paintEvent(self, event: QPaintEvent) -> None:
        with QPainter(self) as painter:
            painter.setRenderHint(QPainter.RenderHint.SmoothPixmapTransform)
            original_rect, cutout_rect = self.image_rects()
            whole, split = self._slider_area(), self.split_x()
            if original_rect is not None:
                if whole is not None:
                    painter.setClipRect(QRect(whole.topLeft(), QPoint(split - 1, whole.bottom())))
                painter.drawImage(original_rect, self.original)
            if cutout_rect is not None:
                if whole is not None:
                    painter.setClipRect(QRect(QPoint(split, whole.top()), whole.bottomRight()))
                self._draw_cutout(painter, cutout_rect)
            painter.setClipping(False)
            if whole is not None:
                painter.setPen(QPen(self.palette().highlight().color(), 2))
                painter.drawLine(split, whole.top(), split, whole.bottom())
            if self.text:
                painter.setPen(self.palette().placeholderText().color())
                flags = Qt.AlignmentFlag.AlignCenter | Qt.TextFlag.TextWordWrap
                painter.drawText(self._text_rect().adjusted(8, 0, -8, 0), flags, self.text)

    def _draw_cutout(self, painter: QPainter, rect: QRect) -> None:
        if self.cutout.hasAlphaChannel():  # a JPEG cut-out has none and is simply drawn opaque
            painter.setBrushOrigin(rect.topLeft())
            painter.fillRect(rect, self._checker)
        painter.drawImage(rect, self.cutout)

    def mousePressEvent(self, event: QMouseEvent) -> None:
        self.mouseMoveEvent(event)

    def mouseMoveEvent(self, event: QMouseEvent) -> None:
        whole = self._slider_area()
        if whole is not None and event.buttons() & Qt.MouseButton.LeftButton:
            fraction = (event.position().x() - whole.left()) / max(1, whole.width())
            self.split_dragged.emit(min(1.0, max(0.0, fraction)))


class CutoutPreviewWidget(QWidget):
    """Shows one photo and its cut-out; loads on ``pool`` and ignores results of older requests."""

    state_changed = Signal(str)  # EMPTY, LOADING, LOADED, NO_CUTOUT or ERROR

    def __init__(
        self, pool: QThreadPool, parent: QWidget | None = None, *, limits: Limits | None = None
    ) -> None:
        super().__init__(parent)
        self.setObjectName("cutoutPreview")
        self._pool, self._limits = pool, limits or Limits()
        self._signals = _PreviewSignals()  # no parent: a late report after close finds it alive
        self._signals.finished.connect(self._on_loaded)
        self._request_id = 0
        self._in_flight: dict[int, _PreviewRunnable] = {}
        self._state = EMPTY
        self.mode_combo = QComboBox()
        self.mode_combo.addItems([SIDE_BY_SIDE, SLIDER])
        self.mode_combo.currentTextChanged.connect(self._mode_changed)
        self.canvas = _PreviewCanvas(self)
        self.split_slider = QSlider(Qt.Orientation.Horizontal)
        self.split_slider.setRange(0, _SPLIT_STEPS)
        self.split_slider.setValue(_SPLIT_STEPS // 2)
        self.split_slider.setToolTip("Left: original, right: cut-out")
        self.split_slider.valueChanged.connect(self._split_changed)
        policy = self.split_slider.sizePolicy()
        policy.setRetainSizeWhenHidden(True)  # switching modes must not resize the images
        self.split_slider.setSizePolicy(policy)
        self.split_slider.hide()
        self.canvas.split_dragged.connect(
            lambda f: self.split_slider.setValue(round(f * _SPLIT_STEPS))
        )
        top = QHBoxLayout()
        top.addWidget(QLabel("Preview:"))
        top.addWidget(self.mode_combo)
        top.addStretch(1)
        layout = QVBoxLayout(self)
        layout.addLayout(top)
        layout.addWidget(self.canvas, 1)
        layout.addWidget(self.split_slider)

    @property
    def state(self) -> str:
        return self._state

    @property
    def message(self) -> str:
        """The text shown in the preview (empty when both images are shown)."""
        return self.canvas.text

    @property
    def mode(self) -> str:
        return self.mode_combo.currentText()

    def set_mode(self, mode: str) -> None:
        """SIDE_BY_SIDE or SLIDER."""
        self.mode_combo.setCurrentText(mode)

    def show_pair(self, original: Path, cutout: Path | None) -> None:
        """Load ``original`` and its ``cutout`` (None: not made yet) off the GUI thread."""
        self._drop_queued()
        self._request_id += 1
        runnable = _PreviewRunnable(self._request_id, original, cutout, self._limits, self._signals)
        self._in_flight[self._request_id] = runnable
        self._show(LOADING, None, None, LOADING_TEXT)
        self._pool.start(runnable)

    def clear(self) -> None:
        """Back to the empty state; a load still running is ignored when it reports."""
        self._drop_queued()
        self._request_id += 1
        self._show(EMPTY, None, None, EMPTY_TEXT)

    def _drop_queued(self) -> None:
        for request_id, runnable in list(self._in_flight.items()):
            if self._pool.tryTake(runnable):  # never started: it will never report
                del self._in_flight[request_id]

    @Slot(int, object)
    def _on_loaded(self, request_id: int, loaded: _Loaded) -> None:
        self._in_flight.pop(request_id, None)
        if request_id != self._request_id:  # the user selected another row meanwhile
            return
        if loaded.error:
            self._show(ERROR, loaded.original, None, loaded.error)
        elif loaded.cutout is None:
            self._show(NO_CUTOUT, loaded.original, None, NO_CUTOUT_TEXT)
        else:
            self._show(LOADED, loaded.original, loaded.cutout, "")

    def _show(self, state: str, original: QImage | None, cutout: QImage | None, text: str) -> None:
        self.canvas.original, self.canvas.cutout, self.canvas.text = original, cutout, text
        sliding = self.mode == SLIDER and cutout is not None
        self.canvas.setCursor(
            Qt.CursorShape.SplitHCursor if sliding else Qt.CursorShape.ArrowCursor
        )
        self.split_slider.setEnabled(cutout is not None)
        self.canvas.update()
        if state != self._state:
            self._state = state
            self.state_changed.emit(state)

    @Slot(str)
    def _mode_changed(self, mode: str) -> None:
        self.canvas.mode = mode
        self.split_slider.setVisible(mode == SLIDER)
        self._show(self._state, self.canvas.original, self.canvas.cutout, self.canvas.text)

    @Slot(int)
    def _split_changed(self, value: int) -> None:
        self.canvas.split = value / _SPLIT_STEPS
        self.canvas.update()
