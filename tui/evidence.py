"""What the evidence pane shows for one piece of evidence: plot data, log lines, counters.

A Diagnosis carries each evidence's query and a short excerpt, not the raw data. While
the incident's sources are still open, :func:`collect_details` asks them again for the
data behind every cited piece of evidence — a PromQL range over the window, the matching
log lines, the SNMP polls, the command output — and keeps it as plain frozen records.
Everything else here is pure (data in, records out) and testable without an App.

Nothing here changes a source: metrics, logs and SNMP are only read, and SSH commands are
the same allow-listed read-only ones the specialist already ran.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime

from agents.models import Diagnosis, Evidence
from tools.errors import ToolError
from tools.logs.base import LabelMatcher, LineFilter, LogQuery, LogRecord
from tools.metrics.base import Series
from tools.snmp import oids
from tools.snmp.base import COUNTER_TYPES, Varbind, counter_delta
from tools.sources import Sources

log = logging.getLogger(__name__)

MAX_PLOT_LINES = 6
"""Most series drawn in one plot (the ones with the largest peaks)."""
MAX_LOG_LINES = 200
"""Most log lines kept per evidence."""
PLOT_POINTS = 120
"""Points per series asked of Prometheus over the window."""


@dataclass(frozen=True)
class PlotLine:
    """One series of a plot."""

    label: str
    xs: tuple[float, ...]
    """Unix seconds."""
    ys: tuple[float, ...]


@dataclass(frozen=True)
class PlotData:
    """A time-series plot over the incident window, with the alert time marked."""

    title: str
    lines: tuple[PlotLine, ...]
    start: float
    """Window start, unix seconds."""
    end: float
    """Window end (the diagnosis clock), unix seconds."""
    marks: tuple[tuple[str, float], ...] = ()
    """Vertical markers: (label, unix seconds), e.g. the alert's start."""


@dataclass(frozen=True)
class LogLines:
    """Log lines that matched the evidence's query, with what to highlight."""

    query: str
    records: tuple[LogRecord, ...]
    filters: tuple[LineFilter, ...]


@dataclass(frozen=True)
class PortDelta:
    """How much one SNMP counter grew over the window."""

    name: str
    """``ifInDiscards.5``: the column name and the index (the port)."""
    first: int
    last: int
    delta: int
    per_s: float


@dataclass(frozen=True)
class CounterDeltas:
    """SNMP counters of one device: growth per port over the window."""

    device: str
    rows: tuple[PortDelta, ...]
    start: float
    end: float


@dataclass(frozen=True)
class CommandOutput:
    """Output of an allow-listed read-only command."""

    host: str
    command: str
    exit_status: int | None
    stdout: str
    stderr: str


@dataclass(frozen=True)
class Unavailable:
    """Why there is nothing more than the excerpt to show."""

    reason: str


EvidenceDetail = PlotData | LogLines | CounterDeltas | CommandOutput | Unavailable


@dataclass(frozen=True)
class Window:
    """The investigated span and the moments worth marking in it."""

    start: datetime
    end: datetime
    alert_at: datetime | None = None
    marks: tuple[tuple[str, float], ...] = field(default=())

    def marks_in_window(self) -> tuple[tuple[str, float], ...]:
        """The alert start (if inside the window) and any extra marks."""
        out = list(self.marks)
        if self.alert_at is not None and self.start <= self.alert_at <= self.end:
            out.insert(0, ("alert", self.alert_at.timestamp()))
        return tuple(out)


# --------------------------------------------------------------------------- metrics


def series_label(labels: dict[str, str]) -> str:
    """``{instance=node-1:9100}`` → ``node-1:9100``; several labels joined by commas."""
    shown = {k: v for k, v in sorted(labels.items()) if k not in ("__name__", "job")}
    if not shown:
        return labels.get("__name__", "value")
    if len(shown) == 1:
        return next(iter(shown.values()))
    return ",".join(f"{k}={v}" for k, v in shown.items())


def plot_from_series(title: str, series: Sequence[Series], window: Window) -> PlotData:
    """A plot of range-query series, the :data:`MAX_PLOT_LINES` highest peaks first.

    NaN and infinite values are dropped (plotext cannot draw them).
    """
    lines: list[PlotLine] = []
    for s in series:
        pts = [(t.timestamp(), v) for t, v in s.points if v == v and abs(v) != float("inf")]
        if not pts:
            continue
        lines.append(
            PlotLine(
                label=series_label(s.labels),
                xs=tuple(x for x, _ in pts),
                ys=tuple(y for _, y in pts),
            )
        )
    lines.sort(key=lambda line: (-max(line.ys), line.label))
    return PlotData(
        title=title,
        lines=tuple(lines[:MAX_PLOT_LINES]),
        start=window.start.timestamp(),
        end=window.end.timestamp(),
        marks=window.marks_in_window(),
    )


# --------------------------------------------------------------------------- logs

