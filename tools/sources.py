"""The bundle of data sources one incident is investigated with."""

from __future__ import annotations

from dataclasses import dataclass, field

from tools.logs.base import LogSource
from tools.metrics.base import MetricsSource
from tools.snmp.base import SnmpSource
from tools.ssh.base import SshSource


@dataclass(frozen=True)
class Sources:
    """Whatever sources this incident has; ``None`` means not available (say so, cope)."""

    metrics: MetricsSource | None = None
    logs: LogSource | None = None
    snmp: SnmpSource | None = None
    ssh: SshSource | None = None
    notes: tuple[str, ...] = field(default=())
    """Why a source is missing, one line each (e.g. "no snmp.jsonl in this recording")."""

    def missing(self) -> list[str]:
        """Names of the sources that are not available."""
        return [name for name in ("metrics", "logs", "snmp", "ssh") if getattr(self, name) is None]
