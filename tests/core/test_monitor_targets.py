"""Monitor targets as settings, the pollers made from them, and tokens kept out of files."""

from __future__ import annotations

import json

import keyring
import pytest

from fibuca_desktop.core.errors import SettingsError
from fibuca_desktop.core.monitor.health_source import HealthSource
from fibuca_desktop.core.monitor.history_key import target_key
from fibuca_desktop.core.monitor.http_fetch import mask_url
from fibuca_desktop.core.monitor.local_source import LocalSource
from fibuca_desktop.core.monitor.metrics_source import MetricsSource
from fibuca_desktop.core.monitor.pm2_source import PM2_METRICS, Pm2Listing, Pm2Source
from fibuca_desktop.core.monitor.poll_threads import PollThreads
from fibuca_desktop.core.monitor.samples import HEAP_USED_MB, RSS_MB
from fibuca_desktop.core.monitor.targets import (
    HEALTH,
    KEYRING_SERVICE,
    LOCAL,
    METRICS,
    PM2,
    PM2_MIN_INTERVAL_S,
    MonitorTarget,
    make_poller,
    suggest_name,
    this_computer,
    token_for,
    url_problem,
)
from fibuca_desktop.core.secrets import (
    SecretStoreUnavailable,
    delete_secret,
    read_secret,
    save_secret,
)
from fibuca_desktop.core.settings import Settings, SettingsStore, validate


@pytest.fixture
def pool():
    threads = PollThreads()
    yield threads
    threads.shutdown(5.0)


def test_defaults_watch_this_computer_at_generous_levels():
    monitor = Settings().monitor
    assert [t.name for t in monitor.targets] == ["This computer"]
    target = monitor.targets[0]
    assert (target.kind, target.metric, target.warning_mb, target.critical_mb) == (
        LOCAL,
        RSS_MB,
        1000.0,
        1500.0,
    )
    assert (monitor.interval_s, monitor.window_s, monitor.notify) == (1.0, 300, True)


def test_targets_round_trip_through_the_settings_file(tmp_path):
    store = SettingsStore(tmp_path / "settings.json")
    settings = Settings()
    settings.monitor.targets.append(
        MonitorTarget("api", HEALTH, url="https://api.example.com/health", token_env="API_TOKEN")
    )
    settings.monitor.targets.append(
        MonitorTarget("node", LOCAL, process_name="node", include_children=True)
    )
    settings.monitor.targets.append(MonitorTarget("worker", PM2, pm2_app="worker"))
    settings.monitor.window_s = 3600
    settings.monitor.plotted = [HEAP_USED_MB]
    store.save(settings)
    loaded = store.load()
    assert loaded.problem is None
    assert loaded.settings.monitor == settings.monitor


def test_an_old_file_without_a_monitor_section_gets_the_defaults(tmp_path):
    path = tmp_path / "settings.json"
    path.write_text(json.dumps({"schema_version": 1, "processing": {}}))
    assert SettingsStore(path).load().settings.monitor.targets == [this_computer()]


@pytest.mark.parametrize(
    ("change", "words"),
    [
        ({"kind": "ftp"}, "kind must be one of local, health, metrics, pm2"),
        ({"kind": PM2}, "pm2_app must be a PM2 app's name"),
        ({"kind": PM2, "pm2_app": "a\x1b[31m"}, "pm2_app must be a PM2 app's name"),
        ({"kind": PM2, "pm2_app": "api", "pid": 3}, "a pm2 target names its app only"),
        ({"kind": PM2, "pm2_app": "api", "include_children": True}, "no children or token"),
        ({"pm2_app": "api"}, "pm2_app is only for pm2 targets"),
        ({"kind": HEALTH, "url": "ftp://x/health"}, "is not an http:// or https:// address"),
        ({"kind": HEALTH, "url": "https://u:pw@x/health"}, "put the password in a token"),
        ({"kind": HEALTH, "url": None}, "is not an http:// or https:// address"),
        ({"url": "https://x/health"}, "url is only for health and metrics targets"),
        ({"pid": 12, "process_name": "node"}, "by pid or by name, not both"),
        ({"pid": 0}, "pid must be a positive number"),
        ({"token_env": "TOKEN"}, "a token is only for health and metrics targets"),
        ({"warning_mb": 500.0, "critical_mb": 450.0}, "warning_mb must be positive and below"),
        ({"name": " "}, "name must be 1 to 80 characters"),
    ],
)
def test_bad_targets_name_the_field(change, words):
    settings = Settings()
    for key, value in change.items():
        setattr(settings.monitor.targets[0], key, value)
    with pytest.raises(SettingsError, match=r"monitor\.targets") as error:
        validate(settings)
    assert words in str(error.value)


@pytest.mark.parametrize(
    ("change", "words"),
    [
        ({"interval_s": 0.1}, "interval_s must be between 0.5 and 60"),
        ({"window_s": 600}, "window_s must be one of 300, 3600, 86400"),
    ],
)
def test_bad_monitor_settings_name_the_field(change, words):
    settings = Settings()
    for key, value in change.items():
        setattr(settings.monitor, key, value)
    with pytest.raises(SettingsError, match=words):
        validate(settings)


def test_two_targets_with_one_name_are_refused(tmp_path):
    path = tmp_path / "settings.json"
    target = {"name": "api", "kind": "health", "url": "http://127.0.0.1:1/health"}
    path.write_text(json.dumps({"monitor": {"targets": [target, target]}}))
    loaded = SettingsStore(path).load()
    assert "two targets are named 'api'" in loaded.problem
    assert [t.name for t in loaded.settings.monitor.targets] == ["api"]  # the second set aside


