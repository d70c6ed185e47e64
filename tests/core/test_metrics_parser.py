"""The /metrics parser (prometheus_client underneath): each defect of the hand-written one, fixed.

Exposition texts come from real servers (tests/monitor_server.js) and from the Prometheus
projects' own parser tests (client_python's tests/test_parser.py, tests/openmetrics/).
"""

from __future__ import annotations

import gzip
import subprocess
import sys
import time
from collections.abc import Iterator

import pytest

from fibuca_desktop.core.monitor import prom_text
from fibuca_desktop.core.monitor.http_fetch import SourceDown, fetch, fetch_body, gunzip
from fibuca_desktop.core.monitor.metrics_source import (
    MetricsSource,
    histogram_quantile,
    parse_exposition,
    parse_prometheus,
)
from fibuca_desktop.core.monitor.samples import GC_SECONDS_TOTAL, LAG_P99_MS, PROCESS_START_TIME
from tests.node_server import NodeServer

MB = 1024 * 1024
HEAP = "nodejs_heap_size_used_bytes"


@pytest.fixture(scope="module")
def server() -> Iterator[NodeServer]:
    node = NodeServer()
    yield node
    node.stop()


def heap(text: str, content_type: str = "") -> float | None:
    return parse_prometheus(text, content_type)["heapUsedMB"]


# --- 1. a long line without a sample took quadratic time ----------------------------------

JUNK_LINES = [
    "a" * 200_000,  # one long word
    "a " + "b" * 200_000,
    'a{x="' + '\\"' * 100_000,  # an unterminated label value full of escaped quotes
    "a{" + 'b="",' * 40_000,  # labels that never close
    "#" + " " * 200_000 + "x",  # prometheus_client's comment split is quadratic in blanks
    "a " + "1 " * 100_000,
]


@pytest.mark.parametrize("junk", JUNK_LINES, ids=lambda s: repr(s[:8]))
def test_long_line_without_a_sample_is_skipped_not_the_scrape(junk):
    text = f"{junk}\n{HEAP} 1048576\n{junk}\nprocess_resident_memory_bytes 2097152\n"
    assert parse_prometheus(text) == {
        "heapUsedMB": 1.0,
        "heapTotalMB": None,
        "externalMB": None,
        "rssMB": 2.0,
    }


def test_long_line_of_our_metric_is_skipped_not_handed_to_the_library():
    """Valid, but 40,000 labels: prometheus_client's label loops would take seconds on it."""
    labels = ",".join(f'l{i}="v"' for i in range(40_000))
    text = f"{HEAP}{{{labels}}} 5\n{HEAP} 1048576\n{HEAP}{{{labels}}} 7\n"
    assert heap(text) == 1.0
    assert heap(f"{HEAP}{{{labels}}} 5\n") is None  # a valid sample: gaps, not DOWN


