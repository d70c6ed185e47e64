"""``fibuca-desktop self-test``: check this install offline and print a JSON report.

Exit status: 0 when every check passed, 1 when one failed (named on stderr).
"""

from __future__ import annotations

import argparse
import json
import sys

from fibuca_desktop.core.self_test import run_self_test


def add_parser(commands) -> None:
    parser = commands.add_parser(
        "self-test",
        help="process the bundled sample photo and open the window offscreen; print a JSON report",
        description="Checks the default model (md5), removes the background of the bundled sample "
        "photo with rembg's edges (--edges rembg) and checks the cut-out against rembg's own mask, "
        "opens the main window offscreen and closes it. Never uses the network. Exit status 0 "
        "when every check passed, 1 otherwise.",
    )
    parser.add_argument(
        "--no-window", action="store_true", help="skip the window check (no Qt needed)"
    )
    parser.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    window_check = None
    if not args.no_window:
        from fibuca_desktop.app import open_and_close_main_window  # the entry opens windows

        window_check = open_and_close_main_window
    report = run_self_test(window_check)
    print(json.dumps(report, indent=2))
    if report["ok"]:
        print("self-test passed", file=sys.stderr)
        return 0
    failed = [check for check in report["checks"] if not check["passed"]]
    for check in failed:
        print(f"self-test FAILED: {check['name']}: {check['detail']}", file=sys.stderr)
    if not report["checks"]:
        print("self-test FAILED: no check ran", file=sys.stderr)
    return 1
