"""Switches, routine logs and operator commands: SNMP polls of the IF-MIB/BRIDGE-MIB columns,
the log lines every site emits in a normal half hour, and the ``uptime``/``df``/``dmesg``
outputs someone ran shortly before the diagnosis (consistent with the metrics).

Nothing here decides what goes wrong.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from tools.scenario import writer as w
from tools.scenario.generate import formats as fmt
from tools.scenario.generate.recording import Recording, hexid, product
from tools.scenario.generate.scene import Scene, SwitchState, inside
from tools.snmp import oids

# --------------------------------------------------------------------------- SNMP


def snmp(scene: Scene, rec: Recording, ss: SwitchState) -> None:
    """Polls of one switch; ifDescr on the first poll only."""
    sw = ss.switch
    rng = scene.rng("snmp", sw.name)
    times: list[float] = []
    t = scene.start + rng.uniform(0.5, 8)
    prev_missed = False
    while t <= scene.end:
        missed = not prev_missed and rng.random() < ss.miss(t)
        jitter = round(rng.uniform(0, 0.4), 3)
        if not missed and t + jitter <= scene.end:
            times.append(round(t + jitter, 3))
        prev_missed = missed
        t += scene.snmp_interval
    if not times:
        return
    boot = scene.start - sw.boot_days * 86400
    age = scene.start - boot
    first = times[0]
    for p in sorted(ss.ports.values(), key=lambda p: p.index):
        rec.snmp.append(
            w.snmp_varbind(first, sw.name, f"{oids.IF_DESCR}.{p.index}", "OCTET STRING", p.descr)
        )
    cols: dict[str, dict[float, int]] = {}
    for p in ss.ports.values():
        r = scene.rng("port", sw.name, p.index)

        def up(t: float, p: Any = p) -> float:
            return 1.0 if _oper(p.oper, t) == 1 else 0.0

        for key, prof, start in (
            ("bc", p.bcast, age * p.bcast(scene.start) * r.uniform(0.8, 1.2)),
            ("id", p.in_disc, r.choice((0, 0, 3, 12, 41, 880))),
            ("od", p.out_disc, r.choice((0, 0, 0, 7, 160))),
            ("ie", p.in_err, r.choice((0, 0, 0, 0, 2, 19))),
        ):
            pts = w.counter_series(
                scene.rng("snmpc", sw.name, p.index, key),
                times,
                product(prof, up),
                start=float(int(start)),
                jitter=0.25,
            )
            cols[f"{key}{p.index}"] = {t: int(v) for t, v in pts}
    tc = {
        t: int(v)
        for t, v in w.counter_series(
            scene.rng("tc", sw.name), times, ss.tc_rate, start=float(sw.tc_base), jitter=0.3
        )
    }
    last_tc = scene.start - sw.last_tc_days * 86400
    prev_tc = tc[times[0]]
    for t in times:
        rows = []
        for p in sorted(ss.ports.values(), key=lambda p: p.index):
            rows.append(
                w.snmp_varbind(
                    t, sw.name, f"{oids.IF_OPER_STATUS}.{p.index}", "INTEGER", _oper(p.oper, t)
                )
            )
            for key, oid, typ in (
                ("id", oids.IF_IN_DISCARDS, "Counter32"),
                ("ie", oids.IF_IN_ERRORS, "Counter32"),
                ("od", oids.IF_OUT_DISCARDS, "Counter32"),
                ("bc", oids.IF_HC_IN_BROADCAST_PKTS, "Counter64"),
            ):
                rows.append(
                    w.snmp_varbind(
                        t,
                        sw.name,
                        f"{oid}.{p.index}",
                        typ,
                        w.wrap(cols[f"{key}{p.index}"][t], 64 if typ == "Counter64" else 32),
                    )
                )
        rows.append(
            w.snmp_varbind(
                t, sw.name, oids.SYS_UPTIME, "TimeTicks", w.wrap(round((t - boot) * 100))
            )
        )
        rows.append(w.snmp_varbind(t, sw.name, oids.STP_TOP_CHANGES, "Counter32", tc[t]))
        if tc[t] > prev_tc:
            last_tc = t - rng.uniform(1, min(scene.snmp_interval, 25))
        prev_tc = tc[t]
        since = rng.randint(20, 290) if ss.tc_recent(t) > 0.5 else round((t - last_tc) * 100)
        rows.append(
            w.snmp_varbind(t, sw.name, oids.STP_TIME_SINCE_TOP_CHANGE, "TimeTicks", w.wrap(since))
        )
        rec.snmp.extend(rows)


def _oper(changes: Sequence[tuple[float, int]], t: float) -> int:
    state = 1
    for at, s in sorted(changes):
        if at <= t:
            state = s
    return state


# --------------------------------------------------------------------------- routine logs


def routine_logs(scene: Scene, rec: Recording) -> None:
    """kubelet, etcd, switch and application lines of an ordinary half hour."""
    rng = scene.rng("routine")
    site = scene.site
    steady = [p for p in scene.pods if p.created is None and p.evicted is None]
    apps = {wl.name for wl in site.apps}
    for node in site.nodes:
        t = scene.start + rng.uniform(20, 300)
        while t < scene.end:
            ps = rng.choice(steady)
            pref = f"{ps.pod.namespace}/{ps.pod.name}"
            where, msg = rng.choice(
                (
                    (
                        "kubelet_volumes.go:163",
                        f'"Cleaned up orphaned pod volumes dir" podUID="{ps.pod.uid}" '
                        f'path="/var/lib/kubelet/pods/{ps.pod.uid}/volumes"',
                    ),
                    (
                        "kuberuntime_gc.go:358",
                        f'"Removing container" containerID="{hexid(rng, 64)}"',
                    ),
                    (
                        "kubelet.go:2542",
                        f'"SyncLoop (probe)" probe="readiness" status="ready" pod="{pref}"',
                    ),
                    (
                        "log.go:245",
                        "http: TLS handshake error from 127.0.0.1:"
                        f"{rng.randint(32768, 60999)}: EOF",
                    ),
                )
            )
            rec.logs.append(
                w.log_record(
                    t,
                    {"app": "kubelet", "host": node.name},
                    fmt.klog(t, "I", node.kubelet_pid, where, msg, rng.randint(0, 999)),
                )
            )
            t += rng.uniform(200, 700)
    for es in scene.etcd:
        t = scene.start + rng.uniform(0, 300)
        rev = rng.randint(1_000_000, 90_000_000)
        labels = {
            "namespace": "kube-system",
            "pod": f"etcd-{es.node.name}",
            "app": "etcd",
            "host": es.node.name,
            "container": "etcd",
        }
        size = rng.uniform(20, 180)
        while t < scene.end:
            rev += rng.randint(3000, 9000)
            rec.logs.append(
                w.log_record(
                    t,
                    labels,
                    fmt.zap(t, "info", "mvcc/index.go:214", "compact tree index", revision=rev),
                )
            )
            rec.logs.append(
                w.log_record(
                    t + 0.004,
                    labels,
                    fmt.zap(
                        t + 0.004,
                        "info",
                        "mvcc/kvstore_compaction.go:72",
                        "finished scheduled compaction",
                        **{
                            "compact-revision": rev,
                            "took": f"{rng.uniform(2, 40):.6f}ms",
                            "hash": rng.randint(1, 2**32 - 1),
                            "current-db-size-bytes": int(size * 2**20),
                            "current-db-size": f"{size:.0f} MB",
                        },
                    ),
                )
            )
            t += 300
    for sw in site.switches:
        seq = rng.randint(100, 90000)
        for _ in range(rng.randint(1, 3)):
            t = rng.uniform(scene.start, scene.end)
            seq += 1
            who = rng.choice(("netbox", "admin", "oxidized"))
            src = f"{'.'.join(site.router.split('.')[:3])}.{rng.randint(20, 60)}"
            rec.logs.append(
                w.log_record(
                    t,
                    {"app": "syslog", "host": sw.name},
                    fmt.cisco(
                        seq,
                        t,
                        f"%SSH-5-SSH2_USERAUTH: User '{who}' authentication for SSH2 Session from {src} (tty = 0) "
                        "using crypto cipher 'aes256-ctr', hmac 'hmac-sha2-256' Succeeded",
                    ),
                )
            )
    for ps in steady:
        if ps.pod.workload not in apps:
            continue
        r = scene.rng("applog", ps.pod.name)
        labels = {
            "namespace": ps.pod.namespace,
            "pod": ps.pod.name,
            "app": ps.pod.app,
            "host": ps.pod.node,
            "container": ps.pod.container,
        }
        t = scene.start + r.uniform(0, 240)
        while t < scene.end:
            if ps.running(t):
                msg = r.choice(
                    (
                        "request completed",
                        "cache refreshed",
                        "health check ok",
                        "job finished",
                        "connection pool stats",
                    )
                )
                rec.logs.append(
                    w.log_record(
                        t,
                        labels,
                        fmt.app_json(
                            t,
                            "INFO",
                            msg,
                            duration_ms=r.randint(1, 400),
                            component=r.choice(("http", "worker", "db")),
                        ),
                    )
                )
            t += r.uniform(120, 480)


# --------------------------------------------------------------------------- SSH


def ssh(scene: Scene, rec: Recording) -> None:
    """uptime, df -h, df -i and dmesg on every reachable node shortly before the diagnosis."""
    rng = scene.rng("ssh")
    t = scene.end - rng.uniform(30, 200)
    for node in scene.site.nodes:
        ns = scene.nodes[node.name]
        boot = scene.boot(node)
        load = ns.cpu(t) * node.cpus
        t0 = t + rng.uniform(0, 20)
        if inside(ns.unreachable, t0):
            continue
        rec.ssh.append(
            w.ssh_record(
                t0,
                node.name,
                "uptime",
                fmt.uptime(
                    t0,
                    boot,
                    (
                        load * rng.uniform(0.9, 1.1),
                        load * rng.uniform(0.8, 1.0),
                        load * rng.uniform(0.6, 0.9),
                    ),
                ),
            )
        )
        used = (0.95 - ns.fs_free(t0)) * node.fs_size
        rows = [
            ("tmpfs", node.mem / 10, 4e6, "/run"),
            (node.fs_dev, float(node.fs_size), used, "/"),
            ("tmpfs", node.mem / 2, 0.0, "/dev/shm"),
        ]
        custom = scene.ssh_extra.get((node.name, "df -h"))
        rec.ssh.append(w.ssh_record(t0 + 1.1, node.name, "df -h", custom or fmt.df_h(rows)))
        iused = int((1 - ns.inodes_free(t0)) * node.fs_files)
        irows = [
            ("tmpfs", node.mem // 4096 // 10, 1200, "/run"),
            (node.fs_dev, node.fs_files, iused, "/"),
        ]
        rec.ssh.append(w.ssh_record(t0 + 2.0, node.name, "df -i", fmt.df_i(irows)))
        kernel = sorted(
            (
                r
                for r in rec.logs
                if r["labels"].get("app") == "kernel"
                and r["labels"].get("host") == node.name
                and r["ts"] <= t0
            ),
            key=lambda r: r["ts"],
        )
        lines = [fmt.dmesg_t(r["ts"], r["line"].split("] ", 1)[-1]) for r in kernel[-20:]]
        if not lines:
            lines = [
                fmt.dmesg_t(
                    boot + 41.3, f"IPv6: ADDRCONF(NETDEV_CHANGE): {node.nic}: link becomes ready"
                )
            ]
        rec.ssh.append(
            w.ssh_record(t0 + 3.2, node.name, "dmesg -T | tail -n 20", "\n".join(lines) + "\n")
        )
