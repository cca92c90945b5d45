"""What a recorder keeps, and the small helpers every part of the baseline uses to write it.

:class:`Recording` collects metrics, log lines, SNMP varbinds and SSH outputs; the helpers
turn level/rate profiles into histograms and sampled log times. No scenario knowledge.
"""

from __future__ import annotations

import hashlib
import math
import random
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

from tools.scenario import writer as w
from tools.scenario.generate.scene import Scene, inside

INFO_PER_MIN = 4
"""Sampled info lines per log stream and minute (query logs, access logs)."""
ERRORS_PER_MIN = 8
"""Most warning/error lines kept per log stream and minute."""
ETCD_BUCKETS = tuple(0.001 * 2**k for k in range(14))
API_BUCKETS = (0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 60.0)
API_MEDIAN = {"GET": 0.004, "LIST": 0.03, "PUT": 0.008, "PATCH": 0.009, "WATCH": 0.004}
NGINX_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)
KSM_PORT = 8080


@dataclass
class Recording:
    """What a scenario directory holds, before writing."""

    om: w.OpenMetricsWriter = field(default_factory=w.OpenMetricsWriter)
    logs: list[dict[str, Any]] = field(default_factory=list)
    snmp: list[dict[str, Any]] = field(default_factory=list)
    ssh: list[dict[str, Any]] = field(default_factory=list)


# --------------------------------------------------------------------------- helpers


def reachable(scene: Scene, node: str, times: Sequence[float]) -> list[float]:
    """The scrape times at which Prometheus could reach a target on ``node``."""
    down = scene.nodes[node].unreachable
    return [t for t in times if not inside(down, t)]


def product(a: w.Profile, b: w.Profile) -> w.Profile:
    """``a × b`` (``b`` taken as at least 0)."""
    return lambda t: a(t) * max(0.0, b(t))


def total_of(parts: Sequence[w.Profile], base: float = 0.0) -> w.Profile:
    """``base`` plus the sum of ``parts``."""
    return lambda t: base + sum(p(t) for p in parts)


def rest(*taken: w.Profile, top: float = 1.0) -> w.Profile:
    """What is left of ``top`` after the ``taken`` shares (never below 0)."""
    return lambda t: max(0.0, top - sum(p(t) for p in taken))


def _lognormal(median: float, sigma: float) -> Callable[[float], float]:
    return w.lognormal_cdf(max(median, 1e-6), sigma)


def histogram(
    scene: Scene,
    rec: Recording,
    name: str,
    help_: str,
    labels: dict[str, str],
    times: Sequence[float],
    rate: w.Profile,
    bounds: Sequence[float],
    median: w.Profile,
    sigma: float,
    history: float,
    extra_tail: w.Profile | None = None,
) -> None:
    """A histogram of events at ``rate``/s with log-normal sizes around ``median`` (plus a
    share ``extra_tail`` of events beyond the last bound), on top of ``history`` events."""
    tail = extra_tail or (lambda _t: 0.0)

    def cdf(t: float, le: float) -> float:
        return _lognormal(median(t), sigma)(le) * (1 - tail(t))

    def mean(t: float) -> float:
        return median(t) * math.exp(sigma**2 / 2) * (1 - tail(t)) + tail(t) * bounds[-1] * 1.2

    pts = w.histogram_series(
        scene.rng("hist", name, *labels.values()), times, rate, bounds, cdf, mean, jitter=0.08
    )
    base = [math.floor(history * cdf(scene.start, b)) for b in bounds]
    out = [
        w.HistogramPoint(
            p.ts,
            tuple(float(x + y) for x, y in zip(p.buckets, base, strict=True)),
            float(p.count + history),
            round(p.sum + history * mean(scene.start), 4),
        )
        for p in pts
    ]
    rec.om.histogram(name, help_, labels, bounds, out)


def sample_times(
    rng: random.Random, scene: Scene, per_min: Callable[[float], float], cap: int
) -> list[float]:
    """Times of the lines a recorder keeps from a stream emitting ``per_min(t)`` lines a
    minute: all of them up to ``cap`` a minute, a uniform sample beyond."""
    out: list[float] = []
    t = scene.start
    while t < scene.end:
        expected = max(0.0, per_min(t + 30))
        n = min(cap, poisson(rng, expected))
        out.extend(sorted(t + rng.random() * 60 for _ in range(n)))
        t += 60
    return [x for x in out if x <= scene.end]


def poisson(rng: random.Random, lam: float) -> int:
    if lam <= 0:
        return 0
    if lam > 30:
        return max(0, round(rng.gauss(lam, math.sqrt(lam))))
    k, p, limit = 0, 1.0, math.exp(-lam)
    while True:
        p *= rng.random()
        if p <= limit:
            return k
        k += 1


def hexid(rng: random.Random, n: int = 32) -> str:
    return "".join(rng.choice("0123456789abcdef") for _ in range(n))


def stable_small(*parts: object) -> int:
    """A small stable number (2-40) for ``parts`` (a deployment's generation so far, ...)."""
    return 2 + int(hashlib.sha256("/".join(map(str, parts)).encode()).hexdigest()[:6], 16) % 39
