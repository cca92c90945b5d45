"""No fault: an alert that fires although nothing is broken (the right answer is "nothing")."""

from __future__ import annotations

from tools.scenario.generate import alerts
from tools.scenario.generate.faults import Ctx, Fault, Outcome
from tools.scenario.generate.faults.common import app_lines
from tools.scenario.generate.scene import Scene, change


def no_fault(scene: Scene, ctx: Ctx) -> Outcome:
    rng = ctx.rng
    limited = [
        p
        for p in scene.pods
        if p.pod.cpu_limit and p.created is None and p.pod.namespace != "kube-system"
    ]
    kind = rng.choice(("throttle", "memory", "conntrack") if limited else ("memory", "conntrack"))
    if kind == "throttle":
        ps = rng.choice(limited)
        node = scene.site.node(ps.pod.node)
        share = rng.uniform(0.27, 0.55)
        lim = ps.pod.cpu_limit or 1.0
        ps.cpu = change(ps.cpu, scene.start, lim * rng.uniform(0.85, 0.97))
        ps.throttle = change(ps.throttle, scene.start, share)
        app_lines(
            scene, ps, scene.start + 20, rng, "INFO", ["batch done", "processed chunk"], (40, 160)
        )
        alert = alerts.payload(
            scene,
            "CPUThrottlingHigh",
            {
                "container": ps.pod.container,
                "instance": f"{node.ip}:10250",
                "namespace": ps.pod.namespace,
                "pod": ps.pod.name,
                "service": "kubelet",
            },
            f"{share * 100:.4g}%",
            scene.at(rng.uniform(0.2, 0.5)),
        )
        return Outcome(
            ps.pod.workload,
            f"{ps.pod.workload} is CPU-bound by design under a {lim:g}-core limit: "
            f"{share:.0%} of its CFS periods are throttled and the info alert fires. It makes steady "
            "progress; nothing restarts, nothing else is unusual: nothing is broken.",
            alert,
        )
    node = rng.choice(scene.site.nodes)
    ns = scene.nodes[node.name]
    labels = {
        "container": "node-exporter",
        "endpoint": "https",
        "instance": f"{node.name}:9100",
        "job": "node-exporter",
        "namespace": "monitoring",
        "service": "node-exporter",
    }
    if kind == "memory":
        free = rng.uniform(0.05, 0.09)
        ns.mem_avail = change(ns.mem_avail, scene.start, node.mem * free)
        alert = alerts.payload(
            scene,
            "NodeMemoryHighUtilization",
            labels,
            f"{(1 - free) * 100:.4g}",
            scene.at(rng.uniform(0.1, 0.6)),
        )
        return Outcome(
            node.name,
            f"{node.name} keeps {1 - free:.0%} of its memory in use by design (ZFS's ARC "
            "is not counted as available): the alert fires, but nothing is under pressure, nothing is "
            "killed or evicted: nothing is broken.",
            alert,
        )
    ratio = rng.uniform(0.76, 0.86)
    ns.conntrack = change(ns.conntrack, scene.start, ratio)
    alert = alerts.payload(
        scene,
        "NodeHighNumberConntrackEntriesUsed",
        labels,
        f"{ratio * 100:.0f}%",
        scene.at(rng.uniform(0.1, 0.6)),
    )
    return Outcome(
        node.name,
        f"{node.name} tracks many connections ({ratio:.0%} of its conntrack limit) as it "
        "always does at this hour; the table never fills, nothing is dropped: nothing is broken.",
        alert,
    )


FAULTS = (Fault("none", "no_fault", no_fault),)
