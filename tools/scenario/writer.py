"""Write scenario format v1 files, deterministically: same inputs (and seed), same bytes.

A small, generic toolkit for building recorded incidents by hand or by a generator:

* time helpers: RFC 3339 rendering (``Z``, milliseconds when present), scrape/poll grids;
* seeded synthesis: :func:`derive_rng` (one ``random.Random`` per series, so adding a
  series never shifts another), rate/level profiles (:func:`step`, :func:`ramp`,
  :func:`piecewise`, ...), gauges with noise, integer counters integrated from a rate
  profile (monotonic, optional resets), Counter32/Counter64 wrapping;
* :class:`OpenMetricsWriter`: metric families with ``# HELP``/``# TYPE``, each family's
  samples contiguous, every series' samples in ascending time, escaped label values and a
  final ``# EOF`` — what ``promtool tsdb create-blocks-from openmetrics`` accepts;
* JSON-lines writers for ``logs.jsonl``, ``snmp.jsonl`` and ``ssh.jsonl`` (sorted by time);
* the Alertmanager webhook body (version 4) with Alertmanager's own label fingerprint,
  encoded as Go's ``encoding/json`` does;
* ``scenario.yaml`` via PyYAML.

Nothing here knows about any particular incident. Only the standard library and PyYAML
are used, so the module can be vendored by tools that do not install Strata.
"""

from __future__ import annotations

import itertools
import json
import math
import random
import re
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Literal
from urllib.parse import quote_plus

import yaml

Labels = Mapping[str, str]
"""A label set: label name to value."""

Point = tuple[float, float]
"""One sample: (unix seconds, value)."""

Profile = Callable[[float], float]
"""A level or rate as a function of unix seconds."""

TimeLike = datetime | float | int | str
"""Anything :func:`to_unix` understands."""

MetricType = Literal["gauge", "counter", "histogram", "unknown"]

COUNTER32 = 2**32
COUNTER64 = 2**64
GO_ZERO_TIME = "0001-01-01T00:00:00Z"
"""What Alertmanager writes as ``endsAt`` of a firing alert (Go's zero time)."""

_METRIC_NAME = re.compile(r"^[a-zA-Z_:][a-zA-Z0-9_:]*$")
_LABEL_NAME = re.compile(r"^[a-zA-Z_][a-zA-Z0-9_]*$")


# --------------------------------------------------------------------------- time


def to_unix(ts: TimeLike) -> float:
    """Unix seconds of a datetime (naive = UTC), a number, or RFC 3339 text (``Z``/offset).

    Raises:
        ValueError: text that is not RFC 3339 with a zone, or a boolean.
    """
    if isinstance(ts, bool):
        raise ValueError(f"expected a timestamp, got {ts!r}")
    if isinstance(ts, int | float):
        return float(ts)
    if isinstance(ts, datetime):
        return (ts if ts.tzinfo else ts.replace(tzinfo=UTC)).timestamp()
    text = ts.strip()
    if text.endswith(("Z", "z")):
        text = text[:-1] + "+00:00"
    parsed = datetime.fromisoformat(text)
    if parsed.tzinfo is None:
        raise ValueError(f"timestamp has no time zone: {ts!r}")
    return parsed.timestamp()


def _ms(ts: TimeLike) -> int:
    """Whole milliseconds since the epoch (the precision every writer here uses)."""
    return round(to_unix(ts) * 1000)


def rfc3339(ts: TimeLike, *, digits: int | None = None) -> str:
    """RFC 3339 in UTC with ``Z``.

    ``digits`` fixes the fractional digits (0-9; beyond milliseconds they are zeros);
    by default milliseconds are shown only when non-zero.
    """
    ms = _ms(ts)
    whole, frac = divmod(ms, 1000)
    base = datetime.fromtimestamp(whole, tz=UTC).strftime("%Y-%m-%dT%H:%M:%S")
    if digits is None:
        return f"{base}.{frac:03d}Z" if frac else f"{base}Z"
    if not 0 <= digits <= 9:
        raise ValueError(f"digits must be 0..9, got {digits}")
    if digits == 0:
        return f"{base}Z"
    return f"{base}.{f'{frac:03d}{0:06d}'[:digits]}Z"


