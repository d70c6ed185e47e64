"""Mask prediction: a lean onnxruntime engine with rembg's exact pre- and post-processing.

The lean path imports numpy, Pillow and onnxruntime only. rembg (and with it numba, scipy and
scikit-image, ~215 MB and seconds of import) is imported lazily, only for models the lean engine
does not cover and for alpha matting.

One ``InferenceSession`` per model is created on first use and shared by all workers:
``InferenceSession.run`` is thread-safe.
"""

from __future__ import annotations

import logging
import os
import threading
from dataclasses import dataclass
from typing import Protocol

import numpy as np
from PIL import Image

from fibuca_desktop.core.errors import ModelUnavailable
from fibuca_desktop.core.imaging.models import ModelSpec, ModelStore, spec_for
from fibuca_desktop.core.imaging.optional_features import rembg_missing_message, require_rembg
from fibuca_desktop.core.imaging.static_resize import prepared_graph

log = logging.getLogger(__name__)
_REDUCING_GAP = 3.0  # Pillow: reduce by whole factors while the image stays 3x the target
# The version of the pre- and post-processing around the model (model_input, predict_raw,
# stretch). Stored masks are keyed by it (mask_store.py): bump it whenever a change would give
# another raw mask for the same photo, so masks made by the old code are never reused.
ENGINE_VERSION = 1


@dataclass(frozen=True)
class SessionTuning:
    """onnxruntime session options, chosen with numbers (README, "Engine tuning").

    Measured for u2netp at 320x320, 2 threads, on the 2-core CI machine, published graph:
    onnxruntime's defaults (arena on, memory pattern on, all optimisations) 0.133 s and 557 MB
    peak; ``fast`` (arena on, memory pattern off) 0.124 s and 365 MB; ``lean`` (extended
    optimisations: no NCHWc layout) 0.18 s and 280 MB; arena off cost 37-55% more time and saved
    nothing once the memory pattern was off. With the constant-scale graph (static_resize.py)
    ``fast`` peaks near ``lean`` (benchmark: 372 vs 362 MB for 12 MP cut-outs) at 35-50% less
    time, so ``fast`` is the default and ``lean`` remains for machines where 10 MB matter.
    """

    graph_level: str = "all"  # "all" | "extended"
    arena: bool = True
    memory_pattern: bool = False

    @classmethod
    def named(cls, name: str) -> SessionTuning:
        if name == "fast":
            return cls()
        if name == "lean":
            return cls(graph_level="extended")
        if name == "default":
            return cls(memory_pattern=True)
        raise ValueError(f"unknown session tuning {name!r}: use fast, lean or default")


class MaskEngine(Protocol):
    """Predicts an 8-bit mask ("L", same size as the image) for an RGB, RGBA or L image.

    ``exact``: rembg's own resampling both ways (LANCZOS down to the model's input and back up
    to the image), for output that matches rembg's. The edge refinement redraws the edge from
    the photo and only needs the mask's 0.5 cut, so it asks for ``exact=False``: the photo is
    reduced by whole factors before LANCZOS (Pillow's ``reducing_gap``) and the mask stretched
    bilinearly, 0.14 s less at 12 MP. An engine that only has rembg's full-size mask ignores it.
    """

    model: str

    def predict(self, image: Image.Image, exact: bool = True) -> Image.Image:
        """The mask at ``image``'s size: ``stretch(predict_raw(image, exact), image.size,
        exact)``."""
        ...

    def predict_raw(self, image: Image.Image, exact: bool = True) -> Image.Image:
        """The model's own mask before any stretch to the image: what the mask store keeps."""
        ...


def stretch(raw: Image.Image, size: tuple[int, int], exact: bool = True) -> Image.Image:
    """A raw mask (``predict_raw``) at ``size``: LANCZOS when ``exact`` (rembg's own), else
    bilinear (``MaskEngine``). A mask already at ``size`` is returned as it is."""
    if raw.size == size:
        return raw
    return raw.resize(size, Image.Resampling.LANCZOS if exact else Image.Resampling.BILINEAR)


