"""Confidence: from the reconciliation's outcome to the probability a report shows.

Two mappings live here. The *plain score* (no fitting): the root's support, discounted
by how close the best competing independent explanation comes. The *calibrated* one: a
logistic regression from features of the reconciled hypotheses (root score, margin over
the runner-up, findings behind the root, symptoms it explains, competing roots, whether
the answer is "nothing is broken", ...) to P(root cause right), with sign constraints so
that more support never lowers confidence. It is fitted on the scenario corpus by
``strata calibrate`` (agents/evaluation.py runs the corpus) and committed as
``agents/calibration.json``; :func:`confidence` loads that file lazily on first use and
falls back to the plain score, with one logged warning, when it is absent or invalid.
``STRATA_CALIBRATION`` names another file, or ``none`` for the plain score.

The features are computed from the reconciled hypothesis list alone, exactly as a
Diagnosis carries it, so that a fit over saved eval results sees what runtime sees.
Nothing here reads scenarios or ground truth; the fit is handed (features, correct)
pairs by the caller. Pure Python: the fit is small enough not to need numpy.
"""

from __future__ import annotations

import json
import logging
import math
import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from agents.models import Evidence, Hypothesis
from agents.reconcile import FAULT_EDGES, LAYER_EDGES, MIN_SCORE, SYMPTOM_DISCOUNT, Reconciled

log = logging.getLogger(__name__)

__all__ = [
    "ABSTAIN_BELOW",
    "CONFIDENT",
    "DEFAULT_PATH",
    "FEATURES",
    "MONOTONE",
    "NO_FAULT_PRIOR",
    "Calibration",
    "CalibrationError",
    "abstain_below",
    "active_calibration",
    "choose_threshold",
    "confidence",
    "features",
    "fit",
    "load_calibration",
    "out_of_fold",
    "plain_confidence",
    "seen_share",
    "use_calibration",
]

ABSTAIN_BELOW = 0.3
"""Abstain threshold of the plain score (used when no calibration is loaded)."""

NO_FAULT_PRIOR = 0.85
"""Plain score: confidence in "nothing is broken" when no specialist saw anything abnormal."""

CONFIDENT = 0.7
"""A wrong answer at or above this confidence is "confident-wrong" (the failure to avoid)."""

VERSION = 1
"""Calibration file format version."""

DEFAULT_PATH = Path(__file__).with_name("calibration.json")
ENV_VAR = "STRATA_CALIBRATION"

FEATURES: tuple[str, ...] = (
    "plain_logit",
    "root_score",
    "margin",
    "root_findings",
    "explained",
    "independent_roots",
    "component_rivals",
    "louder_symptom",
    "no_fault",
    "no_fault_noise",
    "unseen",
    "no_fault_unseen",
    "root_unseen",
    "upstream_unseen",
)
"""Feature names, in order. See :func:`features` for their definitions."""

MONOTONE: dict[str, int] = {
    "plain_logit": +1,
    "root_score": +1,
    "margin": +1,
    "root_findings": +1,
    "explained": +1,
    "independent_roots": -1,
    "component_rivals": -1,
    "no_fault_noise": -1,
    "unseen": -1,
    "no_fault_unseen": -1,
    "root_unseen": -1,
    "upstream_unseen": -1,
}
"""Sign constraints: +1 never lowers confidence as the feature grows, -1 never raises it."""

THRESHOLD_FLOOR = 0.5
"""Calibrated abstain threshold before the confident-wrong rule: more likely wrong than right."""

THRESHOLD_CAP = 0.95
"""The confident-wrong rule never raises the threshold above this."""


class CalibrationError(ValueError):
    """A calibration file is missing, unreadable or malformed."""


# ---------------------------------------------------------------------------- features


def seen_share(evidence: Sequence[Evidence]) -> float:
    """Share of the probes whose source answered (``ok`` or ``empty``); 1.0 with no probes."""
    if not evidence:
        return 1.0
    return sum(1 for e in evidence if e.status in ("ok", "empty")) / len(evidence)


