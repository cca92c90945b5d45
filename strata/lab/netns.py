"""Namespaces, links and processes of the lab: thin wrappers around ``ip``, ``nft``, ``kill``.

Everything runs inside ``stl-*`` namespaces (``ip netns exec``); nothing here touches the
host's interfaces or nftables ruleset. Daemons are started in their own session with
their output in a log file, and their PIDs recorded before anything else happens.
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import subprocess
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from strata.lab.plan import PREFIX
from strata.lab.state import LabError

IP = "ip"


def run(argv: Sequence[str], *, ns: str | None = None, check: bool = True,
        stdin: str | None = None, timeout: float = 30.0) -> subprocess.CompletedProcess[str]:  # fmt: skip
    """Run a command (inside namespace ``ns`` when given) and return its result.

    Raises:
        LabError: it exited non-zero (with ``check``), timed out or could not start.
    """
    full = [IP, "netns", "exec", ns, *argv] if ns else list(argv)
    try:
        proc = subprocess.run(
            full, input=stdin, capture_output=True, text=True, timeout=timeout, check=False
        )
    except (OSError, subprocess.TimeoutExpired) as exc:
        raise LabError(f"{' '.join(full)}: {exc}") from None
    if check and proc.returncode != 0:
        why = (proc.stderr or proc.stdout).strip().splitlines()
        raise LabError(f"{' '.join(full)}: exit {proc.returncode}: {' '.join(why[-3:])}")
    return proc


def namespaces() -> list[str]:
    """The lab's namespaces that exist now (every ``stl-*``)."""
    proc = run([IP, "-j", "netns", "list"], check=False)
    try:
        rows = json.loads(proc.stdout or "[]")
    except ValueError:
        rows = []
    names = [str(r.get("name", "")) for r in rows if isinstance(r, dict)]
    return sorted(n for n in names if n.startswith(PREFIX))


def link(ns: str, name: str) -> dict[str, Any] | None:
    """``ip -j link show NAME`` inside ``ns`` (None if there is no such link)."""
    proc = run([IP, "-n", ns, "-j", "-d", "link", "show", "dev", name], check=False)
    if proc.returncode != 0:
        return None
    try:
        rows = json.loads(proc.stdout)
    except ValueError:
        return None
    return rows[0] if rows and isinstance(rows[0], dict) else None


def ns_pids(ns: str) -> list[int]:
    """PIDs of every process inside ``ns``."""
    proc = run([IP, "netns", "pids", ns], check=False)
    return [int(p) for p in proc.stdout.split() if p.isdigit()]


def start(
    ns: str,
    argv: Sequence[str],
    log: Path,
    *,
    env: dict[str, str] | None = None,
    host_mounts: bool = False,
) -> int:
    """Start a daemon inside ``ns`` in its own session, output appended to ``log``.

    ``ip netns exec`` replaces itself with the program, so the PID is the daemon's. It also
    gives the program a sysfs of its own, without the host's cgroup mounts; with
    ``host_mounts`` the program enters only the network namespace (``nsenter --net``) and
    keeps the host's mounts (to put processes into cgroups).

    Raises:
        LabError: it could not be started.
    """
    log.parent.mkdir(parents=True, exist_ok=True)
    with log.open("ab") as out:
        try:
            enter = (["nsenter", f"--net=/run/netns/{ns}"] if host_mounts
                     else [IP, "netns", "exec", ns])  # fmt: skip
            proc = subprocess.Popen(
                [*enter, *argv],
                stdin=subprocess.DEVNULL,
                stdout=out,
                stderr=subprocess.STDOUT,
                start_new_session=True,
                env={**os.environ, **(env or {})},
            )
        except OSError as exc:
            raise LabError(f"cannot start {argv[0]} in {ns}: {exc}") from None
    return proc.pid


def alive(pid: int) -> bool:
    """Whether ``pid`` runs (a zombie counts as gone)."""
    try:
        with open(f"/proc/{pid}/stat", encoding="ascii") as fh:
            return fh.read().rsplit(")", 1)[1].split()[0] != "Z"
    except (OSError, IndexError):
        return False


def reap() -> None:
    """Collect exited children of this process, so that they stop being zombies."""
    while True:
        try:
            pid, _ = os.waitpid(-1, os.WNOHANG)
        except ChildProcessError:
            return
        if pid == 0:
            return


def stop(pids: Sequence[int], *, grace_s: float = 3.0) -> None:
    """SIGTERM each PID, then SIGKILL what is left after ``grace_s`` seconds."""
    pending = [p for p in pids if p > 1 and p != os.getpid()]
    for pid in pending:
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGTERM)
    deadline = time.monotonic() + grace_s
    while pending and time.monotonic() < deadline:
        reap()
        pending = [p for p in pending if alive(p)]
        if pending:
            time.sleep(0.05)
    for pid in pending:
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGKILL)
    reap()
