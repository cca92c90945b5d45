"""Building blocks shared by faults: effects that are a cause in one fault and a symptom in another.

A crash loop, OOM kills, evictions, a NotReady node, CoreDNS upstream timeouts, a slow
apiserver, a struggling etcd, ingress timeouts: each is written once here, with the log
lines the real components print, and used both as a fault's primary signal and as the
downstream symptom of another layer's fault. None of them picks an answer.
"""

from __future__ import annotations

import random
from dataclasses import replace

from tools.scenario import writer as w
from tools.scenario.generate import formats as fmt
from tools.scenario.generate.scene import PodState, Scene, change, inside, wobble
from tools.scenario.generate.site import Node, Pod, k8s_suffix, pod_uid, rs_hash

BACKOFFS = (10, 20, 40, 80, 160, 300, 300, 300, 300)
PROCESS = {
    "coredns": "coredns",
    "grafana": "grafana",
    "home-assistant": "python3",
    "immich-server": "node",
    "nextcloud": "apache2",
    "vaultwarden": "vaultwarden",
    "paperless-ngx": "python3",
    "gitea": "gitea",
    "jellyfin": "jellyfin",
    "orders-api": "java",
    "payment-processor": "payment-process",
    "uptime-kuma": "node",
    "postgres": "postgres",
    "mosquitto": "mosquitto",
    "redis": "redis-server",
    "prometheus": "prometheus",
    "controller": "nginx",
    "kube-state-metrics": "kube-state-metr",
    "local-path-provisioner": "local-path-prov",
}


def onset_in(
    scene: Scene, rng: random.Random, need_after: float = 0.0, lo: float = 0.38, hi: float = 0.6
) -> float:
    """A fault onset after the early third of the window (the detectors' baseline), leaving
    ``need_after`` seconds before the end when possible."""
    t = scene.at(rng.uniform(lo, hi))
    latest = scene.end - need_after - 60
    return max(scene.at(0.36), min(t, latest))


def labels_of(pod: Pod) -> dict[str, str]:
    """A pod's log stream labels."""
    return {
        "namespace": pod.namespace,
        "pod": pod.name,
        "app": pod.app,
        "host": pod.node,
        "container": pod.container,
    }


def kubelet(
    scene: Scene, node: Node, ts: float, level: str, where: str, msg: str, rng: random.Random
) -> None:
    """One kubelet line on ``node``."""
    scene.log(
        ts,
        {"app": "kubelet", "host": node.name},
        fmt.klog(ts, level, node.kubelet_pid, where, msg, rng.randint(0, 999)),
    )


def kernel(scene: Scene, node: Node, ts: float, msg: str, rng: random.Random) -> None:
    """One kernel ring-buffer line on ``node``."""
    scene.log(
        ts,
        {"app": "kernel", "host": node.name},
        fmt.dmesg(ts, scene.boot(node), msg, rng.randint(0, 999)),
    )


def crashloop(
    scene: Scene,
    ps: PodState,
    first: float,
    reason: str,
    rng: random.Random,
    *,
    run_s: tuple[float, float] = (3, 40),
    exit_code: int = 1,
    until: float | None = None,
) -> list[float]:
    """The container dies at ``first`` and keeps dying after each restart (CrashLoopBackOff).

    Returns the crash times. Sets restarts, downs, the waiting and last-terminated
    reasons, and adds the kubelet's lines.
    """
    node = scene.site.node(ps.pod.node)
    crashes: list[float] = []
    t = first
    k = 0
    end = min(scene.end, until) if until is not None else scene.end
    while t < end:
        crashes.append(t)
        backoff = BACKOFFS[min(k, len(BACKOFFS) - 1)]
        restart = t + backoff + rng.uniform(0.3, 1.5)
        ps.downs.append((t, restart))
        ps.waiting.append((t + 0.5, restart, "CrashLoopBackOff"))
        if restart <= scene.end:
            ps.restarts.append(restart)
        pref = f"{ps.pod.namespace}/{ps.pod.name}"
        kubelet(
            scene,
            node,
            t + rng.uniform(0.3, 1.2),
            "I",
            "kubelet.go:2448",
            f'"SyncLoop (PLEG): event for pod" pod="{pref}" event={{"ID":"{ps.pod.uid}","Type":"ContainerDied",'
            f'"Data":"{_hex(rng)}"}}',
            rng,
        )
        kubelet(
            scene,
            node,
            t + rng.uniform(1.2, 2.5),
            "E",
            "pod_workers.go:1301",
            f'"Error syncing pod, skipping" err="failed to \\"StartContainer\\" for \\"{ps.pod.container}\\" with '
            f'CrashLoopBackOff: \\"back-off {backoff}s restarting failed container={ps.pod.container} '
            f'pod={ps.pod.name}_{ps.pod.namespace}({ps.pod.uid})\\"" pod="{pref}" podUID="{ps.pod.uid}"',
            rng,
        )
        t = restart + rng.uniform(*run_s)
        k += 1
    if crashes:
        ps.reasons.append((crashes[0] + 0.5, reason))
    del exit_code
    return crashes


