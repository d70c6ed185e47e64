"""What the admin chose to watch: targets as settings, and the pollers made from them.

A ``MonitorTarget`` is plain JSON-friendly data kept in the settings file. Its bearer token is
never part of it: only where the token comes from (an environment variable's name, or "in the OS
keyring under this URL") is saved. A PM2 target keeps only the app's name: PM2's listing holds
the app's environment, which is never read into a target.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from urllib.parse import urlsplit

from fibuca_desktop.core.errors import SettingsError

from .health_source import HealthSource
from .history import DAY_AT_1_S
from .http_fetch import mask_url, token_from
from .leak import DEFAULT_LEAK_MIN_SPAN_S
from .local_source import LocalSource
from .metrics_source import MetricsSource
from .pm2_source import PM2_METRICS, Pm2Listing, Pm2Source
from .poll_threads import PollThreads
from .poller import LOCAL_JSON_METRICS, TargetPoller, http_timeout_for
from .samples import (
    HEAP_USED_MB,
    LAG_P99_MS,
    LOOP_LATENCY_P95_MS,
    REMOTE_METRICS,
    RESPONSE_MS,
    RSS_MB,
)
from .thresholds import Thresholds

LOCAL, HEALTH, METRICS, PM2 = "local", "health", "metrics", "pm2"
KINDS = (LOCAL, HEALTH, METRICS, PM2)
REMOTE_KINDS = (HEALTH, METRICS)  # polled over HTTP: an address, maybe a token
KEYRING_SERVICE = "fibuca-desktop-monitor"
THIS_COMPUTER = "This computer"
WINDOWS_S = (300, 3600, 86_400, 7 * 86_400, 30 * 86_400)  # 5 min, 1 h, 24 h, 7 d, 30 d
MIN_INTERVAL_S, MAX_INTERVAL_S = 0.5, 60.0
MIN_LEAK_SPAN_S, MAX_LEAK_SPAN_S = 60.0, 86_400.0  # a minute .. the 24 h the RAM history holds
MAX_NAME = 80
# `pm2 jlist` starts a Node process (0.15 s of CPU here): PM2 targets are asked at most this often.
PM2_MIN_INTERVAL_S = 2.0
PM2_LISTING_AGE_S = 0.75 * PM2_MIN_INTERVAL_S  # PM2 targets added at other times share a listing


@dataclass
class MonitorTarget:
    """One watched target. Thresholds are in MB on heap used (remote) or RSS (local)."""

    name: str = THIS_COMPUTER
    kind: str = LOCAL
    url: str | None = None  # health and metrics targets
    pid: int | None = None  # local: one process; neither pid nor process_name: this app
    process_name: str | None = None  # local: every process with this name
    include_children: bool = False
    warning_mb: float = 350.0
    critical_mb: float = 450.0
    token_env: str | None = None  # the environment variable holding a bearer token
    token_in_keyring: bool = False  # the token is in the OS keyring under this target's URL
    pm2_app: str | None = None  # pm2: the app's name, as `pm2 list` shows it

    @property
    def metric(self) -> str:
        """The metric the thresholds watch: RSS for a process here (PM2's heap needs its agent),
        heap used for a backend."""
        return HEAP_USED_MB if self.kind in REMOTE_KINDS else RSS_MB

    @property
    def metric_names(self) -> tuple[str, ...]:
        if self.kind == PM2:
            return PM2_METRICS
        return LOCAL_JSON_METRICS if self.kind == LOCAL else REMOTE_METRICS

    @property
    def address(self) -> str:
        """Where the target is, for a tooltip: a masked URL, a PID, a process or PM2 app name."""
        if self.kind == PM2:
            return f"PM2 app {self.pm2_app}"
        if self.kind != LOCAL:
            return mask_url(self.url or "")
        if self.process_name:
            return f"processes named {self.process_name}" + (" + children" * self.include_children)
        if self.pid is None:
            return "this computer's memory and this app"
        return f"PID {self.pid}" + (" + children" * self.include_children)

    def thresholds(self, hysteresis_mb: float = 10.0) -> Thresholds:
        return Thresholds(
            self.warning_mb,
            self.critical_mb,
            self.metric,
            min(hysteresis_mb, self.warning_mb / 10),
        )

    def check(self, where: str) -> None:
        if not self.name.strip() or len(self.name) > MAX_NAME:
            raise SettingsError(f"{where}.name must be 1 to {MAX_NAME} characters")
        if self.kind not in KINDS:
            raise SettingsError(f"{where}.kind must be one of {', '.join(KINDS)}, not {self.kind}")
        if self.kind != PM2 and self.pm2_app is not None:
            raise SettingsError(f"{where}.pm2_app is only for pm2 targets")
        if self.kind == PM2:
            app = self.pm2_app or ""
            if not app.strip() or len(app) > MAX_NAME or not app.isprintable():
                raise SettingsError(
                    f"{where}.pm2_app must be a PM2 app's name (1 to {MAX_NAME} characters)"
                )
            if self.url is not None or self.pid is not None or self.process_name:
                raise SettingsError(f"{where}: a pm2 target names its app only (pm2_app)")
            if self.include_children or self.token_env or self.token_in_keyring:
                raise SettingsError(f"{where}: a pm2 target has no children or token settings")
        elif self.kind == LOCAL:
            if self.url is not None:
                raise SettingsError(f"{where}.url is only for health and metrics targets")
            if self.pid is not None and self.process_name:
                raise SettingsError(f"{where}: choose a process by pid or by name, not both")
            if self.pid is not None and not 1 <= self.pid < 2**32:
                raise SettingsError(f"{where}.pid must be a positive number (a process ID)")
            if self.token_env or self.token_in_keyring:
                raise SettingsError(f"{where}: a token is only for health and metrics targets")
        else:
            problem = url_problem(self.url or "")
            if problem:
                raise SettingsError(f"{where}.url: {problem}")
            if self.pid is not None or self.process_name or self.include_children:
                raise SettingsError(f"{where}: pid and process_name are only for local targets")
        if not 0 < self.warning_mb < self.critical_mb:
            raise SettingsError(f"{where}: warning_mb must be positive and below critical_mb")


def url_problem(url: str) -> str | None:
    """Why ``url`` cannot be polled, in words for the admin; None when it can."""
    try:
        parts = urlsplit(url.strip())
        parts.port  # noqa: B018 (raises ValueError for a port that is not 0-65535)
    except ValueError as error:  # "http://[::1" while it is being typed, ":99999", ":abc"
        return f"not a valid address ({str(error).lower()})"
    if parts.scheme not in ("http", "https") or not parts.hostname:
        return f"{mask_url(url)!r} is not an http:// or https:// address"
    if any(not c.isprintable() or c.isspace() for c in parts.hostname):
        return "the host name has a space or a control character in it"
    if parts.password is not None:
        return "put the password in a token, not in the address (it would be saved in plain text)"
    return None


def suggest_name(target: MonitorTarget, taken: set[str]) -> str:
    """A name for ``target`` that no watched target has: the host, then host:port, then
    host:port/path, then a number ("127.0.0.1:3000 (2)"); a process's name or PID for local
    ones. Empty when there is nothing to name it after yet (no host typed)."""
    if target.kind == PM2:
        app = (target.pm2_app or "").strip()
        bases = [app, f"{app} (PM2)"] if app else []
    elif target.kind == LOCAL:
        if target.process_name:
            bases = [target.process_name.strip()]
        elif target.pid is not None:
            bases = [f"PID {target.pid}"]
        else:
            bases = ["This app"]
    else:
        try:
            parts = urlsplit((target.url or "").strip())
        except ValueError:  # "http://[::1" while an IPv6 address is being typed
            return ""
        try:
            host, port = parts.hostname, parts.port
        except ValueError:  # a port that is not a number yet
            host, port = parts.hostname, None
        if not host:
            return ""
        bases = [host]
        if port:
            bases.append(f"{host}:{port}")
        path = parts.path.strip("/")
        if path:
            bases.append(f"{bases[-1]}/{path}")
    bases = [base[:MAX_NAME] for base in bases if base]
    if not bases:
        return ""
    for base in bases:
        if base not in taken:
            return base
    number = 2
    while True:
        suffix = f" ({number})"
        name = bases[-1][: MAX_NAME - len(suffix)] + suffix
        if name not in taken:
            return name
        number += 1


def this_computer() -> MonitorTarget:
    """The default target: this computer's memory, and this app's RSS against generous levels.

    Processing 12 MP photos peaks near 500 MB by design, so Fibuca's 350 / 450 MB (meant for
    the backend's heap) would alarm on every batch.
    """
    return MonitorTarget(THIS_COMPUTER, LOCAL, warning_mb=1000.0, critical_mb=1500.0)


@dataclass
class MonitorSettings:
    """The Monitor tab's choices; tokens are never here."""

    targets: list[MonitorTarget] = field(default_factory=lambda: [this_computer()])
    interval_s: float = 1.0
    window_s: int = WINDOWS_S[0]
    notify: bool = True
    plotted: list[str] = field(
        default_factory=lambda: [
            HEAP_USED_MB,
            RSS_MB,
            RESPONSE_MS,
            LAG_P99_MS,
            LOOP_LATENCY_P95_MS,
        ]
    )
    leak_min_span_s: float = DEFAULT_LEAK_MIN_SPAN_S  # evidence before a leak can be called

    def check(self, where: str) -> None:
        if not MIN_LEAK_SPAN_S <= self.leak_min_span_s <= MAX_LEAK_SPAN_S:
            raise SettingsError(
                f"{where}.leak_min_span_s must be between {MIN_LEAK_SPAN_S:g} and "
                f"{MAX_LEAK_SPAN_S:g} seconds"
            )
        if not MIN_INTERVAL_S <= self.interval_s <= MAX_INTERVAL_S:
            raise SettingsError(
                f"{where}.interval_s must be between {MIN_INTERVAL_S:g} and {MAX_INTERVAL_S:g}"
            )
        if self.window_s not in WINDOWS_S:
            choices = ", ".join(str(w) for w in WINDOWS_S)
            raise SettingsError(f"{where}.window_s must be one of {choices}")
        names = [target.name for target in self.targets]
        duplicates = sorted({name for name in names if names.count(name) > 1})
        if duplicates:
            raise SettingsError(f"{where}.targets: two targets are named {duplicates[0]!r}")


def token_for(target: MonitorTarget) -> str | None:
    """The bearer token from the target's environment variable, else the keyring, else None."""
    if target.kind not in REMOTE_KINDS:
        return None
    service = KEYRING_SERVICE if target.token_in_keyring else None
    return token_from(target.token_env, service, keyring_user=target.url or "")


def make_poller(
    target: MonitorTarget,
    pool: PollThreads,
    interval_s: float,
    token: str | None = None,
    history_s: float = DAY_AT_1_S,
    leak_min_span_s: float = DEFAULT_LEAK_MIN_SPAN_S,
    pm2: Pm2Listing | None = None,
) -> TargetPoller:
    """A poller for ``target`` keeping ``history_s`` of samples at ``interval_s``.

    ``token`` overrides where the settings say the token is (a token typed in for this session
    only, when no keyring can keep it). ``pm2`` is the listing PM2 targets share (one `pm2 jlist`
    for all of them); without one, a PM2 target gets its own. PM2 targets are polled every
    ``PM2_MIN_INTERVAL_S`` at the most often.
    """
    if target.kind == PM2:
        source = Pm2Source(pm2 or Pm2Listing(), name=target.pm2_app)
        interval_s = max(interval_s, PM2_MIN_INTERVAL_S)
    elif target.kind == LOCAL:
        source = LocalSource(target.pid, target.process_name, target.include_children)
    else:
        kind = HealthSource if target.kind == HEALTH else MetricsSource
        token = token if token is not None else token_for(target)
        source = kind(target.url or "", http_timeout_for(interval_s), token=token)
    return TargetPoller(
        source,
        target.name,
        pool,
        interval_s,
        thresholds=target.thresholds(),
        metric_names=target.metric_names,
        history_capacity=max(2, round(history_s / interval_s)),
        leak_min_span_s=leak_min_span_s,
    )


def environment_has(name: str | None) -> bool:
    """Whether the environment variable holding a token is set (never returns its value)."""
    return bool(name) and bool(os.environ.get(name or "", "").strip())
