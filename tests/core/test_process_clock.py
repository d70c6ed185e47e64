"""The start-up clock measures from the real process start, to within tens of milliseconds."""

from __future__ import annotations

import subprocess
import sys
import time

from fibuca_desktop.core.process_clock import seconds_since_start


def test_a_fresh_process_has_just_started():
    code = "from fibuca_desktop.core.process_clock import seconds_since_start as s; print(s())"
    before = time.monotonic()
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    wall = time.monotonic() - before
    reported = float(done.stdout)
    assert 0 <= reported <= wall + 0.02  # never more than the child can have lived


def test_it_advances_with_time():
    first = seconds_since_start()
    time.sleep(0.05)
    assert 0.04 <= seconds_since_start() - first < 1.0
