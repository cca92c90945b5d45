"""The network specialist over real recorded backends built in memory (no mocks).

SNMP polls go through RecordedSnmp, switch syslog and kernel lines through RecordedLogs,
node metrics through a real Prometheus (RecordedPrometheus) over a small OpenMetrics file.
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from agents.models import Incident
from agents.network import NetworkSpecialist, counter_rates
from agents.replay import incident_from_scenario
from agents.specialist import SpecialistReport
from tools.alertmanager.webhook import parse_webhook
from tools.logs.base import LogRecord
from tools.logs.recorded import RecordedLogs
from tools.metrics.recorded import RecordedPrometheus
from tools.scenario.loader import load_scenario
from tools.scenario.replay import open_recorded_sources
from tools.snmp import oids
from tools.snmp.base import Varbind
from tools.snmp.recorded import RecordedSnmp
from tools.sources import Sources
from tools.topology import NodeHint, SwitchHint, Topology

T0 = datetime(2024, 12, 14, 2, 40, tzinfo=UTC)
OBSERVED = T0 + timedelta(minutes=30)
POLL_S = 30
POLLS = range(0, 30 * 60 + 1, POLL_S)  # seconds since T0
ONSET_S = 12 * 60
PORTS = (1, 2, 3, 4)
TOPO = Topology(
    nodes=(
        NodeHint(name="node-1", switch="sw1", port=3),
        NodeHint(name="node-2", switch="sw1", port=4),
    ),
    switches=(SwitchHint(name="sw1"),),
)

needs_prometheus = pytest.mark.skipif(
    not (
        shutil.which(os.environ.get("PROMETHEUS_BIN") or "prometheus")
        and shutil.which(os.environ.get("PROMTOOL_BIN") or "promtool")
    ),
    reason="prometheus/promtool not installed (Debian package 'prometheus')",
)


def incident(topology: Topology = TOPO) -> Incident:
    alert = parse_webhook(
        {
            "version": "4",
            "status": "firing",
            "commonLabels": {"alertname": "KubeAPILatencyHigh"},
            "alerts": [
                {
                    "status": "firing",
                    "labels": {"alertname": "KubeAPILatencyHigh"},
                    "startsAt": OBSERVED.isoformat(),
                }
            ],
        }
    )
    return Incident(alert=alert, observed_at=OBSERVED, window_start=T0, topology=topology)


Curve = Callable[[int], int]


def counter(oid: str, curve: Curve, type_: str = "Counter64", device: str = "sw1") -> list[Varbind]:
    """One OID polled every POLL_S seconds, its value ``curve(seconds since T0)``."""
    return [
        Varbind(ts=T0 + timedelta(seconds=s), device=device, oid=oid, type=type_, value=curve(s))
        for s in POLLS
    ]


def flat(start: int, per_s: float) -> Curve:
    return lambda s: start + int(per_s * s)


def step_up(start: int, before: float, after: float, at: int = ONSET_S) -> Curve:
    def curve(s: int) -> int:
        if s <= at:
            return start + int(before * s)
        return start + int(before * at + after * (s - at))

    return curve


def quiet_switch() -> list[Varbind]:
    """A healthy switch: slow counters, links up, no topology changes."""
    out = counter(oids.STP_TOP_CHANGES, flat(17, 0), "Counter32")
    for p in PORTS:
        out += counter(f"{oids.IF_OPER_STATUS}.{p}", lambda s: 1, "INTEGER")
        out += counter(f"{oids.IF_IN_DISCARDS}.{p}", flat(100 * p, 0.01), "Counter32")
        out += counter(f"{oids.IF_OUT_DISCARDS}.{p}", flat(50 * p, 0.0), "Counter32")
        out += counter(f"{oids.IF_IN_ERRORS}.{p}", flat(3, 0.0), "Counter32")
        out += counter(f"{oids.IF_HC_IN_BROADCAST_PKTS}.{p}", flat(10**9 * p, 4.0))
    return out


def stp_loop_switch() -> list[Varbind]:
    """Topology changes, a broadcast storm and discards on every port from minute 12."""
    out = counter(oids.STP_TOP_CHANGES, step_up(1171, 0, 0.25), "Counter32")
    for p in PORTS:
        out += counter(f"{oids.IF_OPER_STATUS}.{p}", lambda s: 1, "INTEGER")
        out += counter(f"{oids.IF_IN_DISCARDS}.{p}", step_up(7, 0, 40.0), "Counter32")
        out += counter(f"{oids.IF_OUT_DISCARDS}.{p}", step_up(9, 0, 25.0), "Counter32")
        out += counter(f"{oids.IF_IN_ERRORS}.{p}", flat(3, 0.0), "Counter32")
        out += counter(f"{oids.IF_HC_IN_BROADCAST_PKTS}.{p}", step_up(5000, 5.0, 3000.0))
    return out


async def run(sources: Sources, topology: Topology = TOPO) -> SpecialistReport:
    return await NetworkSpecialist(incident(topology), sources).investigate()


def syslog(line: str, minute: float, host: str = "sw1") -> LogRecord:
    return LogRecord(
        ts=T0 + timedelta(minutes=minute), labels={"app": "syslog", "host": host}, line=line
    )


async def test_stp_signature_gives_stp_loop_on_the_switch() -> None:
    lines = [
        syslog("%SPANTREE-2-LOOPGUARD_BLOCK: Loop guard blocking port Gi0/3", 12.5),
        syslog("%SW_MATM-4-MACFLAP_NOTIF: Host 0011.2233.4455 flapping between Gi0/3 Gi0/4", 13),
    ]
    sources = Sources(
        snmp=RecordedSnmp(stp_loop_switch(), OBSERVED), logs=RecordedLogs(lines, OBSERVED)
    )
    report = await run(sources)
    kinds = {f.kind for f in report.findings}
    assert {"stp_topology_changes", "broadcast_surge", "port_discards", "syslog_stp"} <= kinds
    top = report.hypotheses[0]
    assert (top.fault, top.component) == ("stp_loop", "sw1")
    assert 0.9 <= top.score < 1.0
    # The loop claims the discards: no separate packet_loss.
    assert [h.fault for h in report.hypotheses] == ["stp_loop"]
    # Onset: the first interval with a change starts at the minute-12 poll.
    assert top.onset == T0 + timedelta(seconds=ONSET_S)
    tc = next(f for f in report.findings if f.kind == "stp_topology_changes")
    assert tc.summary.startswith("sw1 dot1dStpTopChanges +")
    assert "(from 02:52)" in tc.summary
    assert tc.component == "sw1" and tc.strength >= 0.9
    cited = {e for f in report.findings for e in f.evidence}
    assert cited <= {e.id for e in report.evidence}


async def test_counter32_wrap_is_not_a_surge() -> None:
    """32-bit broadcast and discard counters wrap mid-window at a steady rate."""
    near = 2**32 - 3000
    varbinds = counter(
        oids.STP_TOP_CHANGES, lambda s: (2**32 - 1 + (s >= 900)) % 2**32, "Counter32"
    )
    for p in PORTS:
        wrap = wrap_curve(near + p * 100)
        varbinds += counter(f"{oids.IF_OPER_STATUS}.{p}", lambda s: 1, "INTEGER")
        varbinds += counter(f"{oids.IF_IN_BROADCAST_PKTS}.{p}", wrap, "Counter32")
        varbinds += counter(f"{oids.IF_IN_DISCARDS}.{p}", wrap, "Counter32")
        varbinds += counter(f"{oids.IF_IN_ERRORS}.{p}", flat(0, 0), "Counter32")
    report = await run(Sources(snmp=RecordedSnmp(varbinds, OBSERVED)))
    assert report.hypotheses == ()
    assert not [f for f in report.findings if f.kind in ("broadcast_surge", "port_discards")]
    # The 32-bit broadcast column was read, and the wrap is a steady 5/s.
    assert any("ifInBroadcastPkts" in e.query for e in report.evidence)
    rates = counter_rates(counter(f"{oids.IF_IN_BROADCAST_PKTS}.1", wrap_curve(near), "Counter32"))
    assert {round(r, 6) for _, r in rates} == {5.0}


def wrap_curve(near: int) -> Curve:
    return lambda s: (near + 5 * s) % 2**32


def test_counter_reset_is_skipped_not_a_surge() -> None:
    vbs = counter(f"{oids.IF_HC_IN_BROADCAST_PKTS}.1", lambda s: 10**12 + s if s < 600 else s - 600)
    rates = counter_rates(vbs)
    assert len(rates) == len(vbs) - 2  # the reset interval is dropped
    assert max(r for _, r in rates) < 2


async def test_quiet_counters_give_no_hypothesis() -> None:
    report = await run(Sources(snmp=RecordedSnmp(quiet_switch(), OBSERVED)))
    assert report.hypotheses == ()
    assert report.findings == ()
    assert all(e.status == "ok" for e in report.evidence if e.source == "snmp")


async def test_absent_sources_give_no_hypothesis_and_say_so() -> None:
    report = await run(Sources())
    assert report.hypotheses == () and report.findings == ()
    assert {e.status for e in report.evidence} == {"unavailable"}
    assert {e.source for e in report.evidence} == {"snmp", "logs", "metrics"}
    assert any("snmp not available" in n for n in report.notes)


async def test_unknown_device_is_an_error_not_a_crash() -> None:
    topo = TOPO.model_copy(update={"switches": (SwitchHint(name="sw9"),)})
    report = await run(Sources(snmp=RecordedSnmp(quiet_switch(), OBSERVED)), topo)
    assert report.hypotheses == ()
    assert any(e.status == "error" for e in report.evidence)
    assert any("sw9" in n for n in report.notes)


async def test_switches_come_from_snmp_when_topology_names_none() -> None:
    report = await run(
        Sources(snmp=RecordedSnmp(stp_loop_switch(), OBSERVED)), Topology(nodes=TOPO.nodes)
    )
    assert report.hypotheses[0].fault == "stp_loop" and report.hypotheses[0].component == "sw1"


async def test_flapping_port_names_the_node_behind_it() -> None:
    varbinds = [v for v in quiet_switch() if not v.oid.startswith(f"{oids.IF_OPER_STATUS}.3")]
    varbinds += counter(
        f"{oids.IF_OPER_STATUS}.3",
        lambda s: 2 if 600 <= s < 660 or 900 <= s < 990 else 1,
        "INTEGER",
    )
    lines = [
        syslog("%LINK-3-UPDOWN: Interface GigabitEthernet0/3, changed state to down", 10),
        syslog("%LINK-3-UPDOWN: Interface GigabitEthernet0/3, changed state to up", 11),
    ]
    report = await run(
        Sources(snmp=RecordedSnmp(varbinds, OBSERVED), logs=RecordedLogs(lines, OBSERVED))
    )
    top = report.hypotheses[0]
    assert (top.fault, top.component) == ("link_flap", "node-1")
    assert {f.kind for f in report.findings} == {"link_flaps", "syslog_link_updown"}
    assert len(top.findings) == 2


async def test_input_errors_name_the_port_without_a_node() -> None:
    varbinds = [v for v in quiet_switch() if not v.oid.startswith(f"{oids.IF_IN_ERRORS}.2")]
    varbinds += counter(f"{oids.IF_IN_ERRORS}.2", step_up(0, 0, 12.0), "Counter32")
    report = await run(Sources(snmp=RecordedSnmp(varbinds, OBSERVED)))
    assert [(h.fault, h.component) for h in report.hypotheses] == [
        ("interface_errors", "sw1 port 2")
    ]


def node_metrics() -> str:
    """node-1's conntrack table fills from minute 10; node-2 drops packets."""
    t0 = int(T0.timestamp())
    lines = [
        "# TYPE node_nf_conntrack_entries gauge",
        *(
            f'node_nf_conntrack_entries{{instance="node-1:9100",job="node-exporter"}} '
            f"{1000 if s < 600 else 128000} {t0 + s}"
            for s in range(0, 1801, 15)
        ),
        *(
            f'node_nf_conntrack_entries{{instance="node-2:9100",job="node-exporter"}} 900 {t0 + s}'
            for s in range(0, 1801, 15)
        ),
        "# TYPE node_nf_conntrack_entries_limit gauge",
        *(
            f'node_nf_conntrack_entries_limit{{instance="{n}:9100",job="node-exporter"}} '
            f"131072 {t0 + s}"
            for n in ("node-1", "node-2")
            for s in range(0, 1801, 15)
        ),
        "# TYPE node_network_receive_drop counter",
        *(
            f'node_network_receive_drop_total{{instance="node-2:9100",job="node-exporter",'
            f'device="eth0"}} {s * (20 if s > 900 else 0) - (900 * 20 if s > 900 else 0)} '
            f"{t0 + s}"
            for s in range(0, 1801, 15)
        ),
        *(
            f'node_network_receive_drop_total{{instance="node-2:9100",job="node-exporter",'
            f'device="veth1234"}} {s * 500} {t0 + s}'
            for s in range(0, 1801, 15)
        ),
        "# EOF",
    ]
    return "\n".join(lines) + "\n"


