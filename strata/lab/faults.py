"""Faults the lab can inject, each with its ground truth in the root-cause vocabulary.

A fault changes the lab only (the switch namespace's nftables table and links, a node's
processes or its data filesystem), records what it did in the lab state before doing
it, and is undone by :func:`restore` (also by ``strata lab down``, which removes the
whole lab). ``duration`` bounds every fault: a watchdog process restores it when the time
is up, even if the command that injected it is gone.

The ground truth lives here and is read only by the lab's scoring (:mod:`.runner`) and
written into the scenarios it records; no detector ever sees it.
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from strata.lab import plan
from strata.lab.netns import IP, alive, run, start, stop
from strata.lab.services import data_dir, start_dns
from strata.lab.state import LabError, LabState

MAX_DURATION_S = 1800.0
"""No fault may last longer than this (the loop above all)."""
LOSS_PERCENT = 40
"""Share of frames the packet-loss fault drops on the port, each way."""
FLAP_PERIOD_S = 6.0
"""The flapping link stays down, then up, this long each time."""
FLOOD_QPS = 400.0
"""Queries a second of the DNS flood."""
CACHE_LIMIT_MB = 64
"""Memory limit of the OOM fault's cgroup (the growing cache reaches it in about a second)."""


@dataclass(frozen=True)
class Truth:
    """The root cause a fault really is (scenario format v1's ground_truth)."""

    layer: str
    fault: str
    component: str


@dataclass(frozen=True)
class Fault:
    """One kind of fault."""

    name: str
    summary: str
    default_target: str
    truth: Callable[[str], Truth]
    inject: Callable[[Path, LabState, str, dict[str, Any]], None]
    restore: Callable[[Path, LabState, dict[str, Any]], None]
    check_target: Callable[[str], str]


def _node_target(target: str) -> str:
    return plan.node(target).name


def _switch_target(target: str) -> str:
    if target != plan.SWITCH_NAME:
        raise ValueError(f"the lab has one switch, {plan.SWITCH_NAME!r}; not {target!r}")
    return target


def _dns_target(target: str) -> str:
    if target != plan.DNS_NAME:
        raise ValueError(f"the lab's DNS server is {plan.DNS_NAME!r}; not {target!r}")
    return target


# --------------------------------------------------------------------------- nftables


def _nft(script: str) -> None:
    run(["nft", "-f", "-"], ns=plan.SWITCH_NS, stdin=script)


def _delete_rules(comment: str) -> None:
    """Delete every rule of the switch table whose comment is ``comment``."""
    proc = run(["nft", "-j", "-a", "list", "table", "bridge", plan.NFT_TABLE],
               ns=plan.SWITCH_NS, check=False)  # fmt: skip
    if proc.returncode != 0:
        return
    for row in json.loads(proc.stdout or "{}").get("nftables", []):
        rule = row.get("rule") if isinstance(row, dict) else None
        if isinstance(rule, dict) and rule.get("comment") == comment:
            run(["nft", "delete", "rule", "bridge", plan.NFT_TABLE, rule["chain"], "handle",
                 str(rule["handle"])], ns=plan.SWITCH_NS, check=False)  # fmt: skip


# --------------------------------------------------------------------------- packet loss


def _loss_inject(directory: Path, state: LabState, target: str, rec: dict[str, Any]) -> None:
    port = plan.node(target).port
    tag = f"strata-lab packet_loss {port}"
    rec["comment"] = tag
    state.save()
    t = plan.NFT_TABLE
    _nft(
        f'add rule bridge {t} faults_in iifname "{port}" numgen random mod 100 < {LOSS_PERCENT} '
        f'counter name "din_{port}" drop comment "{tag}"\n'
        f'add rule bridge {t} faults_out oifname "{port}" numgen random mod 100 < {LOSS_PERCENT} '
        f'counter name "dout_{port}" drop comment "{tag}"\n'
    )


