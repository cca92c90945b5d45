#!/usr/bin/env python3
"""Five more seed incidents on build_seed's homelab site: nodes, disks, links and memory.

    .venv/bin/python scenarios/build_seed.py            # builds these with the others
    .venv/bin/python scenarios/build_seed.py --check    # byte-for-byte reproducibility

02 a node NotReady (PLEG), 03 a root filesystem filled from outside Kubernetes (DiskPressure
and evictions), 04 a bad patch cable (CRC errors, retransmits, slow web probes), 05 a
memory hog without limits evicted by the kubelet, 08 a steady memory leak up to the OOM
kill. Each reuses build_seed's site, helpers and writers; nothing here is copied from it.

All five are recorded the same way, so the presence of a series family or log stream says
nothing about the incident: besides what build_seed records everywhere, every one of them
also carries the four node conditions, ``kube_node_spec_unschedulable``,
``kube_pod_status_reason{reason="Evicted"}``, ``kubelet_node_name`` (and
``kubelet_evictions`` where a kubelet has evicted since it started),
``node_netstat_Tcp_RetransSegs`` and blackbox-exporter probes of three web apps. Only
``scenario.yaml``'s ``ground_truth`` says what happened; titles and tags describe the alert.
"""

from __future__ import annotations

import hashlib
import math
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import build_seed as bs
from build_seed import NODE, NODES, Build, GiB, MiB, NodeLoad, Pod

from tools.scenario import writer as w  # importable once build_seed has set sys.path

Profile = bs.Profile
KSM_JOB = {"instance": bs.KSM_TARGET, "job": "kube-state-metrics"}
NODE_CONDITIONS = ("Ready", "MemoryPressure", "DiskPressure", "PIDPressure")

# Two more of the site's workloads (Home Assistant's MQTT broker, the probe exporter).
MOSQUITTO = Pod(
    "home",
    "mosquitto-5f7d8b9c6d-k2xq9",
    "10.244.1.25",
    "node-2",
    "mosquitto",
    "mosquitto",
    "docker.io/library/eclipse-mosquitto:2.0.20",
    mem=9.4 * MiB,
    mem_limit=128 * MiB,
    cpu=0.004,
)
BLACKBOX = Pod(
    "monitoring",
    "blackbox-exporter-7b9c6d5f48-wq7zr",
    "10.244.2.14",
    "node-3",
    "blackbox-exporter",
    "blackbox-exporter",
    "quay.io/prometheus/blackbox-exporter:v0.25.0",
    mem=21 * MiB,
    mem_limit=40 * MiB,
    cpu=0.003,
)
SITE_PODS = (*bs.BACKGROUND_PODS, MOSQUITTO, BLACKBOX)
BG = {p.app: p for p in SITE_PODS}
CRITICAL = {  # node-critical DaemonSet pods the kubelet never evicts, per node
    "node-1": ("kube-system/kube-proxy-q8w2n", "kube-flannel/kube-flannel-ds-tj7vb"),
    "node-2": ("kube-system/kube-proxy-x7c2m", "kube-flannel/kube-flannel-ds-9hzq5"),
    "node-3": ("kube-system/kube-proxy-hv5rz", "kube-flannel/kube-flannel-ds-mk4lx"),
}


# =========================================================================== recording


def ksm_pod(
    b: Build,
    pod: Pod,
    pod_uid: str,
    *,
    evicted: float | None = None,
    created: float | None = None,
    deleted: float | None = None,
    **kw: Any,
) -> None:
    """build_seed's kube-state-metrics pod series plus ``kube_pod_status_reason``."""
    bs.ksm_pod(b, pod, pod_uid, created=created, deleted=deleted, **kw)
    pts = [
        (t, 1.0 if evicted is not None and t >= evicted else 0.0)
        for t in bs.ksm_times(b)
        if (created is None or t >= created) and (deleted is None or t < deleted)
    ]
    b.om.gauge(
        "kube_pod_status_reason",
        "The pod status reasons",
        {
            **KSM_JOB,
            "namespace": pod.namespace,
            "pod": pod.name,
            "reason": "Evicted",
            "uid": pod_uid,
        },
        pts,
    )


def steady(b: Build, uids: dict[str, str], pods: Sequence[Pod]) -> None:
    """Pods that just run through the window."""
    for pod in pods:
        bs.cadvisor(b, pod, mem=bs._mem_drift(b, pod))
        ksm_pod(b, pod, uids[pod.name])


def cluster_dns(
    b: Build, uids: dict[str, str], pods: Sequence[Pod], loads: Sequence[bs.DnsLoad]
) -> list[bs.DnsPod]:
    """CoreDNS pods; one load for all of them, or one load per pod (its share of traffic)."""
    dpods = [bs.DnsPod(p, uids[p.name]) for p in pods]
    for p in pods:
        bs.cadvisor(b, p, mem=w.constant(p.mem * 0.81))
        ksm_pod(b, p, uids[p.name], priority="system-cluster-critical")
    if len(loads) == 1:
        bs.coredns(b, dpods, loads[0], log_share=2.4e-3)
    else:
        for dp, load in zip(dpods, loads, strict=True):
            bs.coredns(b, [dp], load, log_share=2.4e-3)
    return dpods


def node_extras(
    b: Build,
    retrans: dict[str, Profile] | None = None,
    conditions: Callable[[str, str, float], str] | None = None,
    evictions: dict[str, tuple[str, int, Sequence[float]]] | None = None,
) -> None:
    """Node conditions, unschedulable, kubelet node name / evictions, TCP retransmits.

    ``evictions``: node -> (eviction signal, evictions since the kubelet started, times of
    the ones in the window); the kubelet creates the series at its first eviction.
    """
    bs.ksm_nodes(b, NODE_CONDITIONS, conditions)
    for node in NODES:
        b.om.gauge(
            "kube_node_spec_unschedulable",
            "Whether a node can schedule new pods.",
            {**KSM_JOB, "node": node.name},
            [(t, 0.0) for t in bs.ksm_times(b)],
        )
    for node in NODES:
        target = f"{node.ip}:10250/metrics"
        labels = {
            "endpoint": "https-metrics",
            "instance": f"{node.ip}:10250",
            "job": "kubelet",
            "metrics_path": "/metrics",
            "namespace": "kube-system",
            "service": "kubelet",
        }
        times = b.ok_times(target, b.times(target))
        b.om.gauge(
            "kubelet_node_name",
            "The node's name. The count is always 1.",
            {**labels, "node": node.name},
            [(t, 1.0) for t in times],
        )
        if evictions and node.name in evictions:
            signal, before, when = evictions[node.name]
            pts = [(t, float(before + sum(1 for x in when if x <= t))) for t in times]
            b.om.unknown(  # a counter without _total: OpenMetrics has no type for it
                "kubelet_evictions",
                "[ALPHA] Cumulative number of pod evictions by eviction signal",
                {**labels, "eviction_signal": signal},
                [p for p in pts if p[1] > 0],
            )
    for node in NODES:
        target = f"{node.name}:9100"
        rate = (retrans or {}).get(node.name, w.constant(0.0))
        boot = b.start - node.boot_days * 86400
        pts = w.counter_series(
            b.rng(node.name, "retrans"),
            b.times(target),
            w.add(w.constant(0.35 + 0.1 * node.port), rate),
            start=float(int((b.start - boot) * 0.4)),
            jitter=0.35,
        )
        b.om.unknown(  # node exporter exports netstat counters untyped
            "node_netstat_Tcp_RetransSegs",
            "Statistic TcpRetransSegs.",
            {"instance": target, "job": "node-exporter"},
            b.ok(target, pts),
        )


# --------------------------------------------------------------------------- blackbox


@dataclass(frozen=True)
class Probe:
    """An HTTP probe of one web app through ingress-nginx, by the blackbox exporter."""

    url: str
    app: str  # the workload behind it
    base: float  # seconds, when all is well


PROBES = (
    Probe("https://ha.home.arpa/", "home-assistant", 0.047),
    Probe("https://photos.home.arpa/api/server/ping", "immich-server", 0.034),
    Probe("https://grafana.home.arpa/api/health", "grafana", 0.028),
)


def blackbox(
    b: Build,
    down: Mapping[str, Sequence[tuple[float, float]]] | None = None,
    loss: Profile | None = None,
    crosses: frozenset[str] = frozenset(),
) -> dict[str, list[w.Point]]:
    """Probes every 60 s; returns ``probe_duration_seconds`` by URL.

    ``down``: app -> intervals without ready endpoints (ingress answers 503 at once).
    ``loss``: frame loss on the exporter's own link (it runs on node-3), and on the
    ingress-to-app hop for the apps in ``crosses``: a lost DNS packet costs the resolver's
    5 s timeout (the probe fails), a lost SYN or SYN-ACK the initial 1 s RTO (doubling),
    any other lost frame one retransmission timeout (≥ 200 ms).
    """
    out: dict[str, list[w.Point]] = {}
    for probe in PROBES:
        target = f"blackbox/{probe.url}"
        rng = b.rng("probe", probe.url)
        labels = {"instance": probe.url, "job": "blackbox"}
        dur: list[w.Point] = []
        ok: list[w.Point] = []
        code: list[w.Point] = []
        for t in b.times(target):
            d = probe.base * max(0.6, 1 + rng.gauss(0, 0.12))
            status = 200
            p = loss(t) if loss else 0.0
            if any(a <= t < z for a, z in (down or {}).get(probe.app, ())):
                status, d = 503, d * 0.9
            elif p > 0:
                both = 1 - (1 - p) ** 2
                if rng.random() < 0.5 and rng.random() < both:
                    d, status = 5.0 + rng.uniform(0.0005, 0.004), 0
                else:
                    k = 0
                    while k < 3 and rng.random() < both:
                        d += 2.0**k
                        k += 1
                    frames = 10 + (4 if probe.app in crosses else 0)
                    d += sum(rng.uniform(0.2, 0.34) for _ in range(frames) if rng.random() < p)
                    if d >= 5.0:
                        d, status = 5.0 + rng.uniform(0.0005, 0.004), 0
            dur.append((t, round(d, 6)))
            ok.append((t, 1.0 if status == 200 else 0.0))
            code.append((t, float(status)))
        b.om.gauge(
            "probe_duration_seconds",
            "Returns how long the probe took to complete in seconds",
            labels,
            dur,
        )
        b.om.gauge("probe_success", "Displays whether or not the probe was a success", labels, ok)
        b.om.gauge("probe_http_status_code", "Response HTTP status code", labels, code)
        b.up("blackbox", probe.url, target)
        out[probe.url] = dur
    return out