@needs_prometheus
async def test_conntrack_and_node_drops_from_real_prometheus(tmp_path: Path) -> None:
    om = tmp_path / "metrics.om"
    om.write_text(node_metrics(), encoding="utf-8")
    kernel = [
        LogRecord(
            ts=T0 + timedelta(minutes=11),
            labels={"app": "kernel", "host": "node-1"},
            line="nf_conntrack: nf_conntrack: table full, dropping packet",
        )
    ]
    async with RecordedPrometheus(om, OBSERVED) as prom:
        report = await run(Sources(metrics=prom, logs=RecordedLogs(kernel, OBSERVED)))
    by_fault = {h.fault: h for h in report.hypotheses}
    assert set(by_fault) == {"conntrack_exhaustion", "packet_loss"}
    assert by_fault["conntrack_exhaustion"].component == "node-1"
    assert len(by_fault["conntrack_exhaustion"].findings) == 2
    assert by_fault["packet_loss"].component == "node-2"
    # veth traffic is a pod's, not the node's NIC: it is filtered out.
    drops = next(f for f in report.findings if f.kind == "node_rx_drops")
    assert "20" in drops.summary


SCENARIOS = Path(__file__).resolve().parents[2] / "scenarios"


async def replay(scenario_id: str) -> SpecialistReport:
    """The network specialist over a committed seed scenario's recorded sources."""
    path = SCENARIOS / scenario_id
    if not path.is_dir():
        pytest.skip(f"seed scenario {scenario_id} not present")
    scenario = load_scenario(path)
    async with open_recorded_sources(scenario) as sources:
        return await NetworkSpecialist(incident_from_scenario(scenario), sources).investigate()


@needs_prometheus
async def test_seed_stp_loop_is_found_on_sw1() -> None:
    report = await replay("10_stp_loop_dns_symptoms")
    top = report.hypotheses[0]
    assert (top.fault, top.component) == ("stp_loop", "sw1")
    assert top.score >= 0.9
    kinds = {f.kind for f in report.findings if f.id in top.findings}
    assert {"stp_topology_changes", "broadcast_surge", "port_discards"} <= kinds
    assert report.ended_s - report.started_s < 2.0


@needs_prometheus
@pytest.mark.parametrize(
    "scenario_id", ["20_no_fault_cpu_throttling", "01_coredns_oom_query_flood"]
)
async def test_seed_without_network_fault_gives_no_hypothesis(scenario_id: str) -> None:
    report = await replay(scenario_id)
    assert report.hypotheses == ()
    assert report.findings == ()
