"""Record a live incident as a format-v1 scenario (``strata record``), with secrets redacted.

:class:`Recorder` wraps each live source in a proxy that implements the same protocol and
keeps what the specialists asked and got: the PromQL, the log records, the SNMP polls
(:class:`tools.snmp.live.LiveSnmp` keeps its history), the SSH command results. After the
live diagnosis, :meth:`Recorder.write` writes the scenario directory:

- ``metrics.om``: the raw samples of every metric name the PromQL touched
  (:func:`metric_names`), fetched as ``{__name__="NAME"}[RANGE]`` at the clock, RANGE being
  the window plus the longest range/offset in the queries (:func:`lookback_s`) plus
  Prometheus' 5-minute lookback, so the same PromQL gives the same answers in replay;
  types from ``/api/v1/metadata`` when the server has them (else ``unknown``);
- ``logs.jsonl``, ``snmp.jsonl``, ``ssh.jsonl``: what the sources returned (a source that
  was there gets its file even when empty, so replay sees "empty", not "absent");
- ``alert.json`` (the webhook payload) and ``scenario.yaml`` (no ground truth).

Every string written passes through :class:`Redactor`: configured secret values and
credentials in URLs, ``token=``/``password=`` pairs and ``Authorization`` headers become
``[REDACTED]``; the written files are then searched for the secrets and the recording is
refused (nothing left behind) if one survived. This module never prints, and never puts
a secret into a message.
"""

from __future__ import annotations

import asyncio
import logging
import math
import re
import shutil
from collections import defaultdict
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

from tools.config import HttpSource
from tools.errors import SourceUnavailable, ToolError
from tools.http_auth import RetryPolicy, error_text, get_with_retries, redact_url
from tools.logs.base import LogQuery, LogRecord, LogSource
from tools.metrics.base import MetricsSource, Sample, Series
from tools.metrics.promql import escape_label_value
from tools.scenario.writer import (
    HistogramPoint,
    OpenMetricsWriter,
    go_json,
    render_jsonl,
    render_scenario_yaml,
    rfc3339,
)
from tools.snmp.base import SnmpSource, Varbind
from tools.snmp.live import LiveSnmp, comparable_varbinds
from tools.sources import Sources
from tools.ssh.base import CommandResult, SshSource
from tools.topology import Topology

log = logging.getLogger(__name__)

MASK = "[REDACTED]"
"""What a redacted secret is replaced with (safe inside JSON, YAML and label values)."""

STALENESS_S = 300.0
"""Prometheus' lookback for instant vectors: a sample this old still counts."""

_PATTERNS = (
    (re.compile(r"(://[^/\s:@]*:)[^@\s/]+@"), rf"\1{MASK}@"),
    (
        re.compile(
            r"(?i)\b((?:access_|api_|auth_|client_)?(?:token|password|passwd|pwd|secret|apikey"
            r"|api_key)\s*[=:]\s*)(?!\[REDACTED\])[^\s&\"',;]+"
        ),
        rf"\1{MASK}",
    ),
    (re.compile(r"(?i)(\bauthorization:\s*(?:bearer|basic)\s+)[A-Za-z0-9._~+/=-]+"), rf"\1{MASK}"),
)


class RecordingError(ToolError):
    """The recording could not be written (nothing is left behind)."""

    title = "Recording failed"


class Redactor:
    """Scrubs secret values and credential-looking text from strings and JSON-like data."""

    def __init__(self, secrets: Iterable[str]) -> None:
        # Longest first, so a secret containing another is masked whole.
        self._secrets = sorted({s for s in secrets if s}, key=len, reverse=True)

    def __call__(self, text: str) -> str:
        """``text`` with every secret and credential pattern masked."""
        for secret in self._secrets:
            text = text.replace(secret, MASK)
        for pattern, repl in _PATTERNS:
            text = pattern.sub(repl, text)
        return text

    def data(self, obj: Any) -> Any:
        """A copy of JSON-like ``obj`` with every string (keys too) redacted."""
        if isinstance(obj, str):
            return self(obj)
        if isinstance(obj, Mapping):
            return {self.data(k): self.data(v) for k, v in obj.items()}
        if isinstance(obj, list | tuple):
            return [self.data(x) for x in obj]
        return obj

    def leaks(self, text: str) -> int:
        """How many distinct secrets occur in ``text`` (the secrets themselves are not shown)."""
        return sum(1 for s in self._secrets if s in text)


