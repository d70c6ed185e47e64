"""A real, tiny filesystem for disk-full tests: a tmpfs mount (needs root; else the test skips)."""

from __future__ import annotations

import contextlib
import subprocess
from pathlib import Path

import pytest


@contextlib.contextmanager
def small_disk(folder: Path, options: str = "size=64k"):
    """Mount a tmpfs with ``options`` (``size=64k``, ``ro``) on ``folder`` for the block; skips
    the test if mounting is refused."""
    folder.mkdir(parents=True, exist_ok=True)
    mounted = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", options, "tmpfs", str(folder)],
        capture_output=True,
        text=True,
        check=False,
    )
    if mounted.returncode != 0:
        pytest.skip(f"cannot mount a small tmpfs for a full disk ({mounted.stderr.strip()})")
    try:
        yield folder
    finally:
        subprocess.run(["umount", "-l", str(folder)], check=False)
