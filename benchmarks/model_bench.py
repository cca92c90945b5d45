"""Model benchmark: what ``--model auto`` costs without Ollama, and a real small model's run.

Usage: .venv/bin/python benchmarks/model_bench.py [--runs 5] [--gguf PATH] [SCENARIO_DIR]

Part 1 runs ``strata replay SCENARIO --json`` as a user would (a fresh process each
time) with ``--model none`` and with ``--model auto`` while nothing listens at
``OLLAMA_HOST``, alternating, and prints the median wall times and their difference.
Part 2 (with ``--gguf``) replays the scenario once in process with
``llamacpp:GGUF`` and prints the diagnosis and every model call (who, when, tokens).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import socket
import statistics
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from agents.llm import resolve  # noqa: E402
from agents.replay import replay  # noqa: E402


def _closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _run(scenario: Path, spec: str, env: dict[str, str]) -> tuple[float, str, str]:
    started = time.perf_counter()
    done = subprocess.run(
        [sys.executable, "-m", "strata", "replay", str(scenario), "--json", "--model", spec],
        capture_output=True,
        text=True,
        env=env,
        check=False,
    )
    wall = time.perf_counter() - started
    rc = json.loads(done.stdout)["root_cause"]
    notices = [line for line in done.stderr.splitlines() if "without a model" in line]
    return wall, f"{rc['layer']}/{rc['fault']}/{rc['component']}", f"{len(notices)} notice(s)"


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--gguf", type=Path)
    parser.add_argument(
        "scenario", nargs="?", type=Path, default=ROOT / "scenarios" / "10_stp_loop_dns_symptoms"
    )
    args = parser.parse_args()
    env = {**os.environ, "OLLAMA_HOST": f"127.0.0.1:{_closed_port()}"}
    walls: dict[str, list[float]] = {"none": [], "auto": []}
    for _ in range(args.runs):
        for spec in ("none", "auto"):
            wall, answer, notices = _run(args.scenario, spec, env)
            walls[spec].append(wall)
            print(f"{spec:<5} {wall:6.2f}s {answer} {notices}")
    none, auto = statistics.median(walls["none"]), statistics.median(walls["auto"])
    print(f"median: none {none:.2f}s, auto {auto:.2f}s, difference {auto - none:+.2f}s")

    if args.gguf:
        model = await resolve(f"llamacpp:{args.gguf}")
        started = time.perf_counter()
        d = await replay(args.scenario, model)
        rc = d.root_cause
        print(
            f"llamacpp: {time.perf_counter() - started:.1f}s, "
            f"{rc.layer if rc else '-'}/{rc.fault if rc else '-'}/{rc.component if rc else '-'} "
            f"confidence {d.confidence:.2f}"
        )
        for c in d.timings.model_calls:
            print(
                f"  {c.by:<14} {c.purpose:<8} {c.start_s:7.1f}–{c.end_s:7.1f}s "
                f"queued {c.wait_s:6.1f}s  {c.prompt_tokens:5d}+{c.completion_tokens:<4d} {c.status}"
            )
        if d.model_review:
            r = d.model_review
            print(
                f"  review: findings {r.findings_kept}/{r.findings_proposed}, hypotheses "
                f"{r.hypotheses_kept}/{r.hypotheses_proposed}, retries {r.retries}, "
                f"fallbacks {list(r.fallbacks)}, tokens {r.tokens}"
            )


if __name__ == "__main__":
    asyncio.run(main())
