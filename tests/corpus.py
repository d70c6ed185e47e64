"""A corpus of awkward input files, built from the real photos into a temporary folder.

Every entry states what must become of it: processed into an upright RGBA cut-out of a known size
whose visible pixels carry the colours the photo really has, or failed with an error that names
the file and says what is wrong. The CLI and the core tests check the same entries.
"""

from __future__ import annotations

import contextlib
import hashlib
import io
import os
import random
import struct
import zlib
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from PIL import Image, ImageCms

from fibuca_desktop.core.imaging.colour import srgb_icc
from fibuca_desktop.core.imaging.output_records import RECORD_NAME, hold_while_writing

PHOTOS = Path(__file__).parent / "fixtures" / "photos"
SIDE = 320  # the corpus works on small copies: the content matters, the size does not


@dataclass(eq=False)
class Entry:
    """One corpus file. ``error`` empty means it must be processed."""

    name: str  # path relative to the corpus folder
    what: str
    size: tuple[int, int] | None = None  # upright output size when processed
    reference: Image.Image | None = None  # the upright colours the output must show
    tolerance: float = 0.0  # mean absolute difference allowed (lossy sources)
    error: tuple[str, ...] = ()  # lower-case words the failure message must contain
    note: str = ""  # a word the job's notes must contain

    @property
    def fails(self) -> bool:
        return bool(self.error)


def photo(name: str = "car-1.jpg", side: int = SIDE) -> Image.Image:
    """A real photo as RGB, scaled so its longest side is ``side``."""
    with Image.open(PHOTOS / name) as image:
        image = image.convert("RGB")
    scale = side / max(image.size)
    return image.resize((round(image.width * scale), round(image.height * scale)))


def jpeg_profile(name: str) -> bytes:
    """The ICC profile a fixture photo embeds (camera and phone photos carry sRGB ones)."""
    with Image.open(PHOTOS / name) as image:
        return image.info["icc_profile"]


def encode(image: Image.Image, fmt: str, **options) -> bytes:
    buffer = io.BytesIO()
    image.save(buffer, fmt, **options)
    return buffer.getvalue()


def _chunk(kind: bytes, data: bytes) -> bytes:
    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))


def _png(width: int, height: int, depth: int, colour_type: int, rows) -> bytes:
    """A PNG written by hand, for what Pillow cannot write (48-bit RGB, 1-bit bombs)."""
    compressor = zlib.compressobj(9)
    data = b"".join(compressor.compress(b"\0" + row) for row in rows) + compressor.flush()
    header = struct.pack(">IIBBBBB", width, height, depth, colour_type, 0, 0, 0)
    return (
        b"\x89PNG\r\n\x1a\n"
        + _chunk(b"IHDR", header)
        + _chunk(b"IDAT", data)
        + _chunk(b"IEND", b"")
    )


def png_rgb16(image: Image.Image) -> bytes:
    """A 16-bit-per-channel RGB PNG holding ``image``'s colours at full 16-bit range."""
    values = np.asarray(image.convert("RGB")).astype(">u2") * 257
    return _png(image.width, image.height, 16, 2, (row.tobytes() for row in values))