def without_endpoints(down: Mapping[str, Sequence[tuple[float, float]]]) -> list[Any]:
    """build_seed's ingress backends, serving nothing while their app has no ready endpoint.

    (ingress-nginx answers those requests 503 itself; build_seed's ingress model has no 503
    series yet, so they are left out rather than counted as 200s.)
    """

    def serving(spans: Sequence[tuple[float, float]]) -> Profile:
        return lambda t: 0.0 if any(a <= t < z for a, z in spans) else 1.0

    return [
        replace(be, rate=w.scale(be.rate, serving(down.get(be.pod.app, ()))))
        for be in bs.quiet_backends()
    ]


# --------------------------------------------------------------------------- logs


def kubelet(b: Build, node: str, ts: float, level: str, where: str, msg: str) -> None:
    """One kubelet journal line of ``node``."""
    ms = math.floor(ts * 1000) / 1000  # klog's clock, to the microsecond
    micros = math.floor(ts * 1e6) % 1000
    b.log(
        ms,
        {"app": "kubelet", "host": node},
        bs.klog(ms, level, bs.KUBELET_PID[node], where, msg, micros),
    )


def go_duration(seconds: float) -> str:
    """A Go ``time.Duration`` as ``String()`` prints it (``3m5.784152513s``)."""
    ns = round(seconds * 1e6) * 1000 + bs.stable_int("ns", seconds) % 1000
    h, rest = divmod(ns, 3_600_000_000_000)
    m, rest = divmod(rest, 60_000_000_000)
    s = f"{rest / 1e9:.9f}".rstrip("0").rstrip(".")
    return (f"{h}h" if h else "") + (f"{m}m" if h or m else "") + f"{s}s"


def before(ts: float) -> Callable[[float], bool]:
    return lambda t: t < ts


