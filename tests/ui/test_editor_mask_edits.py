"""The editor's tools on full-resolution masks: strokes, edge-aware strokes, fill, undo."""

from __future__ import annotations

import itertools

import numpy as np
import pytest

from fibuca_desktop.ui.process.editor.edit_session import EditSession
from fibuca_desktop.ui.process.editor.mask_edits import (
    KEEP,
    REMOVE,
    Stroke,
    box_mean,
    connected_region,
    fill_region,
)
from fibuca_desktop.ui.process.editor.undo_stack import UndoStack, make_patch


def _footprint(shape, points, radius):
    ys, xs = np.mgrid[: shape[0], : shape[1]] + 0.5
    inside = np.zeros(shape, bool)
    for (ax, ay), (bx, by) in itertools.pairwise(points):
        dx, dy = bx - ax, by - ay
        t = np.clip(((xs - ax) * dx + (ys - ay) * dy) / max(dx * dx + dy * dy, 1e-9), 0, 1)
        inside |= np.hypot(xs - ax - t * dx, ys - ay - t * dy) <= radius
    return inside


def _session(h=300, w=400, value=128):
    rng = np.random.default_rng(1)
    photo = rng.integers(0, 255, (h, w, 3), dtype=np.uint8)
    return EditSession(photo, np.full((h, w), value, np.uint8))


def test_a_hard_core_is_exactly_kept_or_removed_and_nothing_outside_the_rim_changes():
    session = _session()
    points = ((50.0, 60.0), (200.0, 90.0), (260.0, 200.0))
    session.stroke(Stroke(points, 20, 0.5, REMOVE))
    core = _footprint(session.mask.shape, points, 10)
    outside = ~_footprint(session.mask.shape, points, 21)
    assert (session.mask[core] == 0).all()
    assert (session.mask[outside] == 128).all()
    soft = ~core & ~outside
    assert (session.mask[soft] <= 128).all() and (session.mask[soft] > 0).any()
    session.stroke(Stroke(points, 8, 1.0, KEEP))
    assert (session.mask[_footprint(session.mask.shape, points, 7.5)] == 255).all()


def test_undo_gives_back_every_previous_mask_byte_for_byte_and_redo_reapplies():
    session = _session()
    states = [session.mask.copy()]
    strokes = [
        Stroke(((10.0, 10.0), (390.0, 290.0)), 30, 0.7, REMOVE),
        Stroke(((200.0, 20.0),), 50, 0.2, KEEP),
        Stroke(((0.0, 150.0), (400.0, 150.0)), 12, 1.0, REMOVE, edge_aware=True),
    ]
    for stroke in strokes:
        session.stroke(stroke)
        states.append(session.mask.copy())
    session.fill((300.0, 250.0), KEEP, 400)  # everything is alike at 400: all kept
    assert (session.mask == 255).all()
    states.append(session.mask.copy())
    session.revert_to_model()
    assert np.array_equal(session.mask, session.model_mask)
    states.append(session.mask.copy())
    for expected in reversed(states[:-1]):
        assert session.undo_step() is not None
        assert np.array_equal(session.mask, expected)
    assert session.undo_step() is None and not session.dirty
    for expected in states[1:]:
        session.redo_step()
        assert np.array_equal(session.mask, expected)


def test_a_new_step_drops_the_redoable_ones_and_the_budget_forgets_the_oldest():
    stack = UndoStack(budget_bytes=1)
    mask = np.zeros((50, 50), np.uint8)
    for value in (1, 2, 3):
        stack.push(make_patch("s", mask, (0, 0, 50, 50), np.full((50, 50), value, np.uint8)))
    assert len(stack) == 1 and stack.forgotten == 2  # the newest always stays
    stack.undo()
    stack.push(make_patch("t", mask, (0, 0, 10, 10), np.ones((10, 10), np.uint8)))
    assert not stack.can_redo and stack.undo_label == "t"


def test_a_step_keeps_only_the_box_it_changed():
    mask = np.zeros((1000, 1000), np.uint8)
    new = np.zeros((1000, 1000), np.uint8)
    new[400:420, 300:350] = 7
    patch = make_patch("s", mask, (0, 0, 1000, 1000), new)
    assert patch.box == (300, 400, 350, 420)
    assert make_patch("s", mask, (0, 0, 1000, 1000), mask.copy()) is None


