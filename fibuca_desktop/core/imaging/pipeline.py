"""One photo from input file to finished output: the unit of work every front end runs.

A job never raises: it returns a ``JobResult`` whose status is processed, skipped or failed with a
message a person can act on, so one bad file never stops a batch. Cancellation is checked at the
safe points between stages; a cancelled job writes nothing.
"""

from __future__ import annotations

import errno
import logging
import threading
import time
from dataclasses import dataclass, field
from dataclasses import replace as dataclass_replace
from pathlib import Path

from fibuca_desktop.core.atomic_write import write_atomically
from fibuca_desktop.core.errors import Cancelled, FibucaError, OutputError
from fibuca_desktop.core.imaging.batch import Job
from fibuca_desktop.core.imaging.decode import (
    ImageHeader,
    Limits,
    decode,
    draft_scale,
    read_header,
)
from fibuca_desktop.core.imaging.engine import EngineProvider, alpha_matting
from fibuca_desktop.core.imaging.framing import subject_box
from fibuca_desktop.core.imaging.mask_store import MaskStore
from fibuca_desktop.core.imaging.memory_budget import MemoryBudget
from fibuca_desktop.core.imaging.models import spec_for
from fibuca_desktop.core.imaging.output_records import (
    hold_while_writing,
    record_output,
    recorded_input,
)
from fibuca_desktop.core.imaging.photo_masks import EDITED, honour_edit, working_mask
from fibuca_desktop.core.imaging.presets import Preset
from fibuca_desktop.core.imaging.refine import refine
from fibuca_desktop.core.imaging.render import (
    combined_alpha,
    fit_within,
    render,
)
from fibuca_desktop.core.imaging.review import review
from fibuca_desktop.core.profiles.preflight import Preflight, inspect, meet
from fibuca_desktop.core.profiles.profiles import Profile

log = logging.getLogger(__name__)

PROCESSED, SKIPPED, FAILED, CANCELLED = "processed", "skipped", "failed", "cancelled"
# A job's peak beyond the model, measured (tests/benchmarks): a 12 MP transparent job adds ~80-95
# MB (decoded RGB kept as 4 bytes a pixel by Pillow, the mask, streamed strips); a second web job
# from a 12 MP JPEG adds ~25 MB (model-input arrays, encoder buffers, the worker's own heap).
_BYTES_PER_PIXEL = 9
_JOB_OVERHEAD = 20 * 1024 * 1024
# Refined edges add the new alpha beside the model's mask, and one batch of tiles (refine.py).
_REFINE_BYTES_PER_PIXEL = 1
_REFINE_OVERHEAD = 30 * 1024 * 1024
# An edited mask is read at the photo's full size before it is reduced to the job's.
_EDITED_BYTES_PER_PIXEL = 1
# The bytes an output must start with, by its extension: a name always tells what is inside.
_FULL = {errno.ENOSPC, errno.EDQUOT}
_HALTS = _FULL | {errno.EROFS}  # nothing more can be written on that filesystem


@dataclass
class JobResult:
    job: Job
    status: str
    width: int = 0
    height: int = 0
    ms: float = 0.0
    message: str = ""
    notes: list[str] = field(default_factory=list)
    halts_batch: bool = False  # the disk is full: the photos after this one cannot be written
    mask: str = ""  # processed: what the mask came from, "model", "stored" or "edited"
    review: list[str] = field(default_factory=list)  # processed: why it may need a look
    preflight: Preflight | None = None  # processed with a profile: the written file's checks

    @property
    def input(self) -> Path:
        return self.job.input

    @property
    def output(self) -> Path:
        return self.job.output


