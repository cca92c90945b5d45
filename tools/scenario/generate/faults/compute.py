"""Compute faults: OOM kills, a memory leak, a saturated CPU, a NotReady node, a crash loop
and evictions under memory pressure, with what they do to the pods and services around."""

from __future__ import annotations

from tools.scenario.generate import alerts
from tools.scenario.generate import formats as fmt
from tools.scenario.generate.faults import Ctx, Fault, Outcome
from tools.scenario.generate.faults.common import (
    apiserver_slow,
    app_lines,
    app_pods,
    crashloop,
    dns_upstream_trouble,
    evict,
    ingress_trouble,
    kubelet,
    labels_of,
    not_ready,
    onset_in,
    oom_kills,
    oom_lines,
    replacement,
)
from tools.scenario.generate.scene import PodState, Scene, change


def _later(ctx: Ctx) -> float:
    return ctx.rng.uniform(150, 300) if ctx.hard else ctx.rng.uniform(30, 110)


def _ksm_labels(ps: PodState, scene: Scene) -> dict[str, str]:
    ksm = next(p for p in scene.site.pods if p.workload == "kube-state-metrics")
    return {
        "container": ps.pod.container,
        "instance": f"{ksm.ip}:8080",
        "job": "kube-state-metrics",
        "namespace": ps.pod.namespace,
        "pod": ps.pod.name,
        "uid": ps.pod.uid,
    }


def _crash_alert(
    scene: Scene, ctx: Ctx, ps: PodState, first: float, oom: bool
) -> dict[str, object]:
    """KubePodCrashLooping when there is time for its 15 minutes, else the OOM-killer rule."""
    labels = _ksm_labels(ps, scene)
    if oom and (ctx.rng.random() < 0.5 or first + 960 > scene.end):
        n = sum(1 for r in ps.restarts if r <= scene.end)
        return alerts.payload(
            scene, "KubernetesContainerOomKiller", labels, str(max(1, n)), first + 30
        )
    waiting = min((a for a, _, r in ps.waiting if r == "CrashLoopBackOff"), default=first)
    return alerts.payload(
        scene, "KubePodCrashLooping", {**labels, "reason": "CrashLoopBackOff"}, "", waiting
    )


def _exposed_symptoms(
    scene: Scene, ctx: Ctx, ps: PodState, at: float, code: str
) -> tuple[str, ...]:
    if any(i.workload == ps.pod.workload for i in scene.ingress):
        ingress_trouble(
            scene, ps.pod.workload, at, ctx.rng, errors=ctx.rng.uniform(0.05, 0.4), code=code
        )
        return ("application",)
    return ()


def oom_kill(scene: Scene, ctx: Ctx) -> Outcome:
    rng = ctx.rng
    ps = rng.choice(app_pods(scene, limited=True))
    first = onset_in(scene, rng, need_after=960 if rng.random() < 0.5 else 200)
    climb = rng.uniform(15, 60)  # a sudden spike (one big request), not a slow climb
    crashes = oom_kills(scene, ps, first, rng, climb_s=climb)
    what = rng.choice(
        (
            "an export of a large album",
            "a report over a year of data",
            "an image thumbnail batch",
            "a request with a huge JSON body",
        )
    )
    app_lines(
        scene,
        ps,
        first - climb,
        rng,
        "INFO",
        [f"processing {what}"],
        (climb * 2, climb * 3),
        until=first,
    )
    herrings = _exposed_symptoms(scene, ctx, ps, first + 1, "502")
    return Outcome(
        ps.pod.workload,
        f"{ps.pod.workload} runs out of memory: {what} pushes its working set to its "
        f"{(ps.pod.mem_limit or 0) / 2**20:.0f}Mi limit within {climb:.0f}s, the kernel OOM-kills it "
        f"({len(crashes)}× in the window) and it crash-loops.",
        _crash_alert(scene, ctx, ps, first, True),
        herrings,
    )


