"""The evaluation harness: run a scenario corpus, score every diagnosis, summarise.

Two halves. Pure metrics over :class:`EvalResult` lists (expected calibration error,
Brier score, top-k, per-layer accuracy, the layer confusion table, abstention and
confident-wrong counts, timing quantiles), testable on hand-made lists. And the runner:
find scenario directories, replay each (coordinator or single-agent baseline) with a
concurrency bound, and score it against its ground truth with :mod:`agents.scoring`.

Counting rules (docs/benchmarks.md):
- An abstained or failed diagnosis is not correct for top-1, top-3, component or
  per-layer accuracy, and is never confident-wrong.
- Confident-wrong: diagnosed, not correct, confidence >= :data:`CONFIDENT`.
- ECE and Brier measure the confidence as what it claims to be, P(root cause right):
  over every scored scenario, abstentions included, against whether the named root
  cause is right regardless of the verdict.
- A scenario that fails to load or crashes the runner is a row with ``error`` and is
  left out of every metric; one without ground truth is skipped and counted.

This module (with agents/scoring.py) is the only reader of ground truth; it hands the
agents only what :func:`agents.replay.replay_scenario` hands them. It never prints.
"""

from __future__ import annotations

import asyncio
import hashlib
import logging
import math
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

from agents.calibration import CONFIDENT, features, seen_share
from agents.llm import ModelHandle
from agents.models import Diagnosis, RootCause
from agents.replay import replay_scenario
from agents.scoring import score
from tools.errors import ToolError
from tools.scenario.loader import load_scenario

log = logging.getLogger(__name__)

__all__ = [
    "CONFIDENT",
    "TEST_SHARE",
    "EvalError",
    "EvalResult",
    "EvalRun",
    "brier",
    "confusion",
    "discover",
    "ece",
    "evaluate_scenario",
    "quantile",
    "ranked_answers",
    "run_eval",
    "split_of",
    "summarize",
]

Split = Literal["train", "test", "all"]

TEST_SHARE = 0.3
"""Share of scenarios in the test split (by sha256 of the directory name)."""

TOP_K = 3


class EvalError(ValueError):
    """The evaluation cannot start (a named path does not exist, nothing to run)."""


@dataclass(frozen=True)
class EvalResult:
    """One scenario's outcome."""

    path: str
    expected: RootCause | None
    got: RootCause | None = None
    confidence: float = 0.0
    verdict: str = "error"
    correct: bool = False
    """Layer, fault and component right, and diagnosed (agents/scoring.py)."""
    top1: bool = False
    """Layer and fault right, and diagnosed."""
    top3: bool = False
    """Layer and fault among the first three ranked answers, and diagnosed."""
    answer_correct: bool = False
    """The named root cause is right, whatever the verdict (the calibration label)."""
    seconds: float = 0.0
    error: str | None = None
    """Why it could not be evaluated (left out of every metric)."""
    note: str = ""
    """Why the diagnosis failed, when its verdict is "failed" (it still counts, as wrong)."""
    features: dict[str, float] = field(default_factory=dict)
    split: str = ""

    def to_dict(self) -> dict[str, Any]:
        """The ``results[]`` entry of ``strata eval --json``."""

        def rc(r: RootCause | None) -> dict[str, str] | None:
            return r.model_dump() if r is not None else None

        return {
            "path": self.path,
            "expected": rc(self.expected),
            "got": rc(self.got),
            "confidence": self.confidence,
            "verdict": self.verdict,
            "correct": self.correct,
            "seconds": round(self.seconds, 3),
            "top1": self.top1,
            "top3": self.top3,
            "answer_correct": self.answer_correct,
            "split": self.split,
            "error": self.error,
            "note": self.note,
            "features": {k: round(v, 4) for k, v in self.features.items()},
        }


@dataclass(frozen=True)
class EvalRun:
    """A whole run: one result per labelled scenario, and the unlabelled ones skipped."""

    results: tuple[EvalResult, ...]
    skipped: tuple[str, ...] = ()


# ---------------------------------------------------------------------------- metrics


