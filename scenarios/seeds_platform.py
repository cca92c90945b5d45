#!/usr/bin/env python3
"""Five more seed incidents on build_seed's homelab site: ingress, etcd, certificates, the
apiserver and volume provisioning.

    .venv/bin/python scenarios/build_seed.py            # builds these with the others
    .venv/bin/python scenarios/build_seed.py --check    # byte-for-byte reproducibility

06 Immich's photo library hangs on a stalled NFS export, and ingress-nginx times out on
it; 07 the control-plane node's NVMe turns slow and etcd's fsyncs take seconds; 09 the
kubeadm certificates reach their first birthday; 11 a new version of a home-grown operator
lists every pod in a hot loop; 12 a namespace hardened with Pod Security "baseline" keeps
local-path-provisioner from creating its helper pods, and new claims stay Pending.

Each reuses build_seed's site, helpers and writers (nothing is copied from it) and is
recorded like every other seed: the platform services (apiserver, etcd, ingress-nginx,
x509-certificate-exporter, volume claims) come from build_seed's shared model, which a
builder only parameterises. Logs are samples, as in build_seed: every line that a detector
counts is a real-format line, but floods (etcd warnings, apiserver traces, leader-election
retries) are kept at a stated share. Only ``scenario.yaml``'s ``ground_truth`` says what
happened; titles and tags describe the alert.
"""

from __future__ import annotations

import functools
import json
import math
from collections.abc import Callable, Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import build_seed as bs
from build_seed import NODE, NODES, Build, MiB, NodeLoad, Pod, w

Profile = bs.Profile


# =========================================================================== shared


def baseline(
    b: Build,
    uids: dict[str, str],
    dns: Sequence[Pod],
    *,
    loads: dict[str, NodeLoad] | None = None,
    dns_q: float = 44.0,
    fsync: Profile | None = None,
    fsync_rate: Profile | None = None,
) -> list[w.HistogramPoint]:
    """Everything that just runs through the window: CoreDNS, the background workloads,
    node conditions, node exporters, etcd's WAL, a quiet sw1 and the kubelets' chatter."""
    for p in dns:
        bs.cadvisor(b, p, mem=w.constant(p.mem * 0.82))
        bs.ksm_pod(b, p, uids[p.name], priority="system-cluster-critical")
    dpods = [bs.DnsPod(p, uids[p.name]) for p in dns]
    bs.coredns(b, dpods, bs.DnsLoad(background=w.constant(dns_q)), log_share=2.4e-3)
    bs.background_workloads(b, uids)
    bs.ksm_nodes(b)
    for node in NODES:
        bs.node_exporter(b, node, (loads or {}).get(node.name, NodeLoad()))
    fsync_pts = bs.etcd_fsync(b, fsync, rate=fsync_rate)
    bs.quiet_switch(b)
    bs.kube_noise(b)
    return fsync_pts


def meta(b: Build, title: str, pods: Sequence[Pod], truth: dict[str, Any]) -> dict[str, Any]:
    """scenario.yaml: the window ends at the diagnosis clock."""
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


def webhook(entries: Sequence[dict[str, Any]], group: dict[str, str]) -> dict[str, Any]:
    """The notification, its alerts in Alertmanager's order (AlertSlice: by job, instance,
    then LabelSet.Before: fewer labels first, then label by label)."""

    def before(a: dict[str, str], z: dict[str, str]) -> bool:
        if len(a) != len(z):
            return len(a) < len(z)
        for name in sorted({*a, *z}):
            if name not in a or name not in z:
                return name not in a
            if a[name] != z[name]:
                return a[name] < z[name]
        return False

    def compare(x: dict[str, Any], y: dict[str, Any]) -> int:
        a, z = x["labels"], y["labels"]
        for k in ("job", "instance"):
            if (k in a) != (k in z):
                return -1 if k in a else 1
            if a.get(k) != z.get(k):
                return -1 if a[k] < z[k] else 1
        return -1 if before(a, z) else (1 if before(z, a) else 0)

    ordered = sorted(entries, key=functools.cmp_to_key(compare))
    return w.webhook_payload(ordered, receiver="strata", group_labels=group, external_url=bs.AM_URL)


def labels_of(app: str, pod: str, node: str, namespace: str, container: str) -> dict[str, str]:
    return {
        "namespace": namespace,
        "pod": pod,
        "app": app,
        "host": node,
        "container": container,
    }


def zap(ts: float, rng: Any, level: str, caller: str, msg: str, **kv: Any) -> str:
    """An etcd (zap JSON) log line."""
    head = {"level": level, "ts": bs.zap_time(ts, rng), "caller": caller, "msg": msg}
    return json.dumps({**head, **kv}, separators=(",", ":"))


def go_seconds(s: float) -> str:
    """A Go ``time.Duration`` as etcd prints it: ``1.307701648s`` / ``412.204557ms``."""
    return f"{s:.9f}s" if s >= 1 else f"{s * 1000:.6f}ms"


def sampled(rng: Any, expected: float) -> int:
    """A Poisson-ish count with mean ``expected`` (normal approximation, as build_seed)."""
    return max(0, round(expected + rng.gauss(0, math.sqrt(max(expected, 0.01)))))


def increase(points: Sequence[w.Point], ts: float, window: float = 300.0) -> float:
    """What ``increase(x[window])`` sees at ``ts``, before extrapolation (which cancels in
    ratios of series scraped together)."""
    inside = [v for t, v in points if ts - window < t <= ts]
    return inside[-1] - inside[0] if len(inside) >= 2 else 0.0


def hist_quantile(
    q: float, points: Sequence[w.HistogramPoint], bounds: Sequence[float], ts: float
) -> float:
    """``histogram_quantile(q, rate(h[5m]))`` at ``ts``, as Prometheus interpolates it."""
    inside = [p for p in points if ts - 300 < p.ts <= ts]
    if len(inside) < 2:
        return math.nan
    a, z = inside[0], inside[-1]
    cum = [y - x for x, y in zip(a.buckets, z.buckets, strict=True)] + [z.count - a.count]
    if cum[-1] <= 0:
        return math.nan
    rank = q * cum[-1]
    edges = [*bounds, math.inf]
    for i, c in enumerate(cum):
        if c >= rank:
            if edges[i] == math.inf:
                return float(bounds[-1])
            lo = 0.0 if i == 0 else float(bounds[i - 1])
            below = 0.0 if i == 0 else cum[i - 1]
            return lo + (edges[i] - lo) * (rank - below) / max(c - below, 1e-12)
    return float(bounds[-1])


def go_float(x: float) -> str:
    """A float as Prometheus' ``{{ $value }}`` prints it (Go's shortest repr)."""
    return repr(float(x))


# =========================================================================== 06

NAS = "10.0.0.20"


