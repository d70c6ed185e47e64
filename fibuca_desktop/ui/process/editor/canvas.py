"""The editor's canvas: zoom, pan, and the brush that paints on screen at once.

A stroke is drawn on a screen-sized overlay as the mouse moves, with a pen whose texture is the
very view it will produce (the photo for Keep, the background for Remove), so the preview is
what the edit will look like; the full-resolution stroke is applied off the GUI thread when the
button is released (``stroke_finished``), and the overlay stays until the result is shown.
"""

from __future__ import annotations

import math
import time

from PySide6.QtCore import QPointF, QRect, QRectF, Qt, Signal
from PySide6.QtGui import (
    QBrush,
    QColor,
    QImage,
    QKeyEvent,
    QMouseEvent,
    QPainter,
    QPaintEvent,
    QPen,
    QPixmap,
    QWheelEvent,
)
from PySide6.QtWidgets import QSizePolicy, QWidget

from fibuca_desktop.ui.process.editor.display import (
    CHECKER,
    TINT,
    DisplayPyramid,
    background_colour,
    compose,
)
from fibuca_desktop.ui.process.editor.mask_edits import KEEP, Box, Stroke

BRUSH, FILL = "brush", "fill"
MIN_SCALE, MAX_SCALE = 1 / 64, 32.0
_WHEEL_STEP = 1.25  # zoom per wheel notch
_NEUTRAL = QColor("#3c3f41")  # around the photo
_STROKE_PREVIEW = {KEEP: QColor(60, 200, 90), "remove": QColor(230, 60, 60)}


def _checker_brush() -> QBrush:
    tile = QPixmap(16, 16)
    tile.fill(QColor("#ffffff"))
    painter = QPainter(tile)
    painter.fillRect(0, 0, 8, 8, QColor("#d6d6d6"))
    painter.fillRect(8, 8, 8, 8, QColor("#d6d6d6"))
    painter.end()
    return QBrush(tile)


