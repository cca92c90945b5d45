"""``strata lab up|down|status``: build the lab, tear it all down, say what runs.

``up`` creates the namespaces, the switch (a bridge with STP and its nftables table),
plugs every namespace into it and starts the daemons, recording each thing before it
exists. ``down`` is idempotent and needs no state: it stops every process inside any
``stl-*`` namespace, unmounts what the lab mounted, detaches its loop devices and deletes
the namespaces (their links and nftables tables go with them).
"""

from __future__ import annotations

import shutil
import subprocess
import sys
import time
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from strata.lab import plan
from strata.lab.netns import IP, alive, link, namespaces, ns_pids, run, stop
from strata.lab.services import check_binaries, nft_ruleset, start_all, strata_toml
from strata.lab.state import LabError, LabState, require_root

READY_TIMEOUT_S = 30.0

_READY_CHECK = """
import socket, sys, time
deadline = time.monotonic() + float(sys.argv[1])
pending = [a.rsplit(":", 1) for a in sys.argv[2:]]
while pending and time.monotonic() < deadline:
    left = []
    for host, port in pending:
        try:
            socket.create_connection((host, int(port)), timeout=0.5).close()
        except OSError:
            left.append((host, port))
    pending = left
    if pending:
        time.sleep(0.2)
print(" ".join(f"{h}:{p}" for h, p in pending))
"""


def up(directory: Path | None = None) -> LabState:
    """Build the lab and start everything; return its state once every service answers.

    Raises:
        LabError: not root, a program is missing, the lab already exists, or something
            failed (then everything created so far is removed again).
    """
    require_root()
    check_binaries()
    directory = directory or plan.state_dir()
    existing = namespaces()
    if existing:
        raise LabError(
            f"the lab is already up ({', '.join(existing)}); `strata lab down` removes it"
        )
    directory.mkdir(parents=True, exist_ok=True)
    state = LabState(directory / "state.json")
    state.save()
    try:
        _build_network(state)
        start_all(directory, state)
        (directory / "strata.toml").write_text(strata_toml(directory, state.ifindex))
        _wait_ready(directory)
    except BaseException:
        down(directory)
        raise
    state.up_at = datetime.now(UTC).isoformat(timespec="seconds")
    state.save()
    return state


def _build_network(state: LabState) -> None:
    for ns in plan.NAMESPACES:
        run([IP, "netns", "add", ns])
        run([IP, "-n", ns, "link", "set", "lo", "up"])
    sw = plan.SWITCH_NS
    # forward_delay 2 s and hello 1 s: the shortest 802.1D allows, so ports come up quickly.
    run([IP, "-n", sw, "link", "add", plan.BRIDGE, "type", "bridge", "stp_state", "1",
         "forward_delay", "200", "hello_time", "100", "max_age", "600"])  # fmt: skip
    run([IP, "-n", sw, "addr", "add", f"{plan.SWITCH_ADDR}/24", "dev", plan.BRIDGE])
    run([IP, "-n", sw, "link", "set", plan.BRIDGE, "up"])
    for a in plan.ATTACHMENTS:
        # Created directly inside the two namespaces: the host never sees either end.
        run([IP, "link", "add", a.port, "netns", sw, "type", "veth", "peer", "name", "eth0",
             "netns", a.ns])  # fmt: skip
        run([IP, "-n", sw, "link", "set", a.port, "master", plan.BRIDGE])
        run([IP, "-n", sw, "link", "set", a.port, "up"])
        run([IP, "-n", a.ns, "addr", "add", f"{a.addr}/24", "dev", "eth0"])
        run([IP, "-n", a.ns, "link", "set", "eth0", "up"])
        info = link(sw, a.port)
        if info is None:
            raise LabError(f"switch port {a.port} vanished right after it was created")
        state.ifindex[a.port] = int(info["ifindex"])
        state.save()
    end_a, end_b = plan.LOOP_PORTS
    run([IP, "-n", sw, "link", "add", end_a, "type", "veth", "peer", "name", end_b])
    for port in plan.LOOP_PORTS:
        run([IP, "-n", sw, "link", "set", port, "master", plan.BRIDGE])
        run([IP, "-n", sw, "link", "set", port, "up"])
        info = link(sw, port)
        state.ifindex[port] = int(info["ifindex"]) if info else 0
    state.save()
    run(["nft", "-f", "-"], ns=sw, stdin=nft_ruleset())