class OnnxMaskEngine:
    """rembg's u2net-family sessions without rembg. The session is built on first ``predict``.

    At most ``slots`` inferences run at once (each on ``threads`` intra-op threads): every
    concurrent run holds its own activations (~230 MB for u2netp), so the gate, not the worker
    count, bounds the model's memory. Pre- and post-processing run outside the gate, in parallel.
    """

    def __init__(
        self,
        spec: ModelSpec,
        store: ModelStore,
        threads: int,
        tuning: SessionTuning | None = None,
        slots: int = 1,
    ) -> None:
        if not spec.lean:
            raise ValueError(f"{spec.name} is not a lean model")
        self.spec = spec
        self.model = spec.name
        self._store = store
        self._threads = max(1, threads)
        self._tuning = tuning or SessionTuning()
        self._session = None
        self._input_name = ""
        self._lock = threading.Lock()
        self._gate = threading.BoundedSemaphore(slots)

    def _get_session(self):
        if self._session is None:
            with self._lock:
                if self._session is None:
                    self._session = self._create_session()
        return self._session

    def _create_session(self):
        import onnxruntime as ort

        path = self._store.path(self.model)  # raises ModelUnavailable, never downloads
        options = ort.SessionOptions()
        options.intra_op_num_threads = self._threads
        options.inter_op_num_threads = 1
        options.enable_cpu_mem_arena = self._tuning.arena
        options.enable_mem_pattern = self._tuning.memory_pattern
        options.graph_optimization_level = (
            ort.GraphOptimizationLevel.ORT_ENABLE_ALL
            if self._tuning.graph_level == "all"
            else ort.GraphOptimizationLevel.ORT_ENABLE_EXTENDED
        )
        options.log_severity_level = 3
        log.info("loading %s (%s, %d threads, %s)", self.model, path, self._threads, self._tuning)
        if self.spec.static_resize:
            path = prepared_graph(path, self.spec.md5, self.spec.input_size)
        try:
            session = ort.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])
        except Exception as error:  # onnxruntime raises its own types for a corrupt file
            raise ModelUnavailable(
                f"Model file {path} could not be loaded ({error}). Delete it and run "
                f"`fibuca-desktop models fetch {self.model}`."
            ) from error
        self._input_name = session.get_inputs()[0].name
        return session

    def model_input(self, image: Image.Image, exact: bool = True) -> np.ndarray:
        """rembg's ``BaseSession.normalize``, operation for operation (``exact=False``: the
        resize first reduces by whole factors, see ``MaskEngine``)."""
        size = (self.spec.input_size, self.spec.input_size)
        rgb = image if image.mode == "RGB" else image.convert("RGB")  # no 12 MP copy when RGB
        gap = None if exact else _REDUCING_GAP
        small = np.array(rgb.resize(size, Image.Resampling.LANCZOS, reducing_gap=gap))
        mean, std = self.spec.mean, self.spec.std
        if not exact:  # the same in float32, channel-first at once: 3 ms less at 320 x 320
            planes = np.moveaxis(small, -1, 0).astype(np.float32, order="C")
            planes *= np.float32(1 / max(int(small.max()), 1))
            planes -= np.asarray(mean, np.float32)[:, None, None]
            planes /= np.asarray(std, np.float32)[:, None, None]
            return planes[None]
        scaled = small / max(np.max(small), 1e-6)
        tensor = np.empty(scaled.shape, dtype=np.float64)
        for channel in range(3):
            tensor[:, :, channel] = (scaled[:, :, channel] - mean[channel]) / std[channel]
        return np.expand_dims(tensor.transpose((2, 0, 1)), 0).astype(np.float32)

    def predict(self, image: Image.Image, exact: bool = True) -> Image.Image:
        return stretch(self.predict_raw(image, exact), image.size, exact)

    def predict_raw(self, image: Image.Image, exact: bool = True) -> Image.Image:
        """The model's 8-bit mask at its input size (320 x 320 for u2netp), scaled as rembg's."""
        session = self._get_session()
        tensor = self.model_input(image, exact)
        with self._gate:
            output = session.run(None, {self._input_name: tensor})[0]
        prediction = output[:, 0, :, :]
        low, high = np.min(prediction), np.max(prediction)
        prediction = np.squeeze((prediction - low) / (high - low))
        if self.spec.clip:
            prediction = prediction.clip(0, 1)
        return Image.fromarray((prediction * 255).astype("uint8"), mode="L")


