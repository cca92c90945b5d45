"""tools.snmp.live against real SNMP agents on loopback: net-snmp's snmpd and snmpsim.

snmpd (Debian ``snmpd``) answers v2c and v3 (SHA/AES, MD5/DES) with this machine's real
IF-MIB rows; its loopback counters grow with every request we send. snmpsim serves a real
24-port HPE ProCurve recording (``snmpsim-data``) and the hand-written switches in
``snmp_data/``: one whose counters grow by themselves (errors and topology changes the
network specialist must find, a 32-bit counter that wraps), one whose values the test sets
between polls to stage wraps, restarts and counter discontinuities exactly.
"""

from __future__ import annotations

import asyncio
import bz2
import logging
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from pydantic import ValidationError
from pysnmp.hlapi.v3arch.asyncio import (
    CommunityData,
    ContextData,
    ObjectIdentity,
    ObjectType,
    SnmpEngine,
    UdpTransportTarget,
    set_cmd,
)
from pysnmp.proto import rfc1902

from agents.models import Incident
from agents.network import ERROR_RATE, NetworkSpecialist
from agents.specialist import SpecialistReport
from tools.alertmanager.webhook import parse_webhook
from tools.errors import SourceUnavailable
from tools.snmp import oids
from tools.snmp.base import Varbind, counter_delta, discontinuity
from tools.snmp.errors import SnmpAuthError, SnmpTimeout, SnmpUnavailable
from tools.snmp.live import LiveSnmp, SnmpClient, SnmpDevice
from tools.sources import Sources
from tools.topology import NodeHint, SwitchHint, Topology

pytestmark = pytest.mark.integration

SNMPD = shutil.which("snmpd") or "/usr/sbin/snmpd"
SNMPSIM = Path(sys.executable).with_name("snmpsim-command-responder")
DATA = Path(__file__).with_name("snmp_data")

COMMUNITY = "strata-ro-6f1c2e"
AUTH_KEY = "auth-pass-9d41b7"
PRIV_KEY = "priv-pass-3a8e55"
SECRETS = (COMMUNITY, AUTH_KEY, PRIV_KEY)
WRAP_RATE = 1_700_000_000  # growing.snmprec, port 3: octets per second
# NET-SNMP-AGENT-MIB nsCacheTimeout of the ifTable cache (3 s by default; 0 = read live).
IFTABLE_CACHE_TIMEOUT = "1.3.6.1.4.1.8072.1.5.3.1.2.1.3.6.1.2.1.2.2"

needs_snmpd = pytest.mark.skipif(
    not Path(SNMPD).exists(), reason="net-snmp agent not installed: apt-get install snmpd"
)


def _procurve() -> Path | None:
    try:
        import snmpsim_data
    except ImportError:
        return None
    found = sorted(Path(snmpsim_data.__file__).parent.rglob("hpe-procurve-*.snmprec.bz2"))
    return found[0] if found else None


needs_snmpsim = pytest.mark.skipif(
    not SNMPSIM.exists() or _procurve() is None,
    reason="snmpsim not installed: pip install snmpsim pysmi snmpsim-data",
)


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def start(
    cmd: list[str], log: Path, ready: str, env: dict[str, str] | None = None
) -> subprocess.Popen[bytes]:
    """Start ``cmd`` (output to ``log``) and wait until ``ready`` appears in the log."""
    with log.open("wb") as out:
        proc = subprocess.Popen(cmd, stdout=out, stderr=subprocess.STDOUT, env=env)
    deadline = time.monotonic() + 20
    while ready not in log.read_text(errors="replace"):
        if proc.poll() is not None or time.monotonic() > deadline:
            proc.kill()
            proc.wait()
            pytest.fail(f"{cmd[0]} did not start:\n{log.read_text(errors='replace')[-2000:]}")
        time.sleep(0.05)
    return proc


def stop(proc: subprocess.Popen[bytes]) -> None:
    """SIGTERM to the server's PID, then reap it (SIGKILL if it lingers)."""
    if proc.poll() is None:
        os.kill(proc.pid, signal.SIGTERM)
        try:
            proc.wait(timeout=5)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


