"""/metrics parser benchmark: the prometheus_client-based parser against the old hand-written one.

    .venv/bin/python tests/benchmarks/bench_metrics_parser.py [--rounds 5]

Side by side in one run, as ratios (this machine is shared and noisy): the best of ``--rounds``
parses of each body by each parser, in this process, after one warm-up (so prometheus_client's
import is not measured). Bodies:

- **prom-client**: a Node service's default /metrics (gauges, heap spaces, histograms by GC kind),
  about 6 kB: what every poll parses.
- **1 MB, many families**: the same plus HTTP request histograms over as many routes as fit in
  1 MB (the fetch cap): a busy service.
- **200 kB junk line** and **40,000 labels on our metric**: the lines that once hung a poll.

The old parser is copied here verbatim (``old_parse_prometheus``) as the baseline. The report
is printed and written to tests/benchmarks/metrics_parser.md.
"""

from __future__ import annotations

import argparse
import math
import re
import sys
import time
from pathlib import Path

HERE = Path(__file__).parent
sys.path.insert(0, str(HERE.parents[1]))

from fibuca_desktop.core.monitor.metrics_source import parse_prometheus  # noqa: E402

# --- the old parser, verbatim (main before fix/promparse), as the baseline -------------------

_MB = 1024 * 1024
MAX_BYTES = float(2**64)
SUFFIXES = {
    "nodejs_heap_size_used_bytes": "heapUsedMB",
    "nodejs_heap_size_total_bytes": "heapTotalMB",
    "nodejs_external_memory_bytes": "externalMB",
    "process_resident_memory_bytes": "rssMB",
}
_SAMPLE = re.compile(
    r"""^(?P<name>[A-Za-z_:][A-Za-z0-9_:]*)
        (?:\s*\{(?P<labels>(?:[^"}]|"(?:[^"\\]|\\.)*")*)\}\s*|\s+)
        (?P<value>\S+)
        (?:\s+-?\d+)?\s*$""",
    re.VERBOSE,
)


def _old_ours(name: str) -> str | None:
    for suffix, ours in SUFFIXES.items():
        if name == suffix or (name.endswith(suffix) and name[-len(suffix) - 1] in "_:"):
            return ours
    return None


def old_parse_prometheus(text: str) -> dict[str, float | None]:
    unlabelled: dict[str, float | None] = {}
    labelled: dict[str, list[float | None]] = {}
    candidates: dict[str, list[str]] = {}
    samples = 0
    for raw in text.splitlines():
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        match = _SAMPLE.match(line)
        try:
            number = float(match["value"]) if match else None
        except ValueError:
            number = None
        if match is None or number is None:
            continue
        samples += 1
        name = match["name"]
        ours = _old_ours(name)
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
        raise ValueError("unparsable body: no Prometheus samples found")
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
    return metrics


# --- bodies ---------------------------------------------------------------------------------


def _histogram(name: str, labels: str, buckets=(0.001, 0.01, 0.1, 1, 2, 5)) -> list[str]:
    lines = [f"# HELP {name} A histogram.", f"# TYPE {name} histogram"]
    for i, le in enumerate(buckets):
        lines.append(f'{name}_bucket{{le="{le}",{labels}}} {i * 3}')
    lines += [f'{name}_bucket{{le="+Inf",{labels}}} 20', f"{name}_sum{{{labels}}} 1.5"]
    return [*lines, f"{name}_count{{{labels}}} 20"]


def prom_client_body() -> str:
    lines = []
    for name, value in [
        ("process_cpu_user_seconds_total", 1.2),
        ("process_cpu_system_seconds_total", 0.3),
        ("process_start_time_seconds", 1700000000),
        ("process_resident_memory_bytes", 104857600),
        ("process_virtual_memory_bytes", 1104857600),
        ("process_heap_bytes", 204857600),
        ("process_open_fds", 23),
        ("process_max_fds", 65536),
        ("nodejs_eventloop_lag_seconds", 0.001),
        ("nodejs_eventloop_lag_min_seconds", 0.0001),
        ("nodejs_eventloop_lag_p99_seconds", 0.012),
        ("nodejs_active_handles_total", 4),
        ("nodejs_heap_size_total_bytes", 52428800),
        ("nodejs_heap_size_used_bytes", 41943040),
        ("nodejs_external_memory_bytes", 2097152),
    ]:
        lines += [f"# HELP {name} A gauge.", f"# TYPE {name} gauge", f"{name} {value}"]
    for space in ("read_only", "new", "old", "code", "shared", "trusted", "new_large_object"):
        for what in ("total", "used", "available"):
            name = f"nodejs_heap_space_size_{what}_bytes"
            lines.append(f'{name}{{space="{space}"}} 1048576')
    lines.append('nodejs_version_info{version="v20.11.0",major="20",minor="11",patch="0"} 1')
    for kind in ("minor", "major", "incremental", "weakcb"):
        lines += _histogram("nodejs_gc_duration_seconds", f'kind="{kind}"')
    return "\n".join(lines) + "\n"


def big_body(size: int = 1_000_000) -> str:
    parts = [prom_client_body()]
    total = len(parts[0])
    i = 0
    while total < size:
        chunk = "\n".join(
            _histogram(
                "http_request_duration_seconds",
                f'method="GET",route="/api/v1/items/{i}",code="200"',
            )
        )
        parts.append(chunk + "\n")
        total += len(chunk) + 1
        i += 1
    return "".join(parts)[:size]


BODIES = {
    "prom-client (~6 kB)": prom_client_body(),
    "1 MB, many families": big_body(),
    "200 kB junk line": "a" * 200_000 + "\nnodejs_heap_size_used_bytes 1\n",
    "40,000 labels on our metric": "nodejs_heap_size_used_bytes{"
    + ",".join(f'l{i}="v"' for i in range(40_000))
    + "} 5\nnodejs_heap_size_used_bytes 1\n",
}


def best(parse, text: str, rounds: int) -> float:
    parse(text)  # warm-up: imports, regex caches
    times = []
    for _ in range(rounds):
        start = time.perf_counter()
        parse(text)
        times.append(time.perf_counter() - start)
    return min(times)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=5)
    args = parser.parse_args()
    rows = [
        "| body | size | old parser | new parser | new / old |",
        "|---|---:|---:|---:|---:|",
    ]
    for label, text in BODIES.items():
        assert parse_prometheus(text)["heapUsedMB"] is not None, label
        old = best(old_parse_prometheus, text, args.rounds)
        new = best(parse_prometheus, text, args.rounds)
        rows.append(
            f"| {label} | {len(text):,} chars | {old * 1000:.2f} ms | {new * 1000:.2f} ms "
            f"| {new / old:.2f} |"
        )
    report = "\n".join(
        [
            "# /metrics parser: prometheus_client-based vs the old hand-written one",
            "",
            f"Best of {args.rounds} parses each, one process, after a warm-up "
            "(`tests/benchmarks/bench_metrics_parser.py`).",
            "",
            *rows,
            "",
        ]
    )
    print(report)
    (HERE / "metrics_parser.md").write_text(report, encoding="utf-8")
    return 0


if __name__ == "__main__":
    sys.exit(main())
