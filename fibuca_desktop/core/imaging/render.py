"""Turn an upright photo and its mask into a preset's output image, and check what was written."""

from __future__ import annotations

import struct
from collections.abc import Callable
from dataclasses import dataclass
from functools import partial
from pathlib import Path
from typing import BinaryIO

from PIL import Image, ImageChops

from fibuca_desktop.core.errors import OutputError
from fibuca_desktop.core.imaging.colour import srgb_icc
from fibuca_desktop.core.imaging.framing import Box, frame, subject_box
from fibuca_desktop.core.imaging.png_stream import compose_strip, write_rgba_png
from fibuca_desktop.core.imaging.presets import Preset

# zlib level for the PNGs Pillow encodes (masks). Cut-outs (RGBA) stream through png_stream.py,
# whose "Up" filter at deflate level 3 matches Pillow's level 4 in bytes at a third of the CPU.
PNG_COMPRESS_LEVEL = 4
FORMAT_EXTENSIONS = {"PNG": (".png",), "JPEG": (".jpg", ".jpeg"), "WEBP": (".webp",)}


def fit_within(image: Image.Image, side: int) -> Image.Image:
    """Scale down (never up) so neither side exceeds ``side``."""
    size = fitted_size(image.size, side)
    if size == image.size:
        return image
    return image.resize(size, Image.Resampling.LANCZOS, reducing_gap=3.0)


def fitted_size(size: tuple[int, int], side: int) -> tuple[int, int]:
    """The size ``fit_within`` gives an image of ``size`` (name templates' {width}x{height})."""
    width, height = size
    if max(width, height) <= side:
        return size
    scale = side / max(width, height)
    return (max(1, round(width * scale)), max(1, round(height * scale)))


def combined_alpha(image: Image.Image, mask: Image.Image) -> Image.Image:
    """The mask, limited by the photo's own transparency where it has one (as rembg's cut-out)."""
    if image.mode == "RGBA":
        return ImageChops.multiply(mask, image.getchannel("A"))
    return mask


@dataclass(frozen=True)
class Rendered:
    """A finished output that writes itself, so the largest ones can stream to disk."""

    size: tuple[int, int]
    write: Callable[[BinaryIO], None]
    subject_found: bool = True
    format: str = "PNG"  # as Pillow names it
    mode: str = "RGBA"
    icc_profile: bytes | None = None
    box: Box | None = None  # the subject's bounding box in the output (measured outputs only)
    scale: float = 1.0  # output pixels per pixel of the image given to render()

    def check(self, written: Path, target: Path) -> None:
        """Raise OutputError unless ``written`` (the temporary file, before its rename to
        ``target``) reads back as what was meant: ``target``'s format, size, mode and profile.

        Cheap (about 2 ms for a 12 MP output): headers, sizes and ends, no pixel decoding.
        """
        if target.suffix.lower() not in FORMAT_EXTENSIONS[self.format]:
            raise _unreadable(target, f"it holds {self.format} data but is named {target.suffix!r}")
        try:
            with Image.open(written) as image:
                found = (image.format, image.size, image.mode)
                expected = (self.format, self.size, self.mode)
                if found == ("WEBP", self.size, "RGB") and self.mode == "RGBA":
                    found = expected  # libwebp stores a wholly opaque RGBA image without alpha
                if found != expected:
                    raise _unreadable(target, f"it reads back as {found}, not {expected}")
                if image.info.get("icc_profile") != self.icc_profile:
                    raise _unreadable(target, "its colour profile does not read back")
                _check_data(image, written)
        except (OSError, SyntaxError, ValueError, TypeError, EOFError, struct.error) as error:
            raise _unreadable(target, str(error) or type(error).__name__) from error