class RembgMaskEngine:
    """Any rembg model through rembg itself; imported on first use only."""

    def __init__(self, model: str, store: ModelStore, threads: int, slots: int = 1) -> None:
        self.model = model
        self._store = store
        self._threads = max(1, threads)
        self._session = None
        self._lock = threading.Lock()
        self._gate = threading.BoundedSemaphore(slots)

    def _get_session(self):
        with self._lock:
            if self._session is None:
                self._store.path(self.model)  # rembg would download a missing file: never here
                require_rembg(f"Model {self.model}")  # clear in the packaged app, which lacks it
                log.info(
                    "importing rembg for model %s (slow: numba, scipy, scikit-image)", self.model
                )
                try:
                    import onnxruntime as ort
                    from rembg import new_session
                except ImportError as error:
                    raise ModelUnavailable(rembg_missing_message(f"Model {self.model}")) from error
                options = ort.SessionOptions()
                options.intra_op_num_threads = self._threads
                try:
                    self._session = new_session(self.model, sess_opts=options)
                except Exception as error:  # rembg downloads with pooch and raises its errors
                    raise ModelUnavailable(
                        f"rembg could not load model {self.model} ({error}). Run "
                        f"`fibuca-desktop models fetch {self.model}` while online."
                    ) from error
            return self._session

    def predict(self, image: Image.Image, exact: bool = True) -> Image.Image:
        return self.predict_raw(image, exact)

    def predict_raw(self, image: Image.Image, exact: bool = True) -> Image.Image:
        """rembg's mask, already at the image's size (rembg stretches it itself)."""
        session = self._get_session()
        with self._gate:
            return session.predict(image)[0]  # always rembg's own resampling


def alpha_matting(image: Image.Image, mask: Image.Image) -> Image.Image:
    """rembg's alpha matting (pymatting), returning the refined RGBA cut-out. Imports rembg."""
    require_rembg("Alpha matting")
    try:
        from rembg.bg import alpha_matting_cutout
    except ImportError as error:
        raise ModelUnavailable(rembg_missing_message("Alpha matting")) from error
    return alpha_matting_cutout(image.convert("RGB"), mask, 240, 10, 10)


class EngineProvider:
    """Creates each model's engine once and hands the same one to every worker."""

    def __init__(
        self,
        store: ModelStore | None = None,
        threads: int | None = None,
        tuning: SessionTuning | None = None,
        inference_slots: int = 1,
    ) -> None:
        self.store = store or ModelStore()
        self.threads = threads or (os.cpu_count() or 1)
        self.tuning = tuning
        self.inference_slots = inference_slots
        self._engines: dict[str, MaskEngine] = {}
        self._lock = threading.Lock()

    def is_loaded(self, model: str) -> bool:
        """Whether ``model``'s session exists yet (it is created on first use)."""
        with self._lock:
            engine = self._engines.get(model)
        return engine is not None and getattr(engine, "_session", None) is not None

    def get(self, model: str) -> MaskEngine:
        with self._lock:
            engine = self._engines.get(model)
            if engine is None:
                spec = spec_for(model)
                if spec.lean:
                    engine = OnnxMaskEngine(
                        spec, self.store, self.threads, self.tuning, self.inference_slots
                    )
                else:
                    engine = RembgMaskEngine(model, self.store, self.threads, self.inference_slots)
                self._engines[model] = engine
            return engine
