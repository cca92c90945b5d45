"""Storage faults: a filling disk, exhausted inodes, a slow disk under etcd, a provisioner
that cannot create volumes and a disk throwing I/O errors, with the evictions, etcd
complaints and crashing applications they cause."""

from __future__ import annotations

from tools.scenario.generate import alerts
from tools.scenario.generate import formats as fmt
from tools.scenario.generate.faults import Ctx, Fault, Outcome
from tools.scenario.generate.faults.common import (
    apiserver_slow,
    app_lines,
    app_pods,
    crashloop,
    etcd_struggles,
    evict,
    kernel,
    labels_of,
    onset_in,
)
from tools.scenario.generate.scene import Pvc, Scene, change
from tools.scenario.generate.site import Node, pod_uid


def _later(ctx: Ctx) -> float:
    return ctx.rng.uniform(150, 300) if ctx.hard else ctx.rng.uniform(30, 110)


def _nx(node: str) -> dict[str, str]:
    return {
        "container": "node-exporter",
        "endpoint": "https",
        "instance": f"{node}:9100",
        "job": "node-exporter",
        "namespace": "monitoring",
        "service": "node-exporter",
    }


def _nodes_with_apps(scene: Scene) -> list[Node]:
    """Nodes where an application pod runs (all nodes when none does)."""
    busy = {
        p.pod.node for p in scene.pods if p.pod.namespace != "kube-system" and p.evicted is None
    }
    return [n for n in scene.site.nodes if n.name in busy] or list(scene.site.nodes)


def _fill(scene: Scene, ctx: Ctx, attr: str) -> tuple[str, float, float]:
    """A node's free fraction (``fs_free`` or ``inodes_free``) falls through 10 % mid-window.

    Returns (node, when it crossed 10 %, the lowest free fraction)."""
    rng = ctx.rng
    node = rng.choice(_nodes_with_apps(scene))
    ns = scene.nodes[node.name]
    cross = onset_in(scene, rng, need_after=300, lo=0.4, hi=0.65)
    low = rng.uniform(0.003, 0.09)
    before = rng.uniform(0.13, 0.3)  # at the window start: already filling for hours
    rate = (before - 0.1) / (cross - scene.start)
    after = (0.1 - low) / max(scene.end - cross, 1)

    def free(t: float) -> float:
        if t < cross:
            return before - rate * (t - scene.start)
        return max(low, 0.1 - after * (t - cross))

    setattr(ns, attr, free)
    return node.name, cross, low


def disk_full(scene: Scene, ctx: Ctx) -> Outcome:
    rng = ctx.rng
    name, cross, low = _fill(scene, ctx, "fs_free")
    node = scene.site.node(name)
    ns = scene.nodes[name]
    writer = rng.choice(
        [p for p in scene.pods_on(name) if p.pod.namespace != "kube-system"] or scene.pods_on(name)
    )
    what = rng.choice(
        (
            f"{writer.pod.workload} writing debug logs to an emptyDir",
            "a nightly backup written to /var/backups",
            "container images piling up after upgrades",
            f"{writer.pod.workload}'s upload cache on a hostPath volume",
        )
    )
    # the kubelet's hard eviction threshold (nodefs.available < 10%) was crossed at ``cross``
    pressure = cross + rng.uniform(10, 40)
    herrings = ["compute"]
    later = pressure + (_later(ctx) - 30 if ctx.hard else 0)
    victims = [p for p in scene.pods_on(name) if p.pod.workload not in ("etcd", "kube-apiserver")]
    rng.shuffle(victims)
    evict(
        scene,
        node,
        victims[: rng.randint(1, 3 if not ctx.hard else 6)],
        later,
        "ephemeral-storage",
        rng,
    )
    if low < 0.05:
        for ps in [writer, *victims[:1]]:
            t = cross + rng.uniform(60, 200)
            while t < scene.end:
                scene.log(
                    t,
                    labels_of(ps.pod),
                    fmt.app_json(
                        t,
                        "ERROR",
                        "write failed",
                        err=f"write /data/{rng.choice(('cache', 'tmp', 'log'))}/"
                        f"{rng.randint(1000, 9999)}.tmp: no space left on device",
                    ),
                )
                t += rng.uniform(20, 120)
    labels = {**_nx(name), "device": node.fs_dev, "fstype": "ext4", "mountpoint": "/"}
    if rng.random() < 0.6:
        alert = alerts.payload(
            scene,
            "NodeFilesystemSpaceFillingUp",
            labels,
            f"{ns.fs_free(scene.at(0.5)) * 100:.4g}",
            scene.start - 3600 + rng.uniform(120, 900),
        )
    else:
        alert = alerts.payload(
            scene,
            "KubeNodePressure",
            {
                "node": name,
                "condition": "DiskPressure",
                "status": "true",
                "job": "kube-state-metrics",
            },
            "1",
            pressure,
        )
    return Outcome(
        name,
        f"{name}'s root filesystem fills up ({what}) and drops to {low:.1%} free; below 10% the kubelet reports "
        "DiskPressure and evicts pods to reclaim ephemeral storage.",
        alert,
        tuple(herrings),
    )