async def snmp_set(port: int, community: str, binds: dict[str, object]) -> None:
    """SET values on a test agent (test setup only: Strata itself never writes)."""
    engine = SnmpEngine()
    target = await UdpTransportTarget.create(("127.0.0.1", port), timeout=1, retries=1)
    indication, status, _, _ = await set_cmd(
        engine,
        CommunityData(community),
        target,
        ContextData(),
        *(ObjectType(ObjectIdentity(oid), value) for oid, value in binds.items()),
        lookupMib=False,
    )
    engine.close_dispatcher()
    assert not indication and not status, (indication, status)


@pytest.fixture(scope="module")
def snmpd(tmp_path_factory: pytest.TempPathFactory) -> Iterator[int]:
    """net-snmp on a free port: v2c community, a SHA/AES and an MD5/DES v3 user."""
    if not Path(SNMPD).exists():
        pytest.skip("net-snmp agent not installed: apt-get install snmpd")
    d = tmp_path_factory.mktemp("snmpd")
    port = free_port()
    conf = d / "snmpd.conf"
    conf.write_text(
        f"agentAddress udp:127.0.0.1:{port}\n"
        f"rocommunity {COMMUNITY} 127.0.0.1\n"
        f"createUser strata SHA {AUTH_KEY} AES {PRIV_KEY}\n"
        f"createUser legacy MD5 {AUTH_KEY} DES {PRIV_KEY}\n"
        "rouser strata priv\n"
        "rouser legacy priv\n"
        "rwcommunity cache-ctl 127.0.0.1 .1.3.6.1.4.1.8072.1.5\n"  # the agent's caches only
    )
    env = {**os.environ, "SNMP_PERSISTENT_DIR": str(d / "persist"), "MIBS": ""}
    proc = start(
        [SNMPD, "-f", "-Lo", "-C", "-c", str(conf), "-p", str(d / "pid"), "-m", ""],
        d / "snmpd.log",
        "NET-SNMP version",
        env,
    )
    # Live interface counters, so that two reads a moment apart see our own traffic on lo.
    asyncio.run(snmp_set(port, "cache-ctl", {IFTABLE_CACHE_TIMEOUT: rfc1902.Integer32(0)}))
    yield port
    stop(proc)


@pytest.fixture(scope="module")
def snmpsim(tmp_path_factory: pytest.TempPathFactory) -> Iterator[int]:
    """snmpsim on a free port serving snmp_data/*.snmprec and the ProCurve recording."""
    procurve = _procurve()
    if not SNMPSIM.exists() or procurve is None:
        pytest.skip("snmpsim not installed: pip install snmpsim pysmi snmpsim-data")
    d = tmp_path_factory.mktemp("snmpsim")
    data = d / "data"
    data.mkdir()
    for rec in DATA.glob("*.snmprec"):
        shutil.copy(rec, data / rec.name)
    # Served compressed, every read would decompress from the start: unpack it once.
    (data / "procurve.snmprec").write_bytes(bz2.decompress(procurve.read_bytes()))
    port = free_port()
    proc = start(
        [
            str(SNMPSIM),
            f"--data-dir={data}",
            f"--agent-udpv4-endpoint=127.0.0.1:{port}",
            f"--cache-dir={d / 'cache'}",
        ],
        d / "snmpsim.log",
        "Listening at UDP/IPv4 endpoint",
        {**os.environ, "SNMPSIM_ALLOW_ROOT": "true"},
    )
    yield port
    stop(proc)


def v2c(port: int, name: str = "sw1", community: str = COMMUNITY, **kw: object) -> SnmpDevice:
    return SnmpDevice.model_validate(
        {"name": name, "host": "127.0.0.1", "port": port, "community": community, **kw}
    )


def v3(port: int, **kw: object) -> SnmpDevice:
    fields: dict[str, object] = {
        "name": "sw3",
        "host": "127.0.0.1",
        "port": port,
        "version": "v3",
        "user": "strata",
        "auth_key": AUTH_KEY,
        "priv_key": PRIV_KEY,
    }
    return SnmpDevice.model_validate({**fields, **kw})


def values(vbs: list[Varbind] | tuple[Varbind, ...]) -> dict[str, int | str]:
    return {vb.oid: vb.value for vb in vbs}


