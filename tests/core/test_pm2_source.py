"""PM2 apps as targets, against a real PM2 (from npm, tests/pm2_daemon.py) in a temporary
PM2_HOME running a real app."""

from __future__ import annotations

import json
import logging
import os
import signal

import psutil
import pytest

from fibuca_desktop.core.monitor.pm2_source import (
    CPU_PERCENT,
    LOOP_LATENCY_MS,
    PM2_METRICS,
    Pm2App,
    Pm2Listing,
    Pm2Source,
    Pm2Unavailable,
    parse_jlist,
)
from fibuca_desktop.core.monitor.restarts import CrashLoop, Restart, RestartTracker
from fibuca_desktop.core.monitor.samples import HEAP_TOTAL_MB, HEAP_USED_MB, MB, RSS_MB
from tests.pm2_daemon import APP, SECRET, SECRET_ARG, Pm2, wait


def _listing(pm2: Pm2, **kwargs) -> Pm2Listing:
    return Pm2Listing(pm2.pm2, pm2_home=pm2.home, max_age_s=0.0, **kwargs)


def _app(pm2: Pm2) -> Pm2App:
    [app] = [app for app in _listing(pm2).apps() if app.name == APP]
    return app


# --- against the real PM2 --------------------------------------------------------------------


def test_the_listing_has_the_real_app_with_its_pid_memory_and_state(pm2):
    app = wait(lambda: (a := _app(pm2)).online and a.pid and a)
    assert app, "PM2 never reported the app online"
    process = psutil.Process(app.pid)
    assert any(part.endswith("app.js") for part in process.cmdline())
    metrics = dict(app.metrics)
    assert metrics[RSS_MB] == pytest.approx(process.memory_info().rss / MB, rel=0.5)
    assert metrics[CPU_PERCENT] is not None and metrics[CPU_PERCENT] >= 0
    assert app.restarts == 0 and app.status == "online"
    assert abs(app.started_at - process.create_time()) < 10


def test_heap_and_loop_latency_come_from_pm2s_agent(pm2):
    def reported():
        metrics = dict(_app(pm2).metrics)
        return metrics if metrics.get(HEAP_USED_MB) and metrics.get(LOOP_LATENCY_MS) else None

    metrics = wait(reported)
    assert metrics, "PM2 never reported the app's heap and event loop latency"
    assert 0 < metrics[HEAP_USED_MB] <= metrics[HEAP_TOTAL_MB] < metrics[RSS_MB]
    assert metrics[LOOP_LATENCY_MS] >= 0


def test_a_pm2_source_gives_a_sample_in_the_projects_shape(pm2):
    source = Pm2Source(_listing(pm2), name=APP)
    sample = source.poll()
    assert not sample.is_down and sample.backend_status == "online"
    assert tuple(sample.metrics) == PM2_METRICS
    assert sample.value(RSS_MB) > 0
    assert sample.identity.pid == _app(pm2).pid and sample.identity.restart_count == 0
    gone = Pm2Source(_listing(pm2), name="no-such-app").poll()
    assert gone.is_down and "no app 'no-such-app'" in gone.down_reason


def test_the_apps_secrets_appear_nowhere(pm2, caplog, tmp_path):
    raw = pm2.raw_jlist()
    assert SECRET in raw and SECRET_ARG in raw  # PM2 does print them: there is something to leak
    caplog.set_level(logging.DEBUG)
    listing = _listing(pm2)
    apps = listing.apps()
    sample = Pm2Source(listing, name=APP).poll()
    seen = [repr(apps), repr(sample), repr(vars(listing)), caplog.text]
    # output that breaks in the middle, or is too long: the error says so, and quotes nothing
    cut = tmp_path / "pm2-cut"
    cut.write_text(f'#!/bin/sh\n"{pm2.pm2}" jlist | head -c {raw.index(SECRET) + 40}\n')
    cut.chmod(0o755)
    errors = []
    for broken in (Pm2Listing(str(cut), pm2.home), _listing(pm2, max_output=200)):
        with pytest.raises(Pm2Unavailable) as caught:
            broken.apps()
        errors.append(caught.value)
        assert caught.value.__context__ is None and caught.value.__cause__ is None
    assert "not JSON" in str(errors[0]) and "more than 200 bytes" in str(errors[1])
    seen += [str(e) for e in errors] + [repr(e.args) for e in errors] + [caplog.text]
    for text in seen:
        assert SECRET not in text and SECRET_ARG not in text


