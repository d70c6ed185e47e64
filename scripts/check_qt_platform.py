"""Check that Qt's X11 platform plugin (xcb) can load here; print the command that fixes it.

Qt 6 needs system libraries that a fresh Debian or Ubuntu desktop may lack (libxcb-cursor0 first
of all); without them the window dies with "could not load the Qt platform plugin xcb". This asks
the dynamic loader (ldd) which libraries of the plugin are missing and names their Debian
packages. Exit status: 0 fine (or not Linux), 3 missing libraries (the apt-get line on stdout:
``--packages`` prints only the package names), 4 cannot tell (no ldd, no plugin).
"""

from __future__ import annotations

import argparse
import re
import shutil
import subprocess
import sys
from pathlib import Path

EXIT_OK, EXIT_MISSING, EXIT_UNKNOWN = 0, 3, 4


def debian_package(soname: str) -> str:
    """Debian's package for a shared library by its naming policy: ``libxcb-cursor.so.0`` is
    in ``libxcb-cursor0``, ``libxkbcommon-x11.so.0`` in ``libxkbcommon-x11-0``."""
    match = re.fullmatch(r"(lib[\w+.-]+?)\.so\.(\d+)(?:\.\d+)*", soname)
    if not match:
        return soname
    base, version = match.groups()
    separator = "-" if base[-1].isdigit() else ""
    return f"{base}{separator}{version}".lower()


def missing_libraries(ldd_output: str) -> list[str]:
    """The sonames ldd could not find, in order, once each."""
    found = re.findall(r"^\s*(\S+) => not found", ldd_output, re.MULTILINE)
    return list(dict.fromkeys(found))


def xcb_plugin() -> Path | None:
    try:
        import PySide6
    except ImportError:
        return None
    plugin = Path(PySide6.__file__).parent / "Qt" / "plugins" / "platforms" / "libqxcb.so"
    return plugin if plugin.exists() else None


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--packages", action="store_true", help="print only the package names")
    args = parser.parse_args(argv)
    if not sys.platform.startswith("linux"):
        return EXIT_OK
    plugin, ldd = xcb_plugin(), shutil.which("ldd")
    if plugin is None or ldd is None:
        print("cannot check Qt's xcb plugin (no PySide6 plugin or no ldd)", file=sys.stderr)
        return EXIT_UNKNOWN
    output = subprocess.run([ldd, str(plugin)], capture_output=True, text=True).stdout
    packages = list(dict.fromkeys(debian_package(lib) for lib in missing_libraries(output)))
    if not packages:
        return EXIT_OK
    print(" ".join(packages) if args.packages else f"sudo apt-get install {' '.join(packages)}")
    return EXIT_MISSING


if __name__ == "__main__":
    sys.exit(main())
