"""The SNMP interface and counter arithmetic shared by recorded and live backends."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Protocol

from pydantic import BaseModel, ConfigDict, Field

from tools.snmp import oids

COUNTER_TYPES = {"Counter32": 2**32, "Counter64": 2**64}
_IF_ROWS = ("1.3.6.1.2.1.2.2.1.", "1.3.6.1.2.1.31.1.1.1.")  # ifEntry, ifXEntry: column.ifIndex
_UPTIME_SLACK_S = 2.0


class Varbind(BaseModel):
    """One value read from a device at one time."""

    model_config = ConfigDict(frozen=True)

    ts: datetime = Field(description="When it was polled.")
    device: str = Field(description="Device name.")
    oid: str = Field(description="Numeric OID, no leading dot.")
    type: str = Field(description="SNMP type: Counter32, Counter64, Gauge32, INTEGER, ...")
    value: int | str = Field(description="Numeric value, or text for OCTET STRING.")


def counter_delta(old: int, new: int, type_: str) -> int:
    """Increase of a counter between two polls, allowing one wrap.

    A decrease of a Counter32/Counter64 is taken as a single wrap (RFC 2578); for other
    types a decrease is returned as-is (negative), the caller decides.
    """
    if new >= old:
        return new - old
    modulus = COUNTER_TYPES.get(type_)
    if modulus is None:
        return new - old
    return new + modulus - old


@dataclass(frozen=True)
class Discontinuity:
    """Counters of one poll that must not be compared with the poll before (RFC 2863 3.1.6)."""

    restart: bool = False
    """The agent restarted between the polls (sysUpTime went backwards, or is shorter than
    the time between them): no counter of the device compares."""
    interfaces: frozenset[str] = frozenset()
    """ifIndexes whose ifCounterDiscontinuityTime changed: their ifTable/ifXTable counters."""

    def __bool__(self) -> bool:
        return self.restart or bool(self.interfaces)

    def affects(self, vb: Varbind) -> bool:
        """Whether ``vb`` is a counter that cannot be compared across this break."""
        if vb.type not in COUNTER_TYPES:
            return False
        oid = vb.oid.strip(".")
        return self.restart or (
            oid.startswith(_IF_ROWS) and oid.rpartition(".")[2] in self.interfaces
        )


def discontinuity(before: Sequence[Varbind], after: Sequence[Varbind]) -> Discontinuity:
    """What keeps the counters of poll ``after`` from being compared with poll ``before``.

    A counter wrap is not a discontinuity (``counter_delta`` handles one); an agent restart
    or a changed ``ifCounterDiscontinuityTime`` is, and no delta across it means anything.
    """
    old = {vb.oid.strip("."): vb for vb in before}
    restart = False
    interfaces: set[str] = set()
    for vb in after:
        oid = vb.oid.strip(".")
        prev = old.get(oid)
        if prev is None:
            continue
        if oid == oids.SYS_UPTIME and isinstance(vb.value, int) and isinstance(prev.value, int):
            elapsed = (vb.ts - prev.ts).total_seconds()
            restart = vb.value < prev.value or vb.value / 100 < elapsed - _UPTIME_SLACK_S
        elif oid.startswith(oids.IF_COUNTER_DISCONTINUITY_TIME + ".") and vb.value != prev.value:
            interfaces.add(oid.rpartition(".")[2])
    return Discontinuity(restart, frozenset(interfaces))


class SnmpSource(Protocol):
    """Reads from named devices. ``at`` is the poll time (recorded: the last poll at or before)."""

    def devices(self) -> list[str]:
        """Devices this source can read."""
        ...

    def poll_times(self, device: str) -> list[datetime]:
        """When polls of ``device`` happened (live: empty until polled)."""
        ...

    async def get(self, device: str, oids: Sequence[str], at: datetime) -> list[Varbind]:
        """The listed OIDs' values. Missing OIDs are simply absent."""
        ...

    async def walk(self, device: str, prefix: str, at: datetime) -> list[Varbind]:
        """Every OID under ``prefix``, in OID order."""
        ...
