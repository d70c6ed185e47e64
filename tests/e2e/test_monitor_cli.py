"""``fibuca-desktop monitor`` end to end: a real subprocess against the real Node.js test server."""

from __future__ import annotations

import csv
import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator

import pytest

from tests.node_server import MB, NodeServer
from tests.pm2_daemon import APP, SECRET, SECRET_ARG

KEYS = {"time", "target", "state", "reason", "metrics", "trend", "stale"}
KEYS |= {"leak", "restarts", "latencyMs", "lagP99Ms"}  # issue 14, keeping the others
REMOTE = {"heapUsedMB", "heapTotalMB", "externalMB", "rssMB"}
LOCAL = {"rssMB", "systemAvailableMB", "systemUsedPercent"}
STATES = {"OK", "WARNING", "DEGRADED", "CRITICAL", "DOWN"}
COMMAND = [sys.executable, "-m", "fibuca_desktop", "monitor"]


@pytest.fixture(scope="module")
def server() -> Iterator[NodeServer]:
    node = NodeServer()
    yield node
    node.stop()


def monitor(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess:
    return subprocess.run([*COMMAND, *args], capture_output=True, text=True, timeout=60, env=env)


def json_lines(result: subprocess.CompletedProcess) -> list[dict]:
    assert result.returncode == 0, result.stderr
    lines = [json.loads(line) for line in result.stdout.splitlines()]
    for line in lines:
        assert set(line) == KEYS
        assert line["state"] in STATES
        assert set(line["trend"]) == {"mbPerMinute", "secondsToCritical"}
        assert isinstance(line["time"], float) and abs(line["time"] - time.time()) < 60
    return lines


def test_lines_carry_the_leak_evidence_restarts_and_response_times(server):
    url = server.base + "/metrics?runtime=1"
    args = ("--metrics", url, "--interval", "0.2", "--duration", "1.5", "--leak-min-span", "60")
    lines = json_lines(monitor(*args, "--json"))
    assert len(lines) >= 3
    for line in lines:
        leak = line["leak"]
        assert set(leak) == {
            "suspected",
            "floorMbPerMinute",
            "secondsToCritical",
            "evidenceSeconds",
            "metric",
        }
        assert leak["suspected"] is False and leak["floorMbPerMinute"] is None
        assert leak["metric"] == "heapUsedMB" and 0 <= leak["evidenceSeconds"] < 5
        assert line["restarts"] == 0
        assert 0 < line["latencyMs"] < 2000
        assert line["lagP99Ms"] is not None and line["lagP99Ms"] >= 0
    assert lines[-1]["leak"]["evidenceSeconds"] > lines[0]["leak"]["evidenceSeconds"]
    text = monitor(*args)
    assert text.returncode == 0, text.stderr
    assert "collecting evidence (0 of 1 min)" in text.stdout.splitlines()[-1]


def test_a_bad_leak_min_span_is_a_usage_error(server):
    result = monitor("--health", server.base + "/health", "--leak-min-span", "-3")
    assert result.returncode == 2
    assert "--leak-min-span: -3 must be a positive number" in result.stderr


def test_health_lines_match_what_the_server_sent(server):
    url = server.base + "/health"
    lines = json_lines(monitor("--health", url, "--interval", "0.2", "--duration", "1.5", "--json"))
    assert len(lines) >= 3
    assert all(set(line["metrics"]) == REMOTE for line in lines)
    assert {(line["target"], line["state"], line["reason"]) for line in lines} == {
        (url, "OK", None)
    }
    assert [line["time"] for line in lines] == sorted(line["time"] for line in lines)
    sent = server.json("/last")["memory"]
    last = lines[-1]["metrics"]
    assert last["heapUsedMB"] == pytest.approx(sent["heapUsedMB"], rel=0.3)
    assert last["rssMB"] == pytest.approx(sent["rssMB"], rel=0.3)
    assert last["rssMB"] > last["heapUsedMB"] > 0


def test_metrics_with_a_name_prefix(server):
    url = server.base + "/metrics?prefix=myapp_"
    lines = json_lines(
        monitor("--metrics", url, "--interval", "0.2", "--duration", "1.0", "--json")
    )
    assert len(lines) >= 3
    assert {line["state"] for line in lines} == {"OK"}
    sent = server.json("/last")
    assert lines[-1]["metrics"]["heapUsedMB"] == pytest.approx(sent["heapUsed"] / MB, rel=0.3)
    assert lines[-1]["metrics"]["rssMB"] == pytest.approx(sent["rss"] / MB, rel=0.3)


def test_a_killed_server_gives_down_lines_and_exit_0():
    node = NodeServer()
    url = node.base + "/health"
    node.stop()
    lines = json_lines(monitor("--health", url, "--interval", "0.2", "--duration", "1.0", "--json"))
    assert lines  # the first poll at least; later ones back off
    assert {(line["state"], line["reason"]) for line in lines} == {("DOWN", "connection refused")}
    assert all(set(line["metrics"].values()) == {None} for line in lines)


def test_a_hanging_target_times_out_without_piling_up(server):
    started = time.monotonic()
    result = monitor(
        "--health", server.base + "/hang", "--interval", "0.2", "--duration", "1.6", "--json"
    )
    elapsed = time.monotonic() - started
    lines = json_lines(result)
    assert 1 <= len(lines) <= 1.6 / 0.2 + 1
    assert {line["state"] for line in lines} == {"DOWN"}
    assert all(line["reason"].startswith("no complete answer within") for line in lines)
    assert elapsed < 1.6 + 10  # interpreter start-up plus at most one bounded request


def test_local_lines_have_the_local_metrics():
    lines = json_lines(monitor("--local", "--interval", "0.2", "--duration", "0.7", "--json"))
    assert len(lines) >= 2
    for line in lines:
        assert set(line["metrics"]) == LOCAL
        assert line["metrics"]["rssMB"] > 1
        assert line["metrics"]["systemAvailableMB"] > 0
        assert 0 < line["metrics"]["systemUsedPercent"] < 100
        assert line["state"] == "OK"


def test_local_pid_of_an_exited_process_is_down():
    child = subprocess.Popen([sys.executable, "-c", "pass"])
    child.wait()
    lines = json_lines(
        monitor(
            "--local", "--pid", str(child.pid), "--interval", "0.2", "--duration", "0.5", "--json"
        )
    )
    assert lines and {line["state"] for line in lines} == {"DOWN"}
    assert all(line["metrics"]["systemAvailableMB"] > 0 for line in lines)


def test_low_thresholds_make_the_heap_critical(server):
    lines = json_lines(
        monitor(
            "--health",
            server.base + "/health",
            *["--warn", "1", "--critical", "2", "--interval", "0.2", "--duration", "1.0", "--json"],
        )
    )
    assert len(lines) >= 3
    assert {line["state"] for line in lines} == {"CRITICAL"}
    assert all(line["reason"].startswith("heapUsedMB") for line in lines)
    assert all(">= critical" in line["reason"] for line in lines)


def test_human_lines_and_csv(server, tmp_path):
    out = tmp_path / "samples.csv"
    result = monitor(
        "--health",
        server.base + "/health",
        *["--interval", "0.2", "--duration", "1.0", "--csv"],
        str(out),
    )
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    assert len(lines) >= 3
    assert all(" OK " in line and "heapUsedMB" in line and "MB/min" in line for line in lines)
    with out.open(newline="") as handle:
        rows = list(csv.reader(handle))
    assert rows[0][:4] == ["time", "epoch", "target", "state"] and set(rows[0][4:]) == REMOTE
    assert len(rows) - 1 == len(lines)
    assert not list(tmp_path.glob(".*part"))


def test_a_bearer_token_from_the_environment_is_sent_and_never_printed(server):
    env = {**os.environ, "FIBUCA_TEST_TOKEN": "s3cret"}
    url = server.base + "/auth/health"
    args = ("--health", url, "--interval", "0.2", "--duration", "0.5", "--json")
    with_token = monitor(*args, "--token-env", "FIBUCA_TEST_TOKEN", env=env)
    assert {line["state"] for line in json_lines(with_token)} == {"OK"}
    assert "s3cret" not in with_token.stdout + with_token.stderr
    without = json_lines(monitor(*args))
    assert {(line["state"], line["reason"]) for line in without} == {
        ("DOWN", "HTTP 401 Unauthorized")
    }


def test_ctrl_c_stops_cleanly_with_exit_0(server):
    process = subprocess.Popen(
        [*COMMAND, "--health", server.base + "/health", "--interval", "0.2", "--json"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    first = json.loads(process.stdout.readline())
    assert first["state"] == "OK"
    process.send_signal(signal.SIGINT)
    _, stderr = process.communicate(timeout=30)
    assert process.returncode == 0, stderr
    assert "Traceback" not in stderr


@pytest.mark.parametrize(
    ("args", "words"),
    [
        (["--health", "http://127.0.0.1:1/health", "--local"], "not allowed with"),
        ([], "one of the arguments"),
        (["--health", "ftp://127.0.0.1/health"], "expected http:// or https://"),
        (["--metrics", "127.0.0.1:9100/metrics"], "expected http:// or https://"),
        (["--local", "--interval", "0"], "must be a positive number"),
        (["--local", "--interval", "soon"], "is not a number"),
        (["--local", "--warn", "500", "--critical", "400"], "--warn must be below --critical"),
        (["--health", "http://127.0.0.1:1/health", "--pid", "1"], "go with --local"),
        (["--local", "--pid", "1", "--process", "node"], "not both"),
        (["--local", "--token-env", "HOME"], "goes with --health"),
        (["--health", "http://127.0.0.1:1/", "--token-env", "FIBUCA_UNSET_VAR"], "not set"),
        (["--health", "http://[::1:3000/health"], "invalid URL"),
        (["--metrics", "http://127.0.0.1:99999/metrics"], "Port out of range"),
        (["--health", "http://u:secret@[::1/health"], "invalid URL"),
    ],
)
def test_usage_errors_exit_2(args, words):
    env = {k: v for k, v in os.environ.items() if k != "FIBUCA_UNSET_VAR"}
    result = monitor(*args, "--duration", "5", env=env)
    assert result.returncode == 2, result.stdout + result.stderr
    assert words in result.stderr
    assert result.stdout == ""


def test_pm2_apps_are_watched_by_name_beside_a_backend(server, pm2_here):
    args = ("--pm2", APP, "--pm2", "no-such-app", "--metrics", server.base + "/metrics")
    result = monitor(*args, "--interval", "0.5", "--duration", "4.5", "--json")
    lines = json_lines(result)
    by_target: dict[str, list[dict]] = {}
    for line in lines:
        by_target.setdefault(line["target"], []).append(line)
    app, gone = by_target[f"PM2 {APP}"], by_target["PM2 no-such-app"]
    assert 2 <= len(app) <= 3 < len(by_target[f"{server.base}/metrics"])  # every 2 s at most
    assert all(line["state"] == "OK" for line in app)
    assert set(app[0]["metrics"]) >= {"rssMB", "cpuPercent", "heapUsedMB", "loopLatencyP95Ms"}
    assert app[0]["metrics"]["rssMB"] > 0 and app[0]["restarts"] == 0
    assert gone[0]["state"] == "DOWN" and "no app 'no-such-app'" in gone[0]["reason"]
    assert SECRET not in result.stdout + result.stderr
    assert SECRET_ARG not in result.stdout + result.stderr


def test_pm2_not_on_path_is_a_usage_error_that_says_so(tmp_path):
    env = {**os.environ, "PATH": str(tmp_path)}
    result = monitor("--pm2", "api", "--duration", "1", env=env)
    assert result.returncode == 2
    assert "PM2 is not installed here (pm2 not found on PATH)" in result.stderr
    assert "Traceback" not in result.stderr