def om_timestamp(ts: TimeLike) -> str:
    """An OpenMetrics timestamp: seconds, with milliseconds only when non-zero."""
    ms = _ms(ts)
    whole, frac = divmod(ms, 1000)
    return f"{whole}.{frac:03d}" if frac else str(whole)


def scrape_times(
    start: TimeLike, end: TimeLike, interval_s: float, *, offset_s: float = 0.0
) -> list[float]:
    """Scrape/poll times ``start + offset + k*interval`` within ``[start, end]``, to the ms.

    A target's offset stays fixed, as a Prometheus scrape offset does.
    """
    if interval_s <= 0:
        raise ValueError(f"interval must be positive, got {interval_s}")
    first, last, step = _ms(start) + round(offset_s * 1000), _ms(end), round(interval_s * 1000)
    return [t / 1000 for t in range(first, last + 1, step)]


# --------------------------------------------------------------------------- randomness


def derive_rng(seed: int | str, *parts: object) -> random.Random:
    """A ``random.Random`` for one series, derived from a base seed and a key.

    String seeding is stable across runs and platforms (it does not depend on
    ``PYTHONHASHSEED``), and each key gets its own stream.
    """
    return random.Random("/".join([str(seed), *(str(p) for p in parts)]))


# --------------------------------------------------------------------------- profiles


def constant(value: float) -> Profile:
    """The same value at every time."""
    return lambda _t: value


def step(onset: TimeLike, before: float, after: float) -> Profile:
    """``before`` until ``onset``, ``after`` from then on."""
    at = to_unix(onset)
    return lambda t: before if t < at else after


def ramp(onset: TimeLike, duration_s: float, start: float, end: float) -> Profile:
    """``start`` until ``onset``, linear to ``end`` over ``duration_s``, then ``end``."""
    at = to_unix(onset)
    return piecewise([(at, start), (at + max(duration_s, 0.0), end)])


def piecewise(knots: Sequence[tuple[TimeLike, float]]) -> Profile:
    """Linear interpolation between ``(time, value)`` knots; flat outside them.

    Two knots at the same time make a jump there (the later knot wins from that time).
    """
    if not knots:
        raise ValueError("piecewise needs at least one knot")
    pts = [(to_unix(t), float(v)) for t, v in knots]
    for (t0, _), (t1, _) in itertools.pairwise(pts):
        if t1 < t0:
            raise ValueError("piecewise knots must be in time order")

    def profile(t: float) -> float:
        if t < pts[0][0]:
            return pts[0][1]
        for (t0, v0), (t1, v1) in itertools.pairwise(pts):
            if t0 <= t < t1:
                return v0 + (v1 - v0) * (t - t0) / (t1 - t0)
        return pts[-1][1]

    return profile


def add(*profiles: Profile) -> Profile:
    """The sum of several profiles."""
    return lambda t: sum(p(t) for p in profiles)


def scale(profile: Profile, factor: float | Profile) -> Profile:
    """``profile`` multiplied by a constant or by another profile."""
    if callable(factor):
        f = factor
        return lambda t: profile(t) * f(t)
    k = float(factor)
    return lambda t: profile(t) * k


def clamp(profile: Profile, lo: float | None = None, hi: float | None = None) -> Profile:
    """``profile`` kept within ``[lo, hi]`` (either bound optional)."""

    def clamped(t: float) -> float:
        v = profile(t)
        if lo is not None and v < lo:
            v = lo
        if hi is not None and v > hi:
            v = hi
        return v

    return clamped


def _as_profile(value: float | Profile) -> Profile:
    return value if callable(value) else constant(float(value))


def round_sig(value: float, sig: int = 6) -> float:
    """``value`` rounded to ``sig`` significant digits (keeps files short and stable)."""
    if value == 0 or not math.isfinite(value):
        return value
    return float(f"{value:.{sig}g}")


# --------------------------------------------------------------------------- series


def gauge_series(
    rng: random.Random,
    times: Sequence[float],
    level: float | Profile,
    *,
    noise: float = 0.0,
    rel_noise: float = 0.0,
    lo: float | None = None,
    hi: float | None = None,
    integer: bool = False,
    sig: int = 6,
) -> list[Point]:
    """A gauge following ``level`` plus Gaussian noise (absolute ``noise`` and/or
    ``rel_noise`` × level), clipped to ``[lo, hi]``, rounded to ``sig`` digits or to ints."""
    prof = _as_profile(level)
    out: list[Point] = []
    for t in times:
        base = prof(t)
        v = base + rng.gauss(0.0, noise) + rng.gauss(0.0, abs(base) * rel_noise)
        if lo is not None:
            v = max(lo, v)
        if hi is not None:
            v = min(hi, v)
        out.append((t, float(round(v)) if integer else round_sig(v, sig)))
    return out


