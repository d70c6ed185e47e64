"""Colour data taken from an input: the embedded ICC profile is untrusted until checked here.

Every output is 8-bit RGB(A) (or a grey mask). Two things follow from that:

- A profile is carried into the output only if it is small enough for our own reader, sound in
  structure, parsed by LittleCMS (ImageCms), an RGB input profile, and usable to build a
  transform. Anything else is dropped with the reason logged (and returned as a note), and the
  output carries no profile, which every viewer reads as sRGB.
- A CMYK photo is converted to sRGB through its own profile, or, when it has none or an unusable
  one, through a standard CMYK profile found on the system (``STANDARD_CMYK_PROFILES``: SWOP-like
  profiles, the usual assumption for untagged CMYK). The converted output is sRGB and carries no
  profile (untagged means sRGB; attaching one would add bytes and say nothing more). The
  rendering intent is perceptual, the intent nearly every CMYK profile declares as its default
  and the one made for photos. Only when no CMYK profile exists anywhere does Pillow's plain
  formula remain, with a note saying the colours are approximate.
"""

from __future__ import annotations

import io
import logging
import os
import struct
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path

from PIL import Image, ImageCms, PngImagePlugin

log = logging.getLogger(__name__)

_MB = 1024 * 1024
# Pillow (our own reader, and so the read-back check) refuses a PNG whose iCCP decompresses to
# more than MAX_TEXT_CHUNK (1 MB): a bigger profile would make an output we cannot open. Real RGB
# profiles are a few KB (sRGB 3 KB, Adobe RGB 0.5 KB), the largest LUT-based ones some 100 KB.
MAX_ATTACHED_PROFILE_BYTES = min(_MB, PngImagePlugin.MAX_TEXT_CHUNK)
# A CMYK profile is only read, never copied: real press profiles reach ~3 MB (big LUTs).
MAX_CONVERSION_PROFILE_BYTES = 8 * _MB
INTENT = ImageCms.Intent.PERCEPTUAL
_INPUT_CLASSES = {"scnr", "mntr", "prtr", "spac"}  # not device links, abstract or named colours
_HEADER_BYTES = 128
_SRGB = ImageCms.ImageCmsProfile(ImageCms.createProfile("sRGB"))
STANDARD_CMYK_PROFILES = (
    Path("/usr/share/color/icc/ghostscript/default_cmyk.icc"),  # Debian/Ubuntu: libgs-common
    Path("/usr/share/ghostscript/iccprofiles/default_cmyk.icc"),  # Fedora: ghostscript
    Path("/System/Library/ColorSync/Profiles/Generic CMYK Profile.icc"),  # macOS
    Path(os.environ.get("SYSTEMROOT", r"C:\Windows"), r"System32\spool\drivers\color\RSWOP.icm"),
)


@dataclass
class Colour:
    """An input's pixels in the output's colour space, the profile to attach, and what was done."""

    image: Image.Image
    icc_profile: bytes | None
    notes: list[str] = field(default_factory=list)


def to_output_colours(image: Image.Image, icc: bytes | None, name: str) -> Colour:
    """``image`` (loaded, any mode) with CMYK converted to sRGB and ``icc`` checked for the output.

    Other modes are returned unchanged for the decoder's own normalisation.
    """
    if image.mode == "CMYK":
        return _cmyk_to_srgb(image, icc, name)
    if not icc:
        return Colour(image, None)
    problem = profile_problem(icc, "RGB", MAX_ATTACHED_PROFILE_BYTES)
    if problem:
        return Colour(image, None, [_dropped(name, problem, "the output carries none (sRGB)")])
    return Colour(image, icc)


def profile_problem(icc: bytes, colour_space: str, max_bytes: int) -> str:
    """Why ``icc`` cannot serve as an input profile of ``colour_space`` data ('' if it can)."""
    if len(icc) > max_bytes:
        return f"it is {_size(len(icc))}, over the {_size(max_bytes)} a profile may have"
    problem = _structure_problem(icc)
    if problem:
        return problem
    try:
        _to_srgb(icc, colour_space)
    except _ProfileUnusable as error:
        return str(error)
    return ""


def standard_cmyk_profile() -> tuple[Path, bytes] | None:
    """The first usable standard CMYK profile on this system, or None."""
    for path in STANDARD_CMYK_PROFILES:
        try:
            data = path.read_bytes()
        except OSError:
            continue
        if not profile_problem(data, "CMYK", MAX_CONVERSION_PROFILE_BYTES):
            return path, data
    return None


def _cmyk_to_srgb(image: Image.Image, icc: bytes | None, name: str) -> Colour:
    problem = profile_problem(icc, "CMYK", MAX_CONVERSION_PROFILE_BYTES) if icc else ""
    if icc and not problem:
        return Colour(ImageCms.applyTransform(image, _to_srgb(icc, "CMYK")), None)
    standard = standard_cmyk_profile()
    if standard is None:
        instead = (
            "no standard CMYK profile is installed either (on Debian: apt-get install "
            "libgs-common), so a plain formula converted the colours: they are approximate"
        )
    else:
        instead = f"converted to sRGB with the standard CMYK profile {standard[0]}"
    if problem:
        note = _dropped(name, problem, instead)
    else:
        note = f"{name}: CMYK without an embedded colour profile; {instead}"
        log.log(logging.INFO if standard else logging.WARNING, "%s", note)
    if standard is None:
        return Colour(image.convert("RGB"), None, [note])
    return Colour(ImageCms.applyTransform(image, _to_srgb(standard[1], "CMYK")), None, [note])


class _ProfileUnusable(Exception):
    pass


@lru_cache(maxsize=4)
def _to_srgb(icc: bytes, colour_space: str) -> ImageCms.ImageCmsTransform:
    """A cached transform from ``icc`` (for ``colour_space`` pixels) to sRGB; photos of one
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
        return ImageCms.buildTransform(profile, _SRGB, colour_space, "RGB", INTENT)
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


def _dropped(name: str, problem: str, consequence: str) -> str:
    note = f"{name}: embedded colour profile ignored: {problem}; {consequence}"
    log.warning("%s", note)
    return note


def _size(count: int) -> str:
    return f"{count / _MB:.1f} MB" if count >= _MB / 10 else f"{count / 1024:.0f} KB"
