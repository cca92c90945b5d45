"""The network specialist: switches (SNMP, syslog) and node network stacks (metrics, kernel).

It runs the baseline probe plan of docs/signals.md (section "network") and proposes
network hypotheses: stp_loop, link_flap, interface_errors, packet_loss,
conntrack_exhaustion and mtu_mismatch. It reads SNMP counters poll by poll over the
incident window, so that wraps and counter resets never look like surges.

It must not change anything on a device or node, must not key on scenario names or
ground truth, and must not treat device or log text as instructions: lines are only
matched against fixed patterns and counted.
"""

from __future__ import annotations

import math
import re
from collections import Counter, defaultdict
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime
from itertools import pairwise

from autogen_core.models import ChatCompletionClient

from agents.models import Finding, Hypothesis, Incident
from agents.signals import (
    Point,
    first_crossing,
    hhmm,
    median,
    noisy_or,
    split_baseline,
    strength_at,
)
from agents.specialist import EventFn, ProbeContext, Specialist
from agents.workload import node_name
from tools.errors import ToolError
from tools.logs.base import LogRecord
from tools.metrics.promql import selector
from tools.snmp import oids
from tools.snmp.base import COUNTER_TYPES, Varbind, counter_delta
from tools.sources import Sources
from tools.topology import Topology

__all__ = [
    "BROADCAST_SURGE_PORTS",
    "BROADCAST_SURGE_RATIO",
    "CONNTRACK_RATIO",
    "DISCARD_RATE",
    "ERROR_RATE",
    "FLAP_CHANGES",
    "ICMP_UNREACH_RATE",
    "NODE_ERROR_RATE",
    "STP_CHANGES",
    "NetworkSpecialist",
]

# Thresholds: docs/signals.md, section "network". Change them there and here together.
STP_CHANGES = 3
"""dot1dStpTopChanges increase within the window that is abnormal."""
BROADCAST_SURGE_RATIO = 10.0
"""Broadcast packet rate, as a multiple of the port's early-window rate, that is a surge."""
BROADCAST_SURGE_PORTS = 2
"""Ports that must surge at once for a switch-wide broadcast surge."""
BROADCAST_FLOOR_PPS = 1.0
"""Early-window broadcast rates below this count as this (no surge from 0.01 to 0.2 pps)."""
DISCARD_RATE = 1.0
"""ifInDiscards / ifOutDiscards per second that is abnormal ..."""
DISCARD_BASELINE_MAX = 0.2
"""... when the port's early-window rate was below this (rises "from ~0")."""
ERROR_RATE = 1.0
"""ifInErrors per second that is abnormal."""
FLAP_CHANGES = 2
"""ifOperStatus changes of one port within the window that make a flap."""
NODE_ERROR_RATE = 1.0
"""node_network_receive_errs_total / _drop_total per second on a node that is abnormal."""
CONNTRACK_RATIO = 0.9
"""node_nf_conntrack_entries / node_nf_conntrack_entries_limit that is abnormal."""
CONNTRACK_RISING_RATIO = 0.8
"""A lower ratio that is abnormal when the table filled within the window (from at most half
of it): a node that always tracks 80 % is busy; one that went from 10 % to 80 % is filling."""
ICMP_UNREACH_RATE = 1.0
"""node_netstat_Icmp_OutDestUnreachs per second on a node that corroborates an MTU mismatch."""
MTU_CHANGED_STRENGTH = 0.8
"""A node whose primary MTU left the majority's value within the window ..."""
MTU_STANDING_STRENGTH = 0.6
"""... or differed from it all along (a deliberate jumbo-frame node is possible)."""

SCORE_CAP = 0.97
"""No hypothesis is ever certain from telemetry alone."""
WEAK_STP_FACTOR = 0.5
"""Topology changes alone (no surge, discards or syslog) only weakly suggest a loop."""
KERNEL_SLOW_LINK_STRENGTH = 0.6
"""A NIC renegotiating at 10/100 Mbps: packet loss on that node (with its drops)."""
SHARED_DROPS_WINDOW_S = 300.0
"""Receive drops on a switch's nodes count as one loop's when they start this close to its syslog."""

