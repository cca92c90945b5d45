#!/usr/bin/env python3
"""Regenerate the seed scenarios, byte for byte.

    .venv/bin/python scenarios/build_seed.py            # writes the three directories
    .venv/bin/python scenarios/build_seed.py --check    # exits 1 if any file would change

Every number comes from a seeded ``random.Random`` (one stream per series), so running it
twice gives identical files. The three incidents share one site: a three-node kubeadm
cluster (flannel, pod CIDR 10.244.N.0/24, kube-dns 10.96.0.10) on switch sw1, the home
router 10.0.0.1 as upstream DNS. Every recording is made the same way: metrics scraped
every 60 s, sw1 polled every 30 s, the same series, OIDs and log streams.

Only ``scenario.yaml``'s ``ground_truth`` says what happened; series names, labels, log
lines and file names are what the site's exporters would have produced anyway.
"""

from __future__ import annotations

import argparse
import hashlib
import itertools
import math
import sys
import uuid
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent))

from tools.scenario import writer as w  # noqa: E402

Profile = w.Profile
MiB = 1024**2
GiB = 1024**3
KSAFE = "bcdfghjklmnpqrstvwxz2456789"  # Kubernetes' name-suffix alphabet


# =========================================================================== the site


@dataclass(frozen=True)
class Node:
    name: str
    ip: str
    port: int  # sw1 ifIndex
    pod_net: str  # "10.244.1"
    mac: str
    cpus: int
    mem: int
    boot_days: float  # uptime at the start of each scenario, days
    cpu_base: float  # cores busy in normal operation
    avail_base: float  # MemAvailable bytes in normal operation
    fs_used: float  # fraction of the root filesystem used (reserved 5% on top)


NODES = (
    Node(
        "node-1",
        "10.0.0.11",
        1,
        "10.244.0",
        "58:47:ca:71:0e:41",
        4,
        16 * GiB,
        23.4,
        0.95,
        9.6 * GiB,
        0.41,
    ),
    Node(
        "node-2",
        "10.0.0.12",
        2,
        "10.244.1",
        "58:47:ca:71:0e:42",
        4,
        16 * GiB,
        23.4,
        0.62,
        11.1 * GiB,
        0.38,
    ),
    Node(
        "node-3",
        "10.0.0.13",
        3,
        "10.244.2",
        "58:47:ca:71:1f:07",
        4,
        16 * GiB,
        11.9,
        0.84,
        7.8 * GiB,
        0.47,
    ),
)
NODE = {n.name: n for n in NODES}
KUBELET_PID = {"node-1": 1042, "node-2": 874, "node-3": 912}
ROUTER = "10.0.0.1"
KUBE_DNS = "10.96.0.10"
FS_SIZE = 250_375_106_560  # ext4 on a 256 GB NVMe
FS_FILES = 15_597_568
PROM_URL = "http://prometheus.home.arpa"
AM_URL = "http://alertmanager.home.arpa"
CLUSTER = "homelab"
SWITCH_ADDR = {"sw1": "10.0.0.2"}
SEARCH = ("svc.cluster.local", "cluster.local", "home.arpa")  # after "<ns>.svc.cluster.local"


@dataclass(frozen=True)
class Pod:
    namespace: str
    name: str
    ip: str
    node: str
    app: str
    container: str
    image: str
    owner_kind: str = "ReplicaSet"
    mem: float = 100 * MiB  # working set
    mem_limit: float | None = None
    cpu: float = 0.02  # cores
    cpu_limit: float | None = None
    restarts: int = 0
    last_reason: str | None = None  # last terminated reason from before the window

    @property
    def owner(self) -> str:
        if self.owner_kind == "StatefulSet":
            return self.name.rsplit("-", 1)[0]
        if self.owner_kind == "Job":
            return self.name.rsplit("-", 1)[0]
        return self.name.rsplit("-", 1)[0]


@dataclass(frozen=True)
class Lookup:
    """A name an application resolves (as it asks for it) and how often, relatively."""

    name: str
    weight: float
    exists: str  # the candidate that has records: "ns" (<name>.<ns>.svc...), "svc", "abs"


@dataclass(frozen=True)
class Client:
    pod: Pod
    weight: float  # share of the background DNS traffic
    lookups: tuple[Lookup, ...]
    ndots: int = 5  # the pod's resolv.conf (dnsConfig may lower it)


BACKGROUND_PODS = (
    Pod(
        "monitoring",
        "grafana-6c8f7b9d54-lz2kq",
        "10.244.2.11",
        "node-3",
        "grafana",
        "grafana",
        "docker.io/grafana/grafana:11.3.1",
        mem=212 * MiB,
        mem_limit=512 * MiB,
        cpu=0.03,
        cpu_limit=0.5,
    ),
    Pod(
        "monitoring",
        "prometheus-k8s-0",
        "10.244.2.9",
        "node-3",
        "prometheus",
        "prometheus",
        "quay.io/prometheus/prometheus:v2.54.1",
        owner_kind="StatefulSet",
        mem=1.31 * GiB,
        mem_limit=4 * GiB,
        cpu=0.22,
    ),
    Pod(
        "home",
        "home-assistant-0",
        "10.244.1.20",
        "node-2",
        "home-assistant",
        "home-assistant",
        "ghcr.io/home-assistant/home-assistant:2024.11.3",
        owner_kind="StatefulSet",
        mem=640 * MiB,
        mem_limit=2 * GiB,
        cpu=0.09,
        restarts=2,
        last_reason="Error",
    ),
    Pod(
        "media",
        "immich-server-7d5c6b8f9-h4k2m",
        "10.244.1.33",
        "node-2",
        "immich-server",
        "immich-server",
        "ghcr.io/immich-app/immich-server:v1.121.0",
        mem=505 * MiB,
        mem_limit=4 * GiB,
        cpu=0.05,
    ),
    Pod(
        "ingress-nginx",
        "ingress-nginx-controller-5c9d7f8b6-t4r8s",
        "10.244.0.8",
        "node-1",
        "ingress-nginx",
        "controller",
        "registry.k8s.io/ingress-nginx/controller:v1.11.3",
        mem=154 * MiB,
        mem_limit=512 * MiB,
        cpu=0.03,
    ),
    Pod(
        "db",
        "postgres-0",
        "10.244.2.21",
        "node-3",
        "postgres",
        "postgres",
        "docker.io/library/postgres:16.6",
        owner_kind="StatefulSet",
        mem=702 * MiB,
        mem_limit=2 * GiB,
        cpu=0.05,
    ),
)
BG = {p.app: p for p in BACKGROUND_PODS}

BACKGROUND_CLIENTS = (
    Client(
        BG["grafana"],
        12,
        (
            Lookup("prometheus-k8s.monitoring", 4, "svc"),
            Lookup("loki", 3, "ns"),
            Lookup("grafana.com", 0.3, "abs"),
        ),
    ),
    Client(
        BG["prometheus"],
        9,
        (Lookup("alertmanager-main", 3, "ns"), Lookup("kube-state-metrics", 1, "ns")),
    ),
    Client(
        BG["home-assistant"],
        17,
        (
            Lookup("mosquitto.home", 5, "svc"),
            Lookup("postgres.db", 3, "svc"),
            Lookup("api.met.no", 4, "abs"),
            Lookup("api.openweathermap.org", 3, "abs"),
            Lookup("time.cloudflare.com", 2, "abs"),
            Lookup("alexa.amazon.com", 2, "abs"),
        ),
        ndots=2,
    ),
    Client(
        BG["immich-server"],
        13,
        (
            Lookup("immich-postgres", 4, "ns"),
            Lookup("immich-redis", 5, "ns"),
            Lookup("immich-machine-learning", 1, "ns"),
        ),
    ),
    Client(
        BG["ingress-nginx"],
        8,
        (
            Lookup("nextcloud.cloud", 2, "svc"),
            Lookup("grafana.monitoring", 2, "svc"),
            Lookup("immich-server.media", 2, "svc"),
        ),
    ),
    Client(BG["postgres"], 2, (Lookup("postgres-0.postgres.db.svc.cluster.local", 1, "abs"),)),
)

# Forwarded names are cached; this share of them reaches the upstream.
FWD_MISS = 0.35


# =========================================================================== helpers


def at(day: str, hms: str) -> float:
    """Unix seconds of ``day`` (YYYY-MM-DD) ``hms`` (HH:MM:SS[.fff]) UTC."""
    return w.to_unix(f"{day}T{hms}Z")


def stable_int(*parts: object) -> int:
    digest = hashlib.sha256("/".join(str(p) for p in parts).encode()).hexdigest()
    return int(digest[:12], 16)


def scrape_offset(target: str, interval: float) -> float:
    """Prometheus spreads targets over the interval by a hash of the target."""
    return (stable_int("offset", target) % int(interval * 1000)) / 1000


def k8s_suffix(rng: Any, n: int) -> str:
    return "".join(rng.choice(KSAFE) for _ in range(n))


def hexid(rng: Any, n: int = 64) -> str:
    return "".join(rng.choice("0123456789abcdef") for _ in range(n))


def uid(rng: Any) -> str:
    return str(uuid.UUID(int=rng.getrandbits(128), version=4))


def klog(ts: float, level: str, pid: int, where: str, msg: str, micros: int) -> str:
    """A klog header line: ``I1214 02:56:41.512003     874 file.go:123] msg``."""
    dt = datetime.fromtimestamp(math.floor(ts), tz=UTC)
    us = (round(ts * 1000) % 1000) * 1000 + micros % 1000
    return f"{level}{dt:%m%d %H:%M:%S}.{us:06d} {pid:>7} {where}] {msg}"


def dmesg(ts: float, boot: float, msg: str, micros: int) -> str:
    up = ts - boot
    return f"[{int(up):>7d}.{(round((up % 1) * 1000) * 1000 + micros % 1000) % 1000000:06d}] {msg}"


def uptime_line(ts: float, boot: float, users: int, load: tuple[float, float, float]) -> str:
    """What ``uptime`` prints at ``ts`` for a machine booted at ``boot``."""
    up = int(ts - boot)
    days, rest = divmod(up, 86400)
    hours, minutes = rest // 3600, rest % 3600 // 60
    clock = datetime.fromtimestamp(math.floor(ts), tz=UTC).strftime("%H:%M:%S")
    loads = ", ".join(f"{x:.2f}" for x in load)
    return (
        f" {clock} up {days} days, {hours:2d}:{minutes:02d},  {users} user,  "
        f"load average: {loads}\n"
    )


def value_at(points: Sequence[w.Point], ts: float) -> float:
    """The last sample at or before ``ts`` (the first one if none)."""
    best = points[0][1]
    for t, v in points:
        if t > ts:
            break
        best = v
    return best


def gaps(*intervals: tuple[float, float]) -> Callable[[float], bool]:
    """True outside every ``[start, end)``."""
    return lambda t: not any(a <= t < b for a, b in intervals)


# =========================================================================== DNS model


@dataclass(frozen=True)
class Query:
    qname: str
    qtype: str
    rcode: str
    fwd: bool  # answered by forwarding upstream (else by the kubernetes plugin)


def expand(lookup: Lookup, namespace: str, ndots: int = 5) -> list[Query]:
    """The queries a glibc stub (search <ns>.svc.cluster.local svc.cluster.local
    cluster.local home.arpa) sends for one lookup, A and AAAA in parallel."""
    name = lookup.name
    search = (f"{namespace}.svc.cluster.local", *SEARCH)
    if name.endswith("."):
        candidates = [name]
    else:
        candidates = [f"{name}.{s}." for s in search]
        if name.count(".") >= ndots:
            candidates.insert(0, f"{name}.")
        else:
            candidates.append(f"{name}.")
    target = {
        "ns": f"{name}.{namespace}.svc.cluster.local.",
        "svc": f"{name}.svc.cluster.local.",
        "abs": name if name.endswith(".") else f"{name}.",
    }[lookup.exists]
    out: list[Query] = []
    for cand in candidates:
        local = cand.endswith(".cluster.local.")
        found = cand == target
        for qtype in ("A", "AAAA"):
            out.append(Query(cand, qtype, "NOERROR" if found else "NXDOMAIN", not local))
        if found:
            break
    return out


def client_mix(client: Client) -> list[tuple[Query, float]]:
    """(query, queries per lookup-weight) for one client."""
    total = sum(lk.weight for lk in client.lookups)
    out: list[tuple[Query, float]] = []
    for lk in client.lookups:
        for q in expand(lk, client.pod.namespace, client.ndots):
            out.append((q, lk.weight / total))
    return out


@dataclass
class Mix:
    """Queries per second by client, and their composition."""

    entries: list[tuple[str, Query, float]]  # (client ip, query, relative weight)

    @property
    def total(self) -> float:
        return sum(x for _, _, x in self.entries)

    def share(self, pred: Callable[[Query], bool]) -> float:
        tot = self.total
        return sum(x for _, q, x in self.entries if pred(q)) / tot if tot else 0.0


def mix_of(clients: Iterable[tuple[Client, float]]) -> Mix:
    """``clients``: (client, lookups weight); entries normalised to sum 1."""
    entries: list[tuple[str, Query, float]] = []
    for client, weight in clients:
        for q, x in client_mix(client):
            entries.append((client.pod.ip, q, weight * x))
    m = Mix(entries)
    tot = m.total
    return Mix([(ip, q, x / tot) for ip, q, x in entries])


def wire_len(qname: str) -> int:
    return len(qname) + 1


def query_log_line(rng: Any, ip: str, q: Query, *, servfail: bool, slow: bool) -> str:
    """A CoreDNS ``log`` plugin line (Common Log Format of the plugin)."""
    edns = q.fwd and rng.random() < 0.3
    req = 12 + wire_len(q.qname) + 4 + (11 if edns else 0)
    bufsize = 1232 if edns else 512
    port = rng.randint(32768, 60999)
    qid = rng.randint(0, 65535)
    if servfail:
        rcode, flags, size = "SERVFAIL", "qr,rd", req
        dur = 2.0 + rng.random() * 0.004
    elif q.fwd:
        rcode = q.rcode
        flags = "qr,rd,ra"
        answers = rng.choice((1, 1, 2, 4)) if q.rcode == "NOERROR" and q.qtype == "A" else 0
        size = req + (16 * answers if answers else 64 + rng.randint(0, 40))
        dur = rng.uniform(0.004, 0.045) if rng.random() < FWD_MISS else rng.uniform(3e-5, 1.5e-4)
    else:
        rcode = q.rcode
        flags = "qr,aa,rd"
        size = req + (wire_len(q.qname) + 14 if q.rcode == "NOERROR" and q.qtype == "A" else 93)
        dur = rng.uniform(4e-5, 2.6e-4)
    if slow and not servfail:
        dur *= rng.uniform(8, 60)
    return (
        f'[INFO] {ip}:{port} - {qid} "{q.qtype} IN {q.qname} udp {req} false {bufsize}" '
        f"{rcode} {flags} {size} {dur:.9f}s"
    )


# =========================================================================== builder


@dataclass
class Build:
    sid: str
    seed: str
    day: str
    start: float
    end: float
    om: w.OpenMetricsWriter = field(default_factory=w.OpenMetricsWriter)
    logs: list[dict[str, Any]] = field(default_factory=list)
    snmp: list[dict[str, Any]] = field(default_factory=list)
    ssh: list[dict[str, Any]] = field(default_factory=list)
    failed: dict[str, set[float]] = field(default_factory=dict)  # target -> failed scrapes
    cpu_modes: tuple[str, ...] = ("idle", "softirq", "system", "user")
    platform: Platform | None = None  # None: a quiet night (see platform_telemetry)
    platform_done: bool = False

    def rng(self, *parts: object) -> Any:
        return w.derive_rng(self.seed, *parts)

    def at(self, hms: str) -> float:
        return at(self.day, hms)

    @staticmethod
    def interval(target: str) -> float:
        """The site scrapes every target every 60 s (Prometheus' default)."""
        del target
        return 60.0

    def times(self, target: str) -> list[float]:
        step = self.interval(target)
        return w.scrape_times(self.start, self.end, step, offset_s=scrape_offset(target, step))

    def ok(self, target: str, pts: Sequence[w.Point]) -> list[w.Point]:
        bad = self.failed.get(target, set())
        return [p for p in pts if p[0] not in bad]

    def ok_times(self, target: str, times: Sequence[float]) -> list[float]:
        bad = self.failed.get(target, set())
        return [t for t in times if t not in bad]

    def log(self, ts: float, labels: dict[str, str], line: str) -> None:
        if self.start <= ts <= self.end:
            self.logs.append(w.log_record(ts, labels, line))

    def up(
        self,
        job: str,
        instance: str,
        target: str,
        extra: dict[str, str] | None = None,
        alive: Callable[[float], bool] | None = None,
    ) -> None:
        bad = self.failed.get(target, set())
        pts = [
            (t, 0.0 if t in bad or (alive is not None and not alive(t)) else 1.0)
            for t in self.times(target)
        ]
        self.om.gauge("up", "", {"instance": instance, "job": job, **(extra or {})}, pts)

    def fail_scrapes(self, target: str, window: tuple[float, float], prob: float) -> None:
        rng = self.rng("scrape-fail", target)
        bad = self.failed.setdefault(target, set())
        prev_bad = False
        for t in self.times(target):
            if window[0] <= t < window[1] and not prev_bad and rng.random() < prob:
                bad.add(t)
                prev_bad = True
            else:
                prev_bad = False