def _rules_restore(directory: Path, state: LabState, rec: dict[str, Any]) -> None:
    if rec.get("comment"):
        _delete_rules(str(rec["comment"]))


# --------------------------------------------------------------------------- bridging loop


def _loop_inject(directory: Path, state: LabState, target: str, rec: dict[str, Any]) -> None:
    # The redundant cable stays plugged in; with STP off nothing blocks it: a loop.
    run([IP, "-n", plan.SWITCH_NS, "link", "set", plan.BRIDGE, "type", "bridge", "stp_state", "0"])


def _loop_restore(directory: Path, state: LabState, rec: dict[str, Any]) -> None:
    run([IP, "-n", plan.SWITCH_NS, "link", "set", plan.BRIDGE, "type", "bridge", "stp_state", "1"],
        check=False)  # fmt: skip


# --------------------------------------------------------------------------- link flap

_FLAPPER = """
import subprocess, sys, time
port, period = sys.argv[1], float(sys.argv[2])
try:
    while True:
        subprocess.run(["ip", "link", "set", port, "down"], check=False)
        time.sleep(period)
        subprocess.run(["ip", "link", "set", port, "up"], check=False)
        time.sleep(period)
finally:
    subprocess.run(["ip", "link", "set", port, "up"], check=False)
"""


def _flap_inject(directory: Path, state: LabState, target: str, rec: dict[str, Any]) -> None:
    port = plan.node(target).port
    rec["port"] = port
    state.save()
    pid = start(
        plan.SWITCH_NS,
        [sys.executable, "-c", _FLAPPER, port, str(FLAP_PERIOD_S)],
        directory / "logs" / "fault-link_flap.log",
    )
    rec["pids"] = [pid]
    state.save()


def _helpers_stop(rec: dict[str, Any]) -> None:
    stop([int(p) for p in rec.get("pids", [])])


def _flap_restore(directory: Path, state: LabState, rec: dict[str, Any]) -> None:
    _helpers_stop(rec)
    if rec.get("port"):
        run([IP, "-n", plan.SWITCH_NS, "link", "set", str(rec["port"]), "up"], check=False)


# --------------------------------------------------------------------------- DNS


def _dns_down_inject(directory: Path, state: LabState, target: str, rec: dict[str, Any]) -> None:
    pid = state.pids.get("dns/dnsmasq")
    if pid and alive(pid):
        os.kill(pid, signal.SIGKILL)
    state.pids.pop("dns/dnsmasq", None)
    state.save()


def _dns_down_restore(directory: Path, state: LabState, rec: dict[str, Any]) -> None:
    pid = state.pids.get("dns/dnsmasq")
    if not (pid and alive(pid)):
        start_dns(directory, state)


def _flood_inject(directory: Path, state: LabState, target: str, rec: dict[str, Any]) -> None:
    n = plan.node(target)
    pid = start(
        n.ns,
        [sys.executable, str(Path(__file__).with_name("workload.py")), "--host", n.name,
         "--name", plan.SERVICE_NAME, "--dns", plan.DNS_ADDR, "--flood", str(FLOOD_QPS)],
        directory / "logs" / "fault-dns_flood.log",
    )  # fmt: skip
    rec["pids"] = [pid]
    state.save()


def _flood_restore(directory: Path, state: LabState, rec: dict[str, Any]) -> None:
    _helpers_stop(rec)


# --------------------------------------------------------------------------- disk full


def _disk_inject(directory: Path, state: LabState, target: str, rec: dict[str, Any]) -> None:
    point = data_dir(directory, plan.node(target))
    if not os.path.ismount(point):
        raise LabError(
            f"{target} has no data filesystem (no loop device could be set up at `lab up`)"
        )
    filler = point / "app.log"
    rec["filler"] = str(filler)
    state.save()
    # Fill it as a runaway log would: write until the filesystem says no.
    with filler.open("wb") as fh:
        chunk = b"x" * 2**20
        with contextlib.suppress(OSError):
            while True:
                fh.write(chunk)
                fh.flush()


