"""Network faults: a bridging loop, a flapping link, packet loss, bad cabling, a full
conntrack table and a node with the wrong MTU, each with what it does to DNS, the
apiserver and the applications downstream."""

from __future__ import annotations

import math
from typing import Any

from tools.scenario import writer as w
from tools.scenario.generate import alerts
from tools.scenario.generate import formats as fmt
from tools.scenario.generate.faults import Ctx, Fault, Outcome
from tools.scenario.generate.faults.common import (
    apiserver_slow,
    dns_upstream_trouble,
    flaky_scrapes,
    ingress_trouble,
    kernel,
    labels_of,
    onset_in,
)
from tools.scenario.generate.scene import IngressState, PortState, Scene, change, wobble
from tools.scenario.generate.site import Node


def _later(ctx: Ctx) -> float:
    """How long after the cause a downstream symptom starts (much later in hard cases)."""
    return ctx.rng.uniform(150, 300) if ctx.hard else ctx.rng.uniform(30, 110)


def _syslog(scene: Scene, switch: str, ts: float, msg: str, seq: int) -> None:
    scene.log(ts, {"app": "syslog", "host": switch}, fmt.cisco(seq, ts, msg))


def _short(descr: str) -> str:
    return descr.replace("GigabitEthernet", "Gi")


def stp_loop(scene: Scene, ctx: Ctx) -> Outcome:
    rng = ctx.rng
    ss = rng.choice(sorted(scene.switches.values(), key=lambda s: s.switch.name))
    sw = ss.switch
    spare = [p for p in ss.ports.values() if not p.peer]
    hosts = [p for p in ss.ports.values() if p.peer in ("pve-host", "nas", "ap", "printer")]
    if len(spare) >= 2 and (rng.random() < 0.6 or not hosts):
        loop = spare[:2]  # a patch cable between two free ports
        story = f"someone patched a cable between free ports {loop[0].index} and {loop[1].index} of {sw.name}"
    else:
        loop = [hosts[0], spare[0]]
        story = (
            f"a second cable from the {hosts[0].peer} (a Linux bridge, STP off) went into port "
            f"{spare[0].index}, bridging it with port {hosts[0].index}"
        )
    onset = onset_in(scene, rng, need_after=600)
    ramp = rng.uniform(15, 60)
    # from just above threshold to a full storm; a mild one when its symptoms are to be louder
    sev = rng.uniform(0.0, 0.3 if ctx.hard else 1.0) ** 2
    storm = w.ramp(onset, ramp, 0.0, 1.0)
    inten = w.scale(storm, wobble(rng, 0.25))
    for p in loop:
        if any(s == 2 for _, s in p.oper):
            p.oper.append((onset - rng.uniform(1, 4), 1))
    bmax = max(1.0, *(p.bcast(onset) for p in loop))
    peak = bmax * 12 * (1 + 3000 * sev)  # ×12 (just above the ×10 threshold) to a full storm
    for p in ss.ports.values():
        if p in loop:
            p.bcast = change(
                p.bcast, onset, w.scale(inten, peak * rng.uniform(0.8, 1.0)), how="add"
            )
        elif p.peer:
            p.bcast = change(p.bcast, onset, w.scale(inten, rng.uniform(0.2, 1.5)), how="add")
        if p.peer or p in loop:
            p.out_disc = change(
                p.out_disc, onset, w.scale(inten, rng.uniform(2, 6 + 3000 * sev)), how="add"
            )
    ss.tc_rate = w.scale(inten, 0.006 + 0.6 * sev)
    ss.tc_recent = storm
    ss.miss = change(ss.miss, onset + 20, 0.05 + 0.15 * sev)
    other = [s for s in scene.switches.values() if s is not ss]
    for os_ in other:
        for p in os_.ports.values():
            if p.peer == sw.name:
                p.bcast = change(p.bcast, onset, w.scale(inten, peak * 0.8), how="add")
            if p.peer:
                p.out_disc = change(
                    p.out_disc, onset, w.scale(inten, rng.uniform(0.05, 0.6)), how="add"
                )
    attached = [n for n in scene.site.nodes if n.switch == sw.name]
    for n in attached:
        flaky_scrapes(scene, n, onset + 20, 0.05 + 0.3 * sev, rng)
        ns = scene.nodes[n.name]
        ns.rx_drop = change(
            ns.rx_drop, onset, w.scale(inten, rng.uniform(20, 40 + 900 * sev)), how="add"
        )
        ns.cpu = change(
            ns.cpu, onset, w.scale(inten, rng.uniform(0.02, 0.05 + 0.25 * sev)), how="add"
        )
    # switch syslog: MAC flaps between the loop ports, topology change traps
    seq = rng.randint(1000, 90000)
    t = onset + rng.uniform(1, 6)
    macs = [
        n.mac.replace(":", "")[:4]
        + "."
        + n.mac.replace(":", "")[4:8]
        + "."
        + n.mac.replace(":", "")[8:]
        for n in scene.site.nodes
    ]
    while t < scene.end:
        seq += 1
        if rng.random() < 0.2:
            _syslog(scene, sw.name, t, "%SPANTREE-5-TOPOTRAP: Topology Change Trap for vlan 1", seq)
        else:
            a, b = rng.sample(loop, 2)
            _syslog(
                scene,
                sw.name,
                t,
                f"%SW_MATM-4-MACFLAP_NOTIF: Host {rng.choice(macs)} in vlan 1 is flapping "
                f"between port {_short(a.descr)} and port {_short(b.descr)}",
                seq,
            )
        t += rng.uniform(4, 25) / (0.3 + sev)
    # downstream: every upstream DNS query crosses the switch; kubelets' lease updates crawl
    later = onset + _later(ctx)
    hard = ctx.hard
    loss = rng.uniform(0.5, 0.9) if hard else min(0.95, 0.1 + 0.6 * sev)
    dns_upstream_trouble(scene, later, loss, rng, servfail=0.02 * sev)
    slow = rng.uniform(20, 60) if hard else 3 + 40 * sev
    apiserver_slow(scene, onset + _later(ctx), slow, rng, errors=0.05 if hard else 0.02, code="504")
    for ing in scene.ingress[:2]:
        ingress_trouble(
            scene,
            ing.workload,
            onset + _later(ctx),
            rng,
            latency=ing.latency(onset) * (3 + 20 * sev),
            timeouts=0.1 if hard else 0.01 + 0.05 * sev,
        )
    alert = _symptom_alert(scene, ctx, onset, targets=True, api=True, dns=True, web=True)
    return Outcome(
        sw.name,
        f"A bridging loop on {sw.name}: {story}. Broadcasts circulate (ports {loop[0].index}/{loop[1].index}), "
        "the switch counts topology changes, MACs flap and egress queues drop; CoreDNS's upstream queries time out "
        "and the apiserver slows down as a consequence.",
        alert,
        ("dns", "control-plane", "application"),
    )


