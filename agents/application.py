"""The application specialist: ingress traffic, upstream timeouts, rollouts and config errors.

It runs the application rows of docs/signals.md as a fixed, deterministic probe plan and
proposes application hypotheses: bad_deploy (a rollout followed within minutes by that
deployment's restarts or 5xx), misconfiguration (config-error lines of a workload right
after its rollout or a ConfigMap change) and dependency_timeout (ingress upstream
timeouts or latency; the component is the slow upstream). A rollout, or a 5xx ratio,
alone proposes nothing.

Onsets: a rollout or ConfigMap change is dated at the first sample that shows it; latency
and 5xx when they crossed their thresholds, so that a symptom is never dated before its
cause. A bad_deploy or misconfiguration is dated by its trigger.

It must not decide what is a symptom of what across layers (a memory leak or a network
fault that makes an upstream slow is reconciled by the coordinator), never keys on
scenario names or ground truth, and treats log lines as data: they are only parsed with
fixed patterns into addresses, names, counts and times.
"""

from __future__ import annotations

import re
from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from itertools import pairwise
from typing import ClassVar

from autogen_core.models import ChatCompletionClient

from agents.models import Finding, Hypothesis, Incident
from agents.signals import (
    Point,
    finite,
    first_crossing,
    hhmm,
    median,
    noisy_or,
    split_baseline,
    strength_at,
)
from agents.specialist import EventFn, ProbeContext, Specialist
from agents.workload import workload_name
from tools.logs.base import LogQuery, LogRecord
from tools.metrics.base import Series
from tools.metrics.promql import selector
from tools.sources import Sources
from tools.topology import Topology

__all__ = [
    "CONFIG_ERROR_LINES",
    "ERROR_RATIO",
    "INGRESS_LATENCY_RISE",
    "INGRESS_P99_S",
    "ROLLOUT_FOLLOW_S",
    "TIMEOUT_LINES",
    "ApplicationSpecialist",
    "parse_upstream",
]

# Thresholds: docs/signals.md, section "application". Change them there and here together.
TIMEOUT_LINES = 5
"""ingress-nginx ``upstream timed out`` lines about one upstream that are abnormal."""
INGRESS_P99_S = 2.0
"""Ingress p99 request latency of a service that is abnormal ..."""
INGRESS_LATENCY_RISE = 5.0
"""... or this multiple of its early-window median ..."""
INGRESS_LATENCY_FLOOR_S = 0.1
"""... where early-window medians below this count as this (no alarm at 0.02 → 0.1 s)."""
ERROR_RATIO = 0.05
"""Share of a service's ingress responses that are 5xx that is abnormal."""
ROLLOUT_FOLLOW_S = 600.0
"""Restarts or 5xx within this long after a rollout make it a bad deploy."""
ROLLOUT_RESTARTS = 2
"""Restarts of a deployment's pods after its rollout that count as "restarting"."""
CONFIG_ERROR_LINES = 3
"""Config-error lines of one workload that are abnormal (after a rollout / ConfigMap change)."""
CONFIG_FOLLOW_S = 600.0
"""Config errors must begin within this long after the rollout or ConfigMap change."""
EARLY_S = 90.0
"""An effect may appear this long before its trigger's sample (scrape timing)."""
MAX_ROLLOUTS = 10
"""Most rolled-out deployments followed up."""
SCORE_CAP = 0.95
"""No hypothesis is ever certain from telemetry alone."""

_WEIGHTS: dict[str, float] = {
    "upstream_timeouts": 1.0,
    "ingress_latency": 0.9,
    "ingress_5xx": 0.5,
    "rollout": 1.0,
    "configmap_change": 1.0,
    "rollout_restarts": 1.0,
    "config_errors": 1.0,
}
_SUPPORT_WEIGHT = 0.5
"""Findings that follow a bad deploy or misconfiguration count this much towards it."""