def counter_series(
    rng: random.Random,
    times: Sequence[float],
    rate: float | Profile,
    *,
    start: float = 0.0,
    jitter: float = 0.0,
    integer: bool = True,
    resets: Iterable[TimeLike] = (),
    sig: int = 12,
) -> list[Point]:
    """A counter whose increase between samples is the integral of ``rate`` (per second,
    trapezoid rule) times ``1 + N(0, jitter)``, never negative.

    Integer counters carry the fractional remainder forward, so the long-run rate is kept
    exactly. At each time in ``resets`` the counter restarts from zero (a process restart):
    the first sample at or after it holds only the increase since the reset.
    """
    prof = _as_profile(rate)
    pending = sorted(to_unix(r) for r in resets)
    out: list[Point] = []
    value, carry = float(start), 0.0
    prev: float | None = None
    for t in times:
        if prev is not None:
            inc = (prof(prev) + prof(t)) / 2 * (t - prev)
            inc = max(0.0, inc * (1.0 + rng.gauss(0.0, jitter))) if jitter else max(0.0, inc)
            if pending and pending[0] <= t:
                reset_at = prev
                while pending and pending[0] <= t:
                    reset_at = max(pending.pop(0), prev)
                value, carry = 0.0, 0.0
                inc = max(0.0, prof(t)) * (t - reset_at)
            if integer:
                carry += inc
                whole = math.floor(carry)
                carry -= whole
                value += whole
            else:
                value += inc
        out.append((t, float(value) if integer else round_sig(value, sig)))
        prev = t
    return out


def wrap(value: float, bits: int = 32) -> int:
    """A counter value as an SNMP CounterN shows it (modulo 2**bits)."""
    modulus: int = 2**bits
    return int(value) % modulus


def wrapped(points: Sequence[Point], bits: int = 32) -> list[Point]:
    """Each point's value wrapped as a CounterN (e.g. Counter32 ``ifInOctets``)."""
    return [(t, float(wrap(v, bits))) for t, v in points]


def counter_delta(old: int, new: int, bits: int = 32) -> int:
    """Increase between two CounterN readings, allowing one wrap (RFC 2578)."""
    return new - old if new >= old else new + 2**bits - old


# --------------------------------------------------------------------------- OpenMetrics


def escape_label_value(value: str) -> str:
    """Escape a label value (or HELP text) for OpenMetrics: backslash, quote, newline."""
    return value.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n")


def format_value(value: float) -> str:
    """A sample value as OpenMetrics text: ints without a point, NaN/±Inf spelled out."""
    if isinstance(value, int) and not isinstance(value, bool):
        return str(value)
    v = float(value)
    if math.isnan(v):
        return "NaN"
    if math.isinf(v):
        return "+Inf" if v > 0 else "-Inf"
    if v.is_integer() and abs(v) < 1e15:
        return str(int(v))
    return repr(v)


def format_le(bound: float) -> str:
    """A histogram bucket bound as Prometheus client libraries write ``le``."""
    if math.isinf(bound):
        return "+Inf"
    return format_value(bound)


def _check_labels(labels: Labels) -> tuple[tuple[str, str], ...]:
    for name, value in labels.items():
        if not _LABEL_NAME.match(name) or name.startswith("__"):
            raise ValueError(f"invalid label name {name!r}")
        if not isinstance(value, str):
            raise ValueError(f"label {name!r} must be a string, got {value!r}")
    return tuple(sorted(labels.items()))


def _render_labels(labels: Iterable[tuple[str, str]]) -> str:
    body = ",".join(f'{k}="{escape_label_value(v)}"' for k, v in labels)
    return "{" + body + "}" if body else ""


@dataclass(frozen=True)
class HistogramPoint:
    """One histogram observation set: cumulative bucket counts (one per finite bound,
    ascending), total count (the ``+Inf`` bucket) and sum, at time ``ts``."""

    ts: float
    buckets: tuple[float, ...]
    count: float
    sum: float