class RedactingFilter(logging.Filter):
    """A logging filter that redacts each record's message (and traceback) in place."""

    def __init__(self, redact: Redactor) -> None:
        super().__init__()
        self._redact = redact

    def filter(self, record: logging.LogRecord) -> bool:
        """Redact; never drops a record."""
        record.msg, record.args = self._redact(record.getMessage()), None
        if record.exc_info:
            text = logging.Formatter().formatException(record.exc_info)
            record.exc_info, record.exc_text = None, self._redact(text)
        return True


# --------------------------------------------------------------------------- PromQL

_TOKEN = re.compile(
    r"""(?P<str>"(?:\\.|[^"\\])*"|'(?:\\.|[^'\\])*'|`[^`]*`)
      |(?P<range>\[[^\]]*\])
      |(?P<num>0[xX][0-9a-fA-F]+|(?:\d+(?:\.\d*)?|\.\d+)(?:[eE][+-]?\d+)?(?:(?:ms|[smhdwy])\d*)*)
      |(?P<ident>[a-zA-Z_:][a-zA-Z0-9_:]*)
      |(?P<op>=~|!~|!=|==|>=|<=|[{}(),=<>+\-*/%^@])
      |(?P<skip>\s+|\#[^\n]*)
      |(?P<other>.)""",
    re.VERBOSE,
)
_GROUPING = frozenset({"by", "without", "on", "ignoring", "group_left", "group_right"})
_KEYWORDS = _GROUPING | {"and", "or", "unless", "offset", "bool", "inf", "nan"}
_AGGREGATIONS = frozenset(
    {"sum", "avg", "count", "min", "max", "group", "stddev", "stdvar", "topk", "bottomk"}
    | {"quantile", "count_values", "limitk", "limit_ratio"}
)
_DURATION = re.compile(r"(\d+)(ms|[smhdwy])")
_UNIT_S = {"ms": 0.001, "s": 1, "m": 60, "h": 3600, "d": 86400, "w": 604800, "y": 31536000}


def _tokens(promql: str) -> list[tuple[str, str]]:
    return [
        (m.lastgroup or "other", m.group())
        for m in _TOKEN.finditer(promql)
        if m.lastgroup != "skip"
    ]


def _unquote(literal: str) -> str:
    if literal.startswith("`"):
        return literal[1:-1]
    return re.sub(r"\\(.)", lambda m: {"n": "\n", "t": "\t"}.get(m[1], m[1]), literal[1:-1])


def metric_names(promql: str) -> set[str]:
    """The metric names a PromQL expression selects (``x``, ``x{...}``, ``{__name__="x"}``).

    Function, aggregation and keyword names, label names (in ``{...}`` and in
    ``by``/``on``/... lists) and string arguments are not metric names. A regex on
    ``__name__`` cannot be resolved to names and is ignored.
    """
    toks = _tokens(promql)
    names: set[str] = set()
    i = 0
    while i < len(toks):
        kind, text = toks[i]
        nxt = toks[i + 1][1] if i + 1 < len(toks) else ""
        if text == "{":
            j = i + 1
            while j < len(toks) and toks[j][1] != "}":
                if (
                    toks[j][1] == "__name__"
                    and j + 2 < len(toks)
                    and toks[j + 1][1] == "="
                    and toks[j + 2][0] == "str"
                ):
                    names.add(_unquote(toks[j + 2][1]))
                j += 1
            i = j + 1
            continue
        if kind == "ident":
            word = text.lower()
            if word in _GROUPING and nxt == "(":
                depth, i = 0, i + 1  # skip the label list
                while i < len(toks):
                    depth += {"(": 1, ")": -1}.get(toks[i][1], 0)
                    i += 1
                    if depth == 0:
                        break
                continue
            if word not in _KEYWORDS and word not in _AGGREGATIONS and nxt != "(":
                names.add(text)
        i += 1
    return names


