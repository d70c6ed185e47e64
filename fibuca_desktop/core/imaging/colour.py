"""Colour: every input's pixels in sRGB, every output tagged sRGB.

Browsers, marketplaces and shops show an image in sRGB; a photo from a camera in Adobe RGB, a
Display P3 phone or a print job in CMYK shows wrong colours unless its pixels are converted
through their embedded ICC profile. So, at decoding, before anything else sees the pixels:

- A profile is untrusted input. It is used only if it is small enough, sound in structure
  (header, tag table), parsed by LittleCMS (Pillow's ImageCms) and describes the pixels' colour
  space (RGB for RGB and palette images, GRAY for grey ones, CMYK). Anything else is ignored with
  the reason logged (and returned as a note), and the pixels are read as sRGB, as every viewer
  reads an image without a usable profile.
- A sound profile converts the pixels to sRGB with the relative colorimetric intent (also
  Photoshop's default): the colours the profile says the numbers mean keep their measured values
  where sRGB can show them (a ColorChecker's patches within delta E 2:
  tests/core/test_colour_conversion.py); only colours outside sRGB are clipped. Neither the
  perceptual intent nor black point compensation: through Ghostscript's SWOP CMYK profile they
  move the ColorChecker's dark and saturated patches by up to delta E 4 and 7. A profile that
  already is sRGB (checked on a grid of colours, not by its name: there are dozens of sRGB
  profiles, and the compact one phones and Facebook write is named "c2") leaves the pixels as
  they are.
- A CMYK photo without a usable profile of its own is converted through a standard CMYK profile
  found on the system (``STANDARD_CMYK_PROFILES``: SWOP-like profiles, the usual assumption for
  untagged CMYK). Only when no CMYK profile exists anywhere does Pillow's plain formula remain,
  with a note saying the colours are approximate.
- Every colour output carries ``srgb_icc()``: the 588-byte sRGB profile of LittleCMS, with fixed
  dates so that two runs write the same bytes. An input's own profile is never copied out.
"""

from __future__ import annotations

import io
import logging
import os
import struct
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path

import numpy as np
from PIL import Image, ImageCms

log = logging.getLogger(__name__)

_MB = 1024 * 1024
# A profile is only read, never copied: real RGB profiles are a few KB (sRGB 3 KB, Adobe RGB
# 0.5 KB), LUT-based ones some 100 KB, press CMYK profiles up to ~3 MB (big LUTs).
MAX_PROFILE_BYTES = 8 * _MB
INTENT = ImageCms.Intent.RELATIVE_COLORIMETRIC
# cmsFLAGS_NOCACHE: a transform's one-pixel cache is not safe when worker threads share it (and
# they do: transforms are cached per profile).
_NO_CACHE = 0x0040
_INPUT_CLASSES = {"scnr", "mntr", "prtr", "spac"}  # not device links, abstract or named colours
_HEADER_BYTES = 128
# Which profile colour space a decoded mode's pixels are in (other modes: 16-bit and float grey,
# YCbCr, LAB, are read as they are).
_SPACE_OF_MODE = {"RGB": "RGB", "RGBA": "RGB", "P": "RGB", "PA": "RGB", "L": "GRAY", "LA": "GRAY"}
# A profile is sRGB when it maps every colour of this grid to itself within rounding.
_PROBE_LEVELS = np.linspace(0, 255, 16).round().astype(np.uint8)
_SRGB_TOLERANCE = 1
_SRGB = ImageCms.ImageCmsProfile(ImageCms.createProfile("sRGB"))
_FIXED_DATE = struct.pack(">6H", 2026, 1, 1, 0, 0, 0)  # the profile's creation date field
STANDARD_CMYK_PROFILES = (
    Path("/usr/share/color/icc/ghostscript/default_cmyk.icc"),  # Debian/Ubuntu: libgs-common
    Path("/usr/share/ghostscript/iccprofiles/default_cmyk.icc"),  # Fedora: ghostscript
    Path("/System/Library/ColorSync/Profiles/Generic CMYK Profile.icc"),  # macOS
    Path(os.environ.get("SYSTEMROOT", r"C:\Windows"), r"System32\spool\drivers\color\RSWOP.icm"),
)