def _disk_restore(directory: Path, state: LabState, rec: dict[str, Any]) -> None:
    if rec.get("filler"):
        Path(str(rec["filler"])).unlink(missing_ok=True)


# --------------------------------------------------------------------------- OOM kill


def _oom_inject(directory: Path, state: LabState, target: str, rec: dict[str, Any]) -> None:
    from strata.lab import memory

    n = plan.node(target)
    cgroup = memory.create(f"{plan.PREFIX}{n.name}", CACHE_LIMIT_MB * 2**20)
    rec["cgroup"] = str(cgroup)
    state.save()
    pid = start(
        n.ns,
        [sys.executable, str(Path(__file__).with_name("workload.py")), "--host", n.name,
         "--cache-warmer", str(cgroup), "--log", str(directory / "nodes" / n.name / "workload.log")],
        directory / "logs" / "fault-oom_kill.log",
        host_mounts=True,
    )  # fmt: skip
    rec["pids"] = [pid]
    state.save()


def _oom_restore(directory: Path, state: LabState, rec: dict[str, Any]) -> None:
    from strata.lab import memory

    _helpers_stop(rec)
    if rec.get("cgroup"):
        memory.remove(Path(str(rec["cgroup"])))


# --------------------------------------------------------------------------- registry

FAULTS: dict[str, Fault] = {
    f.name: f
    for f in (
        Fault(
            "disk_full",
            "the node's data filesystem (ext4 on a loop device) is filled by a runaway log",
            "node-2",
            lambda t: Truth("storage", "disk_full", t),
            _disk_inject,
            _disk_restore,
            _node_target,
        ),
        Fault(
            "packet_loss",
            f"drop {LOSS_PERCENT}% of frames both ways on the node's switch port (nftables)",
            "node-2",
            lambda t: Truth("network", "packet_loss", t),
            _loss_inject,
            _rules_restore,
            _node_target,
        ),
        Fault(
            "stp_loop",
            "STP off on the switch, whose two ports are joined by a redundant cable (storm "
            f"control caps the storm at {plan.STORM_PPS} frames/s per port)",
            plan.SWITCH_NAME,
            lambda t: Truth("network", "stp_loop", t),
            _loop_inject,
            _loop_restore,
            _switch_target,
        ),
        Fault(
            "link_flap",
            f"the node's switch port goes down and up every {FLAP_PERIOD_S:g} s",
            "node-3",
            lambda t: Truth("network", "link_flap", t),
            _flap_inject,
            _flap_restore,
            _node_target,
        ),
        Fault(
            "dns_down",
            "the DNS server is killed",
            plan.DNS_NAME,
            lambda t: Truth("dns", "resolver_down", t),
            _dns_down_inject,
            _dns_down_restore,
            _dns_target,
        ),
        Fault(
            "oom_kill",
            f"a cache on the node grows past its cgroup's {CACHE_LIMIT_MB} MiB limit; the "
            "kernel OOM-kills it and its supervisor restarts it, again and again",
            "node-3",
            lambda t: Truth("compute", "oom_kill", "cache-warmer"),
            _oom_inject,
            _oom_restore,
            _node_target,
        ),
        Fault(
            "dns_flood",
            f"one node floods the DNS server with {FLOOD_QPS:g} queries/s",
            "node-2",
            lambda t: Truth("dns", "query_flood", f"workload-{t}"),
            _flood_inject,
            _flood_restore,
            _node_target,
        ),
    )
}

NOT_AVAILABLE: dict[str, str] = {
    "slow_disk": "no way to slow a block device here: no dm-delay target and no tc netem "
    "for a network disk on this kernel",
    "cert_expired": "not yet: the vocabulary's cert_expired is a control-plane fault "
    "(apiserver, etcd, kubelet certificates); an expired certificate on a workload's service "
    "needs an additive application/cert_expired first, then a TLS service and the blackbox "
    "exporter's certificate-expiry probe",
}
"""Faults the issue asks for that the lab cannot (yet) inject, and why."""


