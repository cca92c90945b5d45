"""The control-plane specialist: kube-apiserver load and latency, etcd health, certificates.

It runs the control-plane rows of docs/signals.md as a fixed, deterministic probe plan and
proposes control-plane hypotheses: apiserver_overload, etcd_unhealthy and cert_expired.
Apiserver latency, its 5xx ratio and its timeout lines are symptom findings: slow API
calls are what faults in every other layer cause too (a switch loop, a slow disk), so they
support a cause found here but never make a hypothesis on their own. apiserver_overload
needs a request surge; etcd slowness that only begins with such a surge is its load, not
an unhealthy etcd.

Onsets: a cause's signal (a request surge) is dated when it left its normal level
(``rise_start``); a symptom's when it crossed its threshold, so that no symptom is dated
before its cause. A hypothesis is dated by its cause findings.

It must not decide what is a symptom of what across layers (reconciliation does), never
keys on scenario names or ground truth, and treats log lines as data: they are only
matched against fixed patterns and counted.
"""

from __future__ import annotations

import re
from collections import defaultdict
from collections.abc import Sequence
from datetime import datetime, timedelta
from itertools import pairwise
from typing import ClassVar

from agents.models import Finding, Hypothesis
from agents.signals import (
    Point,
    finite,
    first_crossing,
    hhmm,
    median,
    noisy_or,
    rise_start,
    single_series,
    split_baseline,
    strength_at,
)
from agents.specialist import ProbeContext, Specialist
from agents.workload import node_name
from tools.logs.base import LogQuery, LogRecord
from tools.metrics.base import Series
from tools.metrics.promql import selector
from tools.topology import Topology

__all__ = [
    "APISERVER_P99_S",
    "CERT_LOG_LINES",
    "ERROR_RATIO",
    "ETCD_COMMIT_P99_S",
    "ETCD_LEADER_CHANGES",
    "ETCD_LOG_LINES",
    "REQUEST_SURGE_RATIO",
    "ControlPlaneSpecialist",
]

# Thresholds: docs/signals.md, section "control-plane". Change them there and here together.
APISERVER_P99_S = 1.0
"""Apiserver p99 request latency (non-streaming verbs) that is abnormal."""
REQUEST_SURGE_RATIO = 3.0
"""Apiserver request rate, as a multiple of its early-window median, that is a surge."""
REQUEST_FLOOR_RPS = 1.0
"""Early-window request rates below this count as this (no surge from an idle apiserver)."""
DEPARTURE_RATIO = 1.25
"""A surge's onset is when the rate first left this multiple of its baseline."""
ERROR_RATIO = 0.05
"""Share of apiserver responses that are 5xx that is abnormal."""
ETCD_LEADER_CHANGES = 2
"""etcd leader changes within the window that are abnormal."""
ETCD_COMMIT_P99_S = 0.25
"""etcd backend commit p99 (seconds) that is abnormal."""
ETCD_LOG_LINES = 3
"""etcd slow-apply / leader-change / slow-fdatasync lines that are abnormal."""
CERT_LOG_LINES = 3
"""``x509: certificate has expired`` lines (any app) that are abnormal."""
CERTS_TOGETHER_S = 300.0
"""Certificates that expired within this long of the first of them were issued together (as
kubeadm issues its certificates) and are one cert_expired fault."""
SURGE_ALONE_FACTOR = 0.5
"""A request surge with no latency, 5xx or timeouts behind it is busy, not overloaded."""
CONCURRENT_S = 90.0
"""A symptom starting up to this long before its cause still counts as caused by it."""
SCORE_CAP = 0.95
"""No hypothesis is ever certain from telemetry alone."""

_WEIGHTS: dict[str, float] = {
    "apiserver_request_surge": 1.0,
    "etcd_no_leader": 1.0,
    "etcd_leader_changes": 1.0,
    "etcd_commit_latency": 1.0,
    "etcd_log_lines": 0.8,
    "cert_expired": 1.0,
    "x509_expired_lines": 0.9,
}
_SUPPORT_WEIGHTS: dict[str, float] = {"apiserver_etcd_timeouts": 0.6, "x509_expired_lines": 0.6}
_SYMPTOM_WEIGHT = 0.6
"""Latency, 5xx and timeouts (and load on etcd) count this much towards the cause they follow."""

