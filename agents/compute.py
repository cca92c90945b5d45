"""The compute specialist: nodes, kubelets and containers (memory, CPU, restarts, evictions).

It runs the compute rows of docs/signals.md as a fixed, deterministic probe plan (a few
aggregated PromQL range queries and two log queries), turns what it sees into findings,
and proposes compute hypotheses: oom_kill, memory_leak, cpu_saturation, node_not_ready,
pod_crashloop and eviction. CPU throttling is reported as a weak finding only.

It must not decide what is a symptom of what across layers: a memory climb driven by
load from outside is still a climb, reported as such (with the CPU it coincided with);
the coordinator reconciles. It never keys on scenario names or ground truth, and uses
the alert's labels only to rank what it found, never as a finding.
"""

from __future__ import annotations

import re
from collections import Counter, defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, timedelta
from itertools import pairwise
from typing import ClassVar

from agents.models import Finding, Hypothesis
from agents.signals import (
    Point,
    clamp01,
    corroborated,
    finite,
    hhmm,
    longest_run,
    slope_per_s,
    surge_ratio,
)
from agents.specialist import ProbeContext, Specialist
from agents.workload import focus_names, node_name, workload_name
from tools.logs.base import LogRecord
from tools.metrics.promql import selector

# Thresholds (docs/signals.md, compute). Change them there and here together.
OOM_REASON = "OOMKilled"
"""kube-state-metrics' last terminated reason of a container the kernel OOM-killed."""
CRASHLOOP_MIN_RESTARTS = 3
"""Restarts within the window, none OOMKilled, that make a crashloop."""
MEMORY_LEAK_MIN_R2 = 0.8
"""Least R² of a linear fit for memory growth to count as steady."""
MEMORY_LEAK_MIN_LIMIT_FRACTION = 0.72
"""Working set / limit the steady growth must reach."""
MEMORY_LEAK_MIN_RISE_FRACTION = 0.1
"""Least rise over the growth segment, as a fraction of the limit (flat is not growth)."""
MEMORY_LEAK_MIN_SAMPLES = 6
"""Least raw samples a climb rests on, counted as value changes: a range query repeats the
last sample when its step is finer than the scrape interval (or over a gap), and those
repeats are no evidence of steady growth."""
MEMORY_LEAK_MIN_S = 600.0
"""Least time a climb takes to reach its top (a spike to the limit in a minute is an OOM, not
a leak); a climb already under way when the window opens is exempt (its start is unseen)."""
MEMORY_RESET_DROP = 0.3
"""A fall of this fraction of the limit between two samples is a restart, not noise."""
LOAD_SURGE_RATIO = 3.0
"""CPU surge (recent peak / early median) that marks a memory climb as load-driven."""
LOAD_DRIVEN_DAMPING = 0.5
"""Factor on a memory_leak score when the climb coincides with a CPU surge."""
CPU_BUSY_THRESHOLD = 0.9
"""Node CPU busy fraction (1 - idle rate) that counts as saturated."""
CPU_SATURATION_MIN_S = 180.0
"""How long the node must stay saturated."""
THROTTLING_REPORT_RATIO = 0.25
"""Throttled / total CFS periods above which throttling is reported (never a hypothesis)."""
THROTTLING_MAX_STRENGTH = 0.3
"""Throttling alone is not an outage: its findings stay weak."""
THROTTLING_MAX_REPORTED = 3
"""Most throttled containers reported."""
KERNEL_MATCH_S = 180.0
"""A kernel OOM line this close to an observed OOM restart is the same event."""
RESTART_LOOKBACK_PAD_S = 300
"""Extra lookback when selecting restarted containers (a scrape just before the window)."""
MAX_TRACKED_CONTAINERS = 30
"""Most restarted containers fetched as range data."""
FOCUS_BONUS = 0.05
"""Score bonus for a hypothesis about what the alert names (ranking only)."""
CORROBORATION_BONUS = 0.05
"""Score bonus per additional independent finding behind a hypothesis."""
MAX_SCORE = 0.95

