"""Preflight: check an encoded output against its profile's rules by reading the file back, and
meet the rules that can be met automatically.

What is read from the file: format, mode, pixel size, file size, colour profile, and the pixels of
the outer frame. The product's share comes from the alpha's bounding box as rendered (a JPEG keeps
no alpha), and whether it was scaled up from the render's scale. Automatic fixes, each said in
``fixed``: a lower quality until the file fits the size cap (down to ``MIN_QUALITY``); the fill
moved into the allowed share (unless ``--same-scale`` fixed the scale: then the share is what the
batch's one scale gives, and a failed share is reported, not fixed); a smaller canvas when the
product would be scaled up.
"""

from __future__ import annotations

import io
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from pathlib import Path

import numpy as np
from PIL import Image

from fibuca_desktop.core.imaging.colour import is_srgb, profile_name, profile_problem
from fibuca_desktop.core.imaging.presets import Preset
from fibuca_desktop.core.imaging.render import Rendered
from fibuca_desktop.core.profiles.profiles import Profile, Rules

MIN_QUALITY = 60  # below this JPEG shows blocks a buyer notices: fail the cap instead
_QUALITY_STEP = 8
_MB = 1024 * 1024
_MAX_ATTEMPTS = 12


@dataclass(frozen=True)
class Check:
    name: str
    passed: bool
    value: object
    limit: object

    def reason(self) -> str:
        if self.name == "file_size":
            return f"file size {self.value / 1024:.0f} KB (limit {self.limit / 1024:.0f} KB)"
        return f"{self.name} {_shown(self.value)} (limit {_shown(self.limit)})"


@dataclass
class Preflight:
    profile: str
    checks: list[Check]
    fixed: list[str] = field(default_factory=list)

    @property
    def passed(self) -> bool:
        return all(check.passed for check in self.checks)

    @property
    def failures(self) -> list[str]:
        return [check.reason() for check in self.checks if not check.passed]

    def to_json(self) -> dict:
        return {
            "profile": self.profile,
            "passed": self.passed,
            "fixed": list(self.fixed),
            "checks": [
                {"name": c.name, "passed": c.passed, "value": c.value, "limit": c.limit}
                for c in self.checks
            ],
        }


def inspect(source: Path | bytes, rendered: Rendered, rules: Rules, profile: str) -> Preflight:
    """Check the encoded file (a path, or its bytes) against ``rules``."""
    data = source if isinstance(source, bytes) else None
    size = len(data) if data is not None else Path(source).stat().st_size
    with Image.open(io.BytesIO(data) if data is not None else source) as image:
        image.load()
        checks = _file_checks(image, size, rules)
        if rules.white_frame:
            checks.append(_white_frame(image, rules.frame))
    checks += _placement_checks(rendered, rules)
    return Preflight(profile, checks)


def meet(
    render: Callable[[Preset], Rendered], profile: Profile, same_scale: bool
) -> tuple[Rendered, bytes, Preflight]:
    """Render with the profile's preset, check the encoded bytes, and fix what can be fixed
    automatically; returns the last render, its bytes and the preflight (not yet of the file on
    disk: the caller checks the written file again)."""
    preset, fixed = profile.preset, []
    rules = profile.rules
    for _ in range(_MAX_ATTEMPTS):
        rendered = render(preset)
        data = _encoded(rendered)
        report = inspect(data, rendered, rules, profile.name)
        failed = {check.name: check for check in report.checks if not check.passed}
        changed = _fix(preset, failed, rules, rendered, same_scale)
        if changed is None:
            report.fixed = fixed
            return rendered, data, report
        preset, note = changed
        fixed.append(note)
    report.fixed = fixed
    return rendered, data, report


def _fix(preset: Preset, failed: dict, rules: Rules, rendered: Rendered, same_scale: bool):
    """The preset that meets one failed rule, and what was done; None when nothing can be."""
    if "upscaled" in failed and preset.canvas:
        side = int(preset.canvas / rendered.scale)
        if side < preset.canvas and side >= (rules.min_long_side or 16):
            note = f"canvas {preset.canvas} -> {side} px: not scaled up"
            return replace(preset, canvas=side), note
    if "product_share" in failed and preset.canvas and not same_scale:
        share = failed["product_share"].value
        low, high = rules.min_share or 0.0, rules.max_share or 1.0
        target = round(min(max(preset.product_share, low + 0.02), high - 0.02), 3)
        if share is not None and target != preset.product_share and low < target < high:
            return replace(preset, fill=target), f"fill {preset.product_share:g} -> {target:g}"
    if "white_frame" in failed and preset.canvas and not same_scale:
        target = round(preset.product_share - 0.04, 3)
        if target >= max(rules.min_share or 0.0, 0.05):
            note = f"fill {preset.product_share:g} -> {target:g}: frame kept white"
            return replace(preset, fill=target), note
    if "file_size" in failed and preset.encoding.lossy and preset.quality > MIN_QUALITY:
        quality = max(MIN_QUALITY, preset.quality - _QUALITY_STEP)
        note = f"quality {preset.quality} -> {quality} to fit the size cap"
        return replace(preset, quality=quality), note
    return None


