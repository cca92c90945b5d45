"""Model selection: turn ``--model SPEC`` into one shared chat client, or none.

Specs: ``none``; ``auto`` (Ollama when it answers a short probe, else none);
``ollama:NAME``. Without a model Strata runs its deterministic baseline and says
so once. The model never decides the root cause on its own.
"""

from __future__ import annotations

import os
from dataclasses import dataclass

import httpx
from autogen_core.models import ChatCompletionClient, ModelFamily, ModelInfo

from agents.models import ModelUse

DEFAULT_OLLAMA_HOST = "http://127.0.0.1:11434"
DEFAULT_OLLAMA_MODEL = "llama3.1:8b"
PROBE_TIMEOUT_S = 0.5
"""How long ``auto`` waits for Ollama before running without a model."""


class ModelSpecError(ValueError):
    """The ``--model`` value cannot be understood."""


@dataclass(frozen=True)
class ModelHandle:
    """The shared client (None without a model) and how to report it."""

    client: ChatCompletionClient | None
    use: ModelUse


def ollama_host() -> str:
    """``OLLAMA_HOST`` with a scheme, or the default."""
    host = os.environ.get("OLLAMA_HOST", "").strip() or DEFAULT_OLLAMA_HOST
    return host if "://" in host else f"http://{host}"


def parse_spec(spec: str) -> tuple[str, str]:
    """``(backend, name)`` for a spec.

    Raises:
        ModelSpecError: unknown backend or missing model name.
    """
    text = spec.strip()
    if text in ("none", "auto"):
        return text, ""
    backend, sep, name = text.partition(":")
    if backend == "ollama":
        if not sep or not name:
            raise ModelSpecError("ollama needs a model name, e.g. --model ollama:llama3.1:8b")
        return backend, name
    raise ModelSpecError(f"unknown model spec {spec!r}; use none, auto or ollama:NAME")


async def _ollama_models(host: str, timeout_s: float) -> list[str] | None:
    """Model names Ollama serves, or None when it does not answer in time."""
    try:
        async with httpx.AsyncClient(timeout=timeout_s) as client:
            reply = await client.get(f"{host}/api/tags")
            reply.raise_for_status()
            return [m.get("name", "") for m in reply.json().get("models", [])]
    except (httpx.HTTPError, ValueError):
        return None


def _ollama_client(host: str, name: str) -> ChatCompletionClient:
    from autogen_ext.models.ollama import OllamaChatCompletionClient

    info = ModelInfo(
        vision=False,
        function_calling=True,
        json_output=True,
        family=ModelFamily.UNKNOWN,
        structured_output=True,
    )
    return OllamaChatCompletionClient(model=name, host=host, model_info=info)


async def resolve(spec: str, *, probe_timeout_s: float = PROBE_TIMEOUT_S) -> ModelHandle:
    """Open the model a spec names. Never hangs longer than the probe timeout for ``auto``.

    Raises:
        ModelSpecError: a malformed spec.
    """
    backend, name = parse_spec(spec)
    if backend == "none":
        return ModelHandle(
            None, ModelUse(backend="none", available=False, note="disabled with --model none")
        )
    host = ollama_host()
    models = await _ollama_models(host, probe_timeout_s)
    if models is None:
        note = f"no model server answered at {host}; running on baseline probes only"
        return ModelHandle(None, ModelUse(backend="none", available=False, note=note))
    if backend == "auto":
        wanted = os.environ.get("STRATA_OLLAMA_MODEL", "").strip() or DEFAULT_OLLAMA_MODEL
        name = wanted if wanted in models or not models else models[0]
    if models and name not in models:
        note = f"Ollama at {host} does not serve {name!r} (it has: {', '.join(models[:5])})"
        return ModelHandle(None, ModelUse(backend="none", name=name, available=False, note=note))
    return ModelHandle(
        _ollama_client(host, name), ModelUse(backend="ollama", name=name, available=True)
    )