@dataclass
class _Family:
    name: str
    type: MetricType
    help: str
    unit: str | None
    series: dict[tuple[tuple[str, str], ...], list[Point]] = field(default_factory=dict)
    histograms: dict[
        tuple[tuple[str, str], ...], tuple[tuple[float, ...], list[HistogramPoint]]
    ] = field(default_factory=dict)


class OpenMetricsWriter:
    """Collects metric families and renders OpenMetrics text with timestamps.

    Families may be added to in any order and from anywhere; rendering sorts families by
    name and series by label set, so the output depends only on the data. Each series'
    samples must be in strictly ascending time (checked), because promtool silently drops
    out-of-order samples.
    """

    def __init__(self) -> None:
        self._families: dict[str, _Family] = {}

    def _family(self, name: str, type_: MetricType, help_: str, unit: str | None) -> _Family:
        if not _METRIC_NAME.match(name):
            raise ValueError(f"invalid metric family name {name!r}")
        fam = self._families.get(name)
        if fam is None:
            fam = self._families[name] = _Family(name, type_, help_, unit)
        elif fam.type != type_ or fam.help != help_ or fam.unit != unit:
            raise ValueError(f"family {name!r} re-declared with a different type, help or unit")
        return fam

    @staticmethod
    def _checked_points(name: str, points: Sequence[Point]) -> list[Point]:
        out: list[Point] = []
        last: int | None = None
        for t, v in points:
            ms = _ms(t)
            if last is not None and ms <= last:
                raise ValueError(f"{name}: timestamps must strictly increase (at {rfc3339(t)})")
            last = ms
            out.append((ms / 1000, v))
        return out

    def _add(self, fam: _Family, labels: Labels, points: Sequence[Point]) -> None:
        key = _check_labels(labels)
        if key in fam.series:
            raise ValueError(f"{fam.name}: duplicate series {_render_labels(key)}")
        fam.series[key] = self._checked_points(fam.name, points)

    def gauge(
        self,
        name: str,
        help_: str,
        labels: Labels,
        points: Sequence[Point],
        *,
        unit: str | None = None,
    ) -> None:
        """Add one gauge series (family ``name``)."""
        self._add(self._family(name, "gauge", help_, unit), labels, points)

    def unknown(self, name: str, help_: str, labels: Labels, points: Sequence[Point]) -> None:
        """Add one untyped series (e.g. a recording rule's output)."""
        self._add(self._family(name, "unknown", help_, None), labels, points)

    def counter(
        self,
        name: str,
        help_: str,
        labels: Labels,
        points: Sequence[Point],
        *,
        allow_resets: bool = False,
    ) -> None:
        """Add one counter series. ``name`` is the sample name and must end in ``_total``
        (the family is the name without it, as OpenMetrics requires).

        Values must be non-negative and never decrease, unless ``allow_resets`` (a process
        restart drops a counter back towards zero).
        """
        if not name.endswith("_total"):
            raise ValueError(f"counter {name!r} must end in _total (else use unknown)")
        prev: float | None = None
        for t, v in points:
            if v < 0 or math.isnan(v):
                raise ValueError(f"{name}: counter value {v} at {rfc3339(t)} is negative/NaN")
            if prev is not None and v < prev and not allow_resets:
                raise ValueError(f"{name}: counter decreased at {rfc3339(t)}")
            prev = v
        fam = self._family(name[: -len("_total")], "counter", help_, None)
        self._add(fam, labels, points)

    def histogram(
        self,
        name: str,
        help_: str,
        labels: Labels,
        bounds: Sequence[float],
        points: Sequence[HistogramPoint],
        *,
        unit: str | None = None,
    ) -> None:
        """Add one histogram (family ``name``; samples ``_bucket``/``_count``/``_sum``).

        ``bounds`` are the finite bucket bounds, ascending; ``+Inf`` is implied.
        """
        fam = self._family(name, "histogram", help_, unit)
        if "le" in labels:
            raise ValueError(f"{name}: 'le' is added by the writer")
        key = _check_labels(labels)
        if key in fam.histograms:
            raise ValueError(f"{name}: duplicate histogram {_render_labels(key)}")
        bnds = tuple(float(b) for b in bounds)
        if any(b1 <= b0 for b0, b1 in itertools.pairwise(bnds)):
            raise ValueError(f"{name}: bounds must strictly increase")
        last: int | None = None
        checked: list[HistogramPoint] = []
        for p in points:
            ms = _ms(p.ts)
            if last is not None and ms <= last:
                raise ValueError(f"{name}: timestamps must strictly increase")
            last = ms
            if len(p.buckets) != len(bnds):
                raise ValueError(f"{name}: {len(p.buckets)} bucket counts for {len(bnds)} bounds")
            cum = [*p.buckets, p.count]
            if any(b1 < b0 for b0, b1 in itertools.pairwise(cum)):
                raise ValueError(f"{name}: bucket counts must be cumulative (non-decreasing)")
            checked.append(HistogramPoint(ms / 1000, tuple(p.buckets), p.count, p.sum))
        fam.histograms[key] = (bnds, checked)

    def families(self) -> list[str]:
        """Names of the families added so far, sorted."""
        return sorted(self._families)

    def series(self, name: str) -> list[tuple[dict[str, str], list[Point]]]:
        """The gauge/counter/unknown series added under a family or sample name
        (``foo_total`` finds counter family ``foo``), as (labels, points); empty if none.

        Lets a generator keep other recordings (e.g. command output) consistent with the
        metrics it wrote.
        """
        fam = self._families.get(name)
        if fam is None and name.endswith("_total"):
            fam = self._families.get(name[: -len("_total")])
        if fam is None:
            return []
        return [(dict(key), list(points)) for key, points in sorted(fam.series.items())]

    def render(self) -> str:
        """The whole exposition, ending in ``# EOF``."""
        lines: list[str] = []
        for name in sorted(self._families):
            fam = self._families[name]
            if fam.help:  # recording rules and synthetic series such as ``up`` have none
                lines.append(f"# HELP {name} {escape_label_value(fam.help)}")
            lines.append(f"# TYPE {name} {fam.type}")
            if fam.unit:
                lines.append(f"# UNIT {name} {fam.unit}")
            sample = f"{name}_total" if fam.type == "counter" else name
            for key in sorted(fam.series):
                head = sample + _render_labels(key)
                for t, v in fam.series[key]:
                    lines.append(f"{head} {format_value(v)} {om_timestamp(t)}")
            for key in sorted(fam.histograms):
                bnds, hpoints = fam.histograms[key]
                bucket_heads = [
                    f"{name}_bucket" + _render_labels(sorted([*key, ("le", format_le(b))]))
                    for b in [*bnds, math.inf]
                ]
                count_head = f"{name}_count" + _render_labels(key)
                sum_head = f"{name}_sum" + _render_labels(key)
                for hp in hpoints:
                    ts = om_timestamp(hp.ts)
                    for head, v in zip(bucket_heads, [*hp.buckets, hp.count], strict=True):
                        lines.append(f"{head} {format_value(v)} {ts}")
                    lines.append(f"{count_head} {format_value(hp.count)} {ts}")
                    lines.append(f"{sum_head} {format_value(hp.sum)} {ts}")
        lines.append("# EOF")
        return "\n".join(lines) + "\n"

    def write(self, path: str | Path) -> None:
        """Write :meth:`render` to ``path`` (UTF-8, ``\\n`` line ends)."""
        Path(path).write_text(self.render(), encoding="utf-8", newline="\n")


