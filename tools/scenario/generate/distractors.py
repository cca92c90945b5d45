"""Distractors: real but mild anomalies that are not the cause.

Each one stays below the thresholds of docs/signals.md (a single restart, CPU at 70 %,
a disk 85 % full, a broadcast rate ×4 on one port, a couple of DNS timeouts, ...) or
is an ordinary event (a harmless rollout, a port coming up). A scenario gets one or
two, chosen independently of its fault, on components the fault does not involve.
"""

from __future__ import annotations

import random
from collections.abc import Callable

from tools.scenario.generate import formats as fmt
from tools.scenario.generate.faults.common import app_pods, kubelet
from tools.scenario.generate.scene import Scene, change


def _restart_once(scene: Scene, rng: random.Random, avoid: set[str]) -> None:
    pods = [p for p in app_pods(scene) if p.pod.workload not in avoid and p.pod.node not in avoid]
    if not pods:
        return
    ps = rng.choice(pods)
    t = scene.at(rng.uniform(0.1, 0.9))
    ps.downs.append((t, t + rng.uniform(2, 8)))
    ps.restarts.append(t + 8)
    ps.reasons.append((t, "Error"))
    kubelet(
        scene,
        scene.site.node(ps.pod.node),
        t + 1,
        "I",
        "kubelet.go:2448",
        f'"SyncLoop (PLEG): event for pod" pod="{ps.pod.namespace}/{ps.pod.name}" event={{"ID":"{ps.pod.uid}",'
        '"Type":"ContainerDied"}',
        rng,
    )


def _cpu_busy(scene: Scene, rng: random.Random, avoid: set[str]) -> None:
    nodes = [n for n in scene.site.nodes if n.name not in avoid]
    if nodes:
        ns = scene.nodes[rng.choice(nodes).name]
        t = scene.at(rng.uniform(0.1, 0.7))
        ns.cpu = change(ns.cpu, t, rng.uniform(0.55, 0.8), ramp=60, until=t + rng.uniform(300, 720))


def _memory_growth(scene: Scene, rng: random.Random, avoid: set[str]) -> None:
    pods = [p for p in app_pods(scene, limited=True) if p.pod.workload not in avoid]
    if pods:
        ps = rng.choice(pods)
        lim = ps.pod.mem_limit or 1.0
        top = rng.uniform(0.4, 0.7) * lim
        ps.mem = change(
            ps.mem,
            scene.start,
            lambda t: min(top, ps.pod.mem + (top - ps.pod.mem) * (t - scene.start) / scene.length),
        )


def _broadcast_bump(scene: Scene, rng: random.Random, avoid: set[str]) -> None:
    sws = [s for s in scene.switches.values() if s.switch.name not in avoid]
    if sws:
        ss = rng.choice(sws)
        port = rng.choice([p for p in ss.ports.values() if p.peer])
        t = scene.at(rng.uniform(0.4, 0.8))
        port.bcast = change(port.bcast, t, rng.uniform(2, 6), ramp=120, how="mul")


def _dns_blip(scene: Scene, rng: random.Random, avoid: set[str]) -> None:
    if avoid & {"dns"}:
        return
    pods = [p for p in scene.pods if p.pod.app == "coredns"]
    ps = rng.choice(pods)
    t = scene.at(rng.uniform(0.3, 0.9))
    labels = {
        "namespace": ps.pod.namespace,
        "pod": ps.pod.name,
        "app": "coredns",
        "host": ps.pod.node,
        "container": "coredns",
    }
    for _ in range(rng.randint(1, 3)):
        t += rng.uniform(1, 40)
        scene.log(
            t,
            labels,
            fmt.coredns_timeout(
                rng.choice(("api.github.com.", "time.cloudflare.com.", "registry-1.docker.io.")),
                rng.choice(("A", "AAAA")),
                ps.pod.ip,
                rng.randint(32768, 60999),
                scene.site.router,
            ),
        )


