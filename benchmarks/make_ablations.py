"""Copies of a corpus's training scenarios with one recorded source removed.

The generator keeps each fault's main evidence almost always, so a fit on its corpus alone
cannot learn that a missing source makes an answer risky. These copies (one source gone
each: SNMP, logs or SSH three times as often as metrics) are evaluated and pooled into the
calibration fit (docs/benchmarks.md, "Calibration"). Every copy's name hashes into the
train split, so a test split is never fitted on.

    python benchmarks/make_ablations.py /tmp/g1k /tmp/abl --count 240 --seed 42
"""

from __future__ import annotations

import argparse
import random
import shutil
import sys
from pathlib import Path

from agents.evaluation import split_of

SOURCES = ("snmp.jsonl", "logs.jsonl", "ssh.jsonl", "metrics.om")


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("corpus", type=Path, help="a generated corpus (scenario directories)")
    p.add_argument("out", type=Path, help="where the copies go (must not exist)")
    p.add_argument("--count", type=int, default=240)
    p.add_argument("--seed", type=int, default=42)
    args = p.parse_args(argv)
    if args.out.exists():
        print(f"{args.out} exists; refusing to mix ablations", file=sys.stderr)
        return 2
    rng = random.Random(args.seed)
    names = sorted(
        d.name
        for d in args.corpus.iterdir()
        if (d / "scenario.yaml").is_file() and split_of(d.name) == "train"
    )
    args.out.mkdir(parents=True)
    made = 0
    for name in rng.sample(names, min(args.count, len(names))):
        present = [f for f in SOURCES if (args.corpus / name / f).exists()]
        if not present:
            continue
        drop = rng.choices(present, [1 if f == "metrics.om" else 3 for f in present])[0]
        new = next(
            n
            for k in range(1000)
            if split_of(n := f"a{k}-{name}-no-{drop.split('.')[0]}") == "train"
        )
        shutil.copytree(args.corpus / name, args.out / new)
        (args.out / new / drop).unlink()
        made += 1
    print(f"wrote {made} ablated copies to {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