def histogram_series(
    rng: random.Random,
    times: Sequence[float],
    rate: float | Profile,
    bounds: Sequence[float],
    cdf: Callable[[float, float], float],
    mean: Callable[[float], float],
    *,
    jitter: float = 0.0,
) -> list[HistogramPoint]:
    """Cumulative histogram counters for events arriving at ``rate`` per second.

    ``cdf(t, bound)`` is the fraction of events at time ``t`` no larger than ``bound``;
    ``mean(t)`` their mean size (for ``_sum``). Counts are integers and never decrease.
    """
    counts = counter_series(rng, times, rate, jitter=jitter)
    out: list[HistogramPoint] = []
    cum = [0.0] * len(bounds)
    total_sum = 0.0
    prev_count = 0.0
    for t, count in counts:
        new = count - prev_count
        prev_count = count
        for i, b in enumerate(bounds):
            cum[i] += math.floor(new * min(1.0, max(0.0, cdf(t, b))) + 0.5)
        for i in range(1, len(cum)):  # rounding must not break cumulativity
            cum[i] = max(cum[i], cum[i - 1])
        top = max(cum) if cum else 0.0
        count = max(count, top)
        total_sum += new * mean(t)
        out.append(HistogramPoint(t, tuple(cum), count, round_sig(total_sum, 10)))
    return out