def assert_no_secret(*texts: str) -> None:
    for text in texts:
        for secret in SECRETS:
            assert secret not in text


# ---------------------------------------------------------------- no server needed


def test_device_config_is_checked_and_secret() -> None:
    with pytest.raises(ValidationError, match="v2c needs a community"):
        SnmpDevice(name="a", host="h")
    with pytest.raises(ValidationError, match="v3 needs a user"):
        SnmpDevice(name="a", host="h", version="v3")
    with pytest.raises(ValidationError, match="privacy needs an auth_key"):
        SnmpDevice.model_validate(
            {"name": "a", "host": "h", "version": "v3", "user": "u", "priv_key": PRIV_KEY}
        )
    device = v3(161, auth_protocol="SHA256")
    assert device.label == "sw3 (127.0.0.1:161)" and device.security == "v3 authPriv SHA256/AES"
    assert_no_secret(repr(device), str(device), device.model_dump_json())
    with pytest.raises(ValueError, match="configured twice"):
        LiveSnmp([v2c(161), v2c(162)])


def test_discontinuity_is_a_restart_or_a_moved_discontinuity_time() -> None:
    t0 = datetime(2025, 1, 1, tzinfo=UTC)

    def poll(at: float, uptime: int, disc: int, errors: int) -> list[Varbind]:
        ts = t0 + timedelta(seconds=at)
        return [
            Varbind(ts=ts, device="s", oid=oids.SYS_UPTIME, type="TimeTicks", value=uptime),
            Varbind(ts=ts, device="s", oid=f"{oids.IF_COUNTER_DISCONTINUITY_TIME}.7",
                    type="TimeTicks", value=disc),
            Varbind(ts=ts, device="s", oid=f"{oids.IF_IN_ERRORS}.7", type="Counter32",
                    value=errors),
        ]  # fmt: skip

    base = poll(0, 100_000, 0, 2**32 - 1)
    assert not discontinuity(base, poll(30, 103_000, 0, 4))  # a wrap is not one
    assert discontinuity(base, poll(30, 500, 0, 4)).restart  # sysUpTime went back
    # Up 300 s when the last poll was 600 s ago: it restarted in between, though the
    # uptime is above the last one's 10 s.
    assert discontinuity(poll(0, 1_000, 0, 5), poll(600, 30_000, 0, 9)).restart
    moved = discontinuity(base, poll(30, 103_000, 101_000, 4))
    assert (moved.restart, moved.interfaces) == (False, frozenset({"7"}))
    assert moved.affects(base[2]) and not moved.affects(base[1])


# ---------------------------------------------------------------- net-snmp: the client


@needs_snmpd
async def test_v2c_get_walk_and_bulk_walk_read_real_interfaces(snmpd: int) -> None:
    client = SnmpClient(v2c(snmpd))
    try:
        lo_in = f"{oids.IF_IN_OCTETS}.1"
        first = await client.get([oids.SYS_UPTIME, f"{oids.IF_DESCR}.1", lo_in])
        got = {vb.oid: vb for vb in first.varbinds}
        assert got[oids.SYS_UPTIME].type == "TimeTicks"
        assert got[f"{oids.IF_DESCR}.1"].value == "lo"
        assert got[lo_in].type == "Counter32"

        walked = await client.walk(oids.IF_IN_OCTETS)
        bulked = await client.bulk_walk(oids.IF_IN_OCTETS)
        assert [vb.oid for vb in walked.varbinds] == [vb.oid for vb in bulked.varbinds]
        assert len(bulked.varbinds) >= 1
        assert all(vb.oid.startswith(oids.IF_IN_OCTETS + ".") for vb in bulked.varbinds)
        # Our own requests travel over lo: its counter grew between the reads.
        assert int(values(bulked.varbinds)[lo_in]) > int(got[lo_in].value)

        hc = await client.bulk_walk(oids.IF_HC_IN_OCTETS)
        assert {vb.type for vb in hc.varbinds} == {"Counter64"}
        names = await client.bulk_walk(oids.IF_NAME)
        assert values(names.varbinds)[f"{oids.IF_NAME}.1"] == "lo"
    finally:
        await client.aclose()