def _duration_s(text: str) -> float:
    return sum(int(n) * _UNIT_S[unit] for n, unit in _DURATION.findall(text))


def lookback_s(promql: str) -> float:
    """How far before its evaluation time a query reads: longest range plus longest offset."""
    toks = _tokens(promql)
    ranges = [
        _duration_s(t.strip("[]").split(":", 1)[0]) + _duration_s(t.strip("[]").partition(":")[2])
        for k, t in toks
        if k == "range"
    ]
    offsets = [
        _duration_s(toks[i + 1][1])
        for i, (k, t) in enumerate(toks[:-1])
        if k == "ident" and t.lower() == "offset"
    ]
    return max(ranges, default=0.0) + max(offsets, default=0.0)


# --------------------------------------------------------------------------- proxies


class RecordingMetrics:
    """A :class:`MetricsSource` that keeps every PromQL expression asked of it."""

    def __init__(self, inner: MetricsSource) -> None:
        self.inner = inner
        self.queries: list[str] = []

    async def instant(self, promql: str, at: datetime) -> list[Sample]:
        """As the wrapped source; the query is kept."""
        self.queries.append(promql)
        return await self.inner.instant(promql, at)

    async def range(
        self, promql: str, start: datetime, end: datetime, step_s: float
    ) -> list[Series]:
        """As the wrapped source; the query is kept."""
        self.queries.append(promql)
        return await self.inner.range(promql, start, end, step_s)


class RecordingLogs:
    """A :class:`LogSource` that keeps every record it returned (once each)."""

    def __init__(self, inner: LogSource) -> None:
        self.inner = inner
        self._records: dict[tuple[datetime, tuple[tuple[str, str], ...], str], LogRecord] = {}

    @property
    def records(self) -> list[LogRecord]:
        """Every record returned so far, in time order."""
        return sorted(self._records.values(), key=lambda r: r.ts)

    async def query(self, query: LogQuery) -> list[LogRecord]:
        """As the wrapped source; the records are kept."""
        records = await self.inner.query(query)
        for r in records:
            self._records.setdefault((r.ts, tuple(sorted(r.labels.items())), r.line), r)
        return records


class RecordingSnmp:
    """An :class:`SnmpSource` that keeps every varbind read (a LiveSnmp's whole history)."""

    def __init__(self, inner: SnmpSource) -> None:
        self.inner = inner
        self._seen: dict[tuple[str, str, datetime], Varbind] = {}

    @property
    def varbinds(self) -> list[Varbind]:
        """What to record: every comparable poll of a live source, else every value read."""
        if isinstance(self.inner, LiveSnmp):
            live = self.inner
            return [vb for d in live.devices() for vb in comparable_varbinds(live.history(d))]
        return list(self._seen.values())

    def devices(self) -> list[str]:
        """As the wrapped source."""
        return self.inner.devices()

    def poll_times(self, device: str) -> list[datetime]:
        """As the wrapped source."""
        return self.inner.poll_times(device)

    async def get(self, device: str, oids: Sequence[str], at: datetime) -> list[Varbind]:
        """As the wrapped source; the values are kept."""
        return self._keep(await self.inner.get(device, oids, at))

    async def walk(self, device: str, prefix: str, at: datetime) -> list[Varbind]:
        """As the wrapped source; the values are kept."""
        return self._keep(await self.inner.walk(device, prefix, at))

    def _keep(self, rows: list[Varbind]) -> list[Varbind]:
        for vb in rows:
            self._seen.setdefault((vb.device, vb.oid, vb.ts), vb)
        return rows