@dataclass
class Colour:
    """An input's pixels in sRGB, and what was done to them."""

    image: Image.Image
    converted_from: str | None = None  # the embedded profile's name, when its pixels changed
    notes: list[str] = field(default_factory=list)  # a profile ignored, approximate colours


@lru_cache(maxsize=1)
def srgb_icc() -> bytes:
    """The sRGB profile every colour output carries (588 bytes), the same bytes on every run."""
    data = bytearray(_SRGB.tobytes())
    data[24:36] = _FIXED_DATE  # LittleCMS stamps the time of creation
    return bytes(data)


def to_srgb(image: Image.Image, icc: bytes | None, name: str) -> Colour:
    """``image`` (loaded, any mode) with its pixels converted to sRGB through ``icc``.

    The image may be converted in place (the decoder's own copy). CMYK becomes RGB, a grey image
    with a grey profile other than sRGB's curve becomes RGB; other modes keep their mode, for the
    decoder's own normalisation.
    """
    if image.mode == "CMYK":
        return _cmyk_to_srgb(image, icc, name)
    space = _SPACE_OF_MODE.get(image.mode)
    if not icc or space is None:
        return Colour(image)
    problem = profile_problem(icc, space)
    if problem:
        return Colour(image, None, [_ignored(name, problem, "its colours are read as sRGB")])
    if is_srgb(icc, space):
        return Colour(image)
    described = profile_name(icc)
    log.info("%s: colours converted from %s to sRGB", name, described)
    return Colour(_converted(image, icc, space), described)


def profile_problem(icc: bytes, colour_space: str, max_bytes: int = MAX_PROFILE_BYTES) -> str:
    """Why ``icc`` cannot serve as an input profile of ``colour_space`` data ('' if it can)."""
    if len(icc) > max_bytes:
        return f"it is {_size(len(icc))}, over the {_size(max_bytes)} a profile may have"
    problem = _structure_problem(icc)
    if problem:
        return problem
    try:
        _transform(icc, colour_space, _RGB_MODE[colour_space], "RGB")
    except _ProfileUnusable as error:
        return str(error)
    return ""


@lru_cache(maxsize=16)
def is_srgb(icc: bytes, colour_space: str = "RGB") -> bool:
    """Whether ``icc`` (sound, for ``colour_space`` pixels) maps colours as sRGB does."""
    if colour_space == "GRAY":
        grey = np.arange(256, dtype=np.uint8)
        probe, want = grey[None, :], np.repeat(grey[None, :, None], 3, axis=2)
    else:
        r, g, b = np.meshgrid(_PROBE_LEVELS, _PROBE_LEVELS, _PROBE_LEVELS, indexing="ij")
        probe = want = np.stack([r, g, b], axis=-1).reshape(1, -1, 3)
    image = Image.fromarray(probe, _RGB_MODE[colour_space])
    got = ImageCms.applyTransform(image, _transform(icc, colour_space, image.mode, "RGB"))
    difference = np.abs(np.asarray(got, np.int16) - want.astype(np.int16))
    return int(difference.max()) <= _SRGB_TOLERANCE


def profile_name(icc: bytes) -> str:
    """The profile's own description ("Adobe RGB (1998)"), or a placeholder."""
    try:
        profile = ImageCms.ImageCmsProfile(io.BytesIO(icc))
        described = ImageCms.getProfileDescription(profile).strip()
    except (OSError, ImageCms.PyCMSError, ValueError, TypeError):
        return "an unreadable profile"
    return described or "an unnamed profile"


def standard_cmyk_profile() -> tuple[Path, bytes] | None:
    """The first usable standard CMYK profile on this system, or None."""
    for path in STANDARD_CMYK_PROFILES:
        try:
            data = path.read_bytes()
        except OSError:
            continue
        if not profile_problem(data, "CMYK"):
            return path, data
    return None


_RGB_MODE = {"RGB": "RGB", "GRAY": "L", "CMYK": "CMYK"}


