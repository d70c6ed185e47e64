"""This process's memory, measured the same way on every platform the app ships to."""

from __future__ import annotations

import sys

import psutil

_MB = 1024 * 1024


def rss_mb() -> float:
    return psutil.Process().memory_info().rss / _MB


def peak_rss_mb() -> float:
    """Highest resident set size of this process so far (getrusage; peak_wset on Windows)."""
    if sys.platform == "win32":
        return psutil.Process().memory_info().peak_wset / _MB
    import resource

    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return peak / _MB if sys.platform == "darwin" else peak / 1024