class RecordingSsh:
    """An :class:`SshSource` that keeps every command result."""

    def __init__(self, inner: SshSource) -> None:
        self.inner = inner
        self.results: list[CommandResult] = []

    def hosts(self) -> list[str]:
        """As the wrapped source."""
        return self.inner.hosts()

    async def run(self, host: str, command: str) -> CommandResult:
        """As the wrapped source; the result is kept."""
        result = await self.inner.run(host, command)
        self.results.append(result)
        return result


# --------------------------------------------------------------------------- raw metrics

Labels = tuple[tuple[str, str], ...]
RawSeries = dict[Labels, list[tuple[float, float]]]


@dataclass(frozen=True)
class MetricMeta:
    """What ``/api/v1/metadata`` says about one metric family."""

    type: str
    help: str = ""


async def fetch_raw(
    source: HttpSource,
    names: Iterable[str],
    at: datetime,
    range_s: float,
    *,
    concurrency: int = 4,
) -> tuple[dict[str, RawSeries], dict[str, MetricMeta], list[str]]:
    """Raw samples of each metric name in ``(at - range_s, at]``, the metadata, and notes.

    A name whose fetch fails is left out with a note; metadata is optional (empty when
    the server has none, as for backfilled data).

    Raises:
        tools.errors.SourceUnavailable: the server cannot be reached at all.
    """
    url = redact_url(source.url.rstrip("/"))
    retry = RetryPolicy(retries=2, backoff_s=0.2)
    limit = asyncio.Semaphore(concurrency)
    out: dict[str, RawSeries] = {}
    notes: list[str] = []
    async with source.auth.httpx_client(source.url.rstrip("/"), timeout_s=source.timeout_s) as http:

        async def one(name: str) -> None:
            params = {
                "query": f'{{__name__="{escape_label_value(name)}"}}[{math.ceil(range_s)}s]',
                "time": f"{math.floor(at.timestamp() * 1000) / 1000:.3f}",
            }
            async with limit:
                resp = await get_with_retries(
                    http, "/api/v1/query", params, what="Prometheus", url=url, retry=retry
                )
            body = _json(resp)
            data = body.get("data") if isinstance(body, dict) else None
            if resp.status_code != 200 or not isinstance(data, dict):
                notes.append(f"metrics: {name} not recorded: {error_text(resp)}")
                return
            series: RawSeries = {}
            try:
                for item in data.get("result") or []:
                    labels = {k: str(v) for k, v in item["metric"].items() if k != "__name__"}
                    points = [(float(t), float(v)) for t, v in item.get("values") or []]
                    if points:
                        series[tuple(sorted(labels.items()))] = points
            except (KeyError, TypeError, ValueError, AttributeError) as exc:
                notes.append(f"metrics: {name} not recorded: unexpected answer ({exc!r})")
                return
            out[name] = series

        names = sorted(set(names))
        await asyncio.gather(*(one(n) for n in names))
        meta: dict[str, MetricMeta] = {}
        try:
            resp = await get_with_retries(
                http, "/api/v1/metadata", {}, what="Prometheus", url=url, retry=retry
            )
        except SourceUnavailable as exc:
            notes.append(f"metrics: no metadata, every metric written untyped: {exc.message}")
        else:
            found = _json(resp).get("data") if resp.status_code == 200 else None
            for fam, entries in (found if isinstance(found, dict) else {}).items():
                if isinstance(entries, list) and entries and isinstance(entries[0], dict):
                    meta[fam] = MetricMeta(entries[0].get("type", ""), entries[0].get("help", ""))
    return out, meta, notes


def _json(resp: Any) -> Any:
    try:
        return resp.json()
    except ValueError:
        return {}


_SUFFIXES = ("_total", "_bucket", "_count", "_sum", "_created")