@needs_snmpd
async def test_absent_objects_are_data_not_errors(snmpd: int) -> None:
    client = SnmpClient(v2c(snmpd))
    try:
        reply = await client.get([oids.SYS_UPTIME, oids.STP_TOP_CHANGES, "1.3.6.1.2.1.1.3.7"])
        assert [vb.oid for vb in reply.varbinds] == [oids.SYS_UPTIME]
        assert set(reply.missing) == {oids.STP_TOP_CHANGES, "1.3.6.1.2.1.1.3.7"}
        assert reply.error is None
        stp = await client.bulk_walk(oids.STP_PORT_STATE)  # no BRIDGE-MIB on a host
        assert stp.varbinds == () and stp.missing == (oids.STP_PORT_STATE,)
        leaf = await client.walk(oids.SYS_UPTIME)  # a walk of a scalar reads it
        assert [vb.oid for vb in leaf.varbinds] == [oids.SYS_UPTIME]
        with pytest.raises(ValueError, match="numeric OID"):
            await client.get(["IF-MIB::ifInOctets.1"])
    finally:
        await client.aclose()


@needs_snmpd
@pytest.mark.parametrize(
    ("user", "auth", "priv"), [("strata", "SHA", "AES"), ("legacy", "MD5", "DES")]
)
async def test_v3_auth_priv_get_and_bulk_walk(snmpd: int, user: str, auth: str, priv: str) -> None:
    device = v3(snmpd, user=user, auth_protocol=auth, priv_protocol=priv)
    assert device.security == f"v3 authPriv {auth}/{priv}"
    client = SnmpClient(device)
    try:
        reply = await client.get([f"{oids.IF_DESCR}.1"])
        assert values(reply.varbinds) == {f"{oids.IF_DESCR}.1": "lo"}
        status = await client.bulk_walk(oids.IF_OPER_STATUS)
        assert values(status.varbinds)[f"{oids.IF_OPER_STATUS}.1"] == 1  # lo is up
        assert {vb.type for vb in status.varbinds} == {"INTEGER"}
    finally:
        await client.aclose()


@needs_snmpd
async def test_wrong_community_times_out_with_a_clear_message(snmpd: int) -> None:
    client = SnmpClient(v2c(snmpd, community="not-the-community", timeout_s=0.3, retries=1))
    started = time.perf_counter()
    with pytest.raises(SnmpTimeout) as caught:
        await client.get([oids.SYS_UPTIME])
    assert time.perf_counter() - started < 3
    assert caught.value.message == (
        f"sw1 (127.0.0.1:{snmpd}): no response after 1 retries (timeout 0.3 s) "
        "— wrong community or host down?"
    )
    assert "not-the-community" not in str(caught.value)
    assert isinstance(caught.value, SourceUnavailable)
    await client.aclose()


@needs_snmpd
@pytest.mark.parametrize(
    ("fields", "reason"),
    [
        ({"auth_key": "wrong-auth-key-1"}, "digest"),
        ({"user": "nobody"}, "Unknown USM user"),
    ],
)
async def test_wrong_v3_credentials_are_an_auth_error(
    snmpd: int, fields: dict[str, str], reason: str
) -> None:
    client = SnmpClient(v3(snmpd, timeout_s=0.5, retries=1, **fields))
    with pytest.raises(SnmpAuthError) as caught:
        await client.get([oids.SYS_UPTIME])
    message = caught.value.message
    assert message.startswith(f"sw3 (127.0.0.1:{snmpd}): v3 authPriv SHA/AES user ")
    assert reason in message and "check the user" in message
    assert_no_secret(message, "wrong-auth-key-1")
    assert "wrong-auth-key-1" not in message
    await client.aclose()


async def test_closed_port_times_out() -> None:
    port = free_port()  # nothing listens there
    client = SnmpClient(v2c(port, timeout_s=0.2, retries=2))
    with pytest.raises(SnmpTimeout, match=r"no response after 2 retries \(timeout 0.2 s\)"):
        await client.bulk_walk(oids.IF_IN_OCTETS)
    await client.aclose()


# ---------------------------------------------------------------- net-snmp: LiveSnmp


