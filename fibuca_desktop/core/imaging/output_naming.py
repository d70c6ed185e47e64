"""What a name template's fields read for one photo of a batch: the preset, the profile, the
output's pixel size (from the photo's header, as the pipeline will make it) and its number.

``BatchPlan`` asks here for each output's stem and its candidate names in order; it still owns
the names (which candidate is free, in the queue and on disk).
"""

from __future__ import annotations

import itertools
import math
import os
import sys
from dataclasses import dataclass
from pathlib import Path

from fibuca_desktop.core.atomic_write import NAME_MAX, shortened
from fibuca_desktop.core.errors import FibucaError, UsageError
from fibuca_desktop.core.imaging.decode import ImageHeader, Limits, draft_scale, read_header
from fibuca_desktop.core.imaging.name_template import SIZE_FIELDS, NameContext, NameTemplate
from fibuca_desktop.core.imaging.presets import Preset
from fibuca_desktop.core.imaging.render import fitted_size

# A header is only read for its size here: the pipeline applies the real limits (and says so).
_ANY_SIZE = Limits(max_file_bytes=sys.maxsize, max_pixels=sys.maxsize)
_DRAFTED = frozenset({"JPEG", "MPO"})  # decode.decode's draft mode: a reduced decode to fit


@dataclass(frozen=True)
class Naming:
    """A template with what it is rendered for: the preset (its name, its output size) and the
    export profile ('' when none)."""

    template: NameTemplate
    preset: Preset
    profile: str = ""

    @property
    def reads_sizes(self) -> bool:
        return bool(self.template.fields & SIZE_FIELDS)

    def stem(self, relative: Path, n: int, header: ImageHeader | None) -> str:
        """The output stem for the photo at ``relative`` (its mirrored path), the ``n``-th of the
        queue; ``header`` None (unreadable: the photo will fail with the reason) gives 0x0.
        Raises UsageError, naming the photo, when the values make no file name."""
        width, height = output_size(self.preset, header) if header is not None else (0, 0)
        name = Path(relative.name)
        context = NameContext(
            stem=name.stem,
            ext=name.suffix.lstrip(".").lower(),
            preset=self.preset.name,
            profile=self.profile,
            width=width,
            height=height,
            n=n,
        )
        try:
            return self.template.render(context)
        except UsageError as error:
            raise UsageError(f"{relative}: {error}") from None


def output_size(preset: Preset, header: ImageHeader) -> tuple[int, int]:
    """The pixel size the pipeline writes for a photo with this (upright) header: the canvas of
    a square preset; for a longest side, what ``fit_within`` makes of the decoded size (a JPEG
    decodes reduced, in draft mode, to no less than the output needs); else the photo's own."""
    if preset.canvas:
        return (preset.canvas, preset.canvas)
    size = (header.width, header.height)
    if not preset.max_side:
        return size
    if header.format in _DRAFTED:
        scale = draft_scale(size, preset.max_side)
        size = (math.ceil(size[0] / scale), math.ceil(size[1] / scale))
    return fitted_size(size, preset.max_side)


class Headers:
    """Each photo's header, read once per plan and only for a template that uses the size."""

    def __init__(self) -> None:
        self._read: dict[Path, ImageHeader | None] = {}

    def of(self, photo: Path) -> ImageHeader | None:
        if photo not in self._read:
            try:
                self._read[photo] = read_header(photo, _ANY_SIZE)
            except (FibucaError, OSError):
                self._read[photo] = None
        return self._read[photo]


EXAMPLE_PHOTO = Path("IMG_0042.jpg")  # a phone photo, for previews of a template
_EXAMPLE_HEADER = ImageHeader("JPEG", "RGB", 4032, 3024, 1)


def example_name(template: NameTemplate | None, preset: Preset, profile: str = "") -> str:
    """The output name ``template`` gives the example photo, the first of a queue, for
    ``preset`` (None: the photo's own name). Raises UsageError as ``Naming.stem``."""
    if template is None:
        return EXAMPLE_PHOTO.stem + preset.extension
    stem = Naming(template, preset, profile).stem(EXAMPLE_PHOTO, 1, _EXAMPLE_HEADER)
    return stem + preset.extension


def candidate_names(relative: Path, source: Path, extension: str, wanted: str | None = None):
    """Output names in order of preference, made lazily: almost every photo takes the first.
    The first input keeps ``name.ext``; a clash adds the source extension (``name-jpeg.png``),
    then a counter. A template's stem (``wanted``) goes straight on to the counter: the
    template says what the name holds (``{ext}`` is there to tell item.jpg from item.png)."""
    if wanted is not None:
        yield relative.parent / fitted_name(wanted, extension)
        for number in itertools.count(2):
            yield relative.parent / fitted_name(wanted, f"-{number}{extension}")
    stem = relative.with_suffix("")
    yield stem.with_name(fitted_name(stem.name, extension))
    source_ext = source.suffix.lstrip(".").lower()
    if source_ext:
        yield stem.with_name(fitted_name(stem.name, f"-{source_ext}{extension}"))
    for number in itertools.count(2):
        yield stem.with_name(fitted_name(stem.name, f"-{number}{extension}"))


def fitted_name(stem: str, tail: str) -> str:
    """``stem + tail`` within one file name's 255 bytes: a long stem (85 Chinese characters are
    255 bytes) is cut, the tail (counter, extension) kept; clashes go on to the next candidate."""
    return shortened(stem, NAME_MAX - len(os.fsencode(tail))) + tail