# How much a kind of finding counts towards a hypothesis: primary signals 1, corroborating
# ones (syslog lines, a neighbour's symptoms) less, so that they raise but never make a score.
_WEIGHTS: dict[str, float] = {
    "stp_topology_changes": 1.0,
    "broadcast_surge": 1.0,
    "port_discards": 0.8,
    "syslog_stp": 0.6,
    "link_flaps": 1.0,
    "syslog_link_updown": 0.6,
    "port_errors": 1.0,
    "node_rx_errors": 1.0,
    "node_rx_drops": 0.8,
    "conntrack_ratio": 1.0,
    "conntrack_table_full": 1.0,
    "mtu_mismatch": 1.0,
    "kernel_frag_needed": 0.6,
    "kernel_link_down": 0.8,
    "kernel_link_slow": 1.0,
    "icmp_dest_unreach": 0.5,
}
_NEIGHBOUR_WEIGHT = 0.5

_PRIMARY_IFACES = "eth.*|en.*|bond.*"
_FRAG_LINE = r"(?i)fragmentation needed|frag needed"
_NIC_DOWN_LINE = r"(?i)NIC Link is Down|Link is Down|carrier lost"
_NIC_SLOW_LINE = r"(?i)Link is Up (10|100) Mbps"
_VIRTUAL_IFACES = "lo|veth.*|cali.*|flannel.*|cni.*|docker.*|cilium.*|vxlan.*|tunl.*|kube-ipvs.*"
_SYSLOG_PATTERN = r"%SPANTREE|MACFLAP|%LINK-\d-UPDOWN|%LINEPROTO-\d-UPDOWN"
_LINK_LINE = re.compile(r"%LINK-\d-UPDOWN")
_STP_LINE = re.compile(r"%SPANTREE|MACFLAP")
_INTERFACE = re.compile(r"Interface\s+[^\s,]*?(\d+)(?=[\s,]|$)")

_OPER = {1: "up", 2: "down", 3: "testing", 5: "dormant", 7: "lowerLayerDown"}

_COLUMNS: tuple[tuple[str, str], ...] = (
    ("oper", oids.IF_OPER_STATUS),
    ("in_discards", oids.IF_IN_DISCARDS),
    ("out_discards", oids.IF_OUT_DISCARDS),
    ("in_errors", oids.IF_IN_ERRORS),
    ("broadcast", oids.IF_HC_IN_BROADCAST_PKTS),
)


def _as_int(value: int | str) -> int | None:
    if isinstance(value, int):
        return value
    text = value.strip()
    return int(text) if text.isdigit() else None