def ece(confidences: Sequence[float], correct: Sequence[bool], bins: int = 10) -> float:
    """Expected calibration error over ``bins`` equal-width confidence bins (0 when empty).

    Each bin contributes ``share of samples * |accuracy - mean confidence|``; a
    confidence of exactly 1.0 falls in the last bin.
    """
    if not confidences:
        return 0.0
    groups: dict[int, list[tuple[float, bool]]] = {}
    for c, ok in zip(confidences, correct, strict=True):
        groups.setdefault(min(int(c * bins), bins - 1), []).append((c, ok))
    total = 0.0
    for members in groups.values():
        conf = sum(c for c, _ in members) / len(members)
        acc = sum(1 for _, ok in members if ok) / len(members)
        total += len(members) / len(confidences) * abs(acc - conf)
    return total


def brier(confidences: Sequence[float], correct: Sequence[bool]) -> float:
    """Mean squared difference between confidence and outcome (0 when empty)."""
    if not confidences:
        return 0.0
    pairs = zip(confidences, correct, strict=True)
    return sum((c - (1.0 if ok else 0.0)) ** 2 for c, ok in pairs) / len(confidences)


def quantile(values: Sequence[float], q: float) -> float:
    """The ``q`` quantile with linear interpolation between order statistics (0 when empty)."""
    if not values:
        return 0.0
    s = sorted(values)
    pos = q * (len(s) - 1)
    lo, hi = math.floor(pos), math.ceil(pos)
    return s[lo] + (s[hi] - s[lo]) * (pos - lo)


def ranked_answers(diagnosis: Diagnosis) -> list[str]:
    """``layer/fault`` answers best first: the root cause, then other hypotheses by score."""
    out: list[str] = []
    if diagnosis.root_cause is not None:
        out.append(f"{diagnosis.root_cause.layer}/{diagnosis.root_cause.fault}")
    for h in sorted(diagnosis.hypotheses, key=lambda h: -h.score):
        if h.key not in out:
            out.append(h.key)
    return out


def _got_layer(r: EvalResult) -> str:
    if r.verdict != "diagnosed" or r.got is None:
        return f"({r.verdict})"
    return r.got.layer


def confusion(results: Iterable[EvalResult]) -> dict[str, dict[str, int]]:
    """Expected layer -> answered layer ("(abstained)", "(failed)" too) -> count."""
    table: dict[str, dict[str, int]] = {}
    for r in results:
        if r.error is None and r.expected is not None:
            row = table.setdefault(r.expected.layer, {})
            got = _got_layer(r)
            row[got] = row.get(got, 0) + 1
    return {k: dict(sorted(v.items())) for k, v in sorted(table.items())}


def _share(flags: Sequence[bool]) -> float:
    return round(sum(flags) / len(flags), 4) if flags else 0.0


def summarize(results: Sequence[EvalResult], skipped: int = 0) -> dict[str, Any]:
    """The ``summary`` object of ``strata eval --json`` (see the module docstring)."""
    scored = [r for r in results if r.error is None]
    conf = [r.confidence for r in scored]
    label = [r.answer_correct for r in scored]
    seconds = [r.seconds for r in scored]
    by_layer: dict[str, dict[str, Any]] = {}
    for layer in sorted({r.expected.layer for r in scored if r.expected is not None}):
        mine = [r for r in scored if r.expected is not None and r.expected.layer == layer]
        by_layer[layer] = {
            "scenarios": len(mine),
            "top1_accuracy": _share([r.top1 for r in mine]),
            "component_accuracy": _share([r.correct for r in mine]),
        }
    return {
        "scenarios": len(scored),
        "errors": len(results) - len(scored),
        "skipped_unlabelled": skipped,
        "top1_accuracy": _share([r.top1 for r in scored]),
        "top3_accuracy": _share([r.top3 for r in scored]),
        "component_accuracy": _share([r.correct for r in scored]),
        "abstention_rate": _share([r.verdict == "abstained" for r in scored]),
        "failed": sum(1 for r in scored if r.verdict == "failed"),
        "ece": round(ece(conf, label), 4),
        "brier": round(brier(conf, label), 4),
        "confident_wrong": sum(
            1
            for r in scored
            if r.verdict == "diagnosed" and not r.correct and r.confidence >= CONFIDENT
        ),
        "p50_seconds": round(quantile(seconds, 0.5), 3),
        "p95_seconds": round(quantile(seconds, 0.95), 3),
        "by_layer": by_layer,
        "confusion": confusion(scored),
    }