_KERNEL_OOM = (
    r"Out of memory: Kill|Memory cgroup out of memory|oom-kill:|invoked oom-killer|Killed process"
)
_KUBELET = r"(?i)PLEG is not healthy|Node became not ready|NodeNotReady|eviction manager|Evicted"
# What the eviction manager says while it evicts (not "failed to get summary stats",
# "starting control loop" and other housekeeping).
_EVICTING = re.compile(
    r"(?i)reclaim|must evict|ranked for eviction|evicting|\bevicted\b|unable to evict"
    r"|cannot evict|low on resource"
)
_KILLED = re.compile(r"\bKilled process \d+ \(([^)]+)\)")
_KILL = re.compile(r"\bKill process \d+ \(([^)]+)\)")  # old kernels, before "Killed process"
_TASK = re.compile(r"oom-kill:.*?\btask=([^,\s]+)")
_RECLAIM = re.compile(r'(?i)reclaim(?:\s+|.*?resourceName=")([A-Za-z.\-]+)')


Key = tuple[str, str, str]
"""(namespace, pod, container)."""


def window_s(ctx: ProbeContext) -> int:
    """The incident window in whole seconds (at least one minute)."""
    return max(60, int((ctx.end - ctx.start).total_seconds()))


def alternation(values: Iterable[str]) -> str:
    """An anchored-by-PromQL regex alternation matching exactly ``values``."""
    return "|".join(re.escape(v) for v in sorted(set(values)))


def score_of(findings: Sequence[Finding], focus: bool) -> float:
    """Strongest finding, plus a little per corroborating finding and for the alert's focus."""
    return corroborated(
        (f.strength for f in findings),
        bonus=CORROBORATION_BONUS,
        cap=MAX_SCORE,
        extra=FOCUS_BONUS if focus else 0.0,
    )


@dataclass
class _Restarts:
    """Restarts of one container within the window."""

    key: Key
    count: int = 0
    first: datetime | None = None
    times: list[datetime] = field(default_factory=list)


@dataclass
class _KernelOom:
    """Kernel OOM-killer activity about one process name."""

    comm: str
    kills: int = 0
    lines: int = 0
    hosts: set[str] = field(default_factory=set)
    first: datetime | None = None
    times: list[datetime] = field(default_factory=list)
    cgroup: bool = False