def _disk_high(scene: Scene, rng: random.Random, avoid: set[str]) -> None:
    nodes = [n for n in scene.site.nodes if n.name not in avoid]
    if nodes:
        ns = scene.nodes[rng.choice(nodes).name]
        ns.fs_free = change(ns.fs_free, scene.start, rng.uniform(0.13, 0.2))


def _inodes_high(scene: Scene, rng: random.Random, avoid: set[str]) -> None:
    nodes = [n for n in scene.site.nodes if n.name not in avoid]
    if nodes:
        ns = scene.nodes[rng.choice(nodes).name]
        ns.inodes_free = change(ns.inodes_free, scene.start, rng.uniform(0.15, 0.3))


def _conntrack(scene: Scene, rng: random.Random, avoid: set[str]) -> None:
    nodes = [n for n in scene.site.nodes if n.name not in avoid]
    if nodes:
        ns = scene.nodes[rng.choice(nodes).name]
        ns.conntrack = change(
            ns.conntrack, scene.at(rng.uniform(0.2, 0.6)), rng.uniform(0.45, 0.72), ramp=300
        )


def _api_blip(scene: Scene, rng: random.Random, avoid: set[str]) -> None:
    if "control-plane" in avoid:
        return
    t = scene.at(rng.uniform(0.3, 0.8))
    scene.api.latency = change(
        scene.api.latency, t, rng.uniform(1.5, 3), ramp=60, until=t + 240, how="mul"
    )


def _etcd_blip(scene: Scene, rng: random.Random, avoid: set[str]) -> None:
    if "control-plane" in avoid or "storage" in avoid:
        return
    t = scene.at(rng.uniform(0.3, 0.8))
    for es in scene.etcd:
        es.fsync = change(es.fsync, t, rng.uniform(0.006, 0.025), ramp=30, until=t + 180)


def _ingress_wobble(scene: Scene, rng: random.Random, avoid: set[str]) -> None:
    ings = [i for i in scene.ingress if i.workload not in avoid]
    if ings:
        ing = rng.choice(ings)
        t = scene.at(rng.uniform(0.2, 0.8))
        ing.latency = change(
            ing.latency, t, rng.uniform(1.5, 3.5), ramp=60, until=t + 300, how="mul"
        )
        ing.errors = change(ing.errors, t, rng.uniform(0.005, 0.02), until=t + 300)


def _port_up(scene: Scene, rng: random.Random, avoid: set[str]) -> None:
    sws = [s for s in scene.switches.values() if s.switch.name not in avoid]
    if sws:
        ss = rng.choice(sws)
        spare = [p for p in ss.ports.values() if not p.peer and len(p.oper) == 1]
        if spare:
            t = scene.at(rng.uniform(0.2, 0.9))
            spare[-1].oper.append((t, 1))
            prev = ss.tc_rate
            ss.tc_rate = lambda x: prev(x) + (0.1 if t + 1 <= x < t + 11 else 0.0)


def _configmap_edit(scene: Scene, rng: random.Random, avoid: set[str]) -> None:
    """Someone edits an unrelated ConfigMap; nothing restarts and nothing breaks."""
    cms = [
        (ns_, cm)
        for ns_, cm, _, _ in scene.configmaps
        if cm.endswith("-config") and cm.removesuffix("-config") not in avoid
    ]
    if cms:
        key = rng.choice(cms)
        scene.configmap_edits.setdefault(key, []).append(scene.at(rng.uniform(0.1, 0.9)))


DISTRACTORS: tuple[Callable[[Scene, random.Random, set[str]], None], ...] = (
    _restart_once,
    _cpu_busy,
    _memory_growth,
    _broadcast_bump,
    _dns_blip,
    _disk_high,
    _inodes_high,
    _conntrack,
    _api_blip,
    _etcd_blip,
    _ingress_wobble,
    _port_up,
    _configmap_edit,
)


def add_distractors(scene: Scene, rng: random.Random, avoid: set[str]) -> int:
    """Add one or two mild anomalies away from ``avoid`` (components and layers); returns how many."""
    n = rng.choice((1, 1, 2))
    for fn in rng.sample(DISTRACTORS, n):
        fn(scene, rng, avoid)
    return n
