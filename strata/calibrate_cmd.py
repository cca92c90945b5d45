"""``strata calibrate DIR... --out FILE``: fit the confidence mapping on a corpus.

Runs the multi-agent evaluation over the chosen split (train by default), fits
:func:`agents.calibration.fit` on every answered scenario's (features, root cause
right) pair, writes the calibration JSON to FILE and prints what it fitted. Exit status:
0 written, 1 nothing to fit or some scenarios could not be evaluated (FILE is still
written when there was something to fit), 2 bad input.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

from strata.eval_cmd import add_common, collect


def add_parser(subparsers: Any) -> None:
    """Register ``strata calibrate``."""
    p = subparsers.add_parser(
        "calibrate", help="fit confidence calibration on a scenario corpus (writes JSON)"
    )
    add_common(p, split_default="train")
    p.add_argument("--out", required=True, metavar="FILE", help="where to write the JSON")
    p.add_argument("--l2", type=float, default=1.0, help="ridge penalty (default 1.0)")


def _write(out: Path, text: str) -> Path:
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(text, encoding="utf-8")
    return out


async def run(args: argparse.Namespace) -> int:
    """``strata calibrate``."""
    from agents.calibration import CalibrationError, active_calibration, fit

    outcome = await collect(args, single_agent=False)
    if isinstance(outcome, int):
        return outcome
    samples = [
        (r.features, r.answer_correct)
        for r in outcome.results
        if r.error is None and r.verdict != "failed"
    ]
    errors = [r for r in outcome.results if r.error is not None]
    for r in errors:
        print(f"strata: not used: {r.path}: {r.error}", file=sys.stderr)
    dirs = " ".join(args.dirs)
    try:
        cal = fit(
            samples,
            l2=args.l2,
            source=f"strata calibrate {dirs} --split {args.split} --model {args.model}",
        )
    except CalibrationError as exc:
        print(f"strata: {exc}", file=sys.stderr)
        return 1
    out = _write(Path(args.out), cal.model_dump_json(indent=2) + "\n")
    in_use = active_calibration()
    m = cal.training_metrics
    print(f"wrote {out}")
    print(
        f"fitted on {cal.training_size} scenarios ({cal.training_correct} answered right), "
        f"{len(errors)} not evaluable, {len(outcome.skipped)} unlabelled skipped"
    )
    print(f"intercept {cal.intercept:+.3f}; coefficients on standardised features:")
    for name, c in zip(cal.features, cal.coef, strict=True):
        sign = {1: " (>= 0)", -1: " (<= 0)"}.get(cal.monotone.get(name, 0), "")
        print(f"  {name:<18} {c:+.3f}{sign}")
    print(f"abstain below {cal.threshold:.3f}: {cal.threshold_rule}")
    print(
        f"training: ECE {m['ece']:.3f}  Brier {m['brier']:.3f}  "
        f"confident-wrong {m['confident_wrong']:.0f}  abstained {m['abstention_rate']:.1%}"
    )
    print(
        "(the run itself used "
        + ("the plain score" if in_use is None else f"the calibration fitted {in_use.fitted_at}")
        + "; features do not depend on it)"
    )
    return 1 if errors else 0
