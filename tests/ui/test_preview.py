"""The cut-out preview: loads on the pool, paints real pixels, ignores stale results."""

from __future__ import annotations

import shutil
import threading
from pathlib import Path

import pytest
from PIL import Image
from PySide6.QtCore import QEvent, QObject, QPoint, QRunnable, Qt, QThreadPool
from PySide6.QtGui import QImage

from fibuca_desktop.ui.process.preview import (
    CHECKER_DARK,
    CHECKER_LIGHT,
    EMPTY,
    EMPTY_TEXT,
    ERROR,
    LOADED,
    LOADING,
    NO_CUTOUT,
    NO_CUTOUT_TEXT,
    SIDE_BY_SIDE,
    SLIDER,
    CutoutPreviewWidget,
    _Loaded,
)
from tests.conftest import PHOTOS

GREEN = (0, 160, 0)
CHECKER = {CHECKER_LIGHT.rgb(), CHECKER_DARK.rgb()}


@pytest.fixture
def pool():
    pool = QThreadPool()
    pool.setObjectName("test-preview-pool")
    pool.setMaxThreadCount(1)
    yield pool
    pool.clear()
    pool.waitForDone()


@pytest.fixture
def widget(qtbot, pool):
    widget = CutoutPreviewWidget(pool)
    qtbot.addWidget(widget)
    widget.resize(900, 520)
    widget.show()
    qtbot.waitExposed(widget)
    return widget


