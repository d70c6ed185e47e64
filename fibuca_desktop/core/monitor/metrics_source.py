"""Remote ``GET /metrics``: Prometheus text as prom-client writes it, reduced to four numbers.

Recognised by suffix, so a name prefix (``myapp_nodejs_heap_size_used_bytes``) is tolerated:

=================================  ===========
metric (any prefix)                name here
=================================  ===========
``nodejs_heap_size_used_bytes``    heapUsedMB
``nodejs_heap_size_total_bytes``   heapTotalMB
``nodejs_external_memory_bytes``   externalMB
``process_resident_memory_bytes``  rssMB
=================================  ===========

A prefix ends with ``_`` or ``:`` (``xnodejs_...`` is another metric). The exact name wins over
any prefixed one wherever it appears; among prefixed names only, the first in the text wins.
Labels are tolerated: the sample without labels is used when there is one, otherwise the sum of
that metric's labelled samples (prom-client's default labels give exactly one). ``NaN``,
infinities, negative and implausible values (over 2**64 bytes) are gaps.
"""

from __future__ import annotations

import logging
import math
import re

from fibuca_desktop.core.monitor.health_source import METRIC_NAMES, HealthReading
from fibuca_desktop.core.monitor.http_fetch import HttpSource, SourceDown, mask_url

log = logging.getLogger(__name__)

_MB = 1024 * 1024
MAX_BYTES = float(2**64)
SUFFIXES = {
    "nodejs_heap_size_used_bytes": "heapUsedMB",
    "nodejs_heap_size_total_bytes": "heapTotalMB",
    "nodejs_external_memory_bytes": "externalMB",
    "process_resident_memory_bytes": "rssMB",
}
# name, optional {labels} (quoted values may hold "}"), value, optional timestamp in ms.
# Linear time whatever the line: the name ends at "{" or at whitespace, never inside a run of
# letters the value could also take (with ``\s*`` there, one long word cost O(n²) with the GIL
# held: a 200 kB line froze every target and Ctrl-C for minutes).
_SAMPLE = re.compile(
    r"""^(?P<name>[A-Za-z_:][A-Za-z0-9_:]*)
        (?:\s*\{(?P<labels>(?:[^"}]|"(?:[^"\\]|\\.)*")*)\}\s*|\s+)
        (?P<value>\S+)
        (?:\s+-?\d+)?\s*$""",
    re.VERBOSE,
)


def parse_prometheus(text: str) -> dict[str, float | None]:
    """Map a /metrics body to heapUsedMB, heapTotalMB, externalMB and rssMB (None for a gap).

    Raises ``SourceDown("unparsable body: ...")`` when the text holds no Prometheus sample at
    all (an HTML error page, JSON); a valid body without these metrics gives all gaps.
    """
    unlabelled: dict[str, float | None] = {}  # by exposition name
    labelled: dict[str, list[float | None]] = {}
    candidates: dict[str, list[str]] = {}  # our name -> exposition names, in order of appearance
    samples = 0
    for raw in text.splitlines():
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        match = _SAMPLE.match(line)
        try:
            number = float(match["value"]) if match else None  # also NaN, +Inf, -Inf, 1e9
        except ValueError:
            number = None
        if match is None or number is None:
            continue  # not a sample line: tolerated, but only samples make the body valid
        samples += 1
        name = match["name"]
        ours = _ours(name)
        if ours is None:
            continue
        names = candidates.setdefault(ours, [])
        if name not in names:
            names.append(name)
        value = number if math.isfinite(number) and 0 <= number <= MAX_BYTES else None
        if match["labels"] and match["labels"].strip(" ,"):
            labelled.setdefault(name, []).append(value)
        else:
            unlabelled[name] = value
    if samples == 0:
        raise SourceDown("unparsable body: no Prometheus samples found")
    metrics: dict[str, float | None] = {}
    for suffix, ours in SUFFIXES.items():
        names = candidates.get(ours, [])
        name = suffix if suffix in names else (names[0] if names else None)
        if name in unlabelled:
            total = unlabelled[name]
        else:
            values = labelled.get(name or "", [])
            gap = not values or None in values
            total = None if gap else sum(v for v in values if v is not None)
        metrics[ours] = None if total is None else total / _MB
    return {name: metrics[name] for name in METRIC_NAMES}


def _ours(name: str) -> str | None:
    """Our name for an exposition name: the exact suffix, or it after a ``_`` or ``:`` prefix."""
    for suffix, ours in SUFFIXES.items():
        if name == suffix or (name.endswith(suffix) and name[-len(suffix) - 1] in "_:"):
            return ours
    return None


class MetricsSource(HttpSource):
    """Polls one service's /metrics URL; ``poll`` returns a reading or raises ``SourceDown``.

    The reading has the same shape as /health's, with no backend status or timestamp.
    """

    def poll(self) -> HealthReading:
        """Fetch and parse once; blocking, bounded by ``timeout_s``."""
        body = self._fetch()
        metrics = parse_prometheus(body.decode("utf-8", errors="replace"))
        log.debug("%s: %s", mask_url(self.url), metrics)
        return HealthReading(metrics=metrics)
