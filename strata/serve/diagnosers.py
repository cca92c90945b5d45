"""What a worker runs for one alert group: a diagnosis over recorded or live sources.

``--scenario DIR`` diagnoses every incoming group against that recorded scenario's
sources and clock (demos, tests, benchmarks); ``--config FILE`` diagnoses it over the
live sources of the configuration, with the window ending now. Both hand the
incoming alert group, not the scenario's, to the specialists.

In live mode the switches are polled all the time, not only when an alert comes:
:func:`open_live_diagnoser` keeps one SNMP source polling every configured device in the
background for as long as the worker process runs, and every diagnosis reads its history,
so the network specialist sees the counters from before the fault as well as after.
"""

from __future__ import annotations

import logging
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from datetime import UTC, datetime, timedelta

from agents.coordinator import ProgressFn, diagnose
from agents.llm import ModelHandle
from agents.models import Diagnosis, Incident
from tools.alertmanager.webhook import WebhookPayload
from tools.config import StrataConfig
from tools.scenario.loader import Scenario
from tools.scenario.replay import open_recorded_sources
from tools.snmp.live import LiveSnmp
from tools.timeutil import iso

log = logging.getLogger("strata.serve.diagnosers")

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


def live_diagnoser(
    config: StrataConfig, model: ModelHandle, *, snmp: LiveSnmp | None = None
) -> Diagnoser:
    """Diagnose each group over the configuration's live sources, the window ending now.

    Args:
        config: the configuration.
        model: the model.
        snmp: a LiveSnmp that keeps polling the configured devices (its history is read);
            None: each diagnosis polls the devices ``snmp.polls`` times itself.
    """
    from tools.live import open_live_sources

    async def run(alert: WebhookPayload, progress: ProgressFn) -> Diagnosis:
        started = time.perf_counter()
        async with open_live_sources(config, snmp=snmp) as sources:
            now = datetime.now(UTC)
            now = now.replace(microsecond=now.microsecond // 1000 * 1000)
            if snmp is not None:
                polls = {name: snmp.poll_times(name) for name in snmp.devices()}
                log.info(
                    "snmp history",
                    extra={
                        "snmp_polls": {name: len(times) for name, times in polls.items()},
                        "snmp_since": {
                            name: iso(times[0]) for name, times in polls.items() if times
                        },
                        "observed_at": iso(now),
                    },
                )
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


@asynccontextmanager
async def open_live_diagnoser(config: StrataConfig, model: ModelHandle) -> AsyncIterator[Diagnoser]:
    """A live diagnoser whose SNMP devices are polled in the background until exit."""
    from tools.live import open_polled_snmp

    async with open_polled_snmp(config) as snmp:
        yield live_diagnoser(config, model, snmp=snmp)