# --------------------------------------------------------------------------- node exporter


@dataclass
class NodeLoad:
    """Scenario-specific adjustments to one node's normal behaviour."""

    cpu_extra: Profile = field(default_factory=lambda: w.constant(0.0))  # cores
    softirq_extra: Profile = field(default_factory=lambda: w.constant(0.0))  # cores
    mem_extra: Profile = field(default_factory=lambda: w.constant(0.0))  # bytes used
    rx_extra: Profile = field(default_factory=lambda: w.constant(0.0))  # bytes/s
    rx_drop: Profile = field(default_factory=lambda: w.constant(0.04))  # packets/s
    fs_used: float | None = None
    fs_growth: float = 2_000.0  # bytes/s
    fs_extra: Profile = field(default_factory=lambda: w.constant(0.0))  # bytes used, +/-
    rx_errs: Profile = field(default_factory=lambda: w.constant(0.0))  # frames/s
    io_extra: Profile = field(default_factory=lambda: w.constant(0.0))  # busy s/s


def _noisy(profile: Profile, noise: dict[float, float]) -> Profile:
    return lambda t: min(0.99, profile(t) * noise.get(t, 1.0))


def _cpu_mode_rates(busy: Profile, soft: Profile, shares: dict[str, float]) -> dict[str, Profile]:
    """Seconds per second spent in each mode by one CPU; idle takes the rest."""

    def work(t: float) -> float:
        return max(0.0, busy(t) - soft(t))

    return {
        "idle": lambda t: 1 - busy(t),
        "user": lambda t: work(t) * shares["user"],
        "system": lambda t: work(t) * shares["system"] + soft(t) * 0.15,
        "softirq": lambda t: work(t) * 0.03 + soft(t) * 0.85,
    }


