"""The lab for real: namespaces, a bridge with STP, snmpd, sshd, node exporters, dnsmasq,
Prometheus, Alertmanager and the blackbox exporter, as root, on 10.200.0.0/24 inside
``stl-*`` namespaces. Two faults are injected (packet loss on a switch port, the DNS
server killed), Prometheus and Alertmanager notice them, and both diagnoses are checked;
then ``down`` must leave nothing behind, also after a ``lab run`` killed mid-fault.

Skipped only where network namespaces cannot be created (not root, or no permission).
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import yaml

from strata.lab import memory, plan

pytestmark = pytest.mark.integration

STRATA = [sys.executable, "-m", "strata"]


def _namespaces_work() -> str | None:
    if os.geteuid() != 0:
        return "strata lab needs root to create network namespaces"
    probe = "stl-probe"
    made = subprocess.run(["ip", "netns", "add", probe], capture_output=True, text=True)
    if made.returncode != 0:
        return f"cannot create a network namespace here: {made.stderr.strip()}"
    subprocess.run(["ip", "netns", "del", probe], capture_output=True)
    return None


def _lab(*args: str, env: dict[str, str], timeout: float = 120) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [*STRATA, "lab", *args], capture_output=True, text=True, env=env, timeout=timeout
    )


def _host_view() -> tuple[str, str]:
    """The host's own interfaces and nftables tables (the lab must leave both alone)."""
    links = subprocess.run(["ip", "-o", "link", "show"], capture_output=True, text=True).stdout
    names = "\n".join(sorted(ln.split(":")[1].strip() for ln in links.splitlines()))
    tables = subprocess.run(["nft", "list", "tables"], capture_output=True, text=True).stdout
    return names, tables


def _leftovers(state_dir: Path) -> list[str]:
    """Everything of the lab that still exists: namespaces, processes, mounts, loops."""
    found: list[str] = []
    names = subprocess.run(["ip", "netns", "list"], capture_output=True, text=True).stdout
    found += [f"namespace {ln.split()[0]}" for ln in names.splitlines() if ln.startswith("stl-")]
    root = str(state_dir)
    for proc in Path("/proc").iterdir():
        if not proc.name.isdigit() or int(proc.name) == os.getpid():
            continue
        try:
            cmd = (proc / "cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
            stat = (proc / "stat").read_text().rsplit(")", 1)[1].split()[0]
        except OSError:
            continue
        mine = root in cmd or "strata.lab" in cmd or "strata/lab/" in cmd or " stl-" in cmd
        if stat != "Z" and mine:
            found.append(f"process {proc.name}: {cmd[:120]}")
    mounts = Path("/proc/self/mounts").read_text()
    found += [f"mount {ln.split()[1]}" for ln in mounts.splitlines() if root in ln]
    loops = subprocess.run(["losetup", "-l", "-n"], capture_output=True, text=True).stdout
    found += [f"loop {ln.split()[0]}" for ln in loops.splitlines() if root in ln]
    found += [f"cgroup {cg}" for cg in memory.lab_cgroups()]
    return found


@pytest.fixture(scope="module")
def lab_env(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, str]]:
    why = _namespaces_work()
    if why:
        pytest.skip(why)
    existing = subprocess.run(["ip", "netns", "list"], capture_output=True, text=True).stdout
    if any(ln.startswith(plan.PREFIX) for ln in existing.splitlines()):
        pytest.fail("a lab is already up on this machine: `strata lab down` first")
    state_dir = tmp_path_factory.mktemp("lab-state")
    env = {**os.environ, "STRATA_LAB_DIR": str(state_dir)}
    yield env
    _lab("down", env=env)


def test_up_two_faults_diagnosed_then_down_leaves_nothing(
    lab_env: dict[str, str], tmp_path: Path
) -> None:
    state_dir = Path(lab_env["STRATA_LAB_DIR"])
    host_before = _host_view()
    up = _lab("up", env=lab_env)
    assert _host_view() == host_before  # nothing of the lab shows on the host
    assert up.returncode == 0, up.stderr
    status = json.loads(_lab("status", "--json", env=lab_env).stdout)
    assert status["up"] and set(status["namespaces"]) == set(plan.NAMESPACES)
    assert all(s["running"] for s in status["services"]), status["services"]

    out = tmp_path / "results"
    run = _lab(
        "run", "--faults", "packet_loss,dns_down", "--settle", "40s", "--window", "2m",
        "--out", str(out), env=lab_env, timeout=600,
    )  # fmt: skip
    results = json.loads((out / "results.json").read_text())
    rows = {r["fault"]: r for r in results["results"]}
    detail = run.stdout + run.stderr
    assert rows["packet_loss"]["got"] == "network/packet_loss/node-2", detail
    assert rows["dns_down"]["got"] == "dns/resolver_down/dnsmasq", detail
    assert all(r["correct"] and r["verdict"] == "diagnosed" for r in rows.values()), detail
    assert all(r["fault_to_alert_s"] is not None for r in rows.values())
    assert all(r["incident"] for r in rows.values())  # diagnosed by strata serve
    assert run.returncode == 0

    # Each incident is a labelled scenario that replays offline to the same answer.
    scenario = Path(rows["packet_loss"]["scenario"])
    meta = yaml.safe_load((scenario / "scenario.yaml").read_text())
    assert meta["ground_truth"]["fault"] == "packet_loss"
    replay = subprocess.run(
        [*STRATA, "replay", str(scenario), "--json", "--model", "none"],
        capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    assert json.loads(replay.stdout)["root_cause"]["fault"] == "packet_loss", replay.stderr

    down = _lab("down", env=lab_env)
    assert down.returncode == 0, down.stderr
    assert _leftovers(state_dir) == []
    assert _host_view() == host_before
    assert _lab("down", env=lab_env).stdout.strip() == "lab down: nothing was left"


def test_down_after_a_killed_run_with_faults_active(
    lab_env: dict[str, str], tmp_path: Path
) -> None:
    state_dir = Path(lab_env["STRATA_LAB_DIR"])
    assert _lab("up", env=lab_env).returncode == 0
    run = subprocess.Popen(
        [*STRATA, "lab", "run", "--faults", "stp_loop", "--settle", "1s", "--window", "2s",
         "--out", str(tmp_path / "killed")],
        env=lab_env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )  # fmt: skip
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        state = json.loads((state_dir / "state.json").read_text())
        if "stp_loop" in state["faults"]:
            break
        time.sleep(0.2)
    else:
        run.kill()
        pytest.fail("lab run never injected its fault")
    # More faults: one with a mount, a loop device and a watchdog, one with a helper process.
    assert _lab("inject", "disk_full", "--duration", "5m", env=lab_env).returncode == 0
    assert _lab("inject", "link_flap", "--duration", "5m", env=lab_env).returncode == 0
    if memory.unavailable() is None:  # a cgroup and a process outside `ip netns exec`
        oom = _lab("inject", "oom_kill", "--duration", "5m", env=lab_env)
        assert oom.returncode == 0, oom.stderr
        assert memory.lab_cgroups()
    run.send_signal(signal.SIGKILL)
    run.wait()
    assert len(_leftovers(state_dir)) > 6  # namespaces, daemons, the mount, the loop device
    down = _lab("down", env=lab_env)
    assert down.returncode == 0, down.stderr
    assert _leftovers(state_dir) == []
