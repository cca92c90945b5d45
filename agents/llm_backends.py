"""Chat clients for each model backend: Ollama, OpenAI-compatible servers, llama.cpp in process.

Ollama and OpenAI-compatible servers (llama.cpp's server, vLLM, LM Studio) use
autogen-ext's clients. The in-process backend is :class:`LlamaCppClient`, our own
client over ``llama_cpp.Llama``: autogen-ext 0.7.5's ``LlamaCppChatCompletionClient``
reads tool calls from ``choices[0]["tool_calls"]`` (llama-cpp-python puts them in
``choices[0]["message"]["tool_calls"]``), so every tool call is lost, and it cannot
cap ``max_tokens``. :func:`parse_completion` is the fixed reading, tested on its own.

Each backend asks for structured output its own way (:data:`JsonStyle`): Ollama takes
a JSON schema as ``format``; llama.cpp (in process and its OpenAI route) takes
``response_format={"type": "json_object", "schema": ...}`` and rejects ``json_schema``.

This module opens clients; it never decides anything about an incident.
"""

from __future__ import annotations

import asyncio
import json
import logging
import os
import threading
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any, Literal

from autogen_core import CancellationToken, FunctionCall
from autogen_core.models import (
    AssistantMessage,
    ChatCompletionClient,
    CreateResult,
    FinishReasons,
    FunctionExecutionResultMessage,
    LLMMessage,
    ModelCapabilities,
    ModelFamily,
    ModelInfo,
    RequestUsage,
    SystemMessage,
    UserMessage,
)
from autogen_core.tools import Tool, ToolSchema
from pydantic import BaseModel

log = logging.getLogger(__name__)

__all__ = [
    "JsonStyle",
    "LlamaCppClient",
    "LlamaCppError",
    "open_llamacpp",
    "open_ollama",
    "open_openai",
    "parse_completion",
    "structured_args",
    "to_openai_messages",
]

JsonStyle = Literal["pydantic", "json_object_schema", "ollama"]
"""How a backend is asked for a reply that follows a JSON schema."""

DEFAULT_MAX_TOKENS = 512
DEFAULT_CONTEXT = 4096


def model_info(*, function_calling: bool = True) -> ModelInfo:
    """What Strata assumes of a local model: text only, JSON output, maybe tools."""
    return ModelInfo(
        vision=False,
        function_calling=function_calling,
        json_output=True,
        family=ModelFamily.UNKNOWN,
        structured_output=True,
    )


def structured_args(
    style: JsonStyle, schema: type[BaseModel], max_tokens: int
) -> tuple[bool | type[BaseModel] | None, dict[str, Any]]:
    """``(json_output, extra_create_args)`` asking ``style``'s backend for ``schema``."""
    if style == "json_object_schema":
        return None, {
            "response_format": {"type": "json_object", "schema": schema.model_json_schema()},
            "max_tokens": max_tokens,
        }
    if style == "ollama":
        return schema, {"options": {"num_predict": max_tokens}}
    return schema, {}


def cap_args(style: JsonStyle, max_tokens: int) -> dict[str, Any]:
    """``extra_create_args`` that cap a reply's length on ``style``'s backend."""
    if style == "ollama":
        return {"options": {"num_predict": max_tokens}}
    if style == "json_object_schema":
        return {"max_tokens": max_tokens}
    return {}


# --------------------------------------------------------------------------- servers


def open_ollama(host: str, name: str) -> ChatCompletionClient:
    """autogen-ext's Ollama client for model ``name`` at ``host``."""
    from autogen_ext.models.ollama import OllamaChatCompletionClient

    return OllamaChatCompletionClient(model=name, host=host, model_info=model_info())


def open_openai(base_url: str, name: str, api_key: str = "") -> ChatCompletionClient:
    """autogen-ext's OpenAI client pointed at a local OpenAI-compatible server."""
    from autogen_ext.models.openai import OpenAIChatCompletionClient

    return OpenAIChatCompletionClient(
        model=name,
        base_url=base_url,
        api_key=api_key or "not-needed",
        model_info=model_info(),
    )


# --------------------------------------------------------------------------- llama.cpp


class LlamaCppError(RuntimeError):
    """The GGUF file cannot be loaded (missing file, no llama-cpp-python, bad model)."""


def _tool_dict(tool: Tool | ToolSchema) -> dict[str, Any]:
    schema: Mapping[str, Any] = tool.schema if isinstance(tool, Tool) else tool
    fn: dict[str, Any] = {"name": schema["name"]}
    if "description" in schema:
        fn["description"] = schema["description"]
    fn["parameters"] = dict(schema.get("parameters", {"type": "object", "properties": {}}))
    return {"type": "function", "function": fn}