def node_exporter(b: Build, node: Node, load: NodeLoad) -> None:
    target = f"{node.name}:9100"
    base = {"instance": target, "job": "node-exporter"}
    times = b.times(target)
    keep: Callable[[list[w.Point]], list[w.Point]] = lambda pts: b.ok(target, pts)  # noqa: E731
    boot = b.start - node.boot_days * 86400
    uptime0 = b.start - boot
    b.up("node-exporter", target, target)

    # CPU: per cpu and mode; idle carries the rest of each second.
    shares = {"user": 0.62, "system": 0.26, "iowait": 0.04}
    for cpu in range(node.cpus):
        rng = b.rng(node.name, "cpu", cpu)
        bias = 0.75 + 0.5 * rng.random()
        busy_prof = w.clamp(
            w.add(
                w.scale(w.add(w.constant(node.cpu_base), load.cpu_extra), bias / node.cpus),
                w.scale(load.softirq_extra, 1 / node.cpus),
            ),
            0.0,
            0.99,
        )
        noise = {t: max(0.0, 1 + rng.gauss(0, 0.12)) for t in times}
        rates = _cpu_mode_rates(
            _noisy(busy_prof, noise), w.scale(load.softirq_extra, 1 / node.cpus), shares
        )
        start_frac = {"idle": 0.8, "user": 0.12, "system": 0.05, "softirq": 0.006}
        for mode in b.cpu_modes:
            rate = rates[mode]
            pts = w.counter_series(
                b.rng(node.name, "cpu", cpu, mode),
                times,
                rate,
                start=uptime0 * start_frac[mode] * (0.9 + 0.2 * rng.random()),
                integer=False,
            )
            b.om.counter(
                "node_cpu_seconds_total",
                "Seconds the CPUs spent in each mode.",
                {**base, "cpu": str(cpu), "mode": mode},
                keep([(t, round(v, 2)) for t, v in pts]),
            )

    # Memory.
    b.om.gauge(
        "node_memory_MemTotal_bytes",
        "Memory information field MemTotal_bytes.",
        base,
        keep([(t, float(node.mem)) for t in times]),
    )
    avail = w.gauge_series(
        b.rng(node.name, "memavail"),
        times,
        lambda t: node.avail_base - load.mem_extra(t),
        rel_noise=0.004,
        integer=True,
    )
    b.om.gauge(
        "node_memory_MemAvailable_bytes",
        "Memory information field MemAvailable_bytes.",
        base,
        keep(avail),
    )

    # Root filesystem.
    fs = {**base, "device": "/dev/nvme0n1p2", "fstype": "ext4", "mountpoint": "/"}
    used = (load.fs_used if load.fs_used is not None else node.fs_used) * FS_SIZE
    grow = w.counter_series(b.rng(node.name, "fsgrow"), times, load.fs_growth, jitter=0.8)
    avail_fs = [
        (t, float(max(0, int(FS_SIZE * 0.95 - used - g - load.fs_extra(t))) // 4096 * 4096))
        for t, g in grow
    ]
    b.om.gauge(
        "node_filesystem_avail_bytes",
        "Filesystem space available to non-root users in bytes.",
        fs,
        keep(avail_fs),
    )
    b.om.gauge(
        "node_filesystem_size_bytes",
        "Filesystem size in bytes.",
        fs,
        keep([(t, float(FS_SIZE)) for t in times]),
    )
    b.om.gauge(
        "node_filesystem_files",
        "Filesystem total file nodes.",
        fs,
        keep([(t, float(FS_FILES)) for t in times]),
    )
    files_free = w.gauge_series(
        b.rng(node.name, "inodes"),
        times,
        FS_FILES * (0.955 - 0.2 * node.fs_used),
        noise=40,
        integer=True,
    )
    b.om.gauge(
        "node_filesystem_files_free", "Filesystem total free file nodes.", fs, keep(files_free)
    )

    # Network (eth0).
    nic = {**base, "device": "eth0"}
    rng = b.rng(node.name, "net")
    rx_base = 1.2e6 + 2.5e6 * rng.random()
    tx_base = 0.8e6 + 1.8e6 * rng.random()
    for name, helptext, rate, start, jit in (
        (
            "node_network_receive_bytes_total",
            "Network device statistic receive_bytes.",
            w.add(w.constant(rx_base), load.rx_extra),
            uptime0 * rx_base * 0.9,
            0.25,
        ),
        (
            "node_network_transmit_bytes_total",
            "Network device statistic transmit_bytes.",
            w.constant(tx_base),
            uptime0 * tx_base * 0.9,
            0.25,
        ),
        (
            "node_network_receive_drop_total",
            "Network device statistic receive_drop.",
            load.rx_drop,
            uptime0 * 0.04,
            0.5,
        ),
        (
            "node_network_receive_errs_total",
            "Network device statistic receive_errs.",
            load.rx_errs,
            0.0,
            0.3,
        ),
    ):
        pts = w.counter_series(
            b.rng(node.name, name), times, rate, start=float(int(start)), jitter=jit
        )
        b.om.counter(name, helptext, nic, keep(pts))

    # Disk and conntrack.
    disk = w.counter_series(
        b.rng(node.name, "io"),
        times,
        0.03 + 0.04 * rng.random(),
        start=uptime0 * 0.05,
        jitter=0.4,
        integer=False,
    )
    # Extra busy time is steady (a saturated device stays saturated), and a device is never
    # busy for longer than the time that passed.
    extra = w.counter_series(
        b.rng(node.name, "io-extra"), times, load.io_extra, jitter=0.03, integer=False
    )
    steps = zip(itertools.pairwise(disk), itertools.pairwise(extra), strict=True)
    busy = [disk[0][1] + extra[0][1]] if disk else []
    for ((t0, v0), (t1, v1)), ((_, x0), (_, x1)) in steps:
        busy.append(busy[-1] + min(v1 - v0 + x1 - x0, (t1 - t0) * 0.9995))
    disk = [(t, v) for (t, _), v in zip(disk, busy, strict=True)]
    b.om.counter(
        "node_disk_io_time_seconds_total",
        "Total seconds spent doing I/Os.",
        {**base, "device": "nvme0n1"},
        keep([(t, round(v, 3)) for t, v in disk]),
    )
    ct = w.gauge_series(
        b.rng(node.name, "ct"), times, 2500 + 6000 * rng.random(), rel_noise=0.05, integer=True
    )
    b.om.gauge(
        "node_nf_conntrack_entries",
        "Number of currently allocated flow entries for connection tracking.",
        base,
        keep(ct),
    )
    b.om.gauge(
        "node_nf_conntrack_entries_limit",
        "Maximum size of connection tracking table.",
        base,
        keep([(t, 262144.0) for t in times]),
    )


# --------------------------------------------------------------------------- kubelet / cAdvisor


def cadvisor(
    b: Build,
    pod: Pod,
    *,
    mem: Profile | None = None,
    cpu: Profile | None = None,
    alive: Callable[[float], bool] | None = None,
    resets: Sequence[float] = (),
    throttle: Profile | None = None,
) -> None:
    node = NODE[pod.node]
    target = f"{node.ip}:10250/metrics/cadvisor"
    times = [t for t in b.times(target) if alive is None or alive(t)]
    times = b.ok_times(target, times)
    labels = {
        "container": pod.container,
        "endpoint": "https-metrics",
        "image": pod.image,
        "instance": f"{node.ip}:10250",
        "job": "kubelet",
        "metrics_path": "/metrics/cadvisor",
        "namespace": pod.namespace,
        "node": node.name,
        "pod": pod.name,
        "service": "kubelet",
    }
    key = (pod.namespace, pod.name)
    mem_prof = mem or w.constant(pod.mem)
    ws = w.gauge_series(b.rng(*key, "ws"), times, mem_prof, rel_noise=0.006, integer=True)
    b.om.gauge(
        "container_memory_working_set_bytes",
        "Current working set of the container in bytes",
        labels,
        ws,
    )
    if pod.mem_limit is not None:
        b.om.gauge(
            "container_spec_memory_limit_bytes",
            "Memory limit for the container.",
            labels,
            [(t, float(pod.mem_limit)) for t in times],
        )
    cpu_prof = cpu or w.constant(pod.cpu)
    usage = w.counter_series(
        b.rng(*key, "cpu"),
        times,
        cpu_prof,
        start=pod.cpu * 86400 * 3,
        jitter=0.15,
        integer=False,
        resets=resets,
    )
    b.om.counter(
        "container_cpu_usage_seconds_total",
        "Cumulative cpu time consumed in seconds.",
        labels,
        [(t, round(v, 4)) for t, v in usage],
        allow_resets=bool(resets),
    )
    if pod.cpu_limit is not None:
        # Periods of 100 ms in which the container was runnable; throttled share of them.
        runnable = w.clamp(w.scale(cpu_prof, 10 / max(pod.cpu_limit, 0.05) * 1.6), 0.0, 10.0)
        periods = w.counter_series(
            b.rng(*key, "periods"), times, runnable, start=4.2e5, jitter=0.05
        )
        thr_share = throttle or w.constant(0.01)
        throttled = w.counter_series(
            b.rng(*key, "thr"),
            times,
            lambda t: runnable(t) * thr_share(t),
            start=2.1e3,
            jitter=0.08,
        )
        b.om.counter(
            "container_cpu_cfs_periods_total",
            "Number of elapsed enforcement period intervals.",
            labels,
            periods,
        )
        b.om.counter(
            "container_cpu_cfs_throttled_periods_total",
            "Number of throttled period intervals.",
            labels,
            throttled,
        )


# --------------------------------------------------------------------------- kube-state-metrics

KSM_TARGET = "10.244.2.6:8080"


def ksm_times(b: Build) -> list[float]:
    return b.times("kube-state-metrics")


def ksm_pod(
    b: Build,
    pod: Pod,
    pod_uid: str,
    *,
    created: float | None = None,
    restart_times: Sequence[float] = (),
    waiting: Sequence[tuple[float, float]] = (),
    terminated: tuple[float, str] | None = None,
    priority: str = "",
    deleted: float | None = None,
) -> None:
    """Pod info, container restarts, waiting and last-terminated reasons (while the pod
    object exists: from ``created`` until ``deleted``)."""
    times = [
        t
        for t in ksm_times(b)
        if (created is None or t >= created) and (deleted is None or t < deleted)
    ]
    job = {"instance": KSM_TARGET, "job": "kube-state-metrics"}
    node = NODE[pod.node]
    info = {
        **job,
        "created_by_kind": pod.owner_kind,
        "created_by_name": pod.owner,
        "host_ip": node.ip,
        "host_network": "false",
        "namespace": pod.namespace,
        "node": node.name,
        "pod": pod.name,
        "pod_ip": pod.ip,
        "priority_class": priority,
        "uid": pod_uid,
    }
    if not priority:
        del info["priority_class"]
    b.om.gauge("kube_pod_info", "[STABLE] Information about pod.", info, [(t, 1.0) for t in times])
    c = {
        **job,
        "container": pod.container,
        "namespace": pod.namespace,
        "pod": pod.name,
        "uid": pod_uid,
    }
    rs = [(t, float(pod.restarts + sum(1 for r in restart_times if r <= t))) for t in times]
    b.om.counter(
        "kube_pod_container_status_restarts_total",
        "[STABLE] The number of container restarts per container.",
        c,
        rs,
    )
    wt = [(t, 1.0) for t in times if any(a <= t < z for a, z in waiting)]
    if wt:
        b.om.gauge(
            "kube_pod_container_status_waiting_reason",
            "[STABLE] Describes the reason the container is currently in waiting state.",
            {**c, "reason": "CrashLoopBackOff"},
            wt,
        )
    reason_since: tuple[float, str] | None = terminated
    if reason_since is None and pod.last_reason:
        reason_since = (b.start - 86400, pod.last_reason)
    if reason_since is not None:
        since, reason = reason_since
        pts = [(t, 1.0) for t in times if t >= since]
        if pts:
            b.om.gauge(
                "kube_pod_container_status_last_terminated_reason",
                "Describes the last reason the container was in terminated state.",
                {**c, "reason": reason},
                pts,
            )


def ksm_nodes(
    b: Build,
    conditions: Sequence[str] = ("Ready",),
    status: Callable[[str, str, float], str] | None = None,
) -> None:
    """Node conditions, one series per status. ``status(node, condition, t)`` says which
    of "true"/"false"/"unknown" holds (default: Ready, no pressure)."""
    job = {"instance": KSM_TARGET, "job": "kube-state-metrics"}
    times = ksm_times(b)

    def normal(_node: str, condition: str, _t: float) -> str:
        return "true" if condition == "Ready" else "false"

    state = status or normal
    for node in NODES:
        for cond in conditions:
            for st in ("true", "false", "unknown"):
                b.om.gauge(
                    "kube_node_status_condition",
                    "[STABLE] The condition of a cluster node.",
                    {**job, "condition": cond, "node": node.name, "status": st},
                    [(t, 1.0 if state(node.name, cond, t) == st else 0.0) for t in times],
                )
    b.up("kube-state-metrics", KSM_TARGET, "kube-state-metrics")


# --------------------------------------------------------------------------- CoreDNS


@dataclass
class DnsPod:
    pod: Pod
    uid: str
    alive: Callable[[float], bool] = field(default_factory=lambda: lambda _t: True)
    starts: tuple[float, ...] = ()  # container (re)starts inside the window


@dataclass
class DnsLoad:
    """Traffic offered to the cluster DNS and how it fares."""

    background: Profile  # queries/s from the background clients
    extra: list[tuple[Client, Profile]] = field(default_factory=list)  # extra clients, q/s
    timeout: Profile = field(default_factory=lambda: w.constant(0.0))  # share of upstream lost
    upstream_servfail: Profile = field(default_factory=lambda: w.constant(0.0002))
    miss: Profile = field(default_factory=lambda: w.constant(FWD_MISS))  # cache misses upstream
    slow: Profile = field(default_factory=lambda: w.constant(0.0))  # share of slow local answers


def _is_fwd(q: Query) -> bool:
    return q.fwd


def _rcode_is(rcode: str) -> Callable[[Query], bool]:
    return lambda q: q.rcode == rcode


def _qtype_is(qtype: str) -> Callable[[Query], bool]:
    return lambda q: q.qtype == qtype


def _fwd_nxdomain(q: Query) -> bool:
    return q.fwd and q.rcode == "NXDOMAIN"


@dataclass
class DnsModel:
    """The cluster DNS's traffic over time, shared by its pods' metrics and logs."""

    pods: Sequence[DnsPod]
    load: DnsLoad

    def __post_init__(self) -> None:
        self.bg_mix = mix_of((c, c.weight) for c in BACKGROUND_CLIENTS)
        self.extra_mixes = [(mix_of([(c, 1.0)]), prof) for c, prof in self.load.extra]

    def share_of(self, pod_i: int, t: float) -> float:
        up = [p.alive(t) for p in self.pods]
        n = sum(up)
        return (1.0 / n if up[pod_i] else 0.0) if n else 0.0

    def composition(self, t: float, pred: Callable[[Query], bool]) -> float:
        tot = self.load.background(t)
        acc = self.bg_mix.share(pred) * tot
        for m, prof in self.extra_mixes:
            tot += prof(t)
            acc += m.share(pred) * prof(t)
        return acc / tot if tot else 0.0

    def total(self, t: float) -> float:
        return self.load.background(t) + sum(p(t) for _, p in self.load.extra)

    def served(self, pod_i: int) -> Profile:
        return lambda t: self.total(t) * self.share_of(pod_i, t)

    def fwd(self, t: float) -> float:
        """Share of queries sent upstream."""
        return self.composition(t, _is_fwd) * self.load.miss(t)

    def servfail(self, t: float) -> float:
        """Share of queries answered SERVFAIL (upstream timed out)."""
        return self.fwd(t) * self.load.timeout(t) + 0.0008

    def rcode_share(self, rcode: str) -> Profile:
        if rcode == "SERVFAIL":
            return self.servfail
        pred = _rcode_is(rcode)
        return lambda t: max(0.0, self.composition(t, pred) - self.servfail(t) / 2)

    def qtype_share(self, qtype: str) -> Profile:
        pred = _qtype_is(qtype)
        return lambda t: self.composition(t, pred)

    def answered_share(self, rcode: str) -> Profile:
        """Share of all queries whose upstream answer had ``rcode``."""
        share = self.upstream_share(rcode)
        return lambda t: self.fwd(t) * (1 - self.load.timeout(t)) * share(t)

    def upstream_share(self, rcode: str) -> Profile:
        """Share of upstream queries answered with ``rcode``."""
        nx = self.composition(0.0, _fwd_nxdomain) / max(self.composition(0.0, _is_fwd), 1e-9)
        sf = self.load.upstream_servfail
        if rcode == "SERVFAIL":
            return sf
        part = nx if rcode == "NXDOMAIN" else 1 - nx
        return lambda t: part * (1 - sf(t))


def coredns(b: Build, pods: Sequence[DnsPod], load: DnsLoad, log_share: float) -> None:
    """CoreDNS metrics per pod and a sampled query log consistent with them."""
    model = DnsModel(pods, load)
    for i, dp in enumerate(pods):
        _coredns_metrics(b, model, i, dp)
        _coredns_querylog(b, model, i, dp, log_share)


def _coredns_metrics(b: Build, model: DnsModel, i: int, dp: DnsPod) -> None:
    pod, load = dp.pod, model.load
    target = f"{pod.ip}:9153"
    times = b.ok_times(target, b.times(target))
    base = {"instance": target, "job": "coredns", "namespace": pod.namespace, "pod": pod.name}
    srv = {"server": "dns://:53", "zone": "."}
    served = model.served(i)
    resets = list(dp.starts)
    history = 86400 * 2.6 * 25.0  # ~2.6 days of ~50 q/s per pod before the window

    def emit(
        name: str,
        helptext: str,
        labels: dict[str, str],
        share: Profile,
        key: str,
        start: float | None = None,
    ) -> None:
        rate: Profile = lambda t: served(t) * share(t)  # noqa: E731
        first = history * share(b.start) if start is None else start
        pts = w.counter_series(
            b.rng(pod.name, key), times, rate, start=first, jitter=0.06, resets=resets
        )
        pts = [p for p in pts if dp.alive(p[0])]
        b.om.counter(name, helptext, {**base, **labels}, pts, allow_resets=bool(resets))

    for qtype in ("A", "AAAA"):
        emit(
            "coredns_dns_requests_total",
            "Counter of DNS requests made per zone, protocol and family.",
            {**srv, "family": "1", "proto": "udp", "type": qtype},
            model.qtype_share(qtype),
            f"req-{qtype}",
        )
    for rcode in ("NOERROR", "NXDOMAIN", "SERVFAIL"):
        emit(
            "coredns_dns_responses_total",
            "Counter of response status codes.",
            {**srv, "rcode": rcode},
            model.rcode_share(rcode),
            f"resp-{rcode}",
        )
    to = {"to": f"{ROUTER}:53"}
    emit(
        "coredns_forward_requests_total",
        "Counter of requests made per upstream.",
        to,
        model.fwd,
        "fwd-req",
    )
    for rcode in ("NOERROR", "NXDOMAIN", "SERVFAIL"):
        emit(
            "coredns_forward_responses_total",
            "Counter of responses received per upstream.",
            {"rcode": rcode, **to},
            model.answered_share(rcode),
            f"fwd-resp-{rcode}",
        )
    hc_rate: Profile = lambda t: 1.2 * load.timeout(t)  # noqa: E731  (health checks every 0.5 s)
    pts = w.counter_series(
        b.rng(pod.name, "hc"), times, hc_rate, start=3.0, jitter=0.06, resets=resets
    )
    b.om.counter(
        "coredns_forward_healthcheck_failures_total",
        "Counter of the number of failed healthchecks.",
        {**base, **to},
        [p for p in pts if dp.alive(p[0])],
        allow_resets=bool(resets),
    )
    b.up(
        "coredns",
        target,
        target,
        extra={"namespace": pod.namespace, "pod": pod.name},
        alive=dp.alive,
    )


def _coredns_querylog(b: Build, model: DnsModel, i: int, dp: DnsPod, log_share: float) -> None:
    """A sample of the ``log`` plugin's lines (one per query) from one pod."""
    pod, load = dp.pod, model.load
    served = model.served(i)
    rng = b.rng(pod.name, "querylog")
    labels = {
        "namespace": pod.namespace,
        "pod": pod.name,
        "app": "coredns",
        "host": pod.node,
        "container": "coredns",
    }
    t = b.start
    while t < b.end:
        if dp.alive(t):
            expected = served(t) * 10 * log_share
            n = max(0, round(expected + rng.gauss(0, math.sqrt(max(expected, 0.01)))))
            weights = [(model.bg_mix, load.background(t))]
            weights += [(m, p(t)) for m, p in model.extra_mixes]
            for _ in range(n):
                ip, q = _pick_entry(rng, _pick_weighted(rng, weights))
                timed_out = q.fwd and rng.random() < load.miss(t) and rng.random() < load.timeout(t)
                ts = t + rng.random() * 10 + (2.0 if timed_out else 0.0)
                line = query_log_line(
                    rng, ip, q, servfail=timed_out, slow=rng.random() < load.slow(t)
                )
                b.log(ts, labels, line)
        t += 10


def _pick_weighted(rng: Any, items: Sequence[tuple[Mix, float]]) -> Mix:
    tot = sum(x for _, x in items)
    r = rng.random() * tot
    for m, x in items:
        r -= x
        if r <= 0:
            return m
    return items[-1][0]


def _pick_entry(rng: Any, mix: Mix) -> tuple[str, Query]:
    r = rng.random()
    for ip, q, x in mix.entries:
        r -= x
        if r <= 0:
            return ip, q
    ip, q, _ = mix.entries[-1]
    return ip, q


def coredns_upstream_errors(
    b: Build, pods: Sequence[DnsPod], load: DnsLoad, rate: Profile, share: float
) -> None:
    """``[ERROR] plugin/errors`` lines for upstream queries that timed out (sampled)."""
    bg_mix = mix_of((c, c.weight) for c in BACKGROUND_CLIENTS)
    fwd_entries = [(ip, q, x) for ip, q, x in bg_mix.entries if q.fwd]
    tot = sum(x for _, _, x in fwd_entries)
    fwd_mix = Mix([(ip, q, x / tot) for ip, q, x in fwd_entries])
    for dp in pods:
        rng = b.rng(dp.pod.name, "errors")
        labels = {
            "namespace": dp.pod.namespace,
            "pod": dp.pod.name,
            "app": "coredns",
            "host": dp.pod.node,
            "container": "coredns",
        }
        t = b.start
        while t < b.end:
            expected = rate(t) / len(pods) * 10 * share
            n = max(0, round(expected + rng.gauss(0, math.sqrt(max(expected, 0.01)))))
            for _ in range(n):
                _, q = _pick_entry(rng, fwd_mix)
                port = rng.randint(32768, 60999)
                b.log(
                    t + rng.random() * 10,
                    labels,
                    f"[ERROR] plugin/errors: 2 {q.qname} {q.qtype}: read udp "
                    f"{dp.pod.ip}:{port}->{ROUTER}:53: i/o timeout",
                )
            t += 10


def coredns_banner(b: Build, dp: DnsPod, ts: float, rng: Any) -> None:
    labels = {
        "namespace": dp.pod.namespace,
        "pod": dp.pod.name,
        "app": "coredns",
        "host": dp.pod.node,
        "container": "coredns",
    }
    del rng
    sha = hashlib.sha512(b"Corefile-homelab").hexdigest()
    for i, line in enumerate(
        (
            ".:53",
            f"[INFO] plugin/reload: Running configuration SHA512 = {sha}",
            "CoreDNS-1.11.1",
            "linux/amd64, go1.20.7, ae2bbc2",
        )
    ):
        b.log(ts + i * 0.001, labels, line)


# --------------------------------------------------------------------------- SNMP


@dataclass
class Port:
    index: int
    descr: str
    oper: int = 1
    ucast: Profile = field(default_factory=lambda: w.constant(800.0))  # pkts/s in
    octets: Profile | None = None  # bytes/s in (default: ucast * 620)
    bcast: Profile = field(default_factory=lambda: w.constant(3.0))
    in_disc: Profile = field(default_factory=lambda: w.constant(0.0))
    out_disc: Profile = field(default_factory=lambda: w.constant(0.0))
    in_err: Profile = field(default_factory=lambda: w.constant(0.0))
    octets_start: float | None = None


@dataclass
class Switch:
    name: str
    boot: float
    last_tc: float
    tc_base: int
    ports: list[Port]
    tc_rate: Profile = field(default_factory=lambda: w.constant(0.0))  # changes/s
    tc_recent: Profile = field(default_factory=lambda: w.constant(0.0))  # 1 = TCs ongoing


def snmp_switch(
    b: Build,
    sw: Switch,
    interval: float,
    miss: Callable[[float], float],
) -> None:
    """Polls of IF-MIB and BRIDGE-MIB; descriptive OIDs only on the first poll."""
    from tools.snmp import oids

    rng = b.rng(sw.name, "polls")
    times: list[float] = []
    t = b.start + 1.5 + rng.random()
    prev_missed = False
    while t <= b.end:
        jitter = round(rng.uniform(0.0, 0.35), 3)
        missed = not prev_missed and rng.random() < miss(t)
        if not missed and t + jitter <= b.end:
            times.append(round(t + jitter, 3))
        prev_missed = missed
        t += interval
    first = times[0]
    for p in sw.ports:
        b.snmp.append(
            w.snmp_varbind(first, sw.name, f"{oids.IF_DESCR}.{p.index}", "OCTET STRING", p.descr)
        )
    series: dict[str, dict[float, int]] = {}

    def counter(key: str, rate: Profile, start: float, jit: float) -> list[tuple[float, int]]:
        pts = w.counter_series(
            b.rng(sw.name, key), times, rate, start=float(int(start)), jitter=jit
        )
        return [(t, int(v)) for t, v in pts]

    for p in sw.ports:
        r = b.rng(sw.name, "port", p.index)
        age = b.start - sw.boot
        octets = p.octets or w.scale(p.ucast, 620.0)
        o_start = p.octets_start if p.octets_start is not None else r.random() * 2**32
        series[f"{oids.IF_IN_OCTETS}.{p.index}"] = dict(
            counter(f"oct{p.index}", octets, o_start, 0.2)
        )
        series[f"{oids.IF_IN_UCAST_PKTS}.{p.index}"] = dict(
            counter(f"uc{p.index}", p.ucast, r.random() * 2**32, 0.2)
        )
        series[f"{oids.IF_IN_DISCARDS}.{p.index}"] = dict(
            counter(f"indisc{p.index}", p.in_disc, r.choice((0, 0, 3, 12, 41)), 0.3)
        )
        series[f"{oids.IF_OUT_DISCARDS}.{p.index}"] = dict(
            counter(f"outdisc{p.index}", p.out_disc, r.choice((0, 0, 0, 7, 160)), 0.3)
        )
        series[f"{oids.IF_IN_ERRORS}.{p.index}"] = dict(
            counter(f"err{p.index}", p.in_err, 1203 if p.in_err(b.start) > 0 else 0, 0.5)
        )
        series[f"{oids.IF_HC_IN_BROADCAST_PKTS}.{p.index}"] = dict(
            counter(
                f"bc{p.index}", p.bcast, age * p.bcast(b.start) * (0.8 + 0.4 * r.random()), 0.25
            )
        )
    topch = dict(counter("topchanges", sw.tc_rate, sw.tc_base, 0.35))
    rng2 = b.rng(sw.name, "tcsince")
    for t in times:
        rows: list[dict[str, Any]] = []
        for p in sw.ports:
            rows.append(
                w.snmp_varbind(t, sw.name, f"{oids.IF_OPER_STATUS}.{p.index}", "INTEGER", p.oper)
            )
            for oid_base, typ in (
                (oids.IF_IN_OCTETS, "Counter32"),
                (oids.IF_IN_UCAST_PKTS, "Counter32"),
                (oids.IF_IN_DISCARDS, "Counter32"),
                (oids.IF_IN_ERRORS, "Counter32"),
                (oids.IF_OUT_DISCARDS, "Counter32"),
                (oids.IF_HC_IN_BROADCAST_PKTS, "Counter64"),
            ):
                key = f"{oid_base}.{p.index}"
                val = series[key][t]
                rows.append(
                    w.snmp_varbind(
                        t, sw.name, key, typ, w.wrap(val, 64 if typ == "Counter64" else 32)
                    )
                )
        rows.append(
            w.snmp_varbind(
                t, sw.name, oids.SYS_UPTIME, "TimeTicks", w.wrap(round((t - sw.boot) * 100), 32)
            )
        )
        rows.append(w.snmp_varbind(t, sw.name, oids.STP_TOP_CHANGES, "Counter32", topch[t]))
        # while topology changes keep coming, the last one is always seconds old
        recent = sw.tc_recent(t) > 0.5
        since = rng2.randint(20, 290) if recent else round((t - sw.last_tc) * 100)
        rows.append(
            w.snmp_varbind(
                t, sw.name, oids.STP_TIME_SINCE_TOP_CHANGE, "TimeTicks", w.wrap(since, 32)
            )
        )
        b.snmp.extend(rows)


def sw1_ports(overrides: dict[int, dict[str, Any]] | None = None) -> list[Port]:
    """sw1: nodes on 1-3, the NAS on 4, the Proxmox host's two NICs on 5-6, 7 unused,
    the Wi-Fi AP on 8, the uplink to the router on 9 (Counter32 octets near the wrap)."""
    base: dict[int, dict[str, Any]] = {
        1: {"ucast": w.constant(2100.0), "bcast": w.constant(3.1)},
        2: {"ucast": w.constant(1500.0), "bcast": w.constant(2.4)},
        3: {"ucast": w.constant(2600.0), "bcast": w.constant(2.9)},
        4: {"ucast": w.constant(900.0), "bcast": w.constant(1.8), "in_err": w.constant(0.02)},
        5: {"ucast": w.constant(1300.0), "bcast": w.constant(4.2)},
        6: {"ucast": w.constant(35.0), "bcast": w.constant(1.1)},
        7: {"oper": 2, "ucast": w.constant(0.0), "bcast": w.constant(0.0)},
        8: {"ucast": w.constant(420.0), "bcast": w.constant(6.5)},
        9: {
            "ucast": w.constant(1900.0),
            "octets": w.constant(1.21e6),
            "bcast": w.constant(0.6),
            "octets_start": 3.18e9,
        },
    }
    for idx, extra in (overrides or {}).items():
        base[idx].update(extra)
    descr = {i: f"GigabitEthernet1/0/{i}" for i in range(1, 9)}
    descr[9] = "TenGigabitEthernet1/1/1"
    return [Port(index=i, descr=descr[i], **base[i]) for i in range(1, 10)]


# --------------------------------------------------------------------------- misc series


def etcd_fsync(
    b: Build, slow: Profile | None = None, rate: Profile | None = None
) -> list[w.HistogramPoint]:
    """etcd's WAL fsync latency (median ``slow``, default 2.1 ms) at ``rate`` fsyncs/s."""
    target = f"{NODE['node-1'].ip}:2381"
    times = b.ok_times(target, b.times(target))
    bounds = [0.001 * 2**k for k in range(14)]
    median = slow or w.constant(0.0021)
    cdf: Callable[[float, float], float] = lambda t, le: w.lognormal_cdf(median(t), 0.55)(le)  # noqa: E731
    pts = w.histogram_series(
        b.rng("etcd", "fsync"),
        times,
        rate or 6.5,
        bounds,
        cdf,
        lambda t: median(t) * 1.17,
        jitter=0.1,
    )
    offset = 3_180_000.0
    shifted = [
        w.HistogramPoint(
            p.ts,
            tuple(x + offset * cdf(b.start, bd) for x, bd in zip(p.buckets, bounds, strict=True)),
            p.count + offset,
            round(p.sum + offset * 0.00246, 4),
        )
        for p in pts
    ]
    shifted = [
        w.HistogramPoint(p.ts, tuple(float(int(x)) for x in p.buckets), float(int(p.count)), p.sum)
        for p in shifted
    ]
    b.om.histogram(
        "etcd_disk_wal_fsync_duration_seconds",
        "The latency distributions of fsync called by WAL.",
        {"instance": target, "job": "etcd"},
        bounds,
        shifted,
    )
    b.up("etcd", target, target)
    return shifted


def background_workloads(b: Build, uids: dict[str, str]) -> None:
    for pod in BACKGROUND_PODS:
        cadvisor(b, pod, mem=_mem_drift(b, pod))
        ksm_pod(b, pod, uids[pod.name])


def _mem_drift(b: Build, pod: Pod) -> Profile:
    rng = b.rng(pod.name, "drift")
    slope = pod.mem * rng.uniform(-0.02, 0.03) / 3600
    return lambda t: pod.mem + slope * (t - b.start)


def write(b: Build, meta: dict[str, Any], alert: dict[str, Any], out: Path) -> None:
    platform_telemetry(b)
    out.mkdir(parents=True, exist_ok=True)
    w.write_scenario_yaml(out / "scenario.yaml", meta)
    w.write_alert(out / "alert.json", alert)
    b.om.write(out / "metrics.om")
    w.write_jsonl(out / "logs.jsonl", b.logs)
    for name, rows in (("snmp.jsonl", b.snmp), ("ssh.jsonl", b.ssh)):
        path = out / name
        if rows:
            w.write_jsonl(path, rows)
        elif path.exists():
            path.unlink()


def topology(pods: Sequence[Pod]) -> dict[str, Any]:
    pods = sorted(pods, key=lambda p: (p.namespace, p.name))
    return {
        "nodes": [
            {"name": n.name, "address": n.ip, "switch": "sw1", "port": n.port} for n in NODES
        ],
        "switches": [{"name": sw, "address": addr} for sw, addr in SWITCH_ADDR.items()],
        "services": [
            {"name": "coredns", "namespace": "kube-system", "kind": "dns"},
            {"name": "kube-apiserver", "namespace": "default", "kind": "apiserver"},
            {"name": "etcd", "namespace": "kube-system", "kind": "etcd"},
            {"name": "ingress-nginx-controller", "namespace": "ingress-nginx", "kind": "ingress"},
        ],
        "pods": [
            {"name": p.name, "namespace": p.namespace, "ip": p.ip, "node": p.node} for p in pods
        ],
    }


def pod_uids(b: Build, pods: Iterable[Pod]) -> dict[str, str]:
    return {p.name: uid(w.derive_rng("uid", p.name)) for p in pods}


def coredns_pod(name: str, ip: str, node: str) -> Pod:
    return Pod(
        "kube-system",
        name,
        ip,
        node,
        "coredns",
        "coredns",
        "registry.k8s.io/coredns/coredns:v1.11.1",
        mem=30 * MiB,
        mem_limit=170 * MiB,
        cpu=0.012,
    )


def rule_evals(b: Build, group: str) -> list[float]:
    """Evaluation times of a rule group (every 60 s, at a fixed offset)."""
    return w.scrape_times(b.start, b.end, 60.0, offset_s=scrape_offset(f"rules/{group}", 60.0))


def fired_at(evals: Sequence[float], active: Callable[[float], bool], hold_s: float) -> float:
    """When an alert with ``for: hold_s`` starts firing: the first evaluation at least
    ``hold_s`` after it became pending, with the expression true at every evaluation between.

    Raises:
        ValueError: it never fires inside the window.
    """
    pending: float | None = None
    for e in evals:
        if not active(e):
            pending = None
            continue
        if pending is None:
            pending = e
        if e - pending >= hold_s:
            return e
    raise ValueError("the alert does not fire within the window")


def kube_alert_labels(extra: dict[str, str]) -> dict[str, str]:
    return {"cluster": CLUSTER, **extra}


def crash_schedule(
    crashes: Sequence[float], backoffs: Sequence[float]
) -> tuple[list[tuple[float, float]], list[float]]:
    """Down intervals [crash, crash+backoff) and restart times."""
    downs = [(c, c + bo) for c, bo in zip(crashes, backoffs, strict=True)]
    return downs, [z for _, z in downs]


# =========================================================================== platform services
# kube-apiserver, etcd's leadership and backend, ingress-nginx, the x509-certificate-exporter
# on the control-plane node and the volume claims. write() records them in every seed, the
# same way; a builder changes how they behave by setting ``Build.platform`` (and may record
# them earlier with platform_telemetry(), to evaluate an alert on them).

API_TARGET = f"{NODE['node-1'].ip}:6443"
API_BOUNDS = (0.005, 0.025, 0.05, 0.1, 0.2, 1.0, 2.0, 4.0, 5.0, 10.0, 20.0, 45.0, 60.0)
"""apiserver_request_duration_seconds buckets that kube-prometheus' relabelling keeps."""
API_UPTIME_S = 1.21e6
"""Seconds of traffic the apiserver's counters hold before a window starts."""
ETCD_TARGET = f"{NODE['node-1'].ip}:2381"
ETCD_BOUNDS = tuple(0.001 * 2**k for k in range(14))
INGRESS = BG["ingress-nginx"]
INGRESS_TARGET = f"{INGRESS.ip}:10254"
INGRESS_JOB = "ingress-nginx-controller-metrics"
INGRESS_BOUNDS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)
INGRESS_READ_TIMEOUT_S = 60.0
"""proxy-read-timeout: how long ingress-nginx waits for an upstream's response header."""
X509_TARGET = "10.244.0.14:9793"
KUBEADM_INIT = at("2024-02-22", "08:14:03")
"""``kubeadm init``: the CAs' NotBefore; leaf certificates are valid for 365 days from here."""
CERTS_RENEWED = at("2025-02-21", "09:41:26")
"""``kubeadm certs renew all``, run once the leaf certificates had expired."""
P99_Z = 2.326  # standard normal quantile of 0.99


@dataclass(frozen=True)
class ApiStream:
    """One kind of apiserver request (a verb on a resource): how often, how slow, how it fails."""

    verb: str
    resource: str
    group: str  # "" for the core API group
    scope: str
    rate: Profile  # requests/s
    p99: Profile  # seconds
    errors: Profile = field(default_factory=lambda: w.constant(0.0))  # share answered error_code
    error_code: str = "504"
    error_after: float = 60.05  # how long those take, s (504: just past the 60 s timeout)
    sigma: float = 0.9  # log-normal spread of latencies


def api_stream(
    verb: str, resource: str, rate: float | Profile, slow: Profile | None = None
) -> ApiStream:
    """A stream whose p99 moves from API_COMBOS' quiet value towards its storm value as
    ``slow`` goes from 0 to 1."""
    _, _, group, scope, p_lo, p_hi, _, _ = next(
        c for c in API_COMBOS if c[0] == verb and c[1] == resource
    )
    rates = rate if callable(rate) else w.constant(rate)
    return ApiStream(
        verb, resource, group, scope, rates, _between(p_lo, p_hi, slow or w.constant(0.0))
    )


def quiet_api(slow: Profile | None = None) -> list[ApiStream]:
    """Lease renewals (kubelets, controller-manager, scheduler, ingress-nginx): the bulk of
    what a quiet cluster asks of its apiserver, and the stream the recording keeps."""
    return [api_stream("PUT", "leases", 2.1, slow)]


@dataclass(frozen=True)
class Backend:
    """A service behind ingress-nginx: its ingress, host, upstream pod and traffic."""

    ingress: str
    host: str
    pod: Pod
    port: int
    rate: Profile  # requests/s
    median: Profile  # upstream response time, s
    paths: tuple[str, ...]  # what clients ask for ("{id}" becomes an asset id)
    agents: tuple[str, ...]
    sigma: float = 0.8
    timeouts: Profile = field(default_factory=lambda: w.constant(0.0))  # share that time out

    @property
    def service(self) -> str:
        return self.pod.app

    @property
    def upstream_name(self) -> str:
        """``$proxy_upstream_name``: namespace-service-port."""
        return f"{self.pod.namespace}-{self.service}-{self.port}"


def quiet_backends() -> list[Backend]:
    """Immich's mobile apps back photos up through the ingress all night (Home Assistant and
    Grafana are reached on the LAN directly)."""
    return [
        Backend(
            "immich",
            "photos.home.arpa",
            BG["immich-server"],
            2283,
            w.constant(0.35),
            w.constant(0.031),
            (
                "/api/server/ping",
                "/api/sync/full-sync",
                "/api/assets/{id}/thumbnail?size=thumbnail",
                "/api/assets/{id}/thumbnail?size=preview",
                "/api/timeline/buckets?size=MONTH",
            ),
            ("Immich_Android_1.121.0", "Immich_iOS_1.121.0"),
        )
    ]


@dataclass(frozen=True)
class Claim:
    """A PersistentVolumeClaim as kube-state-metrics sees it."""

    namespace: str
    name: str
    bound_at: float | None = 0.0  # None: Pending all along
    created: float | None = None  # None: before the window

    def phase(self, ts: float) -> str:
        return "Bound" if self.bound_at is not None and ts >= self.bound_at else "Pending"


def quiet_claims() -> list[Claim]:
    """The site's two local-path volumes."""
    return [
        Claim("db", "data-postgres-0"),
        Claim("monitoring", "prometheus-k8s-db-prometheus-k8s-0"),
    ]


@dataclass(frozen=True)
class Cert:
    """A certificate the x509-certificate-exporter reads on node-1."""

    filepath: str
    subject_cn: str
    issuer_cn: str
    not_after: float
    serial: str
    subject_o: str = ""

    @property
    def kubeconfig(self) -> bool:
        return self.filepath.endswith(".conf")


KUBEADM_CERTS = (
    # path, subject CN, issuer CN, subject O, seconds after ``kubeadm init`` it was signed
    ("/etc/kubernetes/pki/ca.crt", "kubernetes", "kubernetes", "", 0.0),
    ("/etc/kubernetes/pki/apiserver.crt", "kube-apiserver", "kubernetes", "", 1.3),
    ("/etc/kubernetes/pki/etcd/server.crt", "node-1", "etcd-ca", "", 2.7),
    (
        "/etc/kubernetes/pki/apiserver-etcd-client.crt",
        "kube-apiserver-etcd-client",
        "etcd-ca",
        "",
        3.4,
    ),
    ("/etc/kubernetes/admin.conf", "kubernetes-admin", "kubernetes", "kubeadm:cluster-admins", 4.1),
    (
        "/etc/kubernetes/controller-manager.conf",
        "system:kube-controller-manager",
        "kubernetes",
        "",
        4.9,
    ),
    ("/etc/kubernetes/scheduler.conf", "system:kube-scheduler", "kubernetes", "", 5.2),
)


def site_certs(ts: float) -> list[Cert]:
    """The kubeadm certificates on node-1 at ``ts``: signed at ``kubeadm init`` (CAs for ten
    years, the rest for one), the leaves renewed once, at CERTS_RENEWED."""
    issued = KUBEADM_INIT if ts < CERTS_RENEWED else CERTS_RENEWED
    out: list[Cert] = []
    for path, cn, issuer, org, after in KUBEADM_CERTS:
        ca = path.endswith("ca.crt")
        signed = KUBEADM_INIT if ca else issued
        days = 3650 if ca else 365
        digest = hashlib.sha256(f"serial/{path}/{signed}".encode()).hexdigest()
        out.append(
            Cert(
                path,
                cn,
                issuer,
                float(int(signed + after + days * 86400)),
                str(int(digest[:16], 16) >> 1),
                org,
            )
        )
    return out


@dataclass
class Platform:
    """How the platform services behave in one scenario; the defaults are a quiet night."""

    api: list[ApiStream] = field(default_factory=quiet_api)
    etcd_commit: Profile = field(default_factory=lambda: w.constant(0.0043))  # median, s
    ingress: list[Backend] = field(default_factory=quiet_backends)
    claims: list[Claim] = field(default_factory=quiet_claims)
    certs: list[Cert] | None = None  # None: site_certs() at the window's start


def platform_telemetry(b: Build) -> None:
    """Record the platform services' metrics and logs, once per Build."""
    if b.platform_done:
        return
    b.platform_done = True
    p = b.platform or Platform()
    _apiserver(b, p.api)
    _etcd_health(b, p.etcd_commit)
    _ingress(b, p.ingress)
    _ingress_logs(b, p.ingress, share=0.04)
    _x509(b, p.certs if p.certs is not None else site_certs(b.start))
    _claims(b, p.claims)
    _etcd_compaction(b, p.etcd_commit)


def _long_histogram(
    b: Build,
    name: str,
    help_: str,
    labels: dict[str, str],
    times: Sequence[float],
    bounds: Sequence[float],
    rate: Profile,
    cdf: Callable[[float, float], float],
    mean: Profile,
    history_s: float,
    key: tuple[object, ...],
) -> list[w.HistogramPoint]:
    """A histogram of a long-running process: ``history_s`` seconds of traffic as it was at
    the window's start, then the window's own observations."""
    pts = w.histogram_series(b.rng(*key), times, rate, bounds, cdf, mean, jitter=0.08)
    offset = rate(b.start) * history_s
    out = [
        w.HistogramPoint(
            p.ts,
            tuple(
                float(int(x + offset * cdf(b.start, bd)))
                for x, bd in zip(p.buckets, bounds, strict=True)
            ),
            float(int(p.count + offset)),
            w.round_sig(p.sum + offset * mean(b.start), 10),
        )
        for p in pts
    ]
    b.om.histogram(name, help_, labels, bounds, out)
    return out


def _apiserver(b: Build, streams: Sequence[ApiStream]) -> None:
    times = b.ok_times(API_TARGET, b.times(API_TARGET))
    base = {
        "component": "apiserver",
        "endpoint": "https",
        "instance": API_TARGET,
        "job": "apiserver",
        "namespace": "default",
        "service": "kubernetes",
        "version": "v1",
    }
    for s in streams:
        labels = {
            **base,
            "group": s.group,
            "resource": s.resource,
            "scope": s.scope,
            "verb": s.verb,
        }
        if not s.group:
            del labels["group"]
        ok: Profile = lambda t, s=s: s.rate(t) * (1 - s.errors(t))  # noqa: E731
        bad: Profile = lambda t, s=s: s.rate(t) * s.errors(t)  # noqa: E731
        codes = [("201" if s.verb == "POST" else "200", ok)]
        if any(s.errors(t) > 0 for t in times):
            codes.append((s.error_code, bad))
        for code, rate in codes:
            pts = w.counter_series(
                b.rng("apiserver", s.verb, s.resource, code),
                times,
                rate,
                start=float(int(rate(b.start) * API_UPTIME_S)),
                jitter=0.08,
            )
            b.om.counter(
                "apiserver_request_total",
                "[STABLE] Counter of apiserver requests broken out for each verb, dry run value, "
                "group, version, resource, scope, component, and HTTP response code.",
                {**labels, "code": code},
                pts,
            )
        # Failed requests take error_after (a 60 s timeout lands above every bucket but +Inf).
        median: Profile = lambda t, s=s: s.p99(t) / math.exp(P99_Z * s.sigma)  # noqa: E731
        cdf = lambda t, le, s=s, m=median: (  # noqa: E731
            (1 - s.errors(t)) * w.lognormal_cdf(m(t), s.sigma)(le)
            + (s.errors(t) if le >= s.error_after else 0.0)
        )
        mean = lambda t, s=s, m=median: (  # noqa: E731
            (1 - s.errors(t)) * m(t) * math.exp(s.sigma**2 / 2) + s.errors(t) * s.error_after
        )
        _long_histogram(
            b,
            "apiserver_request_duration_seconds",
            "[STABLE] Response latency distribution in seconds for each verb, dry run value, "
            "group, version, resource, subresource, scope and component.",
            labels,
            times,
            API_BOUNDS,
            s.rate,
            cdf,
            mean,
            API_UPTIME_S,
            ("apiserver-latency", s.verb, s.resource),
        )
    b.up(
        "apiserver", API_TARGET, API_TARGET, extra={"namespace": "default", "service": "kubernetes"}
    )


def _etcd_health(b: Build, commit: Profile) -> None:
    times = b.ok_times(ETCD_TARGET, b.times(ETCD_TARGET))
    job = {"instance": ETCD_TARGET, "job": "etcd"}
    b.om.gauge(
        "etcd_server_has_leader",
        "Whether or not a leader exists. 1 is existence, 0 is not.",
        job,
        [(t, 1.0) for t in times],
    )
    # A single member: it elected itself once, when it started.
    b.om.counter(
        "etcd_server_leader_changes_seen_total",
        "The number of leader changes seen.",
        job,
        [(t, 1.0) for t in times],
    )
    _long_histogram(
        b,
        "etcd_disk_backend_commit_duration_seconds",
        "The latency distributions of commit called by backend.",
        job,
        times,
        ETCD_BOUNDS,
        w.constant(5.2),
        lambda t, le: w.lognormal_cdf(commit(t), 0.5)(le),
        lambda t: commit(t) * 1.13,
        6.1e5,
        ("etcd", "commit"),
    )


def _ingress_labels(be: Backend, status: str) -> dict[str, str]:
    return {
        "controller_class": "k8s.io/ingress-nginx",
        "controller_namespace": "ingress-nginx",
        "controller_pod": INGRESS.name,
        "host": be.host,
        "ingress": be.ingress,
        "instance": INGRESS_TARGET,
        "job": INGRESS_JOB,
        "method": "GET",
        "namespace": be.pod.namespace,
        "path": "/",
        "service": be.service,
        "status": status,
    }


def _ingress(b: Build, backends: Sequence[Backend]) -> None:
    times = b.ok_times(INGRESS_TARGET, b.times(INGRESS_TARGET))
    history = 7.9e5  # the controller pod's uptime, s
    for be in backends:
        ok: Profile = lambda t, be=be: be.rate(t) * (1 - be.timeouts(t))  # noqa: E731
        late: Profile = lambda t, be=be: be.rate(t) * be.timeouts(t)  # noqa: E731
        kinds = [("200", ok, lambda t, le, be=be: w.lognormal_cdf(be.median(t), be.sigma)(le))]
        if any(be.timeouts(t) > 0 for t in times):
            kinds.append(("504", late, lambda t, le: 0.0))
        for status, rate, cdf in kinds:
            labels = _ingress_labels(be, status)
            key = ("ingress", be.ingress, status)
            pts = w.counter_series(
                b.rng(*key, "n"), times, rate, start=float(int(rate(b.start) * history)), jitter=0.1
            )
            b.om.unknown(
                "nginx_ingress_controller_requests",
                "The total number of client requests",
                labels,
                pts,
            )
            mean = (
                (lambda t, be=be: be.median(t) * math.exp(be.sigma**2 / 2))
                if status == "200"
                else (lambda t: INGRESS_READ_TIMEOUT_S)
            )
            _long_histogram(
                b,
                "nginx_ingress_controller_request_duration_seconds",
                "The request processing time in milliseconds",
                {k: v for k, v in labels.items()},
                times,
                INGRESS_BOUNDS,
                rate,
                cdf,
                mean,
                history,
                (*key, "latency"),
            )
    b.up(INGRESS_JOB, INGRESS_TARGET, INGRESS_TARGET)


def _ingress_logs(b: Build, backends: Sequence[Backend], share: float) -> None:
    """A sample (``share``) of the access log, and every upstream-timeout error line."""
    labels = {
        "namespace": INGRESS.namespace,
        "pod": INGRESS.name,
        "app": "ingress-nginx",
        "host": INGRESS.node,
        "container": "controller",
    }
    rng = b.rng("ingress-logs")
    conn = 48_213 + rng.randint(0, 9000)
    clients = ("10.0.0.57", "10.0.0.57", "10.0.0.64", "10.0.0.71")
    lines: list[tuple[float, str]] = []
    for be in backends:
        ip = be.pod.ip
        t = b.start - INGRESS_READ_TIMEOUT_S
        while t < b.end:
            for timed_out in (False, True):
                rate = be.rate(t) * (be.timeouts(t) if timed_out else 1 - be.timeouts(t))
                expected = rate * 10 * (1.0 if timed_out else share)
                n = max(0, round(expected + rng.gauss(0, math.sqrt(max(expected, 0.01)))))
                for _ in range(n):
                    began = t + rng.random() * 10
                    path = rng.choice(be.paths).replace("{id}", uid(rng))
                    client = rng.choice(clients)
                    conn += rng.randint(1, 40)
                    if timed_out:
                        done = began + INGRESS_READ_TIMEOUT_S + rng.uniform(0.0005, 0.003)
                        worker = rng.choice((31, 32, 33, 34))
                        lines.append(
                            (
                                done,
                                f"{datetime.fromtimestamp(math.floor(done), tz=UTC):%Y/%m/%d %H:%M:%S} "
                                f"[error] {worker}#{worker}: *{conn} upstream timed out (110: Operation "
                                f"timed out) while reading response header from upstream, client: "
                                f'{client}, server: {be.host}, request: "GET {path} HTTP/2.0", '
                                f'upstream: "http://{ip}:{be.port}{path}", host: "{be.host}"',
                            )
                        )
                        if rng.random() >= share * 4:
                            continue
                        status, size, took, up_took, up_len = (
                            504,
                            160,
                            done - began,
                            done - began,
                            0,
                        )
                    else:
                        took = rng.lognormvariate(math.log(be.median(began)), be.sigma)
                        done = began + took
                        status, size = 200, rng.randint(180, 48_000)
                        up_took, up_len = took - rng.uniform(0, 0.0004), size
                    stamp = datetime.fromtimestamp(math.floor(done), tz=UTC)
                    lines.append(
                        (
                            done,
                            f'{client} - - [{stamp:%d/%b/%Y:%H:%M:%S} +0000] "GET {path} HTTP/2.0" '
                            f'{status} {size} "https://{be.host}/" "{rng.choice(be.agents)}" '
                            f"{rng.randint(40, 620)} {took:.3f} [{be.upstream_name}] [] {ip}:{be.port} "
                            f"{up_len} {max(up_took, 0.0):.3f} {status} {hexid(rng, 32)}",
                        )
                    )
            t += 10
    for ts, line in lines:
        b.log(ts, labels, line)


def _x509(b: Build, certs: Sequence[Cert]) -> None:
    times = b.ok_times(X509_TARGET, b.times(X509_TARGET))
    for c in certs:
        labels = {
            "filename": c.filepath.rsplit("/", 1)[-1],
            "filepath": c.filepath,
            "instance": X509_TARGET,
            "issuer_CN": c.issuer_cn,
            "job": "x509-certificate-exporter",
            "serial_number": c.serial,
            "subject_CN": c.subject_cn,
        }
        if c.subject_o:
            labels["subject_O"] = c.subject_o
        if c.kubeconfig:
            labels |= {"embedded_kind": "user", "embedded_key": "client-certificate-data"}
        b.om.gauge(
            "x509_cert_not_after",
            "Certificate expiration timestamp",
            labels,
            [(t, c.not_after) for t in times],
        )
    b.up("x509-certificate-exporter", X509_TARGET, X509_TARGET)


def _claims(b: Build, claims: Sequence[Claim]) -> None:
    for cl in claims:
        times = [t for t in ksm_times(b) if cl.created is None or t >= cl.created]
        for phase in ("Bound", "Lost", "Pending"):
            b.om.gauge(
                "kube_persistentvolumeclaim_status_phase",
                "[STABLE] The phase the persistent volume claim is currently in.",
                {
                    "instance": KSM_TARGET,
                    "job": "kube-state-metrics",
                    "namespace": cl.namespace,
                    "persistentvolumeclaim": cl.name,
                    "phase": phase,
                },
                [(t, 1.0 if cl.phase(t) == phase else 0.0) for t in times],
            )


def zap_time(ts: float, rng: Any) -> str:
    """etcd's (zap's) timestamp: UTC with microseconds."""
    dt = datetime.fromtimestamp(math.floor(ts), tz=UTC)
    micros = (round(ts * 1000) % 1000) * 1000 + rng.randint(0, 999)
    return f"{dt:%Y-%m-%dT%H:%M:%S}.{micros:06d}Z"


def _etcd_compaction(b: Build, commit: Profile) -> None:
    """The apiserver has etcd compact every 5 minutes; etcd logs each one (a compaction
    commits to the backend like any write)."""
    import json

    rng = b.rng("etcd-compaction")
    labels = {
        "namespace": "kube-system",
        "pod": "etcd-node-1",
        "app": "etcd",
        "host": "node-1",
        "container": "etcd",
    }
    revision = 41_000_000 + stable_int("etcd-rev", b.day) % 9_000_000
    t = b.start + stable_int("etcd-compact", b.day) % 300
    prev = revision - rng.randint(500, 900)
    while t < b.end:
        revision += rng.randint(520, 880)
        took = rng.uniform(0.006, 0.019) + 3 * max(0.0, commit(t) - 0.0043)
        digest = rng.randint(1_000_000_000, 4_294_967_295)
        size = 52_428_800 + rng.randint(-2, 6) * 4096 * 256
        used = size - rng.randint(18, 24) * 1_048_576

        def zap(ts: float, caller: str, msg: str, **kv: Any) -> str:
            head = {"level": "info", "ts": zap_time(ts, rng), "caller": caller, "msg": msg}
            return json.dumps({**head, **kv}, separators=(",", ":"))

        b.log(t, labels, zap(t, "mvcc/index.go:214", "compact tree index", revision=revision))
        b.log(
            t + took,
            labels,
            zap(
                t + took,
                "mvcc/kvstore_compaction.go:66",
                "finished scheduled compaction",
                **{
                    "compact-revision": revision,
                    "took": f"{took:.9f}s" if took >= 1 else f"{took * 1000:.6f}ms",
                    "hash": digest,
                    "current-db-size-bytes": size,
                    "current-db-size": f"{size / 1e6:.0f} MB",
                    "current-db-size-in-use-bytes": used,
                    "current-db-size-in-use": f"{used / 1e6:.0f} MB",
                },
            ),
        )
        b.log(
            t + took + 0.0004,
            labels,
            zap(
                t + took + 0.0004,
                "mvcc/hash.go:137",
                "storing new hash",
                hash=digest,
                revision=revision,
                **{"compact-revision": prev},
            ),
        )
        prev = revision
        t += 300 + rng.uniform(-0.05, 0.05)


# =========================================================================== 01


def build_01(out: Path) -> None:
    day = "2025-03-11"
    b = Build(
        "01_coredns_oom_query_flood", "seed-01", day, at(day, "13:50:00"), at(day, "14:32:00")
    )
    T = b.at
    dns_a = coredns_pod("coredns-7c65d6cfc9-4xk2p", "10.244.1.7", "node-2")
    dns_b = coredns_pod("coredns-7c65d6cfc9-qz8mn", "10.244.2.5", "node-3")
    pp = Pod(
        "payments",
        "payment-processor-6d9f7b8c4-wq4zt",
        "10.244.0.47",
        "node-1",
        "payment-processor",
        "payment-processor",
        "registry.home.arpa/payments/payment-processor:1.4.0",
        mem=182 * MiB,
        mem_limit=512 * MiB,
        cpu=1.1,
        cpu_limit=2.0,
    )
    pods = [*BACKGROUND_PODS, dns_a, dns_b, pp]
    uids = pod_uids(b, pods)

    # Crash loop schedule (OOM kills) and the memory that leads to each. The first pod's
    # kills land just before a kube-state-metrics scrape, so each back-off is seen.
    ksm_t = ksm_times(b)

    def before_scrape(hms: str, lead: float) -> float:
        return min(t for t in ksm_t if t >= T(hms)) - lead

    a_down, a_starts = crash_schedule(
        [
            before_scrape(h, 3.4)
            for h in ("14:13:40", "14:18:20", "14:22:40", "14:26:50", "14:31:05")
        ],
        [10, 20, 40, 80, 160],
    )
    b_down, b_starts = crash_schedule(
        [T("14:16:20"), T("14:20:50"), T("14:25:15"), T("14:29:40")], [10, 20, 40, 80]
    )
    alive_a, alive_b = gaps(*a_down), gaps(*b_down)
    limit = 170 * MiB

    def mem_curve(base: float, flood_from: float, downs: list[tuple[float, float]]) -> Profile:
        knots: list[tuple[float, float]] = [(b.start, base), (flood_from, base)]
        knots.append((downs[0][0] - 6, limit * 0.9985))
        for (_, restart), (next_crash, _) in zip(
            downs, [*downs[1:], (b.end + 600, 0)], strict=True
        ):
            knots.append((restart, 15.2 * MiB))
            knots.append((next_crash - 6, limit * 0.9985))
        return w.piecewise(knots)

    mem_a = mem_curve(30.6 * MiB, T("13:58:40"), a_down)
    mem_b = mem_curve(29.1 * MiB, T("13:58:40"), b_down)

    flood_client = Client(
        pp,
        1.0,
        (
            Lookup("ledger-db", 0.4, "ns"),
            Lookup("fraud-scoring.risk", 0.3, "svc"),
            Lookup("api.stripe.com", 0.3, "abs"),
        ),
    )
    any_down: Callable[[float], bool] = lambda t: not (alive_a(t) and alive_b(t))  # noqa: E731
    flood_base = w.piecewise(
        [
            (T("13:58:05"), 0.0),
            (T("13:59:30"), 540.0),
            (T("14:10:00"), 600.0),
            (T("14:20:00"), 640.0),
            (T("14:32:00"), 655.0),
        ]
    )
    flood: Profile = lambda t: flood_base(t) * (1.25 if any_down(t) else 1.0)  # noqa: E731
    background_q = w.constant(48.0)
    load = DnsLoad(background=background_q, extra=[(flood_client, flood)])
    dpods = [
        DnsPod(dns_a, uids[dns_a.name], alive_a, tuple(a_starts)),
        DnsPod(dns_b, uids[dns_b.name], alive_b, tuple(b_starts)),
    ]
    coredns(b, dpods, load, log_share=2.5e-4)

    def served(i: int) -> Profile:
        def f(t: float) -> float:
            up = [alive_a(t), alive_b(t)]
            n = sum(up)
            return (background_q(t) + flood(t)) / n if n and up[i] else 0.0

        return f

    cpu_a = w.add(w.constant(0.011), w.scale(served(0), 0.00118))
    cpu_b = w.add(w.constant(0.010), w.scale(served(1), 0.00118))
    cadvisor(b, dns_a, mem=mem_a, cpu=cpu_a, alive=alive_a, resets=a_starts)
    cadvisor(b, dns_b, mem=mem_b, cpu=cpu_b, alive=alive_b, resets=b_starts)
    pp_alive: Callable[[float], bool] = lambda t: t >= T("13:58:02")  # noqa: E731
    pp_cpu = w.piecewise([(T("13:58:02"), 0.05), (T("13:59:30"), 1.05), (T("14:32:00"), 1.18)])
    cadvisor(
        b,
        pp,
        mem=w.piecewise(
            [(T("13:58:02"), 60 * MiB), (T("14:00:00"), 178 * MiB), (T("14:32:00"), 191 * MiB)]
        ),
        cpu=pp_cpu,
        alive=pp_alive,
        throttle=w.constant(0.035),
    )
    background_workloads(b, uids)
    ksm_pod(
        b,
        dns_a,
        uids[dns_a.name],
        restart_times=a_starts,
        waiting=a_down,
        terminated=(a_down[0][0], "OOMKilled"),
        priority="system-cluster-critical",
    )
    ksm_pod(
        b,
        dns_b,
        uids[dns_b.name],
        restart_times=b_starts,
        waiting=b_down,
        terminated=(b_down[0][0], "OOMKilled"),
        priority="system-cluster-critical",
    )
    ksm_pod(b, pp, uids[pp.name], created=T("13:57:41"))
    ksm_nodes(b)

    loads = {
        "node-1": NodeLoad(
            cpu_extra=w.add(pp_cpu, w.step(T("13:58:02"), -0.05, 0.0)),
            mem_extra=w.step(T("13:58:02"), 0.0, 190 * MiB),
        ),
        "node-2": NodeLoad(
            cpu_extra=cpu_a, mem_extra=w.add(mem_a, w.constant(-30 * MiB)), fs_used=0.655
        ),
        "node-3": NodeLoad(cpu_extra=cpu_b, mem_extra=w.add(mem_b, w.constant(-29 * MiB))),
    }
    for node in NODES:
        node_exporter(b, node, loads[node.name])
    etcd_fsync(b)
    quiet_switch(b)

    # Logs: CoreDNS banners, kernel OOM kills, kubelet, the new workload.
    for dp, downs in ((dpods[0], a_down), (dpods[1], b_down)):
        node = NODE[dp.pod.node]
        boot = b.start - node.boot_days * 86400
        rng = b.rng(dp.pod.name, "crashlogs")
        kubelet_pid = 874 if node.name == "node-2" else 912
        klabels = {"app": "kernel", "host": node.name}
        ulabels = {"app": "kubelet", "host": node.name}
        cid = hexid(rng)
        pid = rng.randint(300000, 900000)
        pod_ref = f"kube-system/{dp.pod.name}"
        for k, (crash, restart) in enumerate(downs):
            # readiness probe failures as GC thrashes near the limit
            for dt in (-19.0, -9.0):
                b.log(
                    crash + dt + rng.random(),
                    ulabels,
                    klog(
                        crash + dt,
                        "I",
                        kubelet_pid,
                        "prober.go:107",
                        f'"Probe failed" probeType="Readiness" pod="{pod_ref}" podUID="{dp.uid}" '
                        f'containerName="coredns" probeResult="failure" output="Get \\"http://'
                        f'{dp.pod.ip}:8181/ready\\": context deadline exceeded (Client.Timeout '
                        f'exceeded while awaiting headers)"',
                        rng.randint(0, 999),
                    ),
                )
            cg = (
                f"/kubepods.slice/kubepods-burstable.slice/kubepods-burstable-pod"
                f"{dp.uid.replace('-', '_')}.slice/cri-containerd-{cid}.scope"
            )
            usage = 174080
            kern = [
                "coredns invoked oom-killer: gfp_mask=0xcc0(GFP_KERNEL), order=0, "
                "oom_score_adj=996",
                f"CPU: {rng.randint(0, 3)} PID: {pid + rng.randint(3, 90)} Comm: coredns "
                f"Not tainted 6.8.0-52-generic #53-Ubuntu",
                f"memory: usage {usage}kB, limit {usage}kB, failcnt {rng.randint(900, 4000)}",
                f"oom-kill:constraint=CONSTRAINT_MEMCG,nodemask=(null),cpuset=cri-containerd-"
                f"{cid}.scope,mems_allowed=0,oom_memcg={cg},task_memcg={cg},task=coredns,"
                f"pid={pid},uid=65532",
                f"Memory cgroup out of memory: Killed process {pid} (coredns) total-vm:"
                f"{rng.randint(1_290_000, 1_350_000)}kB, anon-rss:{rng.randint(165_000, 169_500)}kB,"
                f" file-rss:{rng.randint(3_900, 4_400)}kB, shmem-rss:0kB, UID:65532 pgtables:"
                f"{rng.randint(520, 600)}kB oom_score_adj:996",
                f"oom_reaper: reaped process {pid} (coredns), now anon-rss:0kB, file-rss:0kB, "
                f"shmem-rss:0kB",
            ]
            for j, line in enumerate(kern):
                ts = crash - 0.05 + j * 0.0004
                b.log(ts, klabels, dmesg(ts, boot, line, rng.randint(0, 999)))
            b.log(
                crash + 0.4,
                ulabels,
                klog(
                    crash + 0.4,
                    "I",
                    kubelet_pid,
                    "kubelet.go:2448",
                    f'"SyncLoop (PLEG): event for pod" pod="{pod_ref}" event={{"ID":"{dp.uid}",'
                    f'"Type":"ContainerDied","Data":"{cid}"}}',
                    rng.randint(0, 999),
                ),
            )
            backoff = int(restart - crash)
            b.log(
                crash + 1.1,
                ulabels,
                klog(
                    crash + 1.1,
                    "E",
                    kubelet_pid,
                    "pod_workers.go:1301",
                    f'"Error syncing pod, skipping" err="failed to \\"StartContainer\\" for '
                    f'\\"coredns\\" with CrashLoopBackOff: \\"back-off {backoff}s restarting failed '
                    f'container=coredns pod={dp.pod.name}_kube-system({dp.uid})\\"" pod="{pod_ref}" '
                    f'podUID="{dp.uid}"',
                    rng.randint(0, 999),
                ),
            )
            cid = hexid(rng)
            pid = rng.randint(300000, 900000)
            b.log(
                restart + 0.6,
                ulabels,
                klog(
                    restart + 0.6,
                    "I",
                    kubelet_pid,
                    "kubelet.go:2448",
                    f'"SyncLoop (PLEG): event for pod" pod="{pod_ref}" event={{"ID":"{dp.uid}",'
                    f'"Type":"ContainerStarted","Data":"{cid}"}}',
                    rng.randint(0, 999),
                ),
            )
            coredns_banner(b, dp, restart + 0.9, rng)
            del k

    plog = {
        "namespace": "payments",
        "pod": pp.name,
        "app": "payment-processor",
        "host": "node-1",
        "container": "payment-processor",
    }
    rng = b.rng("pp-logs")

    def slog(ts: float, level: str, msg: str, **kv: Any) -> None:
        import json as _json

        body = {"time": w.rfc3339(ts), "level": level, "msg": msg, **kv}
        b.log(ts, plog, _json.dumps(body, separators=(",", ":")))

    t0 = T("13:58:02.318")
    slog(t0, "INFO", "starting payment-processor", version="1.4.0", commit="9f3c2ab")
    slog(
        t0 + 0.004,
        "INFO",
        "config loaded",
        settlement_provider="stripe",
        ledger="ledger-db:5432",
        fraud_api="fraud-scoring.risk:8080",
    )
    slog(t0 + 0.21, "INFO", "connected to ledger", addr="ledger-db:5432")
    slog(t0 + 0.22, "INFO", "worker pool started", workers=12)
    slog(t0 + 0.23, "INFO", "http server listening", addr=":8080")
    t = t0 + 40
    batch = 18231
    while t < b.end:
        batch += 1
        slog(
            t,
            "INFO",
            "batch settled",
            batch=batch,
            payments=rng.randint(40, 95),
            duration_ms=rng.randint(380, 1900),
        )
        t += rng.uniform(35, 70)
    for downs in (a_down, b_down):
        for crash, restart in downs:
            for _ in range(rng.randint(2, 5)):
                ts = crash + rng.uniform(0.5, restart - crash + 4)
                host = rng.choice(("api.stripe.com", "ledger-db", "fraud-scoring.risk"))
                fq = {
                    "api.stripe.com": "api.stripe.com",
                    "ledger-db": "ledger-db.payments.svc.cluster.local",
                    "fraud-scoring.risk": "fraud-scoring.risk.svc.cluster.local",
                }[host]
                slog(
                    ts,
                    "WARN",
                    "lookup failed, retrying",
                    host=host,
                    err=f"lookup {fq} on {KUBE_DNS}:53: read udp {pp.ip}:"
                    f"{rng.randint(32768, 60999)}->{KUBE_DNS}:53: i/o timeout",
                )
    kube_noise(b)

    # The alert: KubePodCrashLooping (max_over_time(...[5m]) >= 1, for: 15m).
    rule = RULES["KubePodCrashLooping"]
    seen = [t for t in ksm_t if any(a <= t < z for a, z in a_down)]
    starts = fired_at(
        rule_evals(b, "kubernetes-apps"), lambda e: any(e - 300 < x <= e for x in seen), 900
    )
    labels = kube_alert_labels(
        {
            "alertname": "KubePodCrashLooping",
            "container": "coredns",
            "instance": KSM_TARGET,
            "job": "kube-state-metrics",
            "namespace": "kube-system",
            "pod": dns_a.name,
            "reason": "CrashLoopBackOff",
            "severity": "warning",
            "uid": uids[dns_a.name],
        }
    )
    ann = {
        "description": f"Pod kube-system/{dns_a.name} (coredns) is in waiting state (reason: "
        f'"CrashLoopBackOff") on cluster {CLUSTER}.',
        "runbook_url": rule["annotations"]["runbook_url"],
        "summary": rule["annotations"]["summary"],
    }
    alert = w.webhook_payload(
        [w.alert_entry(labels, ann, starts, w.generator_url(PROM_URL, rule["expr"]))],
        receiver="strata",
        group_labels={"alertname": "KubePodCrashLooping", "namespace": "kube-system"},
        external_url=AM_URL,
    )
    meta = {
        "schema_version": 1,
        "id": b.sid,
        "title": "KubePodCrashLooping for a CoreDNS pod (OOMKilled)",
        "observed_at": w.rfc3339(b.end),
        "window": {"start": w.rfc3339(b.start), "end": w.rfc3339(b.end)},
        "topology": topology([dns_a, dns_b, pp, *BACKGROUND_PODS]),
        "ground_truth": {
            "layer": "dns",
            "fault": "query_flood",
            "component": "payment-processor",
            "explanation": (
                "payment-processor (payments, 10.244.0.47), deployed at 13:57, resolves "
                "ledger-db, fraud-scoring.risk and api.stripe.com every 100 ms in each of 12 "
                "workers; with ndots:5 each lookup fans out into up to 10 A/AAAA queries, mostly "
                "NXDOMAIN. CoreDNS goes from ~48 to 600-900 queries/s, its working set climbs to "
                "the 170Mi limit and both replicas are OOMKilled and crash-loop from 14:14. "
                "The OOM kills, restarts and memory growth are real but are the flood's effect."
            ),
            "red_herrings": ["compute"],
        },
        "tags": ["seed", "conflicting"],
    }
    write(b, meta, alert, out)


def kube_noise(b: Build) -> None:
    """A little of what kubelets log in a normal half hour."""
    rng = b.rng("kubelet-noise")
    for node in NODES:
        pid = KUBELET_PID[node.name]
        t = b.start + rng.uniform(30, 400)
        while t < b.end:
            where, msg = rng.choice(
                (
                    (
                        "kubelet_volumes.go:163",
                        '"Cleaned up orphaned pod volumes dir" podUID="{u}" '
                        'path="/var/lib/kubelet/pods/{u}/volumes"',
                    ),
                    ("kuberuntime_gc.go:358", '"Removing container" containerID="{c}"'),
                    (
                        "kubelet.go:2542",
                        '"SyncLoop (probe)" probe="readiness" status="ready" pod="{p}"',
                    ),
                )
            )
            pod = rng.choice(BACKGROUND_PODS)
            line = msg.format(u=uid(rng), p=f"{pod.namespace}/{pod.name}", c=hexid(rng))
            b.log(
                t,
                {"app": "kubelet", "host": node.name},
                klog(t, "I", pid, where, line, rng.randint(0, 999)),
            )
            t += rng.uniform(240, 900)


def quiet_switch(b: Build) -> None:
    """sw1 polled every 30 s, nothing happening on it."""
    sw1 = Switch("sw1", b.start - 46.3 * 86400, b.start - 9.7 * 86400, 41, sw1_ports())
    snmp_switch(b, sw1, 30.0, lambda _t: 0.01)


# =========================================================================== 10


def build_10(out: Path) -> None:
    day = "2024-12-14"
    b = Build("10_stp_loop_dns_symptoms", "seed-10", day, at(day, "02:40:00"), at(day, "03:12:00"))
    loop = LOOP_10
    storm = w.piecewise([(loop, 0.0), (loop + 45, 1.0)])  # 0..1 storm intensity
    wobble: Profile = lambda t: 0.8 + 0.2 * math.sin((t - loop) / 97.0) + 0.1 * math.sin(t / 23.0)  # noqa: E731
    intensity: Profile = lambda t: storm(t) * wobble(t)  # noqa: E731
    dns_a = coredns_pod("coredns-76f75df574-gx8pl", "10.244.1.4", "node-2")
    dns_b = coredns_pod("coredns-76f75df574-t2n7c", "10.244.2.3", "node-3")
    pods = [*BACKGROUND_PODS, dns_a, dns_b]
    uids = pod_uids(b, pods)

    # Prometheus runs on node-3: scrapes across sw1 sometimes fail during the storm.
    window = (loop + 30, b.end)
    for target in (
        "node-1:9100",
        "node-2:9100",
        f"{dns_a.ip}:9153",
        f"{NODE['node-1'].ip}:10250/metrics/cadvisor",
        f"{NODE['node-2'].ip}:10250/metrics/cadvisor",
        f"{NODE['node-1'].ip}:2381",
    ):
        b.fail_scrapes(target, window, 0.12)

    timeout = w.clamp(w.scale(intensity, 0.7), 0.0, 0.9)
    # "cache 30": answers expire within 30 s and are not refreshed, so most go upstream.
    miss = w.add(w.constant(FWD_MISS), w.scale(storm, 0.45))
    load = DnsLoad(
        background=w.add(w.constant(46.0), w.scale(intensity, 3.5)),
        timeout=timeout,
        miss=miss,
        upstream_servfail=w.add(w.constant(0.0002), w.scale(intensity, 0.055)),
        slow=w.scale(intensity, 0.03),
    )
    dpods = [DnsPod(dns_a, uids[dns_a.name]), DnsPod(dns_b, uids[dns_b.name])]
    coredns(b, dpods, load, log_share=2.4e-3)
    bg_mix = mix_of((c, c.weight) for c in BACKGROUND_CLIENTS)
    fwd_share = bg_mix.share(lambda q: q.fwd)
    err_rate: Profile = lambda t: load.background(t) * fwd_share * miss(t) * timeout(t)  # noqa: E731
    coredns_upstream_errors(b, dpods, load, err_rate, share=0.065)
    cadvisor(
        b, dns_a, mem=w.constant(24.5 * MiB), cpu=w.add(w.constant(0.012), w.scale(intensity, 0.02))
    )
    cadvisor(
        b, dns_b, mem=w.constant(23.1 * MiB), cpu=w.add(w.constant(0.011), w.scale(intensity, 0.02))
    )
    background_workloads(b, uids)
    for dp in (dns_a, dns_b):
        ksm_pod(b, dp, uids[dp.name], priority="system-cluster-critical")
    ksm_nodes(b)

    for node in NODES:
        load_n = NodeLoad(
            softirq_extra=w.scale(intensity, 0.75 + 0.1 * node.port),
            rx_extra=w.scale(intensity, 6.1e7),
            rx_drop=w.add(w.constant(0.04), w.scale(intensity, 420.0 + 160 * node.port)),
            fs_used=0.675 if node.name == "node-3" else None,
        )
        node_exporter(b, node, load_n)
    etcd_fsync(b)

    # apiserver recording rules (what KubeAPILatencyHigh reads), evaluated every 30 s.
    # 5m rate windows, and relists as watches time out, make latency lag the loop.
    rise = w.piecewise([(loop + 240, 0.0), (loop + 560, 1.0)])
    lag: Profile = lambda t: rise(t) * intensity(t)  # noqa: E731
    api_rules(b, lag)
    # Watches that time out make kube-proxy, CoreDNS and ingress-nginx relist endpointslices.
    relists = w.add(w.constant(0.01), w.scale(lag, 0.45))
    b.platform = Platform(api=[*quiet_api(lag), api_stream("LIST", "endpointslices", relists, lag)])

    # sw1: the loop.
    bc: Callable[[float], Profile] = lambda peak: w.add(w.constant(4.2), w.scale(intensity, peak))  # noqa: E731
    od: Callable[[float], Profile] = lambda peak: w.scale(intensity, peak)  # noqa: E731
    ports = sw1_ports(
        {
            1: {"bcast": w.add(w.constant(3.1), w.scale(storm, 5.0)), "out_disc": od(3100.0)},
            2: {"bcast": w.add(w.constant(2.4), w.scale(storm, 4.6)), "out_disc": od(2700.0)},
            3: {"bcast": w.add(w.constant(2.9), w.scale(storm, 5.3)), "out_disc": od(3400.0)},
            4: {"out_disc": od(1900.0)},
            5: {
                "bcast": bc(482_000.0),
                "ucast": w.add(w.constant(1300.0), w.scale(intensity, 6100)),
                "octets": w.add(w.constant(8.1e5), w.scale(intensity, 482_000 * 86 + 6100 * 410)),
                "in_disc": od(5200.0),
            },
            6: {
                "bcast": bc(431_000.0),
                "ucast": w.add(w.constant(35.0), w.scale(intensity, 5800)),
                "octets": w.add(w.constant(2.2e4), w.scale(intensity, 431_000 * 86 + 5800 * 410)),
                "in_disc": od(4700.0),
            },
            8: {"out_disc": od(2200.0)},
            9: {"out_disc": od(1400.0)},
        }
    )
    sw1 = Switch(
        "sw1",
        b.start - 46.3 * 86400,
        at("2024-12-02", "14:31:07"),
        41,
        ports,
        tc_rate=w.scale(storm, 0.56),
        tc_recent=storm,
    )
    snmp_switch(b, sw1, 30.0, lambda t: 0.16 if t > loop + 20 else 0.0)
    switch_syslog(b, loop)

    # apiserver traces and kubelet lease errors.
    api_logs(b, loop)

    # What someone ran on node-2 shortly before the diagnosis.
    ssh_10(b)

    rule = LEGACY_RULES["KubeAPILatencyHigh"]
    labels = kube_alert_labels(
        {
            "alertname": "KubeAPILatencyHigh",
            "component": "apiserver",
            "endpoint": "https",
            "group": "discovery.k8s.io",
            "job": "apiserver",
            "namespace": "default",
            "quantile": "0.99",
            "resource": "endpointslices",
            "scope": "cluster",
            "service": "kubernetes",
            "severity": "warning",
            "verb": "LIST",
            "version": "v1",
        }
    )
    p99 = API_P99["LIST endpointslices"]
    starts = fired_at(
        rule_evals(b, "kubernetes-system-apiserver"),
        lambda e: value_at(p99, e) > 1.0 and latency_outlier(e, "LIST", "endpointslices"),
        300,
    )
    value = value_at(p99, starts)
    ann = {
        "message": f"The API server has an abnormal latency of {value!r} seconds for LIST "
        f"endpointslices.",
        "runbook_url": rule["annotations"]["runbook_url"],
    }
    alert = w.webhook_payload(
        [w.alert_entry(labels, ann, starts, w.generator_url(PROM_URL, rule["expr"]))],
        receiver="strata",
        group_labels={"alertname": "KubeAPILatencyHigh", "namespace": "default"},
        external_url=AM_URL,
    )
    meta = {
        "schema_version": 1,
        "id": b.sid,
        "title": "KubeAPILatencyHigh; CoreDNS upstream i/o timeouts in the logs",
        "observed_at": w.rfc3339(b.end),
        "window": {"start": w.rfc3339(b.start), "end": w.rfc3339(b.end)},
        "topology": topology([dns_a, dns_b, *BACKGROUND_PODS]),
        "ground_truth": {
            "layer": "network",
            "fault": "stp_loop",
            "component": "sw1",
            "explanation": (
                "At 02:52 a bridging loop forms on sw1 through the Proxmox host on ports 5 and 6 "
                "(VLAN 10 bridged on both NICs, STP off on the Linux bridges). Broadcasts circulate "
                "(ifHCInBroadcastPkts on ports 5/6 from ~4/s to ~450k/s), sw1 counts hundreds of "
                "topology changes, MAC addresses flap, egress queues drop on every port and the "
                "nodes drop received packets. CoreDNS's upstream queries to the router time out "
                "(i/o timeout, SERVFAIL) and kubelet/CoreDNS requests to the apiserver crawl, "
                "which fires KubeAPILatencyHigh. DNS is a symptom, not the cause."
            ),
            "red_herrings": ["dns"],
        },
        "tags": ["seed", "conflicting", "motivating"],
    }
    write(b, meta, alert, out)


API_P99: dict[str, list[w.Point]] = {}
API_MEAN: dict[tuple[str, str], list[w.Point]] = {}
LOOP_10 = at("2024-12-14", "02:52:10")

API_COMBOS = (
    # verb, resource, group, scope, baseline p99, storm p99, baseline mean, storm mean
    ("LIST", "endpointslices", "discovery.k8s.io", "cluster", 0.118, 2.35, 0.021, 0.93),
    ("LIST", "pods", "", "cluster", 0.41, 0.86, 0.064, 0.21),
    ("LIST", "services", "", "cluster", 0.089, 0.74, 0.012, 0.17),
    ("LIST", "configmaps", "", "cluster", 0.071, 0.42, 0.011, 0.09),
    ("LIST", "secrets", "", "cluster", 0.064, 0.38, 0.010, 0.08),
    ("LIST", "nodes", "", "cluster", 0.052, 0.55, 0.009, 0.12),
    ("LIST", "namespaces", "", "cluster", 0.023, 0.21, 0.005, 0.05),
    ("LIST", "endpoints", "", "cluster", 0.081, 0.61, 0.013, 0.14),
    ("LIST", "deployments", "apps", "cluster", 0.057, 0.33, 0.009, 0.07),
    ("LIST", "replicasets", "apps", "cluster", 0.094, 0.47, 0.015, 0.10),
    ("LIST", "persistentvolumeclaims", "", "cluster", 0.031, 0.19, 0.006, 0.04),
    ("LIST", "ingresses", "networking.k8s.io", "cluster", 0.029, 0.24, 0.005, 0.05),
    ("GET", "leases", "coordination.k8s.io", "namespace", 0.024, 0.46, 0.006, 0.052),
    ("PUT", "leases", "coordination.k8s.io", "namespace", 0.031, 0.62, 0.008, 0.071),
)


def latency_outlier(ts: float, verb: str, resource: str) -> bool:
    """The legacy rule's test: this resource's mean5m is above avg + 2 stddev and 1.2 avg
    of all resources with the same verb (Prometheus' stddev is the population one)."""
    means = {r: value_at(pts, ts) for (v, r), pts in API_MEAN.items() if v == verb}
    avg = sum(means.values()) / len(means)
    sd = math.sqrt(sum((x - avg) ** 2 for x in means.values()) / len(means))
    return means[resource] > avg + 2 * sd and means[resource] > 1.2 * avg


def _between(lo: float, hi: float, frac: Profile) -> Profile:
    return lambda t: lo + (hi - lo) * frac(t)


def api_rules(
    b: Build, lag: Profile, own: dict[tuple[str, str], tuple[Profile, Profile]] | None = None
) -> None:
    """The kube-prometheus recording rules over API_COMBOS: quiet values moving towards the
    storm values as ``lag`` goes from 0 to 1, or (p99, mean) profiles of ``own`` combos."""
    times = rule_evals(b, "kubernetes-system-apiserver.rules")
    for verb, resource, group, scope, p_lo, p_hi, m_lo, m_hi in API_COMBOS:
        labels = {
            "component": "apiserver",
            "endpoint": "https",
            "group": group,
            "job": "apiserver",
            "namespace": "default",
            "resource": resource,
            "scope": scope,
            "service": "kubernetes",
            "verb": verb,
            "version": "v1",
        }
        if not group:
            del labels["group"]
        if group == "coordination.k8s.io":
            labels["version"] = "v1"
        rng = b.rng("api", verb, resource)
        p99_level, mean_level = (own or {}).get(
            (verb, resource), (_between(p_lo, p_hi, lag), _between(m_lo, m_hi, lag))
        )
        p99 = w.gauge_series(
            rng,
            times,
            p99_level,
            rel_noise=0.08,
            lo=0.005,
            sig=6,
        )
        mean = w.gauge_series(
            rng,
            times,
            mean_level,
            rel_noise=0.06,
            lo=0.001,
            sig=6,
        )
        b.om.unknown(
            "cluster_quantile:apiserver_request_duration_seconds:histogram_quantile",
            "",
            {**labels, "quantile": "0.99"},
            p99,
        )
        b.om.unknown("cluster:apiserver_request_duration_seconds:mean5m", "", labels, mean)
        API_MEAN[(verb, resource)] = mean
        API_P99[f"{verb} {resource}"] = p99


def cisco_ts(ts: float) -> str:
    dt = datetime.fromtimestamp(math.floor(ts), tz=UTC)
    return f"{dt:%b} {dt.day:>2} {dt:%H:%M:%S}.{round(ts * 1000) % 1000:03d} UTC"


def switch_syslog(b: Build, loop: float) -> None:
    rng = b.rng("sw1-syslog")
    labels = {"app": "syslog", "host": "sw1"}
    seq = 18734
    macs = {
        "node-1": ("5847.ca71.0e41", "Gi1/0/1"),
        "node-2": ("5847.ca71.0e42", "Gi1/0/2"),
        "node-3": ("5847.ca71.1f07", "Gi1/0/3"),
        "nas": ("001f.c6a2.33d0", "Gi1/0/4"),
        "router": ("90ec.7712.04b8", "Te1/1/1"),
        "ap": ("a0b5.3c0e.91f2", "Gi1/0/8"),
        "vm1": ("bc24.1119.3a5e", "Gi1/0/5"),
        "vm2": ("bc24.11d2.7c04", "Gi1/0/5"),
        "vm3": ("bc24.1143.e8a9", "Gi1/0/5"),
    }
    # before the loop: an ordinary line or two
    for ts, msg in (
        (
            b.start + 211.4,
            "%SSH-5-SSH2_USERAUTH: User 'netbox' authentication for "
            "SSH2 Session from 10.0.0.21 (tty = 0) using crypto cipher "
            "'aes256-ctr', hmac 'hmac-sha2-256' Succeeded",
        ),
        (
            b.start + 213.9,
            "%SSH-5-SSH2_CLOSE: SSH2 Session from 10.0.0.21 (tty = 0) "
            "for user 'netbox' using crypto cipher 'aes256-ctr', "
            "hmac 'hmac-sha2-256' closed",
        ),
    ):
        seq += 1
        b.log(ts, labels, f"{seq:06d}: {cisco_ts(ts)}: {msg}")
    t = loop + 3.7
    next_trap = loop + 1.2
    while t < b.end:
        if next_trap <= t:
            seq += 1
            b.log(
                next_trap,
                labels,
                f"{seq:06d}: {cisco_ts(next_trap)}: %SPANTREE-5-TOPOTRAP: Topology Change Trap "
                f"for vlan 10",
            )
            next_trap += rng.uniform(35, 95)
        who = rng.choice(list(macs))
        mac, home = macs[who]
        if home == "Gi1/0/5":
            a, z = "Gi1/0/5", "Gi1/0/6"
        else:
            a, z = home, rng.choice(("Gi1/0/5", "Gi1/0/6"))
        if rng.random() < 0.5:
            a, z = z, a
        seq += 1
        b.log(
            t,
            labels,
            f"{seq:06d}: {cisco_ts(t)}: %SW_MATM-4-MACFLAP_NOTIF: Host {mac} in vlan "
            f"10 is flapping between port {a} and port {z}",
        )
        t += rng.uniform(6, 19)


def api_logs(b: Build, loop: float) -> None:
    rng = b.rng("apiserver-logs")
    labels = {
        "namespace": "kube-system",
        "pod": "kube-apiserver-node-1",
        "app": "kube-apiserver",
        "host": "node-1",
        "container": "kube-apiserver",
    }
    boot_mono = 1_482_311.0  # apiserver process monotonic clock at the window start, s
    urls = (
        (
            "List",
            "/apis/discovery.k8s.io/v1/endpointslices?allowWatchBookmarks=true&"
            "resourceVersion=48213377&timeout=8m51s",
            5,
        ),
        ("List", "/apis/discovery.k8s.io/v1/endpointslices?limit=500&resourceVersion=0", 4),
        ("List", "/api/v1/services?limit=500&resourceVersion=0", 2),
        ("Get", "/apis/coordination.k8s.io/v1/namespaces/kube-node-lease/leases/node-2", 2),
        ("Update", "/apis/coordination.k8s.io/v1/namespaces/kube-node-lease/leases/node-3", 2),
        ("Get", "/api/v1/namespaces/kube-system/endpoints/kube-scheduler", 1),
        (
            "List",
            "/api/v1/pods?fieldSelector=spec.nodeName%3Dnode-2&limit=500&resourceVersion=0",
            1,
        ),
    )
    total_w = sum(x for _, _, x in urls)
    t = b.start + 400.0
    while t < b.end:
        storm = t > loop + 70
        if storm or rng.random() < 0.25:
            verb, url = rng.choices(
                [(v, u) for v, u, _ in urls], weights=[x / total_w for _, _, x in urls]
            )[0]
            dur = rng.uniform(0.55, 4.8) if storm else rng.uniform(0.5, 0.75)
            started = t - dur
            tid = rng.randint(100_000_000, 2_147_483_647)
            sdt = datetime.fromtimestamp(math.floor(started), tz=UTC)
            frac = f"{int((started % 1) * 1e6):06d}{rng.randint(0, 999):03d}"
            mono = boot_mono + (started - b.start)
            b.log(
                t,
                labels,
                klog(
                    t,
                    "I",
                    1,
                    "trace.go:116",
                    f'Trace[{tid}]: "{verb}" url:{url} (started: {sdt:%Y-%m-%d %H:%M:%S}.{frac} '
                    f"+0000 UTC m=+{mono:.9f}) (total time: {dur:.9f}s):",
                    rng.randint(0, 999),
                ),
            )
            b.log(
                t + 0.000004,
                labels,
                f"Trace[{tid}]: [{dur - 0.00004:.9f}s] [{dur - 0.0002:.9f}s] About to write a "
                f"response",
            )
        t += rng.uniform(25, 70) if storm else rng.uniform(90, 240)
    for node, pid in (("node-2", 874), ("node-3", 912)):
        t = loop + rng.uniform(120, 200)
        while t < b.end:
            if rng.random() < 0.5:
                line = klog(
                    t,
                    "E",
                    pid,
                    "kubelet_node_status.go:535",
                    f'"Error updating node status, will retry" err="error getting node '
                    f'\\"{node}\\": Get \\"https://10.0.0.11:6443/api/v1/nodes/{node}?'
                    f'resourceVersion=0&timeout=10s\\": net/http: request canceled '
                    f'(Client.Timeout exceeded while awaiting headers)"',
                    rng.randint(0, 999),
                )
            else:
                line = klog(
                    t,
                    "E",
                    pid,
                    "controller.go:195",
                    f'"Failed to update lease" err="Put \\"https://10.0.0.11:6443/apis/'
                    f"coordination.k8s.io/v1/namespaces/kube-node-lease/leases/{node}?"
                    f'timeout=10s\\": context deadline exceeded"',
                    rng.randint(0, 999),
                )
            b.log(t, {"app": "kubelet", "host": node}, line)
            t += rng.uniform(60, 210)
    kube_noise(b)


def ssh_10(b: Build) -> None:
    node = NODE["node-2"]
    t = b.at("03:10:31.420")
    drops = _series_value(b, "node_network_receive_drop_total", "node-2:9100", t)
    rx_b = _series_value(b, "node_network_receive_bytes_total", "node-2:9100", t)
    tx_b = _series_value(b, "node_network_transmit_bytes_total", "node-2:9100", t)
    rng = b.rng("ssh-10")
    rx_p = int(rx_b / 212)
    tx_p = int(tx_b / 640)
    mcast = int(rx_p * 0.0041)
    boot = b.start - node.boot_days * 86400
    b.ssh.append(
        w.ssh_record(
            t - 9.3, node.name, "uptime", uptime_line(t - 9.3, boot, 1, (2.41, 2.17, 1.38))
        )
    )
    b.ssh.append(
        w.ssh_record(
            t,
            node.name,
            "ip -s link show eth0",
            "2: eth0: <BROADCAST,MULTICAST,UP,LOWER_UP> mtu 1500 qdisc mq state UP mode DEFAULT "
            "group default qlen 1000\n"
            f"    link/ether {node.mac} brd ff:ff:ff:ff:ff:ff\n"
            "    RX:  bytes packets errors dropped  missed   mcast\n"
            f"    {int(rx_b)} {rx_p}      0 {int(drops)}       0 {mcast}\n"
            "    TX:  bytes packets errors dropped carrier collsns\n"
            f"    {int(tx_b)} {tx_p}      0       0       0       0\n"
            "    altname enp1s0\n",
        )
    )
    lines = []
    for off, msg in (
        (
            31.2,
            "EXT4-fs (nvme0n1p2): mounted filesystem 1b6a1f3e-8c2d-4a5e-9f7b-"
            "2d0c5e7a9b13 ro with ordered data mode. Quota mode: none.",
        ),
        (37.9, "igc 0000:01:00.0 eth0: NIC Link is Up 1000 Mbps Full Duplex, Flow Control: RX/TX"),
        (38.0, "IPv6: ADDRCONF(NETDEV_CHANGE): eth0: link becomes ready"),
        (52.4, "cni0: port 1(veth0b41c2ee) entered blocking state"),
        (52.4, "cni0: port 1(veth0b41c2ee) entered disabled state"),
        (52.5, "device veth0b41c2ee entered promiscuous mode"),
        (52.6, "cni0: port 1(veth0b41c2ee) entered forwarding state"),
        (86400 * 9.6, "cni0: port 6(veth7d2a90c1) entered disabled state"),
        (86400 * 9.6 + 0.1, "device veth7d2a90c1 left promiscuous mode"),
        (86400 * 9.6 + 0.1, "cni0: port 6(veth7d2a90c1) entered disabled state"),
    ):
        dt = datetime.fromtimestamp(math.floor(boot + off), tz=UTC)
        lines.append(f"[{dt:%a %b %e %H:%M:%S %Y}] {msg}")
    del rng
    b.ssh.append(w.ssh_record(t + 6.1, node.name, "dmesg -T | tail -n 50", "\n".join(lines) + "\n"))


def _series_value(b: Build, family_sample: str, instance: str, ts: float) -> float:
    for labels, pts in b.om.series(family_sample):
        if labels.get("instance") == instance:
            return value_at(pts, ts)
    raise KeyError(family_sample)


# =========================================================================== 20


def build_20(out: Path) -> None:
    day = "2025-02-03"
    b = Build(
        "20_no_fault_cpu_throttling", "seed-20", day, at(day, "00:45:00"), at(day, "01:20:00")
    )
    T = b.at
    sched = T("01:00:00")
    job_name = f"nightly-rollup-{int(sched // 60)}"
    job_pod = Pod(
        "analytics",
        f"{job_name}-k7xqp",
        "10.244.2.57",
        "node-3",
        "nightly-rollup",
        "rollup",
        "registry.home.arpa/analytics/rollup:2025.01.4",
        owner_kind="Job",
        mem=820 * MiB,
        mem_limit=2 * GiB,
        cpu=0.96,
        cpu_limit=1.0,
    )
    dns_a = coredns_pod("coredns-7c65d6cfc9-bm5wd", "10.244.1.9", "node-2")
    dns_b = coredns_pod("coredns-7c65d6cfc9-j8cz4", "10.244.2.4", "node-3")
    pods = [*BACKGROUND_PODS, dns_a, dns_b, job_pod]
    uids = pod_uids(b, pods)
    started = T("01:00:03.114")
    running: Callable[[float], bool] = lambda t: t >= started  # noqa: E731
    rng = b.rng("rollup")
    # memory: one partition at a time, a sawtooth between ~610 and ~930 MiB
    knots: list[tuple[float, float]] = [(started, 90 * MiB), (started + 25, 610 * MiB)]
    t = started + 25
    partition_ends: list[tuple[float, int, int, float]] = []
    part = 0
    while t < b.end + 120:
        dur = rng.uniform(38, 64)
        knots.append((t + dur - 1, rng.uniform(860, 935) * MiB))
        knots.append((t + dur, rng.uniform(600, 640) * MiB))
        partition_ends.append((t + dur, part, rng.randint(1_400_000, 2_300_000), dur))
        part += 1
        t += dur
    mem = w.piecewise(knots)
    cpu = w.piecewise([(started, 0.0), (started + 4, 0.97)])
    throttle: Profile = lambda t: 0.41 + 0.04 * math.sin((t - started) / 61.0)  # noqa: E731
    cadvisor(b, job_pod, mem=mem, cpu=cpu, alive=running, throttle=throttle)
    ksm_pod(b, job_pod, uids[job_pod.name], created=T("01:00:00.402"))
    ksm_jobs(b, job_name, sched)
    for dp in (dns_a, dns_b):
        cadvisor(b, dp, mem=w.constant(dp.mem * 0.83))
        ksm_pod(b, dp, uids[dp.name], priority="system-cluster-critical")
    background_workloads(b, uids)
    ksm_nodes(b)
    dpods = [DnsPod(dns_a, uids[dns_a.name]), DnsPod(dns_b, uids[dns_b.name])]
    coredns(b, dpods, DnsLoad(background=w.constant(39.0)), log_share=3.6e-3)
    for node in NODES:
        load = NodeLoad()
        if node.name == "node-3":
            load = NodeLoad(
                cpu_extra=w.add(cpu, w.constant(0.0)),
                mem_extra=w.add(mem, w.step(started, -90 * MiB, 0.0)),
            )
        if node.name == "node-1":
            load = NodeLoad(fs_used=0.664, fs_growth=3_500.0)
        node_exporter(b, node, load)
    etcd_fsync(b)
    quiet_switch(b)

    # The job's own log: it works through yesterday's partitions.
    labels = {
        "namespace": "analytics",
        "pod": job_pod.name,
        "app": "nightly-rollup",
        "host": "node-3",
        "container": "rollup",
    }

    def applog(ts: float, level: str, msg: str) -> None:
        b.log(ts, labels, f"{w.rfc3339(ts, digits=3)} {level:<5} rollup: {msg}")

    applog(
        started + 0.4,
        "INFO",
        "starting nightly rollup for 2025-02-02 (partitions=96, "
        "workers=4, db=postgres.db.svc.cluster.local:5432)",
    )
    applog(started + 1.3, "INFO", "connected to postgres (server 16.6)")
    applog(started + 2.0, "INFO", "loaded 96 partitions from events_raw (2025-02-02)")
    for end, p, rows, dur in partition_ends:
        applog(end, "INFO", f"partition 2025-02-02/{p:02d} done: rows={rows} elapsed={dur:.1f}s")
        if p == 11:
            applog(
                end + 0.2,
                "WARN",
                "slow query on events_raw (12.4s) for partition 2025-02-02/12, continuing",
            )
    kube_noise(b)
    ssh_20(b, job_pod)

    # The alert: CPUThrottlingHigh, info.
    rule = RULES["CPUThrottlingHigh"]
    node3 = NODE["node-3"].ip
    job_t = [t for t in b.times(f"{node3}:10250/metrics/cadvisor") if running(t)]
    starts = fired_at(
        rule_evals(b, "kubernetes-resources"),
        lambda e: (
            sum(1 for x in job_t if e - 300 < x <= e) >= 2 and throttle_ratio(b, job_pod, e) > 0.25
        ),
        900,
    )
    ratio = throttle_ratio(b, job_pod, starts)
    labels_a = kube_alert_labels(
        {
            "alertname": "CPUThrottlingHigh",
            "container": "rollup",
            "instance": "10.0.0.13:10250",
            "namespace": "analytics",
            "pod": job_pod.name,
            "service": "kubelet",
            "severity": "info",
        }
    )
    ann = {
        "description": f"{ratio * 100:.4g}% throttling of CPU in namespace analytics for "
        f"container rollup in pod {job_pod.name} on cluster {CLUSTER}.",
        "runbook_url": rule["annotations"]["runbook_url"],
        "summary": rule["annotations"]["summary"],
    }
    alert = w.webhook_payload(
        [w.alert_entry(labels_a, ann, starts, w.generator_url(PROM_URL, rule["expr"]))],
        receiver="strata",
        group_labels={"alertname": "CPUThrottlingHigh", "namespace": "analytics"},
        external_url=AM_URL,
    )
    meta = {
        "schema_version": 1,
        "id": b.sid,
        "title": "CPUThrottlingHigh for a nightly batch job",
        "observed_at": w.rfc3339(b.end),
        "window": {"start": w.rfc3339(b.start), "end": w.rfc3339(b.end)},
        "topology": topology([dns_a, dns_b, job_pod, *BACKGROUND_PODS]),
        "ground_truth": {
            "layer": "none",
            "fault": "no_fault",
            "component": job_pod.name,
            "explanation": (
                "The nightly-rollup CronJob (analytics) runs at 01:00 with a 1-CPU limit and is "
                "CPU-bound by design, so about 40% of its CFS periods are throttled and the info "
                "alert fires every night. It makes steady progress, nothing restarts or runs out "
                "of memory, nodes, DNS, disks and the network are healthy: nothing is broken."
            ),
            "red_herrings": [],
        },
        "tags": ["seed"],
    }
    write(b, meta, alert, out)


def throttle_ratio(b: Build, pod: Pod, ts: float) -> float:
    def inc(fam: str) -> float:
        """Increase between the first and last samples in (ts-5m, ts], as increase() sees
        them (its extrapolation cancels out in the ratio: both counters share timestamps)."""
        for labels, pts in b.om.series(fam):
            if labels.get("pod") == pod.name:
                inside = [v for t, v in pts if ts - 300 < t <= ts]
                return inside[-1] - inside[0]
        raise KeyError(fam)

    return inc("container_cpu_cfs_throttled_periods") / inc("container_cpu_cfs_periods")


def ksm_jobs(b: Build, job_name: str, sched: float) -> None:
    job = {"instance": KSM_TARGET, "job": "kube-state-metrics"}
    times = ksm_times(b)
    cj = {**job, "cronjob": "nightly-rollup", "namespace": "analytics"}
    b.om.gauge(
        "kube_cronjob_status_last_successful_time",
        "LastSuccessfulTime keeps information of when was the last time the job was "
        "completed successfully.",
        cj,
        [(t, float(int(sched - 86400 + 74 * 60 + 51))) for t in times],
    )
    b.om.gauge(
        "kube_cronjob_next_schedule_time",
        "Next time the cronjob should be scheduled. The time after lastScheduleTime, or "
        "after the cron job's creation time if it's never been scheduled. Use this to "
        "determine if the job is delayed.",
        cj,
        [(t, sched if t < sched else sched + 86400) for t in times],
    )
    active = [(t, 1.0 if t >= sched + 0.4 else 0.0) for t in times if t >= sched - 86400]
    b.om.gauge(
        "kube_job_status_active",
        "The number of actively running pods.",
        {**job, "job_name": job_name, "namespace": "analytics"},
        [p for p in active if p[0] >= sched],
    )


def ssh_20(b: Build, job_pod: Pod) -> None:
    node = NODE["node-3"]
    t = b.at("01:18:12.905")
    boot = b.start - node.boot_days * 86400
    used = 0.47 * FS_SIZE
    avail = int(FS_SIZE * 0.95 - used)
    b.ssh.append(w.ssh_record(t, node.name, "uptime", uptime_line(t, boot, 1, (2.38, 2.21, 1.64))))
    gi: Callable[[float], str] = lambda n: f"{n / GiB:.0f}G"  # noqa: E731
    b.ssh.append(
        w.ssh_record(
            t + 2.2,
            node.name,
            "df -h",
            "Filesystem      Size  Used Avail Use% Mounted on\n"
            "tmpfs           1.6G  3.9M  1.6G   1% /run\n"
            f"/dev/nvme0n1p2  {gi(FS_SIZE)}  {gi(used)}  {gi(avail)}  "
            f"{math.ceil(used / (used + avail) * 100)}% /\n"
            "tmpfs           7.8G     0  7.8G   0% /dev/shm\n"
            "tmpfs           5.0M     0  5.0M   0% /run/lock\n"
            "/dev/nvme0n1p1  1.1G  6.2M  1.1G   1% /boot/efi\n"
            "tmpfs           1.6G   12K  1.6G   1% /run/user/1000\n",
        )
    )
    start = b.at("01:00:01.2")
    lines = []
    for off, msg in (
        (-86400 * 2.3, "cni0: port 9(veth2f8e1b07) entered disabled state"),
        (-86400 * 2.3 + 0.1, "device veth2f8e1b07 left promiscuous mode"),
        (-86400 * 2.3 + 0.1, "cni0: port 9(veth2f8e1b07) entered disabled state"),
        (-86400 + 0.0, "cni0: port 9(veth91c0d4aa) entered blocking state"),
        (-86400 + 0.0, "cni0: port 9(veth91c0d4aa) entered disabled state"),
        (-86400 + 0.1, "device veth91c0d4aa entered promiscuous mode"),
        (-86400 + 0.2, "cni0: port 9(veth91c0d4aa) entered blocking state"),
        (-86400 + 0.2, "cni0: port 9(veth91c0d4aa) entered forwarding state"),
        (-86400 + 4497.3, "cni0: port 9(veth91c0d4aa) entered disabled state"),
        (-86400 + 4497.4, "device veth91c0d4aa left promiscuous mode"),
        (-86400 + 4497.4, "cni0: port 9(veth91c0d4aa) entered disabled state"),
        (0.0, "cni0: port 9(veth5ac3e9d1) entered blocking state"),
        (0.0, "cni0: port 9(veth5ac3e9d1) entered disabled state"),
        (0.1, "device veth5ac3e9d1 entered promiscuous mode"),
        (0.2, "cni0: port 9(veth5ac3e9d1) entered blocking state"),
        (0.2, "cni0: port 9(veth5ac3e9d1) entered forwarding state"),
    ):
        ts = start + off
        if ts < boot:
            continue
        dt = datetime.fromtimestamp(math.floor(ts), tz=UTC)
        lines.append(f"[{dt:%a %b %e %H:%M:%S %Y}] {msg}")
    b.ssh.append(w.ssh_record(t + 4.8, node.name, "dmesg -T | tail -n 50", "\n".join(lines) + "\n"))
    del job_pod


# =========================================================================== rules & main


def _load_rules() -> tuple[dict[str, dict[str, Any]], dict[str, dict[str, Any]]]:
    """Alert rule texts as kube-prometheus ships them (copied from the reference set)."""
    rules = {
        "KubePodCrashLooping": {
            "expr": 'max_over_time(kube_pod_container_status_waiting_reason{reason="'
            'CrashLoopBackOff", job="kube-state-metrics"}[5m]) >= 1\n',
            "annotations": {
                "runbook_url": "https://runbooks.prometheus-operator.dev/runbooks/kubernetes/"
                "kubepodcrashlooping",
                "summary": "Pod is crash looping.",
            },
        },
        "CPUThrottlingHigh": {
            "expr": (
                "sum without (id, metrics_path, name, image, endpoint, job, node) (\n"
                "  topk by (cluster, namespace, pod, container, instance) (1,\n"
                "    increase(\n"
                '      container_cpu_cfs_throttled_periods_total{container!="", job="kubelet", '
                'metrics_path="/metrics/cadvisor", }\n'
                "    [5m])\n"
                "  )\n"
                ")\n"
                "/ on (cluster, namespace, pod, container, instance) group_left\n"
                "sum without (id, metrics_path, name, image, endpoint, job, node) (\n"
                "  topk by (cluster, namespace, pod, container, instance) (1,\n"
                "    increase(\n"
                '      container_cpu_cfs_periods_total{job="kubelet", metrics_path="/metrics/'
                'cadvisor", }\n'
                "    [5m])\n"
                "  )\n"
                ")\n"
                "> ( 25 / 100 )\n"
            ),
            "annotations": {
                "runbook_url": "https://runbooks.prometheus-operator.dev/runbooks/kubernetes/"
                "cputhrottlinghigh",
                "summary": "Processes experience elevated CPU throttling.",
            },
        },
    }
    legacy = {
        "KubeAPILatencyHigh": {
            "expr": (
                'cluster_quantile:apiserver_request_duration_seconds:histogram_quantile{job="'
                'apiserver",quantile="0.99"}\n>\n1\nand on (verb,resource)\n(\n'
                '  cluster:apiserver_request_duration_seconds:mean5m{job="apiserver"}\n  >\n'
                "  on (verb) group_left()\n  (\n"
                '    avg by (verb) (cluster:apiserver_request_duration_seconds:mean5m{job="'
                'apiserver"} >= 0)\n    +\n'
                '    2*stddev by (verb) (cluster:apiserver_request_duration_seconds:mean5m{job="'
                'apiserver"} >= 0)\n  )\n) > on (verb) group_left()\n'
                '1.2 * avg by (verb) (cluster:apiserver_request_duration_seconds:mean5m{job="'
                'apiserver"} >= 0)\n'
            ),
            "annotations": {
                "runbook_url": "https://github.com/kubernetes-monitoring/kubernetes-mixin/tree/"
                "master/runbook.md#alert-name-kubeapilatencyhigh",
            },
        },
    }
    return rules, legacy


RULES, LEGACY_RULES = _load_rules()

BUILDERS: dict[str, Callable[[Path], None]] = {
    "01_coredns_oom_query_flood": build_01,
    "10_stp_loop_dns_symptoms": build_10,
    "20_no_fault_cpu_throttling": build_20,
}

EXTRA_MODULES = ("seeds_nodes", "seeds_platform", "seeds_injection")
"""Sibling scripts that build more seeds on this site; each defines its own BUILDERS."""


def all_builders() -> dict[str, Callable[[Path], None]]:
    """This file's builders plus those of the sibling seed modules that exist, by id."""
    import importlib

    found = dict(BUILDERS)
    for name in EXTRA_MODULES:
        if (HERE / f"{name}.py").is_file():
            found.update(importlib.import_module(name).BUILDERS)
    return dict(sorted(found.items()))


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--check",
        action="store_true",
        help="build into a temporary directory and compare with the tree",
    )
    parser.add_argument("--out", type=Path, default=HERE, help="where to write (default: here)")
    args = parser.parse_args(argv)
    if args.check:
        import filecmp
        import tempfile

        with tempfile.TemporaryDirectory() as tmp:
            changed = []
            for sid, build in all_builders().items():
                build(Path(tmp) / sid)
                for f in sorted((Path(tmp) / sid).iterdir()):
                    mine = args.out / sid / f.name
                    if not mine.exists() or not filecmp.cmp(f, mine, shallow=False):
                        changed.append(str(mine))
            for c in changed:
                print(f"would change: {c}")
            return 1 if changed else 0
    for sid, build in all_builders().items():
        build(args.out / sid)
        sizes = {f.name: f.stat().st_size for f in sorted((args.out / sid).iterdir())}
        total = sum(sizes.values())
        print(f"{sid}: {total / 1e6:.2f} MB " + " ".join(f"{k}={v}" for k, v in sizes.items()))
    return 0


if __name__ == "__main__":
    sys.exit(main())
