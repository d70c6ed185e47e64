"""``fibuca-desktop profiles list | show NAME | path``: the export profiles (core/profiles/)."""

from __future__ import annotations

import argparse
import json
from dataclasses import asdict, fields

from fibuca_desktop.core.profiles.profiles import (
    Profile,
    Rules,
    get_profile,
    load_profiles,
    user_profiles_path,
)


def add_parser(commands) -> None:
    parser = commands.add_parser(
        "profiles",
        help="list and show the export profiles for shops and marketplaces",
        description="An export profile is a preset plus the rules a shop or marketplace sets "
        "(size, background, the product's share of the frame, format, colour space, file size); "
        "`process --profile NAME` writes to it and checks every output. Add your own in the "
        "TOML file `profiles path` prints, in the format of the built-in ones (`profiles show`).",
    )
    actions = parser.add_subparsers(dest="action", metavar="ACTION", required=True)
    listing = actions.add_parser("list", help="one line per profile")
    listing.add_argument("--json", action="store_true", help="print one JSON object")
    show = actions.add_parser("show", help="a profile's output and rules, with their sources")
    show.add_argument("name", metavar="NAME")
    show.add_argument("--json", action="store_true", help="print one JSON object")
    actions.add_parser("path", help="print where your own profiles file is read from")
    parser.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    if args.action == "path":
        print(user_profiles_path())
        return 0
    if args.action == "list":
        profiles = load_profiles()
        if args.json:
            print(json.dumps({"profiles": [_as_json(p) for p in profiles.values()]}, indent=2))
            return 0
        width = max(len(name) for name in profiles)
        for profile in profiles.values():
            origin = "" if profile.origin == "built-in" else f"  ({profile.origin})"
            print(f"{profile.name:<{width}}  {profile.description}{origin}")
        return 0
    profile = get_profile(args.name)
    if args.json:
        print(json.dumps(_as_json(profile), indent=2))
        return 0
    _print_profile(profile)
    return 0


def _as_json(profile: Profile) -> dict:
    preset = profile.preset
    rules = {k: v for k, v in asdict(profile.rules).items() if v not in (None, False, ())}
    return {
        "name": profile.name,
        "description": profile.description,
        "origin": profile.origin,
        "output": {
            "format": preset.format,
            "quality": preset.quality,
            "background": "transparent"
            if preset.background is None
            else "#{:02x}{:02x}{:02x}".format(*preset.background),
            "canvas": preset.canvas,
            "max_side": preset.max_side,
            "fill": preset.product_share if preset.canvas else None,
            "anchor": preset.anchor,
        },
        "rules": {k: list(v) if isinstance(v, tuple) else v for k, v in rules.items()},
        "sources": list(profile.sources),
    }


def _print_profile(profile: Profile) -> None:
    data = _as_json(profile)
    print(f"{profile.name}: {profile.description} ({profile.origin})")
    print("output:")
    for key, value in data["output"].items():
        if value is not None:
            print(f"  {key:<12} {value}")
    print("rules:")
    described = {f.name for f in fields(Rules)}
    for key, value in data["rules"].items():
        if key in described:
            print(f"  {key:<15} {', '.join(map(str, value)) if isinstance(value, list) else value}")
    if profile.sources:
        print("sources:")
        for source in profile.sources:
            print(f"  {source}")
