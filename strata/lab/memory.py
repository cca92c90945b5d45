"""Memory-limited cgroups for the lab's OOM fault (cgroup v2, or v1's memory controller).

A lab cgroup is named ``stl-<node>`` (the lab's prefix, so ``down`` finds it), sits
directly under the memory hierarchy's root, and caps memory without swap, as a
container's limit does. The kernel OOM-kills whatever outgrows it and says so in its log,
naming the cgroup (``oom_memcg=/stl-node-3``): that is how the lab's kernel-log collector
tells which node an OOM kill belongs to, since the lab's nodes share one kernel.
"""

from __future__ import annotations

import contextlib
import os
import signal
import time
from pathlib import Path

from strata.lab import plan
from strata.lab.state import LabError

ROOT = Path("/sys/fs/cgroup")


def hierarchy() -> tuple[Path, str] | None:
    """Where memory cgroups are made, and the hierarchy's version (``"v2"`` or ``"v1"``)."""
    if (ROOT / "cgroup.controllers").is_file():
        return ROOT, "v2"
    if (ROOT / "memory" / "memory.limit_in_bytes").is_file():
        return ROOT / "memory", "v1"
    return None


def unavailable() -> str | None:
    """Why no lab memory cgroup can be made here (None: one can)."""
    found = hierarchy()
    if found is None:
        return "no cgroup memory controller is mounted at /sys/fs/cgroup"
    base, version = found
    if version == "v2" and "memory" not in _read(base / "cgroup.subtree_control").split():
        # Enabling it ourselves fails where the root holds processes (a container).
        return "the cgroup v2 root does not enable the memory controller for its children"
    if not os.access(base, os.W_OK):
        return f"{base} is not writable (read-only cgroup mount, or not root)"
    return None


def _read(path: Path) -> str:
    try:
        return path.read_text()
    except OSError:
        return ""


def _write(path: Path, value: str) -> None:
    try:
        path.write_text(value)
    except OSError as exc:
        raise LabError(f"cannot write {value.strip()!r} to {path}: {exc.strerror}") from None


def create(name: str, limit_bytes: int) -> Path:
    """Make cgroup ``name`` capped at ``limit_bytes`` with no swap; return its directory.

    Raises:
        LabError: no usable memory controller, or the cgroup could not be set up.
    """
    if not name.startswith(plan.PREFIX):
        raise LabError(f"lab cgroups are named {plan.PREFIX}*, not {name!r}")
    why = unavailable()
    found = hierarchy()
    if why is not None or found is None:
        raise LabError(f"no memory-limited cgroup can be made here: {why}")
    base, version = found
    path = base / name
    try:
        path.mkdir(exist_ok=True)
    except OSError as exc:
        raise LabError(f"cannot create cgroup {path}: {exc.strerror}") from None
    if version == "v2":
        _write(path / "memory.max", str(limit_bytes))
        if (path / "memory.swap.max").exists():
            _write(path / "memory.swap.max", "0")
    else:
        _write(path / "memory.limit_in_bytes", str(limit_bytes))
        if (path / "memory.memsw.limit_in_bytes").exists():
            with contextlib.suppress(LabError):  # swap accounting may be off
                _write(path / "memory.memsw.limit_in_bytes", str(limit_bytes))
    return path


def procs_file(path: Path) -> Path:
    """The file a PID is written to, to move that process into cgroup ``path``."""
    return path / "cgroup.procs"


def lab_cgroups() -> list[Path]:
    """The lab's cgroups that exist now."""
    found = hierarchy()
    if found is None:
        return []
    try:
        return sorted(p for p in found[0].glob(f"{plan.PREFIX}*") if p.is_dir())
    except OSError:
        return []


def remove(path: Path, grace_s: float = 2.0) -> None:
    """Kill every process left in cgroup ``path``, then remove it (quietly if it's gone)."""
    deadline = time.monotonic() + grace_s
    while True:
        pids = [int(p) for p in _read(procs_file(path)).split() if p.isdigit()]
        for pid in pids:
            with contextlib.suppress(OSError):
                os.kill(pid, signal.SIGKILL)
        try:
            path.rmdir()
            return
        except FileNotFoundError:
            return
        except OSError:
            if time.monotonic() > deadline:
                return
            time.sleep(0.05)