_NON_STREAMING = ("verb", "!~", "WATCH|CONNECT")
_APISERVER_LINES = (
    r"Timeout: request did not complete|apiserver received an error that is not an "
    r"metav1\.Status|etcdserver: request timed out"
)
_ETCD_LINES = (
    r"apply (?:request|entries) took too long|leader changed|changed leader|lost leader"
    r"|slow fdatasync"
)
_X509_EXPIRED = "x509: certificate has expired or is not yet valid"


def _pointwise_max(series: Sequence[Series]) -> list[Point]:
    """The highest value of any series at each timestamp."""
    top: dict[datetime, float] = {}
    for s in series:
        for t, v in finite(s.points):
            top[t] = max(v, top.get(t, v))
    return sorted(top.items())


def _increases(points: Sequence[Point]) -> list[tuple[datetime, int]]:
    """Counter increases between samples, stamped at the sample that saw them (resets: the
    value after the reset is the increase)."""
    out: list[tuple[datetime, int]] = []
    for (_, a), (t, b) in pairwise(points):
        d = round(b - a if b >= a else b)
        if d > 0:
            out.append((t, d))
    return out


def _dur(seconds: float) -> str:
    return f"{seconds * 1000:.0f} ms" if seconds < 1 else f"{seconds:.1f} s"


def _ago(seconds: float) -> str:
    if seconds < 3600:
        return f"{seconds / 60:.0f} min"
    return f"{seconds / 3600:.0f} h" if seconds < 48 * 3600 else f"{seconds / 86400:.0f} d"


def apiserver_name(topology: Topology) -> str:
    """The apiserver's name from topology (a service of kind ``apiserver``), else kube-apiserver."""
    services = topology.services_of_kind("apiserver")
    return services[0].name if services else "kube-apiserver"


def etcd_name(topology: Topology) -> str:
    """etcd's name from topology (a service of kind ``etcd``), else etcd."""
    services = topology.services_of_kind("etcd")
    return services[0].name if services else "etcd"


