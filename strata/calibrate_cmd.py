"""``strata calibrate DIR... --out FILE``: fit the confidence mapping on a corpus.

Runs the multi-agent evaluation over the chosen split (train by default), fits
:func:`agents.calibration.fit` on every answered scenario's (features, root cause
right) pair, writes the calibration JSON to FILE and prints what it fitted. Exit status:
0 written, 1 nothing to fit or some scenarios could not be evaluated (FILE is still
written when there was something to fit), 2 bad input.

``--from-eval FILE`` (repeatable) fits on the rows of saved ``strata eval --json`` runs
instead of replaying again (features do not depend on the calibration in use, so a run with any
calibration will do); ``--split`` then picks rows by the split recorded in them.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

from strata.eval_cmd import add_common, collect


def add_parser(subparsers: Any) -> None:
    """Register ``strata calibrate``."""
    p = subparsers.add_parser(
        "calibrate", help="fit confidence calibration on a scenario corpus (writes JSON)"
    )
    add_common(p, split_default="train", dirs_optional=True)
    p.add_argument("--out", required=True, metavar="FILE", help="where to write the JSON")
    p.add_argument(
        "--from-eval",
        metavar="FILE",
        action="append",
        help="fit on saved `strata eval --json` runs (multi-agent; repeatable) "
        "instead of replaying DIRs",
    )
    p.add_argument("--l2", type=float, default=1.0, help="ridge penalty (default 1.0)")


def _write(out: Path, text: str) -> Path:
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(text, encoding="utf-8")
    return out


async def run(args: argparse.Namespace) -> int:
    """``strata calibrate``."""
    from agents.calibration import CalibrationError, active_calibration, fit

    if args.from_eval:
        if args.dirs:
            print("strata: give either DIRs or --from-eval, not both", file=sys.stderr)
            return 2
        samples, n_errors, n_skipped = [], 0, 0
        for name in args.from_eval:
            loaded = _from_eval(Path(name), args.split)
            if isinstance(loaded, str):
                print(f"strata: {loaded}", file=sys.stderr)
                return 2
            samples += loaded[0]
            n_errors += loaded[1]
            n_skipped += loaded[2]
        files = " ".join(f"--from-eval {name}" for name in args.from_eval)
        origin = f"{files} --split {args.split}"
    else:
        if not args.dirs:
            print("strata: give scenario DIRs (or --from-eval FILE)", file=sys.stderr)
            return 2
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
        n_errors, n_skipped = len(errors), len(outcome.skipped)
        origin = f"{' '.join(args.dirs)} --split {args.split} --model {args.model}"
    try:
        cal = fit(
            samples,
            l2=args.l2,
            source=f"strata calibrate {origin}",
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
        f"{n_errors} not evaluable, {n_skipped} unlabelled skipped"
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
    return 1 if n_errors else 0


def _from_eval(
    path: Path, split: str
) -> tuple[list[tuple[dict[str, float], bool]], int, int] | str:
    """(samples, rows with errors, unlabelled skipped) from a saved eval, or what is wrong."""
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
        summary, rows = data["summary"], data["results"]
    except (OSError, ValueError, KeyError, TypeError) as exc:
        return f"{path}: not a `strata eval --json` result ({type(exc).__name__}: {exc})"
    if summary.get("mode") != "multi-agent":
        return f"{path}: mode {summary.get('mode')!r}; calibration fits the multi-agent run"
    samples: list[tuple[dict[str, float], bool]] = []
    errors = 0
    for r in rows:
        if split != "all" and r.get("split") != split:
            continue
        if r.get("error"):
            errors += 1
            continue
        if r.get("verdict") == "failed" or not r.get("features"):
            continue
        samples.append(({k: float(v) for k, v in r["features"].items()}, bool(r["answer_correct"])))
    return samples, errors, len(data.get("skipped", []))
