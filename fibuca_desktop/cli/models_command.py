"""``fibuca-desktop models list | fetch NAME | path NAME``."""

from __future__ import annotations

import argparse
import json
import sys

from fibuca_desktop.cli.progress import ProgressBar
from fibuca_desktop.core.errors import ModelUnavailable
from fibuca_desktop.core.imaging.models import DEFAULT_MODEL, MODELS, ModelStore, spec_for
from fibuca_desktop.core.imaging.optional_features import rembg_available, rembg_features
from fibuca_desktop.core.imaging.static_resize import prepared_graph


def add_parser(commands) -> None:
    parser = commands.add_parser(
        "models",
        help="list, fetch and locate background-removal models",
        description="Models live in $U2NET_HOME (default ~/.u2net), shared with rembg.",
    )
    actions = parser.add_subparsers(dest="action", metavar="ACTION", required=True)
    listing = actions.add_parser("list", help="known models and whether each is present")
    listing.add_argument("--json", action="store_true", help="print JSON")
    fetch = actions.add_parser("fetch", help="download a model (verified by md5)")
    fetch.add_argument(
        "name", nargs="?", default=DEFAULT_MODEL, choices=sorted(MODELS), metavar="NAME"
    )
    fetch.add_argument(
        "--from-file", metavar="PATH", help="install a copy you already have instead of downloading"
    )
    path = actions.add_parser("path", help="print the verified path of a present model")
    path.add_argument("name", choices=sorted(MODELS), metavar="NAME")
    parser.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    store = ModelStore()
    try:
        if args.action == "list":
            return _list(store, args.json)
        if args.action == "path":
            print(store.path(args.name))
            return 0
        if args.from_file:
            print(store.install(args.name, args.from_file))
            return 0
        bar = ProgressBar(0, label=f"{args.name}: ")
        path = store.fetch(args.name, progress=bar.bytes)
        spec = spec_for(args.name)
        if spec.static_resize:  # so the first real run needs neither onnx nor the rewrite time
            prepared_graph(path, spec.md5, spec.input_size)
        print(path)
        return 0
    except (ModelUnavailable, OSError) as error:
        print(f"error: {error}", file=sys.stderr)
        return 1


def _list(store: ModelStore, as_json: bool) -> int:
    rows = []
    rembg = rembg_available()
    for spec in MODELS.values():
        state, path = store.status(spec.name)
        rows.append(
            {
                "name": spec.name,
                "status": state,
                "path": str(path),
                "md5": spec.md5,
                "size_mb": spec.size_mb,
                "engine": "lean" if spec.lean else "rembg",
                "usable": spec.lean or rembg,
                "default": spec.name == DEFAULT_MODEL,
                "description": spec.description,
            }
        )
    if as_json:
        print(json.dumps({"home": str(store.home), "models": rows}, indent=2))
        return 0
    print(f"Model folder: {store.home}")
    for row in rows:
        mark = "*" if row["default"] else " "
        print(
            f"{mark} {row['name']:<18} {row['status']:<14} {row['size_mb']:>6.1f} MB  "
            f"{row['engine']:<5} {row['description']}"
        )
    if not rembg:
        print(f"rembg is not available here: {'; '.join(rembg_features())} cannot be used.")
    return 0