# 2023/03/08 16:02:40 [error] 31#31: *569 upstream timed out (110: Operation timed out)
# while connecting to upstream, client: …, request: "GET / HTTP/1.1",
# upstream: "http://192.168.215.1:80/", host: "dev-aws.example.com"
_UPSTREAM = re.compile(
    r'upstream: "[a-z]+://(?:\[(?P<ip6>[0-9A-Fa-f:.]+)\]|(?P<ip>[0-9.]+)):(?P<port>\d+)'
)
_WHILE = re.compile(r"upstream timed out \(\d+: [^)]*\) while (?P<what>[a-z ]+?) upstream")
_CONFIG_LINES = r"(?i)invalid configuration|missing required|unknown field|config: "
_ERROR_WORD = re.compile(r"(?i)error|fatal|panic|fail|invalid|unknown|missing|cannot|unable")
_INFRA_APPS = "kernel|kubelet|syslog|etcd|kube-apiserver|coredns|ingress-nginx"


def parse_upstream(line: str) -> tuple[str, int] | None:
    """(IP, port) of the upstream an ingress-nginx error line names, else None."""
    m = _UPSTREAM.search(line)
    return (m["ip6"] or m["ip"], int(m["port"])) if m else None


def upstream_name(ip: str, topology: Topology) -> str | None:
    """The workload behind an upstream pod IP (via topology pods), else None."""
    pod = topology.pod_by_ip(ip)
    return workload_name(pod.name) if pod is not None else None


def _service(labels: dict[str, str]) -> str:
    # A scrape that carries its own ``service`` label renames the metric's to exported_service.
    return labels.get("exported_service") or labels.get("service") or "?"


def _own_configmap_edit(edits: Sequence[Finding], rollout: Finding) -> Finding | None:
    """The edit of the rolled-out workload's own ConfigMap (same namespace, named after it)
    shortly before (or with) the rollout, if any."""
    if rollout.onset is None or not rollout.component:
        return None
    name = rollout.component.lower()
    for f in edits:
        ns_cm = (f.component or "").lower()
        cm = ns_cm.split("/", 1)[-1]
        if f.onset is None or not (cm == name or cm.startswith(name + "-")):
            continue
        ahead = (rollout.onset - f.onset).total_seconds()
        if -EARLY_S <= ahead <= ROLLOUT_FOLLOW_S:
            return f
    return None


def _same(a: str | None, b: str | None) -> bool:
    return bool(a and b) and (a or "").lower() == (b or "").lower()


@dataclass(frozen=True)
class _Trigger:
    """A rollout of a deployment, or a ConfigMap change in a namespace."""

    finding: Finding
    namespace: str
    deployment: str | None
    at: datetime
    what: str
    """How a summary names it: "the rollout of shop/web", "ConfigMap shop/web-config"."""


