"""The network specialist's MTU mismatch probe over a real Prometheus and recorded logs."""

from __future__ import annotations

import os
import shutil
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from agents.models import Incident
from agents.network import NetworkSpecialist
from agents.specialist import SpecialistReport
from tools.alertmanager.webhook import parse_webhook
from tools.logs.base import LogRecord
from tools.logs.recorded import RecordedLogs
from tools.metrics.recorded import RecordedPrometheus
from tools.scenario import writer as w
from tools.sources import Sources

T0 = datetime(2024, 12, 14, 2, 40, tzinfo=UTC)
OBSERVED = T0 + timedelta(minutes=30)
TIMES = w.scrape_times(T0, OBSERVED, 15)
NODES = ("node-1", "node-2", "node-3", "node-4")

needs_prometheus = pytest.mark.skipif(
    not (
        shutil.which(os.environ.get("PROMETHEUS_BIN") or "prometheus")
        and shutil.which(os.environ.get("PROMTOOL_BIN") or "promtool")
    ),
    reason="prometheus/promtool not installed (Debian package 'prometheus')",
)


def at(minutes: float) -> datetime:
    return T0 + timedelta(minutes=minutes)


def incident() -> Incident:
    labels = {"alertname": "TargetDown", "job": "node-exporter"}
    alert = parse_webhook(
        {
            "version": "4",
            "status": "firing",
            "commonLabels": labels,
            "alerts": [{"status": "firing", "labels": labels, "startsAt": OBSERVED.isoformat()}],
        }
    )
    return Incident(alert=alert, observed_at=OBSERVED, window_start=T0)


def mtu(om: w.OpenMetricsWriter, node: str, device: str, value: w.Profile | float) -> None:
    level = value if callable(value) else w.constant(value)
    om.gauge(
        "node_network_mtu_bytes",
        "MTU of the interface.",
        {"instance": f"{node}:9100", "job": "node-exporter", "device": device},
        [(t, level(t)) for t in TIMES],
    )


def cluster(
    om: w.OpenMetricsWriter, odd: dict[str, w.Profile | float], usual: float = 1500
) -> None:
    """Every node's eth0 (``usual`` unless ``odd`` says otherwise) plus virtual interfaces."""
    for node in NODES:
        mtu(om, node, "eth0", odd.get(node, usual))
        mtu(om, node, "lo", 65536)
        mtu(om, node, "flannel.1", 1450)
        mtu(om, node, "veth3a9c1d2e", 1450)
        mtu(om, node, "cni0", 1450)


async def run(tmp_path: Path, om: w.OpenMetricsWriter, logs: list[LogRecord]) -> SpecialistReport:
    om.write(tmp_path / "metrics.om")
    async with RecordedPrometheus(tmp_path / "metrics.om", OBSERVED) as prom:
        sources = Sources(metrics=prom, logs=RecordedLogs(logs, OBSERVED))
        return await NetworkSpecialist(incident(), sources).investigate()


def frag_line(minute: float, host: str = "node-1") -> LogRecord:
    return LogRecord(
        ts=at(minute),
        labels={"app": "kernel", "host": host},
        line="[1483057.213] IPv4: ICMP frag needed and DF set, mtu 1500 from 10.0.0.13",
    )


def mtu_findings(report: SpecialistReport) -> list[str]:
    return [
        f.kind
        for f in report.findings
        if f.kind in {"mtu_mismatch", "kernel_frag_needed", "icmp_dest_unreach"}
    ]


@needs_prometheus
async def test_one_node_changing_its_mtu_is_a_mismatch(tmp_path: Path) -> None:
    om = w.OpenMetricsWriter()
    cluster(om, {"node-3": w.step(at(13), 1500, 9000)})
    om.unknown(  # node exporter exports netstat counters untyped, without _total
        "node_netstat_Icmp_OutDestUnreachs",
        "Statistic IcmpOutDestUnreachs.",
        {"instance": "node-1:9100", "job": "node-exporter"},
        w.counter_series(w.derive_rng(1), TIMES, w.step(at(13), 0.01, 5.0)),
    )
    report = await run(tmp_path, om, [frag_line(13.5 + i) for i in range(6)])
    assert [(h.fault, h.component) for h in report.hypotheses] == [("mtu_mismatch", "node-3")]
    top = report.hypotheses[0]
    assert top.onset == at(13)
    mismatch = next(f for f in report.findings if f.kind == "mtu_mismatch")
    assert (
        mismatch.summary
        == "node-3 eth0 MTU 9000 while 3 other nodes use 1500, was 1500 until 02:53"
    )
    assert mismatch.strength == 0.8
    assert sorted(mtu_findings(report)) == [
        "icmp_dest_unreach",
        "kernel_frag_needed",
        "mtu_mismatch",
    ]
    assert len(top.findings) == 3 and top.score > mismatch.strength


@needs_prometheus
async def test_one_mtu_everywhere_is_no_mismatch_even_jumbo(tmp_path: Path) -> None:
    om = w.OpenMetricsWriter()
    cluster(om, {}, usual=9000)
    report = await run(tmp_path, om, [frag_line(10)])
    assert mtu_findings(report) == [] and report.hypotheses == ()
    # The corroborating sources are only read once there is a mismatch to corroborate.
    assert not any("frag needed" in e.query for e in report.evidence)
    assert any("node_network_mtu_bytes" in e.query and e.status == "ok" for e in report.evidence)


@needs_prometheus
async def test_standing_mismatch_dates_from_the_window_start_and_bonds_are_primary(
    tmp_path: Path,
) -> None:
    om = w.OpenMetricsWriter()
    cluster(om, {"node-2": 9000, "node-4": 1500})
    # node-4 also has a jumbo-frame storage NIC; its bond is the primary interface.
    mtu(om, "node-4", "bond0", 1500)
    mtu(om, "node-4", "enp5s0", 9000)
    report = await run(tmp_path, om, [])
    assert [(h.fault, h.component) for h in report.hypotheses] == [("mtu_mismatch", "node-2")]
    top = report.hypotheses[0]
    assert top.onset == T0 and top.score == 0.6


@needs_prometheus
async def test_no_majority_names_no_node(tmp_path: Path) -> None:
    om = w.OpenMetricsWriter()
    for node, value in (("node-1", 1500), ("node-2", 9000)):
        mtu(om, node, "eth0", value)
    report = await run(tmp_path, om, [])
    assert mtu_findings(report) == [] and report.hypotheses == ()
    assert any("no majority" in n for n in report.notes)


async def test_no_metrics_no_mismatch() -> None:
    report = await NetworkSpecialist(incident(), Sources()).investigate()
    assert report.hypotheses == ()
    assert any(
        "node_network_mtu_bytes" in e.query and e.status == "unavailable" for e in report.evidence
    )
