"""Render a :class:`~tools.scenario.generate.scene.Scene` into recordings: metrics, logs, SNMP, SSH.

Every scenario carries the same series families with the same label names, whatever
happened in it, and the values come only from the scene's state plus seeded noise.
What a recorder keeps is modelled too: metrics every 60 s, the series the probes of
docs/signals.md read (node exporter, cAdvisor, kube-state-metrics, CoreDNS, etcd,
apiserver, ingress-nginx, x509-certificate-exporter), SNMP polls of the IF-MIB/BRIDGE-MIB
columns every 30-60 s, and log streams sampled to a few info lines per stream and minute
(warnings and errors kept up to a higher cap).

kube-state-metrics reason series (last terminated, waiting, Evicted, PVC phase) appear
only while their value is 1, as kube-state-metrics v2 writes the first two.

This module writes the node-exporter, cAdvisor and kube-state-metrics series; the
cluster services are in :mod:`.services`, switches, routine logs and commands in
:mod:`.devices`. Nothing here decides what goes wrong.
"""

from __future__ import annotations

from collections.abc import Sequence

from tools.scenario import writer as w
from tools.scenario.generate import devices, services
from tools.scenario.generate.recording import KSM_PORT, Recording, reachable, stable_small
from tools.scenario.generate.scene import NodeState, PodState, Scene, inside

__all__ = ["Recording", "render"]


def render(scene: Scene) -> Recording:
    """Every series, poll, log line and command of ``scene``."""
    rec = Recording(logs=[r for r in scene.logs if r["ts"] <= scene.end])
    for ns in scene.nodes.values():
        _node_exporter(scene, rec, ns)
    for ps in scene.pods:
        _cadvisor(scene, rec, ps)
    _ksm(scene, rec)
    services.coredns(scene, rec)
    services.etcd(scene, rec)
    services.apiserver(scene, rec)
    services.ingress(scene, rec)
    services.x509(scene, rec)
    for ss in scene.switches.values():
        devices.snmp(scene, rec, ss)
    devices.routine_logs(scene, rec)
    devices.ssh(scene, rec)
    return rec


# --------------------------------------------------------------------------- node exporter