def inode_exhaustion(scene: Scene, ctx: Ctx) -> Outcome:
    rng = ctx.rng
    name, cross, low = _fill(scene, ctx, "inodes_free")
    node = scene.site.node(name)
    culprit = rng.choice(
        [p for p in scene.pods_on(name) if p.pod.namespace != "kube-system"] or scene.pods_on(name)
    )
    what = rng.choice(
        (
            "PHP session files",
            "thumbnail cache files",
            "small chunk files of a sync job",
            "mail queue files",
        )
    )
    herrings: list[str] = []
    if rng.random() < 0.6:
        t = cross + rng.uniform(60, 180) + (_later(ctx) if ctx.hard else 0)
        victims = [culprit, *[p for p in scene.pods_on(name) if p is not culprit][:1]]
        while t < scene.end:
            ps = rng.choice(victims)
            scene.log(
                t,
                labels_of(ps.pod),
                fmt.app_json(
                    t,
                    "ERROR",
                    "cannot create file",
                    err=f"open /var/lib/{ps.pod.workload}/tmp/{rng.randint(10**6, 10**7)}"
                    ": no space left on device",
                ),
            )
            t += rng.uniform(10, 90)
        if ctx.hard:
            crashloop(scene, victims[-1], cross + _later(ctx), "Error", rng, run_s=(3, 20))
            herrings.append("compute")
    labels = {**_nx(name), "device": node.fs_dev, "fstype": "ext4", "mountpoint": "/"}
    alert = alerts.payload(
        scene,
        "NodeFilesystemFilesFillingUp",
        labels,
        f"{scene.nodes[name].inodes_free(scene.at(0.5)) * 100:.4g}",
        scene.start - 3600 + rng.uniform(120, 900),
    )
    return Outcome(
        name,
        f"{culprit.pod.workload} on {name} creates millions of {what}: the root filesystem runs out of inodes "
        f"({low:.1%} free) while plenty of bytes are left, and file creation fails with ENOSPC.",
        alert,
        tuple(herrings),
    )


def slow_disk(scene: Scene, ctx: Ctx) -> Outcome:
    rng = ctx.rng
    node = scene.site.control_plane
    ns = scene.nodes[node.name]
    onset = onset_in(scene, rng, need_after=700)
    busy = rng.uniform(0.92, 1.0)
    ns.disk_busy = change(ns.disk_busy, onset, busy, ramp=rng.uniform(20, 60))
    fsync = rng.uniform(0.15, 1.2)  # median: p99 ≈ 3.6× that
    etcd_struggles(scene, onset, rng, fsync=fsync, ramp=60, lines="fsync")
    why = rng.choice(
        (
            "a backup job reading the whole disk",
            "the SSD's firmware doing garbage collection at its wear limit",
            "an SMR disk rewriting zones",
            "a degraded RAID1 rebuilding",
        )
    )
    later = onset + _later(ctx)
    loud = 3.0 if ctx.hard else 1.0
    etcd_struggles(
        scene,
        later,
        rng,
        commit=min(2.0, fsync * rng.uniform(0.6, 1.2) * loud),
        ramp=90,
        lines="apply",
    )
    apiserver_slow(scene, later + 30, rng.uniform(4, 20) * loud, rng, errors=0.01 * loud, etcd=True)
    alert = rng.choice(
        (
            lambda: alerts.payload(
                scene,
                "etcdHighFsyncDurations",
                {"instance": f"{node.ip}:2381", "job": "etcd"},
                f"{fsync * 3.6:.4g}",
                onset + 300,
            ),
            lambda: alerts.payload(
                scene,
                "etcdHighCommitDurations",
                {"instance": f"{node.ip}:2381", "job": "etcd"},
                f"{fsync * 3:.4g}",
                later + 300,
            ),
            lambda: alerts.payload(
                scene, "KubeAPIErrorBudgetBurn", {}, "", later + 120, group_by=("alertname",)
            ),
        )
    )()
    return Outcome(
        node.name,
        f"The disk of {node.name} (etcd's data dir) is saturated by {why}: I/O time ~{busy:.0%}, etcd's WAL fsync "
        "slows to hundreds of milliseconds, and etcd and the apiserver slow down behind it.",
        alert,
        ("control-plane",),
    )


