"""The Process tab's services, created once per app: model sessions, the mask store and the
bounded image pool."""

from __future__ import annotations

from PySide6.QtCore import QThreadPool

from fibuca_desktop.core.imaging.engine import EngineProvider
from fibuca_desktop.core.imaging.mask_store import MB, MaskStore
from fibuca_desktop.core.imaging.models import spec_for
from fibuca_desktop.core.imaging.pipeline import Pipeline
from fibuca_desktop.core.imaging.presets import Preset
from fibuca_desktop.core.imaging.scheduler import Scheduler, machine_capacity
from fibuca_desktop.core.profiles.profiles import Profile
from fibuca_desktop.core.settings import Settings


class ProcessService:
    """Created once per app: the shared model sessions, the mask store every batch reads and
    adds to (an edit saved by the editor is used by the next run), and the named, bounded image
    pool."""

    def __init__(self, settings: Settings) -> None:
        capacity = machine_capacity(settings.processing.workers)
        self.engines = EngineProvider(
            None, capacity.threads_per_inference, None, capacity.inference_slots
        )
        self.masks = MaskStore.default(settings.processing.mask_cache_mb * MB)
        self.pool = QThreadPool()
        self.pool.setObjectName("fibuca-image-pool")
        self.pool.setMaxThreadCount(capacity.workers)
        # Thumbnails and previews: small, separate, so they never wait behind a 12 MP job.
        self.thumbnail_pool = QThreadPool()
        self.thumbnail_pool.setObjectName("fibuca-preview-pool")
        self.thumbnail_pool.setMaxThreadCount(1)

    def scheduler(
        self, settings: Settings, preset: Preset | None = None, profile: Profile | None = None
    ) -> Scheduler:
        """A scheduler for the next batch. Raises UsageError for a bad option combination or a
        memory budget that cannot hold the model; ``capacity.note`` says when workers were capped.
        """
        processing = settings.processing
        preset = preset or processing.resolved_preset()
        capacity = machine_capacity(
            processing.workers,
            small_outputs=preset.small_output,
            model_mb=spec_for(processing.model).activation_mb,
        )
        self.pool.setMaxThreadCount(capacity.workers)
        self.masks.cap_bytes = processing.mask_cache_mb * MB  # the settings may have changed
        pipeline = Pipeline(
            self.engines,
            preset,
            processing.model,
            overwrite=processing.overwrite,
            masks=self.masks,
            profile=profile,
        )
        return Scheduler(pipeline, capacity)

    def shutdown(self) -> None:
        """Drop queued runnables and wait for running ones (they stop at a safe point)."""
        for pool in (self.thumbnail_pool, self.pool):
            pool.clear()
            pool.waitForDone()
