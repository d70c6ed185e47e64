"""Output presets: what a finished photo looks like, and the options that override them."""

from __future__ import annotations

from dataclasses import dataclass, replace

from PIL import ImageColor

from fibuca_desktop.core.errors import UsageError
from fibuca_desktop.core.imaging.framing import ANCHORS

Color = tuple[int, int, int]
WHITE: Color = (255, 255, 255)
SMALL_OUTPUT_SIDE = 1024


@dataclass(frozen=True)
class Encoding:
    """One output format: the name Pillow encodes it by and the extension the file gets.

    The only place either is decided, so an output's bytes always match its name.
    """

    name: str  # ours, as in --format: png, jpeg, webp
    pillow: str  # what Image.save(..., format) is given
    extension: str
    lossy: bool  # takes a quality
    alpha: bool  # can store transparency
    greyscale: bool  # can store an 8-bit greyscale image as such (decodes back as mode L)
    max_side: int = 2**31 - 1  # the longest side the format can store (WebP 16383, JPEG 65535)


ENCODINGS: dict[str, Encoding] = {
    e.name: e
    for e in (
        Encoding("png", "PNG", ".png", lossy=False, alpha=True, greyscale=True),
        Encoding("jpeg", "JPEG", ".jpg", lossy=True, alpha=False, greyscale=True, max_side=65535),
        Encoding("webp", "WEBP", ".webp", lossy=True, alpha=True, greyscale=False, max_side=16383),
    )
}
FORMATS = tuple(ENCODINGS)
# How the mask's edge is made: "refined" follows the full-resolution photo and estimates the true
# edge colours (refine.py); "rembg" is rembg's own mask stretched to the photo, exactly.
EDGES = ("refined", "rembg")
DEFAULT_EDGES = "refined"
EXTENSIONS = {name: encoding.extension for name, encoding in ENCODINGS.items()}