def provisioner_failure(scene: Scene, ctx: Ctx) -> Outcome:
    rng = ctx.rng
    onset = onset_in(scene, rng, need_after=1000)
    wl = rng.choice(scene.site.apps)
    claim = (
        f"data-{wl.name}-{rng.randint(1, 2)}" if wl.kind == "StatefulSet" else f"{wl.name}-media"
    )
    uid = pod_uid(rng)
    scene.pvcs.append(Pvc(wl.namespace, claim, [(onset, "Pending")]))
    prov = next(p for p in scene.pods if p.pod.workload == "local-path-provisioner")
    node = rng.choice(scene.site.nodes)
    why = rng.choice(("helper", "perm"))
    labels = labels_of(prov.pod)
    t = onset + rng.uniform(0.5, 3)
    k = 0
    while t < scene.end:
        scene.log(
            t,
            labels,
            fmt.klog(
                t,
                "I",
                1,
                "controller.go:1337",
                f'provision "{wl.namespace}/{claim}" class "local-path": started',
                rng.randint(0, 999),
            ),
        )
        scene.log(
            t + 0.01,
            labels,
            f'time="{fmt.nginx_time(t).replace("/", "-").replace(" ", "T")}Z" level=info '
            f'msg="Creating volume pvc-{uid} at {node.name}:/opt/local-path-provisioner/pvc-{uid}_{wl.namespace}_'
            f'{claim}"',
        )
        wait = 120 if why == "helper" else rng.uniform(1, 3)
        fail = t + wait
        err = (
            f"failed to create volume pvc-{uid}: create process timeout after 120 seconds"
            if why == "helper"
            else f"failed to create volume pvc-{uid}: mkdir: can't create directory '/opt/local-path-provisioner/"
            f"pvc-{uid}_{wl.namespace}_{claim}': Permission denied"
        )
        scene.log(
            fail,
            labels,
            fmt.klog(
                fail,
                "W",
                1,
                "controller.go:893",
                f'Retrying syncing claim "{uid}" because failures {k} < threshold 15',
                rng.randint(0, 999),
            ),
        )
        scene.log(
            fail + 0.001,
            labels,
            fmt.klog(
                fail + 0.001,
                "E",
                1,
                "controller.go:913",
                f'error syncing claim "{uid}": failed to provision volume with StorageClass "local-path": {err}',
                rng.randint(0, 999),
            ),
        )
        scene.log(
            fail + 0.002,
            labels,
            fmt.klog(
                fail + 0.002,
                "I",
                1,
                "event.go:389",
                f'Event(v1.ObjectReference{{Kind:"PersistentVolumeClaim", Namespace:"{wl.namespace}", Name:"{claim}", '
                f'UID:"{uid}", APIVersion:"v1", ResourceVersion:"{rng.randint(10**5, 10**7)}", FieldPath:""}}): type: '
                f"'Warning' reason: 'ProvisioningFailed' failed to provision volume with StorageClass \"local-path\": "
                f"{err[:80]}",
                rng.randint(0, 999),
            ),
        )
        t = fail + min(300, 5 * 2**k) + rng.uniform(0, 3)
        k += 1
    pod = (
        f"{wl.name}-{rng.randint(1, 2)}" if wl.kind == "StatefulSet" else f"{wl.name}-media-import"
    )
    alert = alerts.payload(
        scene, "KubePodNotReady", {"namespace": wl.namespace, "pod": pod}, "", onset + 5
    )
    return Outcome(
        "local-path-provisioner",
        f"local-path-provisioner cannot create the volume for {wl.namespace}/{claim} on {node.name} ("
        + (
            "its helper pod never starts: the helper image cannot be pulled"
            if why == "helper"
            else "the node's storage directory is not writable"
        )
        + "); the claim stays Pending and so does its pod.",
        alert,
        (),
    )