NOT_SCORED: dict[str, str] = {
    "dns_flood": "dnsmasq exports no request-rate metrics and the DNS specialist reads "
    "CoreDNS's query log only, so the lab carries no signal it reads for a flood yet",
}
"""Injectable faults that ``lab run --faults all`` leaves out (name them to run them)."""


def unavailable(name: str) -> str | None:
    """Why fault ``name`` cannot be injected on this machine (None: it can)."""
    if name == "oom_kill":
        from strata.lab import memory

        return memory.unavailable()
    return None


def get(name: str) -> Fault:
    """The fault called ``name``.

    Raises:
        LabError: no such fault (the message lists them).
    """
    if name in FAULTS:
        return FAULTS[name]
    why = f" ({NOT_AVAILABLE[name]})" if name in NOT_AVAILABLE else ""
    raise LabError(f"no fault {name!r}{why}; available: {', '.join(FAULTS)}")


def inject(
    directory: Path, state: LabState, name: str, target: str | None, duration_s: float
) -> dict[str, Any]:
    """Inject fault ``name`` for at most ``duration_s`` seconds; return its record.

    Raises:
        LabError: unknown fault or target, the lab is down, the fault is already active,
            or the injection failed (then it is undone at once).
    """
    fault = get(name)
    if not state.up_at:
        raise LabError("the lab is not up: run `strata lab up` first")
    if name in state.faults:
        raise LabError(f"{name} is already injected; `strata lab restore {name}` first")
    if not 0 < duration_s <= MAX_DURATION_S:
        raise LabError(f"--duration must be between 0 and {MAX_DURATION_S:g} s")
    try:
        tgt = fault.check_target(target or fault.default_target)
    except ValueError as exc:
        raise LabError(str(exc)) from None
    now = time.time()
    rec: dict[str, Any] = {
        "target": tgt,
        "started_at": datetime.fromtimestamp(now, UTC).isoformat(timespec="seconds"),
        "until": now + duration_s,
    }
    state.faults[name] = rec
    state.save()
    try:
        fault.inject(directory, state, tgt, rec)
        rec["watchdog"] = _watchdog(directory, name, duration_s)
        state.save()
    except BaseException:
        restore(directory, state, name)
        raise
    return rec


def _watchdog(directory: Path, name: str, duration_s: float) -> int:
    """A detached process that restores ``name`` after ``duration_s`` seconds."""
    log = directory / "logs" / f"watchdog-{name}.log"
    log.parent.mkdir(parents=True, exist_ok=True)
    code = (
        "import sys, time; time.sleep(float(sys.argv[1])); "
        "from strata.lab.cli import main; sys.exit(main(['restore', sys.argv[2], '--quiet']))"
    )
    with log.open("ab") as out:
        proc = subprocess.Popen(
            [sys.executable, "-c", code, str(duration_s), name],
            stdin=subprocess.DEVNULL,
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,
            env={**os.environ, "STRATA_LAB_DIR": str(directory)},
        )
    return proc.pid


def is_watchdog(pid: int) -> bool:
    """Whether ``pid`` is a lab watchdog (checked before signalling a recorded PID)."""
    try:
        cmdline = Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")
    except OSError:
        return False
    return any(b"strata.lab.cli" in part for part in cmdline)


def restore(directory: Path, state: LabState, name: str) -> bool:
    """Undo fault ``name`` (nothing when it is not active); True if it was active."""
    rec = state.faults.get(name)
    if rec is None:
        return False
    get(name).restore(directory, state, rec)
    wd = rec.get("watchdog")
    if isinstance(wd, int) and wd != os.getpid() and os.getppid() != wd and is_watchdog(wd):
        stop([wd], grace_s=1.0)
    state.faults.pop(name, None)
    state.save()
    return True
