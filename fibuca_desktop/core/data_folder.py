"""The per-user data folder: where the app keeps what it measured (monitor history, index
snapshots). A data folder, not the config one: measurements do not belong in a roaming profile."""

from __future__ import annotations

import os
import sys
from pathlib import Path


def user_data_folder() -> Path:
    """``%LOCALAPPDATA%\\Fibuca Desktop``, ``~/Library/Application Support/Fibuca Desktop``, or
    ``$XDG_DATA_HOME/fibuca-desktop`` (default ``~/.local/share/fibuca-desktop``)."""
    if sys.platform == "win32":
        local = os.environ.get("LOCALAPPDATA")
        base = Path(local) if local else Path.home() / "AppData" / "Local"
        return base / "Fibuca Desktop"
    if sys.platform == "darwin":
        return Path.home() / "Library" / "Application Support" / "Fibuca Desktop"
    xdg = os.environ.get("XDG_DATA_HOME", "")
    base = Path(xdg) if os.path.isabs(xdg) else Path.home() / ".local" / "share"
    return base / "fibuca-desktop"
