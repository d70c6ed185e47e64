"""Place a cut-out on a fixed canvas: the product's share of the frame, where it stands, and one
scale for a whole batch shot with a fixed camera.

``fill`` is the share of the canvas the product's bounding box takes along its longer side (as
marketplaces state it: Amazon "85% of the frame", Google "75-90%"); ``anchor`` "center" centres
it, "bottom" stands it on the bottom margin line (the margin the fill leaves along the longer
side), as shoes and bottles are shown. A fixed ``scale`` (output pixels per pixel of the decoded
photo) replaces the fill: with ``--same-scale`` a small jar stays smaller than a big one.
"""

from __future__ import annotations

from dataclasses import dataclass

from PIL import Image

ANCHORS = ("center", "bottom")
SUBJECT_THRESHOLD = 64  # alpha at or above this is subject when cropping; fainter specks are noise

Box = tuple[int, int, int, int]


@dataclass(frozen=True)
class Framed:
    rgb: Image.Image
    alpha: Image.Image
    subject_found: bool
    box: Box | None  # the subject's bounding box on the canvas
    scale: float  # output pixels per input pixel (above 1: the photo was scaled up)


def subject_box(alpha: Image.Image) -> Box | None:
    """The bounding box of the pixels that are subject, or None when there are none."""
    return alpha.point(lambda v: 255 if v >= SUBJECT_THRESHOLD else 0).getbbox()


def frame(
    rgb: Image.Image,
    alpha: Image.Image,
    canvas: tuple[int, int],
    fill: float,
    anchor: str = "center",
    scale: float | None = None,
) -> Framed:
    """The subject of ``rgb``/``alpha`` cropped, scaled to ``fill`` (or by ``scale``) and placed
    on a black, fully transparent canvas of ``canvas`` (width, height) at ``anchor``."""
    width, height = canvas
    box = subject_box(alpha)
    found = box is not None
    if box is None:
        box = (0, 0, *rgb.size)
    rgb, alpha = rgb.crop(box), alpha.crop(box)
    if scale is None:
        scale = fitting_scale(rgb.size, canvas, fill)
    size = (max(1, round(rgb.width * scale)), max(1, round(rgb.height * scale)))
    if size[0] > width or size[1] > height:  # a fixed scale never lets a product leave the frame
        shrink = min(width / size[0], height / size[1])
        scale *= shrink
        size = tuple(
            max(1, min(cap, round(n * shrink))) for n, cap in zip(size, canvas, strict=True)
        )
    if size != rgb.size:
        rgb = rgb.resize(size, Image.Resampling.LANCZOS, reducing_gap=3.0)
        alpha = alpha.resize(size, Image.Resampling.LANCZOS, reducing_gap=3.0)
    left = (width - size[0]) // 2
    if anchor == "bottom":
        margin = round((1 - fill) / 2 * (width if width >= height else height))
        top = max(0, height - margin - size[1])
    else:
        top = (height - size[1]) // 2
    out_rgb = Image.new("RGB", canvas, (0, 0, 0))
    out_alpha = Image.new("L", canvas, 0)
    out_rgb.paste(rgb, (left, top))
    out_alpha.paste(alpha, (left, top))
    placed = subject_box(out_alpha) if found else None
    return Framed(out_rgb, out_alpha, found, placed, scale)


def fitting_scale(size: tuple[int, int], canvas: tuple[int, int], fill: float) -> float:
    """The scale at which a subject of ``size`` takes ``fill`` of the canvas along the side where
    it is relatively longer (so it fits both ways)."""
    return min(fill * canvas[0] / max(1, size[0]), fill * canvas[1] / max(1, size[1]))


def same_scale(longest_sides: list[float], canvas: tuple[int, int], fill: float) -> float | None:
    """One scale (output pixels per full-size photo pixel) for a batch: the largest product's
    longer side meets ``fill`` of the canvas; None when no product was measured."""
    largest = max((side for side in longest_sides if side > 0), default=0)
    if not largest:
        return None
    return fill * min(canvas) / largest