def test_an_edge_aware_remove_stroke_along_an_edge_takes_the_background_and_leaves_the_product():
    h, w = 200, 300
    photo = np.full((h, w, 3), 245, np.uint8)  # a white backdrop
    photo[:, 150:] = (150, 30, 40)  # a dark red product on the right half
    session = EditSession(photo, np.full((h, w), 255, np.uint8))  # the model kept everything
    # The brush's centre runs over the backdrop, its rim well into the product.
    session.stroke(Stroke(((140.0, 20.0), (140.0, 180.0)), 30, 0.9, REMOVE, edge_aware=True))
    assert (session.mask[40:160, 115:148] == 0).all()  # the backdrop under the brush
    assert (session.mask[:, 152:] == 255).all()  # the product is untouched
    plain = EditSession(photo, np.full((h, w), 255, np.uint8))
    plain.stroke(Stroke(((140.0, 20.0), (140.0, 180.0)), 30, 0.9, REMOVE))
    assert (plain.mask[40:160, 152:160] == 0).all()  # without: the product is cut too


def _mug(h=240, w=320):
    """A grey mug with a ring handle on a white backdrop; the handle's hole shows backdrop."""
    photo = np.full((h, w, 3), 240, np.uint8)
    ys, xs = np.mgrid[:h, :w]
    photo[60:200, 60:200] = (90, 90, 100)
    ring = np.hypot(xs - 230, ys - 130)
    photo[(ring <= 45) & (xs > 190)] = (90, 90, 100)
    photo[ring <= 22] = 240  # the hole
    return photo, ring


def test_remove_fill_clears_a_handles_hole_the_model_kept_and_nothing_else():
    photo, ring = _mug()
    kept = np.zeros(photo.shape[:2], np.uint8)
    kept[60:200, 60:200] = 255
    kept[(ring <= 45)] = 255  # the model filled the hole, as u2netp does
    session = EditSession(photo, kept)
    session.fill((230.0, 130.0), REMOVE, 32)
    assert (session.mask[ring <= 21] == 0).all()
    assert (session.mask[(ring >= 24) & (ring <= 45)] == 255).all()  # the handle stays
    assert (session.mask[60:200, 60:200] == 255).all()


def test_keep_fill_closes_a_hole_the_model_cut_into_the_product():
    photo, _ring = _mug()
    mask = np.zeros(photo.shape[:2], np.uint8)
    mask[60:200, 60:200] = 255
    mask[100:140, 100:150] = 0  # a hole the model cut into the mug
    session = EditSession(photo, mask)
    session.fill((120.0, 120.0), KEEP, 32)
    assert (session.mask[60:200, 60:200] == 255).all()
    assert (session.mask[:50] == 0).all()  # the backdrop is another region


@pytest.mark.parametrize("seed", range(6))
def test_connected_region_matches_a_plain_flood_fill(seed):
    rng = np.random.default_rng(seed)
    similar = rng.random((40, 60)) < 0.6
    y, x = map(int, np.argwhere(similar)[rng.integers(similar.sum())])
    expected = np.zeros_like(similar)
    todo = [(y, x)]
    while todo:
        cy, cx = todo.pop()
        if 0 <= cy < 40 and 0 <= cx < 60 and similar[cy, cx] and not expected[cy, cx]:
            expected[cy, cx] = True
            todo += [(cy - 1, cx), (cy + 1, cx), (cy, cx - 1), (cy, cx + 1)]
    assert np.array_equal(connected_region(similar, x, y), expected)


def test_box_mean_is_the_window_mean_and_fill_outside_the_photo_is_nothing():
    values = np.random.default_rng(3).random((9, 11)).astype(np.float32)
    got = box_mean(values, 2)
    assert got[4, 5] == pytest.approx(values[2:7, 3:8].mean(), rel=1e-5)
    assert got[0, 0] == pytest.approx(values[:3, :3].mean(), rel=1e-5)
    assert fill_region(np.zeros((5, 5, 3), np.uint8), (7.0, 1.0)) is None
