"""Features that need the optional rembg package (and with it numba, scipy and scikit-image).

The lean engine covers the default path. rembg is needed only for the models it does not run and
for alpha matting; from source it comes with ``pip install 'fibuca-desktop[rembg]'``, and the
packaged app leaves it out (README, "Packaged app": it would add far more than the size budget).
``importlib.util.find_spec`` answers without importing rembg.
"""

from __future__ import annotations

import importlib.util

from fibuca_desktop.core.errors import ModelUnavailable
from fibuca_desktop.core.imaging.models import MODELS, spec_for
from fibuca_desktop.core.resources import is_frozen


def rembg_available() -> bool:
    try:
        return importlib.util.find_spec("rembg") is not None
    except (ImportError, ValueError):
        return False


def rembg_features() -> list[str]:
    """What a person loses without rembg, in words they will recognise."""
    models = ", ".join(name for name, spec in MODELS.items() if not spec.lean)
    return [f"models {models}", "alpha matting (--alpha-matting)"]


def rembg_missing_message(feature: str) -> str:
    if is_frozen():
        return (
            f"{feature} is not available in the packaged app: it needs rembg with numba, scipy "
            "and scikit-image, which the package leaves out to stay small. Choose a lean model "
            "(u2netp, u2net, silueta, u2net_human_seg, isnet-general-use) without alpha matting, "
            "or run Fibuca Desktop from source with `pip install 'fibuca-desktop[rembg]'`."
        )
    return (
        f"{feature} needs the optional rembg package, which is not installed here. Install it "
        "with `pip install 'fibuca-desktop[rembg]'` or choose a lean model (u2netp)."
    )


def require_rembg(feature: str) -> None:
    """Raise ``ModelUnavailable`` with that message when rembg cannot be imported."""
    if not rembg_available():
        raise ModelUnavailable(rembg_missing_message(feature))


def model_problem(model: str) -> str | None:
    """Why ``model`` (e.g. chosen in the settings) cannot run here, or None when it can."""
    if spec_for(model).lean or rembg_available():
        return None
    return rembg_missing_message(f"Model {model}, chosen in the settings,")