def lognormal_cdf(median: float, sigma: float) -> Callable[[float], float]:
    """CDF of a log-normal distribution with the given median and log-space sigma."""

    def cdf(x: float) -> float:
        if x <= 0:
            return 0.0
        return 0.5 * (1.0 + math.erf(math.log(x / median) / (sigma * math.sqrt(2.0))))

    return cdf


# --------------------------------------------------------------------------- JSON lines


def log_record(ts: TimeLike, labels: Labels, line: str) -> dict[str, Any]:
    """One ``logs.jsonl`` record."""
    return {"ts": to_unix(ts), "labels": dict(labels), "line": line}


def snmp_varbind(
    ts: TimeLike, device: str, oid: str, type_: str, value: int | str
) -> dict[str, Any]:
    """One ``snmp.jsonl`` record (numeric OID without a leading dot)."""
    if not re.fullmatch(r"\d+(\.\d+)*", oid):
        raise ValueError(f"not a numeric OID: {oid!r}")
    if type_ == "Counter32" and isinstance(value, int) and not 0 <= value < COUNTER32:
        raise ValueError(f"Counter32 {oid} out of range: {value}")
    if type_ == "Counter64" and isinstance(value, int) and not 0 <= value < COUNTER64:
        raise ValueError(f"Counter64 {oid} out of range: {value}")
    return {"ts": to_unix(ts), "device": device, "oid": oid, "type": type_, "value": value}


def ssh_record(
    ts: TimeLike,
    host: str,
    command: str,
    stdout: str,
    *,
    stderr: str = "",
    exit_status: int | None = 0,
) -> dict[str, Any]:
    """One ``ssh.jsonl`` record."""
    return {
        "ts": to_unix(ts),
        "host": host,
        "command": command,
        "exit_status": exit_status,
        "stdout": stdout,
        "stderr": stderr,
    }


def render_jsonl(records: Iterable[Mapping[str, Any]]) -> str:
    """JSON lines sorted by ``ts`` (stable: equal times keep their order), ``ts`` rendered
    as RFC 3339 with ``Z``; keys keep their insertion order; non-ASCII kept as UTF-8."""
    rows = [dict(r) for r in records]
    for row in rows:
        if "ts" not in row:
            raise ValueError(f"record without ts: {row!r}")
    rows.sort(key=lambda r: _ms(r["ts"]))
    out: list[str] = []
    for row in rows:
        row["ts"] = rfc3339(row["ts"])
        out.append(json.dumps(row, ensure_ascii=False, separators=(",", ":")))
    return "".join(line + "\n" for line in out)


def write_jsonl(path: str | Path, records: Iterable[Mapping[str, Any]]) -> None:
    """Write :func:`render_jsonl` to ``path``."""
    Path(path).write_text(render_jsonl(records), encoding="utf-8", newline="\n")


# --------------------------------------------------------------------------- alerts

_FNV64_OFFSET = 14695981039346656037
_FNV64_PRIME = 1099511628211
_SEPARATOR = 0xFF


def fingerprint(labels: Labels) -> str:
    """Alertmanager's alert fingerprint: FNV-1a 64 over sorted ``name 0xff value 0xff``
    (prometheus/common ``LabelSet.Fingerprint``), as 16 hex digits."""
    h = _FNV64_OFFSET
    for name in sorted(labels):
        for chunk in (name.encode(), bytes([_SEPARATOR]), labels[name].encode(), b"\xff"):
            for byte in chunk:
                h ^= byte
                h = (h * _FNV64_PRIME) % COUNTER64
    return f"{h:016x}"


def generator_url(prometheus_url: str, expr: str) -> str:
    """The link Prometheus puts on an alert: ``<url>/graph?g0.expr=<expr>&g0.tab=1``."""
    return f"{prometheus_url.rstrip('/')}/graph?g0.expr={quote_plus(expr)}&g0.tab=1"


