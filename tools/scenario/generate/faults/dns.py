"""DNS faults: a client flooding CoreDNS, an upstream resolver that stops answering,
CoreDNS itself crashing, and a Corefile change that makes names vanish."""

from __future__ import annotations

from tools.scenario.generate import alerts
from tools.scenario.generate import formats as fmt
from tools.scenario.generate.faults import Ctx, Fault, Outcome
from tools.scenario.generate.faults.common import (
    app_lines,
    app_pods,
    crashloop,
    dns_upstream_trouble,
    ingress_trouble,
    labels_of,
    onset_in,
    oom_kills,
)
from tools.scenario.generate.scene import PodState, Scene, change


def _later(ctx: Ctx) -> float:
    return ctx.rng.uniform(150, 300) if ctx.hard else ctx.rng.uniform(30, 110)


def _dns_alert_labels(scene: Scene) -> dict[str, str]:
    return {"namespace": "kube-system", "job": "coredns", "service": "kube-dns"}


def _banner(scene: Scene, ps: PodState, ts: float) -> None:
    for i, line in enumerate(
        (
            ".:53",
            "[INFO] plugin/reload: Running configuration SHA512 = "
            f"{scene.rng('sha', ps.pod.name, ts).getrandbits(256):064x}"[:120],
            "CoreDNS-1.11.1",
            "linux/amd64, go1.20.7, ae2bbc2",
        )
    ):
        scene.log(ts + i * 0.001, labels_of(ps.pod), line)


def query_flood(scene: Scene, ctx: Ctx) -> Outcome:
    rng = ctx.rng
    client = rng.choice([p for p in app_pods(scene) if scene.site.workload(p.pod.workload).lookups])
    onset = onset_in(scene, rng, need_after=400)
    base = scene.dns.qps(onset)
    factor = rng.uniform(3.2, 4.0) if rng.random() < 0.3 else rng.uniform(4, 25)
    extra = base * (factor - 1)
    ramp = rng.uniform(20, 120)
    scene.dns.flood.append(
        (client.pod, lambda t: 0.0 if t < onset else extra * min(1.0, (t - onset) / ramp))
    )
    client.cpu = change(client.cpu, onset, client.pod.cpu * 4 + 0.2, ramp=ramp)
    app_lines(
        scene,
        client,
        onset + 3,
        rng,
        "WARN",
        ["retrying lookup", "resolver cache disabled, resolving on every request"],
        (90, 300),
    )
    dns_pods = [p for p in scene.pods if p.pod.app == "coredns"]
    herrings: list[str] = []
    oom = factor > 8 or ctx.hard
    for ps in dns_pods:
        ps.cpu = change(ps.cpu, onset, ps.pod.cpu + 0.0012 * extra / len(dns_pods), ramp=ramp)
        limit = ps.pod.mem_limit or 170 * 2**20
        grown = min(limit * 0.97, ps.pod.mem + extra * 2**20 * 0.02)
        ps.mem = change(ps.mem, onset, grown, ramp=max(ramp, 600))
    if oom:
        first = onset + _later(ctx) + rng.uniform(60, 240)
        for k, ps in enumerate(dns_pods):
            crashes = oom_kills(
                scene, ps, first + k * rng.uniform(30, 200), rng, climb_s=rng.uniform(40, 90)
            )
            for c in crashes:
                if c + 12 < scene.end:
                    _banner(scene, ps, c + rng.uniform(11, 14))
        herrings.append("compute")
        alert = alerts.payload(
            scene,
            "KubernetesContainerOomKiller",
            {
                "container": "coredns",
                "namespace": "kube-system",
                "pod": dns_pods[0].pod.name,
                "job": "kube-state-metrics",
            },
            "1",
            first + 30,
        )
    else:
        alert = (
            alerts.payload(
                scene,
                "CPUThrottlingHigh",
                {
                    "container": client.pod.container,
                    "namespace": client.pod.namespace,
                    "pod": client.pod.name,
                    "service": "kubelet",
                },
                f"{rng.uniform(26, 70):.4g}%",
                onset + 60,
            )
            if client.pod.cpu_limit
            else alerts.payload(
                scene,
                "CoreDNSErrorsHigh",
                _dns_alert_labels(scene),
                f"{rng.uniform(3.1, 8):.3g}%",
                onset + 120,
                group_by=("alertname",),
            )
        )
        if not client.pod.cpu_limit:
            scene.dns.upstream_servfail = change(
                scene.dns.upstream_servfail, onset + 60, 0.12, ramp=120
            )
    return Outcome(
        client.pod.workload,
        f"{client.pod.workload} ({client.pod.ip}) resolves its dependencies on every request (its resolver cache "
        f"got disabled) and floods CoreDNS: queries ×{factor:.0f}, mostly search-path NXDOMAIN expansions."
        + (" CoreDNS's memory climbs to its limit and its pods are OOM-killed." if oom else ""),
        alert,
        tuple(herrings),
    )


