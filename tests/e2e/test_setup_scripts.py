"""A newcomer's first hour: the set-up installs once, and names the system libraries Qt lacks."""

from __future__ import annotations

import importlib.util
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
spec = importlib.util.spec_from_file_location(
    "check_qt_platform", ROOT / "scripts/check_qt_platform.py"
)
check = importlib.util.module_from_spec(spec)
spec.loader.exec_module(check)


@pytest.mark.parametrize(
    ("soname", "package"),
    [
        ("libxcb-cursor.so.0", "libxcb-cursor0"),
        ("libxcb-icccm.so.4", "libxcb-icccm4"),
        ("libxcb-keysyms.so.1", "libxcb-keysyms1"),
        ("libxkbcommon-x11.so.0", "libxkbcommon-x11-0"),
        ("libX11-xcb.so.1", "libx11-xcb1"),
        ("libEGL.so.1", "libegl1"),
        ("libxcb-render-util.so.0", "libxcb-render-util0"),
        ("libfontconfig.so.1.12.0", "libfontconfig1"),
    ],
)
def test_library_names_map_to_debian_packages_that_exist(soname, package):
    assert check.debian_package(soname) == package
    if shutil.which("apt-cache"):
        shown = subprocess.run(["apt-cache", "show", package], capture_output=True, text=True)
        if shown.returncode != 0 and "No packages found" not in shown.stderr:
            pytest.skip("apt's package lists are not downloaded here")
        assert shown.returncode == 0, f"Debian has no package {package}"


def test_the_check_names_exactly_what_the_loader_cannot_find():
    plugin = check.xcb_plugin()
    if plugin is None or not shutil.which("ldd"):
        pytest.skip("no xcb plugin or no ldd on this machine")
    ldd = subprocess.run(["ldd", str(plugin)], capture_output=True, text=True).stdout
    missing = sorted({line.split()[0] for line in ldd.splitlines() if "=> not found" in line})
    result = subprocess.run(
        [sys.executable, str(ROOT / "scripts/check_qt_platform.py")], capture_output=True, text=True
    )
    if not missing:
        assert (result.returncode, result.stdout) == (0, "")
        return
    assert result.returncode == 3
    assert result.stdout.startswith("sudo apt-get install ")
    named = result.stdout.split()[3:]
    assert sorted(named) == sorted({check.debian_package(name) for name in missing})


def test_run_after_test_installs_nothing_again():
    """test.sh installed the package with its test tools; the plain set-up must reuse that."""
    stamp = ROOT / ".venv/.fibuca-installed"
    if not stamp.exists() or not stamp.read_text().strip().endswith("[test]"):
        pytest.skip("this venv was not set up by scripts/test.sh")
    env = {**os.environ, "QT_QPA_PLATFORM": "offscreen"}
    result = subprocess.run(
        ["bash", str(ROOT / "scripts/setup.sh")],
        capture_output=True,
        text=True,
        env=env,
        timeout=300,
    )
    assert result.returncode == 0, result.stderr
    assert "installing" not in result.stderr
    assert "== default model" in result.stderr