def memory_leak(scene: Scene, ctx: Ctx) -> Outcome:
    rng = ctx.rng
    ps = rng.choice(app_pods(scene, limited=True))
    limit = ps.pod.mem_limit or ps.pod.mem * 2
    start_frac = rng.uniform(0.3, 0.55)
    hit = scene.at(rng.uniform(0.78, 0.93))
    end_frac = 1.0
    if rng.random() < 0.25:  # not yet at the limit: a leak seen coming
        end_frac, hit = rng.uniform(0.85, 0.97), scene.end + 3600
    slope = (limit * end_frac - limit * start_frac) / ((min(hit, scene.end) - scene.start) or 1)
    base = ps.mem
    restart: list[float] = []

    def mem(t: float) -> float:
        since = restart[0] if restart and t >= restart[0] else scene.start
        level = limit * (0.25 if since != scene.start else start_frac)
        return level + slope * (t - since) + (base(t) - base(scene.start)) * 0.1

    ps.mem = mem
    ps.cpu = change(
        ps.cpu, scene.start, lambda t: 1 + 0.8 * max(0.0, (mem(t) / limit - 0.6)) / 0.4, how="mul"
    )
    alert: dict[str, object]
    if hit < scene.end:
        crashes = crashloop(scene, ps, hit, "OOMKilled", rng, until=hit + 1)
        restart.extend(r for r in ps.restarts if r > hit)
        for c in crashes:
            oom_lines(scene, ps, c, rng)
        alert = alerts.payload(
            scene, "KubernetesContainerOomKiller", _ksm_labels(ps, scene), "1", hit + 40
        )
    else:
        node = scene.site.node(ps.pod.node)
        alert = (
            alerts.payload(
                scene,
                "CPUThrottlingHigh",
                {
                    "container": ps.pod.container,
                    "instance": f"{node.ip}:10250",
                    "namespace": ps.pod.namespace,
                    "pod": ps.pod.name,
                    "service": "kubelet",
                },
                f"{rng.uniform(26, 60):.4g}%",
                scene.at(0.5),
            )
            if ps.pod.cpu_limit
            else alerts.payload(
                scene,
                "NodeMemoryHighUtilization",
                {
                    "instance": f"{node.name}:9100",
                    "job": "node-exporter",
                    "namespace": "monitoring",
                    "container": "node-exporter",
                },
                f"{rng.uniform(90.5, 94):.4g}",
                scene.at(0.3),
            )
        )
        if not ps.pod.cpu_limit:
            ns = scene.nodes[node.name]
            ns.mem_avail = change(
                ns.mem_avail, scene.start, node.mem * rng.uniform(0.055, 0.085), ramp=scene.length
            )
    app_lines(
        scene,
        ps,
        scene.start + rng.uniform(0, 300),
        rng,
        "WARN",
        ["GC overhead high", "heap usage above 80%", "slow request"],
        (120, 400),
    )
    return Outcome(
        ps.pod.workload,
        f"{ps.pod.workload} leaks memory: its working set grows steadily from {start_frac:.0%} towards its "
        f"{limit / 2**20:.0f}Mi limit"
        + (" and the kernel OOM-kills it when it gets there." if hit < scene.end else "."),
        alert,
        (),
    )


def cpu_saturation(scene: Scene, ctx: Ctx) -> Outcome:
    rng = ctx.rng
    hogs = [p for p in app_pods(scene) if not p.pod.cpu_limit]
    ps = rng.choice(hogs) if hogs else rng.choice(app_pods(scene))
    node = scene.site.node(ps.pod.node)
    ns = scene.nodes[node.name]
    onset = onset_in(scene, rng, need_after=420)
    level = rng.uniform(0.915, 0.995)
    ns.cpu = change(ns.cpu, onset, level, ramp=rng.uniform(20, 90))
    ps.cpu = change(ps.cpu, onset, node.cpus * (level - node.cpu_base) * 0.95, ramp=60)
    job = rng.choice(
        (
            "a transcode of a 4K library",
            "OCR of a scanned archive",
            "face recognition over the photo library",
            "a runaway regex in a request handler",
        )
    )
    app_lines(scene, ps, onset + 5, rng, "INFO", [f"working: {job}"], (60, 200))
    later = onset + _later(ctx)
    herrings: list[str] = []
    for other in scene.pods_on(node.name):
        if other.pod.app == "coredns":
            dns_upstream_trouble(
                scene, later, 0.03 + (0.2 if ctx.hard else 0.05) * rng.random(), rng
            )
            herrings.append("dns")
        elif other.pod.cpu_limit:
            other.throttle = change(other.throttle, later, rng.uniform(0.1, 0.4), ramp=60)
    if node.control_plane:
        apiserver_slow(scene, later, rng.uniform(3, 10) * (2 if ctx.hard else 1), rng)
        herrings.append("control-plane")
    for ing in scene.ingress:
        if any(p.pod.node == node.name for p in scene.pods_of(ing.workload)):
            ingress_trouble(
                scene, ing.workload, later, rng, latency=ing.latency(onset) * rng.uniform(3, 15)
            )
            herrings.append("application")
    alert = alerts.payload(
        scene,
        "HostHighCpuLoad",
        {"instance": f"{node.name}:9100", "job": "node-exporter"},
        f"{level * 100:.4g}",
        onset + 60,
        group_by=("alertname", "instance"),
    )
    return Outcome(
        node.name,
        f"{node.name}'s CPUs are saturated ({level:.0%}) by {ps.pod.workload}, which has no CPU limit and runs {job}; "
        "everything else on the node slows down.",
        alert,
        tuple(dict.fromkeys(herrings)),
    )


