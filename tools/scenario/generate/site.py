"""A randomised homelab site: nodes on switch ports, the cluster's system pods and workloads.

Every generated scenario happens on its own site, drawn here from one seeded
``random.Random``: 3-6 nodes named by one of several schemes, 1-2 switches with the nodes
on ports, CoreDNS, ingress-nginx, etcd, the apiserver, kube-state-metrics, a provisioner,
and a handful of workloads with pod IPs inside each node's pod CIDR.

Nothing here knows which fault a scenario will carry; the site must look the same
whatever happens on it.
"""

from __future__ import annotations

import random
from collections.abc import Callable
from dataclasses import dataclass, field, replace

MiB = 1024**2
GiB = 1024**3
KSAFE = "bcdfghjklmnpqrstvwxz2456789"  # Kubernetes' rand.SafeEncodeString alphabet


@dataclass(frozen=True)
class Node:
    """A machine in the cluster and where it is plugged in."""

    name: str
    ip: str
    switch: str
    port: int
    pod_net: str  # "10.244.1": pods get 10.244.1.x
    cpus: int
    mem: int
    nic: str  # primary interface: eth0, enp1s0, ...
    mac: str
    disk: str  # block device: nvme0n1, sda, ...
    fs_dev: str  # root filesystem device: /dev/nvme0n1p2
    fs_size: int
    fs_files: int
    boot_days: float
    kubelet_pid: int
    control_plane: bool
    cpu_base: float  # fraction of all cores busy in normal operation
    mem_used: float  # fraction of memory in use normally
    fs_used: float  # fraction of the root filesystem used normally
    inode_used: float
    conntrack: float  # conntrack entries / limit normally
    disk_busy: float  # io_time rate normally


@dataclass(frozen=True)
class Port:
    """A switch port and what hangs off it (a node name, or a device such as ``nas``)."""

    index: int
    descr: str
    peer: str
    ucast: float  # normal broadcast and traffic levels
    bcast: float


@dataclass(frozen=True)
class Switch:
    """A managed switch polled over SNMP."""

    name: str
    ip: str
    ports: tuple[Port, ...]
    boot_days: float
    tc_base: int
    last_tc_days: float

    def port_of(self, peer: str) -> Port | None:
        """The port ``peer`` hangs off, if any."""
        return next((p for p in self.ports if p.peer == peer), None)


@dataclass(frozen=True)
class Workload:
    """An application (Deployment, StatefulSet or DaemonSet) and how it behaves normally."""

    name: str
    namespace: str
    kind: str
    container: str
    image: str
    mem: float
    mem_limit: float | None
    cpu: float
    cpu_limit: float | None
    port: int = 8080
    host: str | None = None  # ingress host, when exposed
    lookups: tuple[str, ...] = ()  # names it resolves
    replicas: int = 1
    infra: bool = False  # cluster infrastructure, not one of the site's applications


@dataclass(frozen=True)
class Pod:
    """One pod of a workload, on a node, with an IP."""

    name: str
    namespace: str
    ip: str
    node: str
    workload: str
    container: str
    image: str
    mem: float
    mem_limit: float | None
    cpu: float
    cpu_limit: float | None
    app: str  # the log stream's app label
    uid: str = ""


@dataclass(frozen=True)
class Site:
    """Everything that is the same before and after a fault."""

    cluster: str
    domain: str
    flavour: str  # kubeadm | rke2
    nodes: tuple[Node, ...]
    switches: tuple[Switch, ...]
    router: str  # upstream DNS / gateway
    kube_dns: str  # cluster DNS service IP
    dns_service: str  # topology name of the cluster DNS
    workloads: tuple[Workload, ...]
    pods: tuple[Pod, ...]
    prom_url: str
    am_url: str
    pvcs: tuple[tuple[str, str, str], ...] = field(default=())  # (namespace, claim, workload)

    def node(self, name: str) -> Node:
        """The node called ``name``."""
        return next(n for n in self.nodes if n.name == name)

    def switch(self, name: str) -> Switch:
        """The switch called ``name``."""
        return next(s for s in self.switches if s.name == name)

    @property
    def control_plane(self) -> Node:
        """The (first) control-plane node: etcd and the apiserver run there."""
        return next(n for n in self.nodes if n.control_plane)

    def pods_of(self, workload: str) -> list[Pod]:
        """Pods of a workload."""
        return [p for p in self.pods if p.workload == workload]

    def workload(self, name: str) -> Workload:
        """The workload called ``name``."""
        return next(w for w in self.workloads if w.name == name)

    @property
    def dns_pods(self) -> list[Pod]:
        """The cluster DNS's pods."""
        return [p for p in self.pods if p.app == "coredns"]

    @property
    def apps(self) -> list[Workload]:
        """The site's own applications (not cluster infrastructure)."""
        return [w for w in self.workloads if not w.infra]

    @property
    def exposed(self) -> list[Workload]:
        """Applications behind the ingress."""
        return [w for w in self.apps if w.host]