def test_long_line_without_a_sample_parses_in_well_under_a_second():
    """In a fresh interpreter, with a generous deadline: the old parser took 15 s for 28,000
    characters, so 200,000 of each shape would take hours, not the 20 s allowed here."""
    code = (
        "from fibuca_desktop.core.monitor.metrics_source import parse_prometheus\n"
        "from tests.core.test_metrics_parser import JUNK_LINES\n"
        "for junk in JUNK_LINES:\n"
        f"    assert parse_prometheus(junk + '\\n{HEAP} 1048576\\n')['heapUsedMB'] == 1.0\n"
        "print('ok')\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=20, check=False
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "ok"


# --- 2. lines were split at Unicode line separators ---------------------------------------


@pytest.mark.parametrize("separator", ["\u2028", "\u2029", "\x85", "\x0c", "\x0b", "\x1c", "\r"])
def test_unicode_line_separator_in_help_does_not_inject_a_value(separator):
    text = (
        f"# TYPE {HEAP} gauge\n"
        f"{HEAP} 2097152\n"
        f"# HELP app_info Build information.{separator}{HEAP} 1\n"
    )
    assert heap(text) == 2.0  # the old parser read 1 byte: the "line" after the separator won


def test_unicode_line_separator_alone_is_no_sample():
    with pytest.raises(SourceDown, match=r"^unparsable body: no Prometheus samples"):
        parse_prometheus(f"# HELP x text\u2028{HEAP} 1\n")


def test_unicode_line_separator_in_a_label_value_keeps_the_sample():
    assert heap(f'{HEAP}{{path="a\u2028b\x85c"}} 1048576\n') == 1.0


# --- 3. OpenMetrics timestamps with a fraction dropped the sample -------------------------


@pytest.mark.parametrize("timestamp", ["1520879607.789", "000", "0.0", "1.1", "1.5e3"])
def test_openmetrics_fractional_timestamp_keeps_the_sample(timestamp):
    # The timestamps of client_python's tests/openmetrics/test_parser.py::test_timestamps.
    text = f"# TYPE {HEAP} gauge\n{HEAP} 1048576 {timestamp}\n# EOF\n"
    assert heap(text) == 1.0
    assert heap(text, "application/openmetrics-text; version=1.0.0; charset=utf-8") == 1.0


def test_openmetrics_fractional_timestamp_on_a_real_server(server):
    reading = MetricsSource(server.base + "/metrics?om=1", 5.0).poll()
    sent = server.json("/last")
    assert reading.metrics["heapUsedMB"] == pytest.approx(sent["heapUsed"] / MB)
    assert reading.metrics["rssMB"] == pytest.approx(sent["rss"] / MB)


def test_openmetrics_exemplars_are_tolerated():
    # client_python's tests/openmetrics/test_parser.py::test_histogram_exemplars, our names.
    text = (
        "# TYPE nodejs_eventloop_lag_seconds histogram\n"
        'nodejs_eventloop_lag_seconds_bucket{le="1"} 0 # {a="b"} 0.5\n'
        'nodejs_eventloop_lag_seconds_bucket{le="2"} 2 123 # {a="c"} 0.5\n'
        'nodejs_eventloop_lag_seconds_bucket{le="+Inf"} 3 # {a="d"} 4 123\n'
        "# EOF\n"
    )
    assert parse_exposition(text)[LAG_P99_MS] == pytest.approx(2000.0)  # rank 2.97: +Inf -> 2


# --- 4. samples after # EOF overrode earlier ones -----------------------------------------


@pytest.mark.parametrize("after", [f"{HEAP} 5\n", f"{HEAP} 5\n# EOF\n", "blah\n"])
def test_samples_after_eof_are_ignored(after):
    assert heap(f"{HEAP} 1048576\n# EOF\n{after}") == 1.0


def test_samples_after_eof_are_ignored_on_a_real_server(server):
    reading = MetricsSource(server.base + "/metrics?om=1", 5.0).poll()  # sends "heap 1" after
    assert reading.metrics["heapUsedMB"] == pytest.approx(server.json("/last")["heapUsed"] / MB)


def test_samples_after_eof_only_is_no_sample():
    with pytest.raises(SourceDown, match=r"^unparsable body: no Prometheus samples"):
        parse_prometheus(f"# EOF\n{HEAP} 1048576\n")


# --- 5. digit separators and full-width digits were numbers --------------------------------


@pytest.mark.parametrize(
    "value",
    ["36_438_016", "３６", "３６４３８０１６", "٣٦", "1_0e3", "0x10", "1e", "--1", "1.2.3", "+-1"],
)
def test_digit_separators_and_full_width_digits_are_not_numbers(value):
    assert parse_exposition(f"{HEAP} {value}\nprocess_resident_memory_bytes 1048576\n") == {
        "heapUsedMB": None,
        "heapTotalMB": None,
        "externalMB": None,
        "rssMB": 1.0,
        PROCESS_START_TIME: None,
        LAG_P99_MS: None,
        GC_SECONDS_TOTAL: None,
    }


@pytest.mark.parametrize("timestamp", ["1_520_879_607", "１５２０"])
def test_digit_separators_in_a_timestamp_make_the_line_invalid(timestamp):
    assert heap(f'{HEAP} 1048576 {timestamp}\n{HEAP}{{a="b"}} 2097152\n') == 2.0


@pytest.mark.parametrize(
    ("value", "mb"),
    [("1048576", 1.0), ("1.048576e6", 1.0), ("1048576.0", 1.0), (".5e1", 5 / MB), ("+4", 4 / MB)],
)
def test_the_format_s_own_numbers_still_are(value, mb):
    assert heap(f"{HEAP} {value}\n") == pytest.approx(mb)


# --- 6. an unrequested gzipped body -------------------------------------------------------


@pytest.mark.parametrize("mode", ["header", "bare"])
def test_unrequested_gzip_body_is_decompressed(server, mode):
    """``header``: Content-Encoding: gzip; ``bare``: only gzip's magic bytes tell."""
    reading = MetricsSource(f"{server.base}/metrics?gzip={mode}&prefix=myapp_", 5.0).poll()
    sent = server.json("/last")
    assert reading.metrics["heapUsedMB"] == pytest.approx(sent["heapUsed"] / MB)
    assert reading.metrics["externalMB"] == pytest.approx(sent["external"] / MB)


def test_unrequested_gzip_openmetrics_keeps_its_content_type(server):
    body = fetch_body(f"{server.base}/metrics?gzip=header&om=1", 5.0)
    assert body.content_type.startswith("application/openmetrics-text")
    assert body.data.rstrip().endswith(b"nodejs_heap_size_used_bytes 1")


def test_unrequested_gzip_bomb_hits_the_size_cap(server):
    with pytest.raises(SourceDown, match=r"^response larger than 1 MB once unzipped$"):
        MetricsSource(server.base + "/gzipbomb", 10.0).poll()
    assert len(fetch(server.base + "/gzipbomb", 10.0, max_bytes=200 * MB)) == 100 * MB


def test_unrequested_gzip_broken_or_cut_is_unparsable():
    whole = gzip.compress(f"{HEAP} 1\n".encode())
    with pytest.raises(SourceDown, match=r"^unparsable body: gzip data cut short"):
        gunzip(whole[:-6], 1000)
    with pytest.raises(SourceDown, match=r"^unparsable body: broken gzip data"):
        gunzip(whole[:10] + b"\xff" * 20, 1000)
    assert gunzip(whole + gzip.compress(b"up 1\n"), 1000) == f"{HEAP} 1\nup 1\n".encode()


# --- today's tolerance, kept ---------------------------------------------------------------

# client_python tests/test_parser.py::test_roundtrip (a Prometheus server's own exposition),
# with prom-client's gauges under a prefix appended.
GO_TEXT = """\
# HELP go_gc_duration_seconds A summary of the GC invocation durations.
# TYPE go_gc_duration_seconds summary
go_gc_duration_seconds{quantile="0"} 0.013300656000000001
go_gc_duration_seconds{quantile="0.99"} 0.021383540000000003
go_gc_duration_seconds_sum 56.12904785
go_gc_duration_seconds_count 7476.0
# HELP process_cpu_seconds_total Total user and system CPU time spent in seconds.
# TYPE process_cpu_seconds_total counter
process_cpu_seconds_total 29323.4
# HELP process_virtual_memory_bytes Virtual memory size in bytes.
# TYPE process_virtual_memory_bytes gauge
process_virtual_memory_bytes 2.478268416e+09
prometheus_build_info{branch="HEAD",revision="ef176e5",version="0.16.0rc1"} 1.0
prometheus_local_storage_chunk_ops_total{type="clone"} 28.0
# HELP "my.utf8.metric.#{}=" A fancy metric with dots.
# TYPE "my.utf8.metric.#{}=" summary
{"my.utf8.metric.#{}=",quantile="0"} 0.013300656000000001
# HELP app:process_resident_memory_bytes Resident memory size in bytes.
# TYPE app:process_resident_memory_bytes gauge
app:process_resident_memory_bytes 1.048576e+08
"""


def test_a_bad_line_does_not_lose_the_rest_of_the_scrape():
    bad = [
        'a{foo="bar",, } 1',  # client_python: multiple trailing commas raise
        "# TYPE nodejs_heap_size_used_bytes meh",
        "nodejs_heap_size_used_bytes{a=1} 1",
        "nodejs_heap_size_used_bytes",
        "<html>",
    ]
    text = "\n".join([*bad, GO_TEXT, *bad, f'{HEAP}{{ foo = "bar" }} 3145728', *bad]) + "\n"
    assert parse_prometheus(text) == {
        "heapUsedMB": 3.0,
        "heapTotalMB": None,
        "externalMB": None,
        "rssMB": 100.0,
    }


def test_client_python_spacing_and_commas_are_read():
    # client_python tests/test_parser.py::test_spaces and ::test_commas, our metric's name.
    text = (
        f'{HEAP}{{ foo = "bar" }} 1\n'
        f'{HEAP}\t\t{{\t\tfoo\t\t=\t\t"baz"\t\t}}\t\t2\n'
        f'{HEAP}   {{    foo   =  "buz"   }}    3\n'
        f'{HEAP}\t {{  \t foo\t = "biz"\t  }} \t 4\n'
        f'{HEAP}{{foo="bez"}}6\n'
        f'{HEAP}{{foo="bex",}} 5\n'
        f'{HEAP}{{foo="b\\"a\\nr}}"}} 0\n'
    )
    assert heap(text) == pytest.approx(21 / MB)


@pytest.mark.parametrize("openmetrics", ["", "# EOF\n"])
def test_a_gauge_declared_a_counter_is_still_read(openmetrics):
    # prometheus_client renames a counter's samples to ``<name>_total`` (or, in OpenMetrics,
    # rejects them): the sample is the server's, whatever its TYPE line says.
    assert heap(f"# TYPE {HEAP} counter\n{HEAP} 1048576\n{openmetrics}") == 1.0


def test_duplicate_series_count_once():
    text = f'{HEAP}{{a="1"}} 1048576\n{HEAP}{{a="1"}} 1048576\n{HEAP}{{a="2"}} 1048576\n'
    assert heap(text) == 2.0


def test_crlf_lines_are_read():
    assert heap(f"# TYPE {HEAP} gauge\r\n{HEAP} 1048576\r\n") == 1.0


def test_openmetrics_strictness_does_not_lose_the_scrape():
    # OpenMetrics wants +Inf buckets and _total counters: the library raises, we keep reading.
    text = (
        "# TYPE nodejs_gc_duration_seconds histogram\n"
        'nodejs_gc_duration_seconds_bucket{le="0.1",kind="minor"} 2\n'
        'nodejs_gc_duration_seconds_sum{kind="minor"} 0.5\n'
        f"# TYPE {HEAP} counter\n{HEAP} 1048576\n# EOF\n"
    )
    found = parse_exposition(text)
    assert found["heapUsedMB"] == 1.0 and found[GC_SECONDS_TOTAL] == 0.5


# --- the runtime figures -------------------------------------------------------------------

PROM_CLIENT_RUNTIME = """\
# HELP process_start_time_seconds Start time of the process since unix epoch in seconds.
# TYPE process_start_time_seconds gauge
process_start_time_seconds 1700000000
# HELP nodejs_eventloop_lag_p99_seconds The 99th percentile of the recorded event loop delays.
# TYPE nodejs_eventloop_lag_p99_seconds gauge
nodejs_eventloop_lag_p99_seconds 0.012255231
# HELP nodejs_gc_duration_seconds Garbage collection duration by kind, one of major, minor, ...
# TYPE nodejs_gc_duration_seconds histogram
nodejs_gc_duration_seconds_bucket{le="0.001",kind="minor"} 3
nodejs_gc_duration_seconds_bucket{le="+Inf",kind="minor"} 4
nodejs_gc_duration_seconds_sum{kind="minor"} 0.0125
nodejs_gc_duration_seconds_count{kind="minor"} 4
nodejs_gc_duration_seconds_bucket{le="+Inf",kind="major"} 1
nodejs_gc_duration_seconds_sum{kind="major"} 0.25
nodejs_gc_duration_seconds_count{kind="major"} 1
"""


def test_runtime_figures_from_prom_client_text():
    found = parse_exposition(PROM_CLIENT_RUNTIME)
    assert found[PROCESS_START_TIME] == 1700000000.0
    assert found[LAG_P99_MS] == pytest.approx(12.255231)
    assert found[GC_SECONDS_TOTAL] == pytest.approx(0.2625)
    prefixed = PROM_CLIENT_RUNTIME.replace("process_", "my:process_").replace(
        "nodejs_", "my_nodejs_"
    )
    assert parse_exposition(prefixed) == found


def test_runtime_figures_from_a_real_server(server):
    server.json("/free")  # runs global.gc(): at least one GC entry to sum, reported
    server.json("/free")  # to the observer before this second request is answered
    reading = MetricsSource(server.base + "/metrics?runtime=1&prefix=app_", 5.0).poll()
    sent = server.json("/last")
    assert reading.runtime[PROCESS_START_TIME] == sent["start"]
    assert abs(reading.runtime[PROCESS_START_TIME] - time.time()) < 3600
    assert reading.runtime[LAG_P99_MS] == pytest.approx(sent["lag"] * 1000)
    assert reading.runtime[GC_SECONDS_TOTAL] == pytest.approx(sent["gcSeconds"])
    assert sent["gcSeconds"] > 0
    assert set(reading.metrics) == {"heapUsedMB", "heapTotalMB", "externalMB", "rssMB"}


def test_runtime_figures_absent_are_gaps(server):
    # Without ?runtime=1 the server sends prom-client's start time but no lag or GC figures.
    reading = MetricsSource(server.base + "/metrics", 5.0).poll()
    assert abs(reading.runtime[PROCESS_START_TIME] - time.time()) < 3600
    assert (reading.runtime[LAG_P99_MS], reading.runtime[GC_SECONDS_TOTAL]) == (None, None)
    bare = "nodejs_heap_size_used_bytes 1048576\n"
    assert parse_exposition(bare)[PROCESS_START_TIME] is None


def test_lag_from_a_summary_when_there_is_no_p99_gauge():
    text = (
        "# TYPE nodejs_eventloop_lag_seconds summary\n"
        'nodejs_eventloop_lag_seconds{quantile="0.5"} 0.01\n'
        'nodejs_eventloop_lag_seconds{quantile="0.99"} 0.2\n'
        "nodejs_eventloop_lag_seconds_sum 1\nnodejs_eventloop_lag_seconds_count 3\n"
    )
    assert parse_exposition(text)[LAG_P99_MS] == pytest.approx(200.0)
    gauge = text + "nodejs_eventloop_lag_p99_seconds 0.05\n"
    assert parse_exposition(gauge)[LAG_P99_MS] == pytest.approx(50.0)  # the gauge wins
    mean_only = "nodejs_eventloop_lag_seconds 0.3\n"  # prom-client's current lag, not a p99
    assert parse_exposition(mean_only)[LAG_P99_MS] is None


@pytest.mark.parametrize(
    ("buckets", "p99"),
    [
        ({0.1: 90, 0.2: 100, float("inf"): 100}, 0.19),
        ({0.1: 99, float("inf"): 100}, 0.1),  # in the +Inf bucket: its lower bound
        ({0.5: 100, float("inf"): 100}, 0.495),
        ({0.5: 0, float("inf"): 0}, None),  # no observation
        ({0.5: 3}, None),  # no +Inf bucket
    ],
)
def test_lag_histogram_quantile_as_promql(buckets, p99):
    result = histogram_quantile(0.99, buckets)
    assert result == (None if p99 is None else pytest.approx(p99))


@pytest.mark.parametrize("value", ["NaN", "+Inf", "-1", "1e300"])
def test_runtime_figures_implausible_are_gaps(value):
    text = (
        f"process_start_time_seconds {value}\nnodejs_eventloop_lag_p99_seconds {value}\n"
        f'nodejs_gc_duration_seconds_sum{{kind="major"}} {value}\n'
        'nodejs_gc_duration_seconds_sum{kind="minor"} 1\n'
    )
    found = parse_exposition(text)
    assert (found[PROCESS_START_TIME], found[LAG_P99_MS], found[GC_SECONDS_TOTAL]) == (None,) * 3


def test_openmetrics_is_recognised_by_content_type_or_eof():
    assert prom_text.is_openmetrics("a 1\n", "application/openmetrics-text; version=1.0.0")
    assert prom_text.is_openmetrics("a 1\n# EOF\n")
    assert prom_text.is_openmetrics("a 1\n# EOF")
    assert not prom_text.is_openmetrics("a 1\n", "text/plain; version=0.0.4")


def test_prometheus_client_is_imported_on_the_first_parse_not_at_start_up():
    """It costs ~80 ms (its exposition module pulls http.server, wsgiref, email): lazily."""
    code = (
        "import sys\n"
        "import fibuca_desktop.cli.monitor_command, fibuca_desktop.core.monitor.targets\n"
        "from fibuca_desktop.core.monitor.metrics_source import parse_prometheus\n"
        "before = 'prometheus_client' in sys.modules\n"
        "parse_prometheus('nodejs_heap_size_used_bytes 1\\n')\n"
        "print(before, 'prometheus_client.parser' in sys.modules)\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=60, check=False
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.split() == ["False", "True"]
