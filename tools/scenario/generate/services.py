"""The cluster services' telemetry: CoreDNS (metrics and query/error logs), etcd, the apiserver,
ingress-nginx (metrics, access and error logs) and the x509 certificate exporter.

Values come only from the scene's state plus seeded noise; every scenario gets the same
families. Nothing here decides what goes wrong.
"""

from __future__ import annotations

import random
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from tools.scenario import writer as w
from tools.scenario.generate import formats as fmt
from tools.scenario.generate.recording import (
    API_BUCKETS,
    API_MEDIAN,
    ERRORS_PER_MIN,
    ETCD_BUCKETS,
    INFO_PER_MIN,
    NGINX_BUCKETS,
    Recording,
    hexid,
    histogram,
    product,
    reachable,
    rest,
    sample_times,
    stable_small,
    total_of,
)
from tools.scenario.generate.scene import PodState, Scene, inside

# --------------------------------------------------------------------------- CoreDNS


def coredns(scene: Scene, rec: Recording) -> None:
    """CoreDNS counters per pod and its sampled query and error logs."""
    dns = scene.dns
    pods = [ps for ps in scene.pods if ps.pod.app == "coredns"]
    upstream = f"{scene.site.router}:53"

    def total(t: float) -> float:
        return dns.qps(t) + sum(q(t) for _, q in dns.flood)

    def share(i: int, t: float) -> float:
        up = [ps.running(t) for ps in pods]
        return (1 / sum(up)) if up[i] and sum(up) else 0.0

    def flood_nx(t: float) -> float:
        f = sum(q(t) for _, q in dns.flood)
        tot = total(t)
        return (dns.nxdomain(t) * dns.qps(t) + 0.8 * f) / tot if tot else 0.0

    def servfail(t: float) -> float:
        return dns.fwd_share * (dns.upstream_loss(t) + dns.upstream_servfail(t)) + 0.0004

    def noerror(t: float) -> float:
        return max(0.0, 1 - flood_nx(t) - servfail(t))

    def answered(t: float) -> float:
        return dns.fwd_share * (1 - dns.upstream_loss(t))

    def fwd_ok(t: float) -> float:
        return 1 - 0.25 - dns.upstream_servfail(t)

    for i, ps in enumerate(pods):
        pod = ps.pod
        target = f"{pod.ip}:9153"
        times = reachable(scene, pod.node, [t for t in scene.times(target) if ps.running(t)])
        base = {"instance": target, "job": "coredns", "namespace": pod.namespace, "pod": pod.name}
        srv = {"server": "dns://:53", "zone": "."}
        served = _served_by(total, share, i)
        resets = [r for r in ps.restarts if times and r > times[0]]

        emit = _DnsCounters(scene, rec, ps, times, base, served, resets)
        for qtype, frac in (("A", 0.56), ("AAAA", 0.44)):
            emit(
                "coredns_dns_requests_total",
                "Counter of DNS requests made per zone, protocol and family.",
                {**srv, "family": "1", "proto": "udp", "type": qtype},
                w.constant(frac),
                f"req{qtype}",
            )
        for rcode, share_of in (
            ("NOERROR", noerror),
            ("NXDOMAIN", flood_nx),
            ("SERVFAIL", servfail),
        ):
            emit(
                "coredns_dns_responses_total",
                "Counter of response status codes.",
                {**srv, "rcode": rcode},
                share_of,
                f"r{rcode}",
            )
        to = {"to": upstream}
        emit(
            "coredns_forward_requests_total",
            "Counter of requests made per upstream.",
            to,
            w.constant(dns.fwd_share),
            "freq",
        )
        for rcode, part in (
            ("NOERROR", fwd_ok),
            ("NXDOMAIN", w.constant(0.25)),
            ("SERVFAIL", dns.upstream_servfail),
        ):
            emit(
                "coredns_forward_responses_total",
                "Counter of responses received per upstream.",
                {**to, "rcode": rcode},
                w.scale(answered, part),
                f"f{rcode}",
            )
        hc = w.counter_series(
            scene.rng("hc", pod.name),
            times,
            lambda t: 2.0 * dns.upstream_loss(t),
            start=2.0,
            jitter=0.1,
            resets=resets,
        )
        rec.om.counter(
            "coredns_forward_healthcheck_failures_total",
            "Counter of the number of failed healthchecks.",
            {**base, **to},
            hc,
            allow_resets=bool(resets),
        )
        _coredns_logs(scene, rec, ps, served, flood_nx, i)


def _served_by(total: w.Profile, share: Callable[[int, float], float], i: int) -> w.Profile:
    """Queries per second pod ``i`` answers."""
    return lambda t: total(t) * share(i, t)


