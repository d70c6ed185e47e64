"""Leak detection on the GC floor: is the level the heap returns to after collections growing?

Why not a line through raw samples: garbage collection saws the heap up and down by tens of MB,
so a least-squares line over a few minutes of samples mostly measures where in the sawtooth the
window starts and ends, and says nothing about how sure it is. Here the series is reduced to its
**floor** (the minimum of each sawtooth cycle, cycles found from the series' own large drops), a
robust Theil–Sen slope is fitted to the floor with Sen's confidence interval, and the slope is
tested with a one-sided Mann–Kendall test, on the fit window and, failing that, on its recent
half (a leak that began inside the window). A leak is suspected only when a test is significant
(``ALPHA`` in all, Bonferroni), the slope's lower confidence bound is at least
``MIN_LEAK_MB_PER_MINUTE`` (sure that it grows materially, not only that it grows: a young
process's RSS creeping up a few MB is not a leak) and the growth shows in every part of the fit
window (a model loaded once is a step, not a leak). Pure numpy; the caller passes one series
since its start or its last restart and keeps whatever state it needs (e.g. "notified once").

Cost: only the last ``PERIOD_LOOKBACK_S`` (period) and the fit window (slope) are read, found by
binary search, so a 24 h history at 1 s costs about as much as an hour; the fit sees at most
``MAX_FLOOR_POINTS`` floor points.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from statistics import NormalDist

import numpy as np

DEFAULT_LEAK_MIN_SPAN_S = 600.0  # setting monitor.leak_min_span_s, CLI --leak-min-span
ALPHA = 0.01  # one-sided false-alarm rate per verdict (two Mann–Kendall tests at ALPHA / 2)
MIN_LEAK_MB_PER_MINUTE = 0.5  # the slope's lower bound; slower is days to fill 500 MB
MIN_FLOOR_POINTS = 6  # cycles (floor points) in the fit window; exact MK p >= 1/n! below 6
MAX_FLOOR_POINTS = 240  # more cycles are merged into groups (Theil–Sen is O(n^2))
MIN_FIT_S = 300.0  # fit window: 10 periods, >= this, <= max(min span, this), >= 6 periods
FIT_PERIODS = 10
PERIOD_LOOKBACK_S = 1200.0  # the period is estimated from this recent stretch
NO_SAWTOOTH_WINDOW_S = 30.0  # floor window when no sawtooth is found (steady growth, flat)
DROP_NOISE_FACTOR = 6.0  # a GC drop is a fall larger than this many robust sigmas of the steps
MAX_SAMPLES_FOR_PERIOD = 6000  # faster sampling is bucketed (min per bucket) first
EXACT_MK_BELOW = 10  # below this many floor points, the exact null distribution of S
PARTS = 3  # the growth must show in each of these parts (2 with fewer than 9 points)

COLLECTING, NO_LEAK, LEAK = "collecting", "no_leak", "leak"


@dataclass(frozen=True)
class LeakVerdict:
    """The detector's answer for one series; ``text`` is the Trend column, ``to_json`` the CLI."""

    status: str  # COLLECTING | NO_LEAK | LEAK
    floor_mb_per_minute: float | None  # Theil–Sen slope of the floor (None while collecting)
    seconds_to_critical: tuple[float, float] | None  # floor reaching critical, from the CI
    evidence_seconds: float  # span of samples given (since start or last restart)
    needed_seconds: float  # the min span asked for
    cycles: int  # floor points (sawtooth cycles, or fixed windows without one) in the fit
    period_s: float | None  # the sawtooth period, None when no sawtooth was found
    needed_cycles: int = MIN_FLOOR_POINTS
    slope_ci_mb_per_minute: tuple[float, float] | None = None  # two-sided 1 - 2*ALPHA
    p_value: float | None = None  # one-sided Mann–Kendall p for "the floor grows"

    @property
    def suspected(self) -> bool:
        return self.status == LEAK

    @property
    def text(self) -> str:
        """ "leak +12 MB/min · critical in 25–40 min", "sawtooth, no leak", "collecting …"."""
        if self.status == COLLECTING:
            if self.evidence_seconds < self.needed_seconds:
                have = int(self.evidence_seconds // 60)
                need = f"{self.needed_seconds / 60:.1f}".removesuffix(".0")  # 10, 3.3
                return f"collecting evidence ({have} of {need} min)"
            return f"collecting evidence ({self.cycles} of {self.needed_cycles} cycles)"
        if self.status == NO_LEAK:
            return "sawtooth, no leak" if self.period_s is not None else "no leak"
        rate = self.floor_mb_per_minute or 0.0
        shown = f"{rate:.0f}" if abs(rate) >= 10 else f"{rate:.1f}"
        text = f"leak +{shown} MB/min"
        if self.seconds_to_critical is not None:
            text += " · critical " + _duration_range(*self.seconds_to_critical)
        return text

    def to_json(self) -> dict:
        """The CLI contract's ``"leak"`` object."""
        return {
            "suspected": self.suspected,
            "floorMbPerMinute": _rounded(self.floor_mb_per_minute),
            "secondsToCritical": (
                None
                if self.seconds_to_critical is None
                else [round(s, 1) for s in self.seconds_to_critical]
            ),
            "evidenceSeconds": round(self.evidence_seconds, 1),
        }


def detect_leak(
    times: np.ndarray,
    values: np.ndarray,
    critical_mb: float,
    min_span_s: float = DEFAULT_LEAK_MIN_SPAN_S,
    alpha: float = ALPHA,
    min_rate_mb_per_minute: float = MIN_LEAK_MB_PER_MINUTE,
) -> LeakVerdict:
    """Judge one series (epoch seconds, ascending; MB with NaN for gaps) since start/restart.

    ``seconds_to_critical`` is when the *floor* reaches ``critical_mb`` (after that, even a full
    collection cannot bring the heap below CRITICAL), from the latest fitted floor and the
    slope's confidence bounds: (at the upper slope, at the lower slope).
    """
    times = np.asarray(times, dtype=np.float64)
    values = np.asarray(values, dtype=np.float64)
    keep = np.isfinite(values) & np.isfinite(times)
    if not keep.all():
        times, values = times[keep], values[keep]
    span = float(times[-1] - times[0]) if times.size else 0.0
    collecting = LeakVerdict(COLLECTING, None, None, span, min_span_s, 0, None)
    if times.size < 3:
        return collecting
    period = sawtooth_period(times, values)
    fit_s = max(min_span_s, MIN_FIT_S)
    if period is not None:
        fit_s = min(max(FIT_PERIODS * period, MIN_FIT_S), fit_s)
        fit_s = max(fit_s, (MIN_FLOOR_POINTS + 1) * period)  # room for the cycles needed
    first = int(np.searchsorted(times, times[-1] - fit_s, side="left"))
    ft, fv = floor_points(times[first:], values[first:], period)
    cycles = int(ft.size)
    if span < min_span_s or cycles < MIN_FLOOR_POINTS:
        return LeakVerdict(COLLECTING, None, None, span, min_span_s, cycles, period)
    # The whole fit window, then its recent half (a leak that began inside the window): each
    # at alpha / 2, so the verdict's false-alarm rate stays at most alpha (Bonferroni).
    fit = _judge(ft, fv, alpha / 2, min_rate_mb_per_minute)
    half = ft > ft[-1] - (ft[-1] - ft[0]) / 2
    if not fit[0] and int(half.sum()) >= MIN_FLOOR_POINTS:
        recent = _judge(ft[half], fv[half], alpha / 2, min_rate_mb_per_minute)
        fit = recent if recent[0] else fit
    leak, slope, low, high, p, floor_last, spread = fit
    seconds = None
    if leak:
        # The floor now, as a band: the cycles' own scatter around the line (z * robust sigma),
        # and below, one typical sample-to-sample rise (the first sample after a collection is
        # up to one interval late, so a measured floor sits above the true one).
        floor_now = floor_last + slope * float(times[-1] - ft[-1]) / 60.0
        steps = np.diff(values[first:])
        rise = float(np.median(steps[steps > 0])) if (steps > 0).any() else 0.0
        z = NormalDist().inv_cdf(1 - alpha)
        top = max(critical_mb - (floor_now - z * spread - rise), 0.0)
        bottom = max(critical_mb - (floor_now + z * spread), 0.0)
        seconds = (60.0 * bottom / high, 60.0 * top / low)  # low > 0 here
    return LeakVerdict(
        LEAK if leak else NO_LEAK,
        slope,
        seconds,
        span,
        min_span_s,
        cycles,
        period,
        slope_ci_mb_per_minute=(low, high),
        p_value=p,
    )


def _judge(ft: np.ndarray, fv: np.ndarray, alpha: float, min_rate: float):
    """(leak?, slope, low, high, p, floor at the last point, robust sigma of the residuals)."""
    minutes = (ft - ft[-1]) / 60.0  # 0 at the latest floor point
    slope, low, high, p = _theil_sen_mann_kendall(minutes, fv, alpha)
    leak = p < alpha and low >= min_rate and _grows_in_every_part(minutes, fv, slope)
    residual = fv - slope * minutes
    level = float(np.median(residual))
    spread = 1.4826 * float(np.median(np.abs(residual - level)))
    return leak, slope, low, high, p, level, spread


def sawtooth_period(times: np.ndarray, values: np.ndarray) -> float | None:
    """Median spacing of the large drops in the recent stretch; None without >= 3 such drops.

    A drop is a fall of more than ``DROP_NOISE_FACTOR`` robust sigmas of the sample-to-sample
    steps (consecutive falling samples are one drop); the large ones are at least half the 90th
    percentile drop, so minor collections between major ones do not halve the period. The
    median spacing is robust to jitter and to a missed or doubled drop.
    """
    keep = np.isfinite(values)
    if not keep.all():
        times, values = times[keep], values[keep]
    if times.size < 5:
        return None
    first = int(np.searchsorted(times, times[-1] - PERIOD_LOOKBACK_S, side="left"))
    t, v = times[first:], values[first:]
    if t.size > MAX_SAMPLES_FOR_PERIOD:
        t, v = _bucket_min(t, v, (t[-1] - t[0]) / MAX_SAMPLES_FOR_PERIOD)
    starts = _drop_starts(v)
    if starts.size < 3:
        return None
    spacing = np.diff(t[starts])
    return float(np.median(spacing)) if spacing.size else None


def floor_points(
    times: np.ndarray, values: np.ndarray, period: float | None
) -> tuple[np.ndarray, np.ndarray]:
    """The minimum (time, MB) of each cycle: from one large drop to the next, plus the last one.

    Samples before the first drop are left out (their minimum may be half-way up a ramp).
    Without a sawtooth, fixed ``NO_SAWTOOTH_WINDOW_S`` windows. At most ``MAX_FLOOR_POINTS``:
    more cycles are merged in equal groups.
    """
    if times.size < 2:
        return times[:0], values[:0]
    if period is None:
        edges = np.arange(times[0], times[-1] + NO_SAWTOOTH_WINDOW_S, NO_SAWTOOTH_WINDOW_S)
        starts = np.unique(np.searchsorted(times, edges, side="left"))
        starts = starts[starts < times.size]
    else:
        starts = _drop_starts(values) + 1  # the first sample after each drop began
        starts = starts[starts < times.size]
    if starts.size == 0:
        return times[:0], values[:0]
    if starts.size > MAX_FLOOR_POINTS:
        group = math.ceil(starts.size / MAX_FLOOR_POINTS)
        starts = starts[::group]
    ends = np.append(starts[1:], times.size)
    where = np.array([s + int(np.argmin(values[s:e])) for s, e in zip(starts, ends, strict=True)])
    return times[where], values[where]


def _drop_starts(values: np.ndarray) -> np.ndarray:
    """Indices i where a large drop begins (values[i] -> values[i + 1] falls)."""
    steps = np.diff(values)
    if steps.size < 4:
        return np.zeros(0, dtype=np.intp)
    centre = np.median(steps)
    sigma = 1.4826 * float(np.median(np.abs(steps - centre)))
    falling = steps < centre - max(DROP_NOISE_FACTOR * sigma, 1e-9)
    if not falling.any():
        return np.zeros(0, dtype=np.intp)
    # Runs of falling steps are one drop: its start and its total size.
    index = np.flatnonzero(falling)
    new_run = np.concatenate(([True], np.diff(index) > 1))
    run_start = index[new_run]
    sizes = -np.add.reduceat(steps[index], np.flatnonzero(new_run))
    large = sizes >= 0.5 * float(np.quantile(sizes, 0.9))
    return run_start[large]


def _bucket_min(times: np.ndarray, values: np.ndarray, width: float):
    """Minimum per bucket of ``width`` seconds (keeps drops and floors, drops the peaks' detail)."""
    bucket = ((times - times[0]) // width).astype(np.intp)
    starts = np.flatnonzero(np.concatenate(([True], np.diff(bucket) > 0)))
    return times[starts], np.minimum.reduceat(values, starts)


def _theil_sen_mann_kendall(x: np.ndarray, y: np.ndarray, alpha: float):
    """Theil–Sen slope, Sen's two-sided 1 - 2*alpha interval, one-sided Mann–Kendall p.

    Var(S) has the ties term; for n >= ``EXACT_MK_BELOW`` it is inflated by (1 + r1) / (1 - r1)
    when the detrended floor has positive lag-1 autocorrelation r1 (Yue & Wang's effective
    sample size, lag 1), so a floor that wanders slowly is not taken for a trend. Below that,
    S's exact null distribution gives p (the normal approximation is too liberal there).
    """
    n = x.size
    i, j = np.triu_indices(n, k=1)
    dx = x[j] - x[i]
    dy = y[j] - y[i]
    ok = dx > 0
    slopes = np.sort(dy[ok] / dx[ok])
    slope = float(np.median(slopes))
    s = int(np.sign(dy).sum())
    _, counts = np.unique(y, return_counts=True)
    var = n * (n - 1) * (2 * n + 5) - float(np.sum(counts * (counts - 1) * (2 * counts + 5)))
    var /= 18.0
    if n >= EXACT_MK_BELOW:
        residual = y - slope * x
        residual = residual - residual.mean()
        denom = float(np.dot(residual, residual))
        r1 = float(np.dot(residual[:-1], residual[1:]) / denom) if denom > 0 else 0.0
        r1 = min(max(r1, 0.0), 0.9)
        var *= (1 + r1) / (1 - r1)
        z = (s - 1) / math.sqrt(var) if s > 0 else 0.0  # continuity correction
        p = 0.5 * math.erfc(z / math.sqrt(2))
    else:
        p = _exact_mk_p(n, s)
    c = NormalDist().inv_cdf(1 - alpha) * math.sqrt(var)
    m = slopes.size
    lo = math.floor((m - c) / 2)  # 1-based rank of the lower bound, Sen (1968)
    hi = math.ceil((m + c) / 2) + 1
    low = float(slopes[min(max(lo, 1), m) - 1])
    high = float(slopes[min(max(hi, 1), m) - 1])
    return slope, low, high, p


def _exact_mk_p(n: int, s: int) -> float:
    """P(S >= s) under no trend, without ties: S = pairs - 2 * inversions of a random order."""
    counts = np.zeros(1, dtype=np.float64)
    counts[0] = 1.0
    for k in range(1, n + 1):  # Mahonian numbers: inversions of permutations of k items
        grown = np.zeros(counts.size + k - 1)
        for shift in range(k):
            grown[shift : shift + counts.size] += counts
        counts = grown
    pairs = n * (n - 1) // 2
    inversions_max = (pairs - s) // 2  # S >= s  <=>  inversions <= (pairs - s) / 2
    if inversions_max < 0:
        return 0.0
    return float(counts[: inversions_max + 1].sum() / counts.sum())


def _grows_in_every_part(x: np.ndarray, y: np.ndarray, slope: float) -> bool:
    """Each time part's own Theil–Sen slope is at least half the whole's: a step is not a leak.

    A model loaded once lifts the floor in one part only; the parts either side are flat.
    """
    parts = PARTS if x.size >= 3 * PARTS else 2
    edges = np.linspace(x[0], x[-1], parts + 1)
    part_of = np.minimum(np.searchsorted(edges, x, side="right") - 1, parts - 1)
    for k in range(parts):
        px, py = x[part_of == k], y[part_of == k]
        if px.size < 2:
            continue  # too few points to judge this part; the whole's test still holds
        i, j = np.triu_indices(px.size, k=1)
        dx = px[j] - px[i]
        if not (dx > 0).any():
            continue
        part_slope = float(np.median((py[j] - py[i])[dx > 0] / dx[dx > 0]))
        if part_slope < 0.5 * slope:
            return False
    return True


def _duration_range(low_s: float, high_s: float) -> str:
    """'in 25–40 min', 'in 2–3 h', 'now' for seconds to critical."""
    if high_s < 60:
        return "now" if high_s <= 0 else "in < 1 min"
    if low_s >= 2 * 3600:
        return f"in {math.floor(low_s / 3600):.0f}–{math.ceil(high_s / 3600):.0f} h"
    lo, hi = math.floor(low_s / 60), math.ceil(high_s / 60)
    return f"in {lo}–{hi} min" if hi > lo else f"in {lo} min"


def _rounded(value: float | None) -> float | None:
    return None if value is None else round(value, 3)