class EditorCanvasWidget(QWidget):
    """Shows a ``DisplayPyramid``; emits what the user did in full-resolution coordinates."""

    stroke_finished = Signal(object)  # Stroke
    fill_clicked = Signal(float, float)  # x, y
    view_changed = Signal()  # zoom or pan

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("editorCanvas")
        self.setMouseTracking(True)
        self.setFocusPolicy(Qt.FocusPolicy.StrongFocus)
        self.setSizePolicy(QSizePolicy.Policy.Expanding, QSizePolicy.Policy.Expanding)
        self.setMinimumSize(320, 240)
        self.setAttribute(Qt.WidgetAttribute.WA_OpaquePaintEvent)
        self.pyramid: DisplayPyramid | None = None
        self.scale = 1.0
        self.offset = QPointF()
        self.mode = CHECKER
        self.colour = QColor("#2e7d32")
        self.tool, self.brush_mode = BRUSH, KEEP
        self.radius = 20.0  # full-resolution pixels
        self.hardness = 0.8
        self.edge_aware = False
        self.pending = 0  # strokes sent and not yet shown at full resolution
        self.last_paint_end = 0.0  # perf_counter() when a paint last finished (benchmarks)
        self._checker = _checker_brush()
        self._view: QImage | None = None
        self._overlay: QImage | None = None
        self._target: QImage | None = None
        self._stroke: list[tuple[float, float]] = []
        self._last_screen: QPointF | None = None
        self._pan_from: QPointF | None = None
        self._space = False
        self._hover: QPointF | None = None
        self.fitted = True

    # -- what is shown --------------------------------------------------------------------

    def set_pyramid(self, pyramid: DisplayPyramid | None) -> None:
        self.pyramid = pyramid
        self._stroke, self.pending, self._overlay = [], 0, None
        if pyramid is not None:
            self.radius = max(4.0, round(max(pyramid.size) / 80))
            self.fit()
        self._invalidate()

    def set_mode(self, mode: str, colour: QColor | None = None) -> None:
        self.mode = mode
        if colour is not None:
            self.colour = colour
        self._invalidate()

    def mask_changed(self, box: Box | None) -> None:
        """The full-resolution mask changed over ``box`` (an edit done, undone or redone)."""
        if self.pyramid is not None and box is not None:
            self.pyramid.update(box)
        self._invalidate()

    def stroke_done(self) -> None:
        """One sent stroke is now in the mask; the overlay goes once none is pending."""
        self.pending = max(0, self.pending - 1)
        if not self.pending and not self._stroke:
            self._overlay = None
        self.update()

    # -- zoom and pan ---------------------------------------------------------------------

    def fit(self) -> None:
        if self.pyramid is None:
            return
        width, height = self.pyramid.size
        self.scale = min(self.width() / width, self.height() / height) * 0.96
        self._centre()
        self.fitted = True  # stays fitted as the window is resized, until zoomed or panned

    def actual_size(self) -> None:
        """100%: one photo pixel per screen pixel, around the widget's centre."""
        self.zoom_at(QPointF(self.width() / 2, self.height() / 2), 1.0 / self.scale)

    def zoom_at(self, at: QPointF, factor: float) -> None:
        """Zoom by ``factor`` keeping the photo point under ``at`` where it is."""
        scale = min(MAX_SCALE, max(MIN_SCALE, self.scale * factor))
        self.fitted = False
        point = self.to_image(at)
        self.scale = scale
        self.offset = QPointF(at.x() - point[0] * scale, at.y() - point[1] * scale)
        self._invalidate(moved=True)

    def pan_by(self, dx: float, dy: float) -> None:
        self.fitted = False
        self.offset += QPointF(dx, dy)
        self._invalidate(moved=True)

    def to_image(self, point: QPointF) -> tuple[float, float]:
        return (point.x() - self.offset.x()) / self.scale, (
            point.y() - self.offset.y()
        ) / self.scale

    def to_screen(self, x: float, y: float) -> QPointF:
        return QPointF(self.offset.x() + x * self.scale, self.offset.y() + y * self.scale)

    def _centre(self) -> None:
        width, height = self.pyramid.size
        self.offset = QPointF(
            (self.width() - width * self.scale) / 2, (self.height() - height * self.scale) / 2
        )
        self._invalidate(moved=True)

    def _invalidate(self, moved: bool = False) -> None:
        self._view = None
        if moved:  # the overlay is in screen pixels: a stroke in progress starts a new one
            self._overlay = self._target = None
            self.view_changed.emit()
        self.update()

    # -- painting -------------------------------------------------------------------------

    def paintEvent(self, event: QPaintEvent) -> None:
        painter = QPainter(self)
        if self.pyramid is None:
            painter.fillRect(event.rect(), _NEUTRAL)
        else:
            if self._view is None or self._view.size() != self.size():
                self._view = self._render(None)
            painter.drawImage(event.rect(), self._view, event.rect())
            if self._overlay is not None:
                painter.drawImage(event.rect(), self._overlay, event.rect())
            self._draw_cursor(painter)
        painter.end()
        self.last_paint_end = time.perf_counter()

    def _render(self, alpha: int | None) -> QImage:
        """The widget-sized view; ``alpha`` 255 or 0: as if everything were kept or removed."""
        view = QImage(self.size(), QImage.Format.Format_RGB32)
        view.fill(_NEUTRAL)
        painter = QPainter(view)
        image_rect = QRectF(self.to_screen(0, 0), self.to_screen(*self.pyramid.size))
        visible = image_rect.intersected(QRectF(self.rect()))
        if not visible.isEmpty():
            if self.mode != TINT:
                plain = background_colour(self.mode, self.colour)
                painter.fillRect(visible, plain if plain is not None else self._checker)
            level = self.pyramid.level_for(self.scale)
            crop, target = self._crop(level.factor, visible)
            image = compose(level, crop, self.mode, alpha)
            if not image.isNull():
                smooth = self.scale * level.factor < 1
                painter.setRenderHint(QPainter.RenderHint.SmoothPixmapTransform, smooth)
                painter.setClipRect(visible)
                painter.drawImage(target, image)
        painter.end()
        return view

    def _crop(self, factor: int, visible: QRectF) -> tuple[Box, QRectF]:
        """The level pixels under ``visible`` (whole pixels, clipped) and where they land."""
        width, height = (-(-side // factor) for side in self.pyramid.size)
        x0, y0 = self.to_image(visible.topLeft())
        x1, y1 = self.to_image(visible.bottomRight())
        crop = (
            max(0, math.floor(x0 / factor)),
            max(0, math.floor(y0 / factor)),
            min(width, math.ceil(x1 / factor) + 1),
            min(height, math.ceil(y1 / factor) + 1),
        )
        target = QRectF(
            self.to_screen(crop[0] * factor, crop[1] * factor),
            self.to_screen(crop[2] * factor, crop[3] * factor),
        )
        return crop, target

    def _draw_cursor(self, painter: QPainter) -> None:
        if self._hover is None or self.tool != BRUSH or self._pan_from is not None:
            return
        r = self.radius * self.scale
        painter.setRenderHint(QPainter.RenderHint.Antialiasing)
        for colour, width in ((QColor(0, 0, 0, 160), 3), (_STROKE_PREVIEW[self.brush_mode], 1)):
            painter.setPen(QPen(colour, width))
            painter.setBrush(Qt.BrushStyle.NoBrush)
            painter.drawEllipse(self._hover, r, r)

    def _cursor_rect(self, at: QPointF | None) -> QRect:
        if at is None:
            return QRect()
        r = self.radius * self.scale + 4
        return QRectF(at.x() - r, at.y() - r, 2 * r, 2 * r).toAlignedRect()

    # -- the brush ------------------------------------------------------------------------

    def _start_overlay(self) -> None:
        self._target = self._render(255 if self.brush_mode == KEEP else 0)
        if self._overlay is None or self._overlay.size() != self.size():
            self._overlay = QImage(self.size(), QImage.Format.Format_ARGB32_Premultiplied)
            self._overlay.fill(Qt.GlobalColor.transparent)

    def _begin_stroke(self, at: QPointF) -> None:
        self._start_overlay()
        self._stroke = [self.to_image(at)]
        self._last_screen = at
        self._paint_segment(at, at)

    def _extend_stroke(self, at: QPointF) -> None:
        if (at - self._last_screen).manhattanLength() < 1:
            return
        self._stroke.append(self.to_image(at))
        self._paint_segment(self._last_screen, at)
        self._last_screen = at

    def _paint_segment(self, start: QPointF, end: QPointF) -> None:
        if self._target is None:  # zoomed or panned during the stroke
            self._start_overlay()
        width = max(1.0, 2 * self.radius * self.scale)
        painter = QPainter(self._overlay)
        painter.setRenderHint(QPainter.RenderHint.Antialiasing)
        pen = QPen(QBrush(self._target), width)
        pen.setCapStyle(Qt.PenCapStyle.RoundCap)
        pen.setJoinStyle(Qt.PenJoinStyle.RoundJoin)
        painter.setPen(pen)
        painter.drawLine(start, end)
        painter.end()
        r = width / 2 + 2
        dirty = QRectF(start, end).normalized().adjusted(-r, -r, r, r).toAlignedRect()
        self.update(dirty | self._cursor_rect(self._hover))

    def _finish_stroke(self) -> None:
        points = tuple(self._stroke)
        self._stroke = []
        self.pending += 1
        self.stroke_finished.emit(
            Stroke(points, self.radius, self.hardness, self.brush_mode, self.edge_aware)
        )

    # -- input ----------------------------------------------------------------------------

    def mousePressEvent(self, event: QMouseEvent) -> None:
        if self.pyramid is None:
            return
        at = event.position()
        pan = event.button() == Qt.MouseButton.MiddleButton or (
            event.button() == Qt.MouseButton.LeftButton and self._space
        )
        if pan:
            self._pan_from = at
            self.setCursor(Qt.CursorShape.ClosedHandCursor)
        elif event.button() == Qt.MouseButton.LeftButton and self.tool == FILL:
            self.fill_clicked.emit(*self.to_image(at))
        elif event.button() == Qt.MouseButton.LeftButton:
            self._begin_stroke(at)

    def mouseMoveEvent(self, event: QMouseEvent) -> None:
        at = event.position()
        old_hover, self._hover = self._hover, at
        if self._pan_from is not None:
            delta = at - self._pan_from
            self._pan_from = at
            self.pan_by(delta.x(), delta.y())
        elif self._stroke:
            self._extend_stroke(at)
        elif self.tool == BRUSH:
            self.update(self._cursor_rect(old_hover) | self._cursor_rect(at))

    def mouseReleaseEvent(self, event: QMouseEvent) -> None:
        if self._pan_from is not None:
            self._pan_from = None
            self.unsetCursor()
        elif self._stroke and event.button() == Qt.MouseButton.LeftButton:
            self._finish_stroke()

    def leaveEvent(self, _event) -> None:
        self.update(self._cursor_rect(self._hover))
        self._hover = None

    def wheelEvent(self, event: QWheelEvent) -> None:
        steps = event.angleDelta().y() / 120
        if steps and self.pyramid is not None:
            self.zoom_at(event.position(), _WHEEL_STEP**steps)

    def keyPressEvent(self, event: QKeyEvent) -> None:
        if event.key() == Qt.Key.Key_Space and not event.isAutoRepeat():
            self._space = True
            self.setCursor(Qt.CursorShape.OpenHandCursor)
        else:
            super().keyPressEvent(event)

    def keyReleaseEvent(self, event: QKeyEvent) -> None:
        if event.key() == Qt.Key.Key_Space and not event.isAutoRepeat():
            self._space = False
            self.unsetCursor()
        else:
            super().keyReleaseEvent(event)

    def resizeEvent(self, event) -> None:
        if self.pyramid is None:
            return
        if self.fitted:
            self.fit()
        else:  # keep what is in the middle in the middle
            old = event.oldSize()
            self.offset += QPointF(
                (self.width() - old.width()) / 2, (self.height() - old.height()) / 2
            )
            self._invalidate(moved=True)
