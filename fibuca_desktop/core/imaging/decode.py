"""Open an input photo safely: limits first, format from the content, EXIF orientation applied,
every awkward mode normalised to 8-bit RGB or RGBA, and a truncated file rejected, never half-read.
"""

from __future__ import annotations

import io
import logging
import math
import stat
import struct
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from PIL import Image, ImageFile, ImageOps, UnidentifiedImageError

from fibuca_desktop.core.errors import ImageRejected
from fibuca_desktop.core.imaging.colour import to_srgb

log = logging.getLogger(__name__)

# A truncated file must fail, not decode as half a picture.
ImageFile.LOAD_TRUNCATED_IMAGES = False
# Limits.max_pixels is the decompression-bomb guard: _header checks it after Image.open has read
# only the header and before any pixel is decoded, the same point where Pillow checks its own
# global limit. Pillow's limit (a warning above 89 MP, an error above 179 MP) would otherwise
# override the limit a user sets, and escalating its warning per call is not thread-safe.
Image.MAX_IMAGE_PIXELS = None

_PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
_PNG_METADATA_CHUNKS = {b"iCCP", b"zTXt", b"iTXt", b"tEXt", b"eXIf"}  # none changes a pixel
METADATA_DROPPED = "fibuca.metadata_dropped"  # image.info key: why the PNG's metadata was skipped
_ROTATING_ORIENTATIONS = {5, 6, 7, 8}  # EXIF orientations that swap width and height
_MB = 1024 * 1024
# How each readable format's file starts, to tell a cut-off photo from a file that is no image.
_SIGNATURES = {
    b"\xff\xd8\xff": "JPEG",
    _PNG_SIGNATURE: "PNG",
    b"GIF8": "GIF",
    b"II*\x00": "TIFF",
    b"MM\x00*": "TIFF",
}
# What Pillow's plugins raise on a damaged file besides OSError (TIFF: TypeError "Missing
# dimensions", APNG: ValueError "truncated fcTL chunk"...). Each must fail that one file: raised
# from read_header it would escape the scheduler's job and stop the whole batch.
_DAMAGED = (SyntaxError, ValueError, TypeError, EOFError, IndexError, KeyError, struct.error)


@dataclass(frozen=True)
class Limits:
    """What a single input may be. The defaults accept any camera or phone photo."""

    max_file_bytes: int = 40 * _MB
    max_pixels: int = 64_000_000

    def describe_file_limit(self) -> str:
        return f"{self.max_file_bytes / _MB:.0f} MB"


@dataclass(frozen=True)
class ImageHeader:
    """What the file says about itself, read without decoding pixels."""

    format: str
    mode: str
    width: int  # after EXIF orientation
    height: int
    frames: int

    @property
    def pixels(self) -> int:
        return self.width * self.height


@dataclass
class DecodedImage:
    image: Image.Image  # 8-bit "RGB" or "RGBA", upright, sRGB (colour.py converted it)
    header: ImageHeader
    converted_from: str | None = None  # the embedded profile the colours were converted from
    notes: list[str] = field(default_factory=list)  # what was done to the colours, for a person


def _orientation(image: Image.Image) -> int:
    try:
        return int(image.getexif().get(0x0112, 1))
    except Exception:  # a damaged EXIF block must not reject an otherwise good photo
        return 1


def _describe_unreadable(path: Path) -> str:
    with open(path, "rb") as handle:
        head = handle.read(512)
    if not head.strip():
        return "it contains no image data"
    kind = next((kind for sig, kind in _SIGNATURES.items() if head.startswith(sig)), None)
    if head[:4] == b"RIFF" and head[8:12] == b"WEBP":
        kind = "WebP"
    if kind:
        return f"it starts like a {kind} file but is truncated or damaged"
    try:
        head.decode("utf-8")
        return "it is a text file, not an image"
    except UnicodeDecodeError:
        return "it is not an image format Fibuca Desktop can read (JPEG, PNG, WebP, GIF, TIFF, BMP)"