def oom_lines(scene: Scene, ps: PodState, ts: float, rng: random.Random) -> None:
    """The kernel's memory-cgroup OOM kill of ``ps``'s main process at ``ts``."""
    node = scene.site.node(ps.pod.node)
    comm = PROCESS.get(ps.pod.container, ps.pod.container[:15])
    pid = rng.randint(3000, 990000)
    limit_kb = int((ps.pod.mem_limit or ps.pod.mem * 2) / 1024)
    cid = _hex(rng, 64)
    cg = (
        f"/kubepods.slice/kubepods-burstable.slice/kubepods-burstable-pod{ps.pod.uid.replace('-', '_')}.slice/"
        f"cri-containerd-{cid}.scope"
    )
    for j, line in enumerate(
        (
            f"{comm} invoked oom-killer: gfp_mask=0xcc0(GFP_KERNEL), order=0, oom_score_adj={rng.choice((996, 984, 999))}",
            f"memory: usage {limit_kb}kB, limit {limit_kb}kB, failcnt {rng.randint(40, 9000)}",
            f"oom-kill:constraint=CONSTRAINT_MEMCG,nodemask=(null),cpuset=cri-containerd-{cid}.scope,mems_allowed=0,"
            f"oom_memcg={cg},task_memcg={cg},task={comm},pid={pid},uid={rng.choice((0, 1000, 65532))}",
            f"Memory cgroup out of memory: Killed process {pid} ({comm}) total-vm:{limit_kb * 3}kB, anon-rss:"
            f"{int(limit_kb * 0.97)}kB, file-rss:{rng.randint(2000, 9000)}kB, shmem-rss:0kB, UID:0 pgtables:"
            f"{rng.randint(300, 3000)}kB oom_score_adj:996",
            f"oom_reaper: reaped process {pid} ({comm}), now anon-rss:0kB, file-rss:0kB, shmem-rss:0kB",
        )
    ):
        kernel(scene, node, ts - 0.05 + j * 0.0004, line, rng)


def oom_kills(
    scene: Scene, ps: PodState, first: float, rng: random.Random, *, climb_s: float = 45.0
) -> list[float]:
    """``ps`` runs out of memory at ``first`` and again after each restart (memory shoots to
    the limit in ``climb_s`` from a normal level, then the kernel kills it)."""
    limit = ps.pod.mem_limit or ps.pod.mem * 2
    crashes = crashloop(scene, ps, first, "OOMKilled", rng, run_s=(climb_s * 1.05, climb_s * 1.8))
    base = ps.mem
    knots: list[tuple[float, float]] = []
    for c in crashes:
        knots += [(c - climb_s, -1.0), (c - 1, limit * 1.02)]
    spikes = sorted(knots)

    def mem(t: float) -> float:
        for (a, _), (b, top) in zip(spikes[::2], spikes[1::2], strict=False):
            if a <= t <= b:
                return base(t) + (top - base(t)) * (t - a) / (b - a)
        return base(t)

    ps.mem = mem
    for c in crashes:
        oom_lines(scene, ps, c, rng)
    return crashes