def node_not_ready(scene: Scene, ctx: Ctx) -> Outcome:
    rng = ctx.rng
    workers = [n for n in scene.site.nodes if not n.control_plane]
    node = rng.choice(workers)
    long_alert = scene.length - 0.36 * scene.length > 1140 + 90
    onset = onset_in(scene, rng, need_after=1140 if long_alert else 500)
    notready = not_ready(scene, node, onset, rng)
    # containerd is restarted by systemd over and over: containers on the node restart with it
    restarts = []
    t = onset + rng.uniform(200, 300)
    while t < scene.end:
        restarts.append(t)
        t += rng.uniform(120, 300) / (2 if ctx.hard else 1)
    herrings: list[str] = []
    victims = [
        p for p in scene.pods_on(node.name) if p.pod.workload not in ("etcd", "kube-apiserver")
    ]
    for p in victims:
        for r in restarts:
            down = r + rng.uniform(0.5, 3)
            back = down + rng.uniform(5, 40)
            p.downs.append((down, back))
            if back <= scene.end:
                p.restarts.append(back)
        if restarts:
            p.reasons.append((restarts[0] + 1, "Error" if rng.random() < 0.7 else "Unknown"))
            herrings.append("dns" if p.pod.app == "coredns" else "compute")
    for r in restarts:
        scene.log(
            r,
            {"app": "kubelet", "host": node.name},
            fmt.klog(
                r,
                "E",
                node.kubelet_pid,
                "remote_runtime.go:633",
                '"ListContainers with filter from runtime '
                'service failed" err="rpc error: code = DeadlineExceeded desc = context deadline exceeded"',
                rng.randint(0, 999),
            ),
        )
    # after 5 minutes the taint manager evicts the Deployment pods to other nodes
    for p in victims:
        if notready + 300 < scene.end and p.pod.app != "coredns" and rng.random() < 0.5:
            replacement(scene, p, rng, avoid=node.name, at=notready + 300 + rng.uniform(1, 20))
    labels = {
        "node": node.name,
        "condition": "Ready",
        "status": "true",
        "job": "kube-state-metrics",
        "instance": _ksm_labels(scene.pods[0], scene)["instance"],
    }
    alert = (
        alerts.payload(scene, "KubeNodeNotReady", labels, "", notready)
        if long_alert
        else alerts.payload(
            scene,
            "TargetDown",
            {"job": "kubelet", "namespace": "kube-system", "service": "kubelet"},
            f"{100 / len(scene.site.nodes):.4g}",
            notready,
            group_by=("alertname", "job"),
        )
    )
    if not long_alert:  # the kubelet stopped answering scrapes
        for p in scene.pods_on(node.name):
            p.downs.append((notready, scene.end + 1))
    return Outcome(
        node.name,
        f"containerd on {node.name} hangs: the kubelet's PLEG stalls, the node goes NotReady ~3 min later, and "
        "systemd keeps restarting the runtime, which restarts the containers on the node.",
        alert,
        tuple(dict.fromkeys(herrings)),
    )