def _check_size(path: Path, limits: Limits) -> None:
    try:
        info = path.stat()
    except OSError as error:
        raise ImageRejected(f"Cannot read {path.name}: {error.strerror}.") from error
    size = info.st_size
    if not stat.S_ISREG(info.st_mode):  # reading a pipe or a device may never end
        raise ImageRejected(
            f"{path.name} is not a file but a {_special_kind(info.st_mode)}; only photo files "
            "are processed."
        )
    if size == 0:
        raise ImageRejected(f"{path.name} is empty (0 bytes); export or copy the photo again.")
    if size > limits.max_file_bytes:
        raise ImageRejected(
            f"{path.name} is {size / _MB:.1f} MB, over the {limits.describe_file_limit()} limit; "
            "export a smaller file or raise the limit in settings."
        )


def _special_kind(mode: int) -> str:
    if stat.S_ISFIFO(mode):
        return "named pipe"
    if stat.S_ISSOCK(mode):
        return "socket"
    return "folder" if stat.S_ISDIR(mode) else "device"


def _open(path: Path) -> Image.Image:
    try:
        return Image.open(path)
    except ValueError as error:  # Pillow refuses a PNG whose profile or text is over 1 MB
        image = _open_without_png_metadata(path, error)
        if image is None:
            raise _damaged(path, error) from error
        return image
    except Image.DecompressionBombError as error:  # only if Image.MAX_IMAGE_PIXELS was set again
        raise ImageRejected(
            f"{path.name} declares an enormous image ({error}); it looks like a decompression bomb "
            "and was not decoded."
        ) from error
    except UnidentifiedImageError as error:
        raise ImageRejected(
            f"{path.name} cannot be opened: {_describe_unreadable(path)}."
        ) from error
    except OSError as error:
        if error.errno is not None:  # the file itself could not be read (permissions, I/O)
            raise ImageRejected(f"Cannot read {path.name}: {error.strerror}.") from error
        raise _damaged(path, error) from error
    except _DAMAGED as error:
        raise _damaged(path, error) from error


def _open_without_png_metadata(path: Path, error: ValueError) -> Image.Image | None:
    """A PNG whose pixels are fine but whose metadata Pillow will not read, opened from a copy
    without its profile and text chunks (None if that is not the trouble). The copy is in memory,
    bounded by the file size limit, and only made on this rare path."""
    try:
        data = path.read_bytes()
    except OSError:
        return None
    if not data.startswith(_PNG_SIGNATURE):
        return None
    kept, offset = [data[:8]], 8
    while offset + 12 <= len(data):
        (length,) = struct.unpack(">I", data[offset : offset + 4])
        kind, end = data[offset + 4 : offset + 8], offset + 12 + length
        if kind not in _PNG_METADATA_CHUNKS:
            kept.append(data[offset:end])
        offset = end
    try:
        image = Image.open(io.BytesIO(b"".join(kept)))
    except (OSError, *_DAMAGED):
        return None
    image.info[METADATA_DROPPED] = (
        f"{path.name}: embedded colour profile ignored: it (or the text stored with it) is too "
        f"large to read ({error}); the output carries none (sRGB)"
    )
    return image


def _damaged(path: Path, error: BaseException) -> ImageRejected:
    return ImageRejected(
        f"{path.name} is truncated or damaged ({error}); nothing was written. "
        "Copy or export the original again."
    )


def read_header(path: Path, limits: Limits) -> ImageHeader:
    """Cheap checks (size, format, dimensions) without decoding the pixels."""
    _check_size(path, limits)
    with _open(path) as image:
        return _header(path, image, limits)