def to_openai_messages(messages: Sequence[LLMMessage]) -> list[dict[str, Any]]:
    """AutoGen messages as OpenAI-style chat messages (what llama-cpp-python takes)."""
    out: list[dict[str, Any]] = []
    for m in messages:
        if isinstance(m, SystemMessage):
            out.append({"role": "system", "content": m.content})
        elif isinstance(m, UserMessage):
            text = m.content if isinstance(m.content, str) else " ".join(map(str, m.content))
            out.append({"role": "user", "content": text})
        elif isinstance(m, AssistantMessage):
            if isinstance(m.content, str):
                out.append({"role": "assistant", "content": m.content})
            else:
                out.append(
                    {
                        "role": "assistant",
                        "content": m.thought or "",
                        "tool_calls": [
                            {
                                "id": c.id,
                                "type": "function",
                                "function": {"name": c.name, "arguments": c.arguments},
                            }
                            for c in m.content
                        ],
                    }
                )
        elif isinstance(m, FunctionExecutionResultMessage):
            for r in m.content:
                out.append({"role": "tool", "tool_call_id": r.call_id, "content": r.content})
    return out


_FINISH: dict[str, FinishReasons] = {
    "stop": "stop",
    "length": "length",
    "tool_calls": "function_calls",
    "function_call": "function_calls",
    "content_filter": "content_filter",
}


def parse_completion(response: Mapping[str, Any]) -> CreateResult:
    """A llama-cpp-python chat completion as an AutoGen :class:`CreateResult`.

    Tool calls are read from ``choices[0]["message"]["tool_calls"]`` (where
    llama-cpp-python, like OpenAI, puts them), falling back to the legacy
    ``function_call`` field.

    Raises:
        LlamaCppError: the response has no choices.
    """
    choices = response.get("choices") or []
    if not choices:
        raise LlamaCppError("llama.cpp returned no choices")
    choice = choices[0]
    message: Mapping[str, Any] = choice.get("message") or {}
    usage = response.get("usage") or {}
    calls: list[FunctionCall] = []
    for i, tc in enumerate(message.get("tool_calls") or ()):
        fn = tc.get("function") or {}
        args = fn.get("arguments", "{}")
        calls.append(
            FunctionCall(
                id=str(tc.get("id") or f"call_{i}"),
                name=str(fn.get("name", "")),
                arguments=args if isinstance(args, str) else json.dumps(args),
            )
        )
    legacy = message.get("function_call")
    if not calls and isinstance(legacy, Mapping) and legacy.get("name"):
        args = legacy.get("arguments", "{}")
        calls.append(
            FunctionCall(
                id="call_0",
                name=str(legacy["name"]),
                arguments=args if isinstance(args, str) else json.dumps(args),
            )
        )
    finish = _FINISH.get(str(choice.get("finish_reason") or ""), "unknown")
    content: str | list[FunctionCall]
    if calls:
        content, finish = calls, "function_calls"
    else:
        content = str(message.get("content") or "")
    return CreateResult(
        finish_reason=finish,
        content=content,
        usage=RequestUsage(
            prompt_tokens=int(usage.get("prompt_tokens", 0) or 0),
            completion_tokens=int(usage.get("completion_tokens", 0) or 0),
        ),
        cached=False,
    )