@dataclass
class _DnsCounters:
    """Writes one CoreDNS pod's counters: ``share`` of the queries it served, per second."""

    scene: Scene
    rec: Recording
    ps: PodState
    times: list[float]
    base: dict[str, str]
    served: w.Profile
    resets: list[float]

    def __call__(
        self, name: str, help_: str, labels: dict[str, str], share: w.Profile, key: str
    ) -> None:
        history = 86400 * 1.7 * 20.0
        pts = w.counter_series(
            self.scene.rng("dns", self.ps.pod.name, key),
            self.times,
            w.scale(self.served, share),
            start=float(int(history * share(self.scene.start))),
            jitter=0.05,
            resets=self.resets,
        )
        self.rec.om.counter(
            name, help_, {**self.base, **labels}, pts, allow_resets=bool(self.resets)
        )


def _coredns_logs(
    scene: Scene, rec: Recording, ps: PodState, served: w.Profile, nx: w.Profile, index: int
) -> None:
    dns = scene.dns
    pod = ps.pod
    rng = scene.rng("qlog", pod.name)
    labels = {
        "namespace": pod.namespace,
        "pod": pod.name,
        "app": "coredns",
        "host": pod.node,
        "container": "coredns",
    }
    bg_clients = [
        (p.pod, 0.3 + stable_small(scene.key, "dnsw", p.pod.name) / 20)
        for p in scene.pods
        if p.pod.app not in ("coredns", "etcd", "kube-apiserver")
        and p.created is None
        and p.evicted is None
        and p.pod.ip
    ]
    ns_of = {p.pod.ip: p.pod.namespace for p in scene.pods}
    lookups = {
        p.name: scene.site.workload(p.workload).lookups
        if p.workload in {x.name for x in scene.site.workloads}
        else ()
        for p, _ in bg_clients
    }
    for client, _ in dns.flood:
        lookups[client.name] = scene.site.workload(client.workload).lookups or ("api.example.com",)

    def per_min(t: float) -> float:
        return served(t) * 60 * 0.0015

    for ts in sample_times(
        rng, scene, lambda t: per_min(t) if ps.running(t) else 0.0, INFO_PER_MIN
    ):
        if not ps.running(ts):
            continue
        flood = [(c, q(ts)) for c, q in dns.flood]
        ftot = sum(q for _, q in flood)
        if ftot and rng.random() < ftot / (ftot + dns.qps(ts)):
            client = _pick([(c, q) for c, q in flood], rng)
        else:
            client = _pick(bg_clients, rng)
        names = lookups.get(client.name) or ("kubernetes.default",)
        name = rng.choice(names)
        ns = ns_of.get(client.ip, "default")
        external = name.count(".") >= 2 or name.endswith((".com", ".org", ".no", ".net"))
        r = rng.random()
        lost = dns.fwd_share * dns.upstream_loss(ts)
        if external and r < lost * 3:
            rcode, qname = "SERVFAIL", f"{name}."
        elif r < nx(ts):
            suffix = rng.choice(
                (f"{ns}.svc.cluster.local", "svc.cluster.local", "cluster.local", scene.site.domain)
            )
            rcode, qname = "NXDOMAIN", f"{name}.{suffix}."
        else:
            rcode = "NOERROR"
            qname = (
                f"{name}."
                if external
                else (
                    f"{name}.svc.cluster.local."
                    if "." in name
                    else f"{name}.{ns}.svc.cluster.local."
                )
            )
        if name in dns.misconfig_names and rcode == "NOERROR" and ts >= 0:
            rcode = "NXDOMAIN"
        qtype = rng.choice(("A", "A", "AAAA"))
        fwd = qname.endswith(f"{scene.site.domain}.") or (
            external and not qname.endswith(".local.")
        )
        if rcode == "SERVFAIL":
            flags, dur = "qr,rd", 2.0 + rng.random() * 0.004
        elif fwd:
            flags, dur = (
                "qr,rd,ra",
                rng.uniform(0.003, 0.04) if rng.random() < 0.35 else rng.uniform(3e-5, 2e-4),
            )
        else:
            flags, dur = "qr,aa,rd", rng.uniform(4e-5, 3e-4)
        size = 12 + len(qname) + 5 + (16 if rcode == "NOERROR" else 93)
        line = fmt.coredns_query(
            client.ip,
            rng.randint(32768, 60999),
            rng.randint(0, 65535),
            qtype,
            qname,
            rcode,
            flags,
            size,
            dur,
        )
        rec.logs.append(w.log_record(ts, labels, line))
    # upstream timeouts (the errors plugin), kept up to the error cap
    erng = scene.rng("qerr", pod.name)

    def errs_per_min(t: float) -> float:
        return (
            served(t) * dns.fwd_share * dns.upstream_loss(t) * 60 * 0.05 if ps.running(t) else 0.0
        )

    upstream_names = sorted(
        {n for ls in lookups.values() for n in ls if n.count(".") >= 1} | {"api.github.com"}
    )
    for ts in sample_times(erng, scene, errs_per_min, ERRORS_PER_MIN):
        name = erng.choice(upstream_names)
        line = fmt.coredns_timeout(
            f"{name}.",
            erng.choice(("A", "AAAA")),
            pod.ip,
            erng.randint(32768, 60999),
            scene.site.router,
        )
        rec.logs.append(w.log_record(ts, labels, line))
    del index


