"""Small, pure numeric helpers the specialists share to judge a time series.

No I/O here and nothing scenario-specific: each function looks at numbers only.
"""

from __future__ import annotations

import math
import statistics
from collections.abc import Iterable, Sequence
from datetime import UTC, datetime

from tools.metrics.base import Series

Point = tuple[datetime, float]


def split_baseline(
    points: Sequence[Point], fraction: float = 1 / 3
) -> tuple[list[Point], list[Point]]:
    """Split a series into its early ``fraction`` (the baseline) and the rest."""
    cut = max(1, int(len(points) * fraction))
    return list(points[:cut]), list(points[cut:])


def median(values: Sequence[float], default: float = 0.0) -> float:
    """Median, or ``default`` for no values."""
    return statistics.median(values) if values else default


def surge_ratio(points: Sequence[Point], fraction: float = 1 / 3, floor: float = 1e-9) -> float:
    """Peak of the recent part over the median of the baseline part (1.0 = no change)."""
    base, recent = split_baseline(points, fraction)
    if not recent:
        return 1.0
    b = max(median([v for _, v in base]), floor)
    return max(v for _, v in recent) / b


def first_crossing(
    points: Sequence[Point], threshold: float, *, above: bool = True
) -> datetime | None:
    """When the series first goes above (or below) ``threshold`` and stays there for 2 points."""
    run = 0
    start: datetime | None = None
    for ts, v in points:
        hit = v > threshold if above else v < threshold
        if hit:
            if run == 0:
                start = ts
            run += 1
            if run >= 2:
                return start
        else:
            run = 0
    if run == 1 and points and points[-1][0] == start:
        return start
    return None


def slope_per_s(points: Sequence[Point]) -> tuple[float, float]:
    """Least-squares slope (units per second) and R² of a series; (0, 0) if too short."""
    if len(points) < 3:
        return 0.0, 0.0
    t0 = points[0][0]
    xs = [(ts - t0).total_seconds() for ts, _ in points]
    ys = [v for _, v in points]
    mx, my = statistics.fmean(xs), statistics.fmean(ys)
    sxx = sum((x - mx) ** 2 for x in xs)
    if sxx == 0:
        return 0.0, 0.0
    sxy = sum((x - mx) * (y - my) for x, y in zip(xs, ys, strict=True))
    slope = sxy / sxx
    ss_tot = sum((y - my) ** 2 for y in ys)
    ss_res = sum((y - (my + slope * (x - mx))) ** 2 for x, y in zip(xs, ys, strict=True))
    r2 = 1.0 - ss_res / ss_tot if ss_tot > 0 else 0.0
    return slope, r2


def clamp01(x: float) -> float:
    """Clamp to [0, 1]."""
    return 0.0 if x < 0 else 1.0 if x > 1 else x


def strength_from_ratio(ratio: float, low: float, high: float) -> float:
    """Map ``ratio`` linearly to a strength: ``low`` → 0.3, ``high`` → 0.95 (clamped)."""
    if ratio <= low:
        return 0.0
    if high <= low:
        return 0.95
    return clamp01(0.3 + 0.65 * (ratio - low) / (high - low)) if ratio < high else 0.95


def longest_run(
    points: Sequence[Point], threshold: float, *, above: bool = True
) -> tuple[datetime | None, float]:
    """Start and length (seconds) of the longest stretch at/above (or at/below) ``threshold``.

    A stretch spans from its first to its last qualifying point, so a single point lasts 0 s.
    NaN values break a stretch. Returns ``(None, 0.0)`` when no point qualifies.
    """
    best: tuple[datetime | None, float] = (None, 0.0)
    start: datetime | None = None
    for ts, v in points:
        hit = v >= threshold if above else v <= threshold  # NaN compares False
        if hit:
            start = start or ts
            length = (ts - start).total_seconds()
            if best[0] is None or length > best[1]:
                best = (start, length)
        else:
            start = None
    return best


def rise_start(points: Sequence[Point], crossing: datetime, level: float) -> datetime:
    """When the rise that crossed a threshold at ``crossing`` began.

    Walks back from ``crossing`` to the last point at or below ``level`` (e.g. a little
    above the baseline) and returns the point after it: onsets then date when a series
    left normal, not when it became alarming, so causes are not dated after effects.
    """
    start = crossing
    for ts, v in reversed([p for p in points if p[0] <= crossing]):
        if v <= level:
            break
        start = ts
    return start


def hhmm(ts: datetime | None) -> str:
    """``03:01`` (UTC), or ``?``."""
    return ts.astimezone(UTC).strftime("%H:%M") if ts else "?"


def finite(points: Iterable[Point]) -> list[Point]:
    """Points without NaN / infinite values."""
    return [(t, v) for t, v in points if math.isfinite(v)]


def single_series(series: Sequence[Series]) -> list[Point]:
    """The first series' finite points (for queries that aggregate to one series)."""
    return finite(series[0].points) if series else []


def strength_at(value: float, threshold: float, high: float) -> float:
    """0 below ``threshold``; 0.3 at it, rising to 0.95 at ``high``."""
    if value < threshold:
        return 0.0
    return max(0.3, strength_from_ratio(value, threshold, high))


def noisy_or(weighted: Iterable[tuple[float, float]], cap: float) -> float:
    """Noisy-OR of (strength, weight) pairs: more independent signals give a higher score."""
    miss = 1.0
    for strength, weight in weighted:
        miss *= 1.0 - clamp01(strength * weight)
    return min(cap, 1.0 - miss)


def corroborated(
    strengths: Iterable[float], *, bonus: float, cap: float, extra: float = 0.0
) -> float:
    """The strongest strength plus ``bonus`` per further one and ``extra``, capped."""
    ordered = sorted(strengths, reverse=True)
    if not ordered:
        return 0.0
    return min(cap, ordered[0] + bonus * (len(ordered) - 1) + extra)
