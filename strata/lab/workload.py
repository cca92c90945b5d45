"""The lab's workload (stdlib only): resolves a name, calls a service, logs what happened.

Each node runs one. Once a second it resolves ``--name`` at the lab's DNS server (a real
UDP query), calls the service over HTTP, and appends one line per failure (and one per
success every ten seconds) to ``--log``, in the wording of Go's resolver and net/http,
which is what a homelab's services print. It also sends the small UDP broadcast beacon
that service discovery sends on a LAN. With ``--serve PORT`` it also serves the HTTP
service itself. With ``--flood QPS`` it only sends DNS queries, as fast as asked.

Two more roles, for the OOM fault: ``--cache-warmer CGROUP`` supervises a cache that grows
without bound inside that (memory-limited) cgroup and restarts it whenever it dies, as a
restart policy would, logging each exit; ``--kernel-log DIR`` follows the kernel's log
(``/dev/kmsg``) and appends the OOM-killer lines about the lab's cgroups to
``DIR/nodes/<node>/kern.log`` in syslog's format, as a node's journal would ship them.
"""

from __future__ import annotations

import argparse
import contextlib
import http.server
import os
import random
import re
import socket
import struct
import threading
import time
import urllib.error
import urllib.request
from datetime import UTC, datetime
from pathlib import Path


def _stamp() -> str:
    return datetime.now(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def dns_query(name: str, qid: int) -> bytes:
    """A DNS query packet for the A record of ``name`` (recursion desired)."""
    header = struct.pack("!HHHHHH", qid, 0x0100, 1, 0, 0, 0)
    labels = b"".join(bytes([len(p)]) + p.encode("ascii") for p in name.strip(".").split("."))
    return header + labels + b"\x00" + struct.pack("!HH", 1, 1)


def resolve(name: str, server: str, timeout: float) -> str:
    """The first A record of ``name`` from ``server``.

    Raises:
        OSError: with Go's wording (``i/o timeout``, ``no such host``, ``server misbehaving``).
    """
    qid = random.randrange(1, 65535)
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        sock.settimeout(timeout)
        sock.connect((server, 53))
        local = "{}:{}".format(*sock.getsockname())
        where = f"lookup {name} on {server}:53"
        try:
            sock.send(dns_query(name, qid))
            while True:
                data = sock.recv(512)
                if len(data) >= 12 and struct.unpack("!H", data[:2])[0] == qid:
                    break
        except TimeoutError:
            raise OSError(f"{where}: read udp {local}->{server}:53: i/o timeout") from None
        except ConnectionRefusedError:
            raise OSError(f"{where}: read udp {local}->{server}:53: connection refused") from None
    flags, _, ancount = struct.unpack("!HHH", data[2:8])
    rcode = flags & 0xF
    if rcode == 3 or ancount == 0:
        raise OSError(f"{where}: no such host")
    if rcode != 0:
        raise OSError(f"{where}: server misbehaving")
    # The answer's RDATA of an A record is its last four bytes.
    return socket.inet_ntoa(data[-4:])


def log_line(path: str, host: str, level: str, msg: str) -> None:
    with open(path, "a", encoding="utf-8") as fh:
        fh.write(f'{_stamp()} host={host} app=workload level={level} msg="{msg}"\n')


def beacon(stop: threading.Event, host: str) -> None:
    """One broadcast announcement a second, as LAN service discovery sends."""
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_BROADCAST, 1)
        while not stop.wait(1.0):
            with contextlib.suppress(OSError):
                sock.sendto(f"announce {host}".encode(), ("10.200.0.255", 9999))


def telemetry(stop: threading.Event, host: str, target: str, pps: float) -> None:
    """Ship syslog datagrams to the collector at ``pps``, as a node's log shipper does."""
    addr, port = target.rsplit(":", 1)
    gap = 1.0 / pps
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        n = 0
        nxt = time.monotonic()
        while not stop.is_set():
            n += 1
            line = f"<14>1 {_stamp()} {host} workload - - - heartbeat seq={n}"
            with contextlib.suppress(OSError):
                sock.sendto(line.encode(), (addr, int(port)))
            nxt += gap
            pause = nxt - time.monotonic()
            if pause > 0:
                time.sleep(pause)
            else:
                nxt = time.monotonic()


def sink(port: int) -> None:
    """A log collector that receives the nodes' syslog datagrams (and keeps none)."""
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        sock.bind(("0.0.0.0", port))
        while True:
            sock.recv(65535)