def _pick(items: Sequence[tuple[Any, float]], rng: random.Random) -> Any:
    tot = sum(x for _, x in items)
    r = rng.random() * tot
    for item, x in items:
        r -= x
        if r <= 0:
            return item
    return items[-1][0]


# --------------------------------------------------------------------------- etcd


def etcd(scene: Scene, rec: Recording) -> None:
    """etcd's WAL fsync and backend commit histograms, leader gauge and changes."""
    for es in scene.etcd:
        target = f"{es.node.ip}:2381"
        ns = scene.nodes[es.node.name]
        times = [t for t in scene.times(target) if not inside(ns.unreachable, t)]
        labels = {"instance": target, "job": "etcd"}
        rate = w.constant(scene.rng("etcdrate").uniform(4, 12))
        hist = 86400 * es.node.boot_days * 6.0
        histogram(
            scene,
            rec,
            "etcd_disk_wal_fsync_duration_seconds",
            "The latency distributions of fsync called by WAL.",
            labels,
            times,
            rate,
            ETCD_BUCKETS,
            es.fsync,
            0.55,
            hist,
        )
        histogram(
            scene,
            rec,
            "etcd_disk_backend_commit_duration_seconds",
            "The latency distributions of commit called by backend.",
            labels,
            times,
            w.scale(rate, 0.9),
            ETCD_BUCKETS,
            es.commit,
            0.6,
            hist * 0.9,
        )
        rec.om.gauge(
            "etcd_server_has_leader",
            "Whether or not a leader exists. 1 is existence, 0 is not.",
            labels,
            [(t, float(round(es.has_leader(t)))) for t in times],
        )
        base = 1 + stable_small(scene.key, "leader", es.node.name) % 4
        rec.om.counter(
            "etcd_server_leader_changes_seen_total",
            "The number of leader changes seen.",
            labels,
            [(t, float(base + sum(1 for c in es.leader_changes if c <= t))) for t in times],
        )


# --------------------------------------------------------------------------- apiserver


def apiserver(scene: Scene, rec: Recording) -> None:
    """The apiserver's request counters (by verb, resource, code) and latency histograms."""
    api = scene.api
    cp = scene.site.control_plane
    target = f"{cp.ip}:6443"
    ns = scene.nodes[cp.name]
    times = [t for t in scene.times(target) if not inside(ns.unreachable + api.unscraped, t)]
    labels = {"instance": target, "job": "apiserver"}
    combos = dict(api.base)
    for verb, res, _ in api.surge:
        combos.setdefault((verb, res), 0.0)

    def rps(verb: str, res: str) -> w.Profile:
        extra = [p for v, r, p in api.surge if (v, r) == (verb, res)]
        return total_of(extra, combos[(verb, res)])

    for verb, res in sorted(combos):
        total = rps(verb, res)
        ok_code = "200" if verb != "POST" else "201"
        for code, frac in (
            (ok_code, rest(api.errors, api.throttled)),
            (api.error_code, api.errors),
            ("429", api.throttled),
        ):
            pts = w.counter_series(
                scene.rng("api", verb, res, code),
                times,
                product(total, frac),
                start=float(int(total(scene.start) * 86400 * 3)) if code == ok_code else 0.0,
                jitter=0.05,
            )
            if code != ok_code:
                pts = [p for p in pts if p[1] > 0]
            if pts:
                rec.om.counter(
                    "apiserver_request_total",
                    "[STABLE] Counter of apiserver requests broken out for each verb, dry run value, "
                    "group, version, resource, scope, component, and HTTP response code.",
                    {
                        **labels,
                        "code": code,
                        "component": "apiserver",
                        "resource": res,
                        "verb": verb,
                    },
                    pts,
                )
    for verb in ("GET", "LIST"):
        vr = [rps(v, r) for v, r in combos if v == verb]
        histogram(
            scene,
            rec,
            "apiserver_request_duration_seconds",
            "[STABLE] Response latency distribution in seconds for each verb, dry run value, group, version, "
            "resource, subresource, scope and component.",
            {**labels, "verb": verb},
            times,
            total_of(vr),
            API_BUCKETS,
            w.scale(api.latency, API_MEDIAN[verb]),
            0.8,
            86400 * 3 * sum(p(scene.start) for p in vr),
            extra_tail=w.clamp(w.scale(api.errors, 0.8), 0.0, 0.5),
        )