def build_06(out: Path) -> None:
    day = "2025-01-18"
    b = Build(
        "06_ingress_timeout_upstream_slow",
        "seed-06",
        day,
        bs.at(day, "21:23:00"),
        bs.at(day, "21:53:00"),
    )
    T = b.at
    immich = bs.BG["immich-server"]
    dns = [
        bs.coredns_pod("coredns-7c65d6cfc9-f6tlw", "10.244.1.8", "node-2"),
        bs.coredns_pod("coredns-7c65d6cfc9-zq9xd", "10.244.2.6", "node-3"),
    ]
    pods = [*bs.BACKGROUND_PODS, *dns]
    uids = bs.pod_uids(b, pods)

    # The NAS starts its monthly data scrub at 21:31; its NFS server threads block behind it
    # and every read of Immich's library (a hard NFSv4.1 mount on node-2) waits. Node.js does
    # file I/O in libuv's four-thread pool, so once four reads hang the whole API queues.
    stall = T("21:33:40")
    hang = w.piecewise([(stall, 0.0), (stall + 150, 1.0)])
    wobble: Profile = lambda t: 0.85 + 0.15 * math.sin((t - stall) / 143.0)  # noqa: E731
    timeouts: Profile = lambda t: 0.42 * hang(t) * wobble(t)  # noqa: E731
    backend = bs.Backend(
        "immich",
        "photos.home.arpa",
        immich,
        2283,
        # someone scrolls the timeline on a phone and the app retries
        w.add(w.constant(0.35), w.scale(hang, 0.1)),
        w.add(w.constant(0.031), w.scale(hang, 0.95)),
        bs.quiet_backends()[0].paths,
        bs.quiet_backends()[0].agents,
        timeouts=timeouts,
    )
    b.platform = bs.Platform(ingress=[backend])

    baseline(b, uids, dns)
    bs.platform_telemetry(b)
    nfs_kernel(b, stall)
    ssh_06(b)

    # NginxHighHttp5xxErrorRate (ingress-nginx-mixin), as this site runs it: the controller
    # is scraped with honorLabels, so the ingress' namespace is ``namespace``.
    expr = (
        '(sum(rate(nginx_ingress_controller_requests{job=~"ingress-nginx-controller-metrics", '
        'status=~"^5.*", ingress!~""}[5m])) by (namespace, ingress) / sum(rate('
        'nginx_ingress_controller_requests{job=~"ingress-nginx-controller-metrics", '
        'ingress!~""}[5m])) by (namespace, ingress) * 100) > 5\n'
    )
    req = {
        labels["status"]: pts
        for labels, pts in b.om.series("nginx_ingress_controller_requests")
        if labels["ingress"] == "immich"
    }

    def ratio(e: float) -> float:
        total = sum(increase(pts, e) for pts in req.values())
        return increase(req.get("504", []), e) / total if total else 0.0

    starts = bs.fired_at(bs.rule_evals(b, "nginx.rules"), lambda e: ratio(e) > 0.05, 60)
    alert = webhook(
        [
            w.alert_entry(
                bs.kube_alert_labels(
                    {
                        "alertname": "NginxHighHttp5xxErrorRate",
                        "ingress": "immich",
                        "namespace": "media",
                        "severity": "warning",
                    }
                ),
                {
                    "dashboard_url": "https://grafana.home.arpa/d/ingress-nginx-overview-"
                    "12mk4klgjweg/ingress-nginx-overview?var-exported_namespace=media&var-"
                    "ingress=immich",
                    "description": "More than 5% HTTP requests with status 5xx for media/immich "
                    "the past 5m.",
                    "summary": "Nginx high HTTP 5xx error rate.",
                },
                starts,
                w.generator_url(bs.PROM_URL, expr),
            )
        ],
        {"alertname": "NginxHighHttp5xxErrorRate", "namespace": "media"},
    )
    truth = {
        "layer": "application",
        "fault": "dependency_timeout",
        "component": "immich-server",
        "explanation": (
            "At 21:31 the NAS (10.0.0.20) begins its monthly data scrub and its NFS server "
            "stops answering in time. immich-server (media, 10.244.1.33 on node-2) keeps its "
            "photo library on a hard NFSv4.1 mount: from 21:33 its thumbnail and asset reads "
            "hang in the kernel ('nfs: server 10.0.0.20 not responding', hung-task warnings), "
            "libuv's thread pool fills and the API answers slowly or not at all. ingress-nginx "
            "gives up after proxy-read-timeout (60 s): 'upstream timed out' lines for "
            "10.244.1.33:2283, 504s on up to 40% of Immich's requests, p99 beyond the 10 s "
            "top bucket, and "
            "NginxHighHttp5xxErrorRate fires. node-2's load average climbs with the blocked "
            "tasks while its CPUs stay idle, and nothing restarts: the nodes, the network, "
            "DNS and the cluster's own disks are fine. The slow dependency is outside the "
            "cluster's telemetry; what is broken inside it is Immich timing out on it."
        ),
        "red_herrings": ["compute"],
    }
    bs.write(
        b, meta(b, "NginxHighHttp5xxErrorRate for the immich ingress", pods, truth), alert, out
    )


def nfs_kernel(b: Build, stall: float) -> None:
    """node-2's kernel: the NFS server stops answering, tasks block on it."""
    node = NODE["node-2"]
    boot = b.start - node.boot_days * 86400
    rng = b.rng("nfs-kernel")
    labels = {"app": "kernel", "host": node.name}

    def klog(ts: float, msg: str) -> None:
        b.log(ts, labels, bs.dmesg(ts, boot, msg, rng.randint(0, 999)))

    # Major timeouts (timeo=600, retrans=2) come in waves as the scrub starves the NFS
    # threads; an answer in between prints "OK".
    t = stall + 183.4
    while t < b.end:
        klog(t, f"nfs: server {NAS} not responding, still trying")
        back = t + rng.uniform(40, 150)
        if back < b.end:
            klog(back, f"nfs: server {NAS} OK")
        t = back + rng.uniform(60, 200)
    # khungtaskd: tasks in D state for more than 120 s (at most ten reports).
    pid = 2_231_790
    t = stall + 242.0
    for i in range(10):
        if t >= b.end:
            break
        task, tid = ("node", pid + rng.randint(12, 60)) if i % 3 else ("immich", pid)
        for j, msg in enumerate(
            (
                f"INFO: task {task}:{tid} blocked for more than {120 + 2 * (i // 3)} seconds.",
                "      Not tainted 6.8.0-52-generic #53-Ubuntu",
                '"echo 0 > /proc/sys/kernel/hung_task_timeout_secs" disables this message.',
                f"task:{task:<15} state:D stack:0     pid:{tid}  tgid:{pid}  ppid:{pid - 19} "
                "flags:0x00000002",
                "Call Trace:",
                " <TASK>",
                " __schedule+0x27c/0x6b0",
                " schedule+0x33/0x110",
                " io_schedule+0x46/0x80",
                " folio_wait_bit_common+0x136/0x330",
                " nfs_read_folio+0x1a5/0x2b0 [nfs]",
                " filemap_read_folio+0x3b/0xf0",
                " </TASK>",
            )
        ):
            klog(t + j * 0.0002, msg)
        # the same scan reports the next task right after, else a later one (every 120 s)
        t += rng.choice((0.004, 0.004, 122.9, 245.8))


def ssh_06(b: Build) -> None:
    """What the owner ran on node-2 before asking for a diagnosis."""
    node = NODE["node-2"]
    t = b.end - 212.6
    boot = b.start - node.boot_days * 86400
    b.ssh.append(
        w.ssh_record(t, node.name, "uptime", bs.uptime_line(t, boot, 1, (14.31, 12.87, 8.02)))
    )
    b.ssh.append(
        w.ssh_record(t + 3.1, node.name, "cat /proc/loadavg", "14.27 12.88 8.04 1/1187 2241876\n")
    )
    lines = []
    for rec in sorted(b.logs, key=lambda r: r["ts"]):
        mine = rec["labels"].get("app") == "kernel" and rec["labels"].get("host") == node.name
        if mine and rec["ts"] < t + 6:
            msg = rec["line"].split("] ", 1)[1]
            stamp = datetime.fromtimestamp(math.floor(rec["ts"]), tz=UTC)
            lines.append(f"[{stamp:%a %b %e %H:%M:%S %Y}] {msg}")
    b.ssh.append(
        w.ssh_record(t + 6.4, node.name, "dmesg -T | tail -n 50", "\n".join(lines[-50:]) + "\n")
    )


# =========================================================================== 07