def upstream_failure(scene: Scene, ctx: Ctx) -> Outcome:
    rng = ctx.rng
    onset = onset_in(scene, rng, need_after=700)
    loss = rng.uniform(0.2, 1.0)
    sf = rng.uniform(0.0, 0.3) if rng.random() < 0.4 else 0.0
    dns_upstream_trouble(scene, onset, loss, rng, ramp=rng.uniform(5, 60), servfail=sf, apps=3)
    herrings: list[str] = []
    later = onset + _later(ctx)
    for ing in scene.ingress:
        lookups = scene.site.workload(ing.workload).lookups
        if any(n.count(".") >= 1 and not n.endswith("cluster.local") for n in lookups):
            ingress_trouble(
                scene,
                ing.workload,
                later,
                rng,
                errors=rng.uniform(0.02, 0.2) * (3 if ctx.hard else 1),
                code="502",
            )
            herrings.append("application")
            break
    who = rng.choice(
        (
            "the router's DNS forwarder crashed",
            "the Pi-hole on the NAS hangs",
            "the ISP's resolvers stopped answering",
        )
    )
    alert = rng.choice(
        (
            lambda: alerts.payload(
                scene,
                "CoreDNSErrorsHigh",
                _dns_alert_labels(scene),
                f"{loss * 30:.3g}%",
                onset,
                group_by=("alertname",),
            ),
            lambda: alerts.payload(
                scene,
                "CoreDNSForwardHealthcheckFailureCount",
                {**_dns_alert_labels(scene), "to": f"{scene.site.router}:53"},
                "",
                onset,
                group_by=("alertname",),
            ),
            lambda: alerts.payload(
                scene,
                "CoreDNSForwardErrorsHigh",
                {**_dns_alert_labels(scene), "to": f"{scene.site.router}:53"},
                f"{max(sf, 0.031) * 100:.3g}%",
                onset,
                group_by=("alertname",),
            ),
        )
    )()
    return Outcome(
        scene.site.dns_service,
        f"CoreDNS's upstream ({scene.site.router}) fails: {who}. Forwarded queries time out (i/o timeout) or come "
        "back SERVFAIL; in-cluster names still resolve, external ones do not.",
        alert,
        tuple(herrings),
    )


def resolver_down(scene: Scene, ctx: Ctx) -> Outcome:
    rng = ctx.rng
    onset = onset_in(scene, rng, need_after=960 if rng.random() < 0.5 else 300)
    dns_pods = [p for p in scene.pods if p.pod.app == "coredns"]
    for k, ps in enumerate(dns_pods):
        crashes = crashloop(
            scene, ps, onset + k * rng.uniform(2, 40), "Error", rng, run_s=(20, 240), exit_code=2
        )
        for c in crashes:
            for j, line in enumerate(
                (
                    "panic: runtime error: invalid memory address or nil pointer dereference",
                    "[signal SIGSEGV: segmentation violation code=0x1 addr=0x10 pc=0x1d52e61]",
                    "",
                    "goroutine 9874 [running]:",
                    "github.com/coredns/coredns/plugin/cache.(*ResponseWriter).WriteMsg(0xc000e2a000, 0xc0004e8360)",
                )
            ):
                scene.log(c - 0.01 + j * 0.0001, labels_of(ps.pod), line)
            _banner(scene, ps, c + 12)
    clients = [p for p in app_pods(scene) if scene.site.workload(p.pod.workload).lookups][:3]
    for ps in clients:
        t = onset + rng.uniform(5, 40)
        names = scene.site.workload(ps.pod.workload).lookups
        while t < scene.end:
            if not any(d.running(t) for d in dns_pods):
                scene.log(
                    t,
                    labels_of(ps.pod),
                    fmt.app_json(
                        t,
                        "ERROR",
                        "request failed",
                        err=f"dial tcp: lookup {rng.choice(names)} on {scene.site.kube_dns}"
                        f":53: read udp {ps.pod.ip}:{rng.randint(32768, 60999)}->{scene.site.kube_dns}:53: i/o timeout",
                    ),
                )
            t += rng.uniform(8, 40)
    ps0 = dns_pods[0]
    ksm = next(p for p in scene.site.pods if p.workload == "kube-state-metrics")
    waiting = min((a for a, _, r in ps0.waiting), default=onset)
    alert = alerts.payload(
        scene,
        "KubePodCrashLooping",
        {
            "container": "coredns",
            "instance": f"{ksm.ip}:8080",
            "job": "kube-state-metrics",
            "namespace": "kube-system",
            "pod": ps0.pod.name,
            "reason": "CrashLoopBackOff",
            "uid": ps0.pod.uid,
        },
        "",
        waiting,
    )
    return Outcome(
        scene.site.dns_service,
        "CoreDNS keeps crashing (a nil-pointer panic in the cache plugin on a malformed upstream answer): both "
        "replicas crash-loop and lookups fail while neither is up.",
        alert,
        ("compute", "application"),
    )


