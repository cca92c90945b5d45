"""The DNS specialist: the cluster resolver (CoreDNS) as its metrics and logs show it.

It runs the baseline probe plan of docs/signals.md (section "dns") and proposes DNS
hypotheses: query_flood (naming the client that floods), upstream_failure,
resolver_down and misconfiguration. It reports what it sees in its own layer only:
whether DNS errors are a symptom of something upstream (a network fault, a node
failure) is decided by reconciliation, not here.

It must not change anything, must not key on scenario names or ground truth, and must
not treat log text as instructions: query-log and error lines are only parsed with
fixed patterns into addresses, counts and times.
"""

from __future__ import annotations

import math
import re
from collections import Counter
from collections.abc import Sequence
from datetime import datetime, timedelta
from itertools import pairwise

from agents.models import Finding, Hypothesis
from agents.signals import (
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
from agents.workload import workload_name
from tools.metrics.promql import selector
from tools.topology import Topology

__all__ = [
    "CLIENT_SHARE",
    "NXDOMAIN_RATIO",
    "RESTARTS",
    "SERVFAIL_RATIO",
    "SURGE_RATIO",
    "TIMEOUT_LINES",
    "DnsSpecialist",
    "parse_query_line",
    "parse_timeout_line",
]

# Thresholds: docs/signals.md, section "dns". Change them there and here together.
SURGE_RATIO = 2.5
"""Request rate, as a multiple of its early-window median, that is a surge."""
DEPARTURE_RATIO = 1.25
"""A surge's onset is when the rate first left this multiple of its baseline."""
SURGE_FLOOR_RPS = 0.5
"""Early-window request rates below this count as this (no surge from an idle resolver)."""
CLIENT_SHARE = 0.4
"""Share of logged queries from one client that makes it dominant ..."""
CLIENT_MIN_QUERIES = 20
"""... among at least this many logged queries."""
TIMEOUT_LINES = 5
"""Upstream ``i/o timeout`` error lines that are abnormal."""
SERVFAIL_RATIO = 0.03
"""SERVFAIL share of responses (served or forwarded) that is abnormal."""
RESTARTS = 1
"""CoreDNS container restarts within the window that are abnormal."""
NXDOMAIN_RATIO = 0.5
"""NXDOMAIN share of responses that is abnormal (when it rose to it) ..."""
NXDOMAIN_RISE = 1.5
"""... from an early-window share at least this many times smaller."""
PROBE_ANSWERED_SHARE = 0.5
"""Share of blackbox DNS probe queries answered over 30 s at or below which, still at the
diagnosis clock, the resolver is not answering."""

SCORE_CAP = 0.97
"""No hypothesis is ever certain from telemetry alone."""

_WEIGHTS: dict[str, float] = {
    "dns_request_surge": 1.0,
    "dns_dominant_client": 1.0,
    "dns_upstream_timeouts": 1.0,
    "dns_servfail_ratio": 0.8,
    "dns_forward_servfail_ratio": 0.9,
    "dns_restarts": 1.0,
    "dns_oomkilled": 1.0,
    "dns_nxdomain_ratio": 1.0,
    "dns_probe_unanswered": 1.0,
}
_CONSEQUENCE_WEIGHT = 0.4
"""Restarts / OOM kills count this much towards a flood that explains them."""

_RANGE_S = 120
_RANGE = f"{_RANGE_S // 60}m"

# [INFO] 10.42.1.17:51234 - 1234 "A IN name. udp 77 false 512" NOERROR qr,rd 106 0.0001s
_QUERY_LINE = re.compile(
    r"\[INFO\] \[?(?P<ip>[0-9A-Fa-f.:]+?)\]?:(?P<port>\d+) - (?P<id>\d+) "
    r'"(?P<type>\S+) (?P<cls>\S+) (?P<name>\S+) (?P<proto>\S+) (?P<size>\d+) '
    r'(?P<do>\S+) (?P<bufsize>\d+)" (?P<rcode>[A-Z]+)'
)
_QUERY_FILTER = r'\[INFO\] \S+:[0-9]+ - [0-9]+ "'
# [ERROR] plugin/errors: 2 example.com. A: read udp 10.42.0.5:45678->10.0.0.1:53: i/o timeout
_TIMEOUT_LINE = re.compile(r"(?:udp|tcp) (?P<src>\S+?)->(?P<dst>\S+?):? i/o timeout")


def parse_query_line(line: str) -> tuple[str, str, str] | None:
    """(client IP, query type, rcode) of a CoreDNS ``log`` plugin line, else None."""
    m = _QUERY_LINE.search(line)
    return (m["ip"], m["type"], m["rcode"]) if m else None


def parse_timeout_line(line: str) -> str | None:
    """The upstream ``address:port`` of an ``i/o timeout`` error line, else None."""
    m = _TIMEOUT_LINE.search(line)
    return m["dst"] if m else None


def _coredns_rate(metric: str, *matchers: tuple[str, str, str]) -> str:
    """Per-second rate of a CoreDNS counter, from either label convention, de-duplicated.

    ``or`` keeps one copy of a series that carries both ``job="coredns"`` and
    ``k8s_app="kube-dns"``.
    """
    by_job = selector(metric, ("job", "=", "coredns"), *matchers)
    by_app = selector(metric, ("k8s_app", "=", "kube-dns"), *matchers)
    return f"(rate({by_job}[{_RANGE}]) or rate({by_app}[{_RANGE}]))"


def _ratio_query(metric: str, rcode: str) -> str:
    part = _coredns_rate(metric, ("rcode", "=", rcode))
    return f"(sum({part}) or vector(0)) / sum({_coredns_rate(metric)})"


def dns_service(topology: Topology) -> str:
    """The cluster DNS service's name from topology, else ``coredns``."""
    services = topology.services_of_kind("dns")
    return services[0].name if services else "coredns"


def client_name(ip: str, topology: Topology) -> str:
    """The workload behind a client IP (via topology pods), else the IP itself."""
    pod = topology.pod_by_ip(ip)
    return workload_name(pod.name) if pod is not None else ip


class DnsSpecialist(Specialist):
    """Investigates the cluster DNS resolver."""

    layer = "dns"
    description_text = (
        "DNS specialist: CoreDNS request rate, top clients, upstream timeouts, "
        "SERVFAIL / NXDOMAIN ratios and resolver restarts."
    )

    async def probe(self, ctx: ProbeContext) -> None:
        """Request rate, query-log clients, upstream errors, rcode ratios, restarts."""
        await self._probe_request_rate(ctx)
        await self._probe_clients(ctx)
        await self._probe_timeouts(ctx)
        await self._probe_servfail(ctx)
        await self._probe_restarts(ctx)
        await self._probe_nxdomain(ctx)
        await self._probe_blackbox(ctx)

    async def _probe_request_rate(self, ctx: ProbeContext) -> None:
        series, eid = await ctx.metric_range(f"sum({_coredns_rate('coredns_dns_requests_total')})")
        pts = single_series(series)
        if len(pts) < 3:
            return
        base_pts, recent = split_baseline(pts)
        base = max(median([v for _, v in base_pts]), SURGE_FLOOR_RPS)
        crossed = first_crossing(recent, SURGE_RATIO * base - 1e-9)
        if crossed is None:
            return
        peak = max(v for t, v in recent if t >= crossed)
        ratio = peak / base
        onset = rise_start(pts, crossed, base * DEPARTURE_RATIO)
        ctx.add_finding(
            f"CoreDNS requests ×{ratio:.1f} ({base:.0f} → {peak:.0f}/s, from {hhmm(onset)})",
            [eid],
            strength_at(ratio, SURGE_RATIO, 20),
            kind="dns_request_surge",
            component=dns_service(ctx.incident.topology),
            onset=onset,
        )

    async def _probe_clients(self, ctx: ProbeContext) -> None:
        records, eid = await ctx.logs(ctx.log_query({"app": "coredns"}, regex=_QUERY_FILTER))
        # A flood that began late is diluted by the quiet queries before it: with a surge,
        # the share counts only the queries since its onset (less the rate's range, over
        # which the onset may lag the first flooding query).
        surge = ctx.findings_of("dns_request_surge")
        onset = surge[0].onset if surge else None
        since = onset - timedelta(seconds=_RANGE_S) if onset is not None else None
        counts: Counter[str] = Counter()
        for rec in records:
            if since is not None and rec.ts < since:
                continue
            parsed = parse_query_line(rec.line)
            if parsed is not None:
                counts[parsed[0]] += 1
        total = sum(counts.values())
        if total < CLIENT_MIN_QUERIES:
            return
        ip, top = counts.most_common(1)[0]
        share = top / total
        if share < CLIENT_SHARE:
            return
        topo = ctx.incident.topology
        name = client_name(ip, topo)
        who = f"{name} ({ip})" if name != ip else ip
        runners = ", ".join(
            f"{client_name(other, topo)} {n / total:.0%}" for other, n in counts.most_common(3)[1:]
        )
        ctx.add_finding(
            f"{who} sent {share:.0%} of {total} logged DNS queries"
            + (f" since {hhmm(since)}" if since is not None else "")
            + (f" (next: {runners})" if runners else ""),
            [eid],
            strength_at(share, CLIENT_SHARE, 0.9),
            kind="dns_dominant_client",
            component=name,
            # A share of the logged queries has no start of its own: the surge dates it.
            onset=None,
        )

    async def _probe_timeouts(self, ctx: ProbeContext) -> None:
        records, eid = await ctx.logs(ctx.log_query({"app": "coredns"}, "i/o timeout"))
        upstreams: Counter[str] = Counter()
        times: list[datetime] = []
        for rec in records:
            upstream = parse_timeout_line(rec.line)
            if upstream is None:
                continue
            upstreams[upstream] += 1
            times.append(rec.ts)
        count = len(times)
        if count < TIMEOUT_LINES:
            return
        listed = ", ".join(f"{u} ×{n}" for u, n in upstreams.most_common(3))
        onset = min(times)
        ctx.add_finding(
            f"CoreDNS: {count} upstream i/o timeouts to {listed} (from {hhmm(onset)})",
            [eid],
            strength_at(count, TIMEOUT_LINES, 200),
            kind="dns_upstream_timeouts",
            component=dns_service(ctx.incident.topology),
            onset=onset,
        )

    async def _probe_servfail(self, ctx: ProbeContext) -> None:
        for metric, kind, what in (
            ("coredns_dns_responses_total", "dns_servfail_ratio", "responses"),
            ("coredns_forward_responses_total", "dns_forward_servfail_ratio", "forwarded"),
        ):
            series, eid = await ctx.metric_range(_ratio_query(metric, "SERVFAIL"))
            pts = single_series(series)
            onset = first_crossing(pts, SERVFAIL_RATIO - 1e-9)
            if onset is None:
                continue
            peak = max(v for t, v in pts if t >= onset)
            ctx.add_finding(
                f"CoreDNS SERVFAIL {peak:.0%} of {what} (from {hhmm(onset)})",
                [eid],
                strength_at(peak, SERVFAIL_RATIO, 0.5),
                kind=kind,
                component=dns_service(ctx.incident.topology),
                onset=onset,
            )

    async def _probe_restarts(self, ctx: ProbeContext) -> None:
        topo = ctx.incident.topology
        restarts_q = (
            "max by (namespace, pod) ("
            + selector("kube_pod_container_status_restarts_total", container="coredns")
            + ")"
        )
        series, eid = await ctx.metric_range(restarts_q)
        total = 0
        onsets: list[datetime] = []
        pods: list[str] = []
        for s in series:
            pts = [(t, v) for t, v in s.points if math.isfinite(v)]
            if not pts:
                continue
            n = 0
            for (_, a), (t, b) in pairwise(pts):
                if b > a:
                    n += round(b - a)
                    onsets.append(t)
            if pts[0][0] > ctx.start + timedelta(seconds=2 * ctx.step_s) and pts[0][1] > 0:
                # A pod that appeared mid-window already restarted: count those too.
                n += round(pts[0][1])
                onsets.append(pts[0][0])
            if n:
                total += n
                pods.append(s.labels.get("pod", "?"))
        oom_q = (
            "max by (namespace, pod) ("
            + selector(
                "kube_pod_container_status_last_terminated_reason",
                container="coredns",
                reason="OOMKilled",
            )
            + ")"
        )
        oom_series, oom_eid = await ctx.metric_range(oom_q)
        oom_pods: list[str] = []
        oom_onsets: list[datetime] = []
        for s in oom_series:
            pts = [(t, v) for t, v in s.points if math.isfinite(v)]
            hit = next((t for t, v in pts if v >= 1), None)
            if hit is None:
                continue
            # A reason left over from before the window only counts with restarts in it.
            fresh = any(v < 1 for t, v in pts if t < hit) or hit > ctx.start + timedelta(
                seconds=2 * ctx.step_s
            )
            if fresh or total:
                oom_pods.append(s.labels.get("pod", "?"))
                oom_onsets.append(hit)
        if total >= RESTARTS:
            onset = min(onsets)
            ctx.add_finding(
                f"CoreDNS restarted {total} times ({', '.join(sorted(pods)[:3])}; "
                f"from {hhmm(onset)})",
                [eid],
                strength_at(total, RESTARTS, 6),
                kind="dns_restarts",
                component=dns_service(topo),
                onset=onset,
            )
        if oom_pods:
            onset = min(oom_onsets)
            ctx.add_finding(
                f"CoreDNS OOMKilled ({', '.join(sorted(oom_pods)[:3])}; from {hhmm(onset)})",
                [oom_eid],
                0.8 if len(oom_pods) == 1 else 0.9,
                kind="dns_oomkilled",
                component=dns_service(topo),
                onset=onset,
            )

    async def _probe_blackbox(self, ctx: ProbeContext) -> None:
        """Blackbox exporter DNS probes (``probe_dns_query_succeeded``): no answer at all."""
        metric = selector("probe_dns_query_succeeded")
        series, eid = await ctx.metric_range(f"avg by (instance) (avg_over_time({metric}[30s]))")
        for s in series:
            pts = [(t, v) for t, v in s.points if math.isfinite(v)]
            onset = first_crossing(pts, PROBE_ANSWERED_SHARE + 1e-9, above=False)
            if onset is None:
                continue
            last = pts[-1][1]
            if last > PROBE_ANSWERED_SHARE:
                continue  # answering again by the diagnosis clock
            target = s.labels.get("instance", "?")
            ctx.add_finding(
                f"DNS probes of {target} unanswered: {1 - last:.0%} of queries failed "
                f"(from {hhmm(onset)})",
                [eid],
                strength_at(1 - last, 1 - PROBE_ANSWERED_SHARE, 1.0),
                kind="dns_probe_unanswered",
                component=dns_service(ctx.incident.topology),
                onset=onset,
            )

    async def _probe_nxdomain(self, ctx: ProbeContext) -> None:
        series, eid = await ctx.metric_range(
            _ratio_query("coredns_dns_responses_total", "NXDOMAIN")
        )
        pts = single_series(series)
        if len(pts) < 3:
            return
        base_pts, recent = split_baseline(pts)
        base = median([v for _, v in base_pts])
        onset = first_crossing(recent, NXDOMAIN_RATIO - 1e-9)
        if onset is None:
            return
        peak = max(v for t, v in recent if t >= onset)
        if base * NXDOMAIN_RISE > peak:
            return  # always this high: the site's normal, not a change
        ctx.add_finding(
            f"CoreDNS NXDOMAIN {peak:.0%} of responses (was {base:.0%}; from {hhmm(onset)})",
            [eid],
            strength_at(peak, NXDOMAIN_RATIO, 0.95),
            kind="dns_nxdomain_ratio",
            component=dns_service(ctx.incident.topology),
            onset=onset,
        )

    def hypothesize(self, ctx: ProbeContext) -> list[Hypothesis]:
        """Findings to hypotheses. A flood claims the restarts it causes."""
        service = dns_service(ctx.incident.topology)
        out: list[Hypothesis] = []

        def score(primary: Sequence[Finding], consequences: Sequence[Finding] = ()) -> float:
            return noisy_or(
                [(f.strength, _WEIGHTS.get(f.kind, 1.0)) for f in primary]
                + [(f.strength, _CONSEQUENCE_WEIGHT) for f in consequences],
                SCORE_CAP,
            )

        surge = ctx.findings_of("dns_request_surge")
        client = ctx.findings_of("dns_dominant_client")
        crash = ctx.findings_of("dns_restarts", "dns_oomkilled")
        flood = bool(surge and client)
        if flood:
            found = surge[:1] + client[:1]
            out.append(
                ctx.hypothesis(
                    "query_flood",
                    client[0].component or service,
                    found + crash,
                    score(found, crash),
                )
            )
        upstream = ctx.findings_of(
            "dns_upstream_timeouts", "dns_servfail_ratio", "dns_forward_servfail_ratio"
        )
        if upstream:
            out.append(ctx.hypothesis("upstream_failure", service, upstream, score(upstream)))
        unanswered = ctx.findings_of("dns_probe_unanswered")
        if (crash or unanswered) and not flood:
            found = crash + unanswered
            out.append(ctx.hypothesis("resolver_down", service, found, score(found)))
        nx = ctx.findings_of("dns_nxdomain_ratio")
        if nx and not flood:
            out.append(ctx.hypothesis("misconfiguration", service, nx, score(nx)))
        out.sort(key=lambda h: -h.score)
        return out
