"""The Qt binding: PySide6 6.12.0 lost a reference on every signal emit and aborted the app."""

from __future__ import annotations

import os
import subprocess
import sys

SCRIPT = """
import sys
from PySide6.QtCore import QObject, Signal
from PySide6.QtWidgets import QApplication, QPlainTextEdit

app = QApplication([])


class Source(QObject):
    text = Signal(str)


source, pane = Source(), QPlainTextEdit()
source.text.connect(lambda line: None)
source.text.connect(pane.appendPlainText)
before = [sys.getrefcount(x) for x in (None, True, False)]
for _ in range(5000):
    source.text.emit("line")
after = [sys.getrefcount(x) for x in (None, True, False)]
print(before, after)
"""


def test_signal_emits_keep_reference_counts_intact():
    env = {**os.environ, "QT_QPA_PLATFORM": "offscreen"}
    done = subprocess.run(
        [sys.executable, "-c", SCRIPT], capture_output=True, text=True, timeout=120, env=env
    )
    assert done.returncode == 0, done.stderr[-1000:]
    before, after = (eval_list(part) for part in done.stdout.strip().split("] ["))
    assert all(abs(b - a) < 50 for b, a in zip(before, after, strict=True)), (before, after)


def eval_list(text: str) -> list[int]:
    return [int(x) for x in text.strip("[] \n").split(",")]
