"""The model-driven investigation: validation, garbage replies, tools, budgets, the bound.

Model replies are scripted with autogen's ``ReplayChatCompletionClient`` (one per
specialist, see ``model_replies.py``); the telemetry is the committed STP-loop seed
replayed through a real Prometheus (backfilled with promtool).
"""

from __future__ import annotations

import asyncio
import itertools
import shutil
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from autogen_core.models import CreateResult, LLMMessage, UserMessage
from autogen_ext.models.replay import ReplayChatCompletionClient
from model_replies import INFO, PerSpecialist, answer, calls

from agents.coordinator import diagnose
from agents.investigator import MODEL_KIND, ModelAnswer, Tally, admit, parse_answer, vet_reports
from agents.llm import BoundedClient, ModelHandle, ModelLimits, resolve
from agents.model_session import BudgetSpent, ModelSession
from agents.models import Diagnosis, Incident, ModelUse
from agents.replay import incident_from_scenario
from agents.specialist import ProbeContext, SpecialistReport
from tools.alertmanager.webhook import parse_webhook
from tools.scenario.loader import load_scenario
from tools.scenario.replay import open_recorded_sources
from tools.sources import Sources

ROOT = Path(__file__).resolve().parents[2]
STP = ROOT / "scenarios" / "10_stp_loop_dns_symptoms"
FIXTURE = ROOT / "tests" / "fixtures" / "alertmanager" / "webhook_v4_gist_mobeigi.json"
NOW = datetime(2024, 12, 14, 3, 12, tzinfo=UTC)

needs_prometheus = pytest.mark.skipif(
    shutil.which("promtool") is None or shutil.which("prometheus") is None,
    reason="Prometheus/promtool not installed (make test installs the Debian package)",
)


def _incident() -> Incident:
    return Incident(
        alert=parse_webhook(FIXTURE.read_bytes()),
        observed_at=NOW,
        window_start=NOW - timedelta(minutes=30),
    )


def _ctx() -> tuple[ProbeContext, list[Any]]:
    ctx = ProbeContext(_incident(), Sources(), "network")
    e1 = ctx.add_snmp_evidence("get dot1dStpTopChanges @ sw1", "dot1dStpTopChanges=716")
    ctx.add_snmp_evidence("walk ifInErrors @ sw1", "ifInErrors.5=0")
    f1 = ctx.add_finding("sw1 topology changes +675", [e1], 0.95, kind="stp", component="sw1")
    return ctx, [ctx.hypothesis("stp_loop", "sw1", [f1], 0.97)]


def _model(client: PerSpecialist, **limits: Any) -> ModelHandle:
    return ModelHandle(
        client,
        ModelUse(backend="replay", name="scripted", available=True),
        ModelLimits(**limits),
    )


# ----------------------------------------------------------------------- admission


def test_admit_keeps_grounded_proposals_and_drops_the_rest() -> None:
    ctx, rules = _ctx()
    reply = answer(
        findings=[
            {"summary": "broadcast storm on sw1", "evidence": ["e1"], "strength": 95},
            {"summary": "made up", "evidence": ["e9"], "strength": 90},
            {"summary": "no evidence at all", "evidence": [], "strength": 90},
            {"summary": "f1", "evidence": ["e2"], "strength": 90},
        ],
        hypotheses=[
            {"layer": "network", "fault": "packet_loss", "component": "sw1",
             "findings": ["m1"], "confidence": 99},
            {"layer": "network", "fault": "stp_loop", "component": "sw1",
             "findings": ["f1"], "confidence": 99},
            {"layer": "dns", "fault": "cosmic_rays", "component": "coredns",
             "findings": ["f1"], "confidence": 99},
            {"layer": "network", "fault": "link_flap", "component": "sw1",
             "findings": ["f7"], "confidence": 80},
        ],
    )  # fmt: skip
    tally = Tally()
    added = admit(parse_answer(reply), ctx, rules, tally)

    assert [(h.key, h.component) for h in added] == [("network/packet_loss", "sw1")]
    # The model's confidence (99) is one input: the score is capped by the evidence rules.
    assert added[0].score <= 0.6
    model_findings = [f for f in ctx.findings if f.kind == "model"]
    assert [f.summary for f in model_findings] == ["broadcast storm on sw1"]
    assert model_findings[0].strength <= 0.6 and model_findings[0].evidence == ("network.e1",)
    assert (tally.findings_proposed, tally.findings_kept) == (4, 1)
    assert (tally.hypotheses_proposed, tally.hypotheses_kept) == (4, 1)
    reasons = "\n".join(tally.dropped)
    assert "evidence never collected (e9)" in reasons
    assert "says nothing a human can read" in reasons
    assert "already proposed by the rules" in reasons
    assert "outside the root-cause vocabulary" in reasons
    assert "cites findings never made (f7)" in reasons