def _symptom_alert(
    scene: Scene,
    ctx: Ctx,
    onset: float,
    *,
    targets: bool = False,
    api: bool = False,
    dns: bool = False,
    web: bool = False,
) -> dict[str, Any]:
    """One of the alerts the network trouble sets off downstream (among those it causes)."""
    rng = ctx.rng
    options = [
        name
        for name, ok in (
            ("budget", api),
            ("coredns", dns),
            ("nginx", web and bool(scene.ingress)),
            ("target", targets),
        )
        if ok
    ] or ["coredns"]
    choice = rng.choice(options)
    if choice == "budget":
        return alerts.payload(
            scene, "KubeAPIErrorBudgetBurn", {}, "", onset + 240, group_by=("alertname",)
        )
    if choice == "coredns":
        return alerts.payload(
            scene,
            "CoreDNSErrorsHigh",
            {"job": "coredns", "namespace": "kube-system", "service": "kube-dns"},
            f"{rng.uniform(3.2, 30):.4g}%",
            onset + 120,
            group_by=("alertname",),
        )
    if choice == "nginx":
        return alerts.payload(
            scene, "NGINXTooMany500s", {"namespace": "ingress-nginx"}, "", onset + 200
        )
    return alerts.payload(
        scene,
        "TargetDown",
        {"job": "node-exporter", "namespace": "monitoring", "service": "node-exporter"},
        f"{100 / len(scene.site.nodes):.4g}",
        onset + 60,
        group_by=("alertname", "job"),
    )


def _node_port(scene: Scene, node: Node) -> PortState:
    return scene.switches[node.switch].ports[node.port]