def build_07(out: Path) -> None:
    day = "2025-01-07"
    b = Build("07_etcd_slow_disk", "seed-07", day, bs.at(day, "03:04:00"), bs.at(day, "03:34:00"))
    T = b.at
    dns = [
        bs.coredns_pod("coredns-7c65d6cfc9-8k2vq", "10.244.1.6", "node-2"),
        bs.coredns_pod("coredns-7c65d6cfc9-x5mfd", "10.244.2.8", "node-3"),
    ]
    pods = [*bs.BACKGROUND_PODS, *dns]
    uids = bs.pod_uids(b, pods)

    # node-1's DRAM-less NVMe (etcd's data dir, /var/lib/etcd, lives on its root filesystem)
    # starts an internal garbage collection at 03:16 and stays in it: writes that took
    # microseconds take hundreds of milliseconds, and every fsync waits for them.
    onset = T("03:16:20")
    slow = w.piecewise([(onset, 0.0), (onset + 70, 1.0)])
    wobble: Profile = lambda t: 1 + 0.22 * math.sin((t - onset) / 97.0) + 0.1 * math.sin(t / 31.0)  # noqa: E731
    level: Profile = lambda t: slow(t) * wobble(t)  # noqa: E731
    fsync: Profile = lambda t: 0.0021 + 0.56 * level(t)  # noqa: E731  (median, s)
    # One WAL, one fsync at a time: slow fsyncs batch more entries and come less often.
    fsync_rate: Profile = lambda t: 1 / (1 / 6.5 + fsync(t) * 1.17)  # noqa: E731
    commit: Profile = lambda t: 0.0043 + 0.33 * level(t)  # noqa: E731
    put_p99: Profile = lambda t: 0.031 + 2.3 * level(t)  # noqa: E731
    errors: Profile = lambda t: 0.008 * slow(t)  # noqa: E731  (etcdserver: request timed out)
    b.platform = bs.Platform(
        api=[
            bs.ApiStream(
                "PUT",
                "leases",
                "coordination.k8s.io",
                "namespace",
                w.constant(2.1),
                put_p99,
                errors=errors,
                error_code="500",
            )
        ],
        etcd_commit=commit,
    )
    loads = {
        "node-1": NodeLoad(io_extra=w.scale(slow, 0.925)),
    }
    fsync_pts = baseline(b, uids, dns, loads=loads, fsync=fsync, fsync_rate=fsync_rate)
    bs.platform_telemetry(b)
    etcd_slow_logs(b, onset, fsync, fsync_rate, commit)
    apiserver_slow_writes(b, onset, put_p99, errors)
    ssh_07(b)

    # etcdHighFsyncDurations (etcd mixin; kube-prometheus: cluster label = job), both levels.
    bounds = [0.001 * 2**k for k in range(14)]
    evals = bs.rule_evals(b, "etcd")
    p99: Callable[[float], float] = lambda e: hist_quantile(0.99, fsync_pts, bounds, e)  # noqa: E731
    fired = {
        sev: bs.fired_at(evals, lambda e, x=x: p99(e) > x, 600)
        for sev, x in (("warning", 0.5), ("critical", 1.0))
    }
    sent = min(fired.values()) + 30  # group_wait
    last_eval = max(e for e in evals if e <= sent)
    expr = (
        "histogram_quantile(0.99, rate(etcd_disk_wal_fsync_duration_seconds_bucket"
        '{job=~".*etcd.*"}[5m])) > {x}\n'
    )
    entries = []
    for sev, x in (("warning", "0.5"), ("critical", "1")):
        if fired[sev] > sent:
            continue
        entries.append(
            w.alert_entry(
                bs.kube_alert_labels(
                    {
                        "alertname": "etcdHighFsyncDurations",
                        "instance": bs.ETCD_TARGET,
                        "job": "etcd",
                        "severity": sev,
                    }
                ),
                {
                    "description": f'etcd cluster "etcd": 99th percentile fsync durations are '
                    f"{go_float(p99(last_eval))}s on etcd instance {bs.ETCD_TARGET}.",
                    "summary": "etcd cluster 99th percentile fsync durations are too high.",
                },
                fired[sev],
                w.generator_url(bs.PROM_URL, expr.replace("{x}", x)),
            )
        )
    alert = webhook(entries, {"alertname": "etcdHighFsyncDurations"})
    truth = {
        "layer": "storage",
        "fault": "slow_disk",
        "component": "node-1",
        "explanation": (
            "At 03:16 the control-plane node's consumer NVMe (nvme0n1 on node-1, which holds "
            "/var/lib/etcd) slows down by three orders of magnitude and stays saturated "
            "(node_disk_io_time ~97% busy, I/O pressure ~90%) with no more writes than usual. "
            "etcd's WAL fsync p99 goes from ~8 ms to seconds ('slow fdatasync'), backend "
            "commits follow, every write waits ('apply request took too long'), lease updates "
            "through the apiserver take seconds and a few fail with 'etcdserver: request timed "
            "out'. etcd itself, its leadership and the apiserver are healthy: they are waiting "
            "on the disk. No request surge, no certificate, network or DNS problem."
        ),
        "red_herrings": ["control-plane"],
    }
    title = "etcdHighFsyncDurations on the control-plane etcd"
    bs.write(b, meta(b, title, pods, truth), alert, out)


def etcd_slow_logs(
    b: Build, onset: float, fsync: Profile, fsync_rate: Profile, commit: Profile
) -> None:
    """etcd's warnings while its disk is slow: every slow fdatasync, and a 4% sample of
    the (far more numerous) slow applies and ReadIndex retries."""
    rng = b.rng("etcd-slow")
    labels = labels_of("etcd", "etcd-node-1", "node-1", "kube-system", "etcd")
    share = 0.04
    leases = [f"/registry/leases/kube-node-lease/{n.name}" for n in NODES] + [
        "/registry/leases/kube-system/kube-controller-manager",
        "/registry/leases/kube-system/kube-scheduler",
        "/registry/leases/ingress-nginx/ingress-nginx-leader",
    ]
    revision = 48_213_377
    t = onset
    while t < b.end:
        # P(fsync > 1 s) for a log-normal with sigma 0.55
        over = 0.5 * math.erfc(math.log(1 / fsync(t)) / (0.55 * math.sqrt(2)))
        for _ in range(sampled(rng, fsync_rate(t) * over * 10)):
            ts = t + rng.random() * 10
            took = math.exp(math.log(fsync(ts)) + 0.55 * abs(rng.gauss(0, 1)))
            took = max(took, 1.0 + rng.random() * 0.4)
            b.log(
                ts,
                labels,
                zap(
                    ts,
                    rng,
                    "warn",
                    "wal/wal.go:805",
                    "slow fdatasync",
                    took=go_seconds(took),
                    **{"expected-duration": "1s"},
                ),
            )
        for _ in range(sampled(rng, 2.1 * 0.9 * 10 * share * min(1.0, commit(t) / 0.2))):
            ts = t + rng.random() * 10
            key = rng.choice(leases)
            revision += rng.randint(3, 40)
            took = commit(ts) * rng.uniform(0.6, 2.6)
            req = (
                f"header:<ID:{7_587_873_542_061_000_000 + rng.randint(0, 999_999)} username:"
                f'"kube-apiserver-etcd-client" auth_revision:1 > txn:<compare:<target:MOD '
                f'key:"{key}" mod_revision:{revision} > success:<request_put:<key:"{key}" '
                f'value_size:{rng.randint(480, 560)} >> failure:<request_range:<key:"{key}" > >>'
            )
            line = zap(
                ts,
                rng,
                "warn",
                "etcdserver/util.go:170",
                "apply request took too long",
                took=go_seconds(took),
                **{"expected-duration": "100ms"},
                prefix="",
                request=req,
                response="size:22",
            )
            b.log(ts, labels, line)
        if rng.random() < 0.12 * min(1.0, fsync(t) / 0.3):
            ts = t + rng.random() * 10
            b.log(
                ts,
                labels,
                zap(
                    ts,
                    rng,
                    "warn",
                    "etcdserver/v3_server.go:897",
                    "waiting for ReadIndex response took too long, retrying",
                    **{
                        "sent-request-id": 7_587_873_542_061_000_000 + rng.randint(0, 999_999),
                        "retry-timeout": "500ms",
                    },
                ),
            )
        t += 10


