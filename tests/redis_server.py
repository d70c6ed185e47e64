"""A real Redis server of the tests' own (never the machine's running one) and real Celery
worker processes (``fibuca-desktop worker``) for the cluster tests. A pytest plugin (see
conftest.py's ``pytest_plugins``).

``redis_server`` starts ``redis-server`` on a free port in a temporary folder with persistence
off (``--save '' --appendonly no``) and kills it at teardown; ``cluster_workers`` starts worker
subprocesses (each in its own session, so a test can SIGKILL a whole one) and stops every one
at teardown, checking that none is left.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import psutil
import pytest

START_S = 10.0
WORKER_READY_S = 60.0


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


class RedisServer:
    """One ``redis-server`` process; ``url`` is its database 0."""

    def __init__(self, folder: Path, password: str | None = None) -> None:
        self.folder = folder
        self.password = password
        self.port = 0
        self.process: subprocess.Popen | None = None

    @property
    def url(self) -> str:
        """Without the password, which a test gives through the environment or the URL."""
        return f"redis://127.0.0.1:{self.port}/0"

    def start(self) -> None:
        binary = shutil.which("redis-server")
        if binary is None:
            pytest.fail("redis-server is required for the cluster tests (.ci/run installs it)")
        for _attempt in range(3):  # a free port may be taken between the probe and the start
            self.port = free_port()
            argv = [binary, "--port", str(self.port), "--bind", "127.0.0.1", "--dir"]
            argv += [str(self.folder), "--save", "", "--appendonly", "no", "--daemonize", "no"]
            if self.password:
                argv += ["--requirepass", self.password]
            log = open(self.folder / "redis.log", "ab")  # noqa: SIM115 - closed with the process
            self.process = subprocess.Popen(argv, stdout=log, stderr=log, cwd=self.folder)
            log.close()
            if self._answers(START_S):
                return
            self.stop()
        pytest.fail(f"redis-server did not start: {(self.folder / 'redis.log').read_text()}")

    def _answers(self, within: float) -> bool:
        deadline = time.monotonic() + within
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                return False
            try:
                with socket.create_connection(("127.0.0.1", self.port), timeout=1) as conn:
                    conn.sendall(b"PING\r\n")
                    reply = conn.recv(64)
                    if reply.startswith(b"+PONG") or b"NOAUTH" in reply:
                        return True
            except OSError:
                pass
            time.sleep(0.05)
        return False

    def command(self, *words: str) -> bytes:
        """One command in Redis's inline protocol; the raw reply."""
        with socket.create_connection(("127.0.0.1", self.port), timeout=5) as conn:
            if self.password:
                conn.sendall(f"AUTH {self.password}\r\n".encode())
                conn.recv(64)
            conn.sendall(" ".join(words).encode() + b"\r\n")
            return conn.recv(65536)

    def queue_length(self, queue: str = "fibuca") -> int:
        reply = self.command("LLEN", queue)
        return int(reply.strip().lstrip(b":"))

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.kill()
            self.process.wait(timeout=10)


@pytest.fixture
def redis_server(tmp_path_factory) -> Iterator[RedisServer]:
    server = RedisServer(tmp_path_factory.mktemp("redis"))
    server.start()
    yield server
    server.stop()


REDIS_PASSWORD = "s3cret-pass:w0rd"  # with a colon: it must be quoted in a URL


@pytest.fixture
def redis_with_password(tmp_path_factory) -> Iterator[RedisServer]:
    """A Redis that refuses clients without ``REDIS_PASSWORD``."""
    server = RedisServer(tmp_path_factory.mktemp("redis-auth"), REDIS_PASSWORD)
    server.start()
    yield server
    server.stop()


class Worker:
    """A ``fibuca-desktop worker`` subprocess, the leader of its own process group."""

    def __init__(self, name: str, process: subprocess.Popen, log: Path) -> None:
        self.name, self.process, self.log = name, process, log

    def pool_pids(self) -> list[int]:
        try:
            return [child.pid for child in psutil.Process(self.process.pid).children()]
        except psutil.NoSuchProcess:
            return []

    def kill_whole(self) -> None:
        """SIGKILL the worker and its pool at once, as a machine that loses power."""
        with contextlib.suppress(ProcessLookupError):
            os.killpg(self.process.pid, signal.SIGKILL)
        self.process.wait(timeout=10)

    def text(self) -> str:
        return self.log.read_text(errors="replace")


def wait_for_workers(broker_url: str, names: list[str], within: float = WORKER_READY_S) -> None:
    """Until every named worker answers a Celery ping (the real control channel)."""
    from fibuca_desktop.cluster.app import make_app
    from fibuca_desktop.cluster.broker_url import parse_broker_url

    app = make_app(parse_broker_url(broker_url))
    deadline = time.monotonic() + within
    try:
        while time.monotonic() < deadline:
            answered = {name for reply in app.control.ping(timeout=0.5) or [] for name in reply}
            if set(names) <= answered:
                return
        pytest.fail(f"workers {names} did not come up within {within:.0f} s")
    finally:
        app.close()


@pytest.fixture
def cluster_workers(tmp_path_factory) -> Iterator[Callable[..., list[Worker]]]:
    """``start(broker_url, count, concurrency=1, env=None, extra=())`` -> ready workers."""
    started: list[Worker] = []
    folder = tmp_path_factory.mktemp("workers")

    def start(
        broker_url: str,
        count: int = 1,
        concurrency: int = 1,
        env: dict | None = None,
        extra: tuple[str, ...] = (),
        wait: bool = True,
    ) -> list[Worker]:
        workers = []
        for _ in range(count):
            name = f"w{len(started) + 1}-{os.getpid()}@test"
            log = folder / f"{name}.log"
            argv = [sys.executable, "-m", "fibuca_desktop", "worker", "--broker", broker_url]
            argv += ["--concurrency", str(concurrency), "--name", name, "-v", *extra]
            with open(log, "wb") as out:
                process = subprocess.Popen(
                    argv,
                    stdout=out,
                    stderr=subprocess.STDOUT,
                    env={**os.environ, **(env or {})},
                    start_new_session=True,
                )
            worker = Worker(name, process, log)
            started.append(worker)
            workers.append(worker)
        if wait:
            wait_for_workers(broker_url, [w.name for w in workers])
        return workers

    yield start
    for worker in started:
        if worker.process.poll() is None:
            worker.process.terminate()  # warm shutdown: running photos finish
    for worker in started:
        with contextlib.suppress(subprocess.TimeoutExpired):
            worker.process.wait(timeout=20)
        worker.kill_whole()
        assert worker.process.poll() is not None