_NAMING: tuple[Callable[[int], str], ...] = (
    lambda i: f"node-{i}",
    lambda i: f"k8s-{i:02d}",
    lambda i: f"kube-worker-{i}",
    lambda i: f"pve-k8s-{i}",
    lambda i: f"nuc{i}",
    lambda i: f"srv-{i:02d}",
    lambda i: ("alpha", "bravo", "charlie", "delta", "echo", "foxtrot")[i - 1],
    lambda i: f"rpi4-{'abcdef'[i - 1]}",
)
_SWITCH_NAMES = ("sw1", "sw-core", "csw01", "sw-rack", "switch-garage", "c2960-1", "sw-lab")
_DOMAINS = ("home.arpa", "lan", "homelab.internal", "int.example.net", "local.lab")
_CLUSTERS = ("homelab", "k8s-home", "lab", "prod", "garage", "hl")
_DISKS = (("nvme0n1", "/dev/nvme0n1p2"), ("sda", "/dev/sda2"), ("vda", "/dev/vda1"))
_NICS = ("eth0", "enp1s0", "eno1", "ens18", "enp3s0")

# name, namespace, kind, container, image, mem MiB, limit MiB, cpu, cpu limit, port,
# exposed, lookups (names it resolves)
_CATALOGUE: tuple[
    tuple[
        str,
        str,
        str,
        str,
        str,
        float,
        float | None,
        float,
        float | None,
        int,
        bool,
        tuple[str, ...],
    ],
    ...,
] = (
    (
        "grafana",
        "monitoring",
        "Deployment",
        "grafana",
        "docker.io/grafana/grafana:11.3.1",
        210,
        512,
        0.03,
        0.5,
        3000,
        True,
        ("prometheus-k8s.monitoring", "loki", "grafana.com"),
    ),
    (
        "home-assistant",
        "home",
        "StatefulSet",
        "home-assistant",
        "ghcr.io/home-assistant/home-assistant:2024.11.3",
        640,
        2048,
        0.09,
        None,
        8123,
        True,
        ("mosquitto", "api.met.no", "time.cloudflare.com"),
    ),
    (
        "immich-server",
        "media",
        "Deployment",
        "immich-server",
        "ghcr.io/immich-app/immich-server:v1.121.0",
        505,
        4096,
        0.05,
        None,
        2283,
        True,
        ("immich-postgres", "immich-redis"),
    ),
    (
        "nextcloud",
        "cloud",
        "Deployment",
        "nextcloud",
        "docker.io/library/nextcloud:30.0.2-apache",
        380,
        1024,
        0.06,
        1.0,
        80,
        True,
        ("nextcloud-postgres", "nextcloud-redis", "apps.nextcloud.com"),
    ),
    (
        "vaultwarden",
        "vault",
        "Deployment",
        "vaultwarden",
        "docker.io/vaultwarden/server:1.32.5",
        48,
        256,
        0.005,
        0.25,
        80,
        True,
        ("api.pwnedpasswords.com",),
    ),
    (
        "paperless-ngx",
        "docs",
        "Deployment",
        "paperless-ngx",
        "ghcr.io/paperless-ngx/paperless-ngx:2.13.5",
        720,
        2048,
        0.04,
        2.0,
        8000,
        True,
        ("paperless-redis", "paperless-postgres"),
    ),
    (
        "gitea",
        "dev",
        "StatefulSet",
        "gitea",
        "docker.io/gitea/gitea:1.22.4",
        190,
        1024,
        0.02,
        1.0,
        3000,
        True,
        ("gitea-postgres", "github.com"),
    ),
    (
        "jellyfin",
        "media",
        "Deployment",
        "jellyfin",
        "docker.io/jellyfin/jellyfin:10.10.3",
        860,
        4096,
        0.08,
        None,
        8096,
        True,
        ("api.themoviedb.org", "musicbrainz.org"),
    ),
    (
        "orders-api",
        "shop",
        "Deployment",
        "orders-api",
        "registry.home.arpa/shop/orders-api:2.8.1",
        240,
        512,
        0.12,
        1.0,
        8080,
        True,
        ("orders-db", "payments.shop", "api.stripe.com"),
    ),
    (
        "payment-processor",
        "payments",
        "Deployment",
        "payment-processor",
        "registry.home.arpa/payments/payment-processor:1.4.0",
        180,
        512,
        0.10,
        1.0,
        8080,
        False,
        ("ledger-db", "fraud-scoring.risk", "api.stripe.com"),
    ),
    (
        "uptime-kuma",
        "monitoring",
        "Deployment",
        "uptime-kuma",
        "docker.io/louislam/uptime-kuma:1.23.15",
        130,
        512,
        0.03,
        None,
        3001,
        True,
        ("google.com", "cloudflare.com", "github.com"),
    ),
    (
        "postgres",
        "db",
        "StatefulSet",
        "postgres",
        "docker.io/library/postgres:16.6",
        700,
        2048,
        0.05,
        None,
        5432,
        False,
        ("postgres-0.postgres.db.svc.cluster.local",),
    ),
    (
        "mosquitto",
        "home",
        "Deployment",
        "mosquitto",
        "docker.io/library/eclipse-mosquitto:2.0.20",
        12,
        128,
        0.004,
        0.2,
        1883,
        False,
        (),
    ),
    (
        "redis",
        "db",
        "StatefulSet",
        "redis",
        "docker.io/library/redis:7.4.1",
        64,
        512,
        0.01,
        0.5,
        6379,
        False,
        (),
    ),
)