def png_bomb(width: int, height: int) -> bytes:
    """A valid, all-black 1-bit PNG: a few kilobytes that decode to ``width * height`` pixels."""
    row = bytes((width + 7) // 8)
    return _png(width, height, 1, 0, (row for _ in range(height)))


def noise_png(min_bytes: int, seed: int = 0) -> bytes:
    """An RGB PNG of random pixels (incompressible) of at least ``min_bytes``."""
    side = int((min_bytes / 3) ** 0.5) + 16
    pixels = np.random.default_rng(seed).integers(0, 256, (side, side, 3), dtype=np.uint8)
    data = encode(Image.fromarray(pixels, "RGB"), "PNG", compress_level=1)
    assert len(data) >= min_bytes
    return data


def icc_profile(colour_space: bytes) -> bytes:
    """An sRGB profile whose header declares ``colour_space`` (b"RGB ", b"CMYK", b"GRAY").

    With b"RGB " it is a sound sRGB profile; with any other space its header lies about its tags,
    and LittleCMS cannot build a transform from it (real ones: ``system_profile``).
    """
    profile = bytearray(ImageCms.ImageCmsProfile(ImageCms.createProfile("sRGB")).tobytes())
    profile[16:20] = colour_space
    profile[24:36] = bytes(12)  # creation time: the same bytes on every call
    profile[84:100] = bytes(16)  # profile ID: zero means "not computed"
    return bytes(profile)


# Debian's Ghostscript ICC profiles (package libgs-common, which CI installs): real CMYK data needs
# a real CMYK profile, and none ships with Pillow.
GHOSTSCRIPT_ICC = Path("/usr/share/color/icc/ghostscript")
SRGB = ImageCms.ImageCmsProfile(ImageCms.createProfile("sRGB"))


def system_profile(name: str) -> bytes:
    """A profile from GHOSTSCRIPT_ICC: ``default_cmyk.icc``, ``ps_cmyk.icc``, ``srgb.icc``..."""
    path = GHOSTSCRIPT_ICC / name
    if not path.is_file():
        raise RuntimeError(f"{path} is missing: install it with `apt-get install -y libgs-common`")
    return path.read_bytes()


def to_cmyk(image: Image.Image, profile: bytes) -> Image.Image:
    """``image`` (sRGB) separated into CMYK by ``profile``, as a prepress tool would."""
    target = ImageCms.ImageCmsProfile(io.BytesIO(profile))
    return ImageCms.profileToProfile(image, SRGB, target, outputMode="CMYK")


def cmyk_reference(data: bytes, profile: bytes) -> Image.Image:
    """The sRGB colours of an encoded CMYK image under ``profile`` (relative colorimetric), as a
    colour-managed viewer shows them: the expected colours, worked out here with ImageCms alone."""
    with Image.open(io.BytesIO(data)) as image:
        assert image.mode == "CMYK"
        source = ImageCms.ImageCmsProfile(io.BytesIO(profile))
        intent = ImageCms.Intent.RELATIVE_COLORIMETRIC
        return ImageCms.profileToProfile(image, source, SRGB, intent, outputMode="RGB")


def with_private_tag(profile: bytes, extra: int, fill: bytes | None = None) -> bytes:
    """``profile`` with one more (private, 'zzzz') tag of ``extra`` bytes: still a valid profile,
    as large as one likes. ``fill`` None: random bytes."""
    count = struct.unpack(">I", profile[128:132])[0]
    table_end = 132 + 12 * count
    tags = [struct.unpack(">4sII", profile[132 + 12 * i : 144 + 12 * i]) for i in range(count)]
    body = bytearray(profile[table_end:])
    while len(body) % 4:
        body.append(0)
    data = fill if fill is not None else os.urandom(extra)
    new_table_end = table_end + 12
    entries = [(sig, offset + 12, size) for sig, offset, size in tags]
    entries.append((b"zzzz", new_table_end + len(body), len(data)))
    out = bytearray(profile[:128]) + struct.pack(">I", count + 1)
    for entry in entries:
        out += struct.pack(">4sII", *entry)
    out += body + data
    out[0:4] = struct.pack(">I", len(out))
    out[84:100] = bytes(16)  # profile ID: "not computed"
    return bytes(out)


def junk_with_header(header_of: bytes, size: int) -> bytes:
    """A profile header (declaring its own size) followed by random bytes: the issue's 15 MB ICC."""
    junk = bytearray(header_of[:128] + os.urandom(size - 128))
    junk[0:4] = struct.pack(">I", size)
    return bytes(junk)


def _tiff_ifd_offsets(data: bytes) -> list[int]:
    order = "<" if data[:2] == b"II" else ">"
    offsets, offset = [], struct.unpack(order + "I", data[4:8])[0]
    while offset:
        offsets.append(offset)
        count = struct.unpack(order + "H", data[offset : offset + 2])[0]
        offset = struct.unpack(
            order + "I", data[offset + 2 + 12 * count : offset + 6 + 12 * count]
        )[0]
    return offsets


def tiff_second_page_without_width(image: Image.Image) -> bytes:
    """A two-page TIFF whose second page lost its ImageWidth tag (Pillow: TypeError)."""
    data = bytearray(encode(image, "TIFF", save_all=True, append_images=[image]))
    second = _tiff_ifd_offsets(bytes(data))[1]
    count = struct.unpack("<H", data[second : second + 2])[0]
    for index in range(count):
        entry = second + 2 + 12 * index
        if struct.unpack("<H", data[entry : entry + 2])[0] == 256:  # ImageWidth
            data[entry : entry + 2] = struct.pack("<H", 65000)  # an unknown private tag
            return bytes(data)
    raise AssertionError("no ImageWidth tag on the second page")


def apng_with_short_fctl(image: Image.Image) -> bytes:
    """An animated PNG whose first frame-control chunk is too short (Pillow: ValueError)."""
    data = bytearray(encode(image, "PNG", save_all=True, append_images=[image.rotate(180)]))
    at = data.index(b"fcTL") - 4
    data[at : at + 4] = struct.pack(">I", 10)
    return bytes(data)


def _write(folder: Path, name: str, data: bytes) -> None:
    path = folder / name
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data)


