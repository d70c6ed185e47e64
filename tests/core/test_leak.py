"""The GC-floor leak detector on seeded synthetic heaps: sawtooth, noise, jitter, gaps, leaks.

The series are built here (a real Node heap is in tests/benchmarks/bench_leak.py): each cycle
ramps by a seeded amplitude over a jittered period and drops back to the floor; the floor is a
base plus the leak. Many seeds, so the false-alarm and coverage claims are measured, not hoped.
"""

from __future__ import annotations

import json

import numpy as np
import pytest

from fibuca_desktop.core.monitor.leak import (
    COLLECTING,
    DEFAULT_LEAK_MIN_SPAN_S,
    LEAK,
    NO_LEAK,
    LeakVerdict,
    detect_leak,
    sawtooth_period,
)

EPOCH = 1.7e9
BASE_MB = 60.0


def heap(
    seed: int,
    leak_mb_per_min: float = 0.0,
    duration_s: float = 900.0,
    dt: float = 1.0,
    gap_share: float = 0.02,
) -> tuple[np.ndarray, np.ndarray, float, float]:
    """(times, MB, amplitude, period): a 15-40 MB sawtooth, 20-120 s period +-30%, noise, gaps."""
    rng = np.random.default_rng(seed)
    amplitude, period = rng.uniform(15, 40), rng.uniform(20, 120)
    t = np.arange(0.0, duration_s, dt)
    bounds = [-rng.uniform(0, period)]
    while bounds[-1] <= duration_s:
        bounds.append(bounds[-1] + period * rng.uniform(0.7, 1.3))
    edges = np.array(bounds)
    cycle = np.searchsorted(edges, t, side="right") - 1
    phase = (t - edges[cycle]) / (edges[cycle + 1] - edges[cycle])
    values = BASE_MB + leak_mb_per_min / 60 * t + amplitude * phase + rng.normal(0, 0.5, t.size)
    values[rng.random(t.size) < gap_share] = np.nan
    return t + EPOCH, values, amplitude, period


def true_floor(times: np.ndarray, leak_mb_per_min: float) -> float:
    return BASE_MB + leak_mb_per_min / 60 * (times[-1] - EPOCH)


def test_healthy_sawtooth_never_flagged_over_200_seeds() -> None:
    verdicts = [detect_leak(*heap(seed)[:2], 450.0) for seed in range(200)]
    assert [v.status for v in verdicts].count(LEAK) == 0
    # Not vacuous: every one of them was judged, with a sawtooth found.
    assert all(v.status == NO_LEAK and v.period_s is not None for v in verdicts)
    assert verdicts[0].text == "sawtooth, no leak"


def test_leak_flagged_with_slope_within_20_percent_and_range_holding_the_truth() -> None:
    held, flagged = 0, 0
    for seed in range(200):
        rate = np.random.default_rng(seed + 10_000).uniform(20, 60)
        times, values, _, _ = heap(seed, rate, duration_s=700.0)
        # The critical level 3-30 min of leak above the floor now, so the truth is known.
        critical = true_floor(times, rate) + rate * np.random.default_rng(seed).uniform(3, 30)
        verdict = detect_leak(times, values, critical)
        if verdict.status != LEAK:
            continue
        flagged += 1
        assert verdict.floor_mb_per_minute == pytest.approx(rate, rel=0.2)
        truth = (critical - true_floor(times, rate)) / (rate / 60)
        low, high = verdict.seconds_to_critical
        held += low <= truth <= high
    assert flagged >= 190  # a few long-period seeds have too few cycles in 700 s
    assert held >= 0.9 * flagged


def test_leak_text_and_json() -> None:
    times, values, _, _ = heap(3, 30.0, duration_s=700.0)
    verdict = detect_leak(times, values, 1000.0)
    assert verdict.status == LEAK
    low, high = verdict.seconds_to_critical
    assert 0 < low < high
    assert verdict.text.startswith("leak +3")
    assert " MB/min · critical in " in verdict.text and verdict.text.endswith(" min")
    doc = json.loads(json.dumps(verdict.to_json()))
    assert doc["suspected"] is True
    assert doc["floorMbPerMinute"] == pytest.approx(30.0, rel=0.2)
    assert doc["secondsToCritical"] == [round(low, 1), round(high, 1)]
    assert doc["evidenceSeconds"] == pytest.approx(699.0, abs=2)


def test_collecting_evidence_before_the_min_span() -> None:
    seed = next(s for s in range(100) if heap(s)[3] < 30)  # a short period: cycles enough
    times, values, _, _ = heap(seed, 40.0, duration_s=250.0)
    verdict = detect_leak(times, values, 450.0)
    assert verdict.status == COLLECTING
    assert verdict.text == "collecting evidence (4 of 10 min)"
    assert verdict.to_json() == {
        "suspected": False,
        "floorMbPerMinute": None,
        "secondsToCritical": None,
        "evidenceSeconds": pytest.approx(249.0, abs=1.0),
    }
    # The same series judged with a shorter min span is a leak: only the evidence rule held it.
    assert detect_leak(times, values, 450.0, min_span_s=200.0).status == LEAK