def k8s_suffix(rng: random.Random, n: int) -> str:
    """A random suffix from the Kubernetes name alphabet."""
    return "".join(rng.choice(KSAFE) for _ in range(n))


def rs_hash(rng: random.Random) -> str:
    """A ReplicaSet pod-template-hash (9-10 characters, at least one digit)."""
    while True:
        h = k8s_suffix(rng, rng.choice((9, 10)))
        if any(c.isdigit() for c in h) and not h.isdigit():
            return h


def pod_uid(rng: random.Random) -> str:
    """A version-4 style UID."""
    h = f"{rng.getrandbits(128):032x}"
    return f"{h[:8]}-{h[8:12]}-4{h[13:16]}-{'89ab'[rng.getrandbits(2)]}{h[17:20]}-{h[20:]}"


class _Ips:
    """Hands out unique pod IPs per node."""

    def __init__(self, rng: random.Random) -> None:
        self.rng = rng
        self.used: set[str] = set()

    def take(self, node: Node) -> str:
        while True:
            ip = f"{node.pod_net}.{self.rng.randint(2, 250)}"
            if ip not in self.used:
                self.used.add(ip)
                return ip


def pod_name(rng: random.Random, w: Workload, ordinal: int = 0, rs: str | None = None) -> str:
    """A pod name as its controller would make it."""
    if w.kind == "StatefulSet":
        return f"{w.name}-{ordinal}"
    if w.kind == "DaemonSet":
        return f"{w.name}-{k8s_suffix(rng, 5)}"
    return f"{w.name}-{rs or rs_hash(rng)}-{k8s_suffix(rng, 5)}"


def make_pod(rng: random.Random, w: Workload, node: Node, ip: str, name: str, app: str) -> Pod:
    """A pod of ``w`` on ``node``."""
    return Pod(
        name=name,
        namespace=w.namespace,
        ip=ip,
        node=node.name,
        workload=w.name,
        container=w.container,
        image=w.image,
        mem=w.mem * rng.uniform(0.85, 1.15),
        mem_limit=w.mem_limit,
        cpu=w.cpu * rng.uniform(0.7, 1.3),
        cpu_limit=w.cpu_limit,
        app=app,
        uid=pod_uid(rng),
    )