def _wait_ready(directory: Path) -> None:
    targets = [
        f"{plan.MON_ADDR}:{plan.PROMETHEUS_PORT}",
        f"{plan.MON_ADDR}:{plan.ALERTMANAGER_PORT}",
        f"{plan.MON_ADDR}:{plan.BLACKBOX_PORT}",
        f"{plan.MON_ADDR}:{plan.SNMP_EXPORTER_PORT}",
        *(f"{n.addr}:22" for n in plan.NODES),
        *(f"{n.addr}:{plan.NODE_EXPORTER_PORT}" for n in plan.NODES),
        *(f"{n.addr}:{plan.WORKLOAD_METRICS_PORT}" for n in plan.NODES),
        f"{plan.SERVICE_NODE.addr}:{plan.SERVICE_PORT}",
        f"{plan.DNS_ADDR}:53",
    ]
    proc = run(
        [sys.executable, "-c", _READY_CHECK, str(READY_TIMEOUT_S), *targets],
        ns=plan.MON_NS,
        timeout=READY_TIMEOUT_S + 10,
    )
    if proc.stdout.strip():
        raise LabError(
            f"not answering after {READY_TIMEOUT_S:.0f} s: {proc.stdout.strip()} "
            f"(logs in {directory / 'logs'})"
        )


def lab_mounts(directory: Path) -> list[str]:
    """Mount points under the lab's state directory, deepest first."""
    try:
        lines = Path("/proc/self/mounts").read_text().splitlines()
    except OSError:
        return []
    root = str(directory.resolve())
    points = [ln.split()[1].replace("\\040", " ") for ln in lines if len(ln.split()) > 1]
    mine = [p for p in points if p == root or p.startswith(root + "/")]
    return sorted(set(mine), key=len, reverse=True)


def lab_loop_devices(directory: Path) -> list[str]:
    """Loop devices whose backing file lies under the lab's state directory."""
    proc = run(["losetup", "-n", "-O", "NAME,BACK-FILE", "-l"], check=False)
    root = str(directory.resolve())
    out = []
    for line in proc.stdout.splitlines():
        parts = line.split(None, 1)
        if len(parts) == 2 and parts[1].strip().startswith(root + "/"):
            out.append(parts[0])
    return out


def down(directory: Path | None = None) -> list[str]:
    """Remove everything the lab made; safe to run any time, any number of times.

    Returns:
        What was removed, one line per kind (for the user).
    """
    require_root()
    directory = directory or plan.state_dir()
    removed: list[str] = []
    watchdogs = _recorded_watchdogs(directory)
    if watchdogs:
        stop(watchdogs, grace_s=1.0)
        removed.append(f"{len(watchdogs)} fault watchdogs")
    lab_ns = namespaces()
    pids = sorted({p for ns in lab_ns for p in ns_pids(ns)})
    if pids:
        stop(pids)
        removed.append(f"{len(pids)} processes")
    from strata.lab import memory

    cgroups = memory.lab_cgroups()
    for cg in cgroups:
        memory.remove(cg)
    if cgroups:
        removed.append(f"{len(cgroups)} cgroups")
    mounts = lab_mounts(directory)
    for point in mounts:
        run(["umount", "-l", point], check=False)
    if mounts:
        removed.append(f"{len(mounts)} mounts")
    loops = lab_loop_devices(directory)
    for dev in loops:
        run(["losetup", "-d", dev], check=False)
    if loops:
        removed.append(f"{len(loops)} loop devices")
    for ns in lab_ns:
        run([IP, "netns", "del", ns], check=False)
    if lab_ns:
        removed.append(f"{len(lab_ns)} namespaces (with their links and nftables tables)")
    # Only what the lab itself writes there: the directory may be one the user named.
    for name in (
        "state.json",
        "state.tmp",
        "strata.toml",
        "config",
        "data",
        "logs",
        "nodes",
        "ssh",
        "faults",
    ):
        path = directory / name
        if path.is_dir():
            shutil.rmtree(path, ignore_errors=True)
        elif path.exists():
            path.unlink(missing_ok=True)
    return removed


def _recorded_watchdogs(directory: Path) -> list[int]:
    from strata.lab.faults import is_watchdog

    try:
        state = LabState.load(directory)
    except LabError:
        return []
    pids = [rec.get("watchdog") for rec in state.faults.values()]
    return [p for p in pids if isinstance(p, int) and is_watchdog(p)]


@dataclass(frozen=True)
class ServiceStatus:
    """One row of ``strata lab status``."""

    label: str
    pid: int
    running: bool


def status(directory: Path | None = None) -> tuple[LabState | None, list[str], list[ServiceStatus]]:
    """The recorded state (None when the lab is down), its namespaces and daemons."""
    directory = directory or plan.state_dir()
    lab_ns = namespaces()
    try:
        state: LabState | None = LabState.load(directory)
    except LabError:
        state = None
    if state is not None and not state.pids and not lab_ns:
        state = None
    rows = [
        ServiceStatus(label, pid, alive(pid))
        for label, pid in sorted((state.pids if state else {}).items())
    ]
    return state, lab_ns, rows


def wait_settled(seconds: float) -> None:
    """Sleep, in small steps (so that Ctrl-C is prompt)."""
    end = time.monotonic() + seconds
    while time.monotonic() < end:
        time.sleep(min(0.5, end - time.monotonic()))


def ns_exec(ns: str, argv: list[str]) -> subprocess.CompletedProcess[str]:
    """Run ``argv`` in ``ns`` without raising (for diagnostics)."""
    return run(argv, ns=ns, check=False)
