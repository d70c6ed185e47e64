"""A real Node.js backend for the monitor tests: tests/monitor_server.js on 127.0.0.1."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from pathlib import Path

import pytest

from fibuca_desktop.core.monitor.http_fetch import fetch

MB = 1024 * 1024

SERVER_JS = Path(__file__).parent / "monitor_server.js"


class NodeServer:
    """A running tests/monitor_server.js: its base URL and process."""

    def __init__(
        self, env: dict[str, str] | None = None, scheme: str = "http", port: int = 0
    ) -> None:
        """``port`` 0 picks a free one; another (a stopped server's) starts it there again."""
        node = shutil.which("node")
        if port:
            env = {**(os.environ if env is None else env), "PORT": str(port)}
        if node is None:
            pytest.fail("Node.js is required for the monitor tests (CI installs it)")
        self.process = subprocess.Popen(
            [node, "--expose-gc", str(SERVER_JS)],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            env=env,
        )
        assert self.process.stdout is not None
        line = self.process.stdout.readline()  # blocks until the server listens
        if not line.strip().isdigit():
            self.stop()
            pytest.fail(f"monitor_server.js did not start: {self.process.stderr.read()}")
        self.port = int(line)
        self.base = f"{scheme}://127.0.0.1:{self.port}"

    def stop(self) -> None:
        self.process.kill()
        self.process.communicate(timeout=10)

    def json(self, path: str) -> dict:
        return json.loads(fetch(self.base + path, 5.0))

    def heap(self, mb: float) -> float:
        """Make the server's heap about ``mb`` MB (grows or frees); the heapUsedMB reached."""
        return self.json(f"/heap?mb={mb}")["heapUsedMB"]


LEAK_SERVER_JS = Path(__file__).parent / "benchmarks" / "leak_server.js"


def start_leak_server(
    leak_mb_per_min: float,
    seed: int,
    speed: float,
    *,
    leak_start_s: float = 0.0,
    kind: str = "heap",
) -> tuple[subprocess.Popen, str]:
    """tests/benchmarks/leak_server.js with a 30 MB heap sawing 30 MB every ~20 virtual s (real
    garbage collection), leaking ``leak_mb_per_min`` from virtual second ``leak_start_s`` on the
    heap or in Buffers (``kind`` "buffer": external memory and RSS), time running ``speed``x: its
    process and base URL (the caller kills it)."""
    node = shutil.which("node")
    if node is None:
        pytest.fail("Node.js is required for the monitor tests (CI installs it)")
    env = {
        "PATH": "/usr/bin:/bin",
        "SEED": str(seed),
        "SPEED": str(speed),
        "BASE_MB": "30",
        "AMP_MB": "30",
        "PERIOD_S": "20",
        "LEAK_MB_PER_MIN": str(leak_mb_per_min),
        "LEAK_START_S": str(leak_start_s),
        "LEAK_KIND": kind,
    }
    process = subprocess.Popen(
        [node, "--expose-gc", str(LEAK_SERVER_JS)], stdout=subprocess.PIPE, text=True, env=env
    )
    assert process.stdout is not None
    return process, f"http://127.0.0.1:{int(process.stdout.readline())}"