_MATCHER = re.compile(r'\s*([a-zA-Z_][a-zA-Z0-9_]*)\s*(=~|!~|!=|=)\s*"((?:[^"\\]|\\.)*)"\s*')
_FILTER = re.compile(r'\s*(\|=|!=|\|~|!~)\s*"((?:[^"\\]|\\.)*)"')


class LogQLParseError(ValueError):
    """The text is not the LogQL subset Strata writes (a selector and line filters)."""


def _unquote(text: str) -> str:
    out: list[str] = []
    it = iter(text)
    for ch in it:
        if ch == "\\":
            nxt = next(it, "")
            out.append({"n": "\n", "t": "\t"}.get(nxt, nxt))
        else:
            out.append(ch)
    return "".join(out)


def parse_logql(text: str) -> tuple[tuple[LabelMatcher, ...], tuple[LineFilter, ...]]:
    """The inverse of :func:`tools.logs.logql.render_logql`: matchers and line filters.

    Raises:
        LogQLParseError: anything beyond a stream selector followed by line filters.
    """
    text = text.strip()
    if not text.startswith("{") or "}" not in text:
        raise LogQLParseError(f"not a LogQL stream selector: {text[:60]!r}")
    matchers: list[LabelMatcher] = []
    pos = 1
    while True:
        m = _MATCHER.match(text, pos)
        if m is None:
            raise LogQLParseError(f"cannot read the label matcher at column {pos + 1}")
        op = m.group(2)
        matchers.append(LabelMatcher(label=m.group(1), op=op, value=_unquote(m.group(3))))
        pos = m.end()
        if text.startswith(",", pos):
            pos += 1
            continue
        if text.startswith("}", pos):
            pos += 1
            break
        raise LogQLParseError(f"expected ',' or '}}' at column {pos + 1}")
    filters: list[LineFilter] = []
    while pos < len(text):
        f = _FILTER.match(text, pos)
        if f is None:
            if text[pos:].strip():
                raise LogQLParseError(f"cannot read the line filter at column {pos + 1}")
            break
        filters.append(LineFilter(op=f.group(1), value=_unquote(f.group(2))))
        pos = f.end()
    return tuple(matchers), tuple(filters)


def highlight_spans(line: str, filters: Iterable[LineFilter]) -> list[tuple[int, int]]:
    """Character spans of ``line`` that the positive filters (``|=``, ``|~``) matched, merged."""
    spans: list[tuple[int, int]] = []
    for f in filters:
        if f.op == "|=" and f.value:
            start = line.find(f.value)
            while start >= 0:
                spans.append((start, start + len(f.value)))
                start = line.find(f.value, start + len(f.value))
        elif f.op == "|~":
            try:
                spans.extend(m.span() for m in re.finditer(f.value, line) if m.end() > m.start())
            except re.error:
                continue
    spans.sort()
    merged: list[tuple[int, int]] = []
    for s, e in spans:
        if merged and s <= merged[-1][1]:
            merged[-1] = (merged[-1][0], max(merged[-1][1], e))
        else:
            merged.append((s, e))
    return merged


# --------------------------------------------------------------------------- snmp

_SNMP_POLLS = re.compile(r"\s*\(\d+ polls[^)]*\)\s*$")
_OID_IN_PARENS = re.compile(r"\(([\d.]+)\)")
_NUMERIC = re.compile(r"^\d+(\.\d+)*$")
_BY_NAME = {name: oid for oid, name in oids.NAMES.items()}


def parse_snmp_query(query: str) -> tuple[str, tuple[str, ...]]:
    """``(device, OIDs)`` from an SNMP evidence query.

    Understands the forms the network specialist writes: ``get NAME @ dev``,
    ``walk NAME (OID) @ dev`` and ``OID[, OID] @ dev (N polls …)``.

    Raises:
        ValueError: no ``@ device``, or a name that is not a known OID.
    """
    left, sep, right = query.rpartition(" @ ")
    if not sep:
        raise ValueError(f"no '@ device' in SNMP query {query!r}")
    device = _SNMP_POLLS.sub("", right).strip()
    left = left.strip()
    for verb in ("get ", "walk "):
        if left.startswith(verb):
            left = left[len(verb) :]
    found: list[str] = []
    for part in (p.strip() for p in left.split(",")):
        inner = _OID_IN_PARENS.search(part)
        if inner is not None:
            found.append(inner.group(1))
        elif _NUMERIC.match(part):
            found.append(part)
        elif part in _BY_NAME:
            found.append(_BY_NAME[part])
        else:
            raise ValueError(f"unknown SNMP object {part!r} in {query!r}")
    return device, tuple(found)


def snmp_scalar_plot(title: str, polls: Sequence[Varbind], window: Window) -> PlotData:
    """One SNMP value (e.g. ``dot1dStpTopChanges``) over the polls, as a line."""
    pts = [(vb.ts.timestamp(), float(vb.value)) for vb in polls if isinstance(vb.value, int)]
    line = PlotLine(label=title, xs=tuple(x for x, _ in pts), ys=tuple(y for _, y in pts))
    return PlotData(
        title=title,
        lines=(line,) if pts else (),
        start=window.start.timestamp(),
        end=window.end.timestamp(),
        marks=window.marks_in_window(),
    )


