"""Model specs, the llama.cpp reply reading (tool calls, caps) and structured-output asks.

The llama.cpp replies are recorded from llama-cpp-python 0.3 running the
SmolLM2-135M-Instruct GGUF (tests/fixtures/llamacpp/); the real model runs in
tests/integration/test_local_model.py.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from autogen_core import FunctionCall
from autogen_core.models import (
    AssistantMessage,
    FunctionExecutionResult,
    FunctionExecutionResultMessage,
    SystemMessage,
    UserMessage,
)

from agents.investigator import ModelAnswer
from agents.llm import ModelLimits, ModelSpec, ModelSpecError, parse, resolve
from agents.llm_backends import parse_completion, structured_args, to_openai_messages

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "llamacpp"


@pytest.mark.parametrize(
    ("spec", "parsed"),
    [
        ("none", ModelSpec("none")),
        ("auto", ModelSpec("auto")),
        ("ollama:llama3.1:8b", ModelSpec("ollama", "llama3.1:8b")),
        (
            "openai:http://127.0.0.1:8080/v1:qwen2.5:3b",
            ModelSpec("openai", "qwen2.5:3b", base_url="http://127.0.0.1:8080/v1"),
        ),
        (
            "openai:https://[::1]:8000/v1:Qwen/Qwen2.5-7B-Instruct",
            ModelSpec("openai", "Qwen/Qwen2.5-7B-Instruct", base_url="https://[::1]:8000/v1"),
        ),
        (
            "openai:http://lmstudio.lan:1234:phi-3",
            ModelSpec("openai", "phi-3", "http://lmstudio.lan:1234"),
        ),
        ("llamacpp:/models/smol.gguf", ModelSpec("llamacpp", "/models/smol.gguf")),
    ],
)
def test_specs_parse(spec: str, parsed: ModelSpec) -> None:
    assert parse(spec) == parsed


@pytest.mark.parametrize(
    "spec",
    ["gpt", "openai:", "openai:qwen", "openai:http://127.0.0.1:8080/v1", "llamacpp:", "ollama:"],
)
def test_bad_specs_say_what_is_expected(spec: str) -> None:
    with pytest.raises(ModelSpecError, match=r"e\.g\.|use none"):
        parse(spec)


async def test_a_missing_gguf_file_is_a_spec_error(tmp_path: Path) -> None:
    with pytest.raises(ModelSpecError, match="no GGUF model file"):
        await resolve(f"llamacpp:{tmp_path / 'absent.gguf'}")


async def test_openai_spec_opens_a_bounded_client_without_network() -> None:
    handle = await resolve(
        "openai:http://127.0.0.1:9/v1:local", limits=ModelLimits(max_concurrency=3)
    )
    assert handle.use.backend == "openai" and handle.use.name == "local"
    assert handle.client is not None and handle.limits.max_concurrency == 3


def test_tool_calls_are_read_from_the_message() -> None:
    # autogen-ext 0.7.5's LlamaCppChatCompletionClient reads choices[0]["tool_calls"],
    # which llama-cpp-python never sets: this reply would come back as no call at all.
    raw = json.loads((FIXTURES / "forced_tool_call.json").read_text())
    assert "tool_calls" not in raw["choices"][0]
    result = parse_completion(raw)
    assert result.finish_reason == "function_calls"
    assert isinstance(result.content, list) and len(result.content) == 1
    call = result.content[0]
    assert call.name == "query_metric" and json.loads(call.arguments) == {"metric": "node-cpu"}
    assert (result.usage.prompt_tokens, result.usage.completion_tokens) == (33, 11)


def test_a_reply_cut_at_max_tokens_is_text_with_reason_length() -> None:
    result = parse_completion(json.loads((FIXTURES / "cut_json.json").read_text()))
    assert result.finish_reason == "length" and isinstance(result.content, str)
    with pytest.raises(ValueError):
        ModelAnswer.model_validate_json(result.content)


def test_empty_choices_are_an_error() -> None:
    with pytest.raises(RuntimeError, match="no choices"):
        parse_completion({"choices": []})


def test_messages_convert_to_openai_shape_with_tool_turns() -> None:
    msgs = to_openai_messages(
        [
            SystemMessage(content="sys"),
            UserMessage(content="hi", source="user"),
            AssistantMessage(
                content=[FunctionCall(id="c1", name="snmp_get", arguments='{"device": "sw1"}')],
                source="network",
            ),
            FunctionExecutionResultMessage(
                content=[FunctionExecutionResult(content="ok", name="snmp_get", call_id="c1")]
            ),
        ]
    )
    assert [m["role"] for m in msgs] == ["system", "user", "assistant", "tool"]
    assert msgs[2]["tool_calls"][0]["function"] == {
        "name": "snmp_get",
        "arguments": '{"device": "sw1"}',
    }
    assert msgs[3] == {"role": "tool", "tool_call_id": "c1", "content": "ok"}


def test_structured_output_is_asked_the_way_each_backend_accepts() -> None:
    # llama.cpp (in process, and its OpenAI route) rejects "json_schema": json_object + schema.
    json_output, extra = structured_args("json_object_schema", ModelAnswer, 200)
    assert json_output is None and extra["max_tokens"] == 200
    assert extra["response_format"]["type"] == "json_object"
    assert set(extra["response_format"]["schema"]["properties"]) == {"findings", "hypotheses"}
    # Ollama takes the schema as "format" (autogen-ext does that for a model class).
    json_output, extra = structured_args("ollama", ModelAnswer, 200)
    assert json_output is ModelAnswer and extra == {"options": {"num_predict": 200}}


def test_the_schema_names_the_vocabulary() -> None:
    schema = ModelAnswer.model_json_schema()
    hyp = schema["$defs"]["ProposedHypothesis"]["properties"]
    assert "stp_loop" in hyp["fault"]["enum"] and "network" in hyp["layer"]["enum"]
    assert "none" not in hyp["layer"]["enum"]