def features(
    hypotheses: Sequence[Hypothesis], seen: float = 1.0, evidence: Sequence[Evidence] = ()
) -> dict[str, float]:
    """Calibration features of a reconciled hypothesis list (roles assigned), and of the
    share of probes that could run (``seen``, see :func:`seen_share`).

    plain_logit: log-odds of the plain score (the fit's prior is the plain score itself).
    root_score: the root's score (0 for no fault). margin: root score minus the best
    independent root of another layer/fault. root_findings: log(1 + findings behind the
    root). explained: log(1 + symptoms the root explains). independent_roots: log of the
    number of distinct layer/faults among the strong hypotheses nothing explains (the
    root's included). component_rivals: log(1 + independent roots with the root's
    layer/fault on another component): then which one is broken is in doubt, not what is.
    Counts enter as logarithms so that a count far beyond the corpus's range does not
    extrapolate linearly into certainty. louder_symptom: how far the loudest
    hypothesis (raw score, symptoms undiscounted) outscored the root. no_fault: 1 when the
    answer is "nothing is broken". no_fault_noise: for a no-fault answer, the strongest
    sub-threshold score. unseen / no_fault_unseen: the share of probes that could not
    run, for a named root cause / for a no-fault answer. root_unseen: the share of the
    root's own specialist's probes that could not run (``evidence`` tells who asked): a
    network answer without SNMP rests on less than it seems. upstream_unseen: the largest
    share of probes that could not run of a specialist whose layer could have explained
    the root away (those upstream of it in ``LAYER_EDGES``, or a cause of its
    fault in ``FAULT_EDGES``): a NotReady node is a doubtful answer when the network
    specialist could not look.
    """
    blind = 1.0 - seen
    root = next((h for h in hypotheses if h.role == "root_cause"), None)
    others = [h for h in hypotheses if h.role == "ruled_out" and h.score >= MIN_SCORE]
    max_raw = (
        max(
            (min(1.0, h.score / SYMPTOM_DISCOUNT) if h.role == "symptom" else h.score)
            for h in hypotheses
        )
        if hypotheses
        else 0.0
    )
    if root is None:
        return {
            **dict.fromkeys(FEATURES, 0.0),
            "plain_logit": _logit(_plain(None, 0.0, max_raw, seen)),
            "independent_roots": math.log(max(1, len({h.key for h in others}))),
            "no_fault": 1.0,
            "no_fault_noise": max_raw,
            "no_fault_unseen": blind,
        }
    runner = max((h.score for h in others), default=0.0)
    rivals = [h for h in others if h.key != root.key]
    return {
        **dict.fromkeys(FEATURES, 0.0),
        "plain_logit": _logit(_plain(root.score, runner, max_raw)),
        "root_score": root.score,
        "margin": max(0.0, root.score - max((h.score for h in rivals), default=0.0)),
        "root_findings": math.log1p(len(root.findings)),
        "explained": math.log1p(
            sum(1 for h in hypotheses if h.role == "symptom" and h.explained_by == root.key)
        ),
        "independent_roots": math.log(1 + len({h.key for h in rivals})),
        "component_rivals": math.log1p(len(others) - len(rivals)),
        "louder_symptom": max(0.0, max_raw - root.score),
        "unseen": blind,
        "root_unseen": 1.0 - seen_share([e for e in evidence if e.by == root.by]),
        "upstream_unseen": max(
            (1.0 - seen_share([e for e in evidence if e.by == layer]) for layer in _upstream(root)),
            default=0.0,
        ),
    }


def _upstream(root: Hypothesis) -> frozenset[str]:
    """Layers whose specialist could have explained ``root`` away as a symptom."""
    layers = {cause for cause, effects in LAYER_EDGES.items() if root.layer in effects}
    layers |= {
        c_layer
        for (c_layer, _), (e_layer, e_faults), _ in FAULT_EDGES
        if e_layer == root.layer and root.fault in e_faults and c_layer != root.layer
    }
    return frozenset(layers)


def _plain(top: float | None, runner: float, max_raw: float, seen: float = 1.0) -> float:
    if top is None:
        # Weak, sub-threshold findings, and probes that could not run, make "nothing is
        # broken" less certain.
        return round(max(0.0, NO_FAULT_PRIOR * (1.0 - max_raw)) * seen, 3)
    margin = (top - runner) / top if top > 0 else 0.0
    return round(top * (0.6 + 0.4 * margin), 3)


def _logit(p: float) -> float:
    p = min(max(p, 0.005), 0.995)
    return math.log(p / (1.0 - p))


def plain_confidence(result: Reconciled, seen: float = 1.0) -> float:
    """The unfitted score: root support discounted by the runner-up, or for "no fault" the
    prior discounted by sub-threshold noise and scaled by the share of probes seen.
    """
    return _plain(
        result.root.score if result.root else None,
        result.runner_up.score if result.runner_up else 0.0,
        result.max_raw_score,
        seen,
    )


