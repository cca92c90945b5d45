"""The SNMP interface and counter arithmetic shared by recorded and live backends."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Protocol

from pydantic import BaseModel, ConfigDict, Field

COUNTER_TYPES = {"Counter32": 2**32, "Counter64": 2**64}


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
