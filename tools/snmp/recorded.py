"""SNMP replayed from a scenario's ``snmp.jsonl``: each read returns the last poll at or before.

Varbinds polled after the diagnosis clock (``observed_at``) are dropped when the source is
built, so no read, whatever its ``at``, can return them.
"""

from __future__ import annotations

from bisect import bisect_right
from collections import defaultdict
from collections.abc import Iterable, Sequence
from datetime import datetime

from tools.errors import SourceUnavailable
from tools.snmp.base import Varbind
from tools.timeutil import parse_ts


def oid_key(oid: str) -> tuple[int, ...]:
    """A numeric OID as an int tuple, so that ``1.10`` sorts after ``1.9``."""
    return tuple(int(part) for part in oid.strip(".").split("."))


class RecordedSnmp:
    """A :class:`tools.snmp.base.SnmpSource` over recorded varbinds."""

    def __init__(self, varbinds: Iterable[Varbind], observed_at: datetime) -> None:
        self._observed_at = parse_ts(observed_at)
        # device -> oid -> (poll times ascending, varbinds in the same order)
        self._polls: dict[str, dict[str, tuple[list[datetime], list[Varbind]]]] = {}
        grouped: dict[str, dict[str, list[Varbind]]] = defaultdict(lambda: defaultdict(list))
        for vb in varbinds:
            if vb.ts.tzinfo is None:  # taken as UTC, so that every comparison is aware
                vb = vb.model_copy(update={"ts": parse_ts(vb.ts)})
            if vb.ts <= self._observed_at:
                grouped[vb.device][vb.oid.strip(".")].append(vb)
        for device, by_oid in grouped.items():
            self._polls[device] = {}
            for oid, vbs in by_oid.items():
                vbs.sort(key=lambda v: v.ts)
                self._polls[device][oid] = ([v.ts for v in vbs], vbs)

    def devices(self) -> list[str]:
        """Devices with at least one recorded poll."""
        return sorted(self._polls)

    def poll_times(self, device: str) -> list[datetime]:
        """Distinct poll times of ``device``, ascending."""
        return sorted({ts for times, _ in self._device(device).values() for ts in times})

    async def get(self, device: str, oids: Sequence[str], at: datetime) -> list[Varbind]:
        """The latest value of each listed OID polled at or before ``at`` (missing ones absent).

        Raises:
            tools.errors.SourceUnavailable: ``device`` is not in this recording.
        """
        by_oid = self._device(device)
        cutoff = min(parse_ts(at), self._observed_at)
        found = (self._latest(by_oid.get(oid.strip(".")), cutoff) for oid in oids)
        return [vb for vb in found if vb is not None]

    async def walk(self, device: str, prefix: str, at: datetime) -> list[Varbind]:
        """Every OID under ``prefix`` (itself included), in numeric OID order.

        Raises:
            tools.errors.SourceUnavailable: ``device`` is not in this recording.
        """
        by_oid = self._device(device)
        cutoff = min(parse_ts(at), self._observed_at)
        root = prefix.strip(".")
        under = sorted(
            (oid for oid in by_oid if oid == root or oid.startswith(root + ".")), key=oid_key
        )
        found = (self._latest(by_oid[oid], cutoff) for oid in under)
        return [vb for vb in found if vb is not None]

    def _device(self, device: str) -> dict[str, tuple[list[datetime], list[Varbind]]]:
        try:
            return self._polls[device]
        except KeyError:
            known = ", ".join(self.devices()) or "none"
            raise SourceUnavailable(
                f"SNMP device {device!r} is not in this recording (recorded: {known})"
            ) from None

    @staticmethod
    def _latest(
        polls: tuple[list[datetime], list[Varbind]] | None, cutoff: datetime
    ) -> Varbind | None:
        if polls is None:
            return None
        times, vbs = polls
        i = bisect_right(times, cutoff)
        return vbs[i - 1] if i else None
