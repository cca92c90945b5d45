"""Model selection: turn ``--model SPEC`` into one shared, bounded chat client, or none.

Specs: ``none``; ``auto`` (Ollama when it answers a short probe, else none);
``ollama:NAME``; ``openai:BASE_URL:NAME`` (any OpenAI-compatible local server:
llama.cpp's server, vLLM, LM Studio); ``llamacpp:PATH.gguf`` (llama-cpp-python in
process). Without a model Strata runs its deterministic baseline and says so once.

One :class:`BoundedClient` is shared by every specialist and the narrative: it lets
at most ``max_concurrency`` requests reach the model at once (a local model serves
few requests at a time). The model never decides the root cause on its own.
"""

from __future__ import annotations

import asyncio
import os
import re
import time
from collections.abc import AsyncGenerator, Mapping, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any, Literal

import httpx
from autogen_core import CancellationToken
from autogen_core.models import (
    ChatCompletionClient,
    CreateResult,
    LLMMessage,
    ModelCapabilities,
    ModelInfo,
    RequestUsage,
)
from autogen_core.tools import Tool, ToolSchema
from pydantic import BaseModel

from agents.llm_backends import (
    JsonStyle,
    LlamaCppError,
    cap_args,
    open_llamacpp,
    open_ollama,
    open_openai,
    structured_args,
)
from agents.models import ModelUse

__all__ = [
    "DEFAULT_OLLAMA_HOST",
    "DEFAULT_OLLAMA_MODEL",
    "PROBE_TIMEOUT_S",
    "BoundedClient",
    "ModelHandle",
    "ModelLimits",
    "ModelSpec",
    "ModelSpecError",
    "ollama_host",
    "parse",
    "parse_spec",
    "resolve",
]

DEFAULT_OLLAMA_HOST = "http://127.0.0.1:11434"
DEFAULT_OLLAMA_MODEL = "llama3.1:8b"
PROBE_TIMEOUT_S = 0.5
"""How long ``auto`` waits for Ollama before running without a model."""

SPEC_HELP = (
    "none | auto (Ollama if it answers, else none; default) | ollama:NAME | "
    "openai:BASE_URL:NAME | llamacpp:PATH.gguf"
)


class ModelSpecError(ValueError):
    """The ``--model`` value cannot be understood, or names a model that cannot load."""


@dataclass(frozen=True)
class ModelLimits:
    """Bounds on what the model may cost one incident. Every loop stops at a budget."""

    max_concurrency: int = 2
    """Model requests in flight at once, across every specialist (and incident)."""
    max_tokens: int = 384
    """Longest reply, in tokens."""
    steps: int = 3
    """Model-chosen probes per specialist."""
    specialist_tokens: int = 12_000
    """Prompt + reply tokens one specialist may spend."""
    incident_tokens: int = 60_000
    """Prompt + reply tokens one incident may spend (all specialists and the summary)."""
    call_timeout_s: float = 120.0
    """One request's longest run once it has a model slot (queueing is not counted)."""
    tool_output_chars: int = 600
    """Longest tool result handed back to the model (the rest is cut, marked)."""
    prompt_evidence: int = 10
    """Most evidence items quoted in a specialist's prompt (those its findings cite first)."""
    prompt_excerpt_chars: int = 600
    """Longest excerpt quoted per evidence item."""

    def __post_init__(self) -> None:
        for name in ("max_concurrency", "max_tokens", "specialist_tokens", "incident_tokens"):
            if getattr(self, name) < 1:
                raise ValueError(f"model limit {name} must be at least 1")
        if self.steps < 0:
            raise ValueError("model limit steps must not be negative")