@pytest.fixture
def pair(tmp_path: Path) -> tuple[Path, Path]:
    """A real photo and a real RGBA PNG cut-out: opaque green on top, transparent below."""
    original = tmp_path / "girl-1.jpg"
    shutil.copy(PHOTOS / "girl-1.jpg", original)
    with Image.open(original) as photo:
        size = photo.size
    cutout = Image.new("RGBA", size, (0, 0, 0, 0))
    cutout.paste((*GREEN, 255), (0, 0, size[0], size[1] // 2))
    cutout_path = tmp_path / "cutouts" / "girl-1.png"
    cutout_path.parent.mkdir()
    cutout.save(cutout_path)
    return original, cutout_path


def _load(qtbot, widget, original, cutout, state=LOADED) -> None:
    widget.show_pair(original, cutout)
    assert widget.state == LOADING
    qtbot.waitUntil(lambda: widget.state == state)


def _rgb(image: QImage, x: int, y: int) -> tuple[int, int, int]:
    color = image.pixelColor(x, y)
    return color.red(), color.green(), color.blue()


def _near(actual, expected, tolerance=40) -> bool:
    return all(abs(a - e) <= tolerance for a, e in zip(actual, expected, strict=True))


def _at(rect, fx: float, fy: float) -> QPoint:
    return QPoint(rect.left() + round(fx * rect.width()), rect.top() + round(fy * rect.height()))


def _original_pixel(path: Path, rect, point: QPoint) -> tuple[int, int, int]:
    """What the original looks like at ``point`` when scaled into ``rect``."""
    with Image.open(path) as photo:
        scaled = photo.convert("RGB").resize((rect.width(), rect.height()))
    return scaled.getpixel((point.x() - rect.left(), point.y() - rect.top()))


def _checker_block(image: QImage, point: QPoint) -> set[int]:
    return {image.pixel(point.x() + dx, point.y() + dy) for dx in range(24) for dy in range(24)}


def test_starts_empty_and_loads_on_the_pool(qtbot, widget, pair):
    assert (widget.state, widget.message) == (EMPTY, EMPTY_TEXT)
    with qtbot.waitSignal(widget.state_changed) as loaded:
        widget.show_pair(*pair)
        assert widget.state == LOADING  # nothing was decoded on this thread
    qtbot.waitUntil(lambda: widget.state == LOADED)
    assert loaded.args == [LOADING]
    original_rect, cutout_rect = widget.canvas.image_rects()
    assert original_rect.right() < cutout_rect.left()  # side by side
    assert widget.message == ""


def test_side_by_side_shows_the_checkerboard_where_the_cutout_is_transparent(qtbot, widget, pair):
    _load(qtbot, widget, *pair)
    image = widget.canvas.grab().toImage()
    original_rect, cutout_rect = widget.canvas.image_rects()
    assert _checker_block(image, _at(cutout_rect, 0.5, 0.75)) == CHECKER  # both squares
    assert _near(_rgb(image, *_at(cutout_rect, 0.5, 0.25).toTuple()), GREEN, 2)
    left = _at(original_rect, 0.3, 0.75)
    assert _near(_rgb(image, *left.toTuple()), _original_pixel(pair[0], original_rect, left))


def test_slider_mode_splits_original_and_cutout(qtbot, widget, pair):
    _load(qtbot, widget, *pair)
    widget.set_mode(SLIDER)
    assert widget.split_slider.isVisible()
    original_rect, cutout_rect = widget.canvas.image_rects()
    assert original_rect == cutout_rect  # one image area, same size photo and cut-out
    image = widget.canvas.grab().toImage()
    left = _at(original_rect, 0.25, 0.75)
    expected = _original_pixel(pair[0], original_rect, left)
    assert _near(_rgb(image, *left.toTuple()), expected)
    assert image.pixel(left) not in CHECKER
    assert _checker_block(image, _at(original_rect, 0.7, 0.75)) == CHECKER
    assert _near(_rgb(image, *_at(original_rect, 0.75, 0.25).toTuple()), GREEN, 2)

    widget.split_slider.setValue(widget.split_slider.maximum())  # all original
    moved = widget.canvas.grab().toImage()
    right = _at(original_rect, 0.75, 0.75)
    assert _near(_rgb(moved, *right.toTuple()), _original_pixel(pair[0], original_rect, right))


def test_dragging_on_the_image_moves_the_split(qtbot, widget, pair):
    _load(qtbot, widget, *pair)
    widget.set_mode(SLIDER)
    rect = widget.canvas.image_rects()[0]
    qtbot.mousePress(widget.canvas, Qt.MouseButton.LeftButton, pos=_at(rect, 0.2, 0.5))
    assert widget.split_slider.value() == pytest.approx(200, abs=3)
    assert widget.canvas.split_x() == pytest.approx(rect.left() + 0.2 * rect.width(), abs=2)


class _PaintCounter(QObject):
    def __init__(self) -> None:
        super().__init__()
        self.paints = 0

    def eventFilter(self, watched, event) -> bool:
        self.paints += event.type() == QEvent.Type.Paint
        return False


def test_switching_modes_repaints(qtbot, widget, pair):
    _load(qtbot, widget, *pair)
    counter = _PaintCounter()
    widget.canvas.installEventFilter(counter)
    side_by_side = widget.canvas.grab().toImage()
    for change in (lambda: widget.set_mode(SLIDER), lambda: widget.split_slider.setValue(100)):
        painted = counter.paints
        change()
        qtbot.waitUntil(
            lambda painted=painted: counter.paints > painted
        )  # on screen, not only grab
    assert widget.canvas.grab().toImage() != side_by_side
    widget.set_mode(SIDE_BY_SIDE)
    assert not widget.split_slider.isVisible()
    assert widget.canvas.grab().toImage() == side_by_side


def test_a_jpeg_cutout_is_drawn_opaque(qtbot, widget, pair, tmp_path):
    blue = tmp_path / "blue.jpg"
    Image.new("RGB", (300, 200), (20, 40, 220)).save(blue, quality=95)
    _load(qtbot, widget, pair[0], blue)
    image = widget.canvas.grab().toImage()
    point = _at(widget.canvas.image_rects()[1], 0.5, 0.5)
    assert _near(_rgb(image, *point.toTuple()), (20, 40, 220), 6)
    assert _checker_block(image, point).isdisjoint(CHECKER)


class _Blocker(QRunnable):
    """Holds the pool's only thread so the next requests queue behind it."""

    def __init__(self) -> None:
        super().__init__()
        self.started, self.release = threading.Event(), threading.Event()

    def run(self) -> None:
        self.started.set()
        self.release.wait(10)


def test_a_quick_second_selection_wins(qtbot, widget, pool, pair):
    blocker = _Blocker()
    pool.start(blocker)
    assert blocker.started.wait(5)
    states = []
    widget.state_changed.connect(states.append)
    widget.show_pair(*pair)
    widget.show_pair(pair[0], None)
    blocker.release.set()
    qtbot.waitUntil(lambda: widget.state == NO_CUTOUT)
    pool.waitForDone()
    qtbot.wait(50)  # let any late queued report arrive; it must change nothing
    assert states == [LOADING, NO_CUTOUT]
    assert widget.canvas.cutout is None


def test_a_stale_result_is_ignored(qtbot, widget, pair, tmp_path):
    _load(qtbot, widget, *pair)
    stale = widget._request_id
    first_result = (widget.canvas.original, widget.canvas.cutout)
    _load(qtbot, widget, pair[0], None, NO_CUTOUT)
    widget._signals.finished.emit(stale, _Loaded(*first_result))
    assert widget.state == NO_CUTOUT
    assert widget.canvas.cutout is None


def test_no_cutout_yet_shows_the_original_with_a_note(qtbot, widget, pair):
    _load(qtbot, widget, pair[0], None, NO_CUTOUT)
    assert widget.message == NO_CUTOUT_TEXT
    original_rect, cutout_rect = widget.canvas.image_rects()
    assert original_rect is not None and cutout_rect is None


@pytest.mark.parametrize(
    ("damage", "expected"),
    [
        (lambda path: path.unlink(), "Cannot read girl-1.png"),
        (lambda path: path.write_bytes(path.read_bytes()[:200]), "truncated or damaged"),
    ],
    ids=["vanished", "damaged"],
)
def test_a_vanished_or_damaged_cutout_shows_the_message(qtbot, widget, pair, damage, expected):
    damage(pair[1])
    _load(qtbot, widget, *pair, ERROR)
    assert expected in widget.message
    assert widget.canvas.image_rects()[1] is None
    widget.canvas.grab()  # painting the message must not raise either


def test_a_damaged_original_shows_the_message(qtbot, widget, pair):
    pair[0].write_bytes(b"not a photo\n")
    _load(qtbot, widget, *pair, ERROR)
    assert "is a text file" in widget.message
    assert widget.canvas.image_rects() == (None, None)


def test_clear_returns_to_empty(qtbot, widget, pair):
    _load(qtbot, widget, *pair)
    widget.clear()
    assert (widget.state, widget.message) == (EMPTY, EMPTY_TEXT)
    assert widget.canvas.image_rects() == (None, None)
    image = widget.canvas.grab().toImage()
    grid = [(x, y) for x in range(0, image.width(), 10) for y in range(0, image.height(), 10)]
    assert not any(_near(_rgb(image, x, y), GREEN, 10) for x, y in grid)