class Counters:
    """The workload's request counters, served in the Prometheus text format."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.requests: dict[str, int] = {"ok": 0, "dns_error": 0, "http_error": 0}

    def add(self, result: str) -> None:
        with self.lock:
            self.requests[result] += 1

    def render(self) -> bytes:
        with self.lock:
            rows = sorted(self.requests.items())
        lines = [
            "# HELP app_requests_total Calls of the service by this workload, by result.",
            "# TYPE app_requests_total counter",
            *(f'app_requests_total{{result="{r}"}} {n}' for r, n in rows),
        ]
        return ("\n".join(lines) + "\n").encode()


def serve_metrics(addr: str, counters: Counters) -> None:
    class Handler(http.server.BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            body = counters.render()
            self.send_response(200 if self.path == "/metrics" else 404)
            self.send_header("Content-Type", "text/plain; version=0.0.4")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, format: str, *args: object) -> None:
            pass

    host, port = addr.rsplit(":", 1)
    server = http.server.ThreadingHTTPServer((host, int(port)), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()


def serve(port: int, host: str) -> None:
    class Handler(http.server.BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            body = f"ok from {host}\n".encode()
            self.send_response(200)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, format: str, *args: object) -> None:
            pass

    server = http.server.ThreadingHTTPServer(("0.0.0.0", port), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()


def flood(name: str, server: str, qps: float) -> None:
    """Send DNS queries for random names under ``name`` at ``qps`` per second, forever."""
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        sock.setblocking(False)
        gap = 1.0 / qps
        nxt = time.monotonic()
        while True:
            label = f"x{random.randrange(10**9)}.{name}"
            with contextlib.suppress(OSError):
                sock.sendto(dns_query(label, random.randrange(1, 65535)), (server, 53))
            nxt += gap
            pause = nxt - time.monotonic()
            if pause > 0:
                time.sleep(pause)
            else:
                nxt = time.monotonic()


CACHE_COMM = "cache-warmer"
"""The growing cache's process name (what the kernel's OOM lines call it)."""
CACHE_CHUNK = 4 * 2**20
CACHE_RESTART_S = 2.0


def grow_cache() -> None:
    """Allocate (and touch) memory in chunks until the kernel kills this process."""
    import ctypes

    with contextlib.suppress(OSError, AttributeError):
        ctypes.CDLL(None).prctl(15, CACHE_COMM.encode(), 0, 0, 0)  # PR_SET_NAME
    cache = []
    while True:
        cache.append(bytearray(CACHE_CHUNK))  # zero-filled: every page is touched
        time.sleep(0.05)


def cache_warmer(cgroup: str, log: str, host: str) -> None:
    """Run the growing cache in ``cgroup`` and restart it each time it dies."""
    import signal
    import subprocess
    import sys

    restarts = 0
    while True:
        proc = subprocess.Popen(
            [sys.executable, __file__, "--grow-cache"],
            preexec_fn=lambda: Path(cgroup, "cgroup.procs").write_text(str(os.getpid())),
        )
        code = proc.wait()
        how = f"signal {-code} ({signal.Signals(-code).name})" if code < 0 else f"status {code}"
        restarts += 1
        log_line(log, host, "error",
                 f"{CACHE_COMM} exited: {how}; restarting in {CACHE_RESTART_S:g}s "
                 f"(restart {restarts})")  # fmt: skip
        time.sleep(CACHE_RESTART_S)


_OOM_KILL = re.compile(r"oom-kill:.*\boom_memcg=/(stl-[^,/\s]+).*\bpid=(\d+)")
_KILLED = re.compile(r"\bKilled process (\d+) ")


class OomLines:
    """Picks the kernel's OOM-killer lines about the lab's cgroups out of its log.

    The ``oom-kill:`` summary names the memory cgroup (``oom_memcg=/stl-node-3``) and the
    victim's PID; the ``Killed process PID`` line that follows belongs to the same node.
    """

    def __init__(self) -> None:
        self._owner: dict[str, str] = {}  # PID of an OOM victim -> node

    def node_of(self, message: str) -> str | None:
        """The lab node ``message`` is about; None when it is not a lab OOM line."""
        node = None
        if m := _OOM_KILL.search(message):
            node = m.group(1).removeprefix("stl-")
            self._owner[m.group(2)] = node
        elif (m := _KILLED.search(message)) and m.group(1) in self._owner:
            node = self._owner.pop(m.group(1))
        return node if node and re.fullmatch(r"node-\d+", node) else None  # a lab node's name


def kmsg_record(record: str) -> tuple[int, str] | None:
    """``(microseconds since boot, message)`` of a ``/dev/kmsg`` record (None: malformed)."""
    head, sep, message = record.partition(";")
    fields = head.split(",")
    if not sep or len(fields) < 3 or not fields[2].isdigit():
        return None
    return int(fields[2]), message.split("\n", 1)[0]


def kernel_log(directory: str) -> None:
    """Follow /dev/kmsg from now on; write the lab cgroups' OOM lines to the nodes' logs."""
    boot = time.time() - time.monotonic()  # kmsg stamps are monotonic microseconds
    lines = OomLines()
    fd = os.open("/dev/kmsg", os.O_RDONLY)
    os.lseek(fd, 0, os.SEEK_END)
    while True:
        try:
            parsed = kmsg_record(os.read(fd, 8192).decode("utf-8", errors="replace"))
        except BrokenPipeError:  # records were overwritten before we read them
            continue
        if parsed is None or (node := lines.node_of(parsed[1])) is None:
            continue
        when = datetime.fromtimestamp(boot + parsed[0] / 1e6, UTC)
        path = Path(directory, "nodes", node, "kern.log")
        path.parent.mkdir(parents=True, exist_ok=True)
        with path.open("a", encoding="utf-8") as fh:
            fh.write(f"{when:%b %d %H:%M:%S} {node} kernel: {parsed[1]}\n")


def main(argv: list[str] | None = None) -> None:
    p = argparse.ArgumentParser(description=__doc__)
    p.add_argument("--host", default="", help="this node's name, for the log lines")
    p.add_argument("--name", default="", help="the service DNS name")
    p.add_argument("--dns", default="", help="the DNS server address")
    p.add_argument("--port", type=int, default=8080, help="the service's HTTP port")
    p.add_argument("--log", default=os.devnull, help="log file")
    p.add_argument("--serve", type=int, metavar="PORT", help="also serve the HTTP service")
    p.add_argument("--flood", type=float, metavar="QPS", help="only flood the DNS server")
    p.add_argument("--telemetry", metavar="ADDR:PORT", help="ship syslog datagrams there")
    p.add_argument("--telemetry-pps", type=float, default=100.0, help="datagrams a second")
    p.add_argument("--sink", type=int, metavar="PORT", help="only collect datagrams on PORT")
    p.add_argument("--metrics", metavar="ADDR:PORT", help="serve /metrics there")
    p.add_argument("--cache-warmer", metavar="CGROUP", help="only run the growing cache there")
    p.add_argument("--grow-cache", action="store_true", help=argparse.SUPPRESS)
    p.add_argument("--kernel-log", metavar="DIR", help="only collect OOM lines into DIR/nodes")
    args = p.parse_args(argv)
    if args.sink:
        sink(args.sink)
        return
    if args.grow_cache:
        grow_cache()
        return
    if args.cache_warmer:
        cache_warmer(args.cache_warmer, args.log, args.host)
        return
    if args.kernel_log:
        kernel_log(args.kernel_log)
        return
    if args.flood:
        flood(args.name, args.dns, args.flood)
        return
    if args.serve:
        serve(args.serve, args.host)
    counters = Counters()
    if args.metrics:
        serve_metrics(args.metrics, counters)
    stop = threading.Event()
    threading.Thread(target=beacon, args=(stop, args.host), daemon=True).start()
    if args.telemetry:
        threading.Thread(
            target=telemetry,
            args=(stop, args.host, args.telemetry, args.telemetry_pps),
            daemon=True,
        ).start()
    n = 0
    while True:
        started = time.monotonic()
        result = "dns_error"
        try:
            addr = resolve(args.name, args.dns, timeout=2.0)
            result = "http_error"
            url = f"http://{addr}:{args.port}/"
            with urllib.request.urlopen(url, timeout=2.0) as resp:
                resp.read()
            result = "ok"
            if n % 10 == 0:
                log_line(args.log, args.host, "info", f"GET {url}: 200")
        except (OSError, urllib.error.URLError) as exc:
            reason = getattr(exc, "reason", exc)
            log_line(args.log, args.host, "error", f"call {args.name}: {reason}")
        counters.add(result)
        n += 1
        time.sleep(max(0.0, 1.0 - (time.monotonic() - started)))


if __name__ == "__main__":
    main()