def _check_data(image: Image.Image, written: Path) -> None:
    """The whole file is there: a PNG's chunks all pass their CRC up to IEND (2 ms at 12 MP); a
    JPEG ends with its EOI marker and a WebP's RIFF length is the file's (decoding either, even at
    1/8 scale, cost 60-200 ms at 12 MP; neither format has a checksum to verify)."""
    if image.format == "PNG":
        image.verify()
        return
    with open(written, "rb") as handle:
        head = handle.read(8)
        handle.seek(-2, 2)
        tail = handle.read(2)
        size = handle.tell()
    if image.format == "JPEG" and tail != b"\xff\xd9":
        raise ValueError("it does not end with a JPEG EOI marker: truncated")
    if image.format == "WEBP" and struct.unpack("<I", head[4:8])[0] + 8 != size:
        raise ValueError("its RIFF length is not its size: truncated")


def _unreadable(target: Path, reason: str) -> OutputError:
    return OutputError(
        f"{target.name} was not written: the encoded file would not read back ({reason}). "
        "This is a bug in Fibuca Desktop; please report it with the input photo."
    )


def render(
    image: Image.Image,
    alpha: Image.Image,
    preset: Preset,
    scale: float | None = None,
    measure: bool = False,
) -> Rendered:
    """Compose the preset's output from an upright photo and its alpha. On a canvas, a fixed
    ``scale`` (output pixels per pixel of ``image``) replaces the preset's fill; ``measure``
    also finds the subject's box in an output without a canvas (for a profile's preflight).
    ``image`` is sRGB (decode converted it), and every colour output is tagged so."""
    rgb = image.convert("RGB") if image.mode != "RGB" else image
    subject_found, box, out_scale = True, None, 1.0
    if preset.canvas:
        side = (preset.canvas, preset.canvas)
        framed = frame(rgb, alpha, side, preset.product_share, preset.anchor, scale)
        rgb, alpha, subject_found = framed.rgb, framed.alpha, framed.subject_found
        box, out_scale = framed.box, framed.scale
    elif preset.max_side:
        before = rgb.width
        rgb, alpha = fit_within(rgb, preset.max_side), fit_within(alpha, preset.max_side)
        out_scale = rgb.width / before
    if measure and not preset.canvas:
        box = subject_box(alpha)
    placed = {"box": box, "scale": out_scale}
    if max(rgb.size) > preset.encoding.max_side:  # only "original size" gets here: say so
        raise OutputError(
            f"This photo is {rgb.width}x{rgb.height}; {preset.too_large(max(rgb.size))}"
        )
    if preset.mask_only:
        return _encoded_by_pillow(alpha, preset, subject_found, placed)
    if preset.background is None:
        if preset.format == "png":
            profile = srgb_icc()
            write = partial(write_rgba_png, rgb=rgb, alpha=alpha, icc_profile=profile)
            return Rendered(rgb.size, write, subject_found, "PNG", "RGBA", profile, **placed)
        rgba = compose_strip(rgb, alpha, (0, 0, *rgb.size))
        return _encoded_by_pillow(rgba, preset, subject_found, placed)
    canvas = Image.new("RGB", rgb.size, preset.background)
    canvas.paste(rgb, (0, 0), alpha)
    return _encoded_by_pillow(canvas, preset, subject_found, placed)


def _encoded_by_pillow(image, preset: Preset, subject_found: bool, placed) -> Rendered:
    fmt, options = save_options(preset)
    return Rendered(
        image.size,
        lambda handle: image.save(handle, fmt, **options),
        subject_found,
        fmt,
        image.mode,
        options.get("icc_profile"),
        **placed,
    )


def save_options(preset: Preset) -> tuple[str, dict]:
    """Pillow's format and options: the format is the preset's encoding, as its extension is;
    a colour output is tagged sRGB (a grey mask is data, not colours)."""
    fmt = preset.encoding.pillow
    if fmt == "PNG":
        options: dict = {"compress_level": PNG_COMPRESS_LEVEL}
    elif fmt == "JPEG":
        options = {"quality": preset.quality, "optimize": True, "progressive": True}
    else:
        options = {"quality": preset.quality, "method": 4}
    if not preset.mask_only:
        options["icc_profile"] = srgb_icc()
    return fmt, options
