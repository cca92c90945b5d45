"""``strata scenarios generate --seed N --count K --out DIR``: write a generated scenario corpus.

The generator (:mod:`tools.scenario.generate`) draws a random site, fault, distractors,
missing sources and alert per scenario from the seed, so the same seed and count give
the same bytes. Progress goes to stderr; the summary line to stdout. Exit status: 0 on
success, 2 for bad arguments.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path
from typing import Any


def add_parser(subparsers: Any) -> None:
    """Register ``strata scenarios`` and its ``generate`` action."""
    p = subparsers.add_parser("scenarios", help="generate scenario corpora")
    actions = p.add_subparsers(dest="scenarios_command", required=True, metavar="ACTION")
    g = actions.add_parser(
        "generate", help="write COUNT generated scenarios (every fault of the vocabulary) to DIR"
    )
    g.add_argument("--seed", type=int, required=True, help="run seed: same seed, same bytes")
    g.add_argument("--count", type=int, required=True, help="how many scenarios")
    g.add_argument("--out", type=Path, required=True, metavar="DIR", help="where to write them")
    g.add_argument(
        "--jobs", type=int, default=2, metavar="N", help="processes to build with (default 2)"
    )
    g.add_argument("-q", "--quiet", action="store_true", help="no progress on stderr")


def run(args: argparse.Namespace) -> int:
    """Run ``strata scenarios ACTION``."""
    from tools.scenario.generate import generate

    if args.count < 1 or args.jobs < 1:
        print("strata: --count and --jobs must be at least 1", file=sys.stderr)
        return 2
    if args.out.exists() and not args.out.is_dir():
        print(f"strata: {args.out} exists and is not a directory", file=sys.stderr)
        return 2

    def progress(done: int, total: int, path: Path) -> None:
        if not args.quiet:
            print(f"  [{done}/{total}] {path.name}", file=sys.stderr, flush=True)

    started = time.perf_counter()
    paths = generate(args.seed, args.count, args.out, progress, workers=args.jobs)
    size = sum(f.stat().st_size for p in paths for f in p.iterdir())
    print(
        f"wrote {len(paths)} scenarios to {args.out} in {time.perf_counter() - started:.1f}s "
        f"({size / len(paths) / 1024:.0f} KiB each on average)"
    )
    return 0