def counter_deltas(
    device: str, first: Sequence[Varbind], last: Sequence[Varbind]
) -> CounterDeltas | None:
    """Growth of each counter between two walks (a wrap is allowed for), largest first.

    None when the two polls have no counter in common.
    """
    before = {vb.oid: vb for vb in first}
    rows: list[PortDelta] = []
    t0 = t1 = 0.0
    for vb in last:
        old = before.get(vb.oid)
        if old is None or vb.type not in COUNTER_TYPES:
            continue
        if not isinstance(old.value, int) or not isinstance(vb.value, int):
            continue
        delta = counter_delta(old.value, vb.value, vb.type)
        span = (vb.ts - old.ts).total_seconds()
        t0, t1 = old.ts.timestamp(), vb.ts.timestamp()
        rows.append(
            PortDelta(
                name=oids.name_of(vb.oid),
                first=old.value,
                last=vb.value,
                delta=delta,
                per_s=delta / span if span > 0 else 0.0,
            )
        )
    if not rows:
        return None
    rows.sort(key=lambda r: (-r.delta, r.name))
    return CounterDeltas(device=device, rows=tuple(rows), start=t0, end=t1)


# --------------------------------------------------------------------------- collection


def cited_evidence(diagnosis: Diagnosis) -> list[Evidence]:
    """Evidence that some finding cites, in evidence order."""
    cited = {eid for f in diagnosis.findings for eid in f.evidence}
    return [e for e in diagnosis.evidence if e.id in cited]


async def collect_details(
    diagnosis: Diagnosis,
    sources: Sources,
    window: Window,
    *,
    evidence: Sequence[Evidence] | None = None,
) -> dict[str, EvidenceDetail]:
    """Ask the still-open sources for the data behind each cited piece of evidence.

    A source that fails gives an :class:`Unavailable` for that evidence; nothing raises.
    """
    out: dict[str, EvidenceDetail] = {}
    for ev in cited_evidence(diagnosis) if evidence is None else evidence:
        try:
            out[ev.id] = await _detail(ev, sources, window)
        except (ToolError, ValueError, OSError) as exc:
            log.info("no detail for %s: %s", ev.id, exc)
            out[ev.id] = Unavailable(f"{type(exc).__name__}: {exc}")
    return out


async def _detail(ev: Evidence, sources: Sources, window: Window) -> EvidenceDetail:
    if ev.source == "metrics":
        if sources.metrics is None:
            return Unavailable("no metrics source")
        step = max(15.0, (window.end - window.start).total_seconds() / PLOT_POINTS)
        series = await sources.metrics.range(ev.query, window.start, window.end, step)
        return plot_from_series(ev.query, series, window)
    if ev.source == "logs":
        if sources.logs is None:
            return Unavailable("no log source")
        matchers, filters = parse_logql(ev.query)
        records = await sources.logs.query(
            LogQuery(
                matchers=matchers,
                filters=filters,
                start=window.start,
                end=window.end,
                limit=MAX_LOG_LINES,
            )
        )
        return LogLines(query=ev.query, records=tuple(records), filters=filters)
    if ev.source == "snmp":
        if sources.snmp is None:
            return Unavailable("no SNMP source")
        return await _snmp_detail(ev, sources, window)
    if ev.source == "ssh":
        if sources.ssh is None:
            return Unavailable("no SSH source")
        host, sep, command = ev.query.partition("$ ")
        if not sep:
            return Unavailable(f"not a 'host$ command' query: {ev.query!r}")
        result = await sources.ssh.run(host.strip(), command.strip())
        if result.status != "ok":
            return Unavailable(result.reason or result.status)
        return CommandOutput(
            host=result.host,
            command=result.command,
            exit_status=result.exit_status,
            stdout=result.stdout,
            stderr=result.stderr,
        )
    return Unavailable(f"nothing more to show for {ev.source} evidence")


async def _snmp_detail(ev: Evidence, sources: Sources, window: Window) -> EvidenceDetail:
    assert sources.snmp is not None
    snmp = sources.snmp
    device, wanted = parse_snmp_query(ev.query)
    times = [t for t in snmp.poll_times(device) if window.start <= t <= window.end]
    if not times:
        return Unavailable(f"no polls of {device} in the window")
    scalars = [o for o in wanted if o.endswith(".0")]
    if len(wanted) == 1 and scalars:
        polls: list[Varbind] = []
        for t in times:
            got = await snmp.get(device, [wanted[0]], t)
            if got and (not polls or polls[-1].ts != got[0].ts):
                polls.append(got[0])
        return snmp_scalar_plot(f"{oids.name_of(wanted[0])} @ {device}", polls, window)
    first: list[Varbind] = []
    last: list[Varbind] = []
    for prefix in wanted:
        first += await snmp.walk(device, prefix, times[0])
        last += await snmp.walk(device, prefix, times[-1])
    deltas = counter_deltas(device, first, last)
    if deltas is None:
        return Unavailable(f"no counters under {', '.join(wanted)} @ {device}")
    return deltas
