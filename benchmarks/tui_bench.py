"""UI responsiveness benchmark: how fast a key press is handled while a replay is in flight.

Usage: .venv/bin/python benchmarks/tui_bench.py [--runs 5] [--keys 40] [SCENARIO_DIR]

Each run starts the App headless (120×40, no model) on a scenario, opens it (the replay
starts as a worker: recorded Prometheus, six specialists, reconciliation) and, while the
investigation is in flight, sends a key every 20 ms. A key's latency is the time from
posting it to the moment its binding's action runs. The same is measured with the App
idle as the baseline, and the first key sent right after opening the incident (it waits
for the investigation screen to mount). Prints per-run medians/p95/max and the median of
the run medians.
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import ClassVar

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from textual import events  # noqa: E402
from textual.binding import Binding, BindingType  # noqa: E402

from tui.app import StrataApp  # noqa: E402
from tui.feedback import FeedbackStore  # noqa: E402
from tui.providers import ScenarioProvider  # noqa: E402

KEY_GAP_S = 0.02


class ProbeApp(StrataApp):
    """The App with one extra binding whose action notes when it ran."""

    CSS_PATH = [ROOT / "tui" / str(p) for p in StrataApp.CSS_PATH]  # noqa: RUF012

    BINDINGS: ClassVar[list[BindingType]] = [
        *StrataApp.BINDINGS,
        Binding("f12", "probe", "probe", show=False, priority=True),
    ]
    handled: list[float]

    def action_probe(self) -> None:
        self.handled.append(time.perf_counter())


async def _keys(app: ProbeApp, count: int, while_busy: bool) -> list[float]:
    """Latencies (s) of ``count`` key presses; with ``while_busy``, only while diagnosing."""
    out: list[float] = []
    for _ in range(count):
        if while_busy and not any(e.status == "diagnosing" for e in app.entries.values()):
            break
        app.handled = []
        sent = time.perf_counter()
        app.post_message(events.Key("f12", None))
        while not app.handled:  # noqa: ASYNC110 (polling is the measurement)
            await asyncio.sleep(0.0005)
        out.append(app.handled[0] - sent)
        await asyncio.sleep(KEY_GAP_S)
    return out


async def one_run(scenario: Path, keys: int) -> tuple[list[float], list[float], float]:
    with tempfile.TemporaryDirectory() as tmp:
        app = ProbeApp(
            ScenarioProvider([scenario]),
            model_spec="none",
            store=FeedbackStore(Path(tmp) / "db.sqlite3"),
            show_timings=False,
            open_single=False,
        )
        app.handled = []
        async with app.run_test(size=(120, 40)) as pilot:
            await pilot.pause()
            await app.workers.wait_for_complete()
            idle = await _keys(app, keys, while_busy=False)
            key = next(iter(app.entries))
            opened = time.perf_counter()
            app.open_incident(key)
            # The first key after Enter waits for the investigation screen to mount.
            app.handled = []
            app.post_message(events.Key("f12", None))
            while not app.handled:  # noqa: ASYNC110 (polling is the measurement)
                await asyncio.sleep(0.0005)
            first = app.handled[0] - opened
            while app.entries[key].status != "diagnosing":  # noqa: ASYNC110
                await asyncio.sleep(0.001)
            busy = await _keys(app, keys * 10, while_busy=True)
            await app.workers.wait_for_complete()
            assert app.entries[key].diagnosis is not None
    return idle, busy, first


def _fmt(xs: list[float]) -> str:
    if not xs:
        return "no samples"
    xs = sorted(xs)
    p95 = xs[min(len(xs) - 1, int(0.95 * len(xs)))]
    return (
        f"n={len(xs):3d} median {statistics.median(xs) * 1000:6.2f} ms  "
        f"p95 {p95 * 1000:6.2f} ms  max {xs[-1] * 1000:6.2f} ms"
    )


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--keys", type=int, default=40)
    parser.add_argument(
        "scenario", nargs="?", default=str(ROOT / "scenarios/10_stp_loop_dns_symptoms")
    )
    args = parser.parse_args()
    idle_medians, busy_medians, busy_max, firsts = [], [], [], []
    for i in range(args.runs):
        idle, busy, first = await one_run(Path(args.scenario), args.keys)
        print(f"run {i + 1}: idle {_fmt(idle)}")
        print(f"       replay in flight {_fmt(busy)}")
        print(f"       first key after opening the incident {first * 1000:.1f} ms")
        firsts.append(first)
        idle_medians.append(statistics.median(idle))
        if busy:
            busy_medians.append(statistics.median(busy))
            busy_max.append(max(busy))
    print(
        f"median of {args.runs} runs: idle {statistics.median(idle_medians) * 1000:.2f} ms, "
        f"replay in flight {statistics.median(busy_medians) * 1000:.2f} ms "
        f"(worst single key {max(busy_max) * 1000:.1f} ms; target < 100 ms); "
        f"first key after opening {statistics.median(firsts) * 1000:.1f} ms"
    )


if __name__ == "__main__":
    asyncio.run(main())
