"""One incident's use of the shared model: every request timed, counted and budgeted.

A :class:`ModelSession` is opened per diagnosis over the process-wide
:class:`agents.llm.BoundedClient`. Each request names who asked and why; the
session records a :class:`agents.models.ModelCall` (start and end offsets from the
fan-out, time queued for a model slot, tokens, status), charges the tokens to the
asker's budget and to the incident's, and refuses a request once either is spent
(:class:`BudgetSpent`): loops on a local model stop here.

It never interprets a reply.
"""

from __future__ import annotations

import json
import time
from collections.abc import Sequence

from autogen_core.models import CreateResult, LLMMessage
from autogen_core.tools import Tool, ToolSchema
from pydantic import BaseModel

from agents.llm import BoundedClient, ModelLimits
from agents.models import ModelCall

__all__ = ["BudgetSpent", "ModelSession"]


class BudgetSpent(RuntimeError):
    """A specialist's or the incident's token budget is used up; nothing was sent."""


def _estimate(messages: Sequence[LLMMessage]) -> int:
    # About four characters a token: only used when a backend reports no usage.
    text = json.dumps([m.model_dump(mode="json") for m in messages])
    return max(1, len(text) // 4)


class ModelSession:
    """Requests of one incident to the shared model, with their ledger."""

    def __init__(self, client: BoundedClient, *, started: float | None = None) -> None:
        self.client = client
        self.started = time.perf_counter() if started is None else started
        self.calls: list[ModelCall] = []
        self.spent: dict[str, int] = {}

    @property
    def limits(self) -> ModelLimits:
        """The shared client's limits."""
        return self.client.limits

    @property
    def tokens(self) -> int:
        """Tokens spent on this incident so far."""
        return sum(self.spent.values())

    def left(self, who: str) -> int:
        """Tokens ``who`` may still spend (the smaller of its and the incident's budget)."""
        mine = self.limits.specialist_tokens - self.spent.get(who, 0)
        return min(mine, self.limits.incident_tokens - self.tokens)

    def _record(
        self,
        who: str,
        purpose: str,
        asked: float,
        waited: float,
        status: str,
        usage: tuple[int, int] = (0, 0),
    ) -> None:
        self.calls.append(
            ModelCall.model_validate(
                {
                    "by": who,
                    "purpose": purpose,
                    "start_s": round(asked - self.started, 4),
                    "end_s": round(time.perf_counter() - self.started, 4),
                    "wait_s": round(waited, 4),
                    "prompt_tokens": usage[0],
                    "completion_tokens": usage[1],
                    "status": status,
                }
            )
        )
        self.spent[who] = self.spent.get(who, 0) + usage[0] + usage[1]

    async def ask(
        self,
        who: str,
        purpose: str,
        messages: Sequence[LLMMessage],
        *,
        tools: Sequence[Tool | ToolSchema] = (),
        schema: type[BaseModel] | None = None,
    ) -> CreateResult:
        """Send one request; the reply is the backend's, uninterpreted.

        Args:
            who: the asker (a layer, or ``narrative``); its budget is charged.
            purpose: ``probe``, ``answer``, ``retry`` or ``summary`` (for the timings).
            messages: the conversation.
            tools: tool schemas the model may call.
            schema: ask for JSON shaped like this model (the backend's own way).

        Raises:
            BudgetSpent: ``who``'s or the incident's tokens are used up.
            TimeoutError: no reply within ``limits.call_timeout_s`` of getting a model slot.
            Exception: whatever the backend raises (transport, server, parse errors).
        """
        if self.left(who) <= 0:
            raise BudgetSpent(
                f"{who}: token budget spent ({self.spent.get(who, 0)} of "
                f"{self.limits.specialist_tokens}; incident {self.tokens} of "
                f"{self.limits.incident_tokens})"
            )
        if schema is not None:
            json_output, extra = self.client.structured(schema)
        else:
            json_output, extra = None, self.client.capped()
        asked = time.perf_counter()
        try:
            result, waited = await self.client.timed_create(
                messages,
                tools=tools,
                json_output=json_output,
                extra_create_args=extra,
                timeout_s=self.limits.call_timeout_s,
            )
        except TimeoutError:
            self._record(who, purpose, asked, 0.0, "timeout")
            raise
        except Exception:
            self._record(who, purpose, asked, 0.0, "error", (_estimate(messages), 0))
            raise
        usage = (result.usage.prompt_tokens, result.usage.completion_tokens)
        if usage == (0, 0):
            reply = result.content if isinstance(result.content, str) else str(result.content)
            usage = (_estimate(messages), max(1, len(reply) // 4))
        self._record(who, purpose, asked, waited, "ok", usage)
        return result