def misconfiguration(scene: Scene, ctx: Ctx) -> Outcome:
    rng = ctx.rng
    onset = onset_in(scene, rng, need_after=700)
    nx = rng.uniform(0.55, 0.95)
    scene.dns.nxdomain = change(scene.dns.nxdomain, onset, nx, ramp=rng.uniform(10, 40))
    for ps in (p for p in scene.pods if p.pod.app == "coredns"):
        t = onset + rng.uniform(5, 30)
        scene.log(t, labels_of(ps.pod), "[INFO] Reloading")
        scene.log(
            t + 0.02,
            labels_of(ps.pod),
            f"[INFO] plugin/reload: Running configuration SHA512 = {rng.getrandbits(256):064x}",
        )
        scene.log(t + 0.03, labels_of(ps.pod), "[INFO] Reloading complete")
    edit = rng.choice(
        (
            "the kubernetes plugin's zone was changed to cluster.locl",
            f"a rewrite rule for {scene.site.domain} captures in-cluster names",
            "a stub zone sends the cluster domain to the router",
        )
    )
    herrings = ["compute", "application"]
    victims = [p for p in app_pods(scene) if scene.site.workload(p.pod.workload).lookups][:2]
    later = onset + _later(ctx)
    crashed: PodState | None = None
    for ps in victims:
        lookups = scene.site.workload(ps.pod.workload).lookups
        name = next(
            (n for n in lookups if n.count(".") <= 1 and not n.endswith(".com")), lookups[0]
        )
        app_lines(
            scene,
            ps,
            later - 20,
            rng,
            "ERROR",
            [f"lookup {name}: no such host"],
            (20, 90),
            err=f"dial tcp: lookup {name} on {scene.site.kube_dns}:53: no such host",
        )
        if ctx.hard or (crashed is None and rng.random() < 0.6):  # hard: every client crashes
            crashloop(scene, ps, later + rng.uniform(0, 60), "Error", rng, run_s=(5, 30))
            crashed = crashed or ps
    for ing in scene.ingress[:1]:
        ingress_trouble(scene, ing.workload, later, rng, errors=rng.uniform(0.1, 0.6), code="502")
    if crashed is not None and crashed.waiting:
        ksm = next(p for p in scene.site.pods if p.workload == "kube-state-metrics")
        alert = alerts.payload(
            scene,
            "KubePodCrashLooping",
            {
                "container": crashed.pod.container,
                "instance": f"{ksm.ip}:8080",
                "job": "kube-state-metrics",
                "namespace": crashed.pod.namespace,
                "pod": crashed.pod.name,
                "reason": "CrashLoopBackOff",
                "uid": crashed.pod.uid,
            },
            "",
            crashed.waiting[0][0],
        )
    elif scene.ingress:
        alert = alerts.payload(
            scene, "NGINXTooMany500s", {"namespace": "ingress-nginx"}, "", later + 30
        )
    else:
        alert = alerts.payload(
            scene, "KubeClientErrors", {"instance": "10.0.0.1:443", "job": "kubelet"}, "2.1%", later
        )
    return Outcome(
        scene.site.dns_service,
        f"An edit of the coredns ConfigMap ({edit}) is picked up by the reload plugin: in-cluster lookups now "
        f"answer NXDOMAIN ({nx:.0%} of answers), and applications fail with 'no such host'.",
        alert,
        tuple(herrings),
    )


FAULTS = (
    Fault("dns", "query_flood", query_flood, ("logs",), hard=True),
    Fault("dns", "upstream_failure", upstream_failure, hard=True),
    Fault("dns", "resolver_down", resolver_down),
    Fault("dns", "misconfiguration", misconfiguration, hard=True),
)