class BoundedClient(ChatCompletionClient):
    """A shared chat client that admits at most ``max_concurrency`` requests at once.

    Wraps any AutoGen client; knows how to ask its backend for schema-shaped JSON
    (:meth:`structured`) and how to cap a reply's length (:meth:`capped`).
    """

    def __init__(
        self,
        inner: ChatCompletionClient,
        *,
        limits: ModelLimits | None = None,
        json_style: JsonStyle = "pydantic",
    ) -> None:
        self.inner = inner
        self.limits = limits or ModelLimits()
        self.json_style: JsonStyle = json_style
        self._gates: dict[int, asyncio.Semaphore] = {}

    def _gate(self) -> asyncio.Semaphore:
        # A semaphore belongs to one event loop; tests and CLI runs may use several.
        loop = id(asyncio.get_running_loop())
        gate = self._gates.get(loop)
        if gate is None:
            gate = self._gates[loop] = asyncio.Semaphore(self.limits.max_concurrency)
        return gate

    def structured(
        self, schema: type[BaseModel]
    ) -> tuple[bool | type[BaseModel] | None, dict[str, Any]]:
        """``(json_output, extra_create_args)`` asking for a reply shaped like ``schema``."""
        return structured_args(self.json_style, schema, self.limits.max_tokens)

    def capped(self) -> dict[str, Any]:
        """``extra_create_args`` capping a reply at ``limits.max_tokens``."""
        return cap_args(self.json_style, self.limits.max_tokens)

    async def timed_create(
        self,
        messages: Sequence[LLMMessage],
        *,
        tools: Sequence[Tool | ToolSchema] = (),
        json_output: bool | type[BaseModel] | None = None,
        extra_create_args: Mapping[str, Any] | None = None,
        timeout_s: float | None = None,
    ) -> tuple[CreateResult, float]:
        """``(result, seconds spent waiting for a free slot)``.

        Raises:
            TimeoutError: no reply within ``timeout_s`` of getting a slot.
        """
        queued = time.perf_counter()
        async with self._gate():
            waited = time.perf_counter() - queued
            result = await asyncio.wait_for(
                self.inner.create(
                    messages,
                    tools=list(tools),
                    json_output=json_output,
                    extra_create_args=dict(extra_create_args or {}),
                ),
                timeout_s,
            )
        return result, waited

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
        """The inner client's ``create``, once a slot is free."""
        async with self._gate():
            return await self.inner.create(
                messages,
                tools=tools,
                tool_choice=tool_choice,
                json_output=json_output,
                extra_create_args=extra_create_args,
                cancellation_token=cancellation_token,
            )

    async def create_stream(
        self,
        messages: Sequence[LLMMessage],
        *,
        tools: Sequence[Tool | ToolSchema] = [],
        tool_choice: Tool | Literal["auto", "required", "none"] = "auto",
        json_output: bool | type[BaseModel] | None = None,
        extra_create_args: Mapping[str, Any] = {},
        cancellation_token: CancellationToken | None = None,
    ) -> AsyncGenerator[str | CreateResult, None]:
        """Not streamed through the bound: yields the whole result once."""
        yield await self.create(
            messages,
            tools=tools,
            tool_choice=tool_choice,
            json_output=json_output,
            extra_create_args=extra_create_args,
            cancellation_token=cancellation_token,
        )

    async def close(self) -> None:
        """Close the inner client."""
        await self.inner.close()

    def actual_usage(self) -> RequestUsage:
        """The inner client's last usage."""
        return self.inner.actual_usage()

    def total_usage(self) -> RequestUsage:
        """The inner client's total usage."""
        return self.inner.total_usage()

    def count_tokens(
        self, messages: Sequence[LLMMessage], *, tools: Sequence[Tool | ToolSchema] = []
    ) -> int:
        """The inner client's count."""
        return self.inner.count_tokens(messages, tools=tools)

    def remaining_tokens(
        self, messages: Sequence[LLMMessage], *, tools: Sequence[Tool | ToolSchema] = []
    ) -> int:
        """The inner client's remaining context."""
        return self.inner.remaining_tokens(messages, tools=tools)

    @property
    def capabilities(self) -> ModelCapabilities:
        """Deprecated alias of :attr:`model_info`."""
        return self.inner.model_info

    @property
    def model_info(self) -> ModelInfo:
        """The inner client's model info."""
        return self.inner.model_info


def bounded(client: ChatCompletionClient, limits: ModelLimits | None = None) -> BoundedClient:
    """``client`` itself when already bounded, else wrapped in a :class:`BoundedClient`."""
    if isinstance(client, BoundedClient):
        return client
    return BoundedClient(client, limits=limits)


@dataclass(frozen=True)
class ModelHandle:
    """The shared client (None without a model) and how to report it."""

    client: ChatCompletionClient | None
    use: ModelUse
    limits: ModelLimits = field(default_factory=ModelLimits)


@dataclass(frozen=True)
class ModelSpec:
    """A parsed ``--model`` value."""

    backend: Literal["none", "auto", "ollama", "openai", "llamacpp"]
    name: str = ""
    """Model name (ollama, openai) or GGUF path (llamacpp)."""
    base_url: str = ""
    """openai only: the server's base URL, e.g. http://127.0.0.1:8080/v1."""


# scheme://host[:port][/path-without-colons]:NAME — a host may be [v6]; digits after the
# host's colon are always its port (possessive: never re-read as a model name).
_OPENAI = re.compile(
    r"^(https?://(?:\[[^\]]+\]|[^/:\s\[\]]+)(?::\d+(?=[/:]|$))?+(?:/[^:\s]*)?):(\S.*)$"
)


