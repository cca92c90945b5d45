"""Replay a recorded incident: load it, open its recorded sources, diagnose.

The Incident handed to the specialists is built from the alert, the clock, the
window and the topology only: a scenario's labelled answer never reaches them.
"""

from __future__ import annotations

import time
from pathlib import Path

from agents.coordinator import ProgressFn, diagnose
from agents.llm import ModelHandle
from agents.models import Diagnosis, Incident
from agents.single_agent import diagnose_single
from tools.scenario.loader import Scenario, load_scenario
from tools.scenario.replay import open_recorded_sources


def incident_from_scenario(scenario: Scenario) -> Incident:
    """The incident as an operator would have seen it at ``observed_at``."""
    return Incident(
        alert=scenario.alert,
        observed_at=scenario.meta.observed_at,
        window_start=scenario.meta.window.start,
        topology=scenario.meta.topology,
    )


async def replay_scenario(
    scenario: Scenario,
    model: ModelHandle,
    *,
    progress: ProgressFn | None = None,
    single_agent: bool = False,
) -> Diagnosis:
    """Diagnose a loaded scenario over its recorded sources.

    ``single_agent`` runs the baseline (agents/single_agent.py) instead of the coordinator.
    """
    run = diagnose_single if single_agent else diagnose
    started = time.perf_counter()
    if progress is not None:
        progress("sources", "opening recorded sources")
    async with open_recorded_sources(scenario) as sources:
        setup_s = time.perf_counter() - started
        if progress is not None:
            progress("sources", f"ready in {setup_s:.2f}s; specialists investigating")
        return await run(
            incident_from_scenario(scenario), sources, model, progress=progress, setup_s=setup_s
        )


async def replay(
    path: str | Path,
    model: ModelHandle,
    *,
    progress: ProgressFn | None = None,
    single_agent: bool = False,
) -> Diagnosis:
    """Load the scenario at ``path`` and diagnose it (with the baseline if ``single_agent``).

    Raises:
        tools.scenario.loader.ScenarioError: the scenario is malformed (names file, line, field).
    """
    return await replay_scenario(
        load_scenario(path), model, progress=progress, single_agent=single_agent
    )