# ---------------------------------------------------------------------------- corpus


def split_of(path: str | Path) -> Literal["train", "test"]:
    """Stable split by the directory's name: sha256, first 8 hex digits as a fraction."""
    digest = hashlib.sha256(Path(path).name.encode("utf-8")).hexdigest()
    return "test" if int(digest[:8], 16) / 2**32 < TEST_SHARE else "train"


def discover(roots: Sequence[str | Path], split: Split = "all") -> list[Path]:
    """Scenario directories under ``roots`` (a directory with scenario.yaml is one; others
    are searched recursively, hidden directories skipped), in sorted order, deduplicated.

    Raises:
        EvalError: a root does not exist or is not a directory.
    """
    found: dict[Path, None] = {}

    def walk(d: Path) -> None:
        if (d / "scenario.yaml").is_file():
            found[d] = None
            return
        for child in sorted(d.iterdir()):
            if child.is_dir() and not child.name.startswith("."):
                walk(child)

    for root in roots:
        p = Path(root)
        if not p.is_dir():
            raise EvalError(f"{p}: not a directory")
        walk(p)
    return [p for p in found if split == "all" or split_of(p) == split]


async def evaluate_scenario(
    path: Path, model: ModelHandle, *, single_agent: bool = False
) -> EvalResult | None:
    """Replay and score one scenario; None when it has no ground truth. Never raises."""
    started = time.perf_counter()
    where, split = str(path), split_of(path)
    try:
        scenario = load_scenario(path)
    except ToolError as exc:
        return EvalResult(where, None, error=f"{exc.title}: {exc}", split=split)
    truth = scenario.meta.ground_truth
    if truth is None:
        return None
    expected = RootCause(layer=truth.layer, fault=truth.fault, component=truth.component)
    try:
        d = await replay_scenario(scenario, model, single_agent=single_agent)
    except Exception as exc:  # one broken scenario must not abort the corpus
        log.exception("evaluating %s crashed", path)
        return EvalResult(
            where,
            expected,
            error=f"{type(exc).__name__}: {exc}",
            seconds=time.perf_counter() - started,
            split=split,
        )
    seconds = time.perf_counter() - started
    s = score(d, truth.layer, truth.fault, truth.component)
    # The calibration label: is the named root cause right, whatever the verdict?
    named = score(
        d.model_copy(update={"verdict": "diagnosed"}), truth.layer, truth.fault, truth.component
    )
    in_top = f"{truth.layer}/{truth.fault}" in ranked_answers(d)[:TOP_K]
    failed = d.verdict == "failed"
    return EvalResult(
        path=where,
        expected=expected,
        got=d.root_cause,
        confidence=d.confidence,
        verdict=d.verdict,
        correct=s.correct,
        top1=s.layer_fault,
        top3=d.verdict == "diagnosed" and in_top,
        answer_correct=not failed and named.correct,
        seconds=seconds,
        note=d.error or "",
        features={} if failed else features(d.hypotheses, seen_share(d.evidence), d.evidence),
        split=split,
    )


async def run_eval(
    paths: Sequence[Path],
    model: ModelHandle,
    *,
    single_agent: bool = False,
    concurrency: int = 2,
    on_done: Callable[[Path], None] | None = None,
) -> EvalRun:
    """Evaluate ``paths`` with at most ``concurrency`` replays at a time (each starts its own
    Prometheus). Results come back in the order of ``paths``.
    """
    gate = asyncio.Semaphore(max(1, concurrency))

    async def one(p: Path) -> EvalResult | None:
        async with gate:
            result = await evaluate_scenario(p, model, single_agent=single_agent)
        if on_done is not None:
            on_done(p)
        return result

    outcomes = await asyncio.gather(*(one(p) for p in paths))
    results = tuple(r for r in outcomes if r is not None)
    skipped = tuple(str(p) for p, r in zip(paths, outcomes, strict=True) if r is None)
    return EvalRun(results, skipped)