@needs_snmpd
async def test_live_polls_answer_like_a_recording(snmpd: int) -> None:
    devices = [v2c(snmpd, max_concurrency=1), v3(snmpd, max_concurrency=3)]
    async with LiveSnmp(devices) as live:
        assert live.devices() == ["sw1", "sw3"]
        assert live.poll_times("sw1") == []
        failed = await live.collect(polls=2, interval_s=0.3)
        assert failed == {}
        t1, t2 = live.poll_times("sw1")
        assert timedelta(seconds=0.3) <= t2 - t1 < timedelta(seconds=5)
        assert oids.STP_PORT_STATE in live.history("sw1")[0].missing  # a host has no BRIDGE-MIB

        octets = f"{oids.IF_IN_OCTETS}.1"
        [old] = await live.get("sw1", [octets], at=t1)
        [new] = await live.get("sw1", [octets], at=t2 + timedelta(hours=1))
        assert (old.ts, new.ts) == (t1, t2)
        assert counter_delta(int(old.value), int(new.value), new.type) > 0  # lo carried traffic
        assert await live.get("sw1", [octets], at=t1 - timedelta(seconds=1)) == []
        walked = await live.walk("sw3", oids.IF_HC_IN_OCTETS, at=live.poll_times("sw3")[-1])
        assert walked and {vb.type for vb in walked} == {"Counter64"}
        assert len(live.varbinds()) == sum(
            len(p.varbinds) for name in live.devices() for p in live.history(name)
        )
        with pytest.raises(SnmpUnavailable, match="'sw9' is not configured"):
            await live.get("sw9", [oids.SYS_UPTIME], at=t2)


async def test_unreachable_device_fails_once_and_the_specialist_says_so() -> None:
    device = v2c(free_port(), name="sw-dead", timeout_s=0.2, retries=0)
    async with LiveSnmp([device]) as live:
        with pytest.raises(SnmpTimeout):
            await live.get("sw-dead", [oids.STP_TOP_CHANGES], at=datetime.now(UTC))
        started = time.perf_counter()
        with pytest.raises(SnmpTimeout):  # the failure is remembered, not retried per read
            await live.walk("sw-dead", oids.IF_IN_ERRORS, at=datetime.now(UTC))
        assert time.perf_counter() - started < 0.5
        assert isinstance(live.failure("sw-dead"), SnmpTimeout)

        now = datetime.now(UTC)
        report = await run_network(live, "sw-dead", now - timedelta(minutes=5), now)
    assert report.findings == () and report.hypotheses == ()
    snmp = [e for e in report.evidence if e.source == "snmp"]
    assert snmp and all(e.status == "error" for e in snmp)
    assert "no response after 0 retries" in snmp[0].excerpt