class ComputeSpecialist(Specialist):
    """Nodes and containers: OOM kills, memory growth, CPU, readiness, crashloops, evictions."""

    layer: ClassVar[str] = "compute"
    description_text: ClassVar[str] = (
        "Investigates nodes, kubelets and containers: OOM kills, memory growth, CPU "
        "saturation, NotReady nodes, crashloops and evictions."
    )

    async def probe(self, ctx: ProbeContext) -> None:
        """Run the compute baseline plan, in a fixed order (evidence ids stay stable)."""
        restarts, restarts_eid = await self._restarts(ctx)
        oom_keys = await self._oom_metrics(ctx, restarts, restarts_eid)
        await self._kernel_oom(ctx, restarts, oom_keys)
        self._crashloops(ctx, restarts, oom_keys, restarts_eid)
        await self._memory_growth(ctx)
        await self._cpu_saturation(ctx)
        await self._node_ready(ctx)
        await self._kubelet_lines(ctx)
        await self._evicted_pods(ctx)
        await self._throttling(ctx)

    # -- restarts and OOM kills -------------------------------------------------------

    async def _restarts(self, ctx: ProbeContext) -> tuple[dict[Key, _Restarts], str | None]:
        metric = "kube_pod_container_status_restarts_total"
        lookback = window_s(ctx) + RESTART_LOOKBACK_PAD_S
        changed, _ = await ctx.metric_instant(f"changes({selector(metric)}[{lookback}s]) > 0")
        if not changed:
            return {}, None
        changed.sort(key=lambda s: -s.value)
        pods = {s.labels.get("pod", "") for s in changed[:MAX_TRACKED_CONTAINERS]} - {""}
        if not pods:
            return {}, None
        series, eid = await ctx.metric_range(selector(metric, ("pod", "=~", alternation(pods))))
        out: dict[Key, _Restarts] = {}
        for s in series:
            key = _key(s.labels)
            r = _Restarts(key)
            pts = finite(s.points)
            for (_, prev), (ts, v) in pairwise(pts):
                delta = v - prev if v >= prev else v  # a fall is a counter reset
                if delta > 0:
                    r.count += round(delta)
                    r.first = r.first or ts
                    r.times.append(ts)
            if r.count:
                out[key] = r
        return out, eid

    async def _oom_metrics(
        self, ctx: ProbeContext, restarts: dict[Key, _Restarts], restarts_eid: str | None
    ) -> set[Key]:
        """Containers OOMKilled within the window.

        A restart counts as an OOM kill when the container's last terminated reason, as
        reported right after that restart, is OOMKilled: an OOM kill from before the
        window followed by crashes with another reason is a crash loop, not an OOM kill.
        ``timestamp()`` of each reason series tells which one kube-state-metrics reported
        last (Prometheus keeps a stopped series' last value for five minutes).
        """
        metric = "kube_pod_container_status_last_terminated_reason"
        series, eid = await ctx.metric_range(f"timestamp({selector(metric)} == 1)")
        step = ctx.step_s
        reasons: dict[Key, dict[str, list[tuple[datetime, float]]]] = defaultdict(dict)
        for s in series:
            pts = finite(s.points)
            if pts:
                reasons[_key(s.labels)][s.labels.get("reason", "")] = pts
        killed: dict[str, list[tuple[Key, int, datetime | None]]] = defaultdict(list)
        for key, by_reason in reasons.items():
            oom = by_reason.get(OOM_REASON)
            if oom is None:
                continue
            r = restarts.get(key)
            if r is not None and r.count:
                times = [t for t in r.times if _reason_at(by_reason, t, step) == OOM_REASON]
                if times:
                    killed[workload_name(key[1], key[2])].append((key, len(times), times[0]))
                continue
            first_sample = datetime.fromtimestamp(oom[0][1], tz=UTC)
            if (first_sample - ctx.start).total_seconds() > 1.5 * step:
                # became OOMKilled inside the window, restarts not seen
                killed[workload_name(key[1], key[2])].append((key, 1, first_sample))
        keys: set[Key] = set()
        for workload, items in sorted(killed.items()):
            count = sum(n for _, n, _ in items)
            onset = min((t for _, _, t in items if t is not None), default=None)
            pods = {k[1] for k, _, _ in items}
            across = f" across {len(pods)} pods" if len(pods) > 1 else ""
            cites = [eid] + ([restarts_eid] if restarts_eid else [])
            ctx.add_finding(
                f"{workload} OOMKilled {count}×{across} (restarts +{count} since {hhmm(onset)})",
                cites,
                min(0.95, 0.85 + 0.05 * (count - 1)),
                kind="oom_killed",
                component=workload,
                onset=onset,
            )
            keys |= {k for k, _, _ in items}
        return keys

    async def _kernel_oom(
        self, ctx: ProbeContext, restarts: dict[Key, _Restarts], oom_keys: set[Key]
    ) -> None:
        records, eid = await ctx.logs(ctx.log_query({"app": "kernel"}, regex=_KERNEL_OOM))
        if not records:
            return
        by_comm = _parse_kernel_oom(records)
        metric_oom = {f.component: f for f in ctx.findings_of("oom_killed") if f.component}
        oom_times = {
            workload_name(k[1], k[2]): restarts[k].times for k in oom_keys if k in restarts
        }
        for comm, ev in sorted(by_comm.items()):
            workload = _match_workload(comm, ev.times, metric_oom, oom_times)
            scope = "memory cgroup limit" if ev.cgroup else "node out of memory"
            hosts = ", ".join(sorted(ev.hosts)) or "?"
            kills = ev.kills or ev.lines
            who = comm if workload in (None, comm) else f"{comm} ({workload})"
            ctx.add_finding(
                f"kernel on {hosts}: {kills} OOM kill(s) of {who} ({scope}) since {hhmm(ev.first)}",
                [eid],
                min(0.9, 0.75 + 0.05 * (kills - 1)),
                kind="kernel_oom",
                component=workload or comm,
                onset=ev.first,
            )

    def _crashloops(
        self,
        ctx: ProbeContext,
        restarts: dict[Key, _Restarts],
        oom_keys: set[Key],
        restarts_eid: str | None,
    ) -> None:
        if restarts_eid is None:
            return
        oom_workloads = {c.component for c in ctx.findings_of("oom_killed", "kernel_oom")}
        by_workload: dict[str, list[_Restarts]] = defaultdict(list)
        for key, r in restarts.items():
            if key not in oom_keys:
                by_workload[workload_name(key[1], key[2])].append(r)
        for workload, items in sorted(by_workload.items()):
            count = sum(r.count for r in items)
            if count < CRASHLOOP_MIN_RESTARTS or workload in oom_workloads:
                continue
            onset = min((r.first for r in items if r.first), default=None)
            ctx.add_finding(
                f"{workload} restarted {count}× since {hhmm(onset)} (not OOMKilled)",
                [restarts_eid],
                0.5 + 0.45 * clamp01((count - CRASHLOOP_MIN_RESTARTS) / 7),
                kind="restart_loop",
                component=workload,
                onset=onset,
            )

    # -- memory growth ---------------------------------------------------------------

    async def _memory_growth(self, ctx: ProbeContext) -> None:
        by = "namespace, pod, container"
        ws = selector(
            "container_memory_working_set_bytes",
            ("container", "!=", ""),
            ("container", "!=", "POD"),
        )
        limit = selector(
            "container_spec_memory_limit_bytes", ("container", "!=", ""), ("container", "!=", "POD")
        )
        series, eid = await ctx.metric_range(
            f"sum by ({by}) ({ws}) / (sum by ({by}) ({limit}) > 0)"
        )
        climbs: list[tuple[Key, _Climb]] = []
        opens = ctx.start + timedelta(seconds=1.5 * ctx.step_s)
        for s in series:
            climb = _steady_climb(finite(s.points), opens)
            if climb is not None:
                climbs.append((_key(s.labels), climb))
        if not climbs:
            return
        cpu = await self._cpu_surges(ctx, [k for k, _ in climbs])
        seen: set[str] = set()
        for key, c in sorted(climbs, key=lambda kc: -kc[1].peak):
            workload = workload_name(key[1], key[2])
            if workload in seen:
                continue
            seen.add(workload)
            summary = (
                f"{workload} memory {c.low:.0%} → {c.top:.0%} of its limit "
                f"{hhmm(c.onset)}–{hhmm(c.top_at)} (R² {c.r2:.2f})"
            )
            if c.climbs > 1:
                summary += f", {c.climbs} climbs after restarts, peak {c.peak:.0%}"
            cites = [eid]
            kind = "memory_growth"
            surge = cpu[1].get(key)
            if surge is not None and surge >= LOAD_SURGE_RATIO:
                summary += f"; CPU ×{surge:.0f} at the same time: consistent with load"
                cites.append(cpu[0] or eid)
                kind = "memory_growth_with_load"
            strength = 0.5 + 0.4 * clamp01((c.peak - MEMORY_LEAK_MIN_LIMIT_FRACTION) / 0.2)
            strength += 0.05 if c.r2 >= 0.95 else 0.0
            ctx.add_finding(summary, cites, strength, kind=kind, component=workload, onset=c.onset)

    async def _cpu_surges(
        self, ctx: ProbeContext, keys: Sequence[Key]
    ) -> tuple[str | None, dict[Key, float]]:
        pods = {k[1] for k in keys}
        usage = selector(
            "container_cpu_usage_seconds_total",
            ("pod", "=~", alternation(pods)),
            ("container", "!=", ""),
            ("container", "!=", "POD"),
        )
        series, eid = await ctx.metric_range(
            f"sum by (namespace, pod, container) (rate({usage}[2m]))"
        )
        surges = {_key(s.labels): surge_ratio(finite(s.points), floor=1e-3) for s in series}
        return (eid if series else None), surges

    # -- nodes ------------------------------------------------------------------------

    async def _cpu_saturation(self, ctx: ProbeContext) -> None:
        idle = selector("node_cpu_seconds_total", mode="idle")
        series, eid = await ctx.metric_range(f"1 - avg by (instance) (rate({idle}[2m]))")
        for s in sorted(series, key=lambda s: s.labels.get("instance", "")):
            pts = finite(s.points)
            start, length = longest_run(pts, CPU_BUSY_THRESHOLD)
            if start is None or length < CPU_SATURATION_MIN_S:
                continue
            node = node_name(s.labels.get("instance", "?"), self._incident.topology)
            peak = max(v for _, v in pts)
            ctx.add_finding(
                f"{node} CPU ≥ {CPU_BUSY_THRESHOLD:.0%} busy for {length / 60:.0f} min "
                f"(peak {peak:.0%}) since {hhmm(start)}",
                [eid],
                0.5 + 0.4 * clamp01((length - CPU_SATURATION_MIN_S) / 1200),
                kind="cpu_saturation",
                component=node,
                onset=start,
            )

    async def _node_ready(self, ctx: ProbeContext) -> None:
        ready = selector("kube_node_status_condition", condition="Ready", status="true")
        series, eid = await ctx.metric_range(f"{ready} == 0")
        for s in sorted(series, key=lambda s: s.labels.get("node", "")):
            pts = finite(s.points)
            if not pts:
                continue
            node = s.labels.get("node") or node_name(
                s.labels.get("instance", "?"), self._incident.topology
            )
            until = min(pts[-1][0] + timedelta(seconds=ctx.step_s), ctx.end)
            minutes = (until - pts[0][0]).total_seconds() / 60
            still = " (still)" if (ctx.end - pts[-1][0]).total_seconds() <= 2 * ctx.step_s else ""
            ctx.add_finding(
                f"{node} NotReady for {minutes:.0f} min since {hhmm(pts[0][0])}{still}",
                [eid],
                0.8 + 0.1 * clamp01(minutes / 5),
                kind="node_not_ready",
                component=node,
                onset=pts[0][0],
            )

    async def _kubelet_lines(self, ctx: ProbeContext) -> None:
        records, eid = await ctx.logs(ctx.log_query({"app": "kubelet"}, regex=_KUBELET))
        pleg: dict[str, list[LogRecord]] = defaultdict(list)
        notready: dict[str, list[LogRecord]] = defaultdict(list)
        evict: dict[str, list[LogRecord]] = defaultdict(list)
        for r in records:
            host = r.labels.get("host") or r.labels.get("node") or "?"
            low = r.line.lower()
            if "pleg is not healthy" in low:
                pleg[host].append(r)
            elif "node became not ready" in low or "nodenotready" in low:
                notready[host].append(r)
            elif _EVICTING.search(r.line):
                evict[host].append(r)
        for host in sorted(set(pleg) | set(notready)):
            lines = pleg[host] + notready[host]
            first = min(r.ts for r in lines)
            what = "PLEG is not healthy" if pleg[host] else "node became not ready"
            ctx.add_finding(
                f"kubelet on {host}: {what} ×{len(lines)} since {hhmm(first)}",
                [eid],
                min(0.8, 0.6 + 0.02 * len(lines)),
                kind="kubelet_not_ready",
                component=host,
                onset=first,
            )
        for host, lines in sorted(evict.items()):
            resources = sorted({m[1] for r in lines if (m := _RECLAIM.search(r.line))})
            what = f" to reclaim {', '.join(resources)}" if resources else ""
            first = min(r.ts for r in lines)
            ctx.add_finding(
                f"kubelet on {host} evicting pods{what} ({len(lines)} lines since {hhmm(first)})",
                [eid],
                min(0.85, 0.65 + 0.02 * len(lines)),
                kind="kubelet_eviction",
                component=host,
                onset=first,
            )

    async def _evicted_pods(self, ctx: ProbeContext) -> None:
        reason = selector("kube_pod_status_reason", reason="Evicted")
        series, eid = await ctx.metric_range(f"{reason} == 1")
        fresh: dict[str, list[datetime]] = defaultdict(list)
        nodes: dict[tuple[str, str], str | None] = {}  # (namespace, pod) -> node
        for s in series:
            pts = finite(s.points)
            # Evicted pods linger as Failed objects: count only those evicted in the window.
            if pts and (pts[0][0] - ctx.start).total_seconds() > 1.5 * ctx.step_s:
                pod = s.labels.get("pod", "?")
                fresh[workload_name(pod)].append(pts[0][0])
                nodes[(s.labels.get("namespace", ""), pod)] = s.labels.get("node")
        if not fresh:
            return
        cites = [eid]
        if info_eid := await self._nodes_of(ctx, nodes):
            cites.append(info_eid)
        first = min(min(ts) for ts in fresh.values())
        count = sum(len(ts) for ts in fresh.values())
        names = ", ".join(sorted(fresh)[:4]) + ("…" if len(fresh) > 4 else "")
        # The node under pressure: the kubelet that says it evicts, else where the evicted
        # pods ran (the most of them), as with logs; the workload only when neither is known.
        hosts = {f.component for f in ctx.findings_of("kubelet_eviction") if f.component}
        on = Counter(n for n in nodes.values() if n)
        ranked = sorted(on, key=lambda n: (n not in hosts, -on[n], n))
        if len(hosts) == 1:
            component = next(iter(hosts))
        else:
            component = ranked[0] if ranked else sorted(fresh)[0]
        where = f" on {', '.join(ranked[:3])}" if ranked else ""
        ctx.add_finding(
            f"{count} pod(s) Evicted{where} since {hhmm(first)} ({names})",
            cites,
            min(0.85, 0.65 + 0.05 * count),
            kind="pods_evicted",
            component=component,
            onset=first,
        )

    async def _nodes_of(
        self, ctx: ProbeContext, nodes: dict[tuple[str, str], str | None]
    ) -> str | None:
        """Fill in ``nodes`` (evicted pod -> node) from topology, else kube_pod_info's node
        label; returns the evidence id when kube_pod_info was asked."""
        for ns, pod in nodes:
            hint = next(
                (
                    p
                    for p in self._incident.topology.pods
                    if p.name == pod and p.namespace in (None, ns)
                ),
                None,
            )
            nodes[(ns, pod)] = nodes[(ns, pod)] or (hint.node if hint else None)
        missing = {pod for (_, pod), node in nodes.items() if not node}
        if not missing:
            return None
        info = selector("kube_pod_info", ("pod", "=~", alternation(missing)))
        samples, eid = await ctx.metric_instant(f"max by (namespace, pod, node) ({info})")
        for sample in samples:
            key = (sample.labels.get("namespace", ""), sample.labels.get("pod", ""))
            if key in nodes and not nodes[key] and sample.labels.get("node"):
                nodes[key] = sample.labels["node"]
        return eid if samples else None

    async def _throttling(self, ctx: ProbeContext) -> None:
        by = "namespace, pod, container"
        throttled = selector("container_cpu_cfs_throttled_periods_total", ("container", "!=", ""))
        periods = selector("container_cpu_cfs_periods_total", ("container", "!=", ""))
        series, eid = await ctx.metric_range(
            f"sum by ({by}) (rate({throttled}[5m])) / (sum by ({by}) (rate({periods}[5m])) > 0)"
        )
        worst: dict[str, tuple[float, datetime | None]] = {}
        for s in series:
            pts = finite(s.points)
            if not pts:
                continue
            peak = max(v for _, v in pts)
            if peak < THROTTLING_REPORT_RATIO:
                continue
            key = _key(s.labels)
            workload = workload_name(key[1], key[2])
            start, _ = longest_run(pts, THROTTLING_REPORT_RATIO)
            if peak > worst.get(workload, (0.0, None))[0]:
                worst[workload] = (peak, start)
        ranked = sorted(worst.items(), key=lambda kv: -kv[1][0])[:THROTTLING_MAX_REPORTED]
        for workload, (peak, start) in ranked:
            ctx.add_finding(
                f"{workload} CPU throttled in {peak:.0%} of CFS periods "
                "(throttling alone is not an outage)",
                [eid],
                THROTTLING_MAX_STRENGTH * clamp01(peak),
                kind="cpu_throttling",
                component=workload,
                onset=start,
            )

    # -- hypotheses -------------------------------------------------------------------

    def hypothesize(self, ctx: ProbeContext) -> list[Hypothesis]:
        """One hypothesis per (fault, component) the findings support; throttling never."""
        focus = focus_names(self._incident.labels)
        groups: dict[tuple[str, str], list[Finding]] = defaultdict(list)
        fault_of = {
            "oom_killed": "oom_kill",
            "kernel_oom": "oom_kill",
            "memory_growth": "memory_leak",
            "memory_growth_with_load": "memory_leak",
            "cpu_saturation": "cpu_saturation",
            "node_not_ready": "node_not_ready",
            "kubelet_not_ready": "node_not_ready",
            "restart_loop": "pod_crashloop",
            "kubelet_eviction": "eviction",
            "pods_evicted": "eviction",
        }
        for f in ctx.findings:
            fault = fault_of.get(f.kind)
            if fault and f.component:
                groups[(fault, f.component)].append(f)
        out: list[Hypothesis] = []
        for (fault, component), findings in groups.items():
            score = score_of(findings, component.lower() in focus)
            cited = list(findings)
            if fault == "memory_leak":
                if all(f.kind == "memory_growth_with_load" for f in findings):
                    score *= LOAD_DRIVEN_DAMPING
                else:
                    # A leak explains the OOM kills of the same workload: it cites them too
                    # and ranks just above them.
                    ooms = groups.get(("oom_kill", component), [])
                    cited += ooms
                    if ooms:
                        score = max(score, score_of(ooms, False) + CORROBORATION_BONUS)
            out.append(ctx.hypothesis(fault, component, cited, min(MAX_SCORE, score)))
        return sorted(out, key=lambda h: (-h.score, h.fault, h.component))