class LlamaCppClient(ChatCompletionClient):
    """A chat client over an in-process ``llama_cpp.Llama`` (a GGUF file, CPU is enough).

    One model instance serves one request at a time (llama.cpp contexts are not
    thread-safe): calls queue on a lock and run in a worker thread, so the event
    loop stays free. ``max_tokens`` caps every reply (``extra_create_args`` may
    lower it per call).

    ``function_calling`` is off by default: llama-cpp-python returns tool calls for
    most GGUF chat templates only when one tool is forced (``tool_choice=Tool``), so
    with ``"auto"`` a model would only ever answer in text. Forced calls, and
    models whose chat format does call tools, come back as ``FunctionCall`` lists.
    """

    def __init__(
        self,
        llama: Any,
        *,
        name: str = "",
        max_tokens: int = DEFAULT_MAX_TOKENS,
        temperature: float = 0.2,
        function_calling: bool = False,
    ) -> None:
        self._llama = llama
        self._name = name
        self._max_tokens = max_tokens
        self._temperature = temperature
        self._lock = threading.Lock()
        self._info = model_info(function_calling=function_calling)
        self._last = RequestUsage(prompt_tokens=0, completion_tokens=0)
        self._total = RequestUsage(prompt_tokens=0, completion_tokens=0)

    def _request(
        self,
        messages: Sequence[LLMMessage],
        tools: Sequence[Tool | ToolSchema],
        tool_choice: Tool | Literal["auto", "required", "none"],
        json_output: bool | type[BaseModel] | None,
        extra: Mapping[str, Any],
    ) -> dict[str, Any]:
        args: dict[str, Any] = {
            "messages": to_openai_messages(messages),
            "max_tokens": min(int(extra.get("max_tokens", self._max_tokens)), self._max_tokens),
            "temperature": float(extra.get("temperature", self._temperature)),
        }
        if "seed" in extra:
            args["seed"] = int(extra["seed"])
        if tools and tool_choice != "none":
            args["tools"] = [_tool_dict(t) for t in tools]
            if isinstance(tool_choice, Tool):
                args["tool_choice"] = {"type": "function", "function": {"name": tool_choice.name}}
            else:
                args["tool_choice"] = "auto"
        if isinstance(json_output, type) and issubclass(json_output, BaseModel):
            args["response_format"] = {
                "type": "json_object",
                "schema": json_output.model_json_schema(),
            }
        elif json_output is True:
            args["response_format"] = {"type": "json_object"}
        elif isinstance(extra.get("response_format"), Mapping):
            args["response_format"] = dict(extra["response_format"])
        return args

    def _run(self, args: dict[str, Any]) -> dict[str, Any]:
        with self._lock:
            result: dict[str, Any] = self._llama.create_chat_completion(**args)
            return result

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
        """One chat completion, run in a worker thread."""
        args = self._request(messages, tools, tool_choice, json_output, extra_create_args)
        response = await asyncio.to_thread(self._run, args)
        result = parse_completion(response)
        self._last = result.usage
        self._total = RequestUsage(
            prompt_tokens=self._total.prompt_tokens + result.usage.prompt_tokens,
            completion_tokens=self._total.completion_tokens + result.usage.completion_tokens,
        )
        return result

    async def create_stream(  # type: ignore[override]
        self,
        messages: Sequence[LLMMessage],
        *,
        tools: Sequence[Tool | ToolSchema] = [],
        tool_choice: Tool | Literal["auto", "required", "none"] = "auto",
        json_output: bool | type[BaseModel] | None = None,
        extra_create_args: Mapping[str, Any] = {},
        cancellation_token: CancellationToken | None = None,
    ) -> Any:
        """Not streamed: yields the whole result once."""
        result = await self.create(
            messages,
            tools=tools,
            tool_choice=tool_choice,
            json_output=json_output,
            extra_create_args=extra_create_args,
        )

        async def _one() -> Any:
            yield result

        return _one()

    async def close(self) -> None:
        """Free the model."""
        close = getattr(self._llama, "close", None)
        if callable(close):
            close()

    def actual_usage(self) -> RequestUsage:
        """Usage of the last call."""
        return self._last

    def total_usage(self) -> RequestUsage:
        """Usage of every call so far."""
        return self._total

    def count_tokens(
        self, messages: Sequence[LLMMessage], *, tools: Sequence[Tool | ToolSchema] = []
    ) -> int:
        """Tokens of the messages as the model's tokenizer counts them."""
        text = json.dumps(to_openai_messages(messages))
        return len(self._llama.tokenize(text.encode(), add_bos=False))

    def remaining_tokens(
        self, messages: Sequence[LLMMessage], *, tools: Sequence[Tool | ToolSchema] = []
    ) -> int:
        """Context left after ``messages``."""
        return max(0, int(self._llama.n_ctx()) - self.count_tokens(messages, tools=tools))

    @property
    def capabilities(self) -> ModelCapabilities:
        """Deprecated alias of :attr:`model_info`."""
        return self._info

    @property
    def model_info(self) -> ModelInfo:
        """What this model can do."""
        return self._info


def open_llamacpp(
    path: str | Path,
    *,
    max_tokens: int = DEFAULT_MAX_TOKENS,
    n_ctx: int = DEFAULT_CONTEXT,
    n_threads: int | None = None,
    seed: int = 7,
    cache_bytes: int = 1 << 30,
) -> LlamaCppClient:
    """Load a GGUF file into an in-process client.

    Raises:
        LlamaCppError: no such file, llama-cpp-python missing, or the file does not load.
    """
    file = Path(path).expanduser()
    if not file.is_file():
        raise LlamaCppError(f"no GGUF model file at {file}")
    # ggml's OpenMP threads spin while they wait; on a busy machine (a CI runner, the
    # specialists' own probes) that costs tens of times the compute. Sleep instead.
    os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")
    try:
        from llama_cpp import Llama
    except ImportError as exc:
        raise LlamaCppError(
            "llama-cpp-python is not installed: pip install llama-cpp-python "
            "(it builds from source; see docs/models.md)"
        ) from exc
    try:
        llama = Llama(
            model_path=str(file),
            n_ctx=n_ctx,
            n_threads=n_threads or max(1, os.cpu_count() or 1),
            seed=seed,
            verbose=False,
        )
    except (ValueError, RuntimeError) as exc:
        raise LlamaCppError(f"cannot load {file.name}: {exc}") from exc
    if cache_bytes > 0:
        # Specialists take turns on one context: keep their prompts' states, so a retry
        # (the same conversation and a little more) does not evaluate it all again.
        from llama_cpp.llama_cache import LlamaRAMCache

        llama.set_cache(LlamaRAMCache(capacity_bytes=cache_bytes))
    return LlamaCppClient(llama, name=file.name, max_tokens=max_tokens)
