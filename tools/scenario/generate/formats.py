"""Log line and command-output formats, as the real programs print them.

klog (kubelet, apiserver, provisioner), kernel ring buffer (dmesg), Cisco IOS syslog,
CoreDNS's ``log`` and ``errors`` plugins, etcd's zap JSON, ingress-nginx error and
access logs, and the ``df``/``uptime``/``ip`` outputs an operator would run. Formats
follow the real lines in /work/shared/reference/logs. Pure functions; no randomness of
their own (callers pass what varies).
"""

from __future__ import annotations

import json
import math
from datetime import UTC, datetime

from tools.scenario import writer as w


def _dt(ts: float) -> datetime:
    return datetime.fromtimestamp(math.floor(ts), tz=UTC)


def _us(ts: float, jitter: int) -> int:
    return (round(ts * 1000) % 1000) * 1000 + jitter % 1000


def klog(ts: float, level: str, pid: int, where: str, msg: str, jitter: int = 0) -> str:
    """``I1214 02:56:41.512003     874 file.go:123] msg``."""
    return f"{level}{_dt(ts):%m%d %H:%M:%S}.{_us(ts, jitter):06d} {pid:>7} {where}] {msg}"


def dmesg(ts: float, boot: float, msg: str, jitter: int = 0) -> str:
    """``[1234567.123456] msg`` (seconds since boot)."""
    up = ts - boot
    return f"[{int(up):>7d}.{(round((up % 1) * 1000) * 1000 + jitter % 1000) % 1000000:06d}] {msg}"


def dmesg_t(ts: float, msg: str) -> str:
    """``dmesg -T`` form: ``[Sat Dec 14 02:56:41 2024] msg``."""
    return f"[{_dt(ts):%a %b %e %H:%M:%S %Y}] {msg}"


def cisco(seq: int, ts: float, msg: str) -> str:
    """``018735: Dec 14 02:52:11.482 UTC: %FAC-SEV-MNEMONIC: text``."""
    dt = _dt(ts)
    return f"{seq:06d}: {dt:%b} {dt.day:>2} {dt:%H:%M:%S}.{round(ts * 1000) % 1000:03d} UTC: {msg}"


def coredns_query(
    ip: str,
    port: int,
    qid: int,
    qtype: str,
    name: str,
    rcode: str,
    flags: str,
    size: int,
    dur: float,
) -> str:
    """A CoreDNS ``log`` plugin line."""
    req = 12 + len(name) + 5
    return (
        f'[INFO] {ip}:{port} - {qid} "{qtype} IN {name} udp {req} false 512" '
        f"{rcode} {flags} {size} {dur:.9f}s"
    )


def coredns_timeout(name: str, qtype: str, src: str, port: int, upstream: str) -> str:
    """A CoreDNS ``errors`` plugin line for an upstream that did not answer."""
    return f"[ERROR] plugin/errors: 2 {name} {qtype}: read udp {src}:{port}->{upstream}:53: i/o timeout"


def zap(ts: float, level: str, caller: str, msg: str, **fields: object) -> str:
    """etcd's structured (zap JSON) log line."""
    body: dict[str, object] = {
        "level": level,
        "ts": f"{_dt(ts):%Y-%m-%dT%H:%M:%S}.{_us(ts, 0):06d}Z",
        "caller": caller,
        "msg": msg,
        **fields,
    }
    return json.dumps(body, separators=(",", ":"))


def nginx_time(ts: float) -> str:
    """ingress-nginx error-log time: ``2023/03/08 16:02:40``."""
    return f"{_dt(ts):%Y/%m/%d %H:%M:%S}"


def nginx_access(
    ts: float,
    client: str,
    method: str,
    path: str,
    status: int,
    size: int,
    req_time: float,
    upstream_name: str,
    upstream: str,
    up_time: float,
    req_id: str,
    agent: str,
) -> str:
    """An ingress-nginx access-log line (the controller's default format)."""
    return (
        f'{client} - - [{_dt(ts):%d/%b/%Y:%H:%M:%S} +0000] "{method} {path} HTTP/1.1" {status} '
        f'{size} "-" "{agent}" {180 + len(path)} {req_time:.3f} [{upstream_name}] [] {upstream} '
        f"{size} {up_time:.3f} {status} {req_id}"
    )


def nginx_upstream_timeout(
    ts: float, worker: int, conn: int, client: str, host: str, path: str, upstream: str, phase: str
) -> str:
    """ingress-nginx's ``upstream timed out`` error (musl wording, as the controller image prints)."""
    return (
        f"{nginx_time(ts)} [error] {worker}#{worker}: *{conn} upstream timed out (110: Operation "
        f"timed out) while {phase} upstream, client: {client}, server: {host}, request: "
        f'"GET {path} HTTP/1.1", upstream: "http://{upstream}{path}", host: "{host}"'
    )


def app_json(ts: float, level: str, msg: str, **fields: object) -> str:
    """A JSON application log line (Go slog / zap style)."""
    return json.dumps(
        {"time": w.rfc3339(ts, digits=3), "level": level, "msg": msg, **fields},
        separators=(",", ":"),
    )


def uptime(ts: float, boot: float, load: tuple[float, float, float]) -> str:
    """What ``uptime`` prints."""
    up = int(ts - boot)
    days, rest = divmod(up, 86400)
    loads = ", ".join(f"{x:.2f}" for x in load)
    return (
        f" {_dt(ts):%H:%M:%S} up {days} days, {rest // 3600:2d}:{rest % 3600 // 60:02d},  "
        f"1 user,  load average: {loads}\n"
    )


def human(n: float) -> str:
    """``df -h`` sizes: 1.6G, 238G, 12K."""
    for unit, size in (("T", 1024**4), ("G", 1024**3), ("M", 1024**2), ("K", 1024)):
        if n >= size:
            v = n / size
            return f"{v:.1f}{unit}" if v < 10 else f"{v:.0f}{unit}"
    return f"{n:.0f}"


def df_h(rows: list[tuple[str, float, float, str]]) -> str:
    """``df -h`` for (filesystem, size, used, mountpoint) rows (reserved blocks as ext4 keeps)."""
    out = ["Filesystem      Size  Used Avail Use% Mounted on"]
    for fs, size, used, mnt in rows:
        avail = max(0.0, size * 0.95 - used) if fs.startswith("/dev/") else size - used
        pct = math.ceil(used / max(used + avail, 1) * 100)
        out.append(f"{fs:<15} {human(size):>4} {human(used):>5} {human(avail):>5} {pct:>3}% {mnt}")
    return "\n".join(out) + "\n"


def df_i(rows: list[tuple[str, int, int, str]]) -> str:
    """``df -i`` for (filesystem, inodes, used, mountpoint) rows."""
    out = ["Filesystem       Inodes   IUsed    IFree IUse% Mounted on"]
    for fs, total, used, mnt in rows:
        pct = math.ceil(used / max(total, 1) * 100)
        out.append(f"{fs:<15} {total:>8} {used:>7} {total - used:>8} {pct:>4}% {mnt}")
    return "\n".join(out) + "\n"