def apiserver_slow_writes(b: Build, onset: float, p99: Profile, errors: Profile) -> None:
    """kube-apiserver traces of slow lease updates (a 3% sample of those over 500 ms) and of
    every update etcd timed out, and the kubelets whose lease renewals failed."""
    rng = b.rng("apiserver-slow")
    labels = labels_of(
        "kube-apiserver", "kube-apiserver-node-1", "node-1", "kube-system", "kube-apiserver"
    )
    holders = [
        (n.name, "kube-node-lease", n.ip, "kubelet/v1.29.12 (linux/amd64) kubernetes/9253c9b")
        for n in NODES
    ]
    holders += [
        (
            "kube-controller-manager",
            "kube-system",
            "10.0.0.11",
            "kube-controller-manager/v1.29.12 (linux/amd64) kubernetes/9253c9b/leader-election",
        ),
        (
            "kube-scheduler",
            "kube-system",
            "10.0.0.11",
            "kube-scheduler/v1.29.12 (linux/amd64) kubernetes/9253c9b/leader-election",
        ),
    ]
    t = onset + 20
    while t < b.end:
        sigma = 0.9
        median = p99(t) / math.exp(bs.P99_Z * sigma)
        over = 0.5 * math.erfc(math.log(0.5 / median) / (sigma * math.sqrt(2)))
        slow_n = sampled(rng, 2.1 * over * 10 * 0.03)
        failed_n = sampled(rng, 2.1 * errors(t) * 10)
        for k in range(slow_n + failed_n):
            name, ns, ip, agent = rng.choice(holders)
            failed = k >= slow_n
            took = (
                7.0 + rng.uniform(0.001, 0.006)
                if failed
                else max(0.5, math.exp(math.log(median) + sigma * abs(rng.gauss(0, 1))))
            )
            done = t + rng.random() * 10
            begun = done - took
            tid = rng.randint(100_000_000, 2_147_483_647)
            audit = bs.uid(rng)
            url = f"/apis/coordination.k8s.io/v1/namespaces/{ns}/leases/{name}"
            head = (
                f'Trace[{tid}]: "Update" accept:application/vnd.kubernetes.protobuf, */*,audit-id:{audit},'
                f"client:{ip},api-group:coordination.k8s.io,api-version:v1,name:{name},subresource:,"
                f"namespace:{ns},protocol:HTTP/2.0,resource:leases,scope:resource,url:{url},"
                f"user-agent:{agent},verb:PUT ({datetime.fromtimestamp(math.floor(begun), tz=UTC):%d-%b-%Y %H:%M:%S}."
                f"{round(begun * 1000) % 1000:03d}) (total time: {took * 1000:.0f}ms):"
            )
            call = (
                'Txn call failed" err:etcdserver: request timed out'
                if failed
                else 'Txn call completed"'
            )
            body = [
                f'Trace[{tid}]: ["GuaranteedUpdate etcd3" audit-id:{audit},key:/leases/{ns}/{name},'
                f"type:*coordination.Lease,resource:leases.coordination.k8s.io {took * 1000:.0f}ms "
                f"({datetime.fromtimestamp(math.floor(begun), tz=UTC):%H:%M:%S}.{round(begun * 1000) % 1000:03d})",
                f'Trace[{tid}]:  ---"{call} {took * 1000 - 1:.0f}ms ({datetime.fromtimestamp(math.floor(done), tz=UTC):%H:%M:%S}.{round(done * 1000) % 1000:03d})]',
                f"Trace[{tid}]: [{took:.9f}s] [{took:.9f}s] END",
            ]
            b.log(done, labels, bs.klog(done, "I", 1, "trace.go:236", head, rng.randint(0, 999)))
            for i, line in enumerate(body):
                b.log(done + 0.000004 * (i + 1), labels, line)
            if failed:
                b.log(
                    done + 0.0002,
                    labels,
                    bs.klog(
                        done + 0.0002,
                        "E",
                        1,
                        "status.go:71",
                        "apiserver received an error that is not an metav1.Status: "
                        'rpctypes.EtcdError{code:0xe, desc:"etcdserver: request timed out"}: '
                        "etcdserver: request timed out",
                        rng.randint(0, 999),
                    ),
                )
                if ns == "kube-node-lease":
                    b.log(
                        done + 0.004,
                        {"app": "kubelet", "host": name},
                        bs.klog(
                            done + 0.004,
                            "E",
                            bs.KUBELET_PID[name],
                            "controller.go:195",
                            '"Failed to update lease" err="etcdserver: request timed out"',
                            rng.randint(0, 999),
                        ),
                    )
        t += 10


def ssh_07(b: Build) -> None:
    node = NODE["node-1"]
    t = b.end - 176.2
    boot = b.start - node.boot_days * 86400
    b.ssh.append(
        w.ssh_record(t, node.name, "uptime", bs.uptime_line(t, boot, 1, (7.84, 7.51, 5.02)))
    )
    b.ssh.append(
        w.ssh_record(
            t + 4.6,
            node.name,
            "cat /proc/pressure/io",
            "some avg10=93.12 avg60=91.40 avg300=66.87 total=1529338771\n"
            "full avg10=88.05 avg60=86.91 avg300=62.30 total=1440190012\n",
        )
    )
    b.ssh.append(
        w.ssh_record(
            t + 9.8,
            node.name,
            "df -h",
            "Filesystem      Size  Used Avail Use% Mounted on\n"
            "tmpfs           1.6G  3.9M  1.6G   1% /run\n"
            "/dev/nvme0n1p2  233G   96G  126G  44% /\n"
            "tmpfs           7.8G     0  7.8G   0% /dev/shm\n"
            "tmpfs           5.0M     0  5.0M   0% /run/lock\n"
            "/dev/nvme0n1p1  1.1G  6.2M  1.1G   1% /boot/efi\n"
            "tmpfs           1.6G   12K  1.6G   1% /run/user/1000\n",
        )
    )


# =========================================================================== 09

K8S_UA = "v1.29.12 (linux/amd64) kubernetes/9253c9b"
APISERVER_URL = "https://10.0.0.11:6443"