def random_site(rng: random.Random) -> Site:
    """A new site drawn from ``rng``."""
    n_nodes = rng.randint(3, 6)
    naming = rng.choice(_NAMING)
    flavour = rng.choice(("kubeadm", "kubeadm", "rke2"))
    pod_prefix, kube_dns = (
        ("10.244", "10.96.0.10") if flavour == "kubeadm" else ("10.42", "10.43.0.10")
    )
    lan = f"{rng.choice(('10.0.0', '192.168.1', '192.168.10', '10.10.20', '172.16.5'))}"
    router = f"{lan}.1"
    n_switches = 2 if n_nodes >= 4 and rng.random() < 0.45 else 1
    sw_names = rng.sample(_SWITCH_NAMES, n_switches)
    if n_switches == 2 and rng.random() < 0.5:
        sw_names = ["sw1", "sw2"]
    disk, fs_dev = rng.choice(_DISKS)
    nic = rng.choice(_NICS)
    host_base = rng.randint(11, 40)
    cp_index = 0
    nodes: list[Node] = []
    for i in range(n_nodes):
        cpus = rng.choice((4, 4, 4, 2, 6, 8)) if naming(1) != "rpi4-a" else 4
        mem = rng.choice((8, 16, 16, 32)) * GiB if naming(1) != "rpi4-a" else 8 * GiB
        fs_size = rng.choice((119, 238, 250, 476, 500)) * 1_000_000_000 // 4096 * 4096
        sw = sw_names[0] if n_switches == 1 or i < (n_nodes + 1) // 2 else sw_names[1]
        nodes.append(
            Node(
                name=naming(i + 1),
                ip=f"{lan}.{host_base + i}",
                switch=sw,
                port=0,  # set below
                pod_net=f"{pod_prefix}.{i}",
                cpus=cpus,
                mem=mem,
                nic=nic,
                mac=":".join(f"{rng.randint(0, 255):02x}" for _ in range(6)),
                disk=disk,
                fs_dev=fs_dev,
                fs_size=fs_size,
                fs_files=fs_size // 16384,
                boot_days=rng.uniform(2, 90),
                kubelet_pid=rng.randint(600, 4000),
                control_plane=i == cp_index,
                cpu_base=rng.uniform(0.06, 0.35),
                mem_used=rng.uniform(0.3, 0.65),
                fs_used=rng.uniform(0.2, 0.7),
                inode_used=rng.uniform(0.05, 0.35),
                conntrack=rng.uniform(0.01, 0.12),
                disk_busy=rng.uniform(0.005, 0.08),
            )
        )
    switches: list[Switch] = []
    for si, sw in enumerate(sw_names):
        local = [n.name for n in nodes if n.switch == sw]
        local += rng.sample(("nas", "ap", "pve-host", "printer"), rng.randint(1, 2))
        uplinks = ["router"] if si == 0 else [sw_names[0]]
        if si == 0 and n_switches == 2:
            uplinks.append(sw_names[1])
        start = rng.choice((1, 1, 2))
        style = rng.choice(("GigabitEthernet1/0/{}", "GigabitEthernet0/{}"))
        ports = [
            Port(
                start + k, style.format(start + k), peer, rng.uniform(50, 3000), rng.uniform(0.8, 7)
            )
            for k, peer in enumerate(local)
        ]
        ports += [  # unused ports, link down
            Port(start + len(local) + k, style.format(start + len(local) + k), "", 0.0, 0.0)
            for k in range(2)
        ]
        ports += [
            Port(24 + k, style.format(24 + k), peer, rng.uniform(800, 4000), rng.uniform(0.3, 2))
            for k, peer in enumerate(uplinks)
        ]
        switches.append(
            Switch(
                name=sw,
                ip=f"{lan}.{2 + si}",
                ports=tuple(ports),
                boot_days=rng.uniform(5, 300),
                tc_base=rng.randint(3, 400),
                last_tc_days=rng.uniform(0.5, 30),
            )
        )
    nodes = [
        replace(n, port=next(p.index for p in switch_of[n.switch].ports if p.peer == n.name))
        for n in nodes
        for switch_of in [{s.name: s for s in switches}]
    ]
    ips = _Ips(rng)
    by_name = {n.name: n for n in nodes}

    def node_for(avoid: str | None = None) -> Node:
        pool = [n for n in nodes if n.name != avoid] or nodes
        return rng.choice(pool)

    workloads: list[Workload] = []
    pods: list[Pod] = []
    cp = nodes[cp_index]
    dns_name = "coredns" if flavour == "kubeadm" else "rke2-coredns-rke2-coredns"
    infra = [
        Workload(
            dns_name,
            "kube-system",
            "Deployment",
            "coredns",
            "registry.k8s.io/coredns/coredns:v1.11.1",
            26 * MiB,
            170 * MiB,
            0.012,
            None,
            53,
            replicas=2,
        ),
        Workload(
            "ingress-nginx-controller",
            "ingress-nginx",
            "Deployment",
            "controller",
            "registry.k8s.io/ingress-nginx/controller:v1.11.3",
            150 * MiB,
            512 * MiB,
            0.03,
            None,
            80,
        ),
        Workload(
            "kube-state-metrics",
            "monitoring",
            "Deployment",
            "kube-state-metrics",
            "registry.k8s.io/kube-state-metrics/kube-state-metrics:v2.13.0",
            48 * MiB,
            256 * MiB,
            0.01,
            0.5,
            8080,
        ),
        Workload(
            "local-path-provisioner",
            "local-path-storage",
            "Deployment",
            "local-path-provisioner",
            "docker.io/rancher/local-path-provisioner:v0.0.30",
            22 * MiB,
            128 * MiB,
            0.002,
            0.1,
            8080,
        ),
        Workload(
            "prometheus-k8s",
            "monitoring",
            "StatefulSet",
            "prometheus",
            "quay.io/prometheus/prometheus:v2.54.1",
            1.2 * GiB,
            4 * GiB,
            0.2,
            None,
            9090,
        ),
    ]
    for w in infra:
        w = replace(w, infra=True)
        workloads.append(w)
        rs = rs_hash(rng)
        used: set[str] = set()
        for k in range(w.replicas):
            node = node_for() if k == 0 else node_for(avoid=pods[-1].node)
            name = pod_name(rng, w, k, rs)
            while name in used:
                name = pod_name(rng, w, k, rs)
            used.add(name)
            app = (
                "coredns"
                if w.container == "coredns"
                else ("ingress-nginx" if w.container == "controller" else w.name)
            )
            pods.append(make_pod(rng, w, node, ips.take(node), name, app))
    for static, image, mem, cpu in (
        ("etcd", "registry.k8s.io/etcd:3.5.15-0", 180 * MiB, 0.05),
        ("kube-apiserver", "registry.k8s.io/kube-apiserver:v1.31.3", 640 * MiB, 0.12),
    ):
        w = Workload(
            static, "kube-system", "Static", static, image, mem, None, cpu, None, 2379, infra=True
        )
        workloads.append(w)
        pods.append(
            Pod(
                f"{static}-{cp.name}",
                "kube-system",
                cp.ip,
                cp.name,
                static,
                static,
                image,
                mem * rng.uniform(0.8, 1.2),
                None,
                cpu,
                None,
                static,
                pod_uid(rng),
            )
        )
    n_apps = rng.randint(4, 6)
    chosen = rng.sample(_CATALOGUE, n_apps)
    if not any(c[10] for c in chosen):
        chosen[0] = next(c for c in _CATALOGUE if c[10])
    domain = rng.choice(_DOMAINS)
    n_exposed, max_exposed = 0, rng.choice((1, 2, 2, 3))
    for name, ns, kind, cont, image, w_mem, lim, cpu, cpu_lim, port, exposed, lookups in chosen:
        exposed = exposed and n_exposed < max_exposed
        n_exposed += exposed
        w = Workload(
            name,
            ns,
            kind,
            cont,
            image,
            w_mem * MiB,
            lim * MiB if lim else None,
            cpu,
            cpu_lim,
            port,
            f"{name.split('-')[0]}.{domain}" if exposed else None,
            lookups,
        )
        workloads.append(w)
        pods.append(make_pod(rng, w, node_for(), "", pod_name(rng, w), name))
        pods[-1] = replace(pods[-1], ip=ips.take(by_name[pods[-1].node]))
    pvcs = tuple(
        (w.namespace, f"data-{w.name}-0" if w.kind == "StatefulSet" else f"{w.name}-data", w.name)
        for w in workloads
        if w.kind == "StatefulSet" or (not w.infra and rng.random() < 0.4)
    )
    cluster = rng.choice(_CLUSTERS)
    return Site(
        cluster=cluster,
        domain=domain,
        flavour=flavour,
        nodes=tuple(nodes),
        switches=tuple(switches),
        router=router,
        kube_dns=kube_dns,
        dns_service=dns_name,
        workloads=tuple(workloads),
        pods=tuple(pods),
        prom_url=f"http://prometheus.{domain}",
        am_url=f"http://alertmanager.{domain}",
        pvcs=pvcs,
    )