def link_flap(scene: Scene, ctx: Ctx) -> Outcome:
    rng = ctx.rng
    node = rng.choice(list(scene.site.nodes[1:]) or list(scene.site.nodes))
    port = _node_port(scene, node)
    onset = onset_in(scene, rng, need_after=300)
    t = onset
    downs: list[tuple[float, float]] = []
    n = rng.randint(2, 7)
    for k in range(n):
        length = (
            rng.uniform(scene.snmp_interval + 5, scene.snmp_interval * 3)
            if k < 2
            else rng.uniform(4, 90)
        )
        downs.append((t, t + length))
        t += length + rng.uniform(20, 240)
        if t > scene.end - 30:
            break
    ns = scene.nodes[node.name]
    seq = rng.randint(1000, 90000)
    sw = scene.switches[node.switch]
    pulses: list[float] = []
    for a, b in downs:
        port.oper += [(a, 2), (b, 1)]
        ns.unreachable.append((a, b + 2))
        pulses.append(b + 1)
        for ts, state in ((a, "down"), (b, "up")):
            seq += 1
            _syslog(
                scene,
                sw.switch.name,
                ts + 0.2,
                f"%LINK-3-UPDOWN: Interface {port.descr}, changed state to {state}",
                seq,
            )
            seq += 1
            _syslog(
                scene,
                sw.switch.name,
                ts + 1.1,
                f"%LINEPROTO-5-UPDOWN: Line protocol on Interface {port.descr}, changed state to {state}",
                seq,
            )
        kernel(scene, node, a + 0.05, f"igc 0000:01:00.0 {node.nic}: NIC Link is Down", rng)
        speed = rng.choice((1000, 1000, 100))
        kernel(
            scene,
            node,
            b + 2.5,
            f"igc 0000:01:00.0 {node.nic}: NIC Link is Up {speed} Mbps Full Duplex, "
            "Flow Control: RX/TX",
            rng,
        )
        if b - a > 40:  # the node controller notices the missed heartbeats
            ns.ready = change(ns.ready, a + 40 + rng.uniform(0, 10), 0.0, until=b + 15)
    sw.tc_rate = lambda t: sum(0.1 for p in pulses if p <= t < p + 10)
    alert = (
        alerts.payload(
            scene,
            "NodeNetworkInterfaceFlapping",
            {
                "container": "node-exporter",
                "device": node.nic,
                "endpoint": "https",
                "instance": f"{node.name}:9100",
                "job": "node-exporter",
                "namespace": "monitoring",
                "pod": f"node-exporter-{rng.choice('bcdfghjk')}"
                f"{rng.choice('lmnpqrst')}{rng.randint(2, 9)}{rng.choice('vwxz')}{rng.randint(2, 9)}",
                "service": "node-exporter",
            },
            "",
            downs[1][0] if len(downs) > 1 else onset,
        )
        if rng.random() < 0.6
        else alerts.payload(
            scene,
            "TargetDown",
            {"job": "node-exporter", "namespace": "monitoring", "service": "node-exporter"},
            f"{100 / len(scene.site.nodes):.4g}",
            onset,
            group_by=("alertname", "job"),
        )
    )
    return Outcome(
        node.name,
        f"The link to {node.name} ({sw.switch.name} port {port.index}) went down and up {len(downs)} times: a "
        "loose or failing patch cable. The node drops off the network each time (scrapes fail, the node "
        "controller may mark it NotReady).",
        alert,
        ("compute",),
    )


def _affected(scene: Scene, node: Node) -> list[IngressState]:
    """Services behind the ingress whose traffic crosses ``node`` (backend or controller there)."""
    ctrl = any(
        p.pod.node == node.name for p in scene.pods if p.pod.workload == "ingress-nginx-controller"
    )
    return [
        i
        for i in scene.ingress
        if ctrl
        or any(p.pod.node == node.name for p in scene.pods_of(i.workload) if p.evicted is None)
    ]


def _node_trouble(scene: Scene, ctx: Ctx, node: Node, at: float, level: float) -> list[str]:
    """What a node losing packets does to what runs there (``level`` 0..1), from ``at``.
    Returns the layers that show symptoms."""
    rng = ctx.rng
    loud = 2.5 if ctx.hard else 1.0
    out: list[str] = []
    if any(p.pod.app == "coredns" and p.pod.node == node.name for p in scene.pods):
        dns_upstream_trouble(scene, at, min(0.9, (0.06 + 0.3 * level) * loud), rng)
        out.append("dns")
    for ing in _affected(scene, node):
        ingress_trouble(
            scene,
            ing.workload,
            at + rng.uniform(0, 30),
            rng,
            latency=ing.latency(at) * (2 + 10 * level),
            timeouts=(0.01 + 0.1 * level) * loud,
        )
        out.append("application")
    if node.control_plane:
        apiserver_slow(scene, at, (2 + 15 * level) * loud, rng, errors=0.01 * loud)
        out.append("control-plane")
    return list(dict.fromkeys(out))


