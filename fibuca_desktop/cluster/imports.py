"""Whether the optional ``cluster`` extra is installed, asked before anything imports Celery."""

from __future__ import annotations

import importlib.util

from fibuca_desktop.core.errors import UsageError


def require_celery() -> None:
    """Raise UsageError saying how to install the extra when Celery or redis-py is missing."""
    missing = [name for name in ("celery", "redis") if importlib.util.find_spec(name) is None]
    if missing:
        raise UsageError(
            f"Running on workers needs {' and '.join(missing)}, which this installation lacks: "
            "pip install 'fibuca-desktop[cluster]'."
        )