def parse(spec: str) -> ModelSpec:
    """Parse a ``--model`` value.

    Raises:
        ModelSpecError: unknown backend or missing part.
    """
    text = spec.strip()
    if text in ("none", "auto"):
        return ModelSpec(text)  # type: ignore[arg-type]
    backend, sep, rest = text.partition(":")
    rest = rest.strip()
    if backend == "ollama":
        if not sep or not rest:
            raise ModelSpecError("ollama needs a model name, e.g. --model ollama:llama3.1:8b")
        return ModelSpec("ollama", rest)
    if backend == "openai":
        m = _OPENAI.match(rest)
        if not m:
            raise ModelSpecError(
                "openai needs a base URL and a model name, e.g. "
                "--model openai:http://127.0.0.1:8080/v1:qwen2.5-3b-instruct"
            )
        return ModelSpec("openai", m.group(2), base_url=m.group(1))
    if backend == "llamacpp":
        if not rest:
            raise ModelSpecError("llamacpp needs a GGUF file, e.g. --model llamacpp:model.gguf")
        return ModelSpec("llamacpp", rest)
    raise ModelSpecError(f"unknown model spec {spec!r}; use {SPEC_HELP}")


def parse_spec(spec: str) -> tuple[str, str]:
    """``(backend, name)`` for a spec (``openai``: name is ``BASE_URL:NAME``).

    Raises:
        ModelSpecError: unknown backend or missing model name.
    """
    p = parse(spec)
    if p.backend == "openai":
        return p.backend, f"{p.base_url}:{p.name}"
    return p.backend, p.name


def ollama_host() -> str:
    """``OLLAMA_HOST`` with a scheme, or the default."""
    host = os.environ.get("OLLAMA_HOST", "").strip() or DEFAULT_OLLAMA_HOST
    return host if "://" in host else f"http://{host}"


async def _ollama_models(host: str, timeout_s: float) -> list[str] | None:
    """Model names Ollama serves, or None when it does not answer in time."""
    try:
        async with httpx.AsyncClient(timeout=timeout_s) as client:
            reply = await client.get(f"{host}/api/tags")
            reply.raise_for_status()
            return [m.get("name", "") for m in reply.json().get("models", [])]
    except (httpx.HTTPError, ValueError):
        return None


def _handle(
    client: ChatCompletionClient, use: ModelUse, limits: ModelLimits, style: JsonStyle
) -> ModelHandle:
    return ModelHandle(BoundedClient(client, limits=limits, json_style=style), use, limits)


async def resolve(
    spec: str,
    *,
    probe_timeout_s: float = PROBE_TIMEOUT_S,
    limits: ModelLimits | None = None,
) -> ModelHandle:
    """Open the model a spec names. Never hangs longer than the probe timeout for ``auto``.

    Args:
        spec: the ``--model`` value.
        probe_timeout_s: how long Ollama gets to answer ``/api/tags``.
        limits: concurrency and budgets (default :class:`ModelLimits`).

    Raises:
        ModelSpecError: a malformed spec, or a GGUF file that cannot be loaded.
    """
    limits = limits or ModelLimits()
    p = parse(spec)
    if p.backend == "none":
        return ModelHandle(
            None,
            ModelUse(backend="none", available=False, note="disabled with --model none"),
            limits,
        )
    if p.backend == "llamacpp":
        try:
            client = await asyncio.to_thread(open_llamacpp, p.name, max_tokens=limits.max_tokens)
        except LlamaCppError as exc:
            raise ModelSpecError(str(exc)) from exc
        # One in-process model serves one request at a time: queue here, not on its lock.
        one = replace(limits, max_concurrency=1)
        return _handle(
            client,
            ModelUse(backend="llamacpp", name=Path(p.name).name, available=True),
            one,
            "json_object_schema",
        )
    if p.backend == "openai":
        return _handle(
            open_openai(p.base_url, p.name, os.environ.get("OPENAI_API_KEY", "")),
            ModelUse(backend="openai", name=p.name, available=True),
            limits,
            "json_object_schema",
        )
    host = ollama_host()
    models = await _ollama_models(host, probe_timeout_s)
    if models is None:
        note = f"no model server answered at {host}; running on baseline probes only"
        return ModelHandle(None, ModelUse(backend="none", available=False, note=note), limits)
    name = p.name
    if p.backend == "auto":
        wanted = os.environ.get("STRATA_OLLAMA_MODEL", "").strip() or DEFAULT_OLLAMA_MODEL
        name = wanted if wanted in models or not models else models[0]
    if models and name not in models:
        note = f"Ollama at {host} does not serve {name!r} (it has: {', '.join(models[:5])})"
        return ModelHandle(
            None, ModelUse(backend="none", name=name, available=False, note=note), limits
        )
    return _handle(
        open_ollama(host, name),
        ModelUse(backend="ollama", name=name, available=True),
        limits,
        "ollama",
    )
