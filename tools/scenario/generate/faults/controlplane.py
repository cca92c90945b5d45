"""Control-plane faults: an expired kubeadm certificate, an apiserver hammered by a client,
and an etcd that cannot keep up although its disk is fine."""

from __future__ import annotations

from datetime import UTC, datetime

from tools.scenario.generate import alerts
from tools.scenario.generate import formats as fmt
from tools.scenario.generate.faults import Ctx, Fault, Outcome
from tools.scenario.generate.faults.common import (
    apiserver_slow,
    crashloop,
    etcd_struggles,
    kubelet,
    onset_in,
)
from tools.scenario.generate.scene import Scene, change


def _later(ctx: Ctx) -> float:
    return ctx.rng.uniform(150, 300) if ctx.hard else ctx.rng.uniform(30, 110)


def _iso(ts: float) -> str:
    return datetime.fromtimestamp(int(ts), tz=UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def cert_expired(scene: Scene, ctx: Ctx) -> Outcome:
    rng = ctx.rng
    onset = onset_in(scene, rng, need_after=700)
    cn = rng.choice(("kube-apiserver", "kube-apiserver-etcd-client"))
    cert = next(c for c in scene.certs if c.cn == cn)
    cert.not_after = onset
    cp = scene.site.control_plane
    api_labels = {
        "namespace": "kube-system",
        "pod": f"kube-apiserver-{cp.name}",
        "app": "kube-apiserver",
        "host": cp.name,
        "container": "kube-apiserver",
    }
    etcd_labels = {
        "namespace": "kube-system",
        "pod": f"etcd-{cp.name}",
        "app": "etcd",
        "host": cp.name,
        "container": "etcd",
    }

    def expired(t: float) -> str:
        return (
            f"x509: certificate has expired or is not yet valid: current time {_iso(t)} is after "
            f"{_iso(onset)}"
        )

    if cn == "kube-apiserver":
        scene.api.unscraped.append((onset + rng.uniform(1, 30), scene.end + 1))
        for node in scene.site.nodes:
            t = onset + rng.uniform(2, 15)
            while t < scene.end:
                kubelet(
                    scene,
                    node,
                    t,
                    "E",
                    "kubelet_node_status.go:549",
                    f'"Error updating node status, will retry" err="error getting node \\"{node.name}\\": Get '
                    f'\\"https://{cp.ip}:6443/api/v1/nodes/{node.name}?resourceVersion=0&timeout=10s\\": tls: '
                    f'failed to verify certificate: {expired(t)}"',
                    rng,
                )
                t += rng.uniform(10, 60)
        t = onset + rng.uniform(1, 5)
        while t < scene.end:
            src = rng.choice([n.ip for n in scene.site.nodes])
            scene.log(
                t,
                api_labels,
                fmt.klog(
                    t,
                    "I",
                    1,
                    "log.go:245",
                    f"http: TLS handshake error from {src}:{rng.randint(32768, 60999)}: "
                    "remote error: tls: bad certificate",
                    rng.randint(0, 999),
                ),
            )
            t += rng.uniform(2, 20)
        # nodes cannot renew their leases: the node controller would mark them NotReady, but
        # kube-state-metrics cannot list them either, so it keeps reporting the last state
        alert = alerts.payload(
            scene,
            "TargetDown",
            {"job": "apiserver", "namespace": "default", "service": "kubernetes"},
            "100",
            onset + 30,
            group_by=("alertname", "job"),
        )
    else:
        t = onset + rng.uniform(1, 10)
        while t < scene.end:
            scene.log(
                t,
                etcd_labels,
                fmt.zap(
                    t,
                    "warn",
                    "embed/config_logging.go:170",
                    "rejected connection on client endpoint",
                    **{
                        "remote-addr": f"{cp.ip}:{rng.randint(32768, 60999)}",
                        "server-name": "",
                        "error": f"tls: failed to verify certificate: {expired(t)}",
                    },
                ),
            )
            scene.log(
                t + 0.2,
                api_labels,
                fmt.klog(
                    t + 0.2,
                    "W",
                    1,
                    "logging.go:55",
                    f"[core] [Channel #{rng.randint(1, 9)} SubChannel #{rng.randint(2, 20)}]grpc: addrConn.createTransport "
                    f'failed to connect to {{Addr: "127.0.0.1:2379", ServerName: "127.0.0.1:2379", }}. Err: connection '
                    f'error: desc = "transport: authentication handshake failed: remote error: tls: bad certificate"',
                    rng.randint(0, 999),
                ),
            )
            t += rng.uniform(3, 25)
        apiserver_slow(
            scene,
            onset + rng.uniform(5, 30),
            rng.uniform(20, 80),
            rng,
            errors=rng.uniform(0.3, 0.9),
            code="500",
            ramp=30,
            etcd=False,
        )
        alert = alerts.payload(
            scene, "KubeAPIErrorBudgetBurn", {}, "", onset + 60, group_by=("alertname",)
        )
    return Outcome(
        cn,
        f"The kubeadm certificate with CN {cn} expired at {_iso(onset)} (nobody ran 'kubeadm certs renew'); "
        + (
            "clients refuse the apiserver's serving certificate."
            if cn == "kube-apiserver"
            else "etcd rejects the apiserver's client certificate and every request that needs etcd fails."
        ),
        alert,
        (),
    )


def apiserver_overload(scene: Scene, ctx: Ctx) -> Outcome:
    rng = ctx.rng
    onset = onset_in(scene, rng, need_after=600)
    base = sum(scene.api.base.values())
    factor = rng.uniform(3.3, 30)
    resource = rng.choice(("pods", "secrets", "configmaps", "events"))
    extra = base * (factor - 1)
    ramp = rng.uniform(10, 90)
    scene.api.surge.append(
        ("LIST", resource, lambda t: 0.0 if t < onset else extra * min(1.0, (t - onset) / ramp))
    )
    slow = rng.uniform(8, 60)
    apiserver_slow(
        scene, onset, slow, rng, errors=rng.uniform(0.01, 0.12), code="504", ramp=ramp + 30
    )
    scene.api.throttled = change(scene.api.throttled, onset + 30, rng.uniform(0.02, 0.3), ramp=60)
    for es in scene.etcd:
        es.commit = change(es.commit, onset, rng.uniform(1.5, 3), ramp=ramp, how="mul")
    who = rng.choice(
        (
            "an operator stuck in a reconcile loop",
            "a backup tool listing every object each second",
            "a CronJob's script polling without a watch",
            "a dashboard refreshing every pod list",
        )
    )
    alert = rng.choice(
        (
            lambda: alerts.payload(
                scene, "KubeAPIErrorBudgetBurn", {}, "", onset + 60, group_by=("alertname",)
            ),
            lambda: alerts.payload(
                scene,
                "KubeClientErrors",
                {
                    "instance": f"{scene.site.control_plane.ip}:10250",
                    "job": "kubelet",
                    "namespace": "kube-system",
                },
                f"{rng.uniform(1.1, 9):.3g}%",
                onset + 90,
            ),
        )
    )()
    return Outcome(
        "kube-apiserver",
        f"{who} sends LIST {resource} requests without a resourceVersion: the apiserver's request rate "
        f"×{factor:.0f}, latency up ×{slow:.0f}, priority-and-fairness answers 429 and some requests time out.",
        alert,
        (),
    )


def etcd_unhealthy(scene: Scene, ctx: Ctx) -> Outcome:
    rng = ctx.rng
    onset = onset_in(scene, rng, need_after=700)
    es = scene.etcd[0]
    commit = rng.uniform(0.09, 0.8)  # median; p99 ≈ 4× that
    etcd_struggles(scene, onset, rng, commit=commit, ramp=rng.uniform(30, 120), lines="apply")
    labels = {
        "namespace": "kube-system",
        "pod": f"etcd-{es.node.name}",
        "app": "etcd",
        "host": es.node.name,
        "container": "etcd",
    }
    why = rng.choice(("bloat", "restarts"))
    if why == "restarts":
        ps = next(p for p in scene.pods if p.pod.workload == "etcd")
        crashes = crashloop(scene, ps, onset + rng.uniform(120, 300), "Error", rng, run_s=(60, 200))
        for c in crashes[:4]:
            es.leader_changes.append(c + rng.uniform(12, 20))
            es.has_leader = change(es.has_leader, c, 0.0, until=c + rng.uniform(20, 70))
            scene.log(
                c + 14,
                labels,
                fmt.zap(
                    c + 14,
                    "info",
                    "etcdserver/zap_raft.go:77",
                    f"raft.node: {rng.getrandbits(64):016x} elected leader at term "
                    f"{rng.randint(5, 400)}",
                    logger="raft",
                ),
            )
        story = (
            "its liveness probe fails while it compacts a bloated database, the kubelet restarts it and it "
            "re-elects itself each time"
        )
    else:
        size = rng.uniform(2.1, 7.8)
        for k in range(3):
            t = onset + k * rng.uniform(60, 200)
            scene.log(
                t,
                labels,
                fmt.zap(
                    t,
                    "warn",
                    "etcdserver/server.go:1159",
                    "etcd database size is close to the quota",
                    **{"current-db-size": f"{size:.1f} GB", "quota-size": "8.0 GB"},
                ),
            )
        story = f"its database has grown to {size:.1f} GB (a controller creating events without cleanup)"
    api_at = onset + _later(ctx)
    apiserver_slow(
        scene,
        api_at,
        rng.uniform(4, 25) * (2 if ctx.hard else 1),
        rng,
        errors=rng.uniform(0.01, 0.08),
        code="504",
        etcd=True,
    )
    api_labels = {
        "namespace": "kube-system",
        "pod": f"kube-apiserver-{es.node.name}",
        "app": "kube-apiserver",
        "host": es.node.name,
        "container": "kube-apiserver",
    }
    t = api_at
    while t < scene.end and why == "restarts":
        scene.log(
            t,
            api_labels,
            fmt.klog(
                t,
                "E",
                1,
                "status.go:71",
                '"Unhandled Error" err="apiserver received an '
                "error that is not an metav1.Status: rpctypes.EtcdError{code:0xe, desc:"
                '\\"etcdserver: leader changed\\"}: etcdserver: leader changed"',
                rng.randint(0, 999),
            ),
        )
        t += rng.uniform(30, 120)
    alert = rng.choice(
        (
            lambda: alerts.payload(
                scene,
                "etcdHighCommitDurations",
                {"instance": f"{es.node.ip}:2381", "job": "etcd"},
                f"{commit * 4:.4g}",
                onset + 300,
            ),
            lambda: alerts.payload(
                scene, "KubeAPIErrorBudgetBurn", {}, "", api_at + 120, group_by=("alertname",)
            ),
        )
    )()
    return Outcome(
        "etcd",
        f"etcd on {es.node.name} struggles: {story}. Backend commits take hundreds of milliseconds although the "
        "disk is idle, and the apiserver's requests to etcd slow down or time out.",
        alert,
        (),
    )


FAULTS = (
    Fault("control-plane", "cert_expired", cert_expired),
    Fault("control-plane", "apiserver_overload", apiserver_overload),
    Fault("control-plane", "etcd_unhealthy", etcd_unhealthy, hard=True),
)