async def test_secrets_stay_out_of_reprs_errors_and_logs(
    snmpd: int, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    devices = [
        v2c(snmpd, name="good"),
        v2c(snmpd, name="bad-community", community=COMMUNITY[::-1], timeout_s=0.2, retries=0),
        v3(snmpd, name="bad-key", priv_key=PRIV_KEY[::-1], timeout_s=0.3, retries=0),
    ]
    texts = [repr(d) for d in devices] + [str(d.model_dump()) for d in devices]
    async with LiveSnmp(devices) as live:
        failed = await live.collect(polls=1)
        texts += [repr(live), repr(live.client("good")), *(e.message for e in failed.values())]
        texts += [p.model_dump_json() for p in live.history("good")]
    assert set(failed) == {"bad-community", "bad-key"}
    # net-snmp drops what it cannot decrypt: a wrong privacy key is a timeout.
    assert isinstance(failed["bad-key"], SnmpTimeout)
    assert failed["bad-key"].message.endswith("— wrong privacy key or protocol, or host down?")
    with pytest.raises(ValidationError) as invalid:
        v3(snmpd, auth_key="k3y-7!", priv_key=PRIV_KEY)
    assert "auth_key is shorter than 8 characters" in str(invalid.value)
    texts += [str(invalid.value), caplog.text]
    assert "SNMP poll failed: bad-community (127.0.0.1" in caplog.text
    for text in texts:
        for secret in (*SECRETS, COMMUNITY[::-1], PRIV_KEY[::-1], "k3y-7!"):
            assert secret not in text


# ---------------------------------------------------------------- snmpsim


def incident(start: datetime, end: datetime, switch: str) -> Incident:
    alert = parse_webhook(
        {
            "version": "4",
            "status": "firing",
            "commonLabels": {"alertname": "NodeNetworkErrors"},
            "alerts": [
                {
                    "status": "firing",
                    "labels": {"alertname": "NodeNetworkErrors"},
                    "startsAt": start.isoformat(),
                }
            ],
        }
    )
    topology = Topology(
        nodes=(NodeHint(name="node-a", switch=switch, port=2),),
        switches=(SwitchHint(name=switch),),
    )
    return Incident(alert=alert, observed_at=end, window_start=start, topology=topology)


async def run_network(
    live: LiveSnmp, switch: str, start: datetime, end: datetime
) -> SpecialistReport:
    """The network specialist over ``live``, with ``switch`` in the topology."""
    return await NetworkSpecialist(incident(start, end, switch), Sources(snmp=live)).investigate()


@needs_snmpsim
async def test_full_poll_of_a_real_24_port_switch(snmpsim: int) -> None:
    device = v2c(snmpsim, name="procurve", community="procurve", timeout_s=2.0)
    async with LiveSnmp([device]) as live:
        await live.client("procurve").get([oids.SYS_UPTIME])  # snmpsim opens the file lazily
        start = datetime.now(UTC)
        failed = await live.collect(polls=2, interval_s=0.5)
        end = datetime.now(UTC)
        assert failed == {}
        polls = live.history("procurve")
        seconds, count = max(p.elapsed_s for p in polls), len(polls[-1].varbinds)
        at = polls[-1].ts
        states = await live.walk("procurve", oids.STP_PORT_STATE, at)
        root = await live.get("procurve", [oids.STP_DESIGNATED_ROOT, oids.STP_TOP_CHANGES], at)
        errors = await live.walk("procurve", oids.IF_IN_ERRORS, at)
        report = await run_network(live, "procurve", start - timedelta(seconds=1), end)
    # A real switch: 24 ports in STP (forwarding 5 or disabled 1), a binary bridge id.
    assert len(states) == 24 and {vb.value for vb in states} <= {1, 2, 3, 4, 5}
    assert values(root) == {oids.STP_DESIGNATED_ROOT: "60:01:8c:60:4f:19:16:7c",
                            oids.STP_TOP_CHANGES: 30}  # fmt: skip
    assert len([vb for vb in errors if int(vb.oid.rsplit(".", 1)[1]) <= 24]) == 24
    assert count > 24 * len(("descr", "oper", "octets", "errors"))
    assert seconds < 3.0, f"a full poll took {seconds:.2f} s"
    logging.getLogger(__name__).info(
        "full poll of the 24-port ProCurve: %d values in %.3f s", count, seconds
    )
    # A recording does not move: two polls, no rate, no finding.
    assert report.findings == ()
    assert not [e for e in report.evidence if e.status == "error"]


async def _before_wrap(live: LiveSnmp, device: str) -> None:
    """Wait until port 3's 32-bit ifInOctets is ~0.5 s short of wrapping (it wraps every
    2.5 s), so that polls 1 s apart straddle the wrap with room for a slow machine."""
    oid = f"{oids.IF_IN_OCTETS}.3"
    for _ in range(3):
        [vb] = (await live.client(device).get([oid])).varbinds
        left = (2**32 - int(vb.value)) / WRAP_RATE
        if left > 0.55:
            await asyncio.sleep(left - 0.5)
            return
        await asyncio.sleep(left + 0.05)
    pytest.fail("could not line the polls up with the wrap")


@needs_snmpsim
async def test_growing_counters_give_findings_and_a_wrap_gives_none(snmpsim: int) -> None:
    device = v2c(snmpsim, name="sw-lab", community="growing")
    async with LiveSnmp([device], interval_s=1.0) as live:
        start = datetime.now(UTC)
        await _before_wrap(live, "sw-lab")
        assert await live.collect(polls=2) == {}
        end = datetime.now(UTC)
        before, after = live.history("sw-lab")
        report = await run_network(live, "sw-lab", start, end)
    seconds = (after.ts - before.ts).total_seconds()
    assert 1.0 <= seconds < 2.0

    # The 32-bit counter wrapped between the polls; its delta is the 64-bit counter's.
    # (The two are read by different requests of a poll, up to ~100 ms apart on a busy
    # machine, at 1.7 GB/s: hence 25 %; a mishandled wrap would be 2**32 off.)
    old, new = values(before.varbinds), values(after.varbinds)
    o32, o64 = f"{oids.IF_IN_OCTETS}.3", f"{oids.IF_HC_IN_OCTETS}.3"
    assert int(new[o32]) < int(old[o32]), "no wrap between the polls"
    d32 = counter_delta(int(old[o32]), int(new[o32]), "Counter32")
    d64 = counter_delta(int(old[o64]), int(new[o64]), "Counter64")
    assert d32 == pytest.approx(d64, rel=0.25)
    assert 0 < d32 < 2**31

    kinds = {f.kind: f for f in report.findings}
    errors = kinds["port_errors"]
    assert errors.component == "node-a" and "port 2" in errors.summary
    assert [f for f in report.findings if f.kind == "port_errors"] == [errors]
    assert "stp_topology_changes" in kinds and kinds["stp_topology_changes"].component == "sw-lab"
    assert {h.fault for h in report.hypotheses} >= {"interface_errors", "stp_loop"}
    grew = int(new[f"{oids.IF_IN_ERRORS}.2"]) - int(old[f"{oids.IF_IN_ERRORS}.2"])
    assert grew == pytest.approx(50 * seconds, rel=0.2) and grew / seconds > ERROR_RATE
    assert not [f for f in report.findings if "port 3" in f.summary]  # the wrapping port


@needs_snmpsim
async def test_wraps_restarts_and_discontinuities(snmpsim: int) -> None:
    err1, err2 = f"{oids.IF_IN_ERRORS}.1", f"{oids.IF_IN_ERRORS}.2"
    hc1, disc2 = f"{oids.IF_HC_IN_OCTETS}.1", f"{oids.IF_COUNTER_DISCONTINUITY_TIME}.2"
    device = v2c(snmpsim, name="sw-set", community="settable")
    async with LiveSnmp([device]) as live:
        await snmp_set(snmpsim, "settable", {err1: rfc1902.Counter32(2**32 - 6)})
        p1 = await live.poll("sw-set")
        # Port 1's errors wrap; port 2's counters were reset (its discontinuity time moved).
        await snmp_set(
            snmpsim,
            "settable",
            {
                err1: rfc1902.Counter32(5),
                err2: rfc1902.Counter32(3),
                disc2: rfc1902.TimeTicks(499_000),
            },
        )
        p2 = await live.poll("sw-set")
        step = discontinuity(p1.varbinds, p2.varbinds)
        assert (step.restart, step.interfaces) == (False, frozenset({"2"}))
        early = values(await live.walk("sw-set", oids.IF_IN_ERRORS, p1.ts))
        assert early == {err1: 2**32 - 6}  # port 2's pre-reset value is not comparable
        late = values(await live.walk("sw-set", oids.IF_IN_ERRORS, p2.ts))
        assert counter_delta(int(early[err1]), int(late[err1]), "Counter32") == 11

        # The agent restarts: sysUpTime goes back; no counter before it compares any more.
        await snmp_set(snmpsim, "settable", {oids.SYS_UPTIME: rfc1902.TimeTicks(100)})
        p3 = await live.poll("sw-set")
        assert discontinuity(p2.varbinds, p3.varbinds).restart
        for at in (p1.ts, p2.ts):
            assert await live.walk("sw-set", oids.IF_IN_ERRORS, at) == []
            assert await live.get("sw-set", [oids.STP_TOP_CHANGES, hc1], at) == []
            kept = await live.walk("sw-set", oids.IF_DESCR, at)  # not a counter: kept
            assert values(kept)[f"{oids.IF_DESCR}.1"] == "Port 1"
        assert values(await live.get("sw-set", [err1, hc1], p3.ts)) == {err1: 5, hc1: 1000}
        assert len(live.varbinds()) == sum(len(p.varbinds) for p in (p1, p2, p3))