def _alert_after(
    scene: Scene, ctx: Ctx, onset: float, herrings: list[str], *, targets: bool = False
) -> dict[str, Any]:
    return _symptom_alert(
        scene,
        ctx,
        onset,
        targets=targets,
        api="control-plane" in herrings,
        dns="dns" in herrings,
        web="application" in herrings,
    )


def packet_loss(scene: Scene, ctx: Ctx) -> Outcome:
    rng = ctx.rng
    node = _busy_node(scene, ctx)
    port = _node_port(scene, node)
    onset = onset_in(scene, rng, need_after=300)
    sev = rng.uniform(0.0, 1.0) ** 2
    wob = wobble(rng, 0.3)
    rate = 1.5 + 400 * sev
    port.out_disc = change(port.out_disc, onset, lambda t: rate * wob(t), ramp=30, how="add")
    ns = scene.nodes[node.name]
    ns.rx_drop = change(
        ns.rx_drop, onset, w.scale(wob, rate * rng.uniform(0.5, 0.9)), ramp=30, how="add"
    )
    kernel(
        scene,
        node,
        onset - rng.uniform(1, 5),
        f"igc 0000:01:00.0 {node.nic}: NIC Link is Up 100 Mbps Full Duplex, Flow Control: None",
        rng,
    )
    kernel(
        scene,
        node,
        onset - rng.uniform(0.5, 1),
        f"igc 0000:01:00.0 {node.nic}: Link Speed was downgraded by SmartSpeed",
        rng,
    )
    flaky_scrapes(scene, node, onset + 10, 0.03 + 0.2 * sev, rng)
    herrings = _node_trouble(scene, ctx, node, onset + _later(ctx), sev)
    return Outcome(
        node.name,
        f"{node.name}'s link renegotiated to 100 Mbps (a damaged cable) and {node.switch} drops frames queued "
        f"towards port {port.index}; the node's NIC drops too. What runs on {node.name} sees packet loss.",
        _alert_after(scene, ctx, onset, herrings, targets=True),
        tuple(herrings),
    )


def _busy_node(scene: Scene, ctx: Ctx) -> Node:
    """A node that runs something people notice (CoreDNS or an exposed app) when possible."""
    busy = [
        n
        for n in scene.site.nodes
        if _affected(scene, n)
        or any(p.pod.node == n.name and p.pod.app == "coredns" for p in scene.pods)
    ]
    return ctx.rng.choice(busy or list(scene.site.nodes))


def interface_errors(scene: Scene, ctx: Ctx) -> Outcome:
    rng = ctx.rng
    node = _busy_node(scene, ctx)
    port = _node_port(scene, node)
    early = rng.random() < 0.4  # the cable went bad hours ago; the alert waited an hour
    onset = scene.start - rng.uniform(3700, 9000) if early else onset_in(scene, rng, need_after=300)
    sev = rng.uniform(0.0, 1.0) ** 2
    wob = wobble(rng, 0.3)
    port.in_err = change(port.in_err, onset, lambda t: (1.4 + 300 * sev) * wob(t), how="add")
    ns = scene.nodes[node.name]
    ns.rx_err = change(ns.rx_err, onset, lambda t: (1.4 + 200 * sev) * wob(t), how="add")
    later = max(onset, scene.start) + _later(ctx)
    herrings = _node_trouble(scene, ctx, node, later, sev * 0.5)
    if early:
        alert = alerts.payload(
            scene,
            "NodeNetworkReceiveErrs",
            {
                "container": "node-exporter",
                "device": node.nic,
                "endpoint": "https",
                "instance": f"{node.name}:9100",
                "job": "node-exporter",
                "namespace": "monitoring",
                "service": "node-exporter",
            },
            f"{(1.4 + 200 * sev) * 120:.4g}",
            scene.start - 3600 + rng.uniform(60, 600),
        )
    else:
        alert = _alert_after(scene, ctx, onset, herrings)
    return Outcome(
        node.name,
        f"A bad patch cable between {node.name} and {node.switch} port {port.index}: CRC errors in both "
        "directions (the switch's ifInErrors and the node's receive errors).",
        alert,
        tuple(herrings),
    )