def counter_deltas(samples: Sequence[Varbind]) -> list[tuple[Varbind, Varbind, int]]:
    """Increases between consecutive polls: (earlier poll, later poll, increase).

    A decrease of a counter is one wrap (``counter_delta``) unless the wrap would mean
    the counter ran more than half its range in one poll: that is a reset or a
    discontinuity, and the interval is skipped rather than read as a surge.
    """
    out: list[tuple[Varbind, Varbind, int]] = []
    for a, b in pairwise(samples):
        old, new = _as_int(a.value), _as_int(b.value)
        if old is None or new is None or b.ts <= a.ts:
            continue
        delta = counter_delta(old, new, b.type)
        modulus = COUNTER_TYPES.get(b.type)
        if delta < 0 or (new < old and (modulus is None or delta > modulus // 2)):
            continue
        out.append((a, b, delta))
    return out


def counter_rates(samples: Sequence[Varbind]) -> list[Point]:
    """Per-second rates between consecutive polls, stamped at each interval's start.

    The interval's start is the earliest moment the change can have begun, which is what
    an upstream cause's onset is compared with.
    """
    return [(a.ts, d / (b.ts - a.ts).total_seconds()) for a, b, d in counter_deltas(samples)]


@dataclass
class _Port:
    """One port's samples over the window, by column name."""

    samples: dict[str, list[Varbind]] = field(default_factory=lambda: defaultdict(list))


def port_owner(topology: Topology, switch: str, port: int) -> str:
    """The node plugged into ``switch`` port ``port``, else ``"<switch> port <N>"``."""
    for node in topology.nodes:
        if node.switch == switch and node.port == port:
            return node.name
    return f"{switch} port {port}"


def series_node(labels: dict[str, str], topology: Topology) -> str:
    """The node a node-exporter series is about (its ``node`` label, else ``instance``)."""
    return labels.get("node") or node_name(labels.get("instance", ""), topology) or "unknown node"


class NetworkSpecialist(Specialist):
    """Investigates switches and node network stacks."""

    layer = "network"
    description_text = (
        "Network specialist: spanning tree, broadcast storms, link flaps, interface "
        "errors, packet loss, conntrack exhaustion and MTU mismatches, from SNMP, syslog "
        "and node metrics."
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
        # finding id -> the switch it is about, and the ports involved (to name packet_loss)
        self._switch_of: dict[str, str] = {}
        self._ports_of: dict[str, list[int]] = {}

    async def probe(self, ctx: ProbeContext) -> None:
        """SNMP per switch, switch syslog, node NIC counters, conntrack."""
        self._switch_of.clear()
        self._ports_of.clear()
        await self._probe_switches(ctx)
        await self._probe_syslog(ctx)
        await self._probe_kernel_links(ctx)
        await self._probe_node_counters(ctx)
        await self._probe_conntrack(ctx)
        await self._probe_mtu(ctx)

    # ---------------------------------------------------------------- SNMP

    def _switches(self, ctx: ProbeContext) -> list[str]:
        names = [s.name for s in ctx.incident.topology.switches]
        if not names and ctx.sources.snmp is not None:
            names = ctx.sources.snmp.devices()
        return names

    async def _probe_switches(self, ctx: ProbeContext) -> None:
        switches = self._switches(ctx)
        if ctx.sources.snmp is None:
            # Record what could not be read, once per known switch (or once at all).
            for name in switches or ["(any switch)"]:
                await ctx.snmp_get(name, [oids.STP_TOP_CHANGES])
            return
        if not switches:
            ctx.notes.append("snmp: no switches known (none in topology, none recorded)")
            return
        for name in switches:
            await self._probe_switch(ctx, name)

    async def _probe_switch(self, ctx: ProbeContext, device: str) -> None:
        snmp = ctx.sources.snmp
        assert snmp is not None
        try:
            times = [t for t in snmp.poll_times(device) if ctx.start <= t <= ctx.end]
        except ToolError:
            times = []
        last = times[-1] if times else ctx.end
        # The state at the last poll, as evidence (and the check that the device answers).
        stp_now, stp_eid = await ctx.snmp_get(device, [oids.STP_TOP_CHANGES], at=last)
        column_eids: dict[str, str] = {}
        present: dict[str, str] = {}
        for col, prefix in _COLUMNS:
            rows, eid = await ctx.snmp_walk(device, prefix, at=last)
            if col == "broadcast" and not rows:
                # No 64-bit counters on this device: the 32-bit column (it wraps; handled).
                prefix = oids.IF_IN_BROADCAST_PKTS
                rows, eid = await ctx.snmp_walk(device, prefix, at=last)
            column_eids[col] = eid
            if rows:
                present[col] = prefix
        if not stp_now and not present:
            return
        if len(times) < 2:
            ctx.notes.append(f"snmp: fewer than two polls of {device} in the window; no rates")
            return

        stp: list[Varbind] = []
        ports: dict[int, _Port] = defaultdict(_Port)
        seen: set[tuple[str, datetime]] = set()

        def keep(vb: Varbind, into: list[Varbind]) -> None:
            # A read at a poll time returns the latest value at or before it: keep each
            # actual poll of each OID once.
            if (vb.oid, vb.ts) not in seen:
                seen.add((vb.oid, vb.ts))
                into.append(vb)

        for t in times:
            try:
                if stp_now:
                    for vb in await snmp.get(device, [oids.STP_TOP_CHANGES], t):
                        keep(vb, stp)
                for col, prefix in present.items():
                    for vb in await snmp.walk(device, prefix, t):
                        index = vb.oid[len(prefix) + 1 :]
                        if index.isdigit():
                            keep(vb, ports[int(index)].samples[col])
            except ToolError as exc:
                ctx.notes.append(f"snmp: polling {device} stopped at {hhmm(t)}: {exc.message}")
                break

        span = f"{len(times)} polls {hhmm(times[0])}–{hhmm(times[-1])}"
        self._judge_stp(ctx, device, stp, span, stp_eid)
        broadcast = present.get("broadcast", oids.IF_HC_IN_BROADCAST_PKTS)
        self._judge_broadcast(ctx, device, ports, span, column_eids["broadcast"], broadcast)
        self._judge_discards(ctx, device, ports, span, column_eids)
        self._judge_errors(ctx, device, ports, span, column_eids["in_errors"])
        self._judge_oper(ctx, device, ports, span, column_eids["oper"])

    def _judge_stp(
        self, ctx: ProbeContext, device: str, stp: list[Varbind], span: str, eid: str
    ) -> None:
        deltas = counter_deltas(stp)
        if not deltas:
            return
        total = sum(d for _, _, d in deltas)
        onset = next((a.ts for a, _, d in deltas if d > 0), None)
        derived = ctx.add_snmp_evidence(
            f"{oids.STP_TOP_CHANGES} @ {device} ({span})",
            f"dot1dStpTopChanges {stp[0].value} → {stp[-1].value}: +{total}"
            + (f", first increase after the {hhmm(onset)} poll" if onset else ""),
        )
        if total < STP_CHANGES:
            return
        minutes = round((stp[-1].ts - stp[0].ts).total_seconds() / 60)
        ctx.add_finding(
            f"{device} dot1dStpTopChanges +{total} in {minutes} min (from {hhmm(onset)})",
            [derived, eid],
            strength_at(total, STP_CHANGES, 50),
            kind="stp_topology_changes",
            component=device,
            onset=onset,
        )

    def _judge_broadcast(
        self,
        ctx: ProbeContext,
        device: str,
        ports: dict[int, _Port],
        span: str,
        eid: str,
        column: str,
    ) -> None:
        surging: list[tuple[int, float, float, datetime]] = []
        for index, port in sorted(ports.items()):
            rates = counter_rates(port.samples.get("broadcast", []))
            if len(rates) < 3:
                continue
            base_pts, recent = split_baseline(rates)
            base = max(median([r for _, r in base_pts]), BROADCAST_FLOOR_PPS)
            onset = first_crossing(recent, BROADCAST_SURGE_RATIO * base)
            if onset is None:
                continue
            peak = max(r for t, r in recent if t >= onset)
            surging.append((index, peak / base, peak, onset))
        if len(surging) < BROADCAST_SURGE_PORTS:
            return
        ratio = median([s[1] for s in surging])
        onset = min(s[3] for s in surging)
        listed = ", ".join(f"{i} ×{r:,.0f} ({p:,.0f}/s)" for i, r, p, _ in surging[:8])
        derived = ctx.add_snmp_evidence(
            f"{column} @ {device} ({span})",
            f"broadcast rate vs early window, ports {listed}",
        )
        ctx.add_finding(
            f"{device} broadcast rate ×{ratio:,.0f} on {len(surging)} ports (from {hhmm(onset)})",
            [derived, eid],
            strength_at(ratio, BROADCAST_SURGE_RATIO, 200)
            + min(0.1, 0.02 * (len(surging) - BROADCAST_SURGE_PORTS)),
            kind="broadcast_surge",
            component=device,
            onset=onset,
        )

    def _judge_discards(
        self,
        ctx: ProbeContext,
        device: str,
        ports: dict[int, _Port],
        span: str,
        eids: dict[str, str],
    ) -> None:
        hits: list[tuple[int, float, datetime]] = []
        for index, port in sorted(ports.items()):
            peaks: list[float] = []
            onsets: list[datetime] = []
            for col in ("in_discards", "out_discards"):
                rates = counter_rates(port.samples.get(col, []))
                if len(rates) < 3:
                    continue
                base_pts, recent = split_baseline(rates)
                if median([r for _, r in base_pts]) >= DISCARD_BASELINE_MAX:
                    continue
                onset = first_crossing(recent, DISCARD_RATE - 1e-9)
                if onset is not None:
                    onsets.append(onset)
                    peaks.append(max(r for t, r in recent if t >= onset))
            if onsets:
                hits.append((index, max(peaks), min(onsets)))
        if not hits:
            return
        peak = max(h[1] for h in hits)
        onset = min(h[2] for h in hits)
        port_list = [h[0] for h in hits]
        listed = ", ".join(f"{i} ({p:.1f}/s)" for i, p, _ in hits[:8])
        derived = ctx.add_snmp_evidence(
            f"{oids.IF_IN_DISCARDS}, {oids.IF_OUT_DISCARDS} @ {device} ({span})",
            f"discards rose from ~0 to ≥ {DISCARD_RATE:g}/s on ports {listed}",
        )
        where = (
            f"port {port_list[0]} ({port_owner(ctx.incident.topology, device, port_list[0])})"
            if len(port_list) == 1
            else f"{len(port_list)} ports"
        )
        finding = ctx.add_finding(
            f"{device} discards up to {peak:.0f}/s on {where} (from {hhmm(onset)})",
            [derived, eids["in_discards"], eids["out_discards"]],
            strength_at(peak, DISCARD_RATE, 100),
            kind="port_discards",
            component=device,
            onset=onset,
        )
        self._switch_of[finding.id] = device
        self._ports_of[finding.id] = port_list

    def _judge_errors(
        self, ctx: ProbeContext, device: str, ports: dict[int, _Port], span: str, eid: str
    ) -> None:
        topo = ctx.incident.topology
        for index, port in sorted(ports.items()):
            rates = counter_rates(port.samples.get("in_errors", []))
            hot = [(t, r) for t, r in rates if r >= ERROR_RATE]
            if not hot:
                continue
            peak = max(r for _, r in hot)
            onset = hot[0][0]
            owner = port_owner(topo, device, index)
            derived = ctx.add_snmp_evidence(
                f"{oids.IF_IN_ERRORS}.{index} @ {device} ({span})",
                f"ifInErrors.{index} ≥ {ERROR_RATE:g}/s in {len(hot)} of {len(rates)} "
                f"intervals, peak {peak:.1f}/s",
            )
            finding = ctx.add_finding(
                f"{device} port {index} ({owner}) input errors up to {peak:.1f}/s "
                f"(from {hhmm(onset)})",
                [derived, eid],
                strength_at(peak, ERROR_RATE, 50),
                kind="port_errors",
                component=owner,
                onset=onset,
            )
            self._switch_of[finding.id] = device

    def _judge_oper(
        self, ctx: ProbeContext, device: str, ports: dict[int, _Port], span: str, eid: str
    ) -> None:
        topo = ctx.incident.topology
        for index, port in sorted(ports.items()):
            polls = port.samples.get("oper", [])
            # (poll before the change, poll that saw it, new state)
            changes = [
                (a.ts, b.ts, _as_int(b.value))
                for a, b in pairwise(polls)
                if _as_int(a.value) is not None and _as_int(a.value) != _as_int(b.value)
            ]
            if len(changes) < FLAP_CHANGES:
                continue
            owner = port_owner(topo, device, index)
            onset = changes[0][0]
            derived = ctx.add_snmp_evidence(
                f"{oids.IF_OPER_STATUS}.{index} @ {device} ({span})",
                f"ifOperStatus.{index} changed {len(changes)} times: "
                + ", ".join(f"{hhmm(t)}→{_OPER.get(s or 0, s)}" for _, t, s in changes[:10]),
            )
            finding = ctx.add_finding(
                f"{device} port {index} ({owner}) link changed state {len(changes)} times "
                f"(from {hhmm(onset)})",
                [derived, eid],
                strength_at(len(changes), FLAP_CHANGES, 8),
                kind="link_flaps",
                component=owner,
                onset=onset,
            )
            self._switch_of[finding.id] = device

    # ---------------------------------------------------------------- logs

    async def _probe_syslog(self, ctx: ProbeContext) -> None:
        records, eid = await ctx.logs(ctx.log_query({"app": "syslog"}, regex=_SYSLOG_PATTERN))
        if not records:
            return
        topo = ctx.incident.topology
        stp: dict[str, list[datetime]] = defaultdict(list)
        links: dict[tuple[str, int | None], list[datetime]] = defaultdict(list)
        for rec in records:
            host = rec.labels.get("host") or "unknown switch"
            if _STP_LINE.search(rec.line):
                stp[host].append(rec.ts)
            elif _LINK_LINE.search(rec.line):
                m = _INTERFACE.search(rec.line)
                links[(host, int(m.group(1)) if m else None)].append(rec.ts)
        for host, times in sorted(stp.items()):
            ctx.add_finding(
                f"{host} syslog: {len(times)} spanning-tree / MAC-flap lines "
                f"(from {hhmm(times[0])})",
                [eid],
                strength_at(len(times), 1, 60),
                kind="syslog_stp",
                component=host,
                onset=times[0],
            )
        for (host, port), times in sorted(links.items(), key=lambda kv: (kv[0][0], kv[0][1] or 0)):
            if len(times) < FLAP_CHANGES:
                continue
            owner = port_owner(topo, host, port) if port is not None else host
            finding = ctx.add_finding(
                f"{host} syslog: {len(times)} link up/down lines for "
                f"{'port ' + str(port) if port is not None else 'its ports'} "
                f"({owner}, from {hhmm(times[0])})",
                [eid],
                strength_at(len(times), FLAP_CHANGES, 8),
                kind="syslog_link_updown",
                component=owner,
                onset=times[0],
            )
            self._switch_of[finding.id] = host

    async def _probe_kernel_links(self, ctx: ProbeContext) -> None:
        """The node's own view of a flapping link: its kernel logs the NIC going down."""
        records, eid = await ctx.logs(ctx.log_query({"app": "kernel"}, regex=_NIC_DOWN_LINE))
        for host, times in _times_by_host(records):
            if len(times) < FLAP_CHANGES:
                continue
            ctx.add_finding(
                f"{host} kernel: NIC link down {len(times)}× (from {hhmm(times[0])})",
                [eid],
                strength_at(len(times), FLAP_CHANGES, 6),
                kind="kernel_link_down",
                component=host,
                onset=times[0],
            )
        # A gigabit NIC that renegotiates at 10/100 Mbps (a damaged cable) drops what it queues.
        slow, seid = await ctx.logs(ctx.log_query({"app": "kernel"}, regex=_NIC_SLOW_LINE))
        for host, times in _times_by_host(slow):
            ctx.add_finding(
                f"{host} kernel: NIC link renegotiated at 10/100 Mbps (at {hhmm(times[0])})",
                [seid],
                KERNEL_SLOW_LINK_STRENGTH,
                kind="kernel_link_slow",
                component=host,
                onset=times[0],
            )

    # ---------------------------------------------------------------- metrics

    async def _probe_node_counters(self, ctx: ProbeContext) -> None:
        topo = ctx.incident.topology
        # CRC errors are rare on a healthy link, drops less so: errors reach full strength sooner.
        for metric, kind, what, high in (
            ("node_network_receive_errs_total", "node_rx_errors", "receive errors", 20.0),
            ("node_network_receive_drop_total", "node_rx_drops", "receive drops", 100.0),
        ):
            sel = selector(metric, ("device", "!~", _VIRTUAL_IFACES))
            series, eid = await ctx.metric_range(f"sum by (instance) (rate({sel}[2m]))")
            for s in series:
                pts = [(t, v) for t, v in s.points if not math.isnan(v)]
                onset = first_crossing(pts, NODE_ERROR_RATE - 1e-9)
                if onset is None:
                    continue
                peak = max(v for t, v in pts if t >= onset)
                node = series_node(s.labels, topo)
                ctx.add_finding(
                    f"{node} NIC {what} up to {peak:.1f}/s (from {hhmm(onset)})",
                    [eid],
                    strength_at(peak, NODE_ERROR_RATE, high),
                    kind=kind,
                    component=node,
                    onset=onset,
                )

    async def _probe_conntrack(self, ctx: ProbeContext) -> None:
        topo = ctx.incident.topology
        series, eid = await ctx.metric_range(
            "max by (instance) (node_nf_conntrack_entries / node_nf_conntrack_entries_limit)"
        )
        for s in series:
            pts = [(t, v) for t, v in s.points if not math.isnan(v)]
            if not pts:
                continue
            early = sorted(v for _, v in pts[: max(3, len(pts) // 10)])
            base = early[len(early) // 2]
            rising = 2 * base <= max(v for _, v in pts)
            floor = CONNTRACK_RISING_RATIO if rising else CONNTRACK_RATIO
            onset = first_crossing(pts, floor - 1e-9)
            if onset is None:
                continue
            peak = max(v for t, v in pts if t >= onset)
            node = series_node(s.labels, topo)
            ctx.add_finding(
                f"{node} conntrack table {peak:.0%} full (from {hhmm(onset)}"
                + (f", up from {base:.0%})" if rising else ")"),
                [eid],
                strength_at(peak, floor, 1.0),
                kind="conntrack_ratio",
                component=node,
                onset=onset,
            )
        records, leid = await ctx.logs(
            ctx.log_query({"app": "kernel"}, "nf_conntrack", "table full")
        )
        for host, times in _times_by_host(records):
            ctx.add_finding(
                f"{host} kernel: {len(times)} 'nf_conntrack: table full' lines "
                f"(from {hhmm(times[0])})",
                [leid],
                strength_at(len(times), 1, 50),
                kind="conntrack_table_full",
                component=host,
                onset=times[0],
            )

    async def _probe_mtu(self, ctx: ProbeContext) -> None:
        """One node's primary-interface MTU against the others'; frag-needed corroborates."""
        topo = ctx.incident.topology
        sel = selector("node_network_mtu_bytes", ("device", "=~", _PRIMARY_IFACES))
        series, eid = await ctx.metric_range(f"max by (instance, node, device) ({sel})")
        primary: dict[str, tuple[str, list[Point]]] = {}
        for s in series:
            pts = [(t, v) for t, v in s.points if not math.isnan(v)]
            node, device = series_node(s.labels, topo), s.labels.get("device", "")
            if pts and (node not in primary or _iface_rank(device) < _iface_rank(primary[node][0])):
                primary[node] = (device, pts)
        now = {node: pts[-1][1] for node, (_, pts) in primary.items()}
        ranked = Counter(now.values()).most_common()
        if len(ranked) < 2:
            return  # one MTU everywhere (1500 or 9000 alike) is no mismatch
        (usual, agree), (_, runner_up) = ranked[0], ranked[1]
        if agree < 2 or agree == runner_up:
            ctx.notes.append(f"network: node MTUs differ ({len(ranked)} values) with no majority")
            return
        odd: list[Finding] = []
        for node, (device, pts) in sorted(primary.items()):
            mtu = now[node]
            if mtu == usual:
                continue
            changes = [(t, a) for (_, a), (t, b) in pairwise(pts) if a != b]
            onset = changes[-1][0] if changes else ctx.start
            was = f", was {changes[-1][1]:.0f} until {hhmm(onset)}" if changes else ""
            odd.append(
                ctx.add_finding(
                    f"{node} {device} MTU {mtu:.0f} while {agree} other nodes use {usual:.0f}{was}",
                    [eid],
                    MTU_CHANGED_STRENGTH if changes else MTU_STANDING_STRENGTH,
                    kind="mtu_mismatch",
                    component=node,
                    onset=onset,
                )
            )
        if not odd:
            return
        records, leid = await ctx.logs(ctx.log_query({"app": "kernel"}, regex=_FRAG_LINE))
        for host, times in _times_by_host(records):
            ctx.add_finding(
                f"{host} kernel: {len(times)} 'fragmentation needed' lines (from {hhmm(times[0])})",
                [leid],
                strength_at(len(times), 1, 50),
                kind="kernel_frag_needed",
                component=host,
                onset=times[0],
            )
        icmp = selector("node_netstat_Icmp_OutDestUnreachs")
        series, ieid = await ctx.metric_range(f"sum by (instance, node) (rate({icmp}[2m]))")
        for s in series:
            pts = [(t, v) for t, v in s.points if not math.isnan(v)]
            crossed = first_crossing(pts, ICMP_UNREACH_RATE - 1e-9)
            if crossed is None:
                continue
            peak = max(v for t, v in pts if t >= crossed)
            node = series_node(s.labels, topo)
            ctx.add_finding(
                f"{node} sends ICMP destination-unreachable {peak:.1f}/s (from {hhmm(crossed)})",
                [ieid],
                strength_at(peak, ICMP_UNREACH_RATE, 100),
                kind="icmp_dest_unreach",
                component=node,
                onset=crossed,
            )

    # ---------------------------------------------------------------- hypotheses

    def hypothesize(self, ctx: ProbeContext) -> list[Hypothesis]:
        """Findings to hypotheses; the loop claims the discards and drops it causes."""
        topo = ctx.incident.topology
        out: list[Hypothesis] = []
        used: set[str] = set()

        def score(primary: Sequence[Finding], neighbours: Sequence[Finding] = ()) -> float:
            return noisy_or(
                [(f.strength, _WEIGHTS.get(f.kind, 1.0)) for f in _strongest_per_kind(primary)]
                + [(f.strength, _NEIGHBOUR_WEIGHT) for f in _strongest_per_kind(neighbours)],
                SCORE_CAP,
            )

        # stp_loop, per switch
        flapping_switches = {
            self._switch_of.get(f.id) for f in ctx.findings_of("link_flaps", "syslog_link_updown")
        }
        switches = sorted(
            {
                f.component
                for f in ctx.findings_of("stp_topology_changes", "broadcast_surge", "syslog_stp")
                if f.component
            }
        )
        for sw in switches:

            def on(kind: str, sw: str = sw) -> list[Finding]:
                return [f for f in ctx.findings_of(kind) if f.component == sw]

            tc, bc, sys_ = on("stp_topology_changes"), on("broadcast_surge"), on("syslog_stp")
            disc = [f for f in ctx.findings_of("port_discards") if self._switch_of.get(f.id) == sw]
            attached = {n.name for n in topo.nodes if n.switch == sw}
            drops = [f for f in ctx.findings_of("node_rx_drops") if f.component in attached]
            if (
                (tc and (bc or disc or sys_))
                or (bc and (sys_ or disc))
                or _shared_drops(sys_, drops, attached)
            ):
                support = tc + bc + sys_ + disc
                out.append(ctx.hypothesis("stp_loop", sw, support + drops, score(support, drops)))
                used.update(f.id for f in disc + drops)
            elif tc and sw not in flapping_switches:
                out.append(ctx.hypothesis("stp_loop", sw, tc, score(tc) * WEAK_STP_FACTOR))

        # link_flap, per port owner
        for comp, found in _by_component(
            ctx.findings_of("link_flaps", "syslog_link_updown", "kernel_link_down")
        ):
            switch = next((self._switch_of.get(f.id) for f in found), None)
            tcs = [f for f in ctx.findings_of("stp_topology_changes") if f.component == switch]
            out.append(
                ctx.hypothesis("link_flap", comp, found + tcs, score(found, tcs)),
            )

        # interface_errors, per port owner / node
        for comp, found in _by_component(ctx.findings_of("port_errors", "node_rx_errors")):
            out.append(ctx.hypothesis("interface_errors", comp, found, score(found)))

        # packet_loss: discards and drops no loop accounts for
        loss: list[tuple[str, Finding]] = []
        flapping = {
            (f.component or "").lower()
            for f in ctx.findings_of("link_flaps", "syslog_link_updown", "kernel_link_down")
        }
        for f in ctx.findings_of("port_discards", "node_rx_drops", "kernel_link_slow"):
            if f.kind == "kernel_link_slow" and (f.component or "").lower() in flapping:
                continue  # a flapping link that came back slow: part of the flap
            if f.id in used:
                continue
            comp = f.component or "unknown"
            ports = self._ports_of.get(f.id, [])
            if f.kind == "port_discards" and len(ports) == 1:
                comp = port_owner(topo, self._switch_of.get(f.id, comp), ports[0])
            loss.append((comp, f))
        for comp, found in _by_component_pairs(loss):
            out.append(ctx.hypothesis("packet_loss", comp, found, score(found)))

        # conntrack_exhaustion, per node
        for comp, found in _by_component(
            ctx.findings_of("conntrack_ratio", "conntrack_table_full")
        ):
            out.append(ctx.hypothesis("conntrack_exhaustion", comp, found, score(found)))

        # mtu_mismatch, per odd node; frag-needed lines and ICMP anywhere corroborate it
        frag = ctx.findings_of("kernel_frag_needed", "icmp_dest_unreach")
        for f in ctx.findings_of("mtu_mismatch"):
            comp = f.component or "unknown"
            out.append(ctx.hypothesis("mtu_mismatch", comp, [f, *frag], score([f, *frag])))

        out.sort(key=lambda h: -h.score)
        return out


def _shared_drops(syslog: Sequence[Finding], drops: Sequence[Finding], attached: set[str]) -> bool:
    """Spanning-tree syslog plus receive drops on most of the switch's nodes, starting together.

    Without SNMP a loop shows as the switch's STP/MAC-flap lines and every attached node
    dropping at once; one node's packet loss does not spread to its neighbours.
    """
    if not syslog or len(attached) < 2:
        return False
    start = min((f.onset for f in syslog if f.onset), default=None)
    if start is None:
        return False
    near = {
        f.component
        for f in drops
        if f.onset is not None and abs((f.onset - start).total_seconds()) <= SHARED_DROPS_WINDOW_S
    }
    return len(near) >= 2 and 2 * len(near) >= len(attached)


def _times_by_host(records: Sequence[LogRecord]) -> list[tuple[str, list[datetime]]]:
    """Log line times per ``host`` label (a line without one is "unknown node"), by host."""
    by_host: dict[str, list[datetime]] = defaultdict(list)
    for rec in records:
        by_host[rec.labels.get("host") or "unknown node"].append(rec.ts)
    return sorted(by_host.items())


def _iface_rank(device: str) -> tuple[int, str]:
    """Which of a node's interfaces is its primary: a bond, else the first by name."""
    return (0 if device.startswith("bond") else 1, device)


def _strongest_per_kind(findings: Sequence[Finding]) -> list[Finding]:
    """One finding per kind (the strongest): repeats of one signal are not independent."""
    best: dict[str, Finding] = {}
    for f in findings:
        if f.kind not in best or f.strength > best[f.kind].strength:
            best[f.kind] = f
    return list(best.values())


def _by_component(findings: Sequence[Finding]) -> list[tuple[str, list[Finding]]]:
    return _by_component_pairs([(f.component or "unknown", f) for f in findings])


def _by_component_pairs(pairs: Sequence[tuple[str, Finding]]) -> list[tuple[str, list[Finding]]]:
    grouped: dict[str, list[Finding]] = {}
    names: dict[str, str] = {}
    for comp, f in pairs:
        key = comp.lower()
        names.setdefault(key, comp)
        grouped.setdefault(key, []).append(f)
    return [(names[k], v) for k, v in grouped.items()]
