"""The single-agent baseline over the real recorded backends of the seed scenarios.

It runs the same specialist probe plans as the coordinator but keeps the loudest
hypothesis, with no layer graph, timing or calibration. The model path uses autogen's
``ReplayChatCompletionClient`` (no model server runs here).
"""

from __future__ import annotations

import json
import shutil
from itertools import pairwise
from pathlib import Path

import jsonschema
import pytest
from autogen_core.models import ModelFamily, ModelInfo
from autogen_ext.models.replay import ReplayChatCompletionClient

from agents.coordinator import SPECIALISTS
from agents.llm import ModelHandle
from agents.models import Diagnosis, Hypothesis, ModelUse
from agents.network import NetworkSpecialist
from agents.reconcile import MIN_SCORE
from agents.replay import incident_from_scenario, replay
from agents.single_agent import SingleAgent, diagnose_single, pick_strongest
from tools.scenario.loader import load_scenario
from tools.scenario.replay import open_recorded_sources

ROOT = Path(__file__).resolve().parents[2]
STP = ROOT / "scenarios" / "10_stp_loop_dns_symptoms"
SCHEMA = json.loads((ROOT / "docs" / "diagnosis.schema.json").read_text())
NO_MODEL = ModelHandle(None, ModelUse(backend="none", available=False, note="test"))

needs_prometheus = pytest.mark.skipif(
    shutil.which("promtool") is None or shutil.which("prometheus") is None,
    reason="Prometheus/promtool not installed (make test installs the Debian package)",
)


def hyp(layer: str, fault: str, score: float) -> Hypothesis:
    return Hypothesis(
        layer=layer, fault=fault, component="c", score=score, by=layer, findings=("f1",)
    )


def test_pick_strongest_ties_go_to_the_first_and_the_floor_holds() -> None:
    a, b = hyp("network", "stp_loop", 0.8), hyp("dns", "upstream_failure", 0.8)
    assert pick_strongest([a, b]) is a
    assert pick_strongest([b, a]) is b
    louder = hyp("dns", "query_flood", 0.81)
    assert pick_strongest([a, louder]) is louder
    assert pick_strongest([hyp("compute", "oom_kill", MIN_SCORE - 0.01)]) is None
    assert pick_strongest([]) is None


@needs_prometheus
async def test_stp_loop_single_agent_versus_coordinator() -> None:
    """The motivating incident. With every tool the baseline sees the switch too; the
    loop and the DNS errors both reach the specialists' cap, and it picks the raw
    maximum (ties: the first found), with no symptom roles and its raw score as
    confidence. The coordinator explains the DNS errors away.
    """
    multi = await replay(STP, NO_MODEL)
    single = await replay(STP, NO_MODEL, single_agent=True)
    jsonschema.validate(single.to_dict(), SCHEMA)
    assert multi.root_cause is not None and multi.root_cause.fault == "stp_loop"
    assert {h.key: h.role for h in multi.hypotheses}["dns/upstream_failure"] == "symptom"

    assert single.verdict == "diagnosed" and single.root_cause is not None
    assert {h.role for h in single.hypotheses} <= {"root_cause", "ruled_out"}
    assert all(h.explained_by is None for h in single.hypotheses)
    raw = {h.key: h.score for h in single.hypotheses}
    best = max(raw.values())
    assert single.confidence == best
    assert raw[f"{single.root_cause.layer}/{single.root_cause.fault}"] == best
    assert raw["dns/upstream_failure"] > 0.9  # the loud symptom the coordinator explains away
    # The baseline runs the probe plans one after another, not concurrently.
    spans = sorted(single.timings.spans.values())
    assert set(single.timings.spans) == {cls.layer for cls in SPECIALISTS}
    assert all(a[1] <= b[0] for a, b in pairwise(spans))


@needs_prometheus
async def test_without_switch_visibility_the_baseline_blames_dns() -> None:
    """The motivating failure itself: an agent with no tool that sees the switch
    (no network probes) blames DNS with high confidence.
    """
    scenario = load_scenario(STP)
    others = [cls for cls in SPECIALISTS if cls is not NetworkSpecialist]
    async with open_recorded_sources(scenario) as sources:
        agent = SingleAgent(incident_from_scenario(scenario), sources, specialists=others)
        d = await agent.investigate()
    assert d.root_cause is not None
    assert (d.root_cause.layer, d.root_cause.fault) == ("dns", "upstream_failure")
    assert d.confidence > 0.9 and d.verdict == "diagnosed"


def replay_client(*replies: str) -> ReplayChatCompletionClient:
    info = ModelInfo(
        vision=False,
        function_calling=False,
        json_output=False,
        family=ModelFamily.UNKNOWN,
        structured_output=False,
    )
    return ReplayChatCompletionClient(list(replies), model_info=info)


async def _with_model(reply: str) -> Diagnosis:
    scenario = load_scenario(STP)
    handle = ModelHandle(replay_client(reply), ModelUse(backend="replay", available=True))
    async with open_recorded_sources(scenario) as sources:
        return await diagnose_single(incident_from_scenario(scenario), sources, handle)


@needs_prometheus
async def test_model_pick_and_stated_confidence_are_taken() -> None:
    d = await _with_model("ANSWER 2 CONFIDENCE 88")
    keys = [h.key for h in d.hypotheses]
    assert keys[0] == "dns/upstream_failure" and d.confidence == 0.88
    assert d.root_cause is not None and d.root_cause.layer == "dns"
    assert d.hypotheses[0].role == "root_cause"


@needs_prometheus
async def test_unusable_model_reply_falls_back_to_the_strongest() -> None:
    d = await _with_model("I think it is probably the network, hard to say.")
    assert d.root_cause is not None
    assert d.confidence == max(h.score for h in d.hypotheses)
    assert any("model reply not understood" in n for n in d.unavailable)
