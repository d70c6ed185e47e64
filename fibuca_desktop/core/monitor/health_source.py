"""Remote ``GET /health``: the backend's own memory report, read tolerantly.

The expected body is ``{"status": "OK", "memory": {"heapUsedMB": 245, "heapTotalMB": 256,
"externalMB": 12, "rssMB": 300}, "timestamp": "...", "uptime": 3512.4}``. ``uptime`` (seconds
since the backend started, optional) is kept apart from the metrics, for restart detection.
Extra fields are ignored; a missing or malformed number becomes a gap (None) rather than failing
the whole reading, so one odd field never hides the others: huge integers (any number of
digits), NaN, Infinity, negative or implausible sizes, strings, objects, arrays. Only a body
that is not a JSON object (or nests too deep to read) makes the target DOWN; nothing a server
sends raises anything else.
"""

from __future__ import annotations

import json
import logging
import math
from dataclasses import dataclass, field

from fibuca_desktop.core.monitor.http_fetch import HttpSource, SourceDown, mask_url, one_line
from fibuca_desktop.core.monitor.samples import plausible_number

log = logging.getLogger(__name__)

METRIC_NAMES = ("heapUsedMB", "heapTotalMB", "externalMB", "rssMB")
"""The remote metrics, in MB (1 MB = 1024 * 1024 bytes), as JSON output names them."""
MAX_MB = float(2**44)  # 16 EiB, the 64-bit address space: anything above is not a memory size
MAX_TEXT = 40  # the backend's status and timestamp, as shown beside ours
MAX_UPTIME_S = 100 * 366 * 86_400.0  # a century: anything longer is not an uptime


@dataclass(frozen=True)
class HealthReading:
    """One remote reading: every name in ``METRIC_NAMES`` maps to MB or None (a gap).

    ``backend_status`` is the backend's own verdict ("OK", "WARNING", ...), shown beside ours;
    ``timestamp`` is the backend's, as sent. Both are None when absent (always for /metrics).
    ``runtime`` holds what /metrics also tells (``samples.RUNTIME_METRICS``: start time, loop
    lag, GC time), apart from ``metrics`` so the history, CSV and JSON keep their columns.
    ``uptime_s`` is the backend's ``uptime`` in seconds (finite, >= 0) or None: not a metric,
    so it never reaches the graph, the CSV or the JSON lines; the poller puts it in the
    sample's ``identity`` for restart detection.
    """

    metrics: dict[str, float | None]
    backend_status: str | None = None
    timestamp: str | None = None
    runtime: dict[str, float | None] = field(default_factory=dict)
    uptime_s: float | None = None


def _number(value: object) -> float | None:
    """A plausible size in MB from an int, float or numeric string; else None (a gap)."""
    return plausible_number(value, MAX_MB)


def _uptime(value: object) -> float | None:
    """Seconds since the backend started, from a JSON number; else None (no signal)."""
    return plausible_number(value, MAX_UPTIME_S, max_text=0)


def _json_int(text: str) -> int | float:
    """JSON integers: as float past 300 digits (never int's 4300-digit limit, never an error)."""
    return int(text) if len(text) <= 300 else float(text)


def _text(value: object) -> str | None:
    """Printable text of at most ``MAX_TEXT`` characters, or None."""
    if isinstance(value, int | float) and not isinstance(value, bool):
        value = str(value) if math.isfinite(value) else None
    if not isinstance(value, str):
        return None
    return one_line(value, MAX_TEXT) or None


def parse_health(body: bytes) -> HealthReading:
    """Parse a /health body; raises ``SourceDown("unparsable body: ...")`` if not a JSON object.

    Metrics are read from ``memory`` and, failing that, from the top level (some services flatten
    them). Numbers may be ints, floats or numeric strings; anything else is a gap.
    """
    try:
        data = json.loads(body, parse_int=_json_int)
    except (ValueError, RecursionError) as error:  # JSONDecodeError and UnicodeDecodeError
        raise SourceDown(f"unparsable body: not JSON ({_short(error)})") from None
    if not isinstance(data, dict):
        raise SourceDown(f"unparsable body: expected a JSON object, got {_json_type(data)}")
    memory = data.get("memory")
    if not isinstance(memory, dict):
        memory = {}
    metrics = {
        name: _number(memory[name]) if name in memory else _number(data.get(name))
        for name in METRIC_NAMES
    }
    return HealthReading(
        metrics=metrics,
        backend_status=_text(data.get("status")),
        timestamp=_text(data.get("timestamp")),
        uptime_s=_uptime(data.get("uptime")),
    )


def _short(error: BaseException) -> str:
    text = str(error)
    return text if len(text) <= 80 else text[:77] + "..."


def _json_type(value: object) -> str:
    names = {list: "an array", str: "a string", bool: "a boolean", type(None): "null"}
    return names.get(type(value), "a number")


class HealthSource(HttpSource):
    """Polls one backend's /health URL; ``poll`` returns a reading or raises ``SourceDown``."""

    def poll(self) -> HealthReading:
        """Fetch and parse once; blocking, bounded by ``timeout_s``."""
        reading = parse_health(self._fetch())
        log.debug(
            "%s: %s (backend says %s)", mask_url(self.url), reading.metrics, reading.backend_status
        )
        return reading
