"""The scenario under construction: its clock, its site, and the state of everything observable.

A :class:`Scene` starts as a healthy site over a 30-45 minute window. Faults, their
downstream symptoms and distractors change it only through the state held here (level
and rate profiles, restart and eviction times, extra log lines); the baseline renderer
then writes every series family from that state, whatever changed it. So no fault can
add a series family of its own, and every scenario carries the same families.

Nothing here picks a fault or writes files.
"""

from __future__ import annotations

import hashlib
import math
import random
from dataclasses import dataclass, field, replace
from typing import Any

from tools.scenario import writer as w
from tools.scenario.generate.site import Node, Pod, Site, Switch, k8s_suffix, pod_uid, rs_hash

Profile = w.Profile
STEP = 60.0
"""Scrape interval of every target (seconds)."""


def stable_int(*parts: object) -> int:
    """A hash of ``parts`` that is the same on every run and platform."""
    return int(hashlib.sha256("/".join(map(str, parts)).encode()).hexdigest()[:12], 16)


def const(value: float) -> Profile:
    """A constant profile."""
    return w.constant(value)


def change(
    base: Profile,
    onset: float,
    to: float | Profile,
    *,
    ramp: float = 0.0,
    until: float | None = None,
    how: str = "set",
) -> Profile:
    """``base`` until ``onset``, then moving over ``ramp`` seconds to ``to``.

    ``how``: ``set`` (replace with ``to``), ``add`` (base + ``to``) or ``mul`` (base ×
    ``to``). With ``until``, it returns to ``base`` from then on (over the same ramp).
    """
    target = to if callable(to) else w.constant(float(to))

    def profile(t: float) -> float:
        b = base(t)
        if t < onset:
            return b
        k = 1.0 if ramp <= 0 else min(1.0, (t - onset) / ramp)
        if until is not None and t >= until:
            k = min(k, 0.0 if ramp <= 0 else max(0.0, 1 - (t - until) / ramp))
        if k <= 0:
            return b
        v = target(t)
        new = v if how == "set" else b + v if how == "add" else b * v
        return b + (new - b) * k

    return profile


def wobble(rng: random.Random, amount: float) -> Profile:
    """A slow, smooth multiplicative wander around 1 (``amount`` = relative amplitude)."""
    waves = [(rng.uniform(150, 700), rng.uniform(0, 2 * math.pi)) for _ in range(3)]

    def f(t: float) -> float:
        return 1.0 + amount * sum(math.sin(t / p + ph) for p, ph in waves) / 3

    return f


def inside(intervals: list[tuple[float, float]], t: float) -> bool:
    """Whether ``t`` lies in one of the ``[a, b)`` intervals."""
    return any(a <= t < b for a, b in intervals)


@dataclass
class NodeState:
    """One node's observable state over time."""

    node: Node
    cpu: Profile  # fraction of all cores busy
    mem_avail: Profile  # bytes
    fs_free: Profile  # avail / size of the root filesystem
    inodes_free: Profile  # files_free / files
    disk_busy: Profile  # rate(node_disk_io_time_seconds_total)
    rx_drop: Profile  # packets/s
    rx_err: Profile  # packets/s
    conntrack: Profile  # entries / limit
    mtu: Profile
    icmp_unreach: Profile  # ICMP destination-unreachable sent, per second
    ready: Profile  # 1 Ready, 0 not
    unreachable: list[tuple[float, float]] = field(default_factory=list)  # scrapes fail


@dataclass
class PodState:
    """One pod's (single container's) observable state over time."""

    pod: Pod
    mem: Profile
    cpu: Profile
    throttle: Profile  # share of CFS periods throttled
    created: float | None = None  # None: existed before the window
    deleted: float | None = None
    restarts: list[float] = field(default_factory=list)  # container restarts in the window
    downs: list[tuple[float, float]] = field(default_factory=list)  # container not running
    reasons: list[tuple[float, str]] = field(default_factory=list)  # last terminated reason
    waiting: list[tuple[float, float, str]] = field(default_factory=list)
    evicted: float | None = None
    restarts_before: int = 0

    def exists(self, t: float) -> bool:
        """The pod object exists at ``t`` (kube-state-metrics reports it)."""
        return (self.created is None or t >= self.created) and (
            self.deleted is None or t < self.deleted
        )

    def running(self, t: float) -> bool:
        """The container runs at ``t`` (cAdvisor reports it)."""
        if not self.exists(t) or inside(self.downs, t):
            return False
        return self.evicted is None or t < self.evicted