def _family(name: str, meta: Mapping[str, MetricMeta]) -> tuple[str, MetricMeta | None]:
    """The family a sample name belongs to, and its metadata (by name, else by suffix)."""
    if name in meta:
        return name, meta[name]
    for suffix in _SUFFIXES:
        base = name.removesuffix(suffix)
        if base != name and base in meta:
            return base, meta[base]
    return name, None


def render_metrics(
    raw: Mapping[str, RawSeries], meta: Mapping[str, MetricMeta], redact: Redactor
) -> str:
    """OpenMetrics text of the raw series (counters, gauges and histograms typed).

    A series that does not fit its declared type (a counter without ``_total``, a
    histogram whose buckets do not line up) is written untyped, never dropped.
    """
    writer = OpenMetricsWriter()
    hist: dict[str, dict[str, RawSeries]] = defaultdict(dict)
    for name in sorted(raw):
        family, info = _family(name, meta)
        if info is not None and info.type == "histogram" and name != family:
            hist[family][name.removeprefix(family)] = raw[name]
            continue
        _add_plain(writer, name, info, raw[name], redact)
    for family, parts in sorted(hist.items()):
        help_ = redact(meta[family].help)
        if not _add_histogram(writer, family, help_, parts, redact):
            for suffix, series in sorted(parts.items()):
                _add_plain(writer, family + suffix, None, series, redact)
    return writer.render()


def _redacted(labels: Labels, redact: Redactor) -> dict[str, str]:
    return {k: redact(v) for k, v in labels}


def _add_plain(
    writer: OpenMetricsWriter,
    name: str,
    info: MetricMeta | None,
    series: RawSeries,
    redact: Redactor,
) -> None:
    kind = info.type if info else "unknown"
    help_ = redact(info.help) if info else ""
    for labels, points in sorted(series.items()):
        lbl = _redacted(labels, redact)
        for how in dict.fromkeys((kind, "unknown")):
            try:
                if how == "counter" and name.endswith("_total"):
                    writer.counter(name, help_, lbl, points, allow_resets=True)
                elif how == "gauge":
                    writer.gauge(name, help_, lbl, points)
                else:
                    writer.unknown(name, "", lbl, points)
                break
            except ValueError as exc:
                log.warning("metrics: a series of %s not written as %s: %s", name, how, exc)


def _add_histogram(
    writer: OpenMetricsWriter,
    family: str,
    help_: str,
    parts: Mapping[str, RawSeries],
    redact: Redactor,
) -> bool:
    """Write one classic histogram family; False (nothing written) if its series do not line up."""
    buckets, counts, sums = (parts.get(s) for s in ("_bucket", "_count", "_sum"))
    if not buckets or not counts or not sums:
        return False
    groups: dict[Labels, dict[float, dict[float, float]]] = defaultdict(dict)
    for labels, points in buckets.items():
        le = dict(labels).get("le")
        if le is None:
            return False
        rest = tuple(kv for kv in labels if kv[0] != "le")
        groups[rest][float(le)] = dict(points)
    staged: list[tuple[dict[str, str], list[float], list[HistogramPoint]]] = []
    for rest, by_le in groups.items():
        bounds = sorted(b for b in by_le if not math.isinf(b))
        count, total = dict(counts.get(rest, [])), dict(sums.get(rest, []))
        times = sorted(count)
        if not times or any(set(by_le[b]) != set(times) for b in by_le) or set(total) != set(times):
            return False
        hpoints = [
            HistogramPoint(t, tuple(by_le[b][t] for b in bounds), count[t], total[t]) for t in times
        ]
        staged.append((_redacted(rest, redact), bounds, hpoints))
    try:
        probe = OpenMetricsWriter()  # all or nothing: check first
        for lbl, bounds, hpoints in staged:
            probe.histogram(family, help_, lbl, bounds, hpoints)
    except ValueError as exc:
        log.info("metrics: histogram %s written untyped: %s", family, exc)
        return False
    for lbl, bounds, hpoints in staged:
        writer.histogram(family, help_, lbl, bounds, hpoints)
    return True