def rfc3339_s(ts: float) -> str:
    return datetime.fromtimestamp(math.floor(ts), tz=UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def container_id(*parts: object) -> str:
    return hashlib.sha256("/".join(map(str, parts)).encode()).hexdigest()


def kobjs(names: Sequence[str]) -> str:
    return "[" + ",".join(f'"{n}"' for n in names) + "]"


def pod_ref(pod: Pod) -> str:
    return f"{pod.namespace}/{pod.name}"


Line = tuple[float, str, str, str]
"""A kubelet line: seconds after the previous one, level, file:line, message."""


def kubelet_lines(b: Build, node: str, ts: float, lines: Sequence[Line]) -> None:
    for dt, level, where, msg in lines:
        ts += dt
        kubelet(b, node, ts, level, where, msg)


def reclaim_lines(resource: str, ranked: Sequence[str], gc: bool) -> list[Line]:
    """An eviction-manager pass up to its ranking (node-level reclaim first for disk)."""
    lines: list[Line] = [
        (
            0.0,
            "I",
            "eviction_manager.go:369",
            f'"Eviction manager: attempting to reclaim" resourceName="{resource}"',
        )
    ]
    if gc:
        lines += [
            (0.0058, "I", "container_gc.go:88", '"Attempting to delete unused containers"'),
            (0.0105, "I", "image_gc_manager.go:431", '"Attempting to delete unused images"'),
        ]
    return [
        *lines,
        (
            0.0766,
            "I",
            "eviction_manager.go:380",
            f'"Eviction manager: must evict pod(s) to reclaim" resourceName="{resource}"',
        ),
        (
            0.0007,
            "I",
            "eviction_manager.go:398",
            f'"Eviction manager: pods ranked for eviction" pods={kobjs(ranked)}',
        ),
    ]


def evict_lines(
    b: Build,
    node: str,
    ts: float,
    resource: str,
    victim: Pod,
    victim_uid: str,
    ranked: Sequence[str],
    *,
    gc: bool,
) -> None:
    """One eviction-manager pass that evicts ``victim``, the first evictable pod in ``ranked``."""
    ref = pod_ref(victim)
    cid = container_id("ctr", victim.name)
    kubelet_lines(
        b,
        node,
        ts,
        [
            *reclaim_lines(resource, ranked, gc),
            (
                0.0011,
                "I",
                "kuberuntime_container.go:779",
                f'"Killing container with a grace period" pod="{ref}" podUID="{victim_uid}" '
                f'containerName="{victim.container}" containerID="containerd://{cid}" gracePeriod=1',
            ),
            (
                1.4137,
                "I",
                "eviction_manager.go:627",
                f'"Eviction manager: pod is evicted successfully" pod="{ref}"',
            ),
            (
                0.0003,
                "I",
                "eviction_manager.go:208",
                f'"Eviction manager: pods evicted, waiting for pod to be cleaned up" pods={kobjs([ref])}',
            ),
            (
                2.3071,
                "I",
                "eviction_manager.go:436",
                f'"Eviction manager: pods successfully cleaned up" pods={kobjs([ref])}',
            ),
        ],
    )


# --------------------------------------------------------------------------- alerts

RULES: dict[str, dict[str, str]] = {
    # kube-prometheus (kubernetesControlPlane-prometheusRule.yaml, kubernetes-system-kubelet)
    "KubeNodeNotReady": {
        "group": "kubernetes-system-kubelet",
        "expr": 'kube_node_status_condition{job="kube-state-metrics",condition="Ready",status="true"}'
        ' == 0\nand on (cluster, node)\nkube_node_spec_unschedulable{job="kube-state-metrics"} == 0\n',
        "runbook_url": "https://runbooks.prometheus-operator.dev/runbooks/kubernetes/kubenodenotready",
        "summary": "Node is not ready.",
    },
    "KubeNodePressure": {
        "group": "kubernetes-system-kubelet",
        "expr": 'kube_node_status_condition{job="kube-state-metrics",condition=~"(MemoryPressure|'
        'DiskPressure|PIDPressure)",status="true"} == 1\nand on (cluster, node)\n'
        'kube_node_spec_unschedulable{job="kube-state-metrics"} == 0\n',
        "runbook_url": "https://runbooks.prometheus-operator.dev/runbooks/kubernetes/kubenodepressure",
        "summary": "Node has as active Condition.",
    },
    "KubeNodeEviction": {
        "group": "kubernetes-system-kubelet",
        "expr": 'sum(rate(kubelet_evictions{job="kubelet", metrics_path="/metrics"}[15m])) by(cluster, '
        "eviction_signal, instance)\n* on (cluster, instance) group_left(node)\nmax by (cluster, "
        'instance, node) (\n  kubelet_node_name{job="kubelet", metrics_path="/metrics"}\n)\n> 0\n',
        "runbook_url": "https://runbooks.prometheus-operator.dev/runbooks/kubernetes/kubenodeeviction",
        "summary": "Node is evicting pods.",
    },
    # awesome-prometheus-alerts (blackbox-exporter, kubestate-exporter), as the site runs them
    "BlackboxSlowProbe": {
        "group": "blackbox",
        "expr": "avg_over_time(probe_duration_seconds[1m]) > 1",
        "summary": "Blackbox slow probe (instance {instance})",
    },
    "KubernetesContainerOomKiller": {
        "group": "kubestate-exporter",
        "expr": "(kube_pod_container_status_restarts_total - kube_pod_container_status_restarts_total "
        "offset 10m >= 1) and ignoring (reason) min_over_time(kube_pod_container_status_last_"
        'terminated_reason{reason="OOMKilled"}[10m]) == 1',
        "summary": "Kubernetes container oom killer (instance {instance})",
    },
}


def go_float(x: float) -> str:
    """A float as Go's ``%v`` (strconv 'g', shortest) prints it, for ``{{ $value }}``."""
    text = repr(float(x))
    if text.endswith(".0"):
        text = text[:-2]
    if "e" in text:
        mant, exp = text.split("e")
        text = f"{mant}e{'+' if not exp.startswith('-') else '-'}{abs(int(exp)):02d}"
    return text


def go_map(labels: dict[str, str]) -> str:
    """``{{ $labels }}`` as Go's ``fmt`` prints a map: ``map[a:b c:d]``."""
    return "map[" + " ".join(f"{k}:{labels[k]}" for k in sorted(labels)) + "]"


def send(
    b: Build,
    name: str,
    labels: dict[str, str],
    annotations: dict[str, str],
    starts: float,
    group: dict[str, str],
) -> dict[str, Any]:
    """The webhook body Alertmanager POSTs for one firing alert."""
    assert starts + 30 < b.end, (name, w.rfc3339(starts), w.rfc3339(b.end))
    rule = RULES[name]
    entry = w.alert_entry(
        bs.kube_alert_labels({"alertname": name, **labels}),
        annotations,
        starts,
        w.generator_url(bs.PROM_URL, rule["expr"]),
    )
    return w.webhook_payload([entry], receiver="strata", group_labels=group, external_url=bs.AM_URL)


def series_of(b: Build, family: str, **match: str) -> list[w.Point]:
    for labels, pts in b.om.series(family):
        if all(labels.get(k) == v for k, v in match.items()):
            return pts
    raise KeyError((family, match))


def scenario_meta(
    b: Build, title: str, pods: Sequence[Pod], truth: dict[str, Any]
) -> dict[str, Any]:
    return {
        "schema_version": 1,
        "id": b.sid,
        "title": title,
        "observed_at": w.rfc3339(b.end),
        "window": {"start": w.rfc3339(b.start), "end": w.rfc3339(b.end)},
        "topology": bs.topology(pods),
        "ground_truth": truth,
        "tags": ["seed"],
    }


def switch(b: Build, overrides: dict[int, dict[str, Any]] | None, miss: Profile) -> None:
    """sw1 polled every 30 s (as build_seed's quiet switch), with port overrides."""
    sw1 = bs.Switch(
        "sw1", b.start - 46.3 * 86400, b.start - 9.7 * 86400, 41, bs.sw1_ports(overrides)
    )
    bs.snmp_switch(b, sw1, 30.0, miss)


def df_h(avail_frac: float, used_frac: float) -> str:
    """``df -h`` of a node (root filesystem fractions of its size)."""
    gi: Callable[[float], str] = lambda n: f"{n / GiB:.0f}G" if n >= 10 * GiB else f"{n / GiB:.1f}G"  # noqa: E731
    used = used_frac * bs.FS_SIZE
    avail = avail_frac * bs.FS_SIZE
    pct = math.ceil(used / (used + avail) * 100)
    return (
        "Filesystem      Size  Used Avail Use% Mounted on\n"
        "tmpfs           1.6G  3.9M  1.6G   1% /run\n"
        f"/dev/nvme0n1p2  {gi(bs.FS_SIZE)}  {gi(used)}  {gi(avail)}  {pct}% /\n"
        "tmpfs           7.8G     0  7.8G   0% /dev/shm\n"
        "tmpfs           5.0M     0  5.0M   0% /run/lock\n"
        "/dev/nvme0n1p1  1.1G  6.2M  1.1G   1% /boot/efi\n"
        "tmpfs           1.6G   12K  1.6G   1% /run/user/1000\n"
    )


# =========================================================================== 02


def build_02(out: Path) -> None:
    """node-2's container runtime stops answering the kubelet: PLEG, NotReady."""
    day = "2025-05-17"
    b = Build("02_node_not_ready", "seed-02", day, bs.at(day, "04:03:00"), bs.at(day, "04:35:00"))
    T = b.at
    node = "node-2"
    dns_a = bs.coredns_pod("coredns-7c65d6cfc9-r6vxh", "10.244.0.5", "node-1")
    dns_b = bs.coredns_pod("coredns-7c65d6cfc9-7tkwz", "10.244.2.7", "node-3")
    ha, immich, mqtt = BG["home-assistant"], BG["immich-server"], MOSQUITTO
    immich_new = replace(
        immich, name="immich-server-7d5c6b8f9-xq2lw", ip="10.244.0.52", node="node-1"
    )
    pods = [*SITE_PODS, dns_a, dns_b, immich_new]
    uids = bs.pod_uids(b, pods)

    # containerd's CRI server stops answering list calls at HANG (the runtime's Status
    # still answers); every PLEG relist then waits out the 2 min runtime request timeout.
    hang = T("04:13:47.318")
    last_relist = hang - 0.611
    unhealthy = last_relist + 180.0
    status_update = unhealthy + 4.79  # the next node status update (every 10 s)
    evict_at = status_update + 300.0 + 0.41  # not-ready:NoExecute, tolerationSeconds 300
    started_new = evict_at + 41.7  # scheduled on node-1, image pulled, started
    ready_new = started_new + 31.0

    def cond(n: str, c: str, t: float) -> str:
        if c == "Ready":
            return "false" if n == node and t >= status_update else "true"
        return "false"

    steady(b, uids, [p for p in SITE_PODS if p.node != node])
    for p in (ha, immich, mqtt):  # their containers keep running; the pods stay Terminating
        bs.cadvisor(b, p, mem=bs._mem_drift(b, p))
        ksm_pod(b, p, uids[p.name])
    alive_new: Callable[[float], bool] = lambda t: t >= started_new  # noqa: E731
    bs.cadvisor(
        b,
        immich_new,
        mem=w.piecewise([(started_new, 140 * MiB), (started_new + 60, 470 * MiB)]),
        cpu=w.piecewise([(started_new, 0.6), (started_new + 50, 0.05)]),
        alive=alive_new,
    )
    ksm_pod(b, immich_new, uids[immich_new.name], created=evict_at + 0.2)
    cluster_dns(b, uids, [dns_a, dns_b], [bs.DnsLoad(background=w.constant(44.0))])
    node_extras(b, conditions=cond)
    for n in NODES:
        load = NodeLoad()
        if n.name == "node-1":
            load = NodeLoad(
                cpu_extra=w.piecewise(
                    [(started_new, 0.0), (started_new + 1, 0.6), (started_new + 50, 0.05)]
                ),
                mem_extra=w.step(started_new, 0.0, 470 * MiB),
                fs_extra=w.step(started_new - 20, 0.0, 0.71 * GiB),  # the image pull
            )
        bs.node_exporter(b, n, load)
    bs.etcd_fsync(b)
    # a handful of CRC errors on node-2's port over weeks: nothing new, nothing near 1/s
    switch(b, {2: {"in_err": w.constant(0.004)}}, lambda _t: 0.01)
    down = {
        "home-assistant": [(status_update + 6.0, b.end + 60)],
        "immich-server": [(status_update + 6.0, ready_new)],
    }
    blackbox(b, down)
    b.platform = bs.Platform(ingress=without_endpoints(down))
    bs.kube_noise(b)

    # kubelet on node-2: relists that time out, then PLEG unhealthy, then NotReady.
    deadline = 'err="rpc error: code = DeadlineExceeded desc = context deadline exceeded"'
    a = last_relist + 1.0
    while a < b.end:
        filt = 'filter="&PodSandboxFilter{Id:,State:nil,LabelSelector:map[string]string{},}"'
        relist: list[Line] = [
            (
                0.0,
                "E",
                "remote_runtime.go:294",
                f'"ListPodSandbox with filter from runtime service failed" {deadline} {filt}',
            ),
            (
                0.00007,
                "E",
                "kuberuntime_sandbox.go:305",
                f'"Failed to list pod sandboxes" {deadline}',
            ),
            (0.00004, "E", "generic.go:238", f'"GenericPLEG: Unable to retrieve pods" {deadline}'),
        ]
        kubelet_lines(b, node, a + 120.0021, relist)
        a += 121.0021
    t, wait = unhealthy + 0.283, 0.1
    first = True
    while t < b.end:
        seen = go_duration(t - last_relist)
        msg = f"PLEG is not healthy: pleg was last seen active {seen} ago; threshold is 3m0s"
        kubelet(b, node, t, "E", "kubelet.go:2412", f'"Skipping pod synchronization" err="{msg}"')
        if first and t >= status_update - 5:
            first = False
            seen = go_duration(status_update - last_relist)
            stamp = rfc3339_s(status_update)
            condition = (
                f'{{"type":"Ready","status":"False","lastHeartbeatTime":"{stamp}",'
                f'"lastTransitionTime":"{stamp}","reason":"KubeletNotReady","message":"PLEG is '
                f'not healthy: pleg was last seen active {seen} ago; threshold is 3m0s"}}'
            )
            notready: list[Line] = [
                (
                    0.0,
                    "I",
                    "kubelet_node_status.go:679",
                    f'"Recording event message for node" node="{node}" event="NodeNotReady"',
                ),
                (
                    0.00004,
                    "I",
                    "setters.go:600",
                    f'"Node became not ready" node="{node}" condition={condition}',
                ),
            ]
            kubelet_lines(b, node, status_update, notready)
        t += wait
        wait = min(5.0, wait * 2)

    # someone looked at node-2 after the page
    rng = b.rng("ssh-02")
    boot = b.start - NODE[node].boot_days * 86400
    t = T("04:33:41.207")
    b.ssh.append(w.ssh_record(t, node, "uptime", bs.uptime_line(t, boot, 1, (0.58, 0.61, 0.66))))
    b.ssh.append(
        w.ssh_record(t + 3.4, node, "systemctl is-active containerd kubelet", "active\nactive\n")
    )
    crictl_t = t + 9.1
    b.ssh.append(
        w.ssh_record(
            crictl_t,
            node,
            "crictl ps",
            "",
            stderr=bs.klog(
                crictl_t + 2.0,
                "E",
                rng.randint(600000, 700000),
                "remote_runtime.go:390",
                f'"ListContainers with filter from runtime service failed" {deadline} '
                'filter="&ContainerFilter{Id:,State:&ContainerStateValue{State:CONTAINER_RUNNING,},'
                'PodSandboxId:,LabelSelector:map[string]string{},}"',
                rng.randint(0, 999),
            )
            + '\ntime="'
            + rfc3339_s(crictl_t + 2.0)
            + '" level=fatal msg="listing containers: '
            'rpc error: code = DeadlineExceeded desc = context deadline exceeded"\n',
            exit_status=1,
        )
    )
    b.ssh.append(w.ssh_record(t + 16.8, node, "df -h", df_h(0.57, 0.38)))

    # The alert: KubeNodeNotReady (for: 15m).
    ready = series_of(b, "kube_node_status_condition", node=node, condition="Ready", status="true")
    rule = RULES["KubeNodeNotReady"]
    starts = bs.fired_at(
        bs.rule_evals(b, rule["group"]),
        lambda e: any(e - 300 < x <= e for x, _ in ready) and bs.value_at(ready, e) == 0.0,
        900,
    )
    labels = {
        "condition": "Ready",
        "instance": bs.KSM_TARGET,
        "job": "kube-state-metrics",
        "node": node,
        "severity": "warning",
        "status": "true",
    }
    ann = {
        "description": f"{node} has been unready for more than 15 minutes on cluster {bs.CLUSTER}.",
        "runbook_url": rule["runbook_url"],
        "summary": rule["summary"],
    }
    alert = send(b, "KubeNodeNotReady", labels, ann, starts, {"alertname": "KubeNodeNotReady"})
    meta = scenario_meta(
        b,
        "KubeNodeNotReady for one node",
        pods,
        {
            "layer": "compute",
            "fault": "node_not_ready",
            "component": node,
            "explanation": (
                "At 04:13:47 containerd on node-2 stops answering the kubelet's list calls "
                "(the runtime service is up, but ListPodSandbox hangs until the kubelet's 2 min "
                "request timeout). PLEG cannot relist; after its 3 min threshold the kubelet "
                "reports 'PLEG is not healthy' and node-2 goes NotReady at 04:16:52. Its pods "
                "are marked NotReady and dropped from their Services (Home Assistant and Immich "
                "answer 503); five minutes later the taint manager deletes them: immich-server "
                "comes back on node-1, home-assistant-0 and mosquitto stay Terminating on node-2. "
                "The network is fine: sw1 port 2 has its usual trickle of CRC errors."
            ),
            "red_herrings": [],
        },
    )
    bs.write(b, meta, alert, out)


# =========================================================================== 03


def cumulative(rate: Profile, start: float, end: float, step: float = 1.0) -> Profile:
    """The integral of ``rate`` from ``start`` (a piecewise-linear profile)."""
    knots: list[tuple[float, float]] = [(start, 0.0)]
    t, acc = start, 0.0
    while t < end:
        acc += (rate(t) + rate(t + step)) / 2 * step
        t += step
        knots.append((t, acc))
    return w.piecewise(knots)


def wobbly(
    rng: Any, start: float, end: float, level: float, spread: float, every: float
) -> Profile:
    """``level`` times a log-normal factor that changes every ``every`` seconds."""
    knots: list[tuple[float, float]] = []
    t = start
    while t <= end + every:
        knots.append((t, level * math.exp(rng.gauss(0, spread))))
        t += every
    return w.piecewise(knots)


def build_03(out: Path) -> None:
    """A host backup writes into an unmounted mount point on node-2's root filesystem."""
    day = "2025-01-26"
    b = Build("03_disk_pressure", "seed-03", day, bs.at(day, "02:16:00"), bs.at(day, "02:50:30"))
    T = b.at
    node = "node-2"
    dns_a = bs.coredns_pod("coredns-7c65d6cfc9-hb4zd", "10.244.0.6", "node-1")
    dns_b = bs.coredns_pod("coredns-7c65d6cfc9-9lqrt", "10.244.2.8", "node-3")
    ha, immich, mqtt = BG["home-assistant"], BG["immich-server"], MOSQUITTO
    immich_new = replace(
        immich, name="immich-server-7d5c6b8f9-m9w2c", ip="10.244.0.54", node="node-1"
    )
    pods = [*SITE_PODS, dns_a, dns_b, immich_new]
    uids = bs.pod_uids(b, pods)
    cap = bs.FS_SIZE

    # restic (a systemd timer on the host) backs up the local volumes to /mnt/backup/restic,
    # where the USB disk is not mounted: a new repository and a full backup land on /.
    r0 = T("02:30:00.412")
    w0 = r0 + 3.9  # "created restic repository", then the first pack files
    total = 45.93e9
    rate = wobbly(b.rng("restic"), w0, w0 + 900, 70e6, 0.12, 30.0)
    written_raw = cumulative(rate, w0, w0 + 900)
    w1 = next(t for t in range(int(w0), int(w0) + 900) if written_raw(t) >= total) + 0.0
    written: Profile = lambda t: 0.0 if t < w0 else min(total, written_raw(t))  # noqa: E731
    fs_used = 0.737
    growth = 2_000.0

    def avail(t: float, freed: float) -> float:
        return cap * (0.95 - fs_used) - growth * (t - b.start) - written(t) + freed

    # The kubelet's periodic image GC (every 5 min) above 85 % use, its eviction manager
    # (every 10 s) below 10 % available; what each frees.
    frees: list[tuple[float, float]] = []

    def freed(t: float) -> float:
        return sum(x for at, x in frees if at <= t)

    images = (
        ("sha256:5b1e3c9a7d2f", 812_034_556, "ghcr.io/immich-app/immich-server:v1.119.1"),
        ("sha256:a43f0e6c8d71", 913_288_420, "ghcr.io/home-assistant/home-assistant:2024.10.4"),
        ("sha256:0c7d92b1f4e8", 585_216_288, "ghcr.io/immich-app/immich-machine-learning:v1.119.1"),
    )
    gc_t = T("02:19:41.877")
    gc_runs: list[tuple[float, int]] = []
    while gc_t < b.end:
        usage = 100 - int(avail(gc_t, freed(gc_t)) * 100 / cap)
        if usage > 85:
            gc_runs.append((gc_t, usage))
            if len(gc_runs) == 1:
                frees.append((gc_t + 1.1, float(sum(x for _, x, _ in images))))
        gc_t += 300.0
    # evicted in the kubelet's ranking order (ephemeral-storage used), and what each frees
    victims: list[tuple[Pod, float]] = [(immich, 0.21e9), (ha, 0.064e9), (mqtt, 0.002e9)]
    sync = T("02:16:03.706")
    passes: list[tuple[float, Pod | None]] = []
    while sync < b.end:
        if avail(sync, freed(sync)) < 0.10 * cap:
            if victims:
                pod, frees_bytes = victims.pop(0)
                frees.append((sync + 3.0, frees_bytes))
                passes.append((sync, pod))
                sync += 4.5  # it waits for the evicted pod to be cleaned up
            else:
                passes.append((sync, None))
        sync += 10.0
    evicted = {p.name: t for t, p in passes if p is not None}
    pressure_at = passes[0][0] + 3.18
    fs_extra: Profile = lambda t: written(t) - freed(t)  # noqa: E731

    def cond(n: str, c: str, t: float) -> str:
        if c == "DiskPressure":
            return "true" if n == node and t >= pressure_at else "false"
        return "true" if c == "Ready" else "false"

    t_immich, t_ha, t_mqtt = evicted[immich.name], evicted[ha.name], evicted[mqtt.name]
    started_new = t_immich + 38.6
    ready_new = started_new + 24.0
    steady(b, uids, [p for p in SITE_PODS if p.node != node])
    for p, gone in ((immich, t_immich), (ha, t_ha), (mqtt, t_mqtt)):
        bs.cadvisor(b, p, mem=bs._mem_drift(b, p), alive=before(gone + 1.5))
    ksm_pod(b, immich, uids[immich.name], evicted=t_immich + 1.6)
    ksm_pod(b, mqtt, uids[mqtt.name], evicted=t_mqtt + 1.6)
    ksm_pod(b, ha, uids[ha.name], deleted=t_ha + 2.4)  # the StatefulSet replaces it (Pending)
    bs.cadvisor(
        b,
        immich_new,
        mem=w.piecewise([(started_new, 150 * MiB), (started_new + 60, 480 * MiB)]),
        cpu=w.piecewise([(started_new, 0.55), (started_new + 45, 0.05)]),
        alive=lambda t: t >= started_new,
    )
    ksm_pod(b, immich_new, uids[immich_new.name], created=t_immich + 0.3)
    cluster_dns(b, uids, [dns_a, dns_b], [bs.DnsLoad(background=w.constant(41.0))])
    node_extras(
        b,
        conditions=cond,
        evictions={node: ("nodefs.available", 0, [t_immich, t_ha, t_mqtt])},
    )
    busy = w.piecewise([(r0, 0.0), (w0, 1.0), (w1, 1.0), (w1 + 20, 0.0)])
    for n in NODES:
        load = NodeLoad()
        if n.name == node:
            load = NodeLoad(
                fs_used=fs_used,
                fs_growth=growth,
                fs_extra=fs_extra,
                cpu_extra=w.scale(busy, 1.7),
                mem_extra=w.add(w.scale(busy, 0.68 * GiB), w.step(t_immich, 0.0, -immich.mem)),
                io_extra=w.scale(busy, 0.42),
            )
        elif n.name == "node-1":
            load = NodeLoad(
                cpu_extra=w.piecewise(
                    [(started_new, 0.0), (started_new + 1, 0.55), (started_new + 45, 0.05)]
                ),
                mem_extra=w.step(started_new, 0.0, 480 * MiB),
            )
        bs.node_exporter(b, n, load)
    bs.etcd_fsync(b)
    switch(b, None, lambda _t: 0.01)
    down = {
        "home-assistant": [(t_ha + 1.0, b.end + 60)],
        "immich-server": [(t_immich + 0.5, ready_new)],
    }
    blackbox(b, down)
    b.platform = bs.Platform(ingress=without_endpoints(down))
    bs.kube_noise(b)

    # kubelet on node-2: image GC, then the eviction manager.
    for t, usage in gc_runs:
        low = int(cap * 0.80)
        amount = int(cap - avail(t, freed(t)) - low)
        kubelet(
            b,
            node,
            t,
            "I",
            "image_gc_manager.go:391",
            '"Disk usage on image filesystem is over the high threshold, trying to free bytes '
            f'down to the low threshold" usage={usage} highThreshold=85 amountToFree={amount} '
            "lowThreshold=80",
        )
        found = 0
        if t == gc_runs[0][0]:
            for i, (digest, size, _ref) in enumerate(images):
                kubelet(
                    b,
                    node,
                    t + 0.31 + 0.27 * i,
                    "I",
                    "image_gc_manager.go:485",
                    f'"Removing image to free bytes" imageID="{digest}{container_id(digest)[:52]}" '
                    f'size={size} runtimeHandler=""',
                )
            found = sum(x for _, x, _ in images)
        what = (
            "Image garbage collection failed once. Stats initialization may not have completed yet"
            if t == gc_runs[0][0]
            else "Image garbage collection failed multiple times in a row"
        )
        kubelet(
            b,
            node,
            t + 1.2,
            "E",
            "kubelet.go:1562",
            f'"{what}" err="Failed to garbage collect required amount of images. Attempted to free '
            f'{amount} bytes, but only found {found} bytes eligible to free."',
        )
    critical = list(CRITICAL[node])
    left = [pod_ref(immich), pod_ref(ha), pod_ref(mqtt)]
    for t, evictee in passes:
        if evictee is not None:
            ranked = [*left, *critical]
            evict_lines(
                b, node, t, "ephemeral-storage", evictee, uids[evictee.name], ranked, gc=True
            )
            left.remove(pod_ref(evictee))
            continue
        kubelet_lines(
            b,
            node,
            t,
            [
                *reclaim_lines("ephemeral-storage", critical, True),
                *(
                    (
                        0.0001,
                        "E",
                        "eviction_manager.go:619",
                        f'"Eviction manager: cannot evict a critical pod" pod="{ref}"',
                    )
                    for ref in critical
                ),
                (
                    0.0002,
                    "I",
                    "eviction_manager.go:446",
                    '"Eviction manager: unable to evict any pods from the node"',
                ),
            ],
        )

    # What someone found on node-2 after the page.
    boot = b.start - NODE[node].boot_days * 86400
    t = T("02:47:12.530")
    a_now = avail(t, freed(t)) / cap
    b.ssh.append(w.ssh_record(t, node, "uptime", bs.uptime_line(t, boot, 1, (0.71, 1.38, 1.12))))
    b.ssh.append(w.ssh_record(t + 4.1, node, "df -h", df_h(a_now, 0.95 - a_now)))
    b.ssh.append(
        w.ssh_record(
            t + 7.9,
            node,
            "df -i",
            "Filesystem       Inodes  IUsed    IFree IUse% Mounted on\n"
            "tmpfs          2041781   1201  2040580    1% /run\n"
            f"/dev/nvme0n1p2 {bs.FS_FILES} 1146302 {bs.FS_FILES - 1146302}    8% /\n"
            "tmpfs          2041781      1  2041780    1% /dev/shm\n"
            "tmpfs          2041781      4  2041777    1% /run/lock\n"
            "/dev/nvme0n1p1       0      0        0     - /boot/efi\n"
            "tmpfs           408356     32   408324    1% /run/user/1000\n",
        )
    )
    b.ssh.append(
        w.ssh_record(
            t + 21.4,
            node,
            "du -xsh /var/lib/containerd /var/log /opt/local-path-provisioner /mnt/backup",
            f"31G\t/var/lib/containerd\n1.9G\t/var/log\n58G\t/opt/local-path-provisioner\n"
            f"{total / GiB:.0f}G\t/mnt/backup\n",
        )
    )
    b.ssh.append(w.ssh_record(t + 30.2, node, "findmnt /mnt/backup", "", exit_status=1))
    fin = datetime.fromtimestamp(math.floor(w1 + 0.8), tz=UTC)
    beg = datetime.fromtimestamp(math.floor(r0), tz=UTC)
    took = int(w1 - w0)
    b.ssh.append(
        w.ssh_record(
            t + 38.7,
            node,
            "journalctl -u restic-backup --since today --no-pager",
            f"{beg:%b %d %H:%M:%S} node-2 systemd[1]: Starting restic-backup.service - restic backup of local volumes...\n"
            f"{beg:%b %d %H:%M:%S} node-2 restic-backup[2417733]: no repository at /mnt/backup/restic, initialising\n"
            f"{beg:%b %d %H:%M:%S} node-2 restic-backup[2417733]: created restic repository 5b7c2f4a3d at /mnt/backup/restic\n"
            f"{fin:%b %d %H:%M:%S} node-2 restic-backup[2417733]: Files:       291307 new,     0 changed,     0 unmodified\n"
            f"{fin:%b %d %H:%M:%S} node-2 restic-backup[2417733]: Dirs:        14622 new,     0 changed,     0 unmodified\n"
            f"{fin:%b %d %H:%M:%S} node-2 restic-backup[2417733]: Added to the repository: {total / GiB * 1.0009:.3f} GiB ({total / GiB:.3f} GiB stored)\n"
            f"{fin:%b %d %H:%M:%S} node-2 restic-backup[2417733]: processed 291307 files, 57.914 GiB in {took // 60}:{took % 60:02d}\n"
            f"{fin:%b %d %H:%M:%S} node-2 restic-backup[2417733]: snapshot 8d1f3a6c saved\n"
            f"{fin:%b %d %H:%M:%S} node-2 systemd[1]: restic-backup.service: Deactivated successfully.\n"
            f"{fin:%b %d %H:%M:%S} node-2 systemd[1]: Finished restic-backup.service - restic backup of local volumes.\n",
        )
    )

    # The alert: KubeNodePressure (DiskPressure, for: 10m).
    cond_s = series_of(
        b, "kube_node_status_condition", node=node, condition="DiskPressure", status="true"
    )
    rule = RULES["KubeNodePressure"]
    starts = bs.fired_at(
        bs.rule_evals(b, rule["group"]), lambda e: bs.value_at(cond_s, e) == 1.0, 600
    )
    labels = {
        "condition": "DiskPressure",
        "instance": bs.KSM_TARGET,
        "job": "kube-state-metrics",
        "node": node,
        "severity": "info",
        "status": "true",
    }
    ann = {
        "description": f"{node} on cluster {bs.CLUSTER} has active Condition DiskPressure. This is "
        "caused by resource usage exceeding eviction thresholds.",
        "runbook_url": rule["runbook_url"],
        "summary": rule["summary"],
    }
    alert = send(b, "KubeNodePressure", labels, ann, starts, {"alertname": "KubeNodePressure"})
    meta = scenario_meta(
        b,
        "KubeNodePressure (DiskPressure) for one node",
        pods,
        {
            "layer": "storage",
            "fault": "disk_full",
            "component": node,
            "explanation": (
                "node-2's USB backup disk has not been mounted since the node's last reboot "
                "(the fstab entry is nofail), so at 02:30 the nightly restic timer finds no "
                "repository under /mnt/backup/restic, creates one and writes a full backup of "
                "the local volumes (46 GB) onto the root filesystem. Free space falls from 21 % "
                "to 4 %; image GC frees 2.3 GB, the kubelet reports DiskPressure and evicts "
                "immich-server, home-assistant-0 and mosquitto, which frees almost nothing: "
                "the space is held outside Kubernetes. Home Assistant and mosquitto cannot be "
                "rescheduled (local volumes on node-2). The evictions are the symptom."
            ),
            "red_herrings": ["compute"],
        },
    )
    bs.write(b, meta, alert, out)


# =========================================================================== 04


def build_04(out: Path) -> None:
    """node-3's patch cable to sw1 corrupts frames: CRC errors, retransmits, slow probes."""
    day = "2025-04-12"
    b = Build("04_network_latency", "seed-04", day, bs.at(day, "18:48:00"), bs.at(day, END_04))
    T = b.at
    node = "node-3"
    onset = T("19:14:22.640")
    dns_a = bs.coredns_pod("coredns-7c65d6cfc9-5wnx8", "10.244.0.7", "node-1")
    dns_b = bs.coredns_pod("coredns-7c65d6cfc9-kd2vq", "10.244.2.10", "node-3")
    pods = [*SITE_PODS, dns_a, dns_b]
    uids = bs.pod_uids(b, pods)

    # Frame loss on the cable, both directions: bursty, 1-16 % of frames.
    level = wobbly(b.rng("cable"), onset, b.end, 0.052, 0.5, 20.0)
    loss: Profile = lambda t: 0.0 if t < onset else min(0.16, max(0.008, level(t)))  # noqa: E731

    # Prometheus runs on node-3: scrapes of the other nodes now and then time out.
    for target in (
        "node-1:9100",
        "node-2:9100",
        f"{NODE['node-1'].ip}:10250/metrics/cadvisor",
        f"{NODE['node-2'].ip}:10250/metrics/cadvisor",
        f"{NODE['node-1'].ip}:10250/metrics",
        f"{NODE['node-2'].ip}:10250/metrics",
        f"{NODE['node-1'].ip}:2381",
        f"{NODE['node-1'].ip}:6443",
        f"{dns_a.ip}:9153",
        f"{BG['ingress-nginx'].ip}:10254",
    ):
        b.fail_scrapes(target, (onset + 30, b.end), 0.05)

    steady(b, uids, SITE_PODS)
    # Half the cluster's DNS traffic lands on each CoreDNS; node-3's replica forwards to the
    # router across the bad cable and loses a query or its answer now and then.
    timeout = w.clamp(lambda t: 1 - (1 - loss(t)) ** 2, 0.0, 0.5)
    load_a = bs.DnsLoad(background=w.constant(22.0))
    load_b = bs.DnsLoad(background=w.constant(22.0), timeout=timeout)
    dpods = cluster_dns(b, uids, [dns_a, dns_b], [load_a, load_b])
    fwd_share = bs.mix_of((c, c.weight) for c in bs.BACKGROUND_CLIENTS).share(lambda q: q.fwd)
    err_rate: Profile = lambda t: load_b.background(t) * fwd_share * bs.FWD_MISS * timeout(t)  # noqa: E731
    bs.coredns_upstream_errors(b, dpods[1:], load_b, err_rate, share=1.0)
    node_extras(
        b,
        retrans={
            "node-3": w.scale(loss, 2300.0),
            "node-1": w.scale(loss, 520.0),
            "node-2": w.scale(loss, 310.0),
        },
    )
    for n in NODES:
        load = NodeLoad(rx_errs=w.scale(loss, 3100.0)) if n.name == node else NodeLoad()
        bs.node_exporter(b, n, load)
    bs.etcd_fsync(b)
    switch(
        b,
        {3: {"in_err": w.scale(loss, 2600.0), "ucast": lambda t: 2600.0 * (1 - loss(t))}},
        lambda t: 0.035 if t > onset else 0.01,
    )
    probes = blackbox(b, loss=loss, crosses=frozenset({"grafana"}))
    # Immich's API waits on postgres (node-3) for every request; Home Assistant's history too.
    slower = {"immich": 4.0, "home-assistant": 0.8}
    b.platform = bs.Platform(
        ingress=[
            replace(be, median=w.add(be.median, w.scale(loss, slower[be.ingress])))
            for be in bs.quiet_backends()
        ]
    )
    bs.kube_noise(b)

    # What someone who had noticed the slow web apps looked at on node-3.
    t = b.end - 95.3
    errs = bs.value_at(series_of(b, "node_network_receive_errs_total", instance=f"{node}:9100"), t)
    rx_b = bs.value_at(series_of(b, "node_network_receive_bytes_total", instance=f"{node}:9100"), t)
    tx_b = bs.value_at(
        series_of(b, "node_network_transmit_bytes_total", instance=f"{node}:9100"), t
    )
    drops = bs.value_at(series_of(b, "node_network_receive_drop_total", instance=f"{node}:9100"), t)
    rx_p, tx_p = int(rx_b / 388), int(tx_b / 610)
    boot = b.start - NODE[node].boot_days * 86400
    b.ssh.append(
        w.ssh_record(t - 6.2, node, "uptime", bs.uptime_line(t - 6.2, boot, 1, (1.12, 1.04, 0.97)))
    )
    b.ssh.append(
        w.ssh_record(
            t,
            node,
            "ip -s -s link show eth0",
            "2: eth0: <BROADCAST,MULTICAST,UP,LOWER_UP> mtu 1500 qdisc mq state UP mode DEFAULT "
            "group default qlen 1000\n"
            f"    link/ether {NODE[node].mac} brd ff:ff:ff:ff:ff:ff\n"
            "    RX:  bytes packets errors dropped  missed   mcast\n"
            f"    {int(rx_b)} {rx_p} {int(errs)} {int(drops)}       0 {int(rx_p * 0.0037)}\n"
            "    RX errors:  length    crc   frame    fifo overrun\n"
            f"                     0 {int(errs)}       0       0       0\n"
            "    TX:  bytes packets errors dropped carrier collsns\n"
            f"    {int(tx_b)} {tx_p}      0       0       0       0\n"
            "    TX errors: aborted   fifo  window heartbt transns\n"
            "                     0      0       0       0       2\n"
            "    altname enp1s0\n",
        )
    )
    b.ssh.append(
        w.ssh_record(
            t + 11.6,
            node,
            "ethtool -S eth0",
            "NIC statistics:\n"
            f"     rx_crc_errors: {int(errs)}\n     rx_length_errors: 0\n     rx_errors: {int(errs)}\n"
            "     tx_errors: 0\n     rx_missed_errors: 0\n     tx_aborted_errors: 0\n",
        )
    )

    # The alert: BlackboxSlowProbe (avg_over_time(probe_duration_seconds[1m]) > 1, for: 1m),
    # the first of the three probes to fire.
    rule = RULES["BlackboxSlowProbe"]
    evals = bs.rule_evals(b, rule["group"])

    def mean_at(pts: list[w.Point], e: float) -> float | None:
        inside = [v for x, v in pts if e - 60 < x <= e]
        return sum(inside) / len(inside) if inside else None

    fired: list[tuple[float, str]] = []

    def slow(pts: list[w.Point]) -> Callable[[float], bool]:
        return lambda e: (mean_at(pts, e) or 0.0) > 1.0

    for url, pts in probes.items():
        try:
            at = bs.fired_at(evals, slow(pts), 60)
        except ValueError:
            continue
        fired.append((at, url))
    starts, url = min(fired)
    value = mean_at(probes[url], starts) or 0.0
    labels = {"instance": url, "job": "blackbox", "severity": "warning"}
    ann = {
        "description": "Blackbox probe took more than 1s to complete\n  VALUE = "
        f"{go_float(value)}\n  LABELS = {go_map({'instance': url, 'job': 'blackbox'})}",
        "summary": rule["summary"].format(instance=url),
    }
    alert = send(b, "BlackboxSlowProbe", labels, ann, starts, {"alertname": "BlackboxSlowProbe"})
    meta = scenario_meta(
        b,
        "BlackboxSlowProbe for a web app",
        pods,
        {
            "layer": "network",
            "fault": "interface_errors",
            "component": node,
            "explanation": (
                "At 19:14 node-3's patch cable to sw1 port 3 starts corrupting frames in both "
                "directions (a flat cable pinched when the shelf was moved): sw1 counts input "
                "errors on port 3 at tens to hundreds per second and node-3's NIC counts CRC "
                "errors at the same rate. Every flow through node-3 loses a few percent of its "
                "frames: TCP retransmits jump on node-3 and its peers, Prometheus (on node-3) "
                "misses some scrapes, the blackbox exporter (on node-3) waits for lost SYNs, "
                "TLS records and DNS answers, Immich's API slows on its round trips to postgres "
                "(node-3), and node-3's CoreDNS logs upstream i/o timeouts. The slow web app and "
                "the DNS timeouts are symptoms of the link."
            ),
            "red_herrings": ["application", "dns"],
        },
    )
    bs.write(b, meta, alert, out)


END_04 = "19:23:30"


# =========================================================================== 05

IMMICH_LOG = "[Nest] {pid}  - {ts:%m/%d/%Y, %-I:%M:%S %p}   {level:>5} [{ctx}] {msg}"


def immich_ml_log(b: Build, pod: Pod, ts: float, msg: str) -> None:
    stamp = datetime.fromtimestamp(math.floor(ts), tz=UTC)
    labels = {
        "namespace": pod.namespace,
        "pod": pod.name,
        "app": pod.app,
        "host": pod.node,
        "container": pod.container,
    }
    b.log(ts, labels, f"[{stamp:%m/%d/%y %H:%M:%S}] INFO     {msg}")


def build_05(out: Path) -> None:
    """Immich's machine-learning pod (no requests, no limits) eats node-2's memory."""
    day = "2025-03-22"
    b = Build("05_pod_eviction", "seed-05", day, bs.at(day, "13:50:00"), bs.at(day, "14:22:30"))
    T = b.at
    node = "node-2"
    dns_a = bs.coredns_pod("coredns-7c65d6cfc9-gtz4l", "10.244.0.9", "node-1")
    dns_b = bs.coredns_pod("coredns-7c65d6cfc9-s7hbx", "10.244.2.12", "node-3")
    image = "ghcr.io/immich-app/immich-machine-learning:v1.129.0"
    ml = Pod(
        "media",
        "immich-machine-learning-6b8d9f7c5-pz4tn",
        "10.244.1.41",
        node,
        "immich-machine-learning",
        "immich-machine-learning",
        image,
        mem=410 * MiB,
        cpu=0.004,
    )
    ml_new = replace(
        ml, name="immich-machine-learning-6b8d9f7c5-w8mzd", ip="10.244.0.58", node="node-1"
    )
    pods = [*SITE_PODS, dns_a, dns_b, ml, ml_new]
    uids = bs.pod_uids(b, pods)
    model = "ViT-H-14-378-quickgelu__dfn5b"

    # 14:04:12 Smart Search is re-run for the whole library with a bigger CLIP model.
    queued = T("14:04:12.338")
    dl0, dl1 = queued + 2.9, queued + 68.4  # the model is downloaded (3.9 GB)
    loaded = dl1 + 31.2
    knots = [
        (dl0, 410 * MiB),
        (dl1, 640 * MiB),
        (loaded, 4.61 * GiB),
        (T("14:09:00"), 7.42 * GiB),
        (T("14:13:00"), 9.63 * GiB),
        (T("14:17:00"), 10.91 * GiB),
        (T("14:19:40"), 11.36 * GiB),
        (T("14:22:00"), 11.52 * GiB),
    ]
    ml_mem = w.piecewise(knots)
    ml_cpu = w.piecewise([(dl0, 0.004), (dl0 + 1, 0.2), (dl1, 0.2), (loaded, 2.55)])
    # the kubelet's eviction manager (every 10 s) sees memory.available < 100Mi
    sync = T("13:50:06.113")
    while ml_mem(sync) < 11.31 * GiB:
        sync += 10.0
    t_ev = sync
    gone = t_ev + 1.7
    pressure_at = t_ev + 2.6
    started_new = t_ev + 38.4  # scheduled on node-1 (node-2 is tainted), image pulled
    dl2 = started_new + 9.7
    ml_new_mem = w.piecewise(
        [(started_new, 180 * MiB), (dl2, 350 * MiB), (dl2 + 66, 590 * MiB), (dl2 + 96, 4.6 * GiB)]
    )

    def cond(n: str, c: str, t: float) -> str:
        if c == "MemoryPressure":
            return "true" if n == node and t >= pressure_at else "false"
        return "true" if c == "Ready" else "false"

    alive_ml: Callable[[float], bool] = lambda t: t < gone  # noqa: E731
    bs.cadvisor(b, ml, mem=ml_mem, cpu=ml_cpu, alive=alive_ml)
    ksm_pod(b, ml, uids[ml.name], evicted=gone)
    bs.cadvisor(
        b,
        ml_new,
        mem=ml_new_mem,
        cpu=w.piecewise([(started_new, 0.4), (started_new + 8, 0.2), (dl2 + 66, 2.5)]),
        alive=lambda t: t >= started_new,
    )
    ksm_pod(b, ml_new, uids[ml_new.name], created=t_ev + 1.9)
    steady(b, uids, SITE_PODS)
    cluster_dns(b, uids, [dns_a, dns_b], [bs.DnsLoad(background=w.constant(47.0))])
    node_extras(b, conditions=cond, evictions={node: ("memory.available", 1, [t_ev])})
    for n in NODES:
        load = NodeLoad()
        if n.name == node:
            load = NodeLoad(
                cpu_extra=lambda t: ml_cpu(t) if t < gone else 0.0,
                mem_extra=lambda t: ml_mem(t) - 410 * MiB if t < gone else -410 * MiB,
            )
        elif n.name == "node-1":
            load = NodeLoad(
                cpu_extra=lambda t: 0.0 if t < started_new else 0.6,
                mem_extra=lambda t: 0.0 if t < started_new else ml_new_mem(t),
                fs_extra=w.step(started_new - 30, 0.0, 1.63 * GiB),
            )
        bs.node_exporter(b, n, load)
    bs.etcd_fsync(b)
    switch(b, None, lambda _t: 0.01)
    blackbox(b)
    bs.kube_noise(b)

    # kubelet on node-2
    evict_lines(
        b,
        node,
        t_ev,
        "memory",
        ml,
        uids[ml.name],
        [
            pod_ref(ml),
            pod_ref(BG["home-assistant"]),
            pod_ref(BG["immich-server"]),
            pod_ref(MOSQUITTO),
            *CRITICAL[node],
        ],
        gc=False,
    )
    # immich-machine-learning's own log, both pods
    immich_ml_log(b, ml, dl0, f"Downloading visual model '{model}'. This may take a while.")
    immich_ml_log(b, ml, dl1 + 0.4, f"Loading visual model '{model}' to memory")
    immich_ml_log(
        b,
        ml,
        dl1 + 0.41,
        "Setting execution providers to ['CPUExecutionProvider'], in descending order of preference",
    )
    for i, msg in enumerate(
        (
            "Starting gunicorn 23.0.0",
            "Listening at: http://[::]:3003 (9)",
            "Using worker: app.config.CustomUvicornWorker",
            "Booting worker with pid: 10",
            "Started server process [10]",
            "Waiting for application startup.",
            "Created in-memory cache with unloading after 300s of inactivity.",
            "Initialized request thread pool with 4 threads.",
            "Application startup complete.",
        )
    ):
        immich_ml_log(b, ml_new, started_new + 0.8 + (2.9 if i > 3 else 0.0) + 0.01 * i, msg)
    immich_ml_log(b, ml_new, dl2, f"Downloading visual model '{model}'. This may take a while.")
    immich_ml_log(b, ml_new, dl2 + 66.0, f"Loading visual model '{model}' to memory")
    # immich-server: jobs fail while no machine-learning endpoint answers
    srv = BG["immich-server"]
    labels = {
        "namespace": srv.namespace,
        "pod": srv.name,
        "app": srv.app,
        "host": srv.node,
        "container": srv.container,
    }
    rng = b.rng("immich-server-log")

    def slog(ts: float, level: str, ctx: str, msg: str) -> None:
        stamp = datetime.fromtimestamp(math.floor(ts), tz=UTC)
        b.log(ts, labels, IMMICH_LOG.format(pid=17, ts=stamp, level=level, ctx=ctx, msg=msg))

    t = t_ev + 0.6
    while t < started_new + 4.2:
        slog(
            t,
            "WARN",
            "Microservices:MachineLearningRepository",
            'Machine learning request to "http://immich-machine-learning:3003" failed: TypeError: fetch failed',
        )
        slog(
            t + 0.002,
            "ERROR",
            "Microservices:JobService",
            "Unable to run job handler (smartSearch/smart-search): Error: Machine learning "
            f'request \'{{"clip":{{"visual":{{"modelName":"{model}"}}}}}}\' failed for all URLs',
        )
        t += rng.uniform(1.5, 4.5)

    # The alert: KubeNodeEviction (for: 0s).
    rule = RULES["KubeNodeEviction"]
    ev = series_of(b, "kubelet_evictions", instance=f"{NODE[node].ip}:10250")

    def evicting(e: float) -> bool:
        inside = [v for x, v in ev if e - 900 < x <= e]
        return len(inside) >= 2 and inside[-1] > inside[0]

    starts = bs.fired_at(bs.rule_evals(b, rule["group"]), evicting, 0)
    labels_a = {
        "eviction_signal": "memory.available",
        "instance": f"{NODE[node].ip}:10250",
        "node": node,
        "severity": "info",
    }
    ann = {
        "description": f"Node {node} on {bs.CLUSTER} is evicting Pods due to memory.available.  "
        "Eviction occurs when eviction thresholds are crossed, typically caused by Pods "
        "exceeding RAM/ephemeral-storage limits.",
        "runbook_url": rule["runbook_url"],
        "summary": rule["summary"],
    }
    alert = send(b, "KubeNodeEviction", labels_a, ann, starts, {"alertname": "KubeNodeEviction"})
    meta = scenario_meta(
        b,
        "KubeNodeEviction for one node",
        pods,
        {
            "layer": "compute",
            "fault": "eviction",
            "component": node,
            "explanation": (
                "At 14:04 Smart Search is re-run over the whole Immich library with a much larger "
                "CLIP model. immich-machine-learning on node-2 has no memory request or limit "
                "(BestEffort); it downloads and loads the model and its working set climbs from "
                "0.4 to 11.4 GiB, until node-2's memory.available falls below the kubelet's "
                "100Mi hard threshold. The kubelet reports MemoryPressure and evicts the hog (the "
                "first pod in its ranking); its replacement starts on node-1 and loads the model "
                "again. Immich's jobs fail while no machine-learning pod answers: an application "
                "symptom of the eviction."
            ),
            "red_herrings": ["application"],
        },
    )
    bs.write(b, meta, alert, out)


# =========================================================================== 08


def oom_lines(
    b: Build, node: str, ts: float, comm: str, pod_uid: str, limit_kb: int, uid_n: int
) -> None:
    """The kernel's report of a memory-cgroup OOM kill (dmesg, kernel 6.8)."""
    rng = b.rng("oom", node, ts)
    boot = b.start - NODE[node].boot_days * 86400
    cid = container_id("oom", pod_uid, ts)
    pid = rng.randint(300000, 900000)
    cg = (
        f"/kubepods.slice/kubepods-burstable.slice/kubepods-burstable-pod"
        f"{pod_uid.replace('-', '_')}.slice/cri-containerd-{cid}.scope"
    )
    lines = [
        f"{comm} invoked oom-killer: gfp_mask=0xcc0(GFP_KERNEL), order=0, oom_score_adj=996",
        f"CPU: {rng.randint(0, 3)} PID: {pid + rng.randint(2, 40)} Comm: {comm} Not tainted 6.8.0-52-generic #53-Ubuntu",
        f"memory: usage {limit_kb}kB, limit {limit_kb}kB, failcnt {rng.randint(40, 400)}",
        f"oom-kill:constraint=CONSTRAINT_MEMCG,nodemask=(null),cpuset=cri-containerd-{cid}.scope,"
        f"mems_allowed=0,oom_memcg={cg},task_memcg={cg},task={comm},pid={pid},uid={uid_n}",
        f"Memory cgroup out of memory: Killed process {pid} ({comm}) total-vm:{rng.randint(330_000, 360_000)}kB, "
        f"anon-rss:{limit_kb - rng.randint(9_000, 12_000)}kB, file-rss:{rng.randint(8_000, 9_500)}kB, "
        f"shmem-rss:0kB, UID:{uid_n} pgtables:{rng.randint(620, 700)}kB oom_score_adj:996",
        f"oom_reaper: reaped process {pid} ({comm}), now anon-rss:0kB, file-rss:0kB, shmem-rss:0kB",
    ]
    for j, line in enumerate(lines):
        t = ts - 0.05 + j * 0.0004
        b.log(t, {"app": "kernel", "host": node}, bs.dmesg(t, boot, line, 120 + 170 * j))


def build_08(out: Path) -> None:
    """energy-monitor keeps every MQTT message it has seen: a steady leak to its limit."""
    day = "2025-02-15"
    b = Build("08_memory_leak", "seed-08", day, bs.at(day, "09:28:00"), bs.at(day, "10:03:00"))
    T = b.at
    dns_a = bs.coredns_pod("coredns-7c65d6cfc9-v2mkp", "10.244.1.12", "node-2")
    dns_b = bs.coredns_pod("coredns-7c65d6cfc9-q4tnf", "10.244.2.13", "node-3")
    limit = 256 * MiB
    em = Pod(
        "home",
        "energy-monitor-5c8d7b9f6-t7kx4",
        "10.244.0.36",
        "node-1",
        "energy-monitor",
        "energy-monitor",
        "registry.home.arpa/home/energy-monitor:2.3.1",
        mem=96 * MiB,
        mem_limit=limit,
        cpu=0.035,
        cpu_limit=0.5,
        restarts=10,
        last_reason="OOMKilled",
    )
    pods = [*SITE_PODS, dns_a, dns_b, em]
    uids = bs.pod_uids(b, pods)

    # Every message is appended to a per-topic history that is never trimmed: ~60 messages/s
    # of ~600 B each, 2.1 MiB a minute, from 96 MiB after each start to the 256Mi limit.
    leak = 2.1 * MiB / 60
    prev_start = T("08:44:31.207")
    oom = prev_start + (limit - 96 * MiB) / leak - 3.0
    restart = oom + 1.31
    mem: Profile = lambda t: 96 * MiB + leak * (t - (restart if t >= restart else prev_start))  # noqa: E731
    cpu = lambda t: 0.27 if restart <= t < restart + 8 else 0.035  # noqa: E731
    bs.cadvisor(b, em, mem=mem, cpu=cpu, alive=lambda t: not oom <= t < restart, resets=[restart])
    ksm_pod(b, em, uids[em.name], restart_times=[restart])

    # Prometheus' head block grows until the 2-hourly compaction (10:00): far from its limit.
    prom = BG["prometheus"]
    prom_mem = w.piecewise(
        [(b.start, 1.46 * GiB), (T("10:00:07"), 1.83 * GiB), (T("10:00:41"), 1.34 * GiB)]
    )
    bs.cadvisor(b, prom, mem=prom_mem)
    ksm_pod(b, prom, uids[prom.name])
    steady(b, uids, [p for p in SITE_PODS if p is not prom])
    cluster_dns(b, uids, [dns_a, dns_b], [bs.DnsLoad(background=w.constant(45.0))])
    node_extras(b)
    for n in NODES:
        load = NodeLoad()
        if n.name == "node-1":
            load = NodeLoad(mem_extra=lambda t: mem(t) if not oom <= t < restart else 0.0)
        elif n.name == "node-3":
            load = NodeLoad(mem_extra=w.add(prom_mem, w.constant(-prom.mem)))
        bs.node_exporter(b, n, load)
    bs.etcd_fsync(b)
    switch(b, None, lambda _t: 0.01)
    blackbox(b)
    bs.kube_noise(b)

    # logs: the kernel's OOM kill, the kubelet restarting it, the app, Home Assistant
    oom_lines(b, "node-1", oom, "python3", uids[em.name], limit // 1024, 1000)
    cid_old, cid_new = container_id("em", 10), container_id("em", 11)
    ref = pod_ref(em)
    kubelet(
        b,
        "node-1",
        oom + 0.41,
        "I",
        "kubelet.go:2453",
        f'"SyncLoop (PLEG): event for pod" pod="{ref}" event={{"ID":"{uids[em.name]}",'
        f'"Type":"ContainerDied","Data":"{cid_old}"}}',
    )
    kubelet(
        b,
        "node-1",
        restart + 0.52,
        "I",
        "kubelet.go:2453",
        f'"SyncLoop (PLEG): event for pod" pod="{ref}" event={{"ID":"{uids[em.name]}",'
        f'"Type":"ContainerStarted","Data":"{cid_new}"}}',
    )
    labels = {
        "namespace": em.namespace,
        "pod": em.name,
        "app": em.app,
        "host": em.node,
        "container": em.container,
    }
    rng = b.rng("energy-monitor-log")

    def pylog(ts: float, level: str, logger: str, msg: str) -> None:
        stamp = datetime.fromtimestamp(math.floor(ts), tz=UTC)
        b.log(
            ts,
            labels,
            f"{stamp:%Y-%m-%d %H:%M:%S},{round(ts * 1000) % 1000:03d} {level} {logger}: {msg}",
        )

    t = prev_start + 60.4
    while t < b.end:
        if oom <= t < restart + 60:
            t = restart + 60.4
            continue
        n_p1, n_mqtt = rng.randint(59, 61), rng.randint(3420, 3660)
        pylog(
            t,
            "INFO",
            "energy_monitor.ingest",
            f"{n_p1 + n_mqtt} messages in 60s (p1={n_p1}, mqtt={n_mqtt}), 0 errors",
        )
        t += 60.0 + rng.uniform(-0.05, 0.05)
    for dt, logger, msg in (
        (1.9, "energy_monitor", "starting energy-monitor 2.3.1 (python 3.12.8)"),
        (2.3, "energy_monitor.db", "connected to postgres.db.svc.cluster.local:5432/energy"),
        (
            2.4,
            "energy_monitor.mqtt",
            "connected to mosquitto.home.svc.cluster.local:1883, subscribed to 212 topics",
        ),
        (2.6, "uvicorn.error", "Uvicorn running on http://0.0.0.0:8080 (Press CTRL+C to quit)"),
    ):
        pylog(restart + dt, "INFO", logger, msg)
    ha = BG["home-assistant"]
    hal = {
        "namespace": ha.namespace,
        "pod": ha.name,
        "app": ha.app,
        "host": ha.node,
        "container": ha.container,
    }
    poll = prev_start + 17.6
    while poll < b.end:
        if oom <= poll < restart + 3.0:
            stamp = datetime.fromtimestamp(poll, tz=UTC)
            b.log(
                poll,
                hal,
                f"{stamp:%Y-%m-%d %H:%M:%S}.{int(poll * 1000) % 1000:03d} ERROR (MainThread) "
                "[homeassistant.components.rest.data] Error fetching data: http://energy-monitor."
                "home.svc.cluster.local:8080/api/summary failed with Cannot connect to host "
                "energy-monitor.home.svc.cluster.local:8080 ssl:default [Connect call failed "
                "('10.103.41.219', 8080)]",
            )
        poll += 30.0

    # The alert: KubernetesContainerOomKiller (for: 0m).
    rule = RULES["KubernetesContainerOomKiller"]
    rs = series_of(b, "kube_pod_container_status_restarts_total", pod=em.name)

    def killed(e: float) -> bool:
        now = [v for x, v in rs if e - 300 < x <= e]
        before = [v for x, v in rs if e - 900 < x <= e - 600]
        return bool(now and before) and now[-1] - before[-1] >= 1

    starts = bs.fired_at(bs.rule_evals(b, rule["group"]), killed, 0)
    series_labels = {
        "container": em.container,
        "instance": bs.KSM_TARGET,
        "job": "kube-state-metrics",
        "namespace": em.namespace,
        "pod": em.name,
        "uid": uids[em.name],
    }
    ann = {
        "description": f"Container {em.container} in pod {em.namespace}/{em.name} has been "
        f"OOMKilled 1 times in the last 10 minutes.\n  VALUE = 1\n  LABELS = {go_map(series_labels)}",
        "summary": rule["summary"].format(instance=bs.KSM_TARGET),
    }
    alert = send(
        b,
        "KubernetesContainerOomKiller",
        {**series_labels, "severity": "warning"},
        ann,
        starts,
        {"alertname": "KubernetesContainerOomKiller", "namespace": em.namespace},
    )
    meta = scenario_meta(
        b,
        "KubernetesContainerOomKiller for a home-automation workload",
        pods,
        {
            "layer": "compute",
            "fault": "memory_leak",
            "component": "energy-monitor",
            "explanation": (
                "energy-monitor 2.3.1 (home) appends every MQTT message it receives to a "
                "per-topic history that is never trimmed: ~60 messages a second, 2.1 MiB a "
                "minute. Its working set climbs in a straight line from 96 MiB after each start "
                "to the 256Mi limit, where the kernel OOM-kills it, about every 76 minutes (ten "
                "times since the upgrade). The OOM kill that fires the alert is the leak's "
                "symptom; Home Assistant's failed polls during the restart are too. Prometheus' "
                "memory also climbs (its head block, until compaction) but stays far from its limit."
            ),
            "red_herrings": [],
        },
    )
    bs.write(b, meta, alert, out)


BUILDERS: dict[str, Callable[[Path], None]] = {
    "02_node_not_ready": build_02,
    "03_disk_pressure": build_03,
    "04_network_latency": build_04,
    "05_pod_eviction": build_05,
    "08_memory_leak": build_08,
}
