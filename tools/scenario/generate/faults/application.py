"""Application faults: a bad config rolled out, a dependency that hangs, and a bad release."""

from __future__ import annotations

import random
from dataclasses import replace

from tools.scenario.generate import alerts
from tools.scenario.generate import formats as fmt
from tools.scenario.generate.faults import Ctx, Fault, Outcome
from tools.scenario.generate.faults.common import (
    app_lines,
    crashloop,
    ingress_trouble,
    labels_of,
    onset_in,
)
from tools.scenario.generate.scene import PodState, Scene, change
from tools.scenario.generate.site import k8s_suffix, pod_uid, rs_hash


def _rollout(
    scene: Scene, ps: PodState, at: float, rng: random.Random, *, keep_old: bool
) -> PodState:
    """A rollout of ``ps``'s Deployment at ``at``: generation +1 and a pod of the new ReplicaSet on
    the same node; the old pod goes once the new one is Ready unless ``keep_old`` (it never is)."""
    wl = scene.site.workload(ps.pod.workload)
    scene.generations[(wl.namespace, wl.name)].append(at)
    used = {p.pod.ip for p in scene.pods}
    node = scene.site.node(ps.pod.node)
    ip = next(
        f"{node.pod_net}.{x}"
        for x in rng.sample(range(2, 251), 249)
        if f"{node.pod_net}.{x}" not in used
    )
    pod = replace(
        ps.pod,
        name=f"{wl.name}-{rs_hash(rng)}-{k8s_suffix(rng, 5)}",
        ip=ip,
        uid=pod_uid(rng),
        image=ps.pod.image.rsplit(":", 1)[0] + ":" + _bump(ps.pod.image.rsplit(":", 1)[-1], rng),
    )
    new = PodState(
        pod=pod, mem=ps.mem, cpu=ps.cpu, throttle=ps.throttle, created=at + rng.uniform(0.5, 2)
    )
    new.waiting.append(
        (new.created or at, (new.created or at) + rng.uniform(3, 15), "ContainerCreating")
    )
    new.downs.append((new.created or at, (new.created or at) + rng.uniform(4, 16)))
    scene.pods.append(new)
    if not keep_old:
        ps.deleted = at + rng.uniform(20, 60)
    return new


def _bump(tag: str, rng: random.Random) -> str:
    parts = tag.lstrip("v").split(".")
    if len(parts) >= 3 and parts[2].split("-")[0].isdigit():
        parts[2] = str(int(parts[2].split("-")[0]) + rng.randint(1, 3))
        return ("v" if tag.startswith("v") else "") + ".".join(parts)
    return tag + "-1"


def _deployments(scene: Scene, exposed: bool) -> list[PodState]:
    wls = {
        w.name
        for w in (scene.site.exposed if exposed else scene.site.apps)
        if w.kind == "Deployment"
    }
    return [p for p in scene.pods if p.pod.workload in wls and p.created is None]


def _ksm(scene: Scene) -> str:
    return next(f"{p.ip}:8080" for p in scene.site.pods if p.workload == "kube-state-metrics")


def misconfiguration(scene: Scene, ctx: Ctx) -> Outcome:
    rng = ctx.rng
    ps = rng.choice(
        _deployments(scene, exposed=rng.random() < 0.7) or _deployments(scene, exposed=False)
    )
    wl = scene.site.workload(ps.pod.workload)
    onset = onset_in(scene, rng, need_after=960 if rng.random() < 0.6 else 300)
    recreate = (
        rng.random() < 0.4
    )  # strategy Recreate (or one replica behind a PVC): no old pod left
    new = _rollout(scene, ps, onset, rng, keep_old=not recreate)
    edited = onset - scene.rng("configmap-edit").uniform(5, 90)
    scene.configmap_edits.setdefault((wl.namespace, f"{wl.name}-config"), []).append(edited)
    if recreate:
        ps.deleted = onset + rng.uniform(1, 5)
    key = rng.choice(("database.url", "smtp.host", "auth.oidc.issuer", "storage.path"))
    errs = rng.choice(
        (
            [f'invalid configuration: missing required field "{key}"'],
            [
                f'config: unknown field "{key.split(".")[-1]}_adress" in section "{key.split(".")[0]}"'
            ],
            [
                f'invalid configuration: {key}: cannot parse "{rng.choice(("tru", "8O80", "https//"))}"'
            ],
        )
    )
    start = (new.created or onset) + 16
    crashes = crashloop(scene, new, start, "Error", rng, run_s=(1, 4))
    for c in crashes:
        scene.log(
            c - 0.4,
            labels_of(new.pod),
            fmt.app_json(c - 0.4, "INFO", "starting", version=new.pod.image.rsplit(":", 1)[-1]),
        )
        scene.log(
            c - 0.05,
            labels_of(new.pod),
            fmt.app_json(c - 0.05, "ERROR", errs[0], config=f"/etc/{wl.name}/config.yaml"),
        )
    herrings = ["compute"]
    if recreate and wl.host:
        ingress_trouble(
            scene, wl.name, onset + 3, rng, errors=rng.uniform(0.5, 1.0), code="503", ramp=5
        )
    if wl.host and rng.random() < 0.5 and recreate:
        alert = alerts.payload(
            scene, "NGINXTooMany500s", {"namespace": "ingress-nginx"}, "", onset + 20
        )
    else:
        waiting = min((a for a, _, r in new.waiting if r == "CrashLoopBackOff"), default=start)
        alert = alerts.payload(
            scene,
            "KubePodCrashLooping",
            {
                "container": new.pod.container,
                "instance": _ksm(scene),
                "job": "kube-state-metrics",
                "namespace": new.pod.namespace,
                "pod": new.pod.name,
                "reason": "CrashLoopBackOff",
                "uid": new.pod.uid,
            },
            "",
            waiting,
        )
    return Outcome(
        wl.name,
        f"{wl.name}'s ConfigMap was edited and the Deployment rolled out: the new pods refuse to start "
        f"({errs[0]})"
        + (
            " and, with the Recreate strategy, nothing serves."
            if recreate
            else "; the old pod keeps serving while the rollout is stuck."
        ),
        alert,
        tuple(herrings),
    )