def label_set_string(labels: Labels) -> str:
    """A label set as Go's ``model.LabelSet.String()`` writes it: ``{a="b", c="d"}``."""
    return "{" + ", ".join(f"{k}={json.dumps(labels[k])}" for k in sorted(labels)) + "}"


def group_key(route_key: str, group_labels: Labels) -> str:
    """Alertmanager's ``groupKey``: the route's key, ``:``, the group labels."""
    return f"{route_key}:{label_set_string(group_labels)}"


def alert_entry(
    labels: Labels,
    annotations: Labels,
    starts_at: TimeLike,
    generator: str,
    *,
    status: Literal["firing", "resolved"] = "firing",
    ends_at: TimeLike | None = None,
    time_digits: int = 3,
) -> dict[str, Any]:
    """One element of the webhook's ``alerts``; ``endsAt`` is Go's zero time while firing."""
    return {
        "status": status,
        "labels": {k: labels[k] for k in sorted(labels)},
        "annotations": {k: annotations[k] for k in sorted(annotations)},
        "startsAt": rfc3339(starts_at, digits=time_digits),
        "endsAt": GO_ZERO_TIME if ends_at is None else rfc3339(ends_at, digits=time_digits),
        "generatorURL": generator,
        "fingerprint": fingerprint(labels),
    }


def webhook_payload(
    alerts: Sequence[Mapping[str, Any]],
    *,
    receiver: str,
    group_labels: Labels,
    external_url: str,
    route_key: str = "{}",
    truncated_alerts: int = 0,
) -> dict[str, Any]:
    """The Alertmanager webhook body, version 4, keys in Alertmanager's order.

    Group status is ``firing`` if any alert fires; common labels/annotations are those
    every alert shares.
    """
    if not alerts:
        raise ValueError("a notification carries at least one alert")

    def common(key: str) -> dict[str, str]:
        first: Mapping[str, str] = alerts[0][key]
        return {
            k: v for k, v in sorted(first.items()) if all(a[key].get(k) == v for a in alerts[1:])
        }

    firing = any(a["status"] == "firing" for a in alerts)
    return {
        "receiver": receiver,
        "status": "firing" if firing else "resolved",
        "alerts": [dict(a) for a in alerts],
        "groupLabels": {k: group_labels[k] for k in sorted(group_labels)},
        "commonLabels": common("labels"),
        "commonAnnotations": common("annotations"),
        "externalURL": external_url,
        "version": "4",
        "groupKey": group_key(route_key, group_labels),
        "truncatedAlerts": truncated_alerts,
    }


def go_json(obj: Any, *, indent: int | None = None) -> str:
    """JSON as Go's ``encoding/json`` Encoder writes it: ``<``, ``>``, ``&``, U+2028 and
    U+2029 escaped, other non-ASCII kept, and a trailing newline."""
    if indent is None:
        text = json.dumps(obj, ensure_ascii=False, separators=(",", ":"))
    else:
        text = json.dumps(obj, ensure_ascii=False, indent=indent)
    for ch, esc in (
        ("&", "\\u0026"),
        ("<", "\\u003c"),
        (">", "\\u003e"),
        ("\u2028", "\\u2028"),
        ("\u2029", "\\u2029"),
    ):
        text = text.replace(ch, esc)
    return text + "\n"


def write_alert(path: str | Path, payload: Mapping[str, Any], *, indent: int | None = None) -> None:
    """Write a webhook body to ``alert.json`` as Alertmanager POSTs it (compact by default)."""
    Path(path).write_text(go_json(payload, indent=indent), encoding="utf-8", newline="\n")


# --------------------------------------------------------------------------- scenario.yaml


def render_scenario_yaml(meta: Mapping[str, Any]) -> str:
    """``scenario.yaml`` text: keys in the given order, block style, UTF-8."""
    text: str = yaml.safe_dump(
        dict(meta), sort_keys=False, default_flow_style=False, allow_unicode=True, width=100
    )
    return text


def write_scenario_yaml(path: str | Path, meta: Mapping[str, Any]) -> None:
    """Write :func:`render_scenario_yaml` to ``path``."""
    Path(path).write_text(render_scenario_yaml(meta), encoding="utf-8", newline="\n")