# --------------------------------------------------------------------------- ingress-nginx


def ingress(scene: Scene, rec: Recording) -> None:
    """ingress-nginx request counters and latency per service, access and error logs."""
    ctrl = next(p for p in scene.pods if p.pod.workload == "ingress-nginx-controller")
    target = f"{ctrl.pod.ip}:10254"
    times = reachable(scene, ctrl.pod.node, scene.times(target))
    base = {"instance": target, "job": "ingress-nginx-controller-metrics"}
    rng = scene.rng("ingress-logs")
    labels = {
        "namespace": "ingress-nginx",
        "pod": ctrl.pod.name,
        "app": "ingress-nginx",
        "host": ctrl.pod.node,
        "container": "controller",
    }
    for ing in scene.ingress:
        svc = {**base, "ingress": ing.workload, "namespace": ing.namespace, "service": ing.workload}
        for status, frac in (
            ("200", rest(ing.errors, ing.timeouts, top=0.985)),
            ("404", w.constant(0.015)),
            (ing.error_code, ing.errors),
            ("504", ing.timeouts),
        ):
            if status == "504" and ing.error_code == "504":
                continue
            pts = w.counter_series(
                scene.rng("ngx", ing.workload, status),
                times,
                product(ing.rps, frac),
                start=float(int(ing.rps(scene.start) * 86400 * 2 * frac(scene.start))),
                jitter=0.1,
            )
            pts = [p for p in pts if p[1] > 0]
            if pts:
                rec.om.unknown(
                    "nginx_ingress_controller_requests",
                    "The total number of client requests",
                    {**svc, "status": status},
                    pts,
                )
        histogram(
            scene,
            rec,
            "nginx_ingress_controller_request_duration_seconds",
            "The request processing time in milliseconds",
            svc,
            times,
            ing.rps,
            NGINX_BUCKETS,
            ing.latency,
            0.7,
            ing.rps(scene.start) * 86400 * 2,
            extra_tail=ing.timeouts,
        )
        pods = [p for p in scene.pods_of(ing.workload)]
        upstream = (
            f"{pods[0].pod.ip}:{scene.site.workload(ing.workload).port}"
            if pods
            else "127.0.0.1:8181"
        )
        clients = [
            f"{scene.site.router}",
            f"{'.'.join(scene.site.router.split('.')[:3])}.{rng.randint(50, 200)}",
        ]
        agents = (
            "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0.0.0 Safari/537.36",
            "Mozilla/5.0 (iPhone; CPU iPhone OS 18_1 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Mobile/15E148",
            "okhttp/4.12.0",
        )
        paths = ("/", "/api/health", "/api/v1/items", "/static/app.js", "/login")
        for ts in sample_times(rng, scene, w.clamp(w.scale(ing.rps, 0.6), 0.0, 1.0), 1):
            err = rng.random() < ing.errors(ts)
            code = int(ing.error_code) if err else 200
            lat = ing.latency(ts) * rng.lognormvariate(0, 0.6)
            upname = f"{ing.namespace}-{ing.workload}-{scene.site.workload(ing.workload).port}"
            line = fmt.nginx_access(
                ts,
                rng.choice(clients),
                "GET",
                rng.choice(paths),
                code,
                rng.randint(300, 40000) if not err else 150,
                lat,
                upname,
                upstream,
                lat,
                hexid(rng),
                rng.choice(agents),
            )
            rec.logs.append(w.log_record(ts, labels, line))
        for ts in sample_times(
            rng, scene, w.scale(product(ing.rps, ing.timeouts), 60), ERRORS_PER_MIN
        ):
            line = fmt.nginx_upstream_timeout(
                ts,
                rng.randint(30, 40),
                rng.randint(1000, 90000),
                rng.choice(clients),
                ing.host,
                rng.choice(paths),
                upstream,
                "reading response header from",
            )
            rec.logs.append(w.log_record(ts, labels, line))


# --------------------------------------------------------------------------- x509


def x509(scene: Scene, rec: Recording) -> None:
    """Certificate expiry times as the x509-certificate-exporter reports them."""
    cp = scene.site.control_plane
    target = f"{cp.ip}:9793"
    times = reachable(scene, cp.name, scene.times(target))
    for cert in scene.certs:
        rec.om.gauge(
            "x509_cert_not_after",
            "Certificate expiration timestamp (unix time)",
            {
                "instance": target,
                "job": "x509-certificate-exporter",
                "subject_CN": cert.cn,
                **cert.labels,
            },
            [(t, float(int(cert.not_after))) for t in times],
        )
