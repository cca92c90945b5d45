"""The DNS specialist's blackbox-probe signal: a resolver that stops answering the
blackbox exporter's DNS probes (``probe_dns_query_succeeded``) is resolver_down.

Series go through a real Prometheus (RecordedPrometheus) over a small OpenMetrics file.
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from agents.dns import DnsSpecialist
from agents.models import Incident
from tools.alertmanager.webhook import parse_webhook
from tools.metrics.recorded import RecordedPrometheus
from tools.sources import Sources
from tools.topology import ServiceHint, Topology

T0 = datetime(2024, 12, 14, 2, 40, tzinfo=UTC)
OBSERVED = T0 + timedelta(minutes=10)
START = int(T0.timestamp())
TOPO = Topology(services=(ServiceHint(name="dnsmasq", kind="dns"),))

pytestmark = pytest.mark.skipif(
    not (
        shutil.which(os.environ.get("PROMETHEUS_BIN") or "prometheus")
        and shutil.which(os.environ.get("PROMTOOL_BIN") or "promtool")
    ),
    reason="prometheus/promtool not installed (Debian package 'prometheus')",
)


def incident() -> Incident:
    alert = parse_webhook(
        {
            "version": "4",
            "status": "firing",
            "commonLabels": {"alertname": "DNSProbeFailed"},
            "alerts": [
                {
                    "status": "firing",
                    "labels": {"alertname": "DNSProbeFailed"},
                    "startsAt": OBSERVED.isoformat(),
                }
            ],
        }
    )
    return Incident(alert=alert, observed_at=OBSERVED, window_start=T0, topology=TOPO)


def probes(answered: Callable[[int], int]) -> str:
    labels = 'instance="dnsmasq",job="blackbox-dns"'
    lines = ["# TYPE probe_dns_query_succeeded gauge"]
    lines += [
        f"probe_dns_query_succeeded{{{labels}}} {answered(s)} {START + s}"
        for s in range(0, 10 * 60 + 1, 5)
    ]
    return "\n".join([*lines, "# EOF"]) + "\n"


async def report_for(tmp_path: Path, answered: Callable[[int], int]) -> list[tuple[str, str]]:
    om = tmp_path / "metrics.om"
    om.write_text(probes(answered), encoding="utf-8")
    async with RecordedPrometheus(om, OBSERVED) as prom:
        report = await DnsSpecialist(incident(), Sources(metrics=prom)).investigate()
    return [(h.fault, h.component) for h in report.hypotheses]


async def test_unanswered_probes_are_resolver_down(tmp_path: Path) -> None:
    # Answers for 7 minutes, then none for the last 3.
    assert await report_for(tmp_path, lambda s: 1 if s < 420 else 0) == [
        ("resolver_down", "dnsmasq")
    ]


async def test_a_blip_or_a_recovered_resolver_is_not(tmp_path: Path) -> None:
    # 20 s without answers, then answering again: no hypothesis.
    assert await report_for(tmp_path, lambda s: 0 if 300 <= s < 320 else 1) == []
    # Down for two minutes, answering again for the last three: not down at the clock.
    assert await report_for(tmp_path, lambda s: 0 if 300 <= s < 420 else 1) == []
