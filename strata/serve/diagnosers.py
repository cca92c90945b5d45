"""What a worker runs for one alert group: a diagnosis over recorded or live sources.

``--scenario DIR`` diagnoses every incoming group against that recorded scenario's
sources and clock (demos, tests, benchmarks); ``--config FILE`` diagnoses it over the
live sources of the configuration, with the window ending now. Both hand the
incoming alert group, not the scenario's, to the specialists.
"""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime, timedelta

from agents.coordinator import ProgressFn, diagnose
from agents.llm import ModelHandle
from agents.models import Diagnosis, Incident
from tools.alertmanager.webhook import WebhookPayload
from tools.config import StrataConfig
from tools.scenario.loader import Scenario
from tools.scenario.replay import open_recorded_sources

Diagnoser = Callable[[WebhookPayload, ProgressFn], Awaitable[Diagnosis]]
"""Diagnose one alert group; may raise for trouble outside the diagnosis (sources)."""


def scenario_diagnoser(scenario: Scenario, model: ModelHandle) -> Diagnoser:
    """Diagnose each group over ``scenario``'s recordings, at the scenario's clock."""

    async def run(alert: WebhookPayload, progress: ProgressFn) -> Diagnosis:
        started = time.perf_counter()
        async with open_recorded_sources(scenario) as sources:
            incident = Incident(
                alert=alert,
                observed_at=scenario.meta.observed_at,
                window_start=scenario.meta.window.start,
                topology=scenario.meta.topology,
            )
            return await diagnose(
                incident, sources, model, progress=progress,
                setup_s=time.perf_counter() - started,
            )  # fmt: skip

    return run


def live_diagnoser(config: StrataConfig, model: ModelHandle) -> Diagnoser:
    """Diagnose each group over the configuration's live sources, the window ending now."""
    from tools.live import open_live_sources

    async def run(alert: WebhookPayload, progress: ProgressFn) -> Diagnosis:
        started = time.perf_counter()
        async with open_live_sources(config) as sources:
            now = datetime.now(UTC)
            now = now.replace(microsecond=now.microsecond // 1000 * 1000)
            incident = Incident(
                alert=alert,
                observed_at=now,
                window_start=now - timedelta(minutes=config.window_minutes),
                topology=config.topology,
            )
            return await diagnose(
                incident, sources, model, progress=progress,
                setup_s=time.perf_counter() - started,
            )  # fmt: skip

    return run