# --------------------------------------------------------------------------- the recorder


@dataclass(frozen=True)
class RecordingSummary:
    """What :meth:`Recorder.write` wrote."""

    path: Path
    files: dict[str, int] = field(default_factory=dict)
    """File name to the number of records (series, lines, varbinds, commands) in it."""
    notes: tuple[str, ...] = ()
    """What could not be recorded, and why."""


class Recorder:
    """Wraps live sources in recording proxies; :meth:`write` makes the scenario."""

    def __init__(self, sources: Sources) -> None:
        self.metrics = RecordingMetrics(sources.metrics) if sources.metrics else None
        self.logs = RecordingLogs(sources.logs) if sources.logs else None
        self.snmp = RecordingSnmp(sources.snmp) if sources.snmp else None
        self.ssh = RecordingSsh(sources.ssh) if sources.ssh else None
        self.sources = Sources(
            metrics=self.metrics,
            logs=self.logs,
            snmp=self.snmp,
            ssh=self.ssh,
            notes=sources.notes,
        )
        """The proxies, to diagnose with."""

    async def write(
        self,
        out: Path,
        *,
        alert: Mapping[str, Any],
        observed_at: datetime,
        window_start: datetime,
        topology: Topology,
        prometheus: HttpSource | None,
        redact: Redactor,
    ) -> RecordingSummary:
        """Write the scenario directory ``out`` (which must not exist, or be empty).

        Args:
            out: the scenario directory to create.
            alert: the webhook payload as JSON data (written as ``alert.json``).
            observed_at: the diagnosis clock.
            window_start: start of the investigated window.
            topology: the site's topology hints.
            prometheus: where to fetch raw samples from (the live server the queries went
                to); None: no ``metrics.om``.
            redact: scrubs every string written.

        Raises:
            RecordingError: ``out`` is not empty, a file cannot be written, or a secret
                survived redaction (then nothing is left on disk).
        """
        check_empty(out)
        notes: list[str] = []
        files: dict[str, str] = {}
        counts: dict[str, int] = {}
        if self.metrics is not None and prometheus is not None:
            names = {n for q in self.metrics.queries for n in metric_names(q)}
            extra = max((lookback_s(q) for q in self.metrics.queries), default=0.0)
            span = (observed_at - window_start).total_seconds() + extra + STALENESS_S
            try:
                raw, meta, fetch_notes = await fetch_raw(prometheus, names, observed_at, span)
            except ToolError as exc:  # no metrics.om rather than one that says "no data"
                notes.append(f"metrics not recorded: {exc.message}")
            else:
                notes += fetch_notes
                files["metrics.om"] = render_metrics(raw, meta, redact)
                counts["metrics.om"] = sum(len(s) for s in raw.values())
        if self.logs is not None:
            records = self.logs.records
            files["logs.jsonl"] = render_jsonl(
                {"ts": r.ts, "labels": redact.data(r.labels), "line": redact(r.line)}
                for r in records
            )
            counts["logs.jsonl"] = len(records)
        if self.snmp is not None:
            vbs = self.snmp.varbinds
            files["snmp.jsonl"] = render_jsonl(
                {"ts": vb.ts, "device": vb.device, "oid": vb.oid, "type": vb.type}
                | {"value": redact(vb.value) if isinstance(vb.value, str) else vb.value}
                for vb in vbs
            )
            counts["snmp.jsonl"] = len(vbs)
        if self.ssh is not None:
            ran = [r for r in self.ssh.results if r.status == "ok"]
            files["ssh.jsonl"] = render_jsonl(_ssh_row(r, observed_at, redact) for r in ran)
            counts["ssh.jsonl"] = len(ran)
            notes += [
                f"ssh: {r.host}$ {r.command} not recorded ({r.status}: {redact(r.reason)})"
                for r in self.ssh.results
                if r.status != "ok"
            ]
        files["alert.json"] = go_json(redact.data(alert))
        files["scenario.yaml"] = render_scenario_yaml(
            _meta(alert, observed_at, window_start, topology, notes, redact)
        )
        self._commit(out, files, redact)
        return RecordingSummary(path=out, files=counts, notes=tuple(notes))

    @staticmethod
    def _commit(out: Path, files: Mapping[str, str], redact: Redactor) -> None:
        for name, text in files.items():
            if redact.leaks(text):
                raise RecordingError(f"{name}: a configured secret survived redaction; not written")
        partial = out.with_name(out.name + ".partial")
        try:
            shutil.rmtree(partial, ignore_errors=True)
            partial.mkdir(parents=True)
            for name, text in files.items():
                (partial / name).write_text(text, encoding="utf-8", newline="\n")
            if out.exists():
                out.rmdir()
            partial.rename(out)
        except OSError as exc:
            shutil.rmtree(partial, ignore_errors=True)
            raise RecordingError(f"cannot write {out}: {exc.strerror or exc}") from exc


