"""The OpenAI-compatible path (llama.cpp's server, vLLM, LM Studio) with recorded replies.

A loopback HTTP server answers ``POST /v1/chat/completions`` with replies in the
shape llama.cpp's OpenAI route returns; autogen-ext's ``OpenAIChatCompletionClient``
(and the ``openai`` library under it) does the talking. No such server can be
installed here with its dependencies, so the server side is recorded.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, ClassVar

import pytest
from autogen_core.models import UserMessage

from agents.investigator import ModelAnswer, parse_answer
from agents.llm import BoundedClient, ModelLimits, resolve
from agents.model_session import ModelSession


def _completion(message: dict[str, Any], finish: str) -> dict[str, Any]:
    return {
        "id": "chatcmpl-1",
        "object": "chat.completion",
        "created": 1734145920,
        "model": "qwen2.5-3b-instruct",
        "choices": [{"index": 0, "message": message, "logprobs": None, "finish_reason": finish}],
        "usage": {"prompt_tokens": 812, "completion_tokens": 41, "total_tokens": 853},
    }


ANSWER = _completion(
    {"role": "assistant", "content": json.dumps({"findings": [], "hypotheses": []})}, "stop"
)
TOOL = _completion(
    {
        "role": "assistant",
        "content": None,
        "tool_calls": [
            {
                "id": "call_0",
                "type": "function",
                "function": {"name": "snmp_get", "arguments": '{"device": "sw1"}'},
            }
        ],
    },
    "tool_calls",
)


class FakeServer(BaseHTTPRequestHandler):
    requests: ClassVar[list[dict[str, Any]]] = []

    def do_POST(self) -> None:
        body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
        type(self).requests.append({"path": self.path, **body})
        reply = json.dumps(TOOL if body.get("tools") else ANSWER).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(reply)))
        self.end_headers()
        self.wfile.write(reply)

    def log_message(self, *args: object) -> None:
        return


@pytest.fixture
def server() -> Iterator[tuple[str, type[FakeServer]]]:
    handler = type("Handler", (FakeServer,), {"requests": []})
    httpd = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{httpd.server_address[1]}/v1", handler
    httpd.shutdown()
    httpd.server_close()


async def test_structured_answers_use_json_object_with_a_schema(
    server: tuple[str, type[FakeServer]],
) -> None:
    url, handler = server
    model = await resolve(f"openai:{url}:qwen2.5-3b-instruct", limits=ModelLimits(max_tokens=99))
    assert isinstance(model.client, BoundedClient)
    session = ModelSession(model.client)
    msg = [UserMessage(content="hello", source="user")]

    result = await session.ask("network", "answer", msg, schema=ModelAnswer)
    assert isinstance(result.content, str) and parse_answer(result.content) == ModelAnswer()
    sent = handler.requests[-1]
    assert sent["path"] == "/v1/chat/completions" and sent["model"] == "qwen2.5-3b-instruct"
    # llama.cpp's OpenAI route rejects "json_schema": json_object carrying the schema.
    assert sent["response_format"]["type"] == "json_object"
    assert set(sent["response_format"]["schema"]["properties"]) == {"findings", "hypotheses"}
    assert sent["max_tokens"] == 99
    assert (session.calls[-1].prompt_tokens, session.calls[-1].completion_tokens) == (812, 41)


async def test_tool_calls_come_back_as_function_calls(
    server: tuple[str, type[FakeServer]],
) -> None:
    url, handler = server
    model = await resolve(f"openai:{url}:qwen2.5-3b-instruct")
    assert isinstance(model.client, BoundedClient)
    session = ModelSession(model.client)
    schema = {
        "name": "snmp_get",
        "description": "Read one SNMP object.",
        "parameters": {"type": "object", "properties": {"device": {"type": "string"}}},
    }
    result = await session.ask(
        "network", "probe", [UserMessage(content="look", source="user")], tools=[schema]
    )
    assert isinstance(result.content, list) and result.content[0].name == "snmp_get"
    assert handler.requests[-1]["tools"][0]["function"]["name"] == "snmp_get"
