"""Replay benchmark: median wall time per seed scenario and how much the specialists overlap.

Usage: .venv/bin/python benchmarks/replay_bench.py [--runs 5] [SCENARIO_DIR ...]

Overlap = (sum of specialist durations) / (wall time from first start to last end).
1.0 means they ran one after another; 4.0 means four ran fully in parallel.
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from agents.llm import resolve  # noqa: E402
from agents.replay import replay  # noqa: E402


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("scenarios", nargs="*")
    args = parser.parse_args()
    paths = [Path(p) for p in args.scenarios] or sorted(
        p for p in (ROOT / "scenarios").iterdir() if (p / "scenario.yaml").is_file()
    )
    model = await resolve("none")
    print(
        f"{'scenario':<32} {'total p50':>9} {'setup p50':>9} {'fan-out p50':>11} {'overlap p50':>11}"
    )
    for path in paths:
        totals, setups, fanouts, overlaps = [], [], [], []
        for _ in range(args.runs):
            d = await replay(path, model)
            spans = d.timings.spans
            wall = max(e for _, e in spans.values()) - min(s for s, _ in spans.values())
            busy = sum(e - s for s, e in spans.values())
            totals.append(d.timings.total_s)
            setups.append(d.timings.setup_s)
            fanouts.append(wall)
            overlaps.append(busy / wall if wall > 0 else 0.0)
        print(
            f"{path.name:<32} {statistics.median(totals):>8.2f}s {statistics.median(setups):>8.2f}s "
            f"{statistics.median(fanouts):>10.3f}s {statistics.median(overlaps):>10.2f}x"
        )


if __name__ == "__main__":
    asyncio.run(main())