def pod_crashloop(scene: Scene, ctx: Ctx) -> Outcome:
    rng = ctx.rng
    candidates = app_pods(scene)
    ps = rng.choice(candidates)
    first = onset_in(scene, rng, need_after=960 if rng.random() < 0.7 else 300)
    why = rng.choice(("panic", "liveness", "corrupt"))
    if why == "liveness":
        crashes = crashloop(scene, ps, first, "Error", rng, run_s=(35, 70))
        node = scene.site.node(ps.pod.node)
        for c in crashes:
            for k in range(3):
                kubelet(
                    scene,
                    node,
                    c - 20 + k * 10,
                    "I",
                    "prober.go:107",
                    f'"Probe failed" probeType="Liveness" pod="{ps.pod.namespace}/{ps.pod.name}" '
                    f'podUID="{ps.pod.uid}" containerName="{ps.pod.container}" probeResult="failure" '
                    f'output="Get \\"http://{ps.pod.ip}:{scene.site.workload(ps.pod.workload).port}/healthz\\": '
                    'context deadline exceeded (Client.Timeout exceeded while awaiting headers)"',
                    rng,
                )
            kubelet(
                scene,
                node,
                c,
                "I",
                "kuberuntime_container.go:809",
                f'"Killing container with a grace period" pod="{ps.pod.namespace}/{ps.pod.name}" '
                f'podUID="{ps.pod.uid}" containerName="{ps.pod.container}" containerID="containerd://'
                f'{"".join(rng.choice("0123456789abcdef") for _ in range(64))}" gracePeriod=30',
                rng,
            )
        story = "a worker thread deadlocks, liveness probes time out and the kubelet kills it again and again"
    else:
        crashes = crashloop(scene, ps, first, "Error", rng, run_s=(2, 25))
        for c in crashes:
            if why == "panic":
                lines = [
                    "panic: runtime error: invalid memory address or nil pointer dereference",
                    "[signal SIGSEGV: segmentation violation code=0x1 addr=0x28 pc=0x1a2b3c4]",
                    "",
                    "goroutine 1 [running]:",
                    "main.(*Store).Load(0x0, {0xc0001a4000, 0x12})",
                ]
            else:
                lines = [
                    "Traceback (most recent call last):",
                    '  File "/app/main.py", line 41, in <module>',
                    "    state = load_state(STATE_FILE)",
                    "json.decoder.JSONDecodeError: Expecting value: line 1 column 1 (char 0)",
                ]
            for j, line in enumerate(lines):
                scene.log(c - 0.05 + j * 0.001, labels_of(ps.pod), line)
        story = (
            "a corrupt state file on its volume makes it crash at start"
            if why == "corrupt"
            else "a nil-pointer panic on start after its cache went missing"
        )
    herrings = _exposed_symptoms(scene, ctx, ps, first + 2, "503")
    return Outcome(
        ps.pod.workload,
        f"{ps.pod.workload} crash-loops ({len(crashes)} crashes, exit code not OOM): {story}. Nothing was deployed.",
        _crash_alert(scene, ctx, ps, first, False),
        herrings,
    )


def eviction(scene: Scene, ctx: Ctx) -> Outcome:
    rng = ctx.rng
    node = rng.choice(
        [n for n in scene.site.nodes if len(scene.pods_on(n.name)) >= 2] or list(scene.site.nodes)
    )
    ns = scene.nodes[node.name]
    onset = onset_in(scene, rng, need_after=700)
    greedy = rng.choice([p for p in scene.pods_on(node.name)] or scene.pods)
    fill = rng.uniform(120, 400)
    floor = rng.uniform(40, 95) * 2**20
    ns.mem_avail = change(ns.mem_avail, onset, floor, ramp=fill)
    pressure = onset + fill - rng.uniform(0, 20)
    greedy.mem = change(
        greedy.mem,
        onset,
        lambda t: greedy.pod.mem + (ns.mem_avail(onset) - floor) * min(1.0, (t - onset) / fill),
        how="set",
    )
    victims = sorted(
        (p for p in scene.pods_on(node.name) if p.pod.workload not in ("etcd", "kube-apiserver")),
        key=lambda p: -(p.pod.mem if p is not greedy else 1e18),
    )[: rng.randint(1, 4)]
    if greedy not in victims:
        victims.insert(0, greedy)
    evict(scene, node, victims, pressure + rng.uniform(1, 10), "memory", rng)
    ns.mem_avail = change(ns.mem_avail, pressure + 60, lambda t: node.mem * 0.2, ramp=120)
    herrings: list[str] = []
    for v in victims:
        if any(i.workload == v.pod.workload for i in scene.ingress):
            ingress_trouble(
                scene,
                v.pod.workload,
                (v.evicted or pressure) + 1,
                rng,
                errors=rng.uniform(0.05, 0.5),
                code="503",
                ramp=10,
            )
            herrings.append("application")
    alert = (
        alerts.payload(
            scene,
            "KubeNodePressure",
            {
                "node": node.name,
                "condition": "MemoryPressure",
                "status": "true",
                "job": "kube-state-metrics",
                "instance": _ksm_labels(victims[0], scene)["instance"],
            },
            "1",
            pressure,
        )
        if rng.random() < 0.6
        else alerts.payload(
            scene,
            "KubePodNotReady",
            {"namespace": victims[0].pod.namespace, "pod": victims[0].pod.name},
            "",
            pressure,
        )
    )
    return Outcome(
        node.name,
        f"{greedy.pod.workload} (no memory limit) grows until {node.name} is under memory pressure; the kubelet "
        f"evicts {len(victims)} pod(s) to reclaim memory.",
        alert,
        tuple(dict.fromkeys(herrings)),
    )


FAULTS = (
    Fault("compute", "oom_kill", oom_kill),
    Fault("compute", "memory_leak", memory_leak),
    Fault("compute", "cpu_saturation", cpu_saturation, hard=True),
    Fault("compute", "node_not_ready", node_not_ready, hard=True),
    Fault("compute", "pod_crashloop", pod_crashloop),
    Fault("compute", "eviction", eviction),
)