def _header(path: Path, image: Image.Image, limits: Limits) -> ImageHeader:
    width, height = image.size
    if _orientation(image) in _ROTATING_ORIENTATIONS:
        width, height = height, width
    if width * height > limits.max_pixels:  # before n_frames, which walks every frame
        raise ImageRejected(
            f"{path.name} is {width}x{height} ({width * height / 1e6:.0f} MP), over the "
            f"{limits.max_pixels / 1e6:.0f} MP limit (a decompression bomb guard); "
            "resize it first or raise the limit in settings."
        )
    try:
        frames = getattr(image, "n_frames", 1)  # reads every frame's header
    except (OSError, *_DAMAGED) as error:
        raise _damaged(path, error) from error
    return ImageHeader(image.format or "unknown", image.mode, width, height, frames)


def draft_box(stored_size: tuple[int, int], max_side: int) -> tuple[int, int]:
    """The stored-pixel size an output fitting in ``max_side`` needs (orientation-independent:
    both sides scale by the same factor)."""
    width, height = stored_size
    scale = min(1.0, max_side / max(width, height))
    return (max(1, math.ceil(width * scale)), max(1, math.ceil(height * scale)))


def draft_scale(stored_size: tuple[int, int], max_side: int) -> int:
    """The JPEG draft reduction (1, 2, 4 or 8) Pillow picks for ``draft_box``."""
    (width, height), (need_width, need_height) = stored_size, draft_box(stored_size, max_side)
    scale = 1
    while scale < 8 and width // (scale * 2) >= need_width and height // (scale * 2) >= need_height:
        scale *= 2
    return scale


def decode(path: Path, limits: Limits, max_side: int | None = None) -> DecodedImage:
    """Decode the first frame, upright, as 8-bit RGB or RGBA, with the colours the output shows.

    Processing, the preview and the thumbnails all decode here, so they show the same colours.

    ``max_side`` lets a JPEG decode at 1/2, 1/4 or 1/8 scale (draft mode) when the output's longest
    side will be at most that anyway; the result is never smaller than the output needs.
    """
    _check_size(path, limits)
    with _open(path) as image:
        header = _header(path, image, limits)
        if max_side and header.format in {"JPEG", "MPO"}:
            image.draft(image.mode, draft_box(image.size, max_side))
        try:
            image.seek(0)
            image.load()
            ImageOps.exif_transpose(image, in_place=True)  # no copy when already upright
            colour = to_srgb(image, image.info.get("icc_profile"), path.name)
            if METADATA_DROPPED in image.info:
                colour.notes.insert(0, image.info[METADATA_DROPPED])
                log.warning("%s", colour.notes[0])
            normalised = _normalise(colour.image)
        except (OSError, *_DAMAGED) as error:
            raise _damaged(path, error) from error
        except MemoryError as error:
            raise ImageRejected(f"Not enough memory to decode {path.name}.") from error
    return DecodedImage(normalised, header, colour.converted_from, colour.notes)


def _normalise(image: Image.Image) -> Image.Image:
    mode = image.mode
    if mode in ("RGB", "RGBA"):
        return image
    if mode in ("LA", "PA", "RGBa", "La"):
        return image.convert("RGBA")
    if mode == "P":
        return image.convert("RGBA" if "transparency" in image.info else "RGB")
    if mode.startswith("I") or mode == "F":
        return _high_bit_depth_to_rgb(image)
    return image.convert("RGB")  # L, 1, YCbCr, LAB, HSV (CMYK is converted by colour.py)


def _high_bit_depth_to_rgb(image: Image.Image) -> Image.Image:
    """16-bit and float greyscale: scale the full range to 8 bits instead of clipping at 255."""
    values = np.asarray(image)
    if image.mode == "F":
        top = float(values.max()) if values.size else 1.0
        scale = 255.0 / top if top > 1.0 else 255.0
    else:
        scale = 255.0 / 65535.0 if values.max(initial=0) > 255 else 1.0
    grey = np.clip(values.astype(np.float32) * scale + 0.5, 0, 255).astype(np.uint8)
    return Image.fromarray(grey, mode="L").convert("RGB")