# ---------------------------------------------------------------------------- the model


class Calibration(BaseModel):
    """A fitted logistic mapping from :data:`FEATURES` to P(correct), and its threshold."""

    model_config = ConfigDict(frozen=True)

    version: Literal[1] = Field(default=1, description="File format version.")
    kind: Literal["logistic"] = Field(default="logistic", description="Model family.")
    features: tuple[str, ...] = Field(description="Feature names, in parameter order.")
    mean: tuple[float, ...] = Field(description="Per-feature centring (training mean).")
    scale: tuple[float, ...] = Field(description="Per-feature scaling (training std, 1 if 0).")
    coef: tuple[float, ...] = Field(description="Coefficients on the standardised features.")
    low: tuple[float | None, ...] = Field(
        default=(),
        description="Per-feature training minimum of each fitted feature (None: not fitted, "
        "not clipped; empty: no clipping).",
    )
    high: tuple[float | None, ...] = Field(
        default=(),
        description="Per-feature training maximum. Beyond the range the fit saw, a fitted "
        "feature's input is clipped on the side that would raise the probability, so the "
        "fit extrapolates toward doubt, never toward certainty.",
    )
    intercept: float = Field(description="Intercept (log-odds at the training mean).")
    monotone: dict[str, int] = Field(default_factory=dict, description="Sign constraints used.")
    l2: float = Field(default=1.0, description="Ridge penalty used in the fit.")
    bounds: tuple[float, float] = Field(
        default=(0.01, 0.99),
        description="Probabilities are clipped to this range: a corpus of hundreds of "
        "scenarios cannot support more certainty than that.",
    )
    threshold: float = Field(ge=0.0, le=1.0, description="Abstain below this probability.")
    threshold_rule: str = Field(default="", description="How the threshold was chosen.")
    training_size: int = Field(ge=0, description="Scenarios the fit saw.")
    training_correct: int = Field(default=0, ge=0, description="Of which answered correctly.")
    fitted_at: str = Field(description="UTC date and time of the fit (ISO 8601).")
    source: str = Field(default="", description="What it was fitted on (corpus, command).")
    training_metrics: dict[str, float] = Field(
        default_factory=dict, description="ECE, Brier and confident-wrong count on training."
    )

    @model_validator(mode="after")
    def _consistent(self) -> Calibration:
        n = len(self.features)
        if not (len(self.mean) == len(self.scale) == len(self.coef) == n):
            raise ValueError("features, mean, scale and coef must have the same length")
        unknown = [f for f in self.features if f not in FEATURES]
        if unknown:
            raise ValueError(f"unknown features {unknown}; this Strata knows {list(FEATURES)}")
        if any(s <= 0 for s in self.scale):
            raise ValueError("scale must be positive")
        if len(self.low) != len(self.high) or (self.low and len(self.low) != n):
            raise ValueError("low and high must be empty or one per feature")
        return self

    def predict(self, values: Mapping[str, float]) -> float:
        """P(correct) for one feature mapping (a missing feature counts as its mean)."""
        low = self.low or (None,) * len(self.features)
        high = self.high or (None,) * len(self.features)
        z = self.intercept
        for name, m, s, c, lo, hi in zip(
            self.features, self.mean, self.scale, self.coef, low, high, strict=True
        ):
            x = values.get(name, m)
            # Beyond the range the fit saw, extrapolate toward doubt, never toward certainty.
            if c > 0 and hi is not None:
                x = min(hi, x)
            elif c < 0 and lo is not None:
                x = max(lo, x)
            z += c * (x - m) / s
        lo, hi = self.bounds
        return min(hi, max(lo, _sigmoid(z)))


def _sigmoid(z: float) -> float:
    if z >= 0:
        return 1.0 / (1.0 + math.exp(-z))
    e = math.exp(z)
    return e / (1.0 + e)


def _solve(a: list[list[float]], b: list[float]) -> list[float]:
    """Solve ``a x = b`` (small, symmetric positive definite) by Gaussian elimination."""
    n = len(b)
    m = [[*row, rhs] for row, rhs in zip(a, b, strict=True)]
    for col in range(n):
        pivot = max(range(col, n), key=lambda r: abs(m[r][col]))
        m[col], m[pivot] = m[pivot], m[col]
        if abs(m[col][col]) < 1e-12:
            m[col][col] = 1e-12
        for r in range(col + 1, n):
            f = m[r][col] / m[col][col]
            for c in range(col, n + 1):
                m[r][c] -= f * m[col][c]
    x = [0.0] * n
    for r in range(n - 1, -1, -1):
        x[r] = (m[r][n] - sum(m[r][c] * x[c] for c in range(r + 1, n))) / m[r][r]
    return x