class ApplicationSpecialist(Specialist):
    """Investigates the workloads behind the ingress: upstreams, rollouts, configuration."""

    layer: ClassVar[str] = "application"
    description_text: ClassVar[str] = (
        "Application specialist: ingress upstream timeouts, latency and 5xx by service, "
        "rollouts followed by restarts or errors, and config errors after a change."
    )

    def __init__(
        self,
        incident: Incident,
        sources: Sources,
        *,
        model_client: ChatCompletionClient | None = None,
        step_s: float = 30.0,
        on_event: EventFn | None = None,
    ) -> None:
        super().__init__(
            incident, sources, model_client=model_client, step_s=step_s, on_event=on_event
        )
        # workload (lower-case) -> the rollout / ConfigMap change its config errors followed
        self._trigger_of: dict[str, Finding] = {}

    async def probe(self, ctx: ProbeContext) -> None:
        """Run the application baseline plan, in a fixed order (evidence ids stay stable)."""
        self._trigger_of.clear()
        await self._ingress_latency(ctx)
        await self._ingress_errors(ctx)
        await self._upstream_timeouts(ctx)
        rollouts = await self._rollouts(ctx)
        await self._rollout_restarts(ctx, rollouts)
        changes = await self._configmap_changes(ctx)
        await self._config_errors(ctx, rollouts + changes)

    # -- ingress ----------------------------------------------------------------------

    async def _ingress_latency(self, ctx: ProbeContext) -> None:
        buckets = selector("nginx_ingress_controller_request_duration_seconds_bucket")
        series, eid = await ctx.metric_range(
            "histogram_quantile(0.99, sum by (le, service, exported_service) "
            f"(rate({buckets}[5m])))"
        )
        for service, s in _by_service(series):
            pts = finite(s.points)
            if len(pts) < 3:
                continue
            base = median([v for _, v in split_baseline(pts)[0]])
            threshold = min(
                INGRESS_P99_S, INGRESS_LATENCY_RISE * max(base, INGRESS_LATENCY_FLOOR_S)
            )
            onset = first_crossing(pts, threshold - 1e-9)
            if onset is None:
                continue
            peak = max(v for t, v in pts if t >= onset)
            ctx.add_finding(
                f"ingress p99 for {service} {peak:.1f} s, was {base:.2f} s (from {hhmm(onset)})",
                [eid],
                strength_at(peak / threshold, 1.0, 10.0),
                kind="ingress_latency",
                component=service,
                onset=onset,
            )

    async def _ingress_errors(self, ctx: ProbeContext) -> None:
        by = "service, exported_service"
        five = selector("nginx_ingress_controller_requests", ("status", "=~", "5.."))
        series, eid = await ctx.metric_range(
            f"sum by ({by}) (rate({five}[5m])) / "
            f"sum by ({by}) (rate(nginx_ingress_controller_requests[5m]))"
        )
        for service, s in _by_service(series):
            pts = finite(s.points)
            onset = first_crossing(pts, ERROR_RATIO - 1e-9)
            if onset is None:
                continue
            peak = max(v for t, v in pts if t >= onset)
            ctx.add_finding(
                f"ingress 5xx for {service} {peak:.0%} of responses (from {hhmm(onset)})",
                [eid],
                strength_at(peak, ERROR_RATIO, 0.5),
                kind="ingress_5xx",
                component=service,
                onset=onset,
            )

    async def _upstream_timeouts(self, ctx: ProbeContext) -> None:
        records, eid = await ctx.logs(ctx.log_query({"app": "ingress-nginx"}, "upstream timed out"))
        topo = ctx.incident.topology
        slow = {f.component for f in ctx.findings_of("ingress_latency") if f.component}
        by_upstream: dict[str, list[LogRecord]] = defaultdict(list)
        addresses: dict[str, set[str]] = defaultdict(set)
        phases: dict[str, set[str]] = defaultdict(set)
        for r in records:
            parsed = parse_upstream(r.line)
            if parsed is None:
                continue
            ip, port = parsed
            # The pod's workload, else the one slow service the metrics show, else the address.
            name = upstream_name(ip, topo) or (next(iter(slow)) if len(slow) == 1 else None)
            name = name or f"{ip}:{port}"
            by_upstream[name].append(r)
            addresses[name].add(f"{ip}:{port}")
            if m := _WHILE.search(r.line):
                phases[name].add(m["what"])
        for name, lines in sorted(by_upstream.items(), key=lambda kv: -len(kv[1])):
            if len(lines) < TIMEOUT_LINES:
                continue
            where = ", ".join(sorted(addresses[name])[:3])
            what = " / ".join(sorted(phases[name])) or "talking to"
            ctx.add_finding(
                f"ingress-nginx: {len(lines)} upstream timeouts {what} {name} ({where}; "
                f"from {hhmm(lines[0].ts)})",
                [eid],
                strength_at(len(lines), TIMEOUT_LINES, 100),
                kind="upstream_timeouts",
                component=name,
                onset=lines[0].ts,
            )

    # -- changes ----------------------------------------------------------------------

    async def _rollouts(self, ctx: ProbeContext) -> list[_Trigger]:
        series, eid = await ctx.metric_range(
            "max by (namespace, deployment) (kube_deployment_status_observed_generation)"
        )
        found: list[tuple[datetime, str, str, float, float]] = []
        for s in series:
            pts = finite(s.points)
            step = next(((a, b, t) for (_, a), (t, b) in pairwise(pts) if b > a), None)
            if step is not None:
                ns, dep = s.labels.get("namespace", ""), s.labels.get("deployment", "?")
                found.append((step[2], ns, dep, step[0], step[1]))
        out: list[_Trigger] = []
        for at, ns, dep, old, new in sorted(found)[:MAX_ROLLOUTS]:
            f = ctx.add_finding(
                f"deployment {ns}/{dep} rolled out at {hhmm(at)} (generation {old:.0f} → {new:.0f})",
                [eid],
                0.3,
                kind="rollout",
                component=dep,
                onset=at,
            )
            out.append(_Trigger(f, ns, dep, at, f"the rollout of {ns}/{dep}"))
        return out

    async def _rollout_restarts(self, ctx: ProbeContext, rollouts: Sequence[_Trigger]) -> None:
        if not rollouts:
            return
        pods = "|".join(f"{re.escape(t.deployment or '')}-.*" for t in rollouts)
        namespaces = "|".join(sorted({re.escape(t.namespace) for t in rollouts}))
        restarts = selector(
            "kube_pod_container_status_restarts_total",
            ("namespace", "=~", namespaces),
            ("pod", "=~", pods),
        )
        series, eid = await ctx.metric_range(f"sum by (namespace, pod) ({restarts})")
        for t in rollouts:
            until = t.at + timedelta(seconds=ROLLOUT_FOLLOW_S)
            times: list[datetime] = []
            for s in series:
                labels = s.labels
                if labels.get("namespace") != t.namespace:
                    continue
                if workload_name(labels.get("pod", "")) != t.deployment:
                    continue
                times += [ts for ts in _restart_times(ctx, finite(s.points)) if t.at <= ts <= until]
            if len(times) < ROLLOUT_RESTARTS:
                continue
            ctx.add_finding(
                f"{t.deployment} pods restarted {len(times)}× within "
                f"{ROLLOUT_FOLLOW_S / 60:.0f} min of its rollout (from {hhmm(min(times))})",
                [eid, *t.finding.evidence],
                strength_at(len(times), ROLLOUT_RESTARTS, 15),
                kind="rollout_restarts",
                component=t.deployment,
                onset=min(times),
            )

    async def _configmap_changes(self, ctx: ProbeContext) -> list[_Trigger]:
        series, eid = await ctx.metric_range(
            "max by (namespace, configmap) (kube_configmap_metadata_resource_version)"
        )
        changed: dict[tuple[str, str], datetime] = {}
        for s in series:
            pts = finite(s.points)
            at = next((t for (_, a), (t, b) in pairwise(pts) if b != a), None)
            if at is not None:
                changed[(s.labels.get("namespace", ""), s.labels.get("configmap", "?"))] = at
        created, ceid = await ctx.metric_range(
            "max by (namespace, configmap) (kube_configmap_info)"
        )
        for s in created:
            pts = finite(s.points)
            # A ConfigMap that appears mid-window was created then (e.g. a new hashed name).
            if pts and (pts[0][0] - ctx.start).total_seconds() > 1.5 * ctx.step_s:
                key = (s.labels.get("namespace", ""), s.labels.get("configmap", "?"))
                changed[key] = min(changed.get(key, pts[0][0]), pts[0][0])
        out: list[_Trigger] = []
        for (ns, cm), at in sorted(changed.items(), key=lambda kv: kv[1])[:MAX_ROLLOUTS]:
            f = ctx.add_finding(
                f"ConfigMap {ns}/{cm} changed at {hhmm(at)}",
                [eid, ceid],
                0.3,
                kind="configmap_change",
                component=f"{ns}/{cm}",
                onset=at,
            )
            out.append(_Trigger(f, ns, None, at, f"ConfigMap {ns}/{cm} changed"))
        return out

    async def _config_errors(self, ctx: ProbeContext, triggers: Sequence[_Trigger]) -> None:
        query = LogQuery.model_validate(
            {
                "matchers": [
                    {"label": "app", "op": "=~", "value": ".+"},
                    {"label": "app", "op": "!~", "value": _INFRA_APPS},
                ],
                "filters": [{"op": "|~", "value": _CONFIG_LINES}],
                "start": ctx.start,
                "end": ctx.end,
            }
        )
        records, eid = await ctx.logs(query)
        by_workload: dict[tuple[str, str], list[LogRecord]] = defaultdict(list)
        for r in records:
            if not _ERROR_WORD.search(r.line):
                continue
            pod = r.labels.get("pod", "")
            workload = workload_name(pod) if pod else r.labels.get("app", "?")
            by_workload[(r.labels.get("namespace", ""), workload)].append(r)
        for (ns, workload), lines in sorted(by_workload.items()):
            if len(lines) < CONFIG_ERROR_LINES:
                continue
            first = lines[0].ts
            # The earliest change in the workload's reach that the errors followed.
            trigger = next(
                (
                    t
                    for t in sorted(triggers, key=lambda t: t.at)
                    if (t.deployment is None or t.deployment == workload)
                    and (not ns or not t.namespace or t.namespace == ns)
                    and -EARLY_S <= (first - t.at).total_seconds() <= CONFIG_FOLLOW_S
                ),
                None,
            )
            after = f" after {trigger.what}" if trigger else ""
            ctx.add_finding(
                f"{workload}: {len(lines)} config error line(s){after} (from {hhmm(first)}): "
                f"{lines[0].line[:100]}",
                [eid, *(trigger.finding.evidence if trigger else ())],
                strength_at(len(lines), CONFIG_ERROR_LINES, 30),
                kind="config_errors" if trigger else "config_error_lines",
                component=workload,
                onset=first,
            )
            if trigger is not None:
                self._trigger_of[workload.lower()] = trigger.finding

    # -- hypotheses -------------------------------------------------------------------

    def hypothesize(self, ctx: ProbeContext) -> list[Hypothesis]:
        """bad_deploy / misconfiguration per workload, dependency_timeout per slow upstream."""
        out: list[Hypothesis] = []
        claimed: set[str] = set()

        def about(kinds: Iterable[str], name: str) -> list[Finding]:
            return [f for f in ctx.findings_of(*kinds) if _same(f.component, name)]

        def propose(fault: str, name: str, causes: list[Finding], support: list[Finding]) -> None:
            score = noisy_or(
                [(f.strength, _WEIGHTS.get(f.kind, 1.0)) for f in causes]
                + [(f.strength, _SUPPORT_WEIGHT) for f in support],
                SCORE_CAP,
            )
            h = ctx.hypothesis(fault, name, causes + support, score)
            onsets = [f.onset for f in causes if f.onset is not None]
            out.append(h.model_copy(update={"onset": min(onsets) if onsets else h.onset}))
            claimed.add(name.lower())

        effects = ("ingress_5xx", "ingress_latency", "upstream_timeouts")
        for config in ctx.findings_of("config_errors"):
            name = config.component or "?"
            trigger = self._trigger_of.get(name.lower())
            causes = [trigger, config] if trigger is not None else [config]
            support = about(("rollout_restarts", *effects), name)
            propose("misconfiguration", name, causes, support)
        for rollout in ctx.findings_of("rollout"):
            name = rollout.component or "?"
            if name.lower() in claimed or rollout.onset is None:
                continue
            start, until = rollout.onset, rollout.onset + timedelta(seconds=ROLLOUT_FOLLOW_S)
            restarts = about(("rollout_restarts",), name)
            errors = [
                f
                for f in about(("ingress_5xx",), name)
                if f.onset is not None and start - timedelta(seconds=EARLY_S) <= f.onset <= until
            ]
            if not (restarts or errors):
                continue
            slow = about(("ingress_latency", "upstream_timeouts"), name)
            edit = _own_configmap_edit(ctx.findings_of("configmap_change"), rollout)
            if edit is not None:
                # its own ConfigMap was edited just before the rollout that broke it
                propose("misconfiguration", name, [edit, rollout, *restarts, *errors], slow)
            else:
                propose("bad_deploy", name, [rollout, *restarts, *errors], slow)
        upstreams: dict[str, list[Finding]] = defaultdict(list)
        for f in ctx.findings_of("upstream_timeouts", "ingress_latency"):
            if f.component and f.component.lower() not in claimed:
                upstreams[f.component.lower()].append(f)
        for found in upstreams.values():
            name = found[0].component or "?"
            propose("dependency_timeout", name, found, about(("ingress_5xx",), name))
        out.sort(key=lambda h: -h.score)
        return out


def _by_service(series: Sequence[Series]) -> list[tuple[str, Series]]:
    return sorted(((_service(s.labels), s) for s in series), key=lambda p: p[0])


def _restart_times(ctx: ProbeContext, points: Sequence[Point]) -> list[datetime]:
    """When a pod's restart counter went up (one time per restart); a pod first seen
    mid-window with restarts already counted restarted since it appeared."""
    out: list[datetime] = []
    for (_, a), (t, b) in pairwise(points):
        out += [t] * round(b - a if b >= a else b)
    if points and (points[0][0] - ctx.start).total_seconds() > 1.5 * ctx.step_s:
        out += [points[0][0]] * round(points[0][1])
    return sorted(out)