def io_errors(scene: Scene, ctx: Ctx) -> Outcome:
    rng = ctx.rng
    node = rng.choice(scene.site.nodes)
    onset = onset_in(scene, rng, need_after=960)
    disk, part = node.disk, node.fs_dev.rsplit("/", 1)[-1]
    t = onset
    n = 0
    ro_at = onset + rng.uniform(120, 600) if rng.random() < 0.6 else None
    remounted = False
    while t < scene.end:
        sector = rng.randint(10**6, 4 * 10**8)
        if disk.startswith("nvme"):
            kernel(
                scene,
                node,
                t,
                f"nvme0n1: I/O Cmd(0x{rng.choice((1, 2))}) @ LBA {sector}, {rng.choice((8, 16, 256))} "
                "blocks, I/O Error (sct 0x2 / sc 0x81) DNR ",
                rng,
            )
            kernel(
                scene,
                node,
                t + 0.0002,
                f"critical medium error, dev {disk}, sector {sector} op 0x0:(READ) "
                "flags 0x80700 phys_seg 1 prio class 2",
                rng,
            )
        else:
            kernel(
                scene,
                node,
                t,
                f"blk_update_request: I/O error, dev {disk}, sector {sector} op "
                "0x1:(WRITE) flags 0x800 phys_seg 1 prio class 0",
                rng,
            )
            kernel(
                scene,
                node,
                t + 0.0003,
                f"Buffer I/O error on dev {part}, logical block {sector // 8}, lost async "
                "page write",
                rng,
            )
        if rng.random() < 0.3:
            kernel(
                scene,
                node,
                t + 0.001,
                f"EXT4-fs error (device {part}): ext4_find_entry:1455: inode "
                f"#{rng.randint(2, 9 * 10**6)}: comm kubelet: reading directory lblock 0",
                rng,
            )
        n += 1
        if ro_at is not None and t >= ro_at:
            kernel(scene, node, t + 0.01, f"EXT4-fs ({part}): Remounting filesystem read-only", rng)
            remounted = True
            ns = scene.nodes[node.name]
            ns.disk_busy = change(ns.disk_busy, t, 0.02)
            break
        t += rng.uniform(15, 120)
    scene.nodes[node.name].disk_busy = change(
        scene.nodes[node.name].disk_busy, onset, 0.45, ramp=30
    )
    later = onset + _later(ctx) + (120 if ctx.hard else 0)
    herrings: list[str] = []
    victims = [p for p in app_pods(scene) if p.pod.node == node.name][:2]
    for ps in victims:
        crashes = crashloop(scene, ps, later + rng.uniform(0, 60), "Error", rng, run_s=(2, 15))
        for c in crashes:
            scene.log(
                c - 0.1,
                labels_of(ps.pod),
                fmt.app_json(
                    c - 0.1,
                    "FATAL",
                    "cannot open database",
                    err=f"open /var/lib/{ps.pod.workload}/data.db: read-only file system",
                ),
            )
        herrings.append("compute")
    if victims and victims[0].waiting:
        alert = alerts.payload(
            scene,
            "KubePodCrashLooping",
            {
                "container": victims[0].pod.container,
                "namespace": victims[0].pod.namespace,
                "pod": victims[0].pod.name,
                "reason": "CrashLoopBackOff",
                "job": "kube-state-metrics",
            },
            "",
            victims[0].waiting[0][0],
        )
    else:
        alert = alerts.payload(
            scene,
            "TargetDown",
            {"job": "node-exporter", "namespace": "monitoring", "service": "node-exporter"},
            "0.0",
            onset,
        )
    if victims:
        app_lines(
            scene,
            victims[0],
            onset + 30,
            rng,
            "ERROR",
            ["input/output error reading cache"],
            (60, 200),
        )
    return Outcome(
        node.name,
        f"{node.name}'s disk ({disk}) is failing: the kernel logs I/O errors on reads and writes"
        + (" and remounts the root filesystem read-only" if remounted else "")
        + "; pods on the node that write to disk crash.",
        alert,
        tuple(dict.fromkeys(herrings)),
    )


FAULTS = (
    Fault("storage", "disk_full", disk_full, hard=True),
    Fault("storage", "inode_exhaustion", inode_exhaustion, hard=True),
    Fault("storage", "slow_disk", slow_disk, hard=True),
    Fault("storage", "provisioner_failure", provisioner_failure, ("logs",)),
    Fault("storage", "io_errors", io_errors, ("logs",), hard=True),
)
