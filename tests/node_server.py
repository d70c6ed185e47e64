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