def _newton(
    rows: Sequence[Sequence[float]],
    y: Sequence[float],
    free: Sequence[int],
    l2: float,
    prior: Sequence[float],
    fixed: Sequence[float],
) -> tuple[float, list[float]]:
    """Logistic regression on columns ``free``, ridge-shrunk toward ``prior`` (intercept
    first, then one per column); every other column keeps its coefficient in ``fixed``.
    Returns (intercept, coef over all columns).
    """
    k = len(free) + 1
    w0 = [prior[0], *(prior[i + 1] for i in free)]
    w = list(w0)  # w[0] intercept
    held = [j for j in range(len(fixed)) if j not in free and fixed[j] != 0.0]
    offset = [sum(fixed[j] * row[j] for j in held) for row in rows]
    for _ in range(100):
        grad = [0.0] * k
        hess = [[0.0] * k for _ in range(k)]
        for row, target, off in zip(rows, y, offset, strict=True):
            x = [1.0, *(row[i] for i in free)]
            p = _sigmoid(off + sum(wi * xi for wi, xi in zip(w, x, strict=True)))
            q = p * (1.0 - p)
            for i in range(k):
                grad[i] += (p - target) * x[i]
                for j in range(k):
                    hess[i][j] += q * x[i] * x[j]
        for i in range(k):
            grad[i] += l2 * (w[i] - w0[i])
            hess[i][i] += l2
        step = _solve(hess, grad)
        w = [wi - si for wi, si in zip(w, step, strict=True)]
        if max(abs(s) for s in step) < 1e-9:
            break
    coef = [0.0 if j in free else fixed[j] for j in range(len(fixed))]
    for pos, i in enumerate(free):
        coef[i] = w[pos + 1]
    return w[0], coef


def choose_threshold(
    probs: Sequence[float],
    correct: Sequence[bool],
    *,
    floor: float = THRESHOLD_FLOOR,
    cap: float = THRESHOLD_CAP,
) -> float:
    """The abstain threshold: ``floor``, raised just above the most confident wrong answer
    that reached :data:`CONFIDENT`, so that no training answer is confident-wrong.

    A wrong answer at or above ``cap`` cannot be removed without abstaining on nearly
    every right answer too: it is left confident-wrong (and counted in the fit's
    ``training_metrics``), and the threshold clears only the wrong answers below ``cap``.
    """
    removable = [p for p, ok in zip(probs, correct, strict=True) if not ok and CONFIDENT <= p < cap]
    t = floor
    if removable:
        t = max(t, math.floor(max(removable) * 1000 + 1) / 1000)
    return round(min(t, cap), 3)


FOLDS = 5
"""Folds for the out-of-fold probabilities the threshold is chosen on."""


MIN_SUPPORT = 5
MIN_SUPPORT_SHARE = 0.02
"""A feature enters the fit only if at least max(MIN_SUPPORT, MIN_SUPPORT_SHARE * n)
training scenarios differ from its most common value."""


def _support(values: Sequence[float]) -> int:
    """How many values differ from the most common one."""
    counts: dict[float, int] = {}
    for v in values:
        counts[round(v, 6)] = counts.get(round(v, 6), 0) + 1
    return len(values) - max(counts.values(), default=0)