def test_coordinator_vets_model_findings_citing_foreign_evidence() -> None:
    ctx, rules = _ctx()
    admit(
        parse_answer(
            answer(
                [{"summary": "sw1 keeps re-converging", "evidence": ["e1"], "strength": 50}],
                [
                    {
                        "layer": "network",
                        "fault": "packet_loss",
                        "component": "sw1",
                        "findings": ["m1"],
                        "confidence": 50,
                    }
                ],
            )
        ),
        ctx,
        rules,
        Tally(),
    )
    report = SpecialistReport(
        specialist="network",
        evidence=tuple(e for e in ctx.evidence if e.id != "network.e1"),  # e1 went missing
        findings=tuple(ctx.findings),
        hypotheses=(*rules, ctx.hypothesis("packet_loss", "sw1", ctx.findings[1:], 0.5)),
        model_added=1,
        started_s=0.0,
        ended_s=0.0,
    )
    (vetted,), dropped = vet_reports([report])
    assert [f.kind for f in vetted.findings] == ["stp"]
    assert [h.fault for h in vetted.hypotheses] == ["stp_loop"]
    assert len(dropped) == 2 and vetted.model_added == 0


def test_coordinator_drops_model_repeats_of_any_specialists_proposal() -> None:
    ctx, rules = _ctx()
    dns = ProbeContext(_incident(), Sources(), "dns")
    e = dns.add_snmp_evidence("x", "y")
    f = dns.add_finding("loop seen from dns", [e], 0.5, kind=MODEL_KIND)
    repeat = dns.hypothesis("stp_loop", "SW1", [f], 0.5, layer="network")
    reports = [
        SpecialistReport(specialist="network", evidence=tuple(ctx.evidence),
                         findings=tuple(ctx.findings), hypotheses=tuple(rules),
                         started_s=0.0, ended_s=0.0),
        SpecialistReport(specialist="dns", evidence=tuple(dns.evidence),
                         findings=tuple(dns.findings), hypotheses=(repeat,), model_added=1,
                         started_s=0.0, ended_s=0.0),
    ]  # fmt: skip
    vetted, dropped = vet_reports(reports)
    assert vetted[0] is reports[0]
    assert vetted[1].hypotheses == () and vetted[1].findings == (f,)
    assert dropped == ["dns: network/stp_loop on SW1 was already proposed"]


@pytest.mark.parametrize(
    "text",
    ["", "   ", "Sure! Here is my analysis: the switch is fine.", '{"findings": [{"summ',
     '{"findings": "none"}', "null", '{"hypotheses": [' + "{}," * 4 + "{}]}"],
)  # fmt: skip
def test_unusable_replies_do_not_parse(text: str) -> None:
    with pytest.raises(ValueError):
        parse_answer(text)


def test_fenced_json_is_accepted() -> None:
    parsed = parse_answer("```json\n" + answer() + "\n```")
    assert parsed == ModelAnswer()


# ----------------------------------------------------------------------- full runs


async def _both(model: ModelHandle) -> tuple[Diagnosis, Diagnosis]:
    scenario = load_scenario(STP)
    incident = incident_from_scenario(scenario)
    async with open_recorded_sources(scenario) as sources:
        plain = await diagnose(incident, sources, await resolve("none"))
        with_model = await diagnose(incident, sources, model)
    return plain, with_model


@needs_prometheus
async def test_garbage_replies_are_retried_once_then_fall_back() -> None:
    # Empty first, then half-JSON cut off mid-string (a reply that hit max_tokens).
    client = PerSpecialist({}, default=["", '{"findings": [{"summary": "sw1'])
    plain, d = await _both(_model(client, steps=0))

    assert d.verdict == plain.verdict == "diagnosed"
    assert d.root_cause == plain.root_cause
    assert d.root_cause is not None and d.root_cause.fault == "stp_loop"
    assert d.confidence == plain.confidence
    assert [(h.key, h.role) for h in d.hypotheses] == [(h.key, h.role) for h in plain.hypotheses]
    review = d.model_review
    assert review is not None and plain.model_review is None
    assert sorted(review.fallbacks) == sorted(
        ["network", "compute", "storage", "dns", "control-plane", "application"]
    )
    assert review.retries == 6
    assert sum("unusable after a retry" in x for x in review.dropped) == 6
    # Every specialist asked twice (answer, retry), the summary once; all timed.
    purposes = sorted(c.purpose for c in d.timings.model_calls)
    assert purposes.count("answer") == 6 and purposes.count("retry") == 6
    assert all(c.end_s >= c.start_s for c in d.timings.model_calls)
    assert d.narrative == "A summary."