@dataclass
class PortState:
    """One switch port's counters (rates per second) and link state."""

    index: int
    descr: str
    peer: str
    bcast: Profile
    in_disc: Profile
    out_disc: Profile
    in_err: Profile
    oper: list[tuple[float, int]] = field(default_factory=list)  # (time, new ifOperStatus)


@dataclass
class SwitchState:
    """One switch as SNMP sees it."""

    switch: Switch
    ports: dict[int, PortState]
    tc_rate: Profile  # topology changes per second
    tc_recent: Profile  # 1 while topology changes keep coming
    miss: Profile  # probability that a poll gets no answer


@dataclass
class DnsState:
    """The cluster DNS: offered load and how it fares."""

    qps: Profile  # background queries per second, all pods
    fwd_share: float  # share of queries forwarded upstream
    nxdomain: Profile  # share of answers NXDOMAIN
    upstream_loss: Profile  # share of forwarded queries that time out
    upstream_servfail: Profile  # share of upstream answers that are SERVFAIL
    flood: list[tuple[Pod, Profile]] = field(default_factory=list)  # (client, queries/s)
    misconfig_names: list[str] = field(default_factory=list)  # names now answered NXDOMAIN


@dataclass
class EtcdState:
    """One etcd member."""

    node: Node
    fsync: Profile  # median WAL fsync duration, s
    commit: Profile  # median backend commit duration, s
    has_leader: Profile
    leader_changes: list[float] = field(default_factory=list)


@dataclass
class ApiState:
    """The apiserver: request mix, latency and errors."""

    base: dict[tuple[str, str], float]  # (verb, resource) -> requests/s
    surge: list[tuple[str, str, Profile]] = field(default_factory=list)  # extra requests/s
    latency: Profile = field(default_factory=lambda: const(1.0))  # multiplier on the median
    errors: Profile = field(default_factory=lambda: const(0.0))  # share answered 5xx
    error_code: str = "504"
    throttled: Profile = field(default_factory=lambda: const(0.0))  # share answered 429
    unscraped: list[tuple[float, float]] = field(
        default_factory=list
    )  # Prometheus cannot scrape it


@dataclass
class IngressState:
    """One service behind ingress-nginx."""

    workload: str
    namespace: str
    host: str
    rps: Profile
    latency: Profile  # median request time, s
    errors: Profile  # share answered 5xx
    error_code: str = "502"
    timeouts: Profile = field(default_factory=lambda: const(0.0))  # share timing out upstream


@dataclass
class Cert:
    """One certificate the x509 exporter watches."""

    cn: str
    not_after: float
    labels: dict[str, str]


@dataclass
class Pvc:
    """A PersistentVolumeClaim and its phases over time."""

    namespace: str
    name: str
    phases: list[tuple[float, str]]


