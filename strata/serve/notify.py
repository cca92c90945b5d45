"""Outbound notification of a finished report: a generic JSON webhook and Slack-style.

Each target gets a few attempts with exponential back-off; a target that still fails
is logged and left. The queue remembers a notification until every target has been
served or given up on, so one cut short by a crash is sent again when the workers
restart (at least once). The report itself is already stored: a notification is a
convenience, never the record.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any, Literal

import httpx

log = logging.getLogger("strata.serve.notify")


@dataclass(frozen=True)
class Target:
    """Where to send: ``json`` posts the summary and the Diagnosis, ``slack`` a text message."""

    kind: Literal["json", "slack"]
    url: str


def slack_message(summary: dict[str, Any], report_url: str | None) -> dict[str, Any]:
    """A Slack incoming-webhook body (``text`` in mrkdwn)."""
    rc = summary.get("root_cause")
    conf = summary.get("confidence")
    head = f"*Strata* — `{summary['alertname']}` ({summary.get('severity') or 'no severity'})"
    if rc:
        line = f"root cause *{rc}*, confidence {conf:.2f} ({summary['status']})"
    else:
        line = f"no root cause ({summary['status']})"
    text = f"{head}\n{line}"
    if report_url:
        text += f"\n<{report_url}|report {summary['id']}>"
    return {"text": text}


class Notifier:
    """Sends to every target; retries each on its own."""

    def __init__(
        self,
        targets: list[Target],
        *,
        attempts: int = 4,
        backoff_s: float = 1.0,
        timeout_s: float = 10.0,
        public_url: str | None = None,
    ) -> None:
        self.targets = targets
        self.attempts = attempts
        self.backoff_s = backoff_s
        self.timeout_s = timeout_s
        self.public_url = public_url.rstrip("/") if public_url else None
        self._tasks: set[asyncio.Task[None]] = set()

    def submit(
        self,
        summary: dict[str, Any],
        diagnosis: dict[str, Any] | None,
        on_done: Callable[[], Awaitable[None]] | None = None,
    ) -> None:
        """Send to every target in the background (the worker goes on to its next job);
        ``on_done`` runs once every target has been served or given up on."""
        task = asyncio.create_task(self._send_all(summary, diagnosis, on_done))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _send_all(
        self,
        summary: dict[str, Any],
        diagnosis: dict[str, Any] | None,
        on_done: Callable[[], Awaitable[None]] | None,
    ) -> None:
        await asyncio.gather(*(self._send(t, summary, diagnosis) for t in self.targets))
        if on_done is not None:
            await on_done()

    async def drain(self, timeout_s: float) -> None:
        """Wait for sends in flight (at shutdown), at most ``timeout_s``."""
        if self._tasks:
            await asyncio.wait(set(self._tasks), timeout=timeout_s)

    async def _send(
        self, target: Target, summary: dict[str, Any], diagnosis: dict[str, Any] | None
    ) -> None:
        url = f"{self.public_url}/api/incidents/{summary['id']}" if self.public_url else None
        body: dict[str, Any] = (
            slack_message(summary, url)
            if target.kind == "slack"
            else {"incident": summary, "diagnosis": diagnosis, "url": url}
        )
        delay = self.backoff_s
        async with httpx.AsyncClient(timeout=self.timeout_s) as client:
            for attempt in range(1, self.attempts + 1):
                try:
                    reply = await client.post(target.url, json=body)
                    if reply.status_code < 300:
                        log.info(
                            "notified",
                            extra={"incident": summary["id"], "target": target.kind,
                                   "attempt": attempt},
                        )  # fmt: skip
                        return
                    problem = f"HTTP {reply.status_code}"
                except httpx.HTTPError as exc:
                    # An error message may quote the URL, and a Slack webhook URL is a secret.
                    problem = f"{type(exc).__name__}: {exc}".replace(target.url, "<target>")
                log.warning(
                    "notification failed",
                    extra={"incident": summary["id"], "target": target.kind,
                           "attempt": attempt, "error": problem},
                )  # fmt: skip
                if attempt < self.attempts:
                    await asyncio.sleep(delay)
                    delay *= 2