def dependency_timeout(scene: Scene, ctx: Ctx) -> Outcome:
    rng = ctx.rng
    exposed = [
        p
        for p in scene.pods
        if p.pod.workload in {w.name for w in scene.site.exposed} and p.created is None
    ]
    ps = rng.choice(exposed)
    wl = scene.site.workload(ps.pod.workload)
    onset = onset_in(scene, rng, need_after=300)
    share = rng.uniform(0.05, 0.7)
    ingress_trouble(
        scene,
        wl.name,
        onset,
        rng,
        timeouts=share,
        latency=rng.uniform(0.8, 6.0),
        ramp=rng.uniform(20, 90),
    )
    dep = next(
        (n for n in wl.lookups if not n.count(".") or n.endswith("-db") or "postgres" in n),
        wl.lookups[0] if wl.lookups else "backend",
    )
    cause = rng.choice(
        (
            "a long-running migration holds a table lock",
            "its connection pool is exhausted by requests stuck on a slow query",
            f"{dep} stopped answering (a stuck replication slot)",
        )
    )
    app_lines(
        scene,
        ps,
        onset + 5,
        rng,
        "WARN",
        [
            f"query to {dep} timed out",
            "timeout waiting for connection from pool",
            "context deadline exceeded",
        ],
        (15, 60),
        dependency=dep,
        timeout_ms=rng.choice((5000, 10000, 30000)),
    )
    ps.cpu = change(ps.cpu, onset, ps.pod.cpu * 0.6, ramp=60)
    alert = alerts.payload(
        scene, "NGINXTooMany500s", {"namespace": "ingress-nginx"}, "", onset + 60
    )
    return Outcome(
        wl.name,
        f"{wl.name} waits on {dep} ({cause}): requests through the ingress time out after 60 s "
        "(upstream timed out, 504) while the network, DNS and nodes are fine.",
        alert,
        (),
    )


def bad_deploy(scene: Scene, ctx: Ctx) -> Outcome:
    rng = ctx.rng
    ps = rng.choice(_deployments(scene, exposed=True) or _deployments(scene, exposed=False))
    wl = scene.site.workload(ps.pod.workload)
    onset = onset_in(scene, rng, need_after=960 if rng.random() < 0.5 else 300)
    new = _rollout(scene, ps, onset, rng, keep_old=False)
    ready = (new.created or onset) + 16
    mode = rng.choice(("500s", "crash", "both")) if wl.host else "crash"
    if mode in ("500s", "both"):
        ingress_trouble(
            scene, wl.name, ready, rng, errors=rng.uniform(0.06, 0.8), code="500", ramp=30
        )
        app_lines(
            scene,
            new,
            ready + 2,
            rng,
            "ERROR",
            [
                "unhandled exception in request handler",
                "TypeError: Cannot read properties of undefined (reading 'id')",
            ],
            (10, 45),
            path="/api/v1/items",
        )
    if mode in ("crash", "both"):
        crashes = crashloop(scene, new, ready + rng.uniform(20, 240), "Error", rng, run_s=(30, 180))
        for c in crashes:
            scene.log(c - 0.02, labels_of(new.pod), "fatal error: concurrent map writes")
            scene.log(c - 0.01, labels_of(new.pod), "goroutine 412 [running]:")
        if wl.host:
            ingress_trouble(
                scene,
                wl.name,
                crashes[0] if crashes else ready,
                rng,
                errors=rng.uniform(0.05, 0.3),
                code="502",
            )
    crashing = any(r == "CrashLoopBackOff" for _, _, r in new.waiting)
    if not crashing or (mode != "crash" and rng.random() < 0.7):
        alert = (
            alerts.payload(
                scene, "NGINXTooMany500s", {"namespace": "ingress-nginx"}, "", ready + 30
            )
            if wl.host
            else alerts.payload(
                scene,
                "KubePodNotReady",
                {"namespace": wl.namespace, "pod": new.pod.name},
                "",
                ready,
            )
        )
    else:
        first = min(a for a, _, r in new.waiting if r == "CrashLoopBackOff")
        alert = alerts.payload(
            scene,
            "KubePodCrashLooping",
            {
                "container": new.pod.container,
                "instance": _ksm(scene),
                "job": "kube-state-metrics",
                "namespace": new.pod.namespace,
                "pod": new.pod.name,
                "reason": "CrashLoopBackOff",
                "uid": new.pod.uid,
            },
            "",
            first,
        )
    return Outcome(
        wl.name,
        f"{wl.name} {new.pod.image.rsplit(':', 1)[-1]} was rolled out and is broken: "
        + {
            "500s": "a code path dereferences a missing field and answers 500.",
            "crash": "it crashes under load (concurrent map writes).",
            "both": "it answers 500 on one endpoint and crashes under load.",
        }[mode],
        alert,
        ("compute",) if mode != "500s" else (),
    )


FAULTS = (
    Fault("application", "misconfiguration", misconfiguration, ("logs",)),
    Fault("application", "dependency_timeout", dependency_timeout),
    Fault("application", "bad_deploy", bad_deploy),
)