@dataclass
class Scene:
    """A site over a window, and everything that happens on it."""

    key: str  # seed/index: the root of every random stream
    site: Site
    start: float
    end: float
    nodes: dict[str, NodeState]
    pods: list[PodState]
    switches: dict[str, SwitchState]
    dns: DnsState
    etcd: list[EtcdState]
    api: ApiState
    ingress: list[IngressState]
    generations: dict[tuple[str, str], list[float]]  # (ns, deployment) -> rollouts
    configmaps: list[tuple[str, str, float | None, float | None]]  # ns, name, created, deleted
    certs: list[Cert]
    pvcs: list[Pvc]
    snmp_interval: float
    logs: list[dict[str, Any]] = field(default_factory=list)
    ssh_extra: dict[tuple[str, str], str] = field(default_factory=dict)  # (host, cmd) -> stdout
    configmap_edits: dict[tuple[str, str], list[float]] = field(default_factory=dict)  # (ns, cm)

    def rng(self, *parts: object) -> random.Random:
        """A random stream of its own for ``parts``."""
        return w.derive_rng(self.key, *parts)

    @property
    def length(self) -> float:
        """Window length, seconds."""
        return self.end - self.start

    def at(self, fraction: float) -> float:
        """The time ``fraction`` of the way through the window."""
        return self.start + fraction * self.length

    def offset(self, target: str) -> float:
        """A target's fixed scrape offset within the interval, as Prometheus spreads them."""
        return float(stable_int("offset", target) % int(STEP))

    def times(self, target: str) -> list[float]:
        """Scrape times of ``target`` over the window."""
        return w.scrape_times(self.start, self.end, STEP, offset_s=self.offset(target))

    def pod(self, name: str) -> PodState:
        """The state of pod ``name``."""
        return next(p for p in self.pods if p.pod.name == name)

    def pods_of(self, workload: str) -> list[PodState]:
        """States of a workload's pods."""
        return [p for p in self.pods if p.pod.workload == workload]

    def pods_on(self, node: str) -> list[PodState]:
        """States of the pods on ``node``."""
        return [p for p in self.pods if p.pod.node == node]

    def log(self, ts: float, labels: dict[str, str], line: str) -> None:
        """Add one log line (kept only inside the window)."""
        if self.start <= ts <= self.end:
            self.logs.append(w.log_record(ts, labels, line))

    def boot(self, node: Node) -> float:
        """When ``node`` booted."""
        return self.start - node.boot_days * 86400