def _fit_mapping(
    samples: Sequence[tuple[Mapping[str, float], bool]], l2: float, monotone: Mapping[str, int]
) -> Calibration:
    """The logistic mapping alone (threshold 0, no metadata)."""
    names = list(FEATURES)
    raw = [[float(f.get(n, 0.0)) for n in names] for f, _ in samples]
    y = [1.0 if ok else 0.0 for _, ok in samples]
    mean = [sum(col) / len(raw) for col in zip(*raw, strict=True)]
    scale = []
    for j, col in enumerate(zip(*raw, strict=True)):
        var = sum((v - mean[j]) ** 2 for v in col) / len(col)
        scale.append(math.sqrt(var) if var > 1e-12 else 1.0)
    rows = [[(v - mean[j]) / scale[j] for j, v in enumerate(r)] for r in raw]
    pl = names.index("plain_logit")
    fixed = [scale[j] if j == pl else 0.0 for j in range(len(names))]
    prior = [mean[pl], *fixed]
    # A feature is fitted only where enough scenarios vary in it; otherwise it keeps its
    # prior coefficient. Two or three unusual scenarios cannot estimate a coefficient
    # (standardised, a rare feature's would explode on the next unusual scenario).
    need = max(MIN_SUPPORT, math.ceil(MIN_SUPPORT_SHARE * len(raw)))
    free = [j for j in range(len(names)) if _support([r[j] for r in raw]) >= need]
    while True:
        intercept, coef = _newton(rows, y, free, l2, prior, fixed)
        bad = [
            (coef[j] * monotone[names[j]], j)
            for j in free
            if names[j] in monotone and coef[j] * monotone[names[j]] < 0
        ]
        if not bad:
            break
        worst = min(bad)[1]
        free.remove(worst)
        fixed[worst] = 0.0
    columns = list(zip(*raw, strict=True))
    return Calibration(
        features=tuple(names),
        mean=tuple(round(m, 6) for m in mean),
        scale=tuple(round(s, 6) for s in scale),
        coef=tuple(round(c, 6) for c in coef),
        low=tuple(round(min(c), 6) if j in free else None for j, c in enumerate(columns)),
        high=tuple(round(max(c), 6) if j in free else None for j, c in enumerate(columns)),
        intercept=round(intercept, 6),
        monotone={k: v for k, v in monotone.items() if k in names},
        l2=l2,
        threshold=0.0,
        training_size=len(samples),
        training_correct=int(sum(y)),
        fitted_at="",
    )


def out_of_fold(
    samples: Sequence[tuple[Mapping[str, float], bool]],
    *,
    l2: float = 1.0,
    monotone: Mapping[str, int] = MONOTONE,
    folds: int = FOLDS,
) -> list[float]:
    """Each sample's probability from a mapping fitted without it (sample i is in fold
    i mod ``folds``): an honest estimate of how confident the fit will be on new data.
    """
    probs = [0.0] * len(samples)
    for k in range(folds):
        rest = [s for i, s in enumerate(samples) if i % folds != k]
        if not rest:
            continue
        cal = _fit_mapping(rest, l2, monotone)
        for i in range(k, len(samples), folds):
            probs[i] = cal.predict(samples[i][0])
    return probs


def fit(
    samples: Sequence[tuple[Mapping[str, float], bool]],
    *,
    l2: float = 1.0,
    monotone: Mapping[str, int] = MONOTONE,
    source: str = "",
    now: datetime | None = None,
) -> Calibration:
    """Fit the logistic mapping on (features, answer correct) pairs and pick the threshold.

    The prior is the plain score: the ridge penalty pulls the intercept and the
    ``plain_logit`` coefficient toward the identity mapping (p = plain score) and every
    other coefficient toward 0, so a small or one-sided corpus moves little away from the
    plain score. Monotonicity is an active set: fit, and while a constrained coefficient
    has the wrong sign, pin the worst one at zero and refit. The threshold
    (:func:`choose_threshold`) is chosen on out-of-fold probabilities (:func:`out_of_fold`),
    because a training answer's in-sample probability flatters the fit; with fewer than
    ``2 * FOLDS`` samples, on the in-sample ones. ``training_metrics`` are out-of-fold too.

    Raises:
        CalibrationError: no samples.
    """
    if not samples:
        raise CalibrationError("nothing to fit: no labelled, answered scenarios")
    cal = _fit_mapping(samples, l2, monotone)
    oks = [ok for _, ok in samples]
    held_out = len(samples) >= 2 * FOLDS
    if held_out:
        probs = out_of_fold(samples, l2=l2, monotone=monotone)
    else:
        probs = [cal.predict(f) for f, _ in samples]
    threshold = choose_threshold(probs, oks)
    kept = [(p, ok) for p, ok in zip(probs, oks, strict=True) if p >= threshold]
    metrics = {
        "ece": round(_ece(probs, oks), 4),
        "brier": round(sum((p - ok) ** 2 for p, ok in zip(probs, oks, strict=True)) / len(oks), 4),
        "confident_wrong": float(sum(1 for p, ok in kept if not ok and p >= CONFIDENT)),
        "abstention_rate": round(1 - len(kept) / len(probs), 4),
    }
    rule = (
        f"max({THRESHOLD_FLOOR}, just above the highest "
        + (f"{FOLDS}-fold out-of-fold" if held_out else "in-sample")
        + f" training probability of a wrong answer in [{CONFIDENT}, {THRESHOLD_CAP})); "
        f"wrong answers at or above {THRESHOLD_CAP} stay confident-wrong (training_metrics)"
    )
    return cal.model_copy(
        update={
            "threshold": threshold,
            "threshold_rule": rule,
            "training_metrics": metrics,
            "fitted_at": (now or datetime.now(UTC)).strftime("%Y-%m-%dT%H:%M:%SZ"),
            "source": source,
        }
    )


