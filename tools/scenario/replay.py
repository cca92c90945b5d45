"""Open a loaded scenario's recordings as the :class:`tools.sources.Sources` agents work with.

Each backend drops everything after the scenario's ``observed_at``. A source whose file is
absent, or whose backend cannot start (the replay Prometheus), is ``None`` with a note saying
why, so that the diagnosis goes on and can say what it could not see. Ground truth is never
part of what this yields.
"""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from contextlib import AsyncExitStack, asynccontextmanager

from tools.errors import ToolError
from tools.logs.recorded import RecordedLogs
from tools.metrics.recorded import RecordedPrometheus
from tools.scenario.loader import Scenario
from tools.snmp.recorded import RecordedSnmp
from tools.sources import Sources
from tools.ssh.recorded import RecordedSsh

log = logging.getLogger(__name__)


@asynccontextmanager
async def open_recorded_sources(scenario: Scenario) -> AsyncIterator[Sources]:
    """``async with open_recorded_sources(scenario) as sources:`` — the replay's data sources.

    The replay Prometheus (if ``metrics.om`` exists) runs for the duration of the block.
    """
    observed_at = scenario.meta.observed_at
    notes: list[str] = []

    def absent(source: str, file: str) -> None:
        notes.append(f"{source}: no {file} in this recording")

    async with AsyncExitStack() as stack:
        metrics: RecordedPrometheus | None = None
        if scenario.metrics_path is None:
            absent("metrics", "metrics.om")
        else:
            try:
                metrics = await stack.enter_async_context(
                    RecordedPrometheus(scenario.metrics_path, observed_at)
                )
            except ToolError as exc:
                log.warning("replaying without metrics: %s", exc)
                notes.append(f"metrics: the replay Prometheus could not start: {exc}")
        logs = snmp = ssh = None
        if scenario.logs is None:
            absent("logs", "logs.jsonl")
        else:
            logs = RecordedLogs(scenario.logs, observed_at)
        if scenario.snmp is None:
            absent("snmp", "snmp.jsonl")
        else:
            snmp = RecordedSnmp(scenario.snmp, observed_at)
        if scenario.ssh is None:
            absent("ssh", "ssh.jsonl")
        else:
            ssh = RecordedSsh(scenario.ssh, observed_at)
        yield Sources(metrics=metrics, logs=logs, snmp=snmp, ssh=ssh, notes=tuple(notes))
