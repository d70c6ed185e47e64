"""``fibuca-desktop masks path | prune [--max-mb N] [--all]``: the stored masks (mask_store.py)."""

from __future__ import annotations

import argparse

from fibuca_desktop.cli.parser import number_in
from fibuca_desktop.core.imaging.mask_store import MB, PRUNE_TO, MaskStore
from fibuca_desktop.core.imaging.processing_settings import MASK_CACHE_MB
from fibuca_desktop.core.settings import SettingsStore


def add_parser(commands) -> None:
    parser = commands.add_parser(
        "masks",
        help="locate and prune the stored masks",
        description="Every processed photo's mask is kept ($FIBUCA_MASKS_DIR, default the "
        "user's cache folder), so a photo processed again, with another preset or after an "
        "edit, never runs the model again. The store is capped (processing.mask_cache_mb in "
        "the settings, 2048 MB by default); the least recently used masks go first, edits last.",
    )
    actions = parser.add_subparsers(dest="action", metavar="ACTION", required=True)
    actions.add_parser("path", help="print the folder of the mask store")
    prune = actions.add_parser(
        "prune", help="remove the least recently used masks until the store is under its cap"
    )
    high = MASK_CACHE_MB[1]
    prune.add_argument(
        "--max-mb",
        type=number_in(int, 0, high, " MB"),
        metavar="MB",
        help="the cap to prune to instead of the settings' processing.mask_cache_mb; over "
        f"it, masks go until the store is under {PRUNE_TO * 100:.0f}%% of it, edits only when "
        "nothing else is left (0 empties the store)",
    )
    prune.add_argument(
        "--all",
        action="store_true",
        help="remove every stored mask, the edited ones too (they cannot be made again)",
    )
    parser.set_defaults(run=run)


def configured_store() -> MaskStore:
    """The mask store with the cap from the user's settings (read, never rewritten)."""
    return MaskStore.default(SettingsStore().peek().processing.mask_cache_mb * MB)


def run(args: argparse.Namespace) -> int:
    store = configured_store()
    if args.action == "path":
        print(store.folder)
        return 0
    if args.all:
        freed = store.clear()
    else:
        cap = store.cap_bytes if args.max_mb is None else args.max_mb * MB
        freed = store.prune(cap)
    left = store.size_bytes()
    print(
        f"freed {freed.bytes / MB:.1f} MB ({freed.files} files); the store in {store.folder} "
        f"holds {left / MB:.1f} MB" + ("" if args.all else f" (cap {cap / MB:.0f} MB)")
    )
    return 0