class ControlPlaneSpecialist(Specialist):
    """Investigates the Kubernetes control plane: apiserver, etcd and certificates."""

    layer: ClassVar[str] = "control-plane"
    description_text: ClassVar[str] = (
        "Control-plane specialist: apiserver request rate, latency and errors, etcd "
        "leadership and commit latency, and expired x509 certificates."
    )

    async def probe(self, ctx: ProbeContext) -> None:
        """Run the control-plane baseline plan, in a fixed order (evidence ids stay stable)."""
        await self._latency(ctx)
        await self._request_rate(ctx)
        await self._errors(ctx)
        await self._apiserver_lines(ctx)
        await self._etcd_leader(ctx)
        await self._etcd_commit(ctx)
        await self._etcd_lines(ctx)
        await self._certificates(ctx)
        await self._x509_lines(ctx)

    # -- apiserver --------------------------------------------------------------------

    async def _latency(self, ctx: ProbeContext) -> None:
        # Per verb and resource, as KubeAPILatencyHigh reads it: the worst series counts,
        # and the summary names it.
        buckets = selector("apiserver_request_duration_seconds_bucket", _NON_STREAMING)
        series, eid = await ctx.metric_range(
            f"histogram_quantile(0.99, sum by (le, verb, resource) (rate({buckets}[5m])))"
        )
        if not _pointwise_max(series):
            # kube-prometheus keeps the quantile as a recording rule (what KubeAPILatencyHigh
            # reads) and may drop the raw buckets.
            rule = selector(
                "cluster_quantile:apiserver_request_duration_seconds:histogram_quantile",
                ("quantile", "=", "0.99"),
                _NON_STREAMING,
            )
            series, eid = await ctx.metric_range(f"max by (verb, resource) ({rule})")
        what = ""
        if series:
            worst = max(series, key=lambda s: max((v for _, v in finite(s.points)), default=0.0))
            if "verb" in worst.labels or "resource" in worst.labels:
                verb, resource = worst.labels.get("verb", "?"), worst.labels.get("resource", "?")
                what = f" (worst: {verb} {resource})"
        pts = _pointwise_max(series)
        onset = first_crossing(pts, APISERVER_P99_S - 1e-9)
        if onset is None:
            return
        base = median([v for _, v in split_baseline(pts)[0]])
        peak = max(v for t, v in pts if t >= onset)
        ctx.add_finding(
            f"apiserver p99 latency {_dur(peak)}{what}, was {_dur(base)} "
            f"(≥ {_dur(APISERVER_P99_S)} from {hhmm(onset)})",
            [eid],
            strength_at(peak, APISERVER_P99_S, 10.0),
            kind="apiserver_latency",
            component=apiserver_name(ctx.incident.topology),
            onset=onset,
        )

    async def _request_rate(self, ctx: ProbeContext) -> None:
        total = "sum(rate(apiserver_request_total[2m]))"
        series, eid = await ctx.metric_range(total)
        pts = single_series(series)
        if len(pts) < 3:
            return
        base_pts, recent = split_baseline(pts)
        base = max(median([v for _, v in base_pts]), REQUEST_FLOOR_RPS)
        crossed = first_crossing(recent, REQUEST_SURGE_RATIO * base - 1e-9)
        if crossed is None:
            return
        peak = max(v for t, v in recent if t >= crossed)
        onset = rise_start(pts, crossed, base * DEPARTURE_RATIO)
        cites = [eid]
        top = ""
        by, by_eid = await ctx.metric_range(
            "sum by (resource, verb) (rate(apiserver_request_total[2m]))"
        )
        grown: list[tuple[float, str]] = []
        for s in by:
            spts = finite(s.points)
            if len(spts) < 3:
                continue
            b, r = split_baseline(spts)
            growth = max((v for _, v in r), default=0.0) - median([v for _, v in b])
            grown.append((growth, f"{s.labels.get('verb', '?')} {s.labels.get('resource', '?')}"))
        if grown:
            cites.append(by_eid)
            growth, name = max(grown)
            top = f"; most of it {name} (+{growth:.0f}/s)"
        ctx.add_finding(
            f"apiserver requests ×{peak / base:.1f} ({base:.0f} → {peak:.0f}/s from "
            f"{hhmm(onset)}){top}",
            cites,
            strength_at(peak / base, REQUEST_SURGE_RATIO, 10.0),
            kind="apiserver_request_surge",
            component=apiserver_name(ctx.incident.topology),
            onset=onset,
        )

    async def _errors(self, ctx: ProbeContext) -> None:
        five = selector("apiserver_request_total", ("code", "=~", "5.."))
        series, eid = await ctx.metric_range(
            f"sum(rate({five}[5m])) / sum(rate(apiserver_request_total[5m]))"
        )
        pts = single_series(series)
        onset = first_crossing(pts, ERROR_RATIO - 1e-9)
        if onset is None:
            return
        peak = max(v for t, v in pts if t >= onset)
        ctx.add_finding(
            f"apiserver 5xx {peak:.0%} of responses (from {hhmm(onset)})",
            [eid],
            strength_at(peak, ERROR_RATIO, 0.5),
            kind="apiserver_5xx",
            component=apiserver_name(ctx.incident.topology),
            onset=onset,
        )

    async def _apiserver_lines(self, ctx: ProbeContext) -> None:
        records, eid = await ctx.logs(
            ctx.log_query({"app": "kube-apiserver"}, regex=_APISERVER_LINES)
        )
        etcd = [r for r in records if "etcdserver: request timed out" in r.line]
        timeouts = [r for r in records if "etcdserver: request timed out" not in r.line]
        name = apiserver_name(ctx.incident.topology)
        if timeouts:
            ctx.add_finding(
                f"kube-apiserver: {len(timeouts)} request timeout line(s) "
                f"(from {hhmm(timeouts[0].ts)})",
                [eid],
                strength_at(len(timeouts), 1, 50),
                kind="apiserver_timeouts",
                component=name,
                onset=timeouts[0].ts,
            )
        if etcd:
            ctx.add_finding(
                f"kube-apiserver: {len(etcd)} 'etcdserver: request timed out' line(s) "
                f"(from {hhmm(etcd[0].ts)})",
                [eid],
                strength_at(len(etcd), 1, 50),
                kind="apiserver_etcd_timeouts",
                component=etcd_name(ctx.incident.topology),
                onset=etcd[0].ts,
            )

    # -- etcd -------------------------------------------------------------------------

    async def _etcd_leader(self, ctx: ProbeContext) -> None:
        topo = ctx.incident.topology
        name = etcd_name(topo)
        series, eid = await ctx.metric_range("min by (instance) (etcd_server_has_leader)")
        lost = []
        for s in series:
            onset = first_crossing(finite(s.points), 0.5, above=False)
            if onset is not None:
                lost.append((onset, node_name(s.labels.get("instance", "?"), topo)))
        if lost:
            onset = min(t for t, _ in lost)
            members = ", ".join(sorted({m for _, m in lost})[:3])
            ctx.add_finding(
                f"etcd member(s) without a leader: {members} (from {hhmm(onset)})",
                [eid],
                0.9,
                kind="etcd_no_leader",
                component=name,
                onset=onset,
            )
        series, eid = await ctx.metric_range(
            "max by (instance) (etcd_server_leader_changes_seen_total)"
        )
        changes: list[tuple[int, datetime]] = []
        for s in series:
            seen = _increases(finite(s.points))
            if seen:
                changes.append((sum(d for _, d in seen), seen[0][0]))
        if not changes:
            return
        count = max(n for n, _ in changes)
        if count < ETCD_LEADER_CHANGES:
            return
        onset = min(t for _, t in changes)
        ctx.add_finding(
            f"etcd leader changed {count} times (from {hhmm(onset)})",
            [eid],
            strength_at(count, ETCD_LEADER_CHANGES, 10),
            kind="etcd_leader_changes",
            component=name,
            onset=onset,
        )

    async def _etcd_commit(self, ctx: ProbeContext) -> None:
        buckets = selector("etcd_disk_backend_commit_duration_seconds_bucket")
        series, eid = await ctx.metric_range(
            f"histogram_quantile(0.99, sum by (instance, le) (rate({buckets}[5m])))"
        )
        hits: list[tuple[datetime, float, str]] = []
        for s in series:
            pts = finite(s.points)
            onset = first_crossing(pts, ETCD_COMMIT_P99_S - 1e-9)
            if onset is not None:
                peak = max(v for t, v in pts if t >= onset)
                hits.append(
                    (onset, peak, node_name(s.labels.get("instance", "?"), ctx.incident.topology))
                )
        if not hits:
            return
        onset = min(h[0] for h in hits)
        peak, member = max((h[1], h[2]) for h in hits)
        ctx.add_finding(
            f"etcd backend commit p99 {_dur(peak)} on {member} "
            f"(≥ {_dur(ETCD_COMMIT_P99_S)} from {hhmm(onset)})",
            [eid],
            strength_at(peak, ETCD_COMMIT_P99_S, 2.0),
            kind="etcd_commit_latency",
            component=etcd_name(ctx.incident.topology),
            onset=onset,
        )

    async def _etcd_lines(self, ctx: ProbeContext) -> None:
        records, eid = await ctx.logs(ctx.log_query({"app": "etcd"}, regex=_ETCD_LINES))
        if len(records) < ETCD_LOG_LINES:
            return
        kinds = sorted({m[0] for r in records if (m := re.search(_ETCD_LINES, r.line))})
        ctx.add_finding(
            f"etcd: {len(records)} '{', '.join(kinds[:3])}' lines (from {hhmm(records[0].ts)})",
            [eid],
            strength_at(len(records), ETCD_LOG_LINES, 60),
            kind="etcd_log_lines",
            component=etcd_name(ctx.incident.topology),
            onset=records[0].ts,
        )

    # -- certificates -----------------------------------------------------------------

    async def _certificates(self, ctx: ProbeContext) -> None:
        samples, eid = await ctx.metric_instant("(x509_cert_not_after - time()) < 0")
        for s in sorted(samples, key=lambda s: s.value):
            labels = s.labels
            cn = labels.get("subject_CN") or labels.get("secret_name") or "certificate"
            where = labels.get("filepath") or "/".join(
                p for p in (labels.get("secret_namespace"), labels.get("secret_name")) if p
            )
            expired = ctx.end + timedelta(seconds=s.value)
            recent = expired >= ctx.start
            ctx.add_finding(
                f"certificate CN={cn}"
                + (f" ({where})" if where else "")
                + f" expired at {hhmm(expired)}, {_ago(-s.value)} before the diagnosis clock",
                [eid],
                0.9 if recent else 0.75,
                kind="cert_expired",
                component=cn,
                onset=expired,
            )

    async def _x509_lines(self, ctx: ProbeContext) -> None:
        query = LogQuery.model_validate(
            {
                "matchers": [{"label": "app", "op": "=~", "value": ".+"}],
                "filters": [{"op": "|=", "value": _X509_EXPIRED}],
                "start": ctx.start,
                "end": ctx.end,
            }
        )
        records, eid = await ctx.logs(query)
        if len(records) < CERT_LOG_LINES:
            return
        by_app: dict[str, list[LogRecord]] = defaultdict(list)
        for r in records:
            by_app[r.labels.get("app", "?")].append(r)
        apps = ", ".join(
            f"{a} ×{len(v)}" for a, v in sorted(by_app.items(), key=lambda kv: -len(kv[1]))[:4]
        )
        certs = sorted({f.component or "" for f in ctx.findings_of("cert_expired")})
        # Which certificate the clients reject: the one the metrics name, else the apiserver's.
        component = certs[0] if len(certs) == 1 else apiserver_name(ctx.incident.topology)
        ctx.add_finding(
            f"{len(records)} 'x509: certificate has expired' lines ({apps}; "
            f"from {hhmm(records[0].ts)})",
            [eid],
            strength_at(len(records), CERT_LOG_LINES, 60),
            kind="x509_expired_lines",
            component=component,
            onset=records[0].ts,
        )

    # -- hypotheses -------------------------------------------------------------------

    def hypothesize(self, ctx: ProbeContext) -> list[Hypothesis]:
        """Findings to hypotheses; latency, 5xx and timeouts alone propose nothing."""
        topo = ctx.incident.topology
        out: list[Hypothesis] = []
        symptoms = ctx.findings_of("apiserver_latency", "apiserver_5xx", "apiserver_timeouts")

        def propose(
            fault: str, component: str, causes: list[Finding], support: list[Finding]
        ) -> Hypothesis:
            score = noisy_or(
                [(f.strength, _WEIGHTS.get(f.kind, 1.0)) for f in causes]
                + [(f.strength, _SUPPORT_WEIGHTS.get(f.kind, _SYMPTOM_WEIGHT)) for f in support],
                SCORE_CAP,
            )
            h = ctx.hypothesis(fault, component, causes + support, score)
            onsets = [f.onset for f in causes if f.onset is not None]
            return h.model_copy(update={"onset": min(onsets) if onsets else h.onset})

        surge = ctx.findings_of("apiserver_request_surge")[:1]
        etcd = ctx.findings_of(
            "etcd_no_leader", "etcd_leader_changes", "etcd_commit_latency", "etcd_log_lines"
        )
        if surge:
            start = surge[0].onset
            # etcd slowness that begins with the surge is the surge's load on it (a lost
            # leader is not).
            leaderless = ctx.findings_of("etcd_no_leader", "etcd_leader_changes")
            load = [] if leaderless else _after(etcd, start, slack_s=0.0)
            etcd = [f for f in etcd if f not in load]
            effects = _after(symptoms, start)
            h = propose("apiserver_overload", apiserver_name(topo), surge, effects + load)
            if not effects:
                h = h.model_copy(update={"score": round(h.score * SURGE_ALONE_FACTOR, 3)})
            out.append(h)
        if etcd:
            start = min((f.onset for f in etcd if f.onset is not None), default=None)
            support = ctx.findings_of("apiserver_etcd_timeouts") + _after(symptoms, start)
            out.append(propose("etcd_unhealthy", etcd_name(topo), etcd, support))
        lines = ctx.findings_of("x509_expired_lines")
        batches = _issued_together(ctx.findings_of("cert_expired"))
        api = {apiserver_name(topo), "kube-apiserver"}
        for batch in batches:
            # One fault per batch, named after the apiserver's certificate when it is in it
            # (what clients reject), else the first to expire; scored on that one (a batch
            # expiring together is one piece of evidence), citing all of them.
            named = next((f for f in batch if f.component in api), batch[0])
            h = propose("cert_expired", named.component or "certificate", [named], lines)
            cited = dict.fromkeys(f.id for f in [named, *batch, *lines])
            out.append(h.model_copy(update={"findings": tuple(cited), "onset": batch[0].onset}))
        if lines and not batches:
            out.append(
                propose("cert_expired", lines[0].component or apiserver_name(topo), lines, [])
            )
        out.sort(key=lambda h: -h.score)
        return out


def _issued_together(certs: Sequence[Finding]) -> list[list[Finding]]:
    """Expired-certificate findings in batches that expired within ``CERTS_TOGETHER_S`` of
    the batch's first, each batch in expiry order (an undated one is a batch of its own)."""
    batches: list[list[Finding]] = []
    for f in sorted(certs, key=lambda f: f.onset.timestamp() if f.onset else float("inf")):
        first = batches[-1][0].onset if batches else None
        if first and f.onset and (f.onset - first).total_seconds() <= CERTS_TOGETHER_S:
            batches[-1].append(f)
        else:
            batches.append([f])
    return batches


def _after(
    findings: Sequence[Finding], start: datetime | None, slack_s: float = CONCURRENT_S
) -> list[Finding]:
    """The findings that began no earlier than ``start`` (less ``slack_s``)."""
    if start is None:
        return list(findings)
    edge = start - timedelta(seconds=slack_s)
    return [f for f in findings if f.onset is None or f.onset >= edge]
