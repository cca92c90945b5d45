"""``strata serve --config`` polls the switches all the time, not only when an alert comes:
a diagnosis started later reads polls from before its alert. Against a real net-snmp
agent on loopback, in process (the poller and ``open_live_sources``) and through a real
``strata serve`` process."""

from __future__ import annotations

import asyncio
import os
import signal
import socket
import subprocess
import time
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest
from serve_harness import Serve, stp_payload

from tools.config import StrataConfig, parse_config
from tools.live import history_polls, open_live_sources, open_polled_snmp

SNMPD = Path("/usr/sbin/snmpd")
COMMUNITY = "serve-c0mm-81f2"
pytestmark = [
    pytest.mark.integration,
    pytest.mark.skipif(not SNMPD.exists(), reason="snmpd not installed (Debian 'snmpd')"),
]


def udp_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


@pytest.fixture
def snmpd(tmp_path: Path) -> Iterator[int]:
    """A net-snmp agent on loopback (v2c, community COMMUNITY); yields its port."""
    port = udp_port()
    work = tmp_path / "snmpd"
    work.mkdir()
    (work / "snmpd.conf").write_text(
        f"agentAddress udp:127.0.0.1:{port}\nrocommunity {COMMUNITY} 127.0.0.1\n"
    )
    log = work / "snmpd.log"
    env = {**os.environ, "SNMP_PERSISTENT_DIR": str(work / "persist"), "MIBS": ""}
    with log.open("wb") as out:
        proc = subprocess.Popen(
            [str(SNMPD), "-f", "-Lo", "-C", "-c", str(work / "snmpd.conf"),
             "-p", str(work / "pid"), "-m", ""],
            stdout=out, stderr=subprocess.STDOUT, env=env,
        )  # fmt: skip
    try:
        deadline = time.monotonic() + 20
        while "NET-SNMP version" not in log.read_text(errors="replace"):
            if proc.poll() is not None or time.monotonic() > deadline:
                pytest.fail(f"snmpd did not start:\n{log.read_text(errors='replace')[-2000:]}")
            time.sleep(0.05)
        yield port
    finally:
        if proc.poll() is None:
            os.kill(proc.pid, signal.SIGTERM)
            try:
                proc.wait(timeout=5)
            except subprocess.TimeoutExpired:
                os.kill(proc.pid, signal.SIGKILL)
                proc.wait()


def snmp_config(port: int, *, interval_s: float, window_minutes: float) -> str:
    return (
        f"window_minutes = {window_minutes}\n"
        f"[snmp]\npolls = 4\ninterval_s = {interval_s}\n"
        f'[[snmp.devices]]\nname = "sw1"\nhost = "127.0.0.1"\nport = {port}\n'
        f'community = "{COMMUNITY}"\ntimeout_s = 1.0\nretries = 1\n'
    )


def pollers() -> list[asyncio.Task[object]]:
    return [t for t in asyncio.all_tasks() if t.get_name() == "strata-snmp-poller"]


async def test_a_later_diagnosis_reads_polls_from_before_its_alert(snmpd: int) -> None:
    config: StrataConfig = parse_config(snmp_config(snmpd, interval_s=0.3, window_minutes=0.02))
    keep = history_polls(config)
    assert keep == 9  # 1.2 s (x1.2) at 0.3 s, and four more
    async with open_polled_snmp(config) as snmp:
        assert snmp is not None and len(pollers()) == 1
        await asyncio.sleep(1.5)
        alert_at = datetime.now(UTC)
        before = snmp.poll_times("sw1")
        assert len(before) >= 3 and before[0] < alert_at
        started = time.perf_counter()
        async with open_live_sources(config, preflight=False, snmp=snmp) as sources:
            opened_s = time.perf_counter() - started
            assert sources.snmp is snmp
            assert not [n for n in sources.notes if n.startswith("snmp")]
            times = snmp.poll_times("sw1")
            assert times[0] < alert_at and times[: len(before)] == before
            # Not snmp.polls (4) fresh polls 0.3 s apart: at most one, or none.
            assert len(times) - len(before) <= 2 and opened_s < 0.9
            values = await sources.snmp.walk("sw1", "1.3.6.1.2.1.2.2.1.10", datetime.now(UTC))
            assert values and all(v.device == "sw1" for v in values)
        # Left open and still polling after the diagnosis; history stays bounded.
        await asyncio.sleep(3.0)
        after = snmp.poll_times("sw1")
        assert after[-1] > times[-1] and len(after) == keep
        assert after == sorted(after)
    assert not pollers()  # the poller stopped with the context
    stopped = snmp.poll_times("sw1")
    await asyncio.sleep(0.7)
    assert snmp.poll_times("sw1") == stopped


async def test_without_a_polled_source_each_diagnosis_polls_as_before(snmpd: int) -> None:
    config = parse_config(snmp_config(snmpd, interval_s=0.2, window_minutes=1))
    started = time.perf_counter()
    async with open_live_sources(config, preflight=False) as sources:
        assert sources.snmp is not None
        assert len(sources.snmp.poll_times("sw1")) == 4  # snmp.polls
        assert time.perf_counter() - started >= 0.6
    async with open_polled_snmp(parse_config("")) as nothing:
        assert nothing is None and not pollers()


def test_serve_polls_before_the_alert_and_stops_polling(snmpd: int, tmp_path: Path) -> None:
    config = tmp_path / "strata.toml"
    config.write_text(snmp_config(snmpd, interval_s=0.5, window_minutes=1))
    serve = Serve(tmp_path / "s", extra=["--config", str(config), "--workers", "1"]).start()
    try:
        deadline = time.monotonic() + 30
        while not any(r.get("msg") == "SNMP polling started" for r in serve.logs()):
            assert time.monotonic() < deadline, serve.logs()
            time.sleep(0.1)
        time.sleep(2.5)
        posted_at = datetime.now(UTC)
        assert serve.post(stp_payload("polled")).status_code == 202
        [incident] = serve.wait_done(1, timeout_s=90)
        detail = serve.get(f"/api/incidents/{incident['id']}").json()
    finally:
        assert serve.stop() == 0
    assert detail["diagnosis"] is not None
    logs = serve.logs()
    [history] = [r for r in logs if r.get("msg") == "snmp history"]
    assert history["snmp_polls"]["sw1"] >= 4
    assert datetime.fromisoformat(history["snmp_since"]["sw1"].replace("Z", "+00:00")) < posted_at
    assert any(r.get("msg") == "workers stopped" for r in logs)
    assert COMMUNITY not in serve.log_path.read_text()  # type: ignore[union-attr]


def test_scenario_mode_does_not_poll(tmp_path: Path) -> None:
    serve = Serve(tmp_path / "s", extra=["--workers", "1"]).start()
    try:
        deadline = time.monotonic() + 30
        while not any(r.get("msg") == "workers started" for r in serve.logs()):
            assert time.monotonic() < deadline, serve.logs()
            time.sleep(0.1)
    finally:
        assert serve.stop() == 0
    assert not any("SNMP" in str(r.get("msg")) for r in serve.logs())
