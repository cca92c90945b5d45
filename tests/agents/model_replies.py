"""Scripted model replies for tests: one ``ReplayChatCompletionClient`` per specialist.

Specialists share one model client at runtime and ask concurrently, so a single
replay client would hand its replies out in whatever order the requests land.
:class:`PerSpecialist` routes each request by the specialist named in its system
prompt to that specialist's own replay client (house style: one replay client per
agent); requests from no specialist (the summary) go to ``other``.
"""

from __future__ import annotations

import json
import re
from collections.abc import AsyncGenerator, Mapping, Sequence
from typing import Any, Literal

from autogen_core import CancellationToken, FunctionCall
from autogen_core.models import (
    ChatCompletionClient,
    CreateResult,
    LLMMessage,
    ModelFamily,
    ModelInfo,
    RequestUsage,
    SystemMessage,
)
from autogen_core.tools import Tool, ToolSchema
from autogen_ext.models.replay import ReplayChatCompletionClient
from pydantic import BaseModel

INFO = ModelInfo(
    vision=False,
    function_calling=True,
    json_output=True,
    family=ModelFamily.UNKNOWN,
    structured_output=True,
)

_LAYER = re.compile(r"You are the ([a-z-]+) specialist")

Reply = str | CreateResult


def calls(*pairs: tuple[str, dict[str, Any]]) -> CreateResult:
    """A reply that calls tools: ``calls(("snmp_get", {"device": "sw1", ...}), ...)``."""
    return CreateResult(
        finish_reason="function_calls",
        content=[
            FunctionCall(id=f"call_{i}", name=name, arguments=json.dumps(args))
            for i, (name, args) in enumerate(pairs)
        ],
        usage=RequestUsage(prompt_tokens=10, completion_tokens=10),
        cached=False,
    )


def answer(
    findings: Sequence[dict[str, Any]] = (), hypotheses: Sequence[dict[str, Any]] = ()
) -> str:
    """A structured answer as JSON text."""
    return json.dumps({"findings": list(findings), "hypotheses": list(hypotheses)})


class PerSpecialist(ChatCompletionClient):
    """Routes each request to the replay client of the specialist that sent it."""

    def __init__(
        self,
        replies: Mapping[str, Sequence[Reply]],
        other: Sequence[Reply] = ("A summary.",),
        *,
        default: Sequence[Reply] = (),
    ) -> None:
        self.clients = {
            layer: ReplayChatCompletionClient(list(r), model_info=INFO)
            for layer, r in replies.items()
        }
        self.default = list(default)
        self.other = ReplayChatCompletionClient(list(other), model_info=INFO)
        self.seen: list[tuple[str, Sequence[LLMMessage], Sequence[Tool | ToolSchema]]] = []

    def _client(self, messages: Sequence[LLMMessage]) -> tuple[str, ChatCompletionClient]:
        first = messages[0] if messages else None
        m = _LAYER.search(first.content) if isinstance(first, SystemMessage) else None
        if m is None:
            return "other", self.other
        layer = m.group(1)
        if layer not in self.clients:
            self.clients[layer] = ReplayChatCompletionClient(list(self.default), model_info=INFO)
        return layer, self.clients[layer]

    async def create(
        self,
        messages: Sequence[LLMMessage],
        *,
        tools: Sequence[Tool | ToolSchema] = [],
        tool_choice: Tool | Literal["auto", "required", "none"] = "auto",
        json_output: bool | type[BaseModel] | None = None,
        extra_create_args: Mapping[str, Any] = {},
        cancellation_token: CancellationToken | None = None,
    ) -> CreateResult:
        who, client = self._client(messages)
        self.seen.append((who, list(messages), list(tools)))
        return await client.create(
            messages, tools=tools, json_output=json_output, extra_create_args=extra_create_args
        )

    async def create_stream(  # type: ignore[override]
        self, messages: Sequence[LLMMessage], **kwargs: Any
    ) -> AsyncGenerator[str | CreateResult, None]:
        yield await self.create(messages, **kwargs)

    async def close(self) -> None:
        return None

    def actual_usage(self) -> RequestUsage:
        return RequestUsage(prompt_tokens=0, completion_tokens=0)

    def total_usage(self) -> RequestUsage:
        return RequestUsage(prompt_tokens=0, completion_tokens=0)

    def count_tokens(self, messages: Sequence[LLMMessage], **kwargs: Any) -> int:
        return 0

    def remaining_tokens(self, messages: Sequence[LLMMessage], **kwargs: Any) -> int:
        return 100_000

    @property
    def capabilities(self) -> Any:
        return INFO

    @property
    def model_info(self) -> ModelInfo:
        return INFO

    def prompts(self) -> str:
        """Every message text any specialist or the summary was sent, joined."""
        parts: list[str] = []
        for _, messages, _ in self.seen:
            for m in messages:
                content = getattr(m, "content", "")
                parts.append(content if isinstance(content, str) else repr(content))
        return "\n".join(parts)