def new_scene(key: str, site: Site, start: float, end: float) -> Scene:
    """A healthy ``site`` over ``[start, end]``: every state at its normal level."""
    rng = w.derive_rng(key, "scene")
    nodes = {}
    for n in site.nodes:
        r = w.derive_rng(key, "node", n.name)
        nodes[n.name] = NodeState(
            node=n,
            cpu=w.scale(const(n.cpu_base), wobble(r, 0.15)),
            mem_avail=const(n.mem * (1 - n.mem_used)),
            fs_free=const(0.95 - n.fs_used),
            inodes_free=const(1 - n.inode_used),
            disk_busy=w.scale(const(n.disk_busy), wobble(r, 0.3)),
            rx_drop=const(r.choice((0.0, 0.0, 0.01, 0.03))),
            rx_err=const(0.0),
            conntrack=w.scale(const(n.conntrack), wobble(r, 0.1)),
            mtu=const(1500.0),
            icmp_unreach=const(r.uniform(0.0, 0.05)),
            ready=const(1.0),
        )
    pods = []
    for p in site.pods:
        r = w.derive_rng(key, "pod", p.name)
        ps = PodState(
            pod=p,
            mem=w.add(const(p.mem), _drift(r.uniform(-0.02, 0.03) * p.mem / 3600, start)),
            cpu=w.scale(const(p.cpu), wobble(r, 0.2)),
            throttle=const(r.uniform(0.0, 0.04)),
        )
        pods.append(ps)
    # A background pod that restarted days ago: last terminated reason from before.
    apps = [ps for ps in pods if ps.pod.namespace not in ("kube-system",)]
    old = rng.choice(apps)
    old.restarts_before = rng.randint(1, 4)
    old.reasons.append(
        (
            start - rng.uniform(1, 6) * 86400,
            rng.choice(("Error", "Error", "Completed", "OOMKilled")),
        )
    )
    pods += _extra_pods(key, site, start, end, pods)
    switches = {}
    for s in site.switches:
        r = w.derive_rng(key, "switch", s.name)
        ports = {
            p.index: PortState(
                p.index,
                p.descr,
                p.peer,
                bcast=w.scale(const(p.bcast), wobble(r, 0.2)),
                in_disc=const(r.choice((0.0, 0.0, 0.0, 0.002))),
                out_disc=const(r.choice((0.0, 0.0, 0.001))),
                in_err=const(0.0),
                oper=[] if p.peer else [(start - 86400.0, 2)],
            )
            for p in s.ports
        }
        switches[s.name] = SwitchState(s, ports, const(0.0), const(0.0), const(0.01))
    r = w.derive_rng(key, "dns")
    dns = DnsState(
        qps=w.scale(const(r.uniform(18, 70)), wobble(r, 0.12)),
        fwd_share=r.uniform(0.18, 0.4),
        nxdomain=const(r.uniform(0.18, 0.34)),
        upstream_loss=const(0.0),
        upstream_servfail=const(r.uniform(0.0, 0.004)),
    )
    cp = site.control_plane
    etcd = [
        EtcdState(
            cp, const(rng.uniform(0.0015, 0.004)), const(rng.uniform(0.004, 0.012)), const(1.0)
        )
    ]
    api = ApiState(
        base={
            ("GET", "leases"): rng.uniform(1.5, 4.0),
            ("PUT", "leases"): rng.uniform(1.5, 4.0),
            ("GET", "configmaps"): rng.uniform(0.2, 1.0),
            ("LIST", "pods"): rng.uniform(0.05, 0.3),
            ("LIST", "endpointslices"): rng.uniform(0.05, 0.2),
            ("GET", "nodes"): rng.uniform(0.5, 1.5),
            ("PATCH", "nodes"): rng.uniform(0.1, 0.3),
            ("WATCH", "pods"): rng.uniform(0.01, 0.05),
        }
    )
    ingress = [
        IngressState(
            wl.name,
            wl.namespace,
            wl.host or "",
            rps=w.scale(
                const(rng.uniform(0.3, 6.0)), wobble(w.derive_rng(key, "ing", wl.name), 0.25)
            ),
            latency=const(rng.uniform(0.015, 0.12)),
            errors=const(rng.uniform(0.0, 0.004)),
        )
        for wl in site.exposed
    ]
    generations: dict[tuple[str, str], list[float]] = {
        (wl.namespace, wl.name): [] for wl in site.workloads if wl.kind == "Deployment"
    }
    configmaps: list[tuple[str, str, float | None, float | None]] = []
    for ns_, cm in (
        ("kube-system", "coredns"),
        ("kube-system", "kube-proxy"),
        ("ingress-nginx", "ingress-nginx-controller"),
        *((wl.namespace, f"{wl.name}-config") for wl in site.apps),
    ):
        configmaps.append((ns_, cm, None, None))
    certs = _certs(site, start, rng)
    pvcs = [
        Pvc(ns, name, [(start - rng.uniform(5, 200) * 86400, "Bound")]) for ns, name, _ in site.pvcs
    ]
    return Scene(
        key=key,
        site=site,
        start=start,
        end=end,
        nodes=nodes,
        pods=pods,
        switches=switches,
        dns=dns,
        etcd=etcd,
        api=api,
        ingress=ingress,
        generations=generations,
        configmaps=configmaps,
        certs=certs,
        pvcs=pvcs,
        snmp_interval=float(rng.choice((30, 45, 60))),
    )


def _drift(per_s: float, start: float) -> Profile:
    return lambda t: per_s * (t - start)