class Pipeline:
    """Decode, find or predict the mask, render the preset, write atomically. Thread-safe.

    With ``masks``, a photo's edited or stored mask is used instead of running the model, and a
    fresh model mask is stored; ``use_stored=False`` (``--no-mask-cache``) neither reads nor
    writes the store. With a ``profile`` (whose preset is ``preset``), every output is checked
    against its rules, fixed where it can be (preflight.py), and the written file checked again.
    ``scale`` (output pixels per full-size photo pixel) frames every photo at one scale
    (``--same-scale``: see ``subject_side``).
    """

    def __init__(
        self,
        engines: EngineProvider,
        preset: Preset,
        model: str,
        limits: Limits | None = None,
        overwrite: bool = False,
        masks: MaskStore | None = None,
        use_stored: bool = True,
        profile: Profile | None = None,
        scale: float | None = None,
    ) -> None:
        self.engines = engines
        self.preset = preset
        self.model = model
        self.limits = limits or Limits()
        self.overwrite = overwrite
        self.model_spec = spec_for(model)
        self.masks = masks if use_stored else None
        self.profile = profile
        self.scale = scale

    def estimate_bytes(self, header: ImageHeader) -> int:
        """Peak memory of one job's images, from its pixel count (after JPEG draft scaling).

        The model's own working memory is reserved once per inference slot by the scheduler. A
        stored mask saves the model's run, not memory: it is stretched to the same full mask.
        """
        pixels = header.pixels
        side = self.preset.decode_side()
        if side and header.format in {"JPEG", "MPO"}:
            pixels //= draft_scale((header.width, header.height), side) ** 2
        extra = pixels * _REFINE_BYTES_PER_PIXEL + _REFINE_OVERHEAD if self._refines else 0
        if self.masks is not None and (side or self.preset.max_side):  # an edit, reduced
            extra += header.pixels * _EDITED_BYTES_PER_PIXEL
        if self.preset.canvas:
            pixels += self.preset.canvas**2
        return pixels * _BYTES_PER_PIXEL + _JOB_OVERHEAD + extra

    @property
    def _refines(self) -> bool:
        return refines(self.preset)

    def header(self, job: Job) -> ImageHeader:
        return read_header(job.input, self.limits)

    def process(
        self,
        job: Job,
        cancel: threading.Event | None = None,
        budget: MemoryBudget | None = None,
    ) -> JobResult:
        """Run one job; with a ``budget``, reserve its estimated peak first. Never raises."""
        started = time.perf_counter()
        try:
            if cancel is not None and cancel.is_set():
                raise Cancelled("Cancelled before it started.")
            replace = job.output.exists()
            if replace:
                if not self.overwrite:
                    return JobResult(
                        job,
                        SKIPPED,
                        message="already exists, kept (--overwrite or Replace existing redoes it)",
                    )
                if recorded_input(job.output.parent, job.output.name) != job.input:
                    return JobResult(  # appeared since it was planned: not ours to replace
                        job, SKIPPED, message="exists and was not made from this photo; kept"
                    )
            header = self.header(job)  # cheap checks first: size, format, pixel count
            if budget is None:
                result = self._run(job, cancel, header, replace)
            else:
                with budget.reserve(self.estimate_bytes(header), cancel, job.input.name):
                    result = self._run(job, cancel, header, replace)
        except Cancelled as error:
            result = JobResult(job, CANCELLED, message=str(error))
        except FibucaError as error:
            result = JobResult(job, FAILED, message=str(error), halts_batch=_stops_the_batch(error))
        except MemoryError:
            result = JobResult(
                job,
                FAILED,
                message=f"Not enough memory to process {job.input.name}; "
                "use fewer workers or a smaller photo.",
            )
        except Exception as error:  # a bug must not stop the batch; it is logged in full
            log.exception("unexpected error processing %s", job.input)
            result = JobResult(job, FAILED, message=f"Unexpected error: {error!r} (see the log).")
        result.ms = (time.perf_counter() - started) * 1000
        return result

    def _run(self, job: Job, cancel, header: ImageHeader, replace: bool) -> JobResult:
        _check(cancel)
        decoded = decode(job.input, self.limits, self.preset.decode_side())
        image = decoded.image
        colour_notes = list(decoded.notes)  # a CMYK conversion, a profile dropped: say so
        if decoded.converted_from and not colour_notes:
            colour_notes.append(f"colours converted to sRGB from {decoded.converted_from}")
        if self.preset.max_side and not self.preset.canvas:
            image = fit_within(image, self.preset.max_side)  # predict on the output size only
        _check(cancel)
        refined = self._refines
        full_size = image.size == (header.width, header.height)
        mask, source, key = working_mask(
            job.input, image, self.model, self.engines, self.masks, not refined, full_size
        )
        # A person's edit is what they looked at and meant: nothing left to flag.
        flags = [] if source == EDITED else review(image, mask)
        if self.preset.alpha_matting:  # replaces the edge entirely: --edges has no effect
            cutout = alpha_matting(image, mask)
            image, mask = cutout.convert("RGB"), cutout.getchannel("A")
        elif refined:
            _check(cancel)
            cutout = refine(image, mask, not self.preset.mask_only, self.model_spec.input_size)
            alpha = cutout.alpha
            if source == EDITED:
                alpha = honour_edit(key, self.masks, mask, alpha)
            mask = combined_alpha(image, alpha)
            image = cutout.rgb
        alpha = combined_alpha(image, mask)
        del mask
        _check(cancel)
        scale = self.scale * header.width / image.width if self.scale else None
        preflight: dict | None = None
        if self.profile is None:
            rendered = render(image, alpha, self.preset, scale)
            check = rendered.check
        else:
            rendered, check, preflight = self._preflighted(image, alpha, scale)
        del image, alpha, decoded
        try:
            record_output(job.output, job.input)  # first: a record without its output is harmless
        except OSError as error:
            if error.errno in _FULL:
                message = f"The disk holding {job.output.parent} is full; free space and retry."
            else:
                message = (
                    f"Cannot write {job.output.name} to {job.output.parent}: "
                    f"{error.strerror or error}. Choose an output folder you can write to."
                )
            raise OutputError(message) from error

        def write(handle) -> None:
            hold_while_writing(handle.fileno())  # a cleaner never removes a live temporary file
            rendered.write(handle)

        # rendered.check reads the file back before the rename: format, size, and that its
        # bytes are what its name says (a PNG named .jpg never lands).
        # Replace only our own earlier output, checked at the start; a name that was free then
        # is created exclusively, so one that another process wrote meanwhile is never replaced.
        if not write_atomically(job.output, write, replace, check):
            return JobResult(job, SKIPPED, message="output appeared meanwhile; left untouched")
        notes = colour_notes
        if not rendered.subject_found:
            notes.append("no subject found; the whole photo was used")
        if header.frames > 1:
            notes.append(f"animated ({header.frames} frames): the first frame was used")
        result = JobResult(job, PROCESSED, *rendered.size, notes=notes, mask=source, review=flags)
        if preflight is not None:
            result.preflight = preflight["report"]
        return result

    def _preflighted(self, image, alpha, scale):
        """Render to the profile's rules, fixing what can be fixed. Returns the render (writing
        the very bytes preflight saw), the write check, and a holder whose ``"report"`` the
        check replaces with the verdict on the written file, read back."""
        profile = self.profile

        def draw(preset):
            return render(image, alpha, preset, scale, measure=True)

        rendered, data, first = meet(draw, profile, self.scale is not None)
        held = {"report": first}

        def check(written: Path, target: Path) -> None:
            rendered.check(written, target)
            report = inspect(written, rendered, profile.rules, profile.name)
            report.fixed = first.fixed
            held["report"] = report

        return dataclass_replace(rendered, write=lambda handle: handle.write(data)), check, held

    def subject_side(self, job: Job, header: ImageHeader) -> float:
        """The longer side of the photo's subject box in full-size pixels (0: none found), from
        its working mask (which is stored, so the batch's real run does not predict it again)."""
        decoded = decode(job.input, self.limits, self.preset.decode_side())
        image = decoded.image
        mask, _, _ = working_mask(
            job.input,
            image,
            self.model,
            self.engines,
            self.masks,
            not self._refines,
            image.size == (header.width, header.height),
        )
        box = subject_box(combined_alpha(image, mask))
        if box is None:
            return 0.0
        return max(box[2] - box[0], box[3] - box[1]) * header.width / image.width


def refines(preset: Preset) -> bool:
    """Whether the edge is refined (alpha matting replaces the edge altogether). A refined edge
    needs only the fast model input; every other job asks for rembg's exact one."""
    return preset.edges == "refined" and not preset.alpha_matting


def _stops_the_batch(error: BaseException) -> bool:
    cause = error.__cause__
    return isinstance(cause, OSError) and cause.errno in _HALTS


def _check(cancel: threading.Event | None) -> None:
    if cancel is not None and cancel.is_set():
        raise Cancelled("Cancelled before it finished; nothing was written.")
