"""Which mask a photo is cut out with: the user's edit, else the model's stored mask, else a
fresh model run, stored on the way (mask_store.py). The pipeline and the editor both ask here.

A stored mask never loads the model: ``EngineProvider.get`` is only called for a fresh run.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from PIL import Image

from fibuca_desktop.core.errors import ImageRejected
from fibuca_desktop.core.imaging.decode import Limits, decode
from fibuca_desktop.core.imaging.engine import EngineProvider, stretch
from fibuca_desktop.core.imaging.mask_store import MaskKey, MaskStore, mask_key

log = logging.getLogger(__name__)

# What a job's mask came from (JobResult.mask): the model just now, the store, the user's edit.
MODEL, STORED, EDITED = "model", "stored", "edited"
# An edit differs from the model's mask by more than this (of 255) where the person painted;
# less is the two masks' different resampling to the job's size.
PAINTED_LEVELS = 8


def working_mask(
    path: Path,
    image: Image.Image,
    model: str,
    engines: EngineProvider,
    store: MaskStore | None,
    exact: bool,
    full_size: bool = True,
) -> tuple[Image.Image, str, MaskKey | None]:
    """The mask of the photo at ``path`` at the size of ``image`` (the photo as the job works on
    it; ``full_size`` False when that is a reduced copy), what it came from, and the photo's key
    in the store (None without one). ``exact`` as
    ``MaskEngine.predict``; it chooses the stretch of a stored mask too. Without a store,
    exactly ``predict``.

    A stored mask serves every job that only needs its 0.5 cut (refined edges). An ``exact`` job
    (``--edges rembg``, alpha matting) promises rembg's mask, so it takes only a mask made from
    rembg's exact input, and, when it works on the full-size photo, made from the full-size
    photo (``StoredMask.serves``): at 12 MP the fast input's mask differs by up to 31 levels of
    255 and flips up to 71 of the 320 x 320 pixels at the 0.5 cut. Otherwise it runs the model
    once; the better mask it stores then serves every job."""
    key = None
    if store is not None:
        try:
            key = mask_key(path, model)
        except OSError as error:  # decoded a moment ago: read again, it has gone away
            log.warning("cannot look up the stored mask of %s: %s", path.name, error)
    if key is None:
        return engines.get(model).predict(image, exact), MODEL, None
    edited = store.edited_mask(key)
    if edited is not None:
        return _resized(edited, image.size), EDITED, key
    return (*_model_mask(key, image, engines, store, exact, full_size), key)


def all_stored(
    paths: list[Path], model: str, store: MaskStore, exact: bool = False, full_size: bool = True
) -> bool:
    """Whether every photo has an edit or a stored model mask that serves a job wanting
    ``exact`` at ``full_size`` (``StoredMask.serves``), so the model is not needed. Reads every
    photo (its digest): ask only when the model is missing."""
    for path in paths:
        try:
            key = mask_key(path, model)
        except OSError:
            return False
        if store.has_edit(key):
            continue
        stored = store.model_mask(key)
        if stored is None or not stored.serves(exact, full_size):
            return False
    return True


@dataclass
class PhotoMasks:
    """A photo at full resolution with its masks, for the editor."""

    image: Image.Image  # upright, "RGB" or "RGBA" as decode gives it
    key: MaskKey
    model_mask: Image.Image  # "L", the photo's size: the model's mask stretched exactly
    edited: Image.Image | None  # "L", the photo's size; None: never edited


def load_masks(
    path: Path,
    model: str,
    engines: EngineProvider,
    store: MaskStore,
    limits: Limits | None = None,
) -> PhotoMasks:
    """The photo at ``path`` and its masks; the model runs (and its mask is stored) only when
    the store has none (any stored mask will do for editing). Raises
    FibucaError (ImageRejected, ModelUnavailable) with a message."""
    decoded = decode(path, limits or Limits())
    image = decoded.image
    try:
        key = mask_key(path, model)
    except OSError as error:
        raise ImageRejected(f"Cannot read {path.name}: {error.strerror or error}.") from error
    model_mask, _ = _model_mask(key, image, engines, store, True, True, any_will_do=True)
    edited = store.edited_mask(key)
    if edited is not None and edited.size != image.size:
        log.warning("the edit of %s is %s, not %s: resized", path.name, edited.size, image.size)
        edited = _resized(edited, image.size)
    return PhotoMasks(image, key, model_mask, edited)


def _model_mask(
    key: MaskKey,
    image: Image.Image,
    engines: EngineProvider,
    store: MaskStore,
    exact: bool,
    full_size: bool,
    any_will_do: bool = False,
) -> tuple[Image.Image, str]:
    stored = store.model_mask(key)
    if stored is not None and (any_will_do or stored.serves(exact, full_size)):
        return stretch(stored.image, image.size, exact), STORED
    raw = engines.get(key.model).predict_raw(image, exact)
    store.put_model_mask(key, raw, exact, full_size)
    return stretch(raw, image.size, exact), MODEL


def honour_edit(
    key: MaskKey, store: MaskStore, edited: Image.Image, refined: Image.Image
) -> Image.Image:
    """The refined alpha of an edited mask, with the person's own alpha wherever the edit
    differs from the model's mask: refinement redraws the edges the model drew and never undoes
    a stroke. Without the model's mask (pruned) there is no telling: the edit is used as it is."""
    stored = store.model_mask(key)
    if stored is None:
        return edited
    model_mask = np.asarray(stretch(stored.image, edited.size, False), np.int16)
    edit = np.asarray(edited)
    painted = np.abs(edit - model_mask) > PAINTED_LEVELS
    return Image.fromarray(np.where(painted, edit, np.asarray(refined)).astype(np.uint8), "L")


def _resized(mask: Image.Image, size: tuple[int, int]) -> Image.Image:
    """An edit (full resolution) at the job's size. Whole-factor box reduction first, while the
    mask stays twice the target (a mask has no texture to alias): a 12 MP edit to 800 px takes
    19 ms instead of 57."""
    if mask.size == size:
        return mask
    return mask.resize(size, Image.Resampling.LANCZOS, reducing_gap=2.0)