@dataclass(frozen=True)
class _Climb:
    """A steady memory climb (fractions of the limit)."""

    onset: datetime
    """When the first climb left its starting level."""
    low: float
    """Lowest point of the first climb."""
    top: float
    """Highest point of the first climb."""
    top_at: datetime
    """When the first climb reached it."""
    peak: float
    """Highest point of any climb."""
    r2: float
    """R² of the first climb's linear fit."""
    climbs: int
    """How many steady climbs (a restart in between) the series shows."""


def _key(labels: dict[str, str]) -> Key:
    return (labels.get("namespace", ""), labels.get("pod", ""), labels.get("container", ""))


def _segments(points: Sequence[Point]) -> list[list[Point]]:
    """Split at restarts (a sudden fall of ``MEMORY_RESET_DROP`` of the limit or more)."""
    out: list[list[Point]] = []
    current: list[Point] = []
    for p in points:
        if current and current[-1][1] - p[1] >= MEMORY_RESET_DROP:
            out.append(current)
            current = []
        current.append(p)
    if current:
        out.append(current)
    return out


def _steady_climb(points: Sequence[Point], opens: datetime) -> _Climb | None:
    """The first steady climb to near the limit (with the count and peak of all), or None.

    The first one is described because it shows memory leaving its usual level: its
    onset is when the trouble began; later climbs are restarts repeating it. A climb
    counts only when it rests on ``MEMORY_LEAK_MIN_SAMPLES`` raw samples and took
    ``MEMORY_LEAK_MIN_S`` to reach its top, unless it began before ``opens`` (the window).
    """
    found: list[_Climb] = []
    for seg in _segments(points):
        peak = max(v for _, v in seg)
        top_at = next(t for t, v in seg if v == peak)
        climb = [p for p in seg if p[0] <= top_at]
        samples = 1 + sum(1 for (_, a), (_, b) in pairwise(climb) if a != b)
        took = (top_at - seg[0][0]).total_seconds()
        if samples < MEMORY_LEAK_MIN_SAMPLES or (took < MEMORY_LEAK_MIN_S and seg[0][0] > opens):
            continue
        slope, r2 = slope_per_s(seg)
        span = (seg[-1][0] - seg[0][0]).total_seconds()
        if (
            slope <= 0
            or r2 < MEMORY_LEAK_MIN_R2
            or peak < MEMORY_LEAK_MIN_LIMIT_FRACTION
            or slope * span < MEMORY_LEAK_MIN_RISE_FRACTION
        ):
            continue
        rise_from = seg[0][1] + 0.1 * (peak - seg[0][1])
        onset = next((t for t, v in seg if v > rise_from), seg[0][0])
        low = min(v for _, v in seg)
        found.append(_Climb(onset, low, peak, top_at, peak, r2, 1))
    if not found:
        return None
    first = found[0]
    peak = max(c.peak for c in found)
    return replace(first, peak=peak, climbs=len(found))