def build_09(out: Path) -> None:
    day = "2025-02-21"
    b = Build(
        "09_certificate_expiry", "seed-09", day, bs.at(day, "08:01:00"), bs.at(day, "08:31:00")
    )
    dns = [
        bs.coredns_pod("coredns-7c65d6cfc9-wv4hn", "10.244.1.5", "node-2"),
        bs.coredns_pod("coredns-7c65d6cfc9-p7ckq", "10.244.2.10", "node-3"),
    ]
    pods = [*bs.BACKGROUND_PODS, *dns]
    uids = bs.pod_uids(b, pods)

    # The cluster was made with kubeadm on 2024-02-22 and never upgraded (an upgrade renews
    # the certificates): a year later to the day minus the leap day, every leaf certificate
    # expires within five seconds. Established connections keep working (TLS is checked at
    # the handshake) and so does everything that holds one, but the apiserver checks client
    # certificates on every request, and every new connection to it fails.
    certs = {c.subject_cn: c for c in bs.site_certs(b.start)}
    served = certs["kube-apiserver"].not_after
    gone = {  # the apiserver stops accepting their client certificates
        "kube-controller-manager": certs["system:kube-controller-manager"],
        "kube-scheduler": certs["system:kube-scheduler"],
    }
    renewals: Profile = lambda t: 2.1 if t < gone["kube-controller-manager"].not_after else 1.1  # noqa: E731
    b.platform = bs.Platform(api=[bs.api_stream("PUT", "leases", renewals)])
    baseline(b, uids, dns)
    bs.platform_telemetry(b)
    for name, cert in gone.items():
        leader_lost(b, name, cert, served)
    ssh_09(b, served)

    # CertificateExpiration (x509-certificate-exporter chart, criticalDaysLeft 14, for 15m).
    # It has fired since 2025-02-07; Alertmanager repeats the group every 12 h (kube-
    # prometheus' repeat_interval), on its 5-minute group_interval grid.
    expr = "((x509_cert_not_after - time()) / 86400) < 14\n"
    group = "x509-certificate-exporter.rules"
    offset = bs.scrape_offset(f"rules/{group}", 60.0)
    expiring = [c for c in certs.values() if not c.filepath.endswith("ca.crt")]

    def grid_after(ts: float) -> float:
        k = math.floor((ts - b.start - offset) / 60) + 1
        return b.start + offset + k * 60

    fired = {c.subject_cn: grid_after(c.not_after - 14 * 86400) + 900 for c in expiring}
    first_sent = min(fired.values()) + 30
    sent = first_sent + math.floor((b.end - first_sent) / 43200) * 43200
    assert b.start < sent < b.end, w.rfc3339(sent)
    last_eval = grid_after(sent - 60)
    entries = []
    for c in sorted(expiring, key=lambda c: c.filepath):
        labels = {
            "alertname": "CertificateExpiration",
            "filename": c.filepath.rsplit("/", 1)[-1],
            "filepath": c.filepath,
            "instance": bs.X509_TARGET,
            "issuer_CN": c.issuer_cn,
            "job": "x509-certificate-exporter",
            "serial_number": c.serial,
            "severity": "critical",
            "subject_CN": c.subject_cn,
        }
        if c.subject_o:
            labels["subject_O"] = c.subject_o
        if c.kubeconfig:
            labels |= {"embedded_kind": "user", "embedded_key": "client-certificate-data"}
        days = (c.not_after - last_eval) / 86400
        entries.append(
            w.alert_entry(
                bs.kube_alert_labels(labels),
                {
                    "description": f'Certificate for "{c.subject_cn}" is about to expire after '
                    f'{days:.0f} days. at location "{c.filepath}"',
                    "summary": "Certificate is about to expire",
                },
                fired[c.subject_cn],
                w.generator_url(bs.PROM_URL, expr),
            )
        )
    alert = webhook(entries, {"alertname": "CertificateExpiration"})
    truth = {
        "layer": "control-plane",
        "fault": "cert_expired",
        "component": "kube-apiserver",
        "explanation": (
            "kubeadm signed the cluster's leaf certificates at 'kubeadm init' on 2024-02-22 "
            "08:14 for 365 days, and the cluster was never upgraded (which renews them). At "
            "08:14:04 the apiserver's serving certificate (CN kube-apiserver) expires, then "
            "etcd's, the apiserver's etcd client's and the kubeconfigs' (admin, "
            "controller-manager, scheduler) within four seconds. CertificateExpiration had "
            "been firing for two weeks. The controller-manager and scheduler are refused "
            "('Unable to authenticate the request'), lose their leases, restart, and can no "
            "longer connect at all: every new connection to the apiserver fails with 'x509: "
            "certificate has expired or is not yet valid' (kubectl too). Workloads, kubelets "
            "and exporters keep their established connections, so nodes, pods, DNS, disks "
            "and the network look healthy; nothing else is broken."
        ),
        "red_herrings": ["compute"],
    }
    title = "CertificateExpiration for the control-plane certificates"
    bs.write(b, meta(b, title, pods, truth), alert, out)


def _expired(now: float, not_after: float) -> str:
    return (
        f"x509: certificate has expired or is not yet valid: current time {w.rfc3339(math.floor(now))} "
        f"is after {w.rfc3339(not_after)}"
    )


def leader_lost(b: Build, name: str, cert: bs.Cert, served: float) -> None:
    """A control-plane component whose client certificate expired: refused on every request,
    it loses its lease, is restarted by the kubelet, and cannot connect any more. Its
    retries every 2 s are kept at a 15% sample, with the apiserver's handshake errors."""
    rng = b.rng("leader-lost", name)
    mine = labels_of(name, f"{name}-node-1", "node-1", "kube-system", name)
    api = labels_of(
        "kube-apiserver", "kube-apiserver-node-1", "node-1", "kube-system", "kube-apiserver"
    )
    kubelet = {"app": "kubelet", "host": "node-1"}
    lock = f"kube-system/{name}"
    lease_url = f"{APISERVER_URL}/apis/coordination.k8s.io/v1/namespaces/kube-system/leases/{name}?timeout=5s"
    akid = ":".join(f"{rng.randint(0, 255):02X}" for _ in range(20))

    def log(ts: float, labels: dict[str, str], level: str, where: str, msg: str) -> None:
        b.log(ts, labels, bs.klog(ts, level, 1, where, msg, rng.randint(0, 999)))

    # Refused while its connection lives: renewals every 2 s until the 10 s deadline.
    t = cert.not_after + rng.uniform(0.2, 1.9)
    deadline = t + 10.0
    while t < deadline:
        log(
            t - 0.003,
            api,
            "E",
            "authentication.go:73",
            f'"Unable to authenticate the request" err="[{_expired(t, cert.not_after)}, '
            f"verifying certificate SN={cert.serial}, SKID=, AKID={akid} failed: "
            f'{_expired(t, cert.not_after)}]"',
        )
        log(t, mine, "E", "leaderelection.go:369", "Failed to update lock: Unauthorized")
        t += 2.0 + rng.uniform(-0.02, 0.02)
    log(
        deadline + 0.01,
        mine,
        "I",
        "leaderelection.go:285",
        f"failed to renew lease {lock}: timed out waiting for the condition",
    )
    lost = '"leaderelection lost"' if name == "kube-controller-manager" else '"Leaderelection lost"'
    where = "controllermanager.go:340" if name == "kube-controller-manager" else "server.go:266"
    log(deadline + 0.012, mine, "E", where, lost)
    cid_old, cid_new = bs.hexid(rng), bs.hexid(rng)
    pod_uid = bs.uid(rng)
    for ts, kind, cid in (
        (deadline + 0.9, "ContainerDied", cid_old),
        (deadline + 1.6, "ContainerStarted", cid_new),
    ):
        b.log(
            ts,
            kubelet,
            bs.klog(
                ts,
                "I",
                bs.KUBELET_PID["node-1"],
                "kubelet.go:2453",
                f'"SyncLoop (PLEG): event for pod" pod="kube-system/{name}-node-1" '
                f'event={{"ID":"{pod_uid}","Type":"{kind}","Data":"{cid}"}}',
                rng.randint(0, 999),
            ),
        )
    # Restarted: it cannot even connect. Retries every 2 s (sampled).
    start = deadline + 2.4
    log(start, mine, "I", "serving.go:380", "Generated self-signed cert in-memory")
    log(
        start + 0.31,
        mine,
        "I",
        "leaderelection.go:250",
        f"attempting to acquire leader lease {lock}...",
    )
    t = start + 0.33
    while t < b.end:
        if rng.random() < 0.15:
            port = rng.randint(32768, 60999)
            log(
                t - 0.002,
                api,
                "I",
                "log.go:245",
                f"http: TLS handshake error from 10.0.0.11:{port}: remote error: tls: bad certificate",
            )
            log(
                t,
                mine,
                "E",
                "leaderelection.go:332",
                f'error retrieving resource lock {lock}: Get "{lease_url}": tls: failed to verify '
                f"certificate: {_expired(t, served)}",
            )
        t += 2.0 + rng.uniform(-0.01, 0.03)


def ssh_09(b: Build, served: float) -> None:
    """The owner on node-1: kubectl refuses the apiserver, openssl says why."""
    t = b.end - 143.7
    lines = []
    for i in range(5):
        ts = t + 0.02 + i * 0.011
        lines.append(
            bs.klog(
                ts,
                "E",
                2_241_907,
                "memcache.go:265",
                f'couldn\'t get current server API group list: Get "{APISERVER_URL}/api?timeout=32s": '
                f"tls: failed to verify certificate: {_expired(ts, served)}",
                317 * i + 41,
            )
        )
    lines.append(
        f"Unable to connect to the server: tls: failed to verify certificate: {_expired(t + 0.08, served)}"
    )
    b.ssh.append(
        w.ssh_record(
            t, "node-1", "kubectl get nodes", "", stderr="\n".join(lines) + "\n", exit_status=1
        )
    )
    b.ssh.append(
        w.ssh_record(
            t + 21.5,
            "node-1",
            "openssl x509 -in /etc/kubernetes/pki/apiserver.crt -noout -enddate",
            f"notAfter={datetime.fromtimestamp(served, tz=UTC):%b %e %H:%M:%S %Y} GMT\n",
        )
    )