@needs_prometheus
async def test_model_probes_run_through_tools_and_refusals_are_counted() -> None:
    network = [
        calls(
            ("run_command", {"host": "node-2", "command": "rm -rf /"}),
            ("snmp_get", {"device": "sw1", "object_name": "dot1dStpTopChanges"}),
            ("shell", {"cmd": "reboot"}),
        ),
        "DONE",
        answer(
            [{"summary": "sw1 keeps re-converging", "evidence": ["e1"], "strength": 80}],
            [{"layer": "network", "fault": "packet_loss", "component": "sw1",
              "findings": ["m1"], "confidence": 97, "reasoning": "loss follows the storm"}],
        ),
    ]  # fmt: skip
    client = PerSpecialist({"network": network}, default=[answer()])
    plain, d = await _both(_model(client, steps=3))

    assert d.root_cause == plain.root_cause and d.verdict == plain.verdict
    review = d.model_review
    assert review is not None
    assert (review.probes, review.probes_refused) == (1, 2)
    assert any("allow-list" in x for x in review.dropped)
    assert any("no tool named 'shell'" in x for x in review.dropped)
    assert not [e for e in d.evidence if e.source == "ssh" and "rm" in e.query]
    assert len(d.evidence) == len(plain.evidence) + 1  # the one model-chosen SNMP read
    added = [h for h in d.hypotheses if h.fault == "packet_loss" and h.by == "network"]
    assert len(added) == 1 and added[0].score <= 0.6
    assert review.hypotheses_kept == 1 and review.findings_kept == 1
    # The tool results went back to the model as delimited data.
    tool_turns = [m for who, msgs, _ in client.seen if who == "network" for m in msgs]
    assert any("<<<DATA" in str(getattr(m, "content", "")) for m in tool_turns)
    network_calls = [c.purpose for c in d.timings.model_calls if c.by == "network"]
    assert network_calls == ["probe", "probe", "answer"]


# ----------------------------------------------------------------------- budgets


class Slow(ReplayChatCompletionClient):
    """A replay client that takes a while to answer, counting requests in flight."""

    def __init__(self, replies: Sequence[str], delay: float = 0.1) -> None:
        super().__init__(list(replies), model_info=INFO)
        self.delay = delay
        self.in_flight = 0
        self.most = 0

    async def create(self, messages: Sequence[LLMMessage], **kwargs: Any) -> CreateResult:
        self.in_flight += 1
        self.most = max(self.most, self.in_flight)
        try:
            await asyncio.sleep(self.delay)
            return await super().create(messages, **kwargs)
        finally:
            self.in_flight -= 1


async def test_token_budgets_stop_a_specialist_and_the_incident() -> None:
    limits = ModelLimits(specialist_tokens=60, incident_tokens=100)
    session = ModelSession(BoundedClient(Slow(["x " * 40] * 10, delay=0), limits=limits))
    msg: list[LLMMessage] = [UserMessage(content="hello " * 30, source="user")]
    await session.ask("network", "answer", msg)
    with pytest.raises(BudgetSpent, match="network: token budget spent"):
        await session.ask("network", "answer", msg)
    await session.ask("dns", "answer", msg)  # its own budget, but the incident's is spent now
    with pytest.raises(BudgetSpent, match="incident"):
        await session.ask("storage", "answer", msg)
    assert [c.by for c in session.calls] == ["network", "dns"]
    assert session.tokens >= 100


async def test_the_shared_client_bounds_concurrency_and_calls_overlap() -> None:
    inner = Slow(["ok"] * 8, delay=0.2)
    session = ModelSession(BoundedClient(inner, limits=ModelLimits(max_concurrency=2)))
    msg: list[LLMMessage] = [UserMessage(content="hi", source="user")]
    await asyncio.gather(*(session.ask(f"s{i}", "answer", msg) for i in range(6)))
    assert inner.most == 2
    spans = sorted((c.start_s, c.end_s) for c in session.calls)
    overlapping = sum(1 for a, b in itertools.pairwise(spans) if b[0] < a[1])
    assert overlapping >= 3
    assert max(c.wait_s for c in session.calls) >= 0.3  # the last pair queued twice


async def test_a_slow_model_times_out_and_is_recorded() -> None:
    session = ModelSession(
        BoundedClient(Slow(["late"], delay=1.0), limits=ModelLimits(call_timeout_s=0.1))
    )
    with pytest.raises(TimeoutError):
        await session.ask("network", "answer", [UserMessage(content="hi", source="user")])
    assert [c.status for c in session.calls] == ["timeout"]