def _reason_at(
    by_reason: dict[str, list[tuple[datetime, float]]], t: datetime, step_s: float
) -> str | None:
    """The terminated reason reported latest as of the first evaluation at or after ``t``."""
    best: tuple[float, str] | None = None
    for reason, pts in by_reason.items():
        at = next(
            (v for ts, v in pts if -step_s / 2 <= (ts - t).total_seconds() <= 1.5 * step_s),
            None,
        )
        if at is not None and (best is None or at > best[0]):
            best = (at, reason)
    return best[1] if best else None


def _parse_kernel_oom(records: Sequence[LogRecord]) -> dict[str, _KernelOom]:
    """Group kernel OOM lines by the killed process name."""
    out: dict[str, _KernelOom] = {}
    invoker: str | None = None
    for r in records:
        line = r.line
        comm: str | None = None
        killed = False
        if m := _KILLED.search(line):
            comm, killed = m[1], True
        elif m := _TASK.search(line) or _KILL.search(line):
            comm = m[1]
        elif "invoked oom-killer" in line:
            invoker = line.split(" invoked oom-killer", 1)[0].rsplit(" ", 1)[-1] or None
            continue
        comm = comm or invoker
        if not comm:
            continue
        ev = out.setdefault(comm, _KernelOom(comm))
        ev.lines += 1
        ev.kills += 1 if killed else 0
        ev.first = min(ev.first, r.ts) if ev.first else r.ts
        ev.times.append(r.ts)
        if host := r.labels.get("host"):
            ev.hosts.add(host)
        ev.cgroup = ev.cgroup or "Memory cgroup" in line or "CONSTRAINT_MEMCG" in line
    return out


def _match_workload(
    comm: str,
    times: Sequence[datetime],
    metric_oom: dict[str, Finding],
    oom_times: dict[str, list[datetime]],
) -> str | None:
    """The OOMKilled workload a kernel process name belongs to: by name, else by timing."""
    for workload in metric_oom:
        # The kernel keeps 15 characters of a process name.
        if comm in (workload, workload[:15]):
            return workload
    for workload, restarts in sorted(oom_times.items()):
        if any(abs((t - r).total_seconds()) <= KERNEL_MATCH_S for t in times for r in restarts):
            return workload
    return None