@dataclass(frozen=True)
class Preset:
    """An output recipe. ``background`` None means transparent; ``canvas`` set means square crop."""

    name: str
    description: str
    format: str = "png"
    quality: int = 90
    background: Color | None = None
    max_side: int | None = None
    canvas: int | None = None
    margin: float = 0.0
    mask_only: bool = False
    alpha_matting: bool = False
    edges: str = DEFAULT_EDGES
    fill: float | None = None  # canvas: the product's share along its longer side (framing.py)
    anchor: str = "center"  # canvas: "center", or "bottom" (standing on the bottom margin)

    def __post_init__(self) -> None:
        """Every Preset is one that can be written: a bad combination never reaches a run."""
        if self.format not in ENCODINGS:
            raise UsageError(f"--format {self.format} is not supported; use {_choices(FORMATS)}.")
        encoding = ENCODINGS[self.format]
        if self.mask_only and not encoding.greyscale:
            usable = _choices([e.name for e in ENCODINGS.values() if e.greyscale])
            raise UsageError(
                f"A mask is a greyscale image, which {self.format.upper()} cannot store: "
                f"use --format {usable}."
            )
        if self.background is None and not self.mask_only and not encoding.alpha:
            usable = _choices([e.name for e in ENCODINGS.values() if e.alpha])
            raise UsageError(
                f"{self.format.upper()} cannot store transparency: use --format {usable}, or "
                "give a background colour with --bg (for example --bg white)."
            )

        if self.edges not in EDGES:
            raise UsageError(f"--edges {_shown(self.edges)} is not known; use {_choices(EDGES)}.")
        side = self.canvas or self.max_side
        if side and side > encoding.max_side:
            raise UsageError(self.too_large(side))
        if self.anchor not in ANCHORS:
            anchors = _choices(ANCHORS)
            raise UsageError(f"--anchor {_shown(self.anchor)} is not known; use {anchors}.")
        if (self.fill is not None or self.anchor != "center") and not self.canvas:
            raise UsageError(
                "--fill and --anchor place the product on a canvas: use the square preset or a "
                "profile (fibuca-desktop profiles list)."
            )

    @property
    def product_share(self) -> float:
        """The share of the canvas the product takes along its longer side."""
        return self.fill if self.fill is not None else 1 - 2 * self.margin

    def too_large(self, side: int) -> str:
        """Why an output ``side`` pixels long cannot be written in this preset's format."""
        encoding = ENCODINGS[self.format]
        usable = _choices([e.name for e in ENCODINGS.values() if e.max_side >= side])
        return (
            f"{self.format.upper()} can store at most {encoding.max_side} pixels a side, not "
            f"{side}: use --format {usable}, or --max-side {encoding.max_side} or less."
        )

    @property
    def encoding(self) -> Encoding:
        """How the output is encoded and named; render.py and the batch planner both ask here."""
        return ENCODINGS[self.format]

    @property
    def extension(self) -> str:
        return self.encoding.extension

    @property
    def formats(self) -> tuple[str, ...]:
        """The formats this preset can be written in (a mask needs greyscale)."""
        return tuple(e.name for e in ENCODINGS.values() if e.greyscale or not self.mask_only)

    def applicable_options(self, format: str | None = None) -> tuple[str, ...]:
        """The option names (as ``with_options`` takes them) that change this preset's output,
        written as ``format`` (default: its own)."""
        names = ["max_side", "format"]
        if ENCODINGS[format or self.format].lossy:
            names.append("quality")
        if not self.mask_only:
            names.append("background")
        if self.canvas:
            names.append("margin")  # --fill says the same as a share: margin = (1 - fill) / 2
        names.append("edges")  # every output has an edge, the mask's included
        return tuple(names)

    @property
    def small_output(self) -> bool:
        """Every output fits in ``SMALL_OUTPUT_SIDE``: decoding (JPEG draft) and encoding then take
        milliseconds against a ~0.13 s model run, so one worker is as fast as two (README)."""
        side = self.canvas or self.max_side
        return side is not None and side <= SMALL_OUTPUT_SIDE

    def decode_side(self) -> int | None:
        """The longest side the decoder must deliver (for JPEG draft decoding); None = full size.

        The square preset decodes at twice its canvas so a subject that fills only part of the
        frame keeps its detail after the crop.
        """
        if self.canvas:
            return self.canvas * 2
        return self.max_side

    def with_options(
        self,
        *,
        max_side: int | None = None,
        format: str | None = None,
        quality: int | None = None,
        background: str | None = None,
        margin: float | None = None,
        alpha_matting: bool | None = None,
        edges: str | None = None,
        fill: float | None = None,
        anchor: str | None = None,
    ) -> Preset:
        """Apply command-line or settings overrides (None: keep the preset's own); raises
        UsageError on a value out of range or a combination that cannot be written."""
        changes: dict = {}
        if max_side is not None:
            if not 16 <= max_side <= 20000:
                raise UsageError(f"--max-side {max_side} is out of range; use 16 to 20000 pixels.")
            changes["canvas" if self.canvas else "max_side"] = max_side
        if format is not None:
            format = {"jpg": "jpeg"}.get(format.lower(), format.lower())
            if format not in FORMATS:
                raise UsageError(
                    f"--format {_shown(format)} is not supported; use {_choices(FORMATS)}."
                )
            changes["format"] = format
        if quality is not None:
            if not 1 <= quality <= 100:
                raise UsageError(f"--quality {quality} is out of range; use 1 to 100.")
            changes["quality"] = quality
        if background is not None:
            changes["background"] = parse_background(background)
        if margin is not None:
            if not 0 <= margin < 0.5:
                raise UsageError(f"--margin {margin} is out of range; use 0 to 0.49 (of the side).")
            changes["margin"] = margin
        if alpha_matting is not None:
            changes["alpha_matting"] = alpha_matting
        if edges is not None:
            changes["edges"] = edges.strip().lower()
        if fill is not None:
            if not 0.05 <= fill <= 1:
                raise UsageError(f"--fill {fill} is out of range; use 0.05 to 1 (of the canvas).")
            changes["fill"] = fill
        elif margin is not None:
            changes["fill"] = None  # a margin given now says the share
        if anchor is not None:
            changes["anchor"] = anchor.strip().lower()
        return replace(self, **changes)  # __post_init__ refuses what cannot be written


def _shown(text: str, limit: int = 40) -> str:
    """A value as typed, short enough for a one-line message (a settings file may hold
    100 000 characters where a colour belongs)."""
    return text if len(text) <= limit else f"{text[: limit - 3]}..."


def _choices(names) -> str:
    names = list(names)
    return names[0] if len(names) == 1 else ", ".join(names[:-1]) + " or " + names[-1]


def parse_background(value: str) -> Color | None:
    """``transparent``, a colour name (``white``) or ``#rrggbb``."""
    if value.strip().lower() in ("transparent", "none"):
        return None
    try:
        rgb = ImageColor.getrgb(value.strip())
    except ValueError:
        raise UsageError(
            f"--bg {_shown(value)!r} is not a colour; use transparent, a name such as white, or "
            "#rrggbb."
        ) from None
    return rgb[:3]


PRESETS: dict[str, Preset] = {
    preset.name: preset
    for preset in (
        Preset("transparent", "RGBA PNG at the original size, background removed"),
        Preset(
            "web",
            "fits 800x800, JPEG quality 85 on white (Fibuca's web shop)",
            format="jpeg",
            quality=85,
            background=WHITE,
            max_side=800,
        ),
        Preset(
            "square",
            "subject cropped with a margin, centred on a white 1200 px square",
            format="jpeg",
            quality=90,
            background=WHITE,
            canvas=1200,
            margin=0.05,
        ),
        Preset("mask", "8-bit greyscale mask: white is the subject", mask_only=True),
    )
}
DEFAULT_PRESET = "transparent"


def get_preset(name: str) -> Preset:
    try:
        return PRESETS[name]
    except KeyError:
        raise UsageError(f"Unknown preset {name!r}; choose one of {', '.join(PRESETS)}.") from None
