"""What the editor needs from the core: a photo's masks to open, and a save that keeps the edit
in the mask store and renders the photo's output again, atomically, from it."""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
from PIL import Image

from fibuca_desktop.core.imaging.batch import Job
from fibuca_desktop.core.imaging.decode import Limits
from fibuca_desktop.core.imaging.engine import EngineProvider
from fibuca_desktop.core.imaging.mask_store import MaskKey, MaskStore
from fibuca_desktop.core.imaging.photo_masks import load_masks
from fibuca_desktop.core.imaging.pipeline import JobResult, Pipeline
from fibuca_desktop.core.imaging.presets import Preset


@dataclass(frozen=True)
class EditTarget:
    """A finished queue row: its photo, its output and how that output was made."""

    job_id: int
    job: Job
    preset: Preset
    model: str
    review: tuple[str, ...] = field(default=())


@dataclass
class OpenedPhoto:
    key: MaskKey
    photo: np.ndarray  # H x W x 3 uint8, upright, full resolution
    model_mask: np.ndarray  # H x W uint8
    edited: np.ndarray | None


class EditorBackend:
    """Thread-safe: the editor calls it from its worker thread."""

    def __init__(
        self, engines: EngineProvider, masks: MaskStore, limits: Limits | None = None
    ) -> None:
        self.engines, self.masks, self.limits = engines, masks, limits or Limits()

    def open(self, target: EditTarget) -> OpenedPhoto:
        """The photo and its masks at full resolution; raises FibucaError (a photo that went
        away, a model that cannot run because the store has no mask) with its message."""
        loaded = load_masks(target.job.input, target.model, self.engines, self.masks, self.limits)
        photo = np.asarray(loaded.image.convert("RGB"))
        model_mask = np.asarray(loaded.model_mask, np.uint8)
        edited = None if loaded.edited is None else np.asarray(loaded.edited, np.uint8)
        return OpenedPhoto(loaded.key, photo, model_mask, edited)

    def save(
        self, target: EditTarget, key: MaskKey, mask: np.ndarray, model_mask: np.ndarray
    ) -> JobResult:
        """Keep ``mask`` as the photo's edit (none when it is the model's again) and render the
        output with the row's preset from it; the old output is replaced only whole."""
        if np.array_equal(mask, model_mask):
            self.masks.drop_edited(key)
        else:
            self.masks.put_edited_mask(key, Image.fromarray(mask, "L"))
        pipeline = Pipeline(
            self.engines,
            target.preset,
            target.model,
            self.limits,
            overwrite=True,
            masks=self.masks,
        )
        return pipeline.process(target.job)