def test_collecting_counts_cycles_when_the_period_is_long() -> None:
    rng_seed = next(s for s in range(100) if heap(s)[3] > 110)  # a ~2 min period
    times, values, _, _ = heap(rng_seed, duration_s=450.0)
    verdict = detect_leak(times, values, 450.0, min_span_s=300.0)
    assert verdict.status == COLLECTING and verdict.cycles < 6
    assert verdict.text == f"collecting evidence ({verdict.cycles} of 6 cycles)"


def test_empty_and_all_gaps() -> None:
    assert detect_leak(np.array([]), np.array([]), 450.0).status == COLLECTING
    nan = np.full(100, np.nan)
    verdict = detect_leak(np.arange(100.0), nan, 450.0)
    assert verdict.text == "collecting evidence (0 of 10 min)"


def test_a_step_is_not_a_leak() -> None:
    """A model loaded once lifts the floor by 120 MB half-way: not a leak, at any position."""
    for seed in range(40):
        times, values, _, _ = heap(seed, duration_s=900.0)
        at = np.random.default_rng(seed).uniform(0.3, 0.9)
        values = values + 120.0 * (times > times[0] + at * (times[-1] - times[0]))
        verdict = detect_leak(times, values, 450.0)
        assert verdict.status == NO_LEAK, (seed, verdict)


def test_steady_growth_without_sawtooth_is_a_leak() -> None:
    """No GC drops (e.g. everything retained): the floor is the series itself, in 30 s windows."""
    rng = np.random.default_rng(7)
    times = EPOCH + np.arange(0.0, 900.0)
    values = 80.0 + 5.0 / 60 * (times - EPOCH) + rng.normal(0, 0.3, times.size)
    verdict = detect_leak(times, values, 450.0)
    assert verdict.status == LEAK and verdict.period_s is None
    assert verdict.floor_mb_per_minute == pytest.approx(5.0, rel=0.05)
    truth = (450.0 - (80.0 + 5.0 * 15)) * 60 / 5.0
    low, high = verdict.seconds_to_critical
    assert low <= truth <= high
    flat = 80.0 + rng.normal(0, 0.3, times.size)
    assert detect_leak(times, flat, 450.0).text == "no leak"


def test_slow_floor_below_the_material_rate_is_not_a_leak() -> None:
    times, values, _, _ = heap(11, 0.3, duration_s=900.0, gap_share=0.0)
    verdict = detect_leak(times, values, 450.0)
    assert verdict.status == NO_LEAK
    assert 0.0 < verdict.floor_mb_per_minute < 0.5


def test_period_estimate_follows_the_sawtooth_despite_jitter() -> None:
    for seed in range(30):
        times, values, _, period = heap(seed, 20.0, duration_s=1200.0)
        assert sawtooth_period(times, values) == pytest.approx(period, rel=0.25)


def test_fast_sampling_and_a_day_of_history() -> None:
    """0.1 s samples (bucketed for the period) and 24 h at 1 s give the same kind of answer."""
    times, values, _, _ = heap(2, 25.0, duration_s=900.0, dt=0.1)
    assert detect_leak(times, values, 2000.0).status == LEAK
    times, values, _, _ = heap(2, duration_s=86_400.0)
    verdict = detect_leak(times, values, 450.0)
    assert verdict.status == NO_LEAK and verdict.evidence_seconds > 86_000


def test_default_min_span_and_verdict_shape() -> None:
    assert DEFAULT_LEAK_MIN_SPAN_S == 600.0
    verdict = LeakVerdict(LEAK, 12.0, (25 * 60.0, 40 * 60.0), 900.0, 600.0, 12, 40.0)
    assert verdict.text == "leak +12 MB/min · critical in 25–40 min"
    assert LeakVerdict(LEAK, 2.345, (3 * 3600.0, 5 * 3600.0), 900.0, 600.0, 12, 40.0).text == (
        "leak +2.3 MB/min · critical in 3–5 h"
    )


def test_a_leak_that_starts_inside_the_window_is_measured_on_its_own_part() -> None:
    """Healthy for 500 s, then 30 MB/min: the recent half gives the leak's rate, not a blend."""
    flagged = 0
    for seed in range(30):
        times, values, _, period = heap(seed, duration_s=1000.0)
        onset = times[0] + 500.0
        values = values + 30.0 / 60 * np.clip(times - onset, 0, None)
        verdict = detect_leak(times, values, 1000.0)
        if period < 45:  # enough cycles in the recent half (the fit window holds the onset)
            assert verdict.status == LEAK, (seed, verdict)
        if verdict.status == LEAK:
            flagged += 1
            assert verdict.floor_mb_per_minute == pytest.approx(30.0, rel=0.2)
    assert flagged >= 10