def _extra_pods(
    key: str, site: Site, start: float, end: float, pods: list[PodState]
) -> list[PodState]:
    """Pods every site has lying around: an evicted pod from days ago that nobody deleted,
    and a CronJob run that starts (ContainerCreating for a scrape or so) and completes."""
    rng = w.derive_rng(key, "extra-pods")
    out = []
    donors = [
        p
        for p in pods
        if p.pod.workload in {wl.name for wl in site.workloads if wl.kind == "Deployment"}
        and p.pod.namespace not in ("kube-system",)
    ]
    donor = rng.choice(donors)
    rs = donor.pod.name.rsplit("-", 2)[1] if donor.pod.name.count("-") >= 2 else rs_hash(rng)
    old = replace(
        donor.pod, name=f"{donor.pod.workload}-{rs}-{k8s_suffix(rng, 5)}", ip="", uid=pod_uid(rng)
    )
    out.append(
        PodState(
            pod=old,
            mem=const(0.0),
            cpu=const(0.0),
            throttle=const(0.0),
            evicted=start - rng.uniform(1, 9) * 86400,
        )
    )
    name = rng.choice(("restic-backup", "nextcloud-cron", "descheduler", "cert-check", "db-vacuum"))
    node = rng.choice(site.nodes)
    ksm_times = w.scrape_times(
        start, end, STEP, offset_s=float(stable_int("offset", "kube-state-metrics") % 60)
    )
    scrape = rng.choice([t for t in ksm_times if start + 180 < t < start + 1500])
    created = scrape - rng.uniform(1, 6)
    sched = int(created // 60)
    used = {p.pod.ip for p in pods}
    ip = next(
        f"{node.pod_net}.{x}"
        for x in rng.sample(range(2, 251), 249)
        if f"{node.pod_net}.{x}" not in used
    )
    job = Pod(
        name=f"{name}-{sched}-{k8s_suffix(rng, 5)}",
        namespace=rng.choice(("backup", "cloud", "kube-system", "db")),
        ip=ip,
        node=node.name,
        workload=name,
        container=name.split("-")[0],
        image=f"docker.io/library/{name}:1.0",
        mem=rng.uniform(30, 200) * 2**20,
        mem_limit=512 * 2**20,
        cpu=rng.uniform(0.1, 0.6),
        cpu_limit=1.0,
        app=name,
        uid=pod_uid(rng),
    )
    ready = scrape + rng.uniform(1, 15)
    done = ready + rng.uniform(60, 300)
    ps = PodState(
        pod=job,
        mem=const(job.mem),
        cpu=const(job.cpu),
        throttle=const(rng.uniform(0.0, 0.1)),
        created=created,
    )
    ps.waiting.append((created, ready, "ContainerCreating"))
    ps.downs += [(created, ready), (done, end + 1)]
    out.append(ps)
    return out


def _certs(site: Site, start: float, rng: random.Random) -> list[Cert]:
    """kubeadm's certificates (one year from the cluster's init or last renewal) and an
    ingress certificate from cert-manager (90 days), as the x509 exporter reports them."""
    renewed = start - rng.uniform(20, 330) * 86400
    year = 365 * 86400
    pki = "/etc/kubernetes/pki"
    out = [
        Cert(
            "kube-apiserver",
            renewed + year,
            {"filepath": f"{pki}/apiserver.crt", "issuer_CN": "kubernetes"},
        ),
        Cert(
            "kube-apiserver-etcd-client",
            renewed + year,
            {"filepath": f"{pki}/apiserver-etcd-client.crt", "issuer_CN": "etcd-ca"},
        ),
        Cert(
            "kube-apiserver-kubelet-client",
            renewed + year,
            {"filepath": f"{pki}/apiserver-kubelet-client.crt", "issuer_CN": "kubernetes"},
        ),
        Cert(
            "front-proxy-client",
            renewed + year,
            {"filepath": f"{pki}/front-proxy-client.crt", "issuer_CN": "front-proxy-ca"},
        ),
        Cert(
            "kubernetes",
            renewed + 9 * year,
            {"filepath": f"{pki}/ca.crt", "issuer_CN": "kubernetes"},
        ),
    ]
    host = next((wl.host for wl in site.exposed), None) or f"www.{site.domain}"
    ns = next((wl.namespace for wl in site.exposed), "default")
    issued = start - rng.uniform(5, 60) * 86400
    out.append(
        Cert(
            host,
            issued + 90 * 86400,
            {
                "secret_namespace": ns,
                "secret_name": f"{host.split('.')[0]}-tls",
                "issuer_CN": "R11",
            },
        )
    )
    return out