def build_corpus(folder: Path) -> list[Entry]:
    """Write every awkward file under ``folder`` (some in subfolders); return what each must do."""
    car, girl = photo("car-1.jpg"), photo("girl-1.jpg")
    grey = car.convert("L")
    entries: list[Entry] = []

    def good(name: str, data: bytes, what: str, reference: Image.Image, **kw) -> None:
        _write(folder, name, data)
        entries.append(Entry(name, what, size=reference.size, reference=reference, **kw))

    def bad(name: str, data: bytes, what: str, *words: str) -> None:
        _write(folder, name, data)
        entries.append(Entry(name, what, error=words))

    swop = system_profile("default_cmyk.icc")
    cmyk_jpeg = encode(to_cmyk(car, swop), "JPEG", quality=95, icc_profile=swop)
    good(
        "cmyk.jpg",
        cmyk_jpeg,
        "CMYK JPEG with a real CMYK ICC profile (SWOP)",
        cmyk_reference(cmyk_jpeg, swop),
        tolerance=1,
    )
    good(
        "grey-16bit.png",
        encode(Image.fromarray(np.asarray(grey).astype(np.uint16) * 257), "PNG"),
        "16-bit greyscale PNG (I;16)",
        grey.convert("RGB"),
    )
    good(
        "tiff/grey-16bit.tif",
        encode(Image.fromarray(np.asarray(grey).astype(np.uint16) * 257), "TIFF"),
        "16-bit greyscale TIFF",
        grey.convert("RGB"),
    )
    good("rgb-16bit.png", png_rgb16(car), "16-bit-per-channel RGB PNG", car)

    quantized = car.quantize(63)
    indices = np.asarray(quantized).copy()
    indices[:, : car.width // 4] = 63  # left quarter: the transparent colour
    palette = Image.fromarray(indices, "P")
    palette.putpalette([*quantized.getpalette()[: 63 * 3], 0, 0, 0])
    palette.info["transparency"] = 63
    good(
        "palette-transparent.png",
        encode(palette, "PNG", transparency=63),
        "palette PNG with a transparent colour",
        palette.convert("RGBA"),
    )

    alpha = Image.new("L", car.size, 255)
    alpha.paste(0, (0, 0, car.width // 4, car.height))
    grey_alpha = Image.merge("LA", (grey, alpha))
    good(
        "grey-alpha.png",
        encode(grey_alpha, "PNG"),
        "LA PNG (grey with alpha)",
        grey_alpha.convert("RGBA"),
    )
    good(
        "grey.jpg",
        encode(grey, "JPEG", quality=95),
        "L (greyscale) JPEG",
        grey.convert("RGB"),
        tolerance=4,
    )

    exif = Image.Exif()
    exif[0x0112] = 6  # stored sideways: rotate 90 degrees clockwise to display
    sideways = car.transpose(Image.Transpose.ROTATE_90)  # what a camera held upright stores
    good(
        "sub/rotated-exif6.jpg",
        encode(sideways, "JPEG", quality=95, exif=exif),
        "JPEG with EXIF orientation 6",
        car,
        tolerance=4,
    )

    first = girl.quantize(200)
    others = [Image.new("RGB", girl.size, colour).quantize(4) for colour in ("red", "blue")]
    good(
        "sub/animated.gif",
        encode(first, "GIF", save_all=True, append_images=others, duration=100),
        "animated GIF, 3 frames",
        first.convert("RGB"),
        note="animated",
    )
    good("sub/deeper/photo.webp", encode(girl, "WEBP", quality=95), "WebP", girl, tolerance=4)
    good("photo.bmp", encode(car, "BMP"), "BMP", car)

    for name, source, what in (
        ("plants-1.jpg", "plants-1.jpg", "PNG named .jpg (real file)"),
        ("girl-1.png", "girl-1.jpg", "JPEG named .png (real file)"),
    ):
        with Image.open(PHOTOS / source) as image:  # both carry an RGB ICC profile
            reference = image.convert("RGBA" if image.mode == "RGBA" else "RGB")
        good(name, (PHOTOS / source).read_bytes(), what, reference)
    good(
        "srgb-profile.jpg",
        encode(car, "JPEG", quality=95, icc_profile=icc_profile(b"RGB ")),
        "JPEG with an RGB ICC profile",
        car,
        tolerance=4,
    )

    car_jpeg = (PHOTOS / "car-1.jpg").read_bytes()
    car_png = encode(car, "PNG")
    bad("empty.jpg", b"", "empty file", "empty")
    bad("truncated.jpg", car_jpeg[: len(car_jpeg) // 2], "JPEG cut in half", "truncated")
    bad("sub/truncated.png", car_png[: len(car_png) // 2], "PNG cut in half", "truncated")
    bad("header-only.png", car_png[:40], "PNG cut inside its header", "truncated")
    bad(
        "notes.jpg",
        b"Shoot list for Monday:\n- red dress\n- boots\n" * 8,
        "text named .jpg",
        "text file",
    )
    bad("random.png", random.Random(0).randbytes(4096), "random bytes named .png", "not an image")
    bad(
        "bomb.png",
        png_bomb(20_000, 20_000),
        "decompression bomb, 400 MP in 48 kB",
        "20000x20000",
        "decompression bomb",
    )
    bad(
        "too-many-pixels.png",
        png_bomb(9_000, 8_000),
        "72 MP, over the 64 MP default",
        "9000x8000",
        "64 mp limit",
    )
    bad(
        "damaged.tif",
        tiff_second_page_without_width(car),
        "TIFF whose second page is damaged",
        "damaged",
    )
    bad(
        "damaged-animation.png",
        apng_with_short_fctl(car),
        "APNG with a short frame chunk",
        "damaged",
    )

    (folder / "readme.txt").write_text("not a photo\n")  # listed as skipped, never dropped
    return entries


def hash_tree(folder: Path) -> dict[str, str]:
    """sha256 of every file under ``folder``, by relative path."""
    return {
        str(path.relative_to(folder)): hashlib.sha256(path.read_bytes()).hexdigest()
        for path in sorted(folder.rglob("*"))
        if path.is_file()
    }


def leftovers(folder: Path) -> list[Path]:
    """Temporary or hidden files: none may remain under an output folder after a batch (but the
    record of which photo each output was made from, ``output_records.RECORD_NAME``)."""
    return [
        p
        for p in folder.rglob("*")
        if p.name != RECORD_NAME and (p.name.startswith(".") or p.name.endswith(".part"))
    ]


@contextlib.contextmanager
def live_writer(path: Path):
    """A writer that holds its temporary file, as the pipeline does while it encodes."""
    path.write_bytes(b"being written")
    with path.open("rb+") as handle:
        hold_while_writing(handle.fileno())
        yield path


def written_files(folder: Path) -> list[Path]:
    """The files under an output folder, without our per-folder records."""
    return sorted(p for p in folder.rglob("*") if p.is_file() and p.name != RECORD_NAME)


def copy_photos(folder: Path, *names: str) -> list[Path]:
    """Small JPEG copies of real photos; a name may carry subfolders (``day-2/girl-1.jpg``)."""
    paths = []
    for name in names:
        path = folder / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(encode(photo(Path(name).name), "JPEG", quality=90))
        paths.append(path)
    return paths


def check_output(entry: Entry, output: Path) -> None:
    """The output decodes whole, as an RGBA cut-out of the right size whose opaque pixels carry
    the reference's colours (semi-transparent edge pixels carry estimated product colours, by
    design: refine.py), transparent wherever the input was."""
    with Image.open(output) as image:
        image.load()  # a partial file would fail here
        assert (image.format, image.mode, image.size) == ("PNG", "RGBA", entry.size), entry.name
        assert image.info.get("icc_profile") == srgb_icc(), entry.name  # every output: sRGB
        pixels = np.asarray(image).astype(np.int16)
    reference = np.asarray(entry.reference.convert("RGBA")).astype(np.int16)
    visible = pixels[:, :, 3] > 0
    assert visible.sum() > 0.01 * visible.size, f"{entry.name}: no subject in the mask"
    opaque = pixels[:, :, 3] == 255
    assert opaque.sum() > 0.5 * visible.sum(), f"{entry.name}: the subject is not opaque"
    difference = np.abs(pixels[:, :, :3] - reference[:, :, :3])[opaque].mean()
    assert difference <= entry.tolerance, f"{entry.name}: colours differ by {difference:.2f}"
    assert not visible[reference[:, :, 3] == 0].any(), f"{entry.name}: transparency lost"