# =========================================================================== 11

OPERATOR_UA = "manager/v0.0.0 (linux/amd64) kubernetes/$Format"


def build_11(out: Path) -> None:
    day = "2025-01-28"
    b = Build(
        "11_api_server_latency", "seed-11", day, bs.at(day, "19:44:00"), bs.at(day, "20:14:00")
    )
    T = b.at
    dns = [
        bs.coredns_pod("coredns-7c65d6cfc9-hx2lt", "10.244.1.3", "node-2"),
        bs.coredns_pod("coredns-7c65d6cfc9-m8rgw", "10.244.2.12", "node-3"),
    ]
    image = "registry.home.arpa/homelab/homelab-operator"
    old = Pod(
        "homelab-system",
        "homelab-operator-controller-manager-5d8b7c6f4-k9w2p",
        "10.244.1.41",
        "node-2",
        "homelab-operator",
        "manager",
        f"{image}:v0.6.2",
        mem=61 * MiB,
        mem_limit=256 * MiB,
        cpu=0.004,
        cpu_limit=0.5,
    )
    new = Pod(
        "homelab-system",
        "homelab-operator-controller-manager-6f9c8d7b5-xq2lm",
        "10.244.1.52",
        "node-2",
        "homelab-operator",
        "manager",
        f"{image}:v0.7.0",
        mem=118 * MiB,
        mem_limit=256 * MiB,
        cpu=0.49,
        cpu_limit=0.5,
    )
    pods = [*bs.BACKGROUND_PODS, *dns, old, new]
    uids = bs.pod_uids(b, pods)

    # v0.7.0 of the owner's operator (kubebuilder, so "manager" is its user agent) lists
    # every pod in the cluster, uncached, on each reconcile, and each reconcile updates the
    # status that triggers the next: a hot loop from the moment it becomes leader.
    created, old_gone = T("19:52:11.408"), T("19:52:40.120")
    leader = old_gone + 1.3
    storm = w.piecewise([(leader, 0.0), (leader + 40, 1.0)])
    wobble: Profile = lambda t: 1 + 0.12 * math.sin((t - leader) / 53.0) + 0.05 * math.sin(t / 7.0)  # noqa: E731
    load: Profile = lambda t: storm(t) * wobble(t)  # noqa: E731
    lists = w.add(w.constant(0.02), w.scale(load, 31.0))
    list_p99 = w.add(w.constant(0.41), w.scale(load, 4.2))
    rejected = w.scale(storm, 0.07)  # API Priority and Fairness: queue full, 429 at once
    busy = w.scale(storm, 0.085)  # everything else waits for the apiserver's CPUs
    b.platform = bs.Platform(
        api=[
            bs.api_stream("PUT", "leases", 2.1, busy),
            bs.ApiStream(
                "LIST",
                "pods",
                "",
                "cluster",
                lists,
                list_p99,
                errors=rejected,
                error_code="429",
                error_after=0.0012,
            ),
        ]
    )
    lag = w.piecewise([(leader + 30, 0.0), (leader + 330, 1.0)])  # 5m windows
    bs.api_rules(
        b,
        w.scale(lag, 0.09),
        {
            ("LIST", "pods"): (
                w.add(w.constant(0.41), w.scale(lag, 4.3)),
                w.add(w.constant(0.064), w.scale(lag, 1.75)),
            )
        },
    )

    running_new: Callable[[float], bool] = lambda t: t >= created + 6.2  # noqa: E731
    running_old: Callable[[float], bool] = lambda t: t < old_gone  # noqa: E731
    bs.cadvisor(b, old, alive=running_old)
    bs.ksm_pod(b, old, uids[old.name], deleted=old_gone + 3)
    bs.cadvisor(
        b,
        new,
        alive=running_new,
        cpu=w.add(w.constant(0.012), w.scale(load, 0.47)),
        mem=w.piecewise([(created, 40 * MiB), (leader + 60, 118 * MiB)]),
        throttle=w.scale(storm, 0.62),
    )
    bs.ksm_pod(b, new, uids[new.name], created=created)
    loads = {
        "node-1": NodeLoad(cpu_extra=w.scale(load, 1.85)),  # kube-apiserver, etcd
        "node-2": NodeLoad(cpu_extra=w.scale(load, 0.47)),
    }
    baseline(b, uids, dns, loads=loads)
    bs.platform_telemetry(b)
    list_storm_logs(b, new, leader, lists, list_p99)
    ssh_11(b, new, created)

    rule = bs.LEGACY_RULES["KubeAPILatencyHigh"]
    p99 = bs.API_P99["LIST pods"]
    starts = bs.fired_at(
        bs.rule_evals(b, "kubernetes-system-apiserver"),
        lambda e: bs.value_at(p99, e) > 1.0 and bs.latency_outlier(e, "LIST", "pods"),
        300,
    )
    labels = bs.kube_alert_labels(
        {
            "alertname": "KubeAPILatencyHigh",
            "component": "apiserver",
            "endpoint": "https",
            "job": "apiserver",
            "namespace": "default",
            "quantile": "0.99",
            "resource": "pods",
            "scope": "cluster",
            "service": "kubernetes",
            "severity": "warning",
            "verb": "LIST",
            "version": "v1",
        }
    )
    ann = {
        "message": f"The API server has an abnormal latency of {bs.value_at(p99, starts)!r} "
        "seconds for LIST pods.",
        "runbook_url": rule["annotations"]["runbook_url"],
    }
    alert = webhook(
        [w.alert_entry(labels, ann, starts, w.generator_url(bs.PROM_URL, rule["expr"]))],
        {"alertname": "KubeAPILatencyHigh", "namespace": "default"},
    )
    truth = {
        "layer": "control-plane",
        "fault": "apiserver_overload",
        "component": "kube-apiserver",
        "explanation": (
            "At 19:52 the owner rolls out v0.7.0 of a home-grown operator "
            "(homelab-system/homelab-operator-controller-manager). Once it holds the leader "
            "lease it lists every pod in the cluster, uncached, on each reconcile, and each "
            "reconcile's status update triggers the next: LIST pods goes from one every "
            "minute to ~30/s, apiserver requests grow ~15-fold, LIST pods p99 reaches ~4.5 s "
            "(7% of them rejected with 429 by API Priority and Fairness) and the apiserver's "
            "node burns two more cores. KubeAPILatencyHigh fires for LIST pods. etcd, the "
            "disks, DNS and the network are healthy; the operator pod's CPU throttling is "
            "its own limit, not the cause."
        ),
        "red_herrings": ["compute"],
    }
    bs.write(b, meta(b, "KubeAPILatencyHigh for LIST pods", pods, truth), alert, out)


