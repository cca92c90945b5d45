"""Coordinator behaviour that needs no recorded data: fan-out, bug containment, no-data runs."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta
from pathlib import Path

from agents.coordinator import SPECIALISTS, diagnose
from agents.llm import resolve
from agents.models import Hypothesis, Incident
from agents.specialist import ProbeContext, Specialist
from tools.alertmanager.webhook import parse_webhook
from tools.sources import Sources

FIXTURE = (
    Path(__file__).resolve().parents[1]
    / "fixtures"
    / "alertmanager"
    / "webhook_v4_gist_mobeigi.json"
)
NOW = datetime(2024, 12, 14, 3, 12, tzinfo=UTC)


def incident() -> Incident:
    return Incident(
        alert=parse_webhook(FIXTURE.read_bytes()),
        observed_at=NOW,
        window_start=NOW - timedelta(minutes=30),
    )


class Broken(Specialist):
    layer = "storage"

    async def probe(self, ctx: ProbeContext) -> None:
        raise RuntimeError("a bug in a probe")

    def hypothesize(self, ctx: ProbeContext) -> list[Hypothesis]:
        return []


class Slow(Specialist):
    layer = "dns"

    async def probe(self, ctx: ProbeContext) -> None:
        await asyncio.sleep(0.3)
        ctx.add_finding(
            "resolver slow", [ctx._evidence("logs", "q", "x")], 0.9, kind="k", onset=NOW
        )

    def hypothesize(self, ctx: ProbeContext) -> list[Hypothesis]:
        return [ctx.hypothesis("upstream_failure", "coredns", ctx.findings, 0.9)]


class AlsoSlow(Slow):
    layer = "network"

    def hypothesize(self, ctx: ProbeContext) -> list[Hypothesis]:
        return []


async def test_a_broken_specialist_costs_a_note_not_the_diagnosis() -> None:
    model = await resolve("none")
    d = await diagnose(incident(), Sources(), model, specialists=(Broken, Slow))
    assert d.verdict == "diagnosed"
    assert d.root_cause is not None and d.root_cause.fault == "upstream_failure"
    assert any(
        "storage specialist stopped early" in n and "a bug in a probe" in n for n in d.unavailable
    )


async def test_specialists_run_concurrently() -> None:
    model = await resolve("none")
    d = await diagnose(incident(), Sources(), model, specialists=(Slow, AlsoSlow))
    (s1, e1), (s2, e2) = d.timings.spans["dns"], d.timings.spans["network"]
    assert max(s1, s2) < min(e1, e2), d.timings.spans
    assert d.timings.total_s < 0.55  # two 0.3 s probes side by side, not end to end


async def test_no_sources_means_abstaining_and_saying_what_was_missing() -> None:
    model = await resolve("none")
    d = await diagnose(incident(), Sources(), model, specialists=SPECIALISTS)
    assert d.root_cause is not None and d.root_cause.layer == "none"
    assert d.verdict == "abstained" and d.confidence == 0.0
    assert any("not available" in n for n in d.unavailable)
    assert all(e.status == "unavailable" for e in d.evidence)