def test_pollers_get_the_right_source_metric_and_history(pool):
    health = make_poller(MonitorTarget("a", HEALTH, url="http://h/health"), pool, 2.0)
    metrics = make_poller(MonitorTarget("b", METRICS, url="http://h/metrics"), pool, 0.5, None, 60)
    local = make_poller(MonitorTarget("c", LOCAL, pid=1), pool, 1.0)
    assert isinstance(health.source, HealthSource) and isinstance(metrics.source, MetricsSource)
    assert isinstance(local.source, LocalSource) and local.source.pid == 1
    assert health.source.timeout_s == pytest.approx(1.6)  # below the interval
    assert health.history.capacity == 43_200  # 24 h at 2 s
    assert metrics.history.capacity == 120
    assert health.machine.thresholds.metric == HEAP_USED_MB
    assert local.machine.thresholds.metric == RSS_MB


def test_pm2_targets_share_one_listing_watch_rss_and_ask_at_most_every_2_s(pool):
    listing = Pm2Listing()
    api = MonitorTarget("api", PM2, pm2_app="api")
    pollers = [
        make_poller(api, pool, 1.0, pm2=listing),
        make_poller(MonitorTarget("jobs", PM2, pm2_app="jobs"), pool, 1.0, pm2=listing),
    ]
    assert all(isinstance(p.source, Pm2Source) for p in pollers)
    assert pollers[0].source.listing is pollers[1].source.listing is listing
    assert [p.source.name for p in pollers] == ["api", "jobs"]
    assert all(p.interval_s == PM2_MIN_INTERVAL_S for p in pollers)
    assert pollers[0].history.capacity == 43_200  # 24 h at 2 s
    assert pollers[0].machine.thresholds.metric == RSS_MB  # the heap needs PM2's agent
    assert pollers[0].metric_names == PM2_METRICS
    assert make_poller(api, pool, 5.0).interval_s == 5.0  # a longer interval stays
    assert token_for(api) is None and api.address == "PM2 app api"


def test_pm2_targets_are_named_and_keyed_by_their_app():
    draft = MonitorTarget("", PM2, pm2_app="api")
    assert suggest_name(draft, set()) == "api"
    assert suggest_name(draft, {"api"}) == "api (PM2)"
    assert suggest_name(draft, {"api", "api (PM2)"}) == "api (PM2) (2)"
    assert suggest_name(MonitorTarget("", PM2, pm2_app=" "), set()) == ""
    assert target_key(MonitorTarget("renamed", PM2, pm2_app="api")) == "pm2:api"
    assert target_key(draft) != target_key(MonitorTarget("api", LOCAL, process_name="api"))


def test_a_session_token_wins_and_settings_never_hold_it(pool, monkeypatch, tmp_path):
    monkeypatch.setenv("FIBUCA_TEST_TOKEN", "from-env")
    target = MonitorTarget("a", HEALTH, url="http://h/health", token_env="FIBUCA_TEST_TOKEN")
    assert token_for(target) == "from-env"
    assert make_poller(target, pool, 1.0, token="typed").source._token == "typed"
    settings = Settings()
    settings.monitor.targets.append(target)
    SettingsStore(tmp_path / "s.json").save(settings)
    text = (tmp_path / "s.json").read_text()
    assert "from-env" not in text and "typed" not in text
    assert "FIBUCA_TEST_TOKEN" in text  # only where the token comes from


def test_without_an_os_keyring_secrets_fall_back_cleanly():
    """This machine has no keyring backend, like CI and headless servers."""
    assert type(keyring.get_keyring()).__module__ in (
        "keyring.backends.fail",
        "keyring.backends.chainer",
    )
    assert read_secret(KEYRING_SERVICE, "http://h/health") is None
    with pytest.raises(SecretStoreUnavailable, match="used for this session only"):
        save_secret(KEYRING_SERVICE, "http://h/health", "s3cret")
    delete_secret(KEYRING_SERVICE, "http://h/health")  # no error either


def test_with_an_os_keyring_the_token_is_kept_there(os_keyring, monkeypatch):
    monkeypatch.delenv("FIBUCA_TEST_TOKEN", raising=False)
    url = "http://h/health"
    save_secret(KEYRING_SERVICE, url, "s3cret")
    assert os_keyring.store == {(KEYRING_SERVICE, url): "s3cret"}
    target = MonitorTarget("a", HEALTH, url=url, token_in_keyring=True)
    assert token_for(target) == "s3cret"
    target.token_env = "FIBUCA_TEST_TOKEN"  # the environment wins when it is set
    monkeypatch.setenv("FIBUCA_TEST_TOKEN", "env")
    assert token_for(target) == "env"
    delete_secret(KEYRING_SERVICE, url)
    assert os_keyring.store == {}


@pytest.mark.parametrize(
    "url",
    [
        "http://[::1:3000/health",
        "http://[",
        "http://]/health",
        "http://127.0.0.1:99999/health",
        "http://127.0.0.1:3o00/health",
        "http://a b/health",
        "http://\x00/health",
        "http://u:p@[::1/h",
    ],
)
def test_a_broken_address_is_a_problem_in_words_never_an_exception(url):
    problem = url_problem(url)
    assert problem and ("address" in problem or "host name" in problem), problem
    assert suggest_name(MonitorTarget("x", HEALTH, url=url), set()) is not None
    assert "p@" not in mask_url(url)


@pytest.mark.parametrize("url", ["http://[::1]:3000/health", "https://[fe80::1]/metrics"])
def test_ipv6_addresses_are_fine(url):
    assert url_problem(url) is None