def conntrack_exhaustion(scene: Scene, ctx: Ctx) -> Outcome:
    rng = ctx.rng
    node = _busy_node(scene, ctx)
    ns = scene.nodes[node.name]
    onset = onset_in(scene, rng, need_after=240)
    climb = rng.uniform(120, 600)
    peak = rng.uniform(0.905, 1.0)
    start = ns.conntrack(onset)
    ns.conntrack = lambda t: (
        start
        if t < onset
        else start
        + (peak - start)
        * min(1.0, (t - onset) / climb)
        * (1 - 0.01 * (1 + math.sin(t / 37)) if peak > 0.99 else 1)
    )
    full_from = onset + climb * 0.97 if peak > 0.99 else onset + climb
    t = full_from
    while t < scene.end:
        if rng.random() < 0.35:
            kernel(
                scene,
                node,
                t - 0.001,
                f"net_ratelimit: {rng.randint(20, 900)} callbacks suppressed",
                rng,
            )
        kernel(scene, node, t, "nf_conntrack: nf_conntrack: table full, dropping packet", rng)
        t += rng.uniform(2, 25)
    herrings = _node_trouble(scene, ctx, node, full_from + _later(ctx), rng.uniform(0.1, 0.6))
    hog = next(
        (p for p in scene.pods_on(node.name) if p.pod.namespace not in ("kube-system",)), None
    )
    who = (
        f"{hog.pod.workload} (a retry loop opening a new connection per request)"
        if hog
        else "a client"
    )
    if rng.random() < 0.6 or not herrings:
        alert = alerts.payload(
            scene,
            "NodeHighNumberConntrackEntriesUsed",
            {
                "container": "node-exporter",
                "endpoint": "https",
                "instance": f"{node.name}:9100",
                "job": "node-exporter",
                "namespace": "monitoring",
                "service": "node-exporter",
            },
            f"{peak * 100:.0f}%",
            onset + climb * (0.75 - start) / max(peak - start, 0.01),
        )
    else:
        alert = _alert_after(scene, ctx, full_from, herrings)
    return Outcome(
        node.name,
        f"{who} on {node.name} fills the conntrack table ({peak:.0%} of the limit); the kernel drops new flows "
        "(nf_conntrack: table full), so connections and DNS lookups from that node fail.",
        alert,
        tuple(herrings),
    )


def mtu_mismatch(scene: Scene, ctx: Ctx) -> Outcome:
    rng = ctx.rng
    node = _busy_node(scene, ctx)
    ns = scene.nodes[node.name]
    onset = onset_in(scene, rng, need_after=300)
    jumbo = rng.random() < 0.3
    mtu = 9000.0 if jumbo else float(rng.choice((1400, 1450, 1280, 1420)))
    ns.mtu = change(ns.mtu, onset, mtu)
    kernel(
        scene,
        node,
        onset + 0.3,
        f"igc 0000:01:00.0 {node.nic}: changing MTU from 1500 to {int(mtu)}",
        rng,
    )
    if jumbo:  # the switch counts the node's oversized frames as input errors (giants)
        port = _node_port(scene, node)
        port.in_err = change(port.in_err, onset, rng.uniform(0.3, 20), how="add")
    else:
        ns.icmp_unreach = change(ns.icmp_unreach, onset, rng.uniform(1.2, 60), ramp=60, how="add")
    herrings = _node_trouble(scene, ctx, node, onset + _later(ctx), rng.uniform(0.2, 0.8))
    ps = next(
        (
            p
            for p in scene.pods_on(node.name)
            if p.pod.namespace not in ("kube-system",) and p.pod.ip
        ),
        None,
    )
    if ps is not None:
        t = onset + _later(ctx)
        while t < scene.end:
            scene.log(
                t,
                labels_of(ps.pod),
                fmt.app_json(
                    t,
                    "WARN",
                    "request failed",
                    err="read tcp: i/o timeout",
                    attempt=rng.randint(1, 3),
                ),
            )
            t += rng.uniform(30, 150)
    return Outcome(
        node.name,
        f"{node.name}'s {node.nic} was reconfigured to MTU {int(mtu)} (netplan) while the rest of the network uses "
        "1500; large packets to and from it are dropped, so TCP connections carrying big responses stall.",
        _alert_after(scene, ctx, onset, herrings),
        tuple(herrings),
    )


FAULTS = (
    Fault("network", "stp_loop", stp_loop, ("snmp",), hard=True),
    Fault("network", "link_flap", link_flap, ("snmp", "logs")),
    Fault("network", "packet_loss", packet_loss, hard=True),
    Fault("network", "interface_errors", interface_errors, hard=True),
    Fault("network", "conntrack_exhaustion", conntrack_exhaustion, hard=True),
    Fault("network", "mtu_mismatch", mtu_mismatch, hard=True),
)