def _encoded(rendered: Rendered) -> bytes:
    buffer = io.BytesIO()
    rendered.write(buffer)
    return buffer.getvalue()


def _file_checks(image: Image.Image, size: int, rules: Rules) -> list[Check]:
    checks = []
    width, height = image.size
    long, short = max(width, height), min(width, height)
    if rules.formats:
        fmt = {"JPEG": "jpeg", "PNG": "png", "WEBP": "webp"}.get(image.format, image.format)
        checks.append(Check("format", fmt in rules.formats, fmt, list(rules.formats)))
    mode_ok = image.mode in ("RGB", "RGBA", "L")
    checks.append(Check("mode", mode_ok, image.mode, ["RGB", "RGBA", "L"]))
    if rules.colour_space:
        space = _colour_space(image.info.get("icc_profile"))
        checks.append(Check("colour_space", space in ("sRGB", "untagged"), space, "sRGB"))
    bounds = (
        ("min_long_side", long, rules.min_long_side, long >= (rules.min_long_side or 0)),
        ("min_short_side", short, rules.min_short_side, short >= (rules.min_short_side or 0)),
        ("max_long_side", long, rules.max_long_side, long <= (rules.max_long_side or long)),
    )
    checks += [Check(name, ok, value, limit) for name, value, limit, ok in bounds if limit]
    if rules.max_megapixels:
        mp = round(width * height / 1e6, 2)
        checks.append(Check("megapixels", mp <= rules.max_megapixels, mp, rules.max_megapixels))
    if rules.aspect:
        aspect = round(width / height, 3)
        square = abs(aspect - rules.aspect) <= 0.01 * rules.aspect
        checks.append(Check("aspect", square, aspect, rules.aspect))
    if rules.max_file_mb:
        cap = int(rules.max_file_mb * _MB)
        checks.append(Check("file_size", size <= cap, size, cap))
    return checks


def _white_frame(image: Image.Image, share: float) -> Check:
    """Every pixel of the outer frame is exactly white (and opaque, where there is alpha)."""
    rgba = np.asarray(image.convert("RGBA"))
    width = max(2, round(share * min(image.size)))
    edge = np.concatenate(
        [
            rgba[:width].reshape(-1, 4),
            rgba[-width:].reshape(-1, 4),
            rgba[:, :width].reshape(-1, 4),
            rgba[:, -width:].reshape(-1, 4),
        ]
    )
    off = int(np.count_nonzero((edge != 255).any(axis=1)))
    return Check("white_frame", off == 0, off, 0)


def _placement_checks(rendered: Rendered, rules: Rules) -> list[Check]:
    checks = []
    if rules.min_share or rules.max_share:
        share = _share(rendered)
        low, high = rules.min_share or 0.0, rules.max_share or 1.0
        passed = share is not None and low <= share <= high
        checks.append(Check("product_share", passed, share, [low, high]))
    if rules.no_upscale:
        scale = round(rendered.scale, 3)
        checks.append(Check("upscaled", scale <= 1.0, scale, 1.0))
    return checks


def _share(rendered: Rendered) -> float | None:
    if rendered.box is None:
        return None
    left, top, right, bottom = rendered.box
    width, height = rendered.size
    return round(max((right - left) / width, (bottom - top) / height), 3)


def _colour_space(icc: bytes | None) -> str:
    """The output is "sRGB" when tagged with a profile that maps colours as sRGB does (whatever its
    name) or untagged (which every browser reads as sRGB); otherwise the profile's name."""
    if not icc:
        return "untagged"
    if profile_problem(icc, "RGB"):
        return "unreadable profile"
    return "sRGB" if is_srgb(icc) else profile_name(icc)


def _shown(value: object) -> str:
    if isinstance(value, int) and value >= _MB:
        return f"{value / _MB:.1f} MB"
    if isinstance(value, list):
        return "-".join(_shown(v) for v in value)
    return str(value)