def evict(
    scene: Scene,
    node: Node,
    victims: list[PodState],
    first: float,
    resource: str,
    rng: random.Random,
) -> list[PodState]:
    """The kubelet on ``node`` evicts ``victims`` one after another from ``first`` to reclaim
    ``resource``; Deployment pods get a replacement elsewhere. Returns the replacements."""
    signal = {"ephemeral-storage": "nodefs.available", "memory": "memory.available"}.get(
        resource, resource
    )
    out: list[PodState] = []
    t = first
    kubelet(
        scene,
        node,
        t,
        "W",
        "eviction_manager.go:366",
        f'"Eviction manager: attempting to reclaim" resourceName="{resource}"',
        rng,
    )
    if resource == "ephemeral-storage":
        kubelet(
            scene,
            node,
            t + 0.01,
            "I",
            "container_gc.go:88",
            '"Attempting to delete unused containers"',
            rng,
        )
        kubelet(
            scene,
            node,
            t + 0.02,
            "I",
            "image_gc_manager.go:404",
            '"Attempting to delete unused images" ',
            rng,
        )
    kubelet(
        scene,
        node,
        t + 0.3,
        "I",
        "eviction_manager.go:377",
        f'"Eviction manager: must evict pod(s) to reclaim" resourceName="{resource}"',
        rng,
    )
    ranked = ",".join(f'"{v.pod.namespace}/{v.pod.name}"' for v in victims)
    kubelet(
        scene,
        node,
        t + 0.31,
        "I",
        "eviction_manager.go:395",
        f'"Eviction manager: pods ranked for eviction" pods=[{ranked}]',
        rng,
    )
    for v in victims:
        t += rng.uniform(5, 40)
        if t >= scene.end:
            break
        v.evicted = t
        kubelet(
            scene,
            node,
            t,
            "I",
            "eviction_manager.go:616",
            f'"Eviction manager: pod is evicted successfully" pod="{v.pod.namespace}/{v.pod.name}"',
            rng,
        )
        kubelet(
            scene,
            node,
            t + 0.02,
            "I",
            "eviction_manager.go:411",
            f'"Eviction manager: evicted pod" pod="{v.pod.namespace}/{v.pod.name}" signal="{signal}"',
            rng,
        )
        rep = replacement(scene, v, rng, avoid=node.name, at=t + rng.uniform(1, 4))
        if rep is not None:
            out.append(rep)
    return out


def replacement(
    scene: Scene, ps: PodState, rng: random.Random, *, avoid: str, at: float
) -> PodState | None:
    """A new pod of ``ps``'s workload on another node (Deployments only)."""
    names = {w.name: w for w in scene.site.workloads}
    wl = names.get(ps.pod.workload)
    if wl is None or wl.kind != "Deployment":
        return None
    others = [
        n
        for n in scene.site.nodes
        if n.name != avoid and not inside(scene.nodes[n.name].unreachable, at)
    ]
    if not others:
        return None
    node = rng.choice(others)
    parts = ps.pod.name.rsplit("-", 2)
    rs = parts[1] if len(parts) == 3 else rs_hash(rng)
    used = {p.pod.ip for p in scene.pods}
    ip = next(
        f"{node.pod_net}.{x}"
        for x in rng.sample(range(2, 251), 249)
        if f"{node.pod_net}.{x}" not in used
    )
    pod = replace(
        ps.pod, name=f"{wl.name}-{rs}-{k8s_suffix(rng, 5)}", node=node.name, ip=ip, uid=pod_uid(rng)
    )
    new = PodState(pod=pod, mem=ps.mem, cpu=ps.cpu, throttle=ps.throttle, created=at)
    new.waiting.append((at, at + rng.uniform(2, 20), "ContainerCreating"))
    new.downs.append((at, at + rng.uniform(3, 25)))
    scene.pods.append(new)
    return new


def not_ready(
    scene: Scene,
    node: Node,
    onset: float,
    rng: random.Random,
    *,
    until: float | None = None,
    pleg: bool = True,
) -> float:
    """The kubelet on ``node`` stops reporting healthy (PLEG stuck) from ``onset``; the
    node goes NotReady ~3 min later (PLEG's threshold). Returns when it went NotReady."""
    notready = onset + 180 + rng.uniform(2, 12)
    ns = scene.nodes[node.name]
    ns.ready = change(ns.ready, notready, 0.0, until=until)
    end = until if until is not None else scene.end
    if pleg:
        t = notready - rng.uniform(0, 4)
        while t < end:
            stale = t - onset
            kubelet(
                scene,
                node,
                t,
                "E",
                "kubelet.go:2412",
                f'"Skipping pod synchronization" err="PLEG is not healthy: pleg was last seen active '
                f'{int(stale // 60)}m{stale % 60:.9f}s ago; threshold is 3m0s"',
                rng,
            )
            t += rng.uniform(5, 60)
    kubelet(
        scene,
        node,
        notready + 0.01,
        "I",
        "setters.go:602",
        f'"Node became not ready" node="{node.name}" condition={{"type":"Ready","status":"False",'
        f'"reason":"KubeletNotReady","message":"PLEG is not healthy: pleg was last seen active 3m0.{rng.randint(1, 999):03d}s '
        f'ago; threshold is 3m0s"}}',
        rng,
    )
    return notready