def _node_exporter(scene: Scene, rec: Recording, ns: NodeState) -> None:
    node = ns.node
    target = f"{node.name}:9100"
    times = [t for t in scene.times(target) if not inside(ns.unreachable, t)]
    base = {"instance": target, "job": "node-exporter"}
    up0 = node.boot_days * 86400
    rng = scene.rng("nx", node.name)
    om = rec.om
    for cpu in range(node.cpus):
        bias = 0.7 + 0.6 * rng.random()

        def idle(t: float, bias: float = bias) -> float:
            busy = ns.cpu(t)
            return 1 - min(
                0.995, busy * bias if busy < 0.85 else busy + (1 - busy) * (1 - bias) * 0.5
            )

        pts = w.counter_series(
            scene.rng("cpu", node.name, cpu),
            times,
            idle,
            start=up0 * 0.8,
            jitter=0.03,
            integer=False,
        )
        om.counter(
            "node_cpu_seconds_total",
            "Seconds the CPUs spent in each mode.",
            {**base, "cpu": str(cpu), "mode": "idle"},
            [(t, round(v, 2)) for t, v in pts],
        )
    om.gauge(
        "node_memory_MemTotal_bytes",
        "Memory information field MemTotal_bytes.",
        base,
        [(t, float(node.mem)) for t in times],
    )
    om.gauge(
        "node_memory_MemAvailable_bytes",
        "Memory information field MemAvailable_bytes.",
        base,
        w.gauge_series(
            scene.rng("mem", node.name), times, ns.mem_avail, rel_noise=0.004, integer=True, lo=0
        ),
    )
    fs = {**base, "device": node.fs_dev, "fstype": "ext4", "mountpoint": "/"}
    avail = w.gauge_series(
        scene.rng("fs", node.name), times, lambda t: ns.fs_free(t) * node.fs_size, noise=2e6, lo=0
    )
    om.gauge(
        "node_filesystem_avail_bytes",
        "Filesystem space available to non-root users in bytes.",
        fs,
        [(t, float(int(v) // 4096 * 4096)) for t, v in avail],
    )
    om.gauge(
        "node_filesystem_size_bytes",
        "Filesystem size in bytes.",
        fs,
        [(t, float(node.fs_size)) for t in times],
    )
    om.gauge(
        "node_filesystem_files",
        "Filesystem total file nodes.",
        fs,
        [(t, float(node.fs_files)) for t in times],
    )
    om.gauge(
        "node_filesystem_files_free",
        "Filesystem total free file nodes.",
        fs,
        w.gauge_series(
            scene.rng("ino", node.name),
            times,
            lambda t: ns.inodes_free(t) * node.fs_files,
            noise=30,
            integer=True,
            lo=0,
        ),
    )
    nic = {**base, "device": node.nic}
    for name, help_, rate, start in (
        (
            "node_network_receive_drop_total",
            "Network device statistic receive_drop.",
            ns.rx_drop,
            up0 * 0.01,
        ),
        (
            "node_network_receive_errs_total",
            "Network device statistic receive_errs.",
            ns.rx_err,
            0.0,
        ),
    ):
        om.counter(
            name,
            help_,
            nic,
            w.counter_series(
                scene.rng(name, node.name), times, rate, start=float(int(start)), jitter=0.3
            ),
        )
    om.gauge(
        "node_network_mtu_bytes",
        "Network device property: mtu_bytes",
        nic,
        [(t, float(round(ns.mtu(t)))) for t in times],
    )
    om.counter(
        "node_disk_io_time_seconds_total",
        "Total seconds spent doing I/Os.",
        {**base, "device": node.disk},
        [
            (t, round(v, 3))
            for t, v in w.counter_series(
                scene.rng("io", node.name),
                times,
                lambda t: min(1.0, ns.disk_busy(t)),
                start=up0 * node.disk_busy,
                jitter=0.05,
                integer=False,
            )
        ],
    )
    limit = float(max(131072, 32768 * node.cpus))
    om.gauge(
        "node_nf_conntrack_entries",
        "Number of currently allocated flow entries for connection tracking.",
        base,
        w.gauge_series(
            scene.rng("ct", node.name),
            times,
            lambda t: min(1.0, ns.conntrack(t)) * limit,
            rel_noise=0.02,
            integer=True,
            hi=limit,
        ),
    )
    om.gauge(
        "node_nf_conntrack_entries_limit",
        "Maximum size of connection tracking table.",
        base,
        [(t, limit) for t in times],
    )
    icmp = w.counter_series(
        scene.rng("icmp", node.name),
        times,
        ns.icmp_unreach,
        start=float(int(up0 * 0.01)),
        jitter=0.3,
    )
    om.unknown("node_netstat_Icmp_OutDestUnreachs", "Statistic IcmpOutDestUnreachs.", base, icmp)


# --------------------------------------------------------------------------- cAdvisor


def _cadvisor(scene: Scene, rec: Recording, ps: PodState) -> None:
    pod = ps.pod
    node = scene.site.node(pod.node)
    target = f"{node.ip}:10250/metrics/cadvisor"
    ns = scene.nodes[node.name]
    times = [t for t in scene.times(target) if ps.running(t) and not inside(ns.unreachable, t)]
    if not times:
        return
    labels = {
        "container": pod.container,
        "instance": f"{node.ip}:10250",
        "job": "kubelet",
        "namespace": pod.namespace,
        "node": node.name,
        "pod": pod.name,
    }
    limit = pod.mem_limit

    def mem(t: float) -> float:
        v = ps.mem(t)
        return min(v, limit * 0.999) if limit else v

    rec.om.gauge(
        "container_memory_working_set_bytes",
        "Current working set of the container in bytes",
        labels,
        w.gauge_series(
            scene.rng("ws", pod.name), times, mem, rel_noise=0.006, integer=True, lo=1e6
        ),
    )
    if limit:
        rec.om.gauge(
            "container_spec_memory_limit_bytes",
            "Memory limit for the container.",
            labels,
            [(t, float(limit)) for t in times],
        )
    resets = [r for r in ps.restarts if r > times[0]]
    usage = w.counter_series(
        scene.rng("cpu", pod.name),
        times,
        ps.cpu,
        start=pod.cpu * 86400 * 2,
        jitter=0.1,
        integer=False,
        resets=resets,
    )
    rec.om.counter(
        "container_cpu_usage_seconds_total",
        "Cumulative cpu time consumed in seconds.",
        labels,
        [(t, round(v, 3)) for t, v in usage],
        allow_resets=bool(resets),
    )
    if pod.cpu_limit:
        lim = pod.cpu_limit
        runnable: w.Profile = lambda t: min(10.0, 10 * ps.cpu(t) / max(lim, 0.05) * 1.5)  # noqa: E731
        periods = w.counter_series(
            scene.rng("per", pod.name), times, runnable, start=4.2e5, jitter=0.05, resets=resets
        )
        thr = w.counter_series(
            scene.rng("thr", pod.name),
            times,
            lambda t: runnable(t) * ps.throttle(t),
            start=2.1e3,
            jitter=0.08,
            resets=resets,
        )
        rec.om.counter(
            "container_cpu_cfs_periods_total",
            "Number of elapsed enforcement period intervals.",
            labels,
            periods,
            allow_resets=bool(resets),
        )
        rec.om.counter(
            "container_cpu_cfs_throttled_periods_total",
            "Number of throttled period intervals.",
            labels,
            thr,
            allow_resets=bool(resets),
        )


# --------------------------------------------------------------------------- kube-state-metrics


def _ksm_target(scene: Scene) -> str:
    pod = next(p for p in scene.site.pods if p.workload == "kube-state-metrics")
    return f"{pod.ip}:{KSM_PORT}"


def _ksm(scene: Scene, rec: Recording) -> None:
    target = _ksm_target(scene)
    ksm = next(p for p in scene.site.pods if p.workload == "kube-state-metrics")
    times = reachable(scene, ksm.node, scene.times("kube-state-metrics"))
    job = {"instance": target, "job": "kube-state-metrics"}
    om = rec.om
    for ps in scene.pods:
        pod = ps.pod
        pts = [t for t in times if ps.exists(t)]
        if not pts:
            continue
        c = {**job, "container": pod.container, "namespace": pod.namespace, "pod": pod.name}
        om.counter(
            "kube_pod_container_status_restarts_total",
            "[STABLE] The number of container restarts per container.",
            c,
            [(t, float(ps.restarts_before + sum(1 for r in ps.restarts if r <= t))) for t in pts],
        )
        reasons = sorted(ps.reasons)
        for reason in sorted({r for _, r in reasons}):
            cur = [t for t in pts if _current(reasons, t) == reason]
            if cur:
                om.gauge(
                    "kube_pod_container_status_last_terminated_reason",
                    "Describes the last reason the container was in terminated state.",
                    {**c, "reason": reason},
                    [(t, 1.0) for t in cur],
                )
        for reason in sorted({r for _, _, r in ps.waiting}):
            cur = [t for t in pts if any(a <= t < b and r == reason for a, b, r in ps.waiting)]
            if cur:
                om.gauge(
                    "kube_pod_container_status_waiting_reason",
                    "Describes the reason the container is currently in waiting state.",
                    {**c, "reason": reason},
                    [(t, 1.0) for t in cur],
                )
        if ps.evicted is not None:
            ev = [t for t in pts if t >= ps.evicted]
            if ev:
                om.gauge(
                    "kube_pod_status_reason",
                    "The pod status reasons",
                    {**job, "namespace": pod.namespace, "pod": pod.name, "reason": "Evicted"},
                    [(t, 1.0) for t in ev],
                )
    for name, ns in scene.nodes.items():
        for cond, prof in (("Ready", ns.ready),):
            om.gauge(
                "kube_node_status_condition",
                "[STABLE] The condition of a cluster node.",
                {**job, "condition": cond, "node": name, "status": "true"},
                [(t, float(round(prof(t)))) for t in times],
            )
    for pvc in scene.pvcs:
        phases = sorted(pvc.phases)
        for phase in sorted({p for _, p in phases}):
            cur = [t for t in times if _current(phases, t) == phase]
            if cur:
                om.gauge(
                    "kube_persistentvolumeclaim_status_phase",
                    "[STABLE] The phase the persistent volume claim is currently in.",
                    {
                        **job,
                        "namespace": pvc.namespace,
                        "persistentvolumeclaim": pvc.name,
                        "phase": phase,
                    },
                    [(t, 1.0) for t in cur],
                )
    for (ns_, dep), bumps in sorted(scene.generations.items()):
        gen0 = 1 + stable_small(scene.key, dep)
        om.gauge(
            "kube_deployment_status_observed_generation",
            "[STABLE] The generation observed by the deployment controller.",
            {**job, "deployment": dep, "namespace": ns_},
            [(t, float(gen0 + sum(1 for b in bumps if b <= t))) for t in times],
        )
    for ns_, cm, created, deleted in scene.configmaps:
        pts = [
            t
            for t in times
            if (created is None or t >= created) and (deleted is None or t < deleted)
        ]
        if pts:
            om.gauge(
                "kube_configmap_info",
                "[STABLE] Information about configmap.",
                {**job, "configmap": cm, "namespace": ns_},
                [(t, 1.0) for t in pts],
            )
            # kube-state-metrics reports the object's resourceVersion; every edit bumps it
            version0 = 1000 * stable_small(scene.key, ns_, cm) + stable_small(cm)
            edits = sorted(scene.configmap_edits.get((ns_, cm), ()))
            om.gauge(
                "kube_configmap_metadata_resource_version",
                "Resource version representing a specific version of the configmap.",
                {**job, "configmap": cm, "namespace": ns_},
                [(t, float(version0 + 731 * sum(1 for e in edits if e <= t))) for t in pts],
            )


def _current(changes: Sequence[tuple[float, str]], t: float) -> str | None:
    cur = None
    for at, value in changes:
        if at <= t:
            cur = value
    return cur
