"""``reduce_bands``: 30 days of minute bands merged for drawing keep the floor, the peaks, the
count-weighted mean, and the gaps where the app was closed."""

from __future__ import annotations

import numpy as np
import pytest

from fibuca_desktop.core.monitor.history_bands import MinuteBands, reduce_bands


def month(gap: slice | None = None) -> MinuteBands:
    rng = np.random.default_rng(5)
    times = np.arange(0.0, 30 * 86_400.0, 60.0)
    if gap is not None:
        times = np.delete(times, np.arange(times.size)[gap])
    low = 80.0 + rng.uniform(0, 5, times.size)
    high = low + rng.uniform(10, 30, times.size)
    mean = (low + high) / 2
    count = rng.integers(1, 4, times.size).astype(np.int32)
    mean[100:110] = low[100:110] = high[100:110] = np.nan  # a DOWN stretch: no value
    count[100:110] = 0
    return MinuteBands(times, {"heap": low}, {"heap": high}, {"heap": mean}, {"heap": count})


def test_merged_bands_keep_floor_peaks_and_weighted_mean() -> None:
    bands = month()
    reduced = reduce_bands(bands, 2000)
    assert 1000 <= len(reduced.times) <= 2000
    assert np.nanmin(reduced.low["heap"]) == np.nanmin(bands.low["heap"])
    assert np.nanmax(reduced.high["heap"]) == np.nanmax(bands.high["heap"])
    assert reduced.count["heap"].sum() == bands.count["heap"].sum()
    # the mean of everything, weighted by samples, is unchanged by merging
    n, m = bands.count["heap"], np.nan_to_num(bands.mean["heap"])
    whole = (n * m).sum() / n.sum()
    rn, rm = reduced.count["heap"], np.nan_to_num(reduced.mean["heap"])
    assert (rn * rm).sum() / rn.sum() == pytest.approx(whole, rel=1e-12)
    assert np.all(np.diff(reduced.times) > 0) and reduced.times[0] == bands.times[0]


def test_a_closed_app_stays_a_gap_and_small_windows_are_untouched() -> None:
    bands = month(gap=slice(20_000, 23_000))  # two days and a bit without any row
    reduced = reduce_bands(bands, 2000)
    steps = np.diff(reduced.times)
    assert steps.max() > 2.5 * np.median(steps)  # the graph breaks the line there
    first_day = MinuteBands(
        bands.times[:1440],
        *(
            {"heap": getattr(bands, side)["heap"][:1440]}
            for side in ("low", "high", "mean", "count")
        ),
    )
    assert reduce_bands(first_day, 2000) is first_day  # fewer than asked for: as they are