def dns_upstream_trouble(
    scene: Scene,
    onset: float,
    loss: float,
    rng: random.Random,
    *,
    ramp: float = 60.0,
    servfail: float = 0.0,
    apps: int = 2,
) -> None:
    """CoreDNS's upstream stops answering ``loss`` of forwarded queries from ``onset``:
    i/o timeouts, SERVFAIL, and applications that fail lookups."""
    dns = scene.dns
    dns.upstream_loss = change(
        dns.upstream_loss, onset, w.scale(wobble(rng, 0.15), loss), ramp=ramp
    )
    if servfail:
        dns.upstream_servfail = change(dns.upstream_servfail, onset, servfail, ramp=ramp)
    clients = [
        p
        for p in scene.pods
        if p.pod.namespace not in ("kube-system",)
        and p.created is None
        and scene.site.workload(p.pod.workload).lookups
    ][:apps]
    for ps in clients:
        names = [n for n in scene.site.workload(ps.pod.workload).lookups if "." in n] or [
            "api.github.com"
        ]
        t = onset + rng.uniform(20, 120)
        while t < scene.end:
            name = rng.choice(names)
            fq = (
                name
                if name.count(".") >= 2 or name.endswith((".com", ".org", ".no"))
                else f"{name}.svc.cluster.local"
            )
            scene.log(
                t,
                labels_of(ps.pod),
                fmt.app_json(
                    t,
                    "ERROR",
                    "request failed",
                    err=f"dial tcp: lookup {fq} on {scene.site.kube_dns}:53: server misbehaving",
                    retry=rng.randint(1, 5),
                ),
            )
            t += rng.uniform(25, 120) / max(loss * 2, 0.3)


def apiserver_slow(
    scene: Scene,
    onset: float,
    factor: float,
    rng: random.Random,
    *,
    errors: float = 0.0,
    code: str = "504",
    ramp: float = 120.0,
    etcd: bool = False,
    lease_errors: bool = True,
) -> None:
    """The apiserver answers ``factor`` times slower from ``onset`` (and ``errors`` of requests
    with ``code``), with the apiserver's and kubelets' lines about it."""
    api = scene.api
    api.latency = change(api.latency, onset, factor, ramp=ramp, how="mul")
    if errors:
        api.errors = change(api.errors, onset, errors, ramp=ramp)
        api.error_code = code
    cp = scene.site.control_plane
    labels = {
        "namespace": "kube-system",
        "pod": f"kube-apiserver-{cp.name}",
        "app": "kube-apiserver",
        "host": cp.name,
        "container": "kube-apiserver",
    }
    urls = (
        "/api/v1/pods?limit=500&resourceVersion=0",
        "/apis/coordination.k8s.io/v1/namespaces/kube-node-lease/leases",
        "/api/v1/namespaces/kube-system/configmaps/extension-apiserver-authentication",
        "/apis/discovery.k8s.io/v1/endpointslices?limit=500&resourceVersion=0",
    )
    t = onset + ramp / 2
    while t < scene.end:
        dur = 0.5 + factor * 0.03 * rng.uniform(0.5, 2.0)
        url = rng.choice(urls)
        tid = rng.randint(100_000_000, 2_147_483_647)
        scene.log(
            t,
            labels,
            fmt.klog(
                t,
                "I",
                1,
                "trace.go:236",
                f'Trace[{tid}]: "List" accept:application/json, */*,audit-id:{pod_uid(rng)},'
                f"client:{rng.choice([n.ip for n in scene.site.nodes])},api-group:,api-version:v1,"
                f"name:,subresource:,namespace:,protocol:HTTP/2.0,resource:pods,scope:cluster,"
                f"url:{url.split('?')[0]},verb:LIST (total time: {dur:.3f}s):",
                rng.randint(0, 999),
            ),
        )
        if errors and rng.random() < 0.6:
            msg = (
                "etcdserver: request timed out"
                if etcd and rng.random() < 0.6
                else "Timeout: request did not complete within requested timeout - context deadline exceeded"
            )
            scene.log(
                t + 0.2,
                labels,
                fmt.klog(
                    t + 0.2,
                    "E",
                    1,
                    "status.go:71",
                    f'"Unhandled Error" err="apiserver received an error that is not an '
                    f'metav1.Status: &errors.errorString{{s:\\"{msg}\\"}}: {msg}"',
                    rng.randint(0, 999),
                ),
            )
        t += rng.uniform(20, 90)
    if lease_errors:
        for node in scene.site.nodes[1:3]:
            t = onset + rng.uniform(60, 180)
            while t < scene.end:
                kubelet(
                    scene,
                    node,
                    t,
                    "E",
                    "controller.go:145",
                    f'"Failed to update lease" err="Put \\"https://{cp.ip}:6443/apis/coordination.k8s.io/v1/'
                    f'namespaces/kube-node-lease/leases/{node.name}?timeout=10s\\": context deadline exceeded"',
                    rng,
                )
                t += rng.uniform(60, 240)


