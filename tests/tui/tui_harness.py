"""Helpers shared by the UI tests (apps on committed scenarios, waiting for a replay).

A module of its own, not conftest.py: test modules import it by name, and a conftest
module's name is shared with every other test directory's.
"""

from __future__ import annotations

import asyncio
import os
import time
from pathlib import Path

from textual.pilot import Pilot

from tui.app import StrataApp
from tui.feedback import FeedbackStore
from tui.providers import ScenarioProvider, scenario_dirs

ROOT = Path(__file__).resolve().parents[2]
SCENARIOS = ROOT / "scenarios"
STP = SCENARIOS / "10_stp_loop_dns_symptoms"


def make_stp_app(store: FeedbackStore, **kw: object) -> StrataApp:
    """The UI on the STP-loop scenario, without a model and with stable rendering."""
    return StrataApp(
        ScenarioProvider([STP]),
        model_spec="none",
        store=store,
        show_timings=False,
        reports_dir=Path(os.environ["STRATA_DATA_DIR"]) / "reports",
        **kw,  # type: ignore[arg-type]
    )


SNAPSHOT_CORPUS = (
    "01_coredns_oom_query_flood",
    "03_disk_pressure",
    "09_certificate_expiry",
    "10_stp_loop_dns_symptoms",
    "20_no_fault_cpu_throttling",
)
"""A fixed part of the corpus for pictures: new scenarios must not change them."""


def make_corpus_app(store: FeedbackStore, *, whole: bool = False) -> StrataApp:
    """The UI on committed scenarios (nothing diagnosed until asked): a fixed few, or all."""
    paths = scenario_dirs(SCENARIOS) if whole else [SCENARIOS / n for n in SNAPSHOT_CORPUS]
    return StrataApp(
        ScenarioProvider(paths),
        model_spec="none",
        store=store,
        show_timings=False,
    )


async def wait_settled(pilot: Pilot[None], timeout_s: float = 60.0) -> None:
    """Until every open investigation has its report and no worker runs.

    The investigation screen starts its worker after its first paint, so waiting for the
    workers alone could return before the worker exists.
    """
    from tui.screens.investigation import InvestigationScreen

    app = pilot.app
    assert isinstance(app, StrataApp)
    deadline = time.monotonic() + timeout_s
    while True:
        await pilot.pause()
        await app.workers.wait_for_complete()
        open_keys = [s.key for s in app.screen_stack if isinstance(s, InvestigationScreen)]
        busy = [
            k
            for k in open_keys
            if app.entries[k].finished == 0 or app.entries[k].status == "diagnosing"
        ]
        if not busy:
            break
        if time.monotonic() > deadline:
            raise TimeoutError(f"still investigating: {busy}")
        await asyncio.sleep(0.02)
    await pilot.pause()