def _ece(probs: Sequence[float], correct: Sequence[bool], bins: int = 10) -> float:
    # The evaluation harness owns the public metric; this copy only fills training_metrics
    # without a dependency cycle (evaluation imports this module).
    total = 0.0
    for b in range(bins):
        members = [
            (p, ok)
            for p, ok in zip(probs, correct, strict=True)
            if min(int(p * bins), bins - 1) == b
        ]
        if members:
            conf = sum(p for p, _ in members) / len(members)
            acc = sum(1 for _, ok in members if ok) / len(members)
            total += len(members) / len(probs) * abs(acc - conf)
    return total


# ---------------------------------------------------------------------------- loading


def load_calibration(path: str | Path) -> Calibration:
    """Read and validate a calibration file.

    Raises:
        CalibrationError: missing, unreadable, not JSON, or not a valid calibration.
    """
    p = Path(path)
    try:
        data = json.loads(p.read_text(encoding="utf-8"))
    except FileNotFoundError as exc:
        raise CalibrationError(f"{p}: no such file") from exc
    except (OSError, UnicodeDecodeError) as exc:
        raise CalibrationError(f"{p}: cannot be read: {exc}") from exc
    except json.JSONDecodeError as exc:
        raise CalibrationError(f"{p}: not valid JSON: {exc.msg} (line {exc.lineno})") from exc
    if isinstance(data, dict) and data.get("version") != VERSION:
        raise CalibrationError(
            f"{p}: calibration version {data.get('version')!r} is not supported "
            f"(this Strata reads version {VERSION})"
        )
    try:
        return Calibration.model_validate(data)
    except ValidationError as exc:
        err = exc.errors()[0]
        where = ".".join(str(x) for x in err["loc"]) or "(top level)"
        raise CalibrationError(f"{p}: field '{where}': {err['msg']}") from exc


@dataclass
class _State:
    loaded: bool = False
    calibration: Calibration | None = None


_state = _State()


def use_calibration(calibration: Calibration | str | Path | None) -> None:
    """Replace the active calibration: a model, a file to load on next use, or None to reset
    (the default file, or ``STRATA_CALIBRATION``, is loaded again on next use).
    """
    global _state
    if isinstance(calibration, Calibration):
        _state = _State(loaded=True, calibration=calibration)
    elif calibration is None:
        _state = _State()
    else:
        _state = _State(loaded=True, calibration=_load_or_warn(Path(calibration)))


def _load_or_warn(path: Path) -> Calibration | None:
    try:
        return load_calibration(path)
    except CalibrationError as exc:
        log.warning("calibration unavailable, using the plain score: %s", exc)
        return None


def active_calibration() -> Calibration | None:
    """The calibration in use, loaded on first call; None means the plain score."""
    if not _state.loaded:
        env = os.environ.get(ENV_VAR, "").strip()
        if env.lower() == "none":
            _state.calibration = None
        else:
            _state.calibration = _load_or_warn(Path(env) if env else DEFAULT_PATH)
        _state.loaded = True
    return _state.calibration


def confidence(result: Reconciled, seen: float = 1.0, evidence: Sequence[Evidence] = ()) -> float:
    """Probability that the reconciled root cause (or "no fault") is right.

    Args:
        result: the reconciliation.
        seen: share of probes whose source answered (:func:`seen_share`); with none
            (``seen == 0``) there is no basis for any answer and the confidence is 0.
        evidence: every probe's evidence (for the root's own coverage, ``root_unseen``).
    """
    if seen <= 0.0:
        return 0.0
    cal = active_calibration()
    if cal is None:
        return plain_confidence(result, seen)
    return round(cal.predict(features(result.hypotheses, seen, evidence)), 3)


def abstain_below() -> float:
    """The abstain threshold of the active calibration (:data:`ABSTAIN_BELOW` without one)."""
    cal = active_calibration()
    return ABSTAIN_BELOW if cal is None else cal.threshold