def etcd_struggles(
    scene: Scene,
    onset: float,
    rng: random.Random,
    *,
    fsync: float | None = None,
    commit: float | None = None,
    ramp: float = 60.0,
    lines: str = "apply",
) -> None:
    """etcd's WAL fsync and/or backend commit slow down from ``onset`` (medians, seconds),
    with etcd's own warnings (``lines``: "fsync", "apply", or "both")."""
    for es in scene.etcd:
        if fsync is not None:
            es.fsync = change(es.fsync, onset, fsync, ramp=ramp)
        if commit is not None:
            es.commit = change(es.commit, onset, commit, ramp=ramp)
        labels = {
            "namespace": "kube-system",
            "pod": f"etcd-{es.node.name}",
            "app": "etcd",
            "host": es.node.name,
            "container": "etcd",
        }
        t = onset + rng.uniform(10, 60)
        while t < scene.end:
            took = (fsync or commit or 0.2) * rng.uniform(2, 8)
            if lines in ("fsync", "both") and rng.random() < 0.6:
                scene.log(
                    t,
                    labels,
                    fmt.zap(
                        t,
                        "warn",
                        "wal/wal.go:805",
                        "slow fdatasync",
                        took=f"{took:.9f}s",
                        **{"expected-duration": "1s"},
                    ),
                )
            if lines in ("apply", "both") and rng.random() < 0.7:
                scene.log(
                    t + 0.1,
                    labels,
                    fmt.zap(
                        t + 0.1,
                        "warn",
                        "etcdserver/util.go:170",
                        "apply request took too long",
                        took=f"{took * 1.3:.9f}s",
                        **{"expected-duration": "100ms"},
                        prefix="read-only range ",
                        request=f'key:"/registry/{rng.choice(("pods", "leases", "configmaps", "events"))}/" '
                        'range_end:"/registry/pods0" count_only:true ',
                        response=f"range_response_count:0 size:{rng.randint(6, 9)}",
                    ),
                )
            t += rng.uniform(15, 70)


def ingress_trouble(
    scene: Scene,
    workload: str,
    onset: float,
    rng: random.Random,
    *,
    latency: float | None = None,
    errors: float | None = None,
    code: str = "502",
    timeouts: float | None = None,
    ramp: float = 60.0,
) -> None:
    """The ingress sees ``workload`` slow down, fail or time out from ``onset``."""
    for ing in scene.ingress:
        if ing.workload != workload:
            continue
        if latency is not None:
            ing.latency = change(ing.latency, onset, latency, ramp=ramp)
        if errors is not None:
            ing.errors = change(ing.errors, onset, errors, ramp=ramp)
            ing.error_code = code
        if timeouts is not None:
            ing.timeouts = change(ing.timeouts, onset, timeouts, ramp=ramp)


def app_lines(
    scene: Scene,
    ps: PodState,
    onset: float,
    rng: random.Random,
    level: str,
    msgs: list[str],
    every: tuple[float, float],
    until: float | None = None,
    **fields: object,
) -> None:
    """Application log lines of ``ps`` from ``onset`` while it runs."""
    t = onset
    end = until if until is not None else scene.end
    while t < end:
        if ps.running(t):
            scene.log(t, labels_of(ps.pod), fmt.app_json(t, level, rng.choice(msgs), **fields))
        t += rng.uniform(*every)


def flaky_scrapes(scene: Scene, node: Node, start: float, share: float, rng: random.Random) -> None:
    """Scrapes of ``node``'s exporters fail now and then from ``start`` (lost packets)."""
    ns = scene.nodes[node.name]
    for t in scene.times(f"{node.name}:9100"):
        if t >= start and rng.random() < share:
            ns.unreachable.append((t - 1, t + 1))


def _hex(rng: random.Random, n: int = 64) -> str:
    return "".join(rng.choice("0123456789abcdef") for _ in range(n))


def app_pods(scene: Scene, *, exposed: bool = False, limited: bool = False) -> list[PodState]:
    """Steady pods of the site's own applications (optionally: behind the ingress / with a
    memory limit)."""
    names = {w.name for w in (scene.site.exposed if exposed else scene.site.apps)}
    return [
        p
        for p in scene.pods
        if p.pod.workload in names
        and p.created is None
        and p.evicted is None
        and (not limited or p.pod.mem_limit)
    ]