def _converted(image: Image.Image, icc: bytes, space: str) -> Image.Image:
    if image.mode in ("P", "PA"):
        image = image.convert(
            "RGBA" if image.mode == "PA" or "transparency" in image.info else "RGB"
        )
    if image.mode in ("RGB", "RGBA"):  # LittleCMS copies the alpha channel through
        transform = _transform(icc, space, image.mode, image.mode)
        ImageCms.applyTransform(image, transform, inPlace=True)
        return image
    grey = image.getchannel("L") if image.mode == "LA" else image
    rgb = ImageCms.applyTransform(grey, _transform(icc, space, "L", "RGB"))
    if image.mode == "LA":
        rgb.putalpha(image.getchannel("A"))
    return rgb


def _cmyk_to_srgb(image: Image.Image, icc: bytes | None, name: str) -> Colour:
    problem = profile_problem(icc, "CMYK") if icc else ""
    if icc and not problem:
        converted = ImageCms.applyTransform(image, _transform(icc, "CMYK", "CMYK", "RGB"))
        return Colour(converted, profile_name(icc))
    standard = standard_cmyk_profile()
    if standard is None:
        instead = (
            "no standard CMYK profile is installed either (on Debian: apt-get install "
            "libgs-common), so a plain formula converted the colours: they are approximate"
        )
    else:
        instead = f"converted to sRGB with the standard CMYK profile {standard[0]}"
    if problem:
        note = _ignored(name, problem, instead)
    else:
        note = f"{name}: CMYK without an embedded colour profile; {instead}"
        log.log(logging.INFO if standard else logging.WARNING, "%s", note)
    if standard is None:
        return Colour(image.convert("RGB"), None, [note])
    converted = ImageCms.applyTransform(image, _transform(standard[1], "CMYK", "CMYK", "RGB"))
    return Colour(converted, profile_name(standard[1]), [note])


class _ProfileUnusable(Exception):
    pass


@lru_cache(maxsize=8)
def _transform(icc: bytes, colour_space: str, in_mode: str, out_mode: str):
    """A cached transform from ``icc`` (for ``colour_space`` pixels) to sRGB: photos of one
    camera or one print job share a profile, and building a CMYK transform takes ~30 ms."""
    try:
        profile = ImageCms.ImageCmsProfile(io.BytesIO(icc))
    except (OSError, ImageCms.PyCMSError, ValueError, TypeError) as error:
        raise _ProfileUnusable(f"LittleCMS cannot read it ({error})") from error
    space = profile.profile.xcolor_space.strip()
    if space != colour_space:
        raise _ProfileUnusable(f"it describes {space} data, not {colour_space}")
    device_class = profile.profile.device_class
    if device_class not in _INPUT_CLASSES:
        raise _ProfileUnusable(
            f"it is a {device_class!r} profile, not a device or colour space one"
        )
    try:
        return ImageCms.buildTransform(profile, _SRGB, in_mode, out_mode, INTENT, _NO_CACHE)
    except (ImageCms.PyCMSError, OSError, ValueError) as error:
        raise _ProfileUnusable(f"no colour transform can be built from it ({error})") from error


def _structure_problem(icc: bytes) -> str:
    """A truncated or padded profile still parses, so the header and tag table are checked."""
    if len(icc) < _HEADER_BYTES + 4 or icc[36:40] != b"acsp":
        return "it is not an ICC profile (no 'acsp' signature)"
    declared = struct.unpack(">I", icc[:4])[0]
    if declared != len(icc):
        return f"it is truncated or damaged (it declares {declared} bytes but holds {len(icc)})"
    count = struct.unpack(">I", icc[128:132])[0]
    if 132 + 12 * count > len(icc):
        return "it is damaged (its tag table runs past its end)"
    for index in range(count):
        _sig, offset, size = struct.unpack(">4sII", icc[132 + 12 * index : 144 + 12 * index])
        if offset < _HEADER_BYTES or offset + size > len(icc):
            return "it is damaged (a tag lies outside the profile)"
    return ""


def _ignored(name: str, problem: str, consequence: str) -> str:
    note = f"{name}: embedded colour profile ignored: {problem}; {consequence}"
    log.warning("%s", note)
    return note


def _size(count: int) -> str:
    return f"{count / _MB:.1f} MB" if count >= _MB / 10 else f"{count / 1024:.0f} KB"