def list_storm_logs(b: Build, pod: Pod, leader: float, lists: Profile, p99: Profile) -> None:
    """Traces of slow LIST pods (a 0.2% sample), the operator's own log, two slow etcd reads."""
    rng = b.rng("list-storm")
    api = labels_of(
        "kube-apiserver", "kube-apiserver-node-1", "node-1", "kube-system", "kube-apiserver"
    )
    op = labels_of(pod.app, pod.name, pod.node, pod.namespace, pod.container)
    t = leader + 8
    while t < b.end:
        sigma = 0.9
        median = p99(t) / math.exp(bs.P99_Z * sigma)
        for _ in range(sampled(rng, lists(t) * 10 * 0.002)):
            took = max(0.52, math.exp(math.log(median) + sigma * rng.gauss(0.4, 0.8)))
            done = t + rng.random() * 10
            begun = done - took
            tid = rng.randint(100_000_000, 2_147_483_647)
            count = rng.randint(61, 64)
            stamp = datetime.fromtimestamp(math.floor(begun), tz=UTC)
            head = (
                f'Trace[{tid}]: "List" accept:application/json, */*,audit-id:{bs.uid(rng)},'
                f"client:{pod.ip},api-group:,api-version:v1,name:,subresource:,namespace:,"
                f"protocol:HTTP/2.0,resource:pods,scope:cluster,url:/api/v1/pods,user-agent:"
                f"{OPERATOR_UA},verb:LIST ({stamp:%d-%b-%Y %H:%M:%S}.{round(begun * 1000) % 1000:03d}) "
                f"(total time: {took * 1000:.0f}ms):"
            )
            b.log(done, api, bs.klog(done, "I", 1, "trace.go:236", head, rng.randint(0, 999)))
            end = datetime.fromtimestamp(math.floor(done), tz=UTC)
            b.log(
                done + 0.000004,
                api,
                f'Trace[{tid}]: ---"Writing http response done" count:{count} '
                f"{took * 1000 - rng.uniform(20, 90):.0f}ms ({end:%H:%M:%S}.{round(done * 1000) % 1000:03d})",
            )
            b.log(done + 0.000008, api, f"Trace[{tid}]: [{took:.9f}s] [{took:.9f}s] END")
        t += 10

    def oplog(ts: float, level: str, message: str, **kv: Any) -> None:
        fields = json.dumps(kv, separators=(", ", ": ")) if kv else ""
        b.log(ts, op, f"{w.rfc3339(ts)}\t{level}\t{message}\t{fields}".rstrip())

    boot = leader - 29.4
    ctl = {
        "controller": "backuppolicy",
        "controllerGroup": "homelab.home.arpa",
        "controllerKind": "BackupPolicy",
    }
    oplog(boot, "INFO", "setup", commit="e41f9a2", version="v0.7.0")
    oplog(boot + 0.02, "INFO", "starting manager")
    oplog(boot + 0.03, "INFO", "controller-runtime.metrics\tStarting metrics server")
    oplog(
        boot + 0.05,
        "INFO",
        "attempting to acquire leader lease homelab-system/5c2e9a1b.homelab.home.arpa...",
    )
    oplog(leader, "INFO", "successfully acquired lease homelab-system/5c2e9a1b.homelab.home.arpa")
    oplog(
        leader + 0.01,
        "INFO",
        "Starting EventSource",
        **ctl,
        source="kind source: *v1alpha1.BackupPolicy",
    )
    oplog(leader + 0.01, "INFO", "Starting Controller", **ctl)
    oplog(leader + 0.11, "INFO", "Starting workers", **ctl, **{"worker count": 4})
    t = leader + 60
    while t < b.end:
        ts = t + rng.random() * 40
        policy = rng.choice(("media-nightly", "db-hourly", "home-daily"))
        oplog(
            ts,
            "ERROR",
            "Reconciler error",
            **ctl,
            BackupPolicy={"name": policy, "namespace": "homelab-system"},
            namespace="homelab-system",
            name=policy,
            reconcileID=bs.uid(rng),
            error="listing pods: the server has received too many requests and has asked us to "
            "try again later (get pods)",
        )
        t += rng.uniform(40, 110)
    etcd = labels_of("etcd", "etcd-node-1", "node-1", "kube-system", "etcd")
    for ts in (leader + 371.6, leader + 733.2):
        took = rng.uniform(0.11, 0.16)
        b.log(
            ts,
            etcd,
            zap(
                ts,
                rng,
                "warn",
                "etcdserver/util.go:170",
                "apply request took too long",
                took=go_seconds(took),
                **{"expected-duration": "100ms"},
                prefix="read-only range ",
                request='key:"/registry/pods/" range_end:"/registry/pods0" ',
                response=f"range_response_count:{rng.randint(61, 64)} size:{rng.randint(331_000, 352_000)}",
            ),
        )