def test_pm2_restart_and_a_killed_app_are_counted_as_restarts(pm2):
    tracker, events = RestartTracker(), []
    listing = _listing(pm2)
    source = Pm2Source(listing, name=APP)

    def online_after(restarts: int) -> Pm2App | None:
        app = _app(pm2)
        return app if app.online and app.restarts == restarts and app.pid else None

    first = wait(lambda: online_after(0))
    assert first
    events += tracker.observe(source.poll())
    pm2.run("restart", APP)
    second = wait(lambda: online_after(1))
    assert second, "`pm2 restart` was not counted by PM2"
    events += tracker.observe(source.poll())
    os.kill(second.pid, signal.SIGKILL)
    third = wait(lambda: online_after(2))
    assert third, "PM2 did not restart the killed app"
    events += tracker.observe(source.poll())
    events += tracker.observe(source.poll())  # nothing new
    reasons = [event.reason for event in events if isinstance(event, Restart)]
    assert len(reasons) == 2 and tracker.total == 2
    assert "PM2 restart count 0 -> 1" in reasons[0] and f"new PID {first.pid}" in reasons[0]
    assert "PM2 restart count 1 -> 2" in reasons[1] and f"{second.pid} -> {third.pid}" in reasons[1]


def test_an_app_that_keeps_crashing_is_a_crash_loop_through_pm2s_count(pm2, tmp_path):
    script = tmp_path / "crashing.js"
    script.write_text("setTimeout(() => process.exit(1), 1200);\n")  # past PM2's min_uptime
    pm2.run("start", str(script), "--name", "fibuca-crashing", "--restart-delay", "200")
    try:
        source = Pm2Source(_listing(pm2), name="fibuca-crashing")
        tracker, events = RestartTracker(loop_restarts=3), []

        def looped() -> bool:
            events.extend(tracker.observe(source.poll()))
            return tracker.in_crash_loop

        assert wait(looped), f"no crash loop seen: {tracker.total} restart(s)"
    finally:
        pm2.run("delete", "fibuca-crashing")
    [loop] = [event for event in events if isinstance(event, CrashLoop)]
    assert loop.reason == "crash loop: 3 restarts within 1 h"
    assert all("PM2 restart count" in e.reason for e in events if isinstance(e, Restart))


def test_targets_on_one_listing_share_one_pm2_jlist(pm2, tmp_path):
    runs = tmp_path / "runs"
    counting = tmp_path / "pm2-counting"
    counting.write_text(f'#!/bin/sh\necho run >> "{runs}"\nexec "{pm2.pm2}" "$@"\n')
    counting.chmod(0o755)
    listing = Pm2Listing(str(counting), pm2.home, max_age_s=60.0)
    samples = [Pm2Source(listing, name=APP).poll() for _ in range(3)]
    samples.append(Pm2Source(listing, pm_id=_app(pm2).pm_id).poll())
    assert all(not sample.is_down for sample in samples)
    assert runs.read_text().count("run") == 1


def test_a_pm2_that_does_not_answer_in_time_is_stopped_at_the_deadline(pm2, tmp_path):
    slow = tmp_path / "pm2-slow"
    slow.write_text("#!/bin/sh\nexec sleep 60\n")
    slow.chmod(0o755)
    with pytest.raises(Pm2Unavailable, match=r"no complete answer within 0\.5 s"):
        Pm2Listing(str(slow), pm2.home, timeout_s=0.5).apps()


def test_no_daemon_is_started_where_pm2_is_not_running(pm2_bin, tmp_path):
    home = tmp_path / "pm2-empty-home"
    home.mkdir()
    listing = Pm2Listing(pm2_bin, pm2_home=home)
    with pytest.raises(Pm2Unavailable, match="PM2 is not running"):
        listing.apps()
    assert list(home.iterdir()) == []  # `pm2 jlist` would have spawned a daemon here


def test_pm2_not_installed_says_so(tmp_path):
    with pytest.raises(Pm2Unavailable, match="not installed"):
        Pm2Listing(str(tmp_path / "pm2")).apps()
    with pytest.raises(ValueError):
        Pm2Source(Pm2Listing())


# --- odd output ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "output",
    [b"", b"{}", b"null", b"[PM2] Spawning PM2 daemon", b"\xff\xfe[", b"[" * 100_000],
)
def test_output_that_is_not_a_list_of_apps_is_one_clear_error(output):
    with pytest.raises(Pm2Unavailable, match=r"^pm2 jlist printed"):
        parse_jlist(output)


def test_odd_entries_are_skipped_and_odd_values_are_gaps():
    entries = [
        1,
        {"name": "no id"},
        {"pm_id": True, "name": "bool id"},
        {
            "pm_id": 3,
            "name": "odd\x1b[31m",
            "pid": -1,
            "monit": {"memory": "lots", "cpu": float("inf")},
            "pm2_env": {
                "status": 5,
                "restart_time": "2",
                "axm_monitor": {
                    "Used Heap Size": {"value": "12", "unit": "KiB"},
                    "custom": {"value": SECRET, "type": "internal/v8/heap/total", "unit": "MiB"},
                },
            },
        },
    ]
    output = b">>>> In-memory PM2 is out-of-date, do:\n" + json.dumps(entries).encode()
    [app] = parse_jlist(output)
    assert app.pm_id == 3 and app.name == "odd [31m" and app.pid is None and app.status is None
    assert app.restarts is None and dict(app.metrics)[HEAP_USED_MB] is None
    assert SECRET not in repr(app)
    assert app.sample(0.0).is_down
