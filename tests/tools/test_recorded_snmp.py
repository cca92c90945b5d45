"""tools.snmp.recorded: reads return the last poll at or before; nothing after observed_at."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from tools.errors import SourceUnavailable
from tools.snmp import oids
from tools.snmp.base import Varbind, counter_delta
from tools.snmp.recorded import RecordedSnmp, oid_key

T0 = datetime(2024, 12, 14, 3, 0, tzinfo=UTC)
OBSERVED = T0 + timedelta(minutes=10)
TOP = oids.STP_TOP_CHANGES


def vb(
    minute: int, oid: str, value: int | str, type_: str = "Counter32", device: str = "sw1"
) -> Varbind:
    return Varbind(
        ts=T0 + timedelta(minutes=minute), device=device, oid=oid, type=type_, value=value
    )


VARBINDS = [
    vb(0, TOP, 100),
    vb(5, TOP, 300),
    vb(10, TOP, 700),
    vb(15, TOP, 9999),  # after observed_at
    *(vb(m, f"{oids.IF_IN_ERRORS}.{i}", m * i) for m in (0, 5) for i in (1, 2, 10)),
    vb(5, f"{oids.IF_IN_ERRORS}.3", 4),  # first appears in the second poll
    vb(5, f"{oids.IF_IN_DISCARDS}.1", 1),  # sibling column, not under ifInErrors
    vb(0, f"{oids.IF_DESCR}.1", "Gi0/1", "OCTET STRING"),
    vb(5, TOP, 50, device="sw2"),
    vb(20, TOP, 1, device="sw3"),  # a device seen only after observed_at
]


@pytest.fixture
def snmp() -> RecordedSnmp:
    return RecordedSnmp(VARBINDS, OBSERVED)


def test_devices_and_poll_times(snmp: RecordedSnmp) -> None:
    assert snmp.devices() == ["sw1", "sw2"]  # sw3 only polled after observed_at
    assert snmp.poll_times("sw1") == [T0, T0 + timedelta(minutes=5), OBSERVED]
    assert snmp.poll_times("sw2") == [T0 + timedelta(minutes=5)]


async def test_get_takes_the_last_poll_at_or_before(snmp: RecordedSnmp) -> None:
    at = T0 + timedelta(minutes=7)
    [got] = await snmp.get("sw1", [TOP], at)
    assert (got.value, got.ts) == (300, T0 + timedelta(minutes=5))
    [exact] = await snmp.get("sw1", ["." + TOP], T0 + timedelta(minutes=5))
    assert exact.value == 300


async def test_get_never_sees_after_observed_at(snmp: RecordedSnmp) -> None:
    [got] = await snmp.get("sw1", [TOP], T0 + timedelta(hours=5))
    assert got.value == 700 and got.ts == OBSERVED


async def test_get_missing_and_too_early_oids_are_absent(snmp: RecordedSnmp) -> None:
    got = await snmp.get("sw1", [TOP, "1.3.6.1.9.9.9", f"{oids.IF_IN_ERRORS}.3"], T0)
    assert [v.oid for v in got] == [TOP]
    assert await snmp.get("sw1", [TOP], T0 - timedelta(seconds=1)) == []


async def test_walk_is_in_numeric_oid_order(snmp: RecordedSnmp) -> None:
    got = await snmp.walk("sw1", oids.IF_IN_ERRORS, T0 + timedelta(minutes=6))
    assert [v.oid.rsplit(".", 1)[1] for v in got] == ["1", "2", "3", "10"]
    assert [v.value for v in got] == [5, 10, 4, 50]
    early = await snmp.walk("sw1", "." + oids.IF_IN_ERRORS, T0)
    assert [v.oid.rsplit(".", 1)[1] for v in early] == ["1", "2", "10"]


async def test_walk_prefix_is_by_whole_arcs(snmp: RecordedSnmp) -> None:
    # "...2.2.1.1" must not match "...2.2.1.10" or "...2.2.1.14"
    got = await snmp.walk("sw1", "1.3.6.1.2.1.2.2.1.1", OBSERVED)
    assert got == []
    whole_table = await snmp.walk("sw1", "1.3.6.1.2.1.2.2", OBSERVED)
    assert [v.oid for v in whole_table][:2] == [f"{oids.IF_DESCR}.1", f"{oids.IF_IN_DISCARDS}.1"]


async def test_unknown_device(snmp: RecordedSnmp) -> None:
    with pytest.raises(SourceUnavailable, match=r"'sw9' is not in this recording.*sw1, sw2"):
        await snmp.get("sw9", [TOP], OBSERVED)
    with pytest.raises(SourceUnavailable):
        await snmp.walk("sw3", TOP, OBSERVED)
    with pytest.raises(SourceUnavailable):
        snmp.poll_times("sw3")


def test_oid_key_sorts_numerically() -> None:
    assert sorted(["1.10", "1.9", "1.9.1", "1.2"], key=oid_key) == ["1.2", "1.9", "1.9.1", "1.10"]


def test_counter_delta_without_wrap() -> None:
    assert counter_delta(100, 700, "Counter32") == 600
    assert counter_delta(5, 5, "Counter64") == 0


def test_counter32_wrap() -> None:
    assert counter_delta(2**32 - 10, 5, "Counter32") == 15


def test_counter64_wrap() -> None:
    assert counter_delta(2**64 - 1, 0, "Counter64") == 1
    # the Counter32 modulus would give a wrong answer here
    assert counter_delta(2**40, 3, "Counter64") == 2**64 - 2**40 + 3


def test_non_counter_decrease_is_negative() -> None:
    assert counter_delta(10, 4, "Gauge32") == -6


async def test_delta_across_recorded_polls(snmp: RecordedSnmp) -> None:
    wrapped = RecordedSnmp([vb(0, TOP, 2**32 - 100), vb(5, TOP, 400)], OBSERVED)
    [old] = await wrapped.get("sw1", [TOP], T0)
    [new] = await wrapped.get("sw1", [TOP], OBSERVED)
    assert isinstance(old.value, int) and isinstance(new.value, int)
    assert counter_delta(old.value, new.value, new.type) == 500