def ssh_11(b: Build, pod: Pod, created: float) -> None:
    node = NODE["node-1"]
    t = b.end - 201.9
    boot = b.start - node.boot_days * 86400
    b.ssh.append(
        w.ssh_record(t, node.name, "uptime", bs.uptime_line(t, boot, 1, (3.12, 3.05, 2.21)))
    )
    age = int((t + 8.4 - created) // 60)
    b.ssh.append(
        w.ssh_record(
            t + 8.4,
            node.name,
            "kubectl get pods -n homelab-system -o wide",
            "NAME                                                  READY   STATUS    RESTARTS   "
            "AGE   IP            NODE     NOMINATED NODE   READINESS GATES\n"
            f"{pod.name}   1/1     Running   0          {age}m   {pod.ip}   {pod.node}   "
            "<none>           <none>\n",
        )
    )


# =========================================================================== 12

PROVISIONER = Pod(
    "local-path-storage",
    "local-path-provisioner-7b9c8d5f6d-x4p8n",
    "10.244.2.7",
    "node-3",
    "local-path-provisioner",
    "local-path-provisioner",
    "docker.io/rancher/local-path-provisioner:v0.0.30",
)


def build_12(out: Path) -> None:
    day = "2025-03-22"
    b = Build(
        "12_storage_provisioner_failure",
        "seed-12",
        day,
        bs.at(day, "10:05:00"),
        bs.at(day, "10:35:00"),
    )
    T = b.at
    dns = [
        bs.coredns_pod("coredns-7c65d6cfc9-c4vwz", "10.244.1.11", "node-2"),
        bs.coredns_pod("coredns-7c65d6cfc9-t9kdr", "10.244.2.15", "node-3"),
    ]
    pods = [*bs.BACKGROUND_PODS, *dns, PROVISIONER]
    uids = bs.pod_uids(b, [*bs.BACKGROUND_PODS, *dns])

    # 10:09: the owner hardens the cluster, labelling every namespace but kube-system with
    # pod-security.kubernetes.io/enforce=baseline. Nothing running is affected. 10:18: they
    # install paperless-ngx; its two claims (local-path, WaitForFirstConsumer) get a node,
    # and local-path-provisioner's hostPath helper pods are now forbidden in its namespace.
    installed = T("10:18:27.512")
    claims = [
        bs.Claim("docs", "paperless-data", bound_at=None, created=installed),
        bs.Claim("docs", "paperless-media", bound_at=None, created=installed + 0.004),
    ]
    b.platform = bs.Platform(claims=[*bs.quiet_claims(), *claims])
    baseline(b, uids, dns)
    bs.platform_telemetry(b)
    claim_uids = {c.name: bs.uid(b.rng("claim", c.name)) for c in claims}
    provisioner_logs(b, installed, claims, claim_uids)
    ssh_12(b, installed, claim_uids)

    # KubernetesPersistentvolumeclaimPending (awesome-prometheus-alerts' kube-state-metrics
    # rules, which this site loads besides kube-prometheus'): for 2m.
    expr = 'kube_persistentvolumeclaim_status_phase{phase="Pending"} == 1\n'
    ksm = bs.ksm_times(b)
    evals = bs.rule_evals(b, "kubernetes-storage")
    entries = []
    for c in claims:
        seen = [t for t in ksm if t >= installed]

        def pending(e: float, seen: list[float] = seen) -> bool:
            return any(e - 300 < t <= e for t in seen)

        starts = bs.fired_at(evals, pending, 120)
        series = {
            "instance": bs.KSM_TARGET,
            "job": "kube-state-metrics",
            "namespace": c.namespace,
            "persistentvolumeclaim": c.name,
            "phase": "Pending",
        }
        shown = {"__name__": "kube_persistentvolumeclaim_status_phase", **series}
        entries.append(
            w.alert_entry(
                bs.kube_alert_labels(
                    {
                        "alertname": "KubernetesPersistentvolumeclaimPending",
                        **series,
                        "severity": "warning",
                    }
                ),
                {
                    "description": f"PersistentVolumeClaim {c.namespace}/{c.name} is pending\n"
                    f"  VALUE = 1\n  LABELS = map[{' '.join(f'{k}:{v}' for k, v in sorted(shown.items()))}]",
                    "summary": f"Kubernetes PersistentVolumeClaim pending ({c.namespace}/{c.name})",
                },
                starts,
                w.generator_url(bs.PROM_URL, expr),
            )
        )
    alert = webhook(
        entries, {"alertname": "KubernetesPersistentvolumeclaimPending", "namespace": "docs"}
    )
    truth = {
        "layer": "storage",
        "fault": "provisioner_failure",
        "component": "local-path-provisioner",
        "explanation": (
            "At 10:09 every namespace except kube-system is labelled "
            "pod-security.kubernetes.io/enforce=baseline, local-path-storage included. At "
            "10:18 paperless-ngx is installed: its claims docs/paperless-data and "
            "docs/paperless-media wait for a volume, and local-path-provisioner's helper pod "
            "(a hostPath mount that creates the volume's directory on node-3) is now "
            "forbidden by Pod Security admission. Every attempt fails ('failed to provision "
            'volume with StorageClass "local-path"\', ProvisioningFailed) and is retried with '
            "back-off; the claims stay Pending and paperless-ngx cannot start. Nodes, disks "
            "(plenty of space), the apiserver and the network are healthy."
        ),
        "red_herrings": [],
    }
    title = "KubernetesPersistentvolumeclaimPending for two claims in docs"
    bs.write(b, meta(b, title, pods, truth), alert, out)


def provisioner_logs(
    b: Build, installed: float, claims: Sequence[bs.Claim], claim_uids: dict[str, str]
) -> None:
    """local-path-provisioner (klog from the provisioner library, logrus from its own code):
    each attempt, its refusal by Pod Security admission, and the library's back-off."""
    rng = b.rng("provisioner")
    labels = labels_of(
        PROVISIONER.app,
        PROVISIONER.name,
        PROVISIONER.node,
        PROVISIONER.namespace,
        "local-path-provisioner",
    )

    def klog(ts: float, level: str, where: str, msg: str) -> None:
        b.log(ts, labels, bs.klog(ts, level, 1, where, msg, rng.randint(0, 999)))

    def logrus(ts: float, msg: str) -> None:
        b.log(ts, labels, f'time="{w.rfc3339(math.floor(ts))}" level=info msg="{msg}"')

    rv = 48_213_377 + rng.randint(0, 90_000)
    for c in claims:
        cu = claim_uids[c.name]
        pv = f"pvc-{cu}"
        helper = f"helper-pod-create-{pv}"
        why = (
            f'pods \\"{helper}\\" is forbidden: violates PodSecurity \\"baseline:latest\\": '
            'hostPath volumes (volume \\"data\\")'
        )
        t = installed + 0.62 + rng.uniform(0.0, 0.05)  # scheduled, node selected
        failures = 0
        backoff = 15.0
        rv += rng.randint(20, 400)
        while t < b.end:
            klog(
                t,
                "I",
                "controller.go:1366",
                f'provision "{c.namespace}/{c.name}" class "local-path": started',
            )
            klog(
                t + 0.0011,
                "I",
                "event.go:389",
                f'"Event occurred" object="{c.namespace}/{c.name}" fieldPath="" kind="PersistentVolumeClaim" '
                f'apiVersion="v1" type="Normal" reason="Provisioning" message="External provisioner is '
                f'provisioning volume for claim \\"{c.namespace}/{c.name}\\""',
            )
            logrus(
                t + 0.0023,
                f"Creating volume {pv} at node-3:/opt/local-path-provisioner/{pv}_{c.namespace}_{c.name}",
            )
            logrus(t + 0.0029, f"create the helper pod {helper} into local-path-storage")
            err = f'failed to provision volume with StorageClass \\"local-path\\": failed to create volume {pv}: {why}'
            done = t + rng.uniform(0.008, 0.02)
            klog(
                done, "W", "controller.go:937", f'Retrying syncing claim "{cu}", failure {failures}'
            )
            klog(
                done + 0.0012,
                "E",
                "controller.go:957",
                f'error syncing claim "{cu}": ' + err.replace('\\"', '"'),
            )
            klog(
                done + 0.0025,
                "I",
                "event.go:389",
                f'"Event occurred" object="{c.namespace}/{c.name}" fieldPath="" kind="PersistentVolumeClaim" '
                f'apiVersion="v1" type="Warning" reason="ProvisioningFailed" message="{err}"',
            )
            failures += 1
            t = done + backoff * rng.uniform(0.98, 1.05)
            backoff = min(backoff * 2, 300.0)


def ssh_12(b: Build, installed: float, claim_uids: dict[str, str]) -> None:
    """The owner on node-1: the claims and their events."""
    t = b.end - 188.3
    age = f"{int((t - installed) // 60)}m"
    b.ssh.append(
        w.ssh_record(
            t,
            "node-1",
            "kubectl get pvc -n docs",
            "NAME              STATUS    VOLUME   CAPACITY   ACCESS MODES   STORAGECLASS   "
            "VOLUMEATTRIBUTESCLASS   AGE\n"
            f"paperless-data    Pending                                      local-path     "
            f"<unset>                 {age}\n"
            f"paperless-media   Pending                                      local-path     "
            f"<unset>                 {age}\n",
        )
    )
    pv = f"pvc-{claim_uids['paperless-data']}"
    why = (
        f'failed to provision volume with StorageClass "local-path": failed to create volume {pv}: '
        f'pods "helper-pod-create-{pv}" is forbidden: violates PodSecurity "baseline:latest": '
        'hostPath volumes (volume "data")'
    )
    prov = "rancher.io/local-path_local-path-provisioner-7b9c8d5f6d-x4p8n_6c1f0a5e-9b3d-4e2a-8f71-0d2c5b9e4a13"
    b.ssh.append(
        w.ssh_record(
            t + 14.2,
            "node-1",
            "kubectl describe pvc -n docs paperless-data",
            "Name:          paperless-data\n"
            "Namespace:     docs\n"
            "StorageClass:  local-path\n"
            "Status:        Pending\n"
            "Volume:        \n"
            "Labels:        app.kubernetes.io/instance=paperless-ngx\n"
            "               app.kubernetes.io/name=paperless-ngx\n"
            "Annotations:   meta.helm.sh/release-name: paperless-ngx\n"
            "               meta.helm.sh/release-namespace: docs\n"
            "               volume.beta.kubernetes.io/storage-provisioner: rancher.io/local-path\n"
            "               volume.kubernetes.io/selected-node: node-3\n"
            "               volume.kubernetes.io/storage-provisioner: rancher.io/local-path\n"
            "Finalizers:    [kubernetes.io/pvc-protection]\n"
            "Capacity:      \n"
            "Access Modes:  \n"
            "VolumeMode:    Filesystem\n"
            "Used By:       paperless-ngx-6d4f8b7c9d-r2w5k\n"
            "Events:\n"
            "  Type     Reason                Age                 From                         Message\n"
            "  ----     ------                ----                ----                         -------\n"
            f"  Normal   WaitForFirstConsumer  {age}                 persistentvolume-controller  "
            "waiting for first consumer to be created before binding\n"
            f"  Normal   ExternalProvisioning  3m1s (x26 over {age})  persistentvolume-controller  "
            "Waiting for a volume to be created either by the external provisioner "
            '"rancher.io/local-path" or manually by the system administrator. If volume creation '
            "is delayed, please verify that the provisioner is running and correctly registered.\n"
            f"  Normal   Provisioning          2m8s (x8 over {age})  {prov}  External provisioner is "
            'provisioning volume for claim "docs/paperless-data"\n'
            f"  Warning  ProvisioningFailed    2m8s (x8 over {age})  {prov}  {why}\n",
        )
    )


# =========================================================================== builders

BUILDERS: dict[str, Callable[[Path], None]] = {
    "06_ingress_timeout_upstream_slow": build_06,
    "07_etcd_slow_disk": build_07,
    "09_certificate_expiry": build_09,
    "11_api_server_latency": build_11,
    "12_storage_provisioner_failure": build_12,
}
