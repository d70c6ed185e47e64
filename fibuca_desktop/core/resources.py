"""Where shipped files live: ``resources/`` of the checkout, or of the bundle in the packaged app.

The packaged app (PyInstaller, fibuca.spec) unpacks its data next to the executable and says where
through ``sys._MEIPASS``; there the bundle also carries the default model and its pre-rewritten
graph under ``resources/models`` (a checkout has no such folder: models live in the store).
"""

from __future__ import annotations

import sys
from pathlib import Path

SAMPLE_PHOTO = "sample/cloth-1.jpg"
SAMPLE_EXPECTED_MASK = "sample/cloth-1.expected-mask.png"


def is_frozen() -> bool:
    """Whether this is the packaged app rather than Python running the sources."""
    return bool(getattr(sys, "frozen", False))


def resources_dir() -> Path:
    bundle = getattr(sys, "_MEIPASS", None)
    if is_frozen() and bundle:
        return Path(bundle) / "resources"
    return Path(__file__).resolve().parents[2] / "resources"


def bundled_models_dir() -> Path | None:
    """The bundle's model folder, or None outside the packaged app."""
    return resources_dir() / "models" if is_frozen() else None


def sample_photo() -> Path:
    return resources_dir() / SAMPLE_PHOTO


def sample_expected_mask() -> Path:
    return resources_dir() / SAMPLE_EXPECTED_MASK
