"""Peak memory is this process's own, not inherited from whoever started it."""

from __future__ import annotations

import subprocess
import sys

from fibuca_desktop.core.process_memory import peak_rss_mb, rss_mb


def test_peak_is_at_least_current_and_sees_a_new_allocation():
    before = peak_rss_mb()
    headroom = before - rss_mb()  # earlier tests may have peaked higher than we are now
    block = bytearray(int(headroom + 200) * 1024 * 1024)  # touched: bytearray zero-fills
    assert peak_rss_mb() >= before + 150
    current = rss_mb()  # read first: the process may grow a page between the two readings
    assert peak_rss_mb() >= current
    del block


def test_a_child_does_not_inherit_its_parents_peak():
    """A large parent starts a small child; the child's peak must be its own (~tens of MB)."""
    parent = (
        "import subprocess, sys; big = bytearray(600 * 1024 * 1024);"
        "print(subprocess.run([sys.executable, '-c', 'from fibuca_desktop.core.process_memory "
        "import peak_rss_mb; print(peak_rss_mb())'], capture_output=True, text=True).stdout)"
    )
    done = subprocess.run([sys.executable, "-c", parent], capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    assert float(done.stdout.strip()) < 200


def test_malloc_arenas_are_limited_on_glibc():
    """Applied on this Linux/glibc machine; the effect is measured in tests/benchmarks."""
    code = "from fibuca_desktop.core.process_memory import limit_malloc_arenas as f; print(f())"
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    expected = sys.platform.startswith("linux") and "glibc" in " ".join(
        __import__("platform").libc_ver()
    )
    assert done.stdout.strip() == str(expected)
