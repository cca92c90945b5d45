"""What the lab has created, kept on disk so that ``down`` can undo it after a crash.

``state.json`` in the state directory lists the daemons (PID and the namespace they run
in), the active faults and the switch's ifIndex per port. It is written before each
resource is created, so a crash leaves at most a little more recorded than exists.
``down`` also sweeps every ``stl-*`` namespace whether the file knows it or not.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

SCHEMA_VERSION = 1


class LabError(Exception):
    """A lab operation failed; the message says what and why (for the user)."""

    title = "lab error"


class NotRoot(LabError):
    """The lab needs root (namespaces, bridges, nftables)."""

    title = "root required"


@dataclass
class LabState:
    """The recorded state of the lab."""

    path: Path
    pids: dict[str, int] = field(default_factory=dict)
    """Daemon label (``n1/sshd``) -> PID."""
    faults: dict[str, dict[str, Any]] = field(default_factory=dict)
    """Active faults: name -> what restore needs (target, started_at, helper PIDs)."""
    ifindex: dict[str, int] = field(default_factory=dict)
    """Switch port name -> its ifIndex in the switch namespace (the SNMP port number)."""
    up_at: str | None = None
    """When ``up`` finished (ISO 8601), or None while it runs or after ``down``."""

    @classmethod
    def load(cls, directory: Path) -> LabState:
        """The state in ``directory`` (empty if there is none).

        Raises:
            LabError: the file exists but is not a lab state of this version.
        """
        path = directory / "state.json"
        try:
            data = json.loads(path.read_text(encoding="utf-8"))
        except FileNotFoundError:
            return cls(path)
        except (OSError, ValueError) as exc:
            raise LabError(f"{path}: unreadable lab state ({exc}); run `strata lab down`") from None
        if not isinstance(data, dict) or data.get("schema_version") != SCHEMA_VERSION:
            got = data.get("schema_version") if isinstance(data, dict) else None
            raise LabError(
                f"{path}: lab state schema_version {got!r}, expected {SCHEMA_VERSION}; "
                "run `strata lab down` to clear it"
            )
        return cls(
            path,
            pids={str(k): int(v) for k, v in data.get("pids", {}).items()},
            faults=dict(data.get("faults", {})),
            ifindex={str(k): int(v) for k, v in data.get("ifindex", {}).items()},
            up_at=data.get("up_at"),
        )

    def save(self) -> None:
        """Write atomically (a crash leaves the old or the new file, never half of one)."""
        self.path.parent.mkdir(parents=True, exist_ok=True)
        tmp = self.path.with_suffix(".tmp")
        body = {
            "schema_version": SCHEMA_VERSION,
            "pids": self.pids,
            "faults": self.faults,
            "ifindex": self.ifindex,
            "up_at": self.up_at,
        }
        tmp.write_text(json.dumps(body, indent=2) + "\n", encoding="utf-8")
        os.replace(tmp, self.path)


def require_root() -> None:
    """Raise :class:`NotRoot` unless this process may create namespaces."""
    if os.geteuid() != 0:
        raise NotRoot(
            "strata lab creates network namespaces, a bridge and nftables rules: "
            "run it as root (e.g. sudo strata lab up)"
        )