def check_empty(out: Path) -> None:
    """Refuse an ``out`` that exists and is not an empty directory.

    Raises:
        RecordingError: it is a file, or a directory with something in it.
    """
    if out.exists() and (not out.is_dir() or any(out.iterdir())):
        raise RecordingError(f"{out} already exists and is not an empty directory")


def _ssh_row(r: CommandResult, observed_at: datetime, redact: Redactor) -> dict[str, Any]:
    # The specialists read each result as the node's state at the diagnosis clock, and a
    # replay drops what comes after it: stamp it no later than the clock, keep when it ran.
    ran = r.ts or observed_at
    return {
        "ts": min(ran, observed_at),
        "host": r.host,
        "command": r.command,
        "exit_status": r.exit_status,
        "stdout": redact(r.stdout),
        "stderr": redact(r.stderr),
        "ran_at": rfc3339(ran),
    }


def scenario_id(fingerprint: str, observed_at: datetime) -> str:
    """A neutral id: ``rec_<when>_<fingerprint>`` (nothing about the suspected cause)."""
    fp = re.sub(r"[^0-9a-zA-Z]", "", fingerprint)[:16] or "nofp"
    return f"rec_{observed_at.strftime('%Y%m%dT%H%M%SZ')}_{fp}"


def _meta(
    alert: Mapping[str, Any],
    observed_at: datetime,
    window_start: datetime,
    topology: Topology,
    notes: Sequence[str],
    redact: Redactor,
) -> dict[str, Any]:
    first = (alert.get("alerts") or [{}])[0]
    labels = alert.get("commonLabels") or first.get("labels") or {}
    annotations = alert.get("commonAnnotations") or first.get("annotations") or {}
    name = labels.get("alertname", "alert")
    summary = annotations.get("summary") or annotations.get("description") or ""
    title = f"{name}: {summary}" if summary else f"{name} (recorded live)"
    meta: dict[str, Any] = {
        "schema_version": 1,
        "id": scenario_id(str(first.get("fingerprint", "")), observed_at),
        "title": redact(" ".join(title.split())[:200]),
        "observed_at": rfc3339(observed_at),
        "window": {"start": rfc3339(window_start), "end": rfc3339(observed_at)},
        "topology": redact.data(topology.model_dump(mode="json", exclude_none=True)),
        "tags": ["recorded"],
    }
    if notes:
        meta["recording_notes"] = [redact(n) for n in notes]
    return meta


__all__ = [
    "MASK",
    "MetricMeta",
    "Recorder",
    "RecordingError",
    "RecordingLogs",
    "RecordingMetrics",
    "RecordingSnmp",
    "RecordingSsh",
    "RecordingSummary",
    "RedactingFilter",
    "Redactor",
    "check_empty",
    "fetch_raw",
    "lookback_s",
    "metric_names",
    "render_metrics",
    "scenario_id",
]
