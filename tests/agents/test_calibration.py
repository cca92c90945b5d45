"""Calibration: features, the plain score, the monotone logistic fit, the threshold rule,
and loading (lazy, with a warned fallback to the plain score).
"""

from __future__ import annotations

import json
import logging
import math
import random
import subprocess
import sys
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from agents.calibration import (
    ABSTAIN_BELOW,
    CONFIDENT,
    DEFAULT_PATH,
    FEATURES,
    Calibration,
    CalibrationError,
    abstain_below,
    active_calibration,
    choose_threshold,
    confidence,
    features,
    fit,
    load_calibration,
    out_of_fold,
    plain_confidence,
    use_calibration,
)
from agents.evaluation import brier
from agents.models import Hypothesis
from agents.reconcile import reconcile
from tools.topology import ServiceHint, Topology

ROOT = Path(__file__).resolve().parents[2]
T0 = datetime(2024, 12, 14, 2, 52, tzinfo=UTC)
TOPO = Topology(services=(ServiceHint(name="coredns", namespace="kube-system", kind="dns"),))


@pytest.fixture(autouse=True)
def _fresh_calibration() -> Iterator[None]:
    use_calibration(None)
    yield
    use_calibration(None)


def hyp(
    layer: str, fault: str, component: str, score: float, minutes: float, n: int = 1
) -> Hypothesis:
    return Hypothesis(
        layer=layer,
        fault=fault,
        component=component,
        score=score,
        by=layer,
        findings=tuple(f"f{i}" for i in range(n)),
        onset=T0 + timedelta(minutes=minutes),
    )


# ---------------------------------------------------------------------------- features


def test_features_of_a_loop_that_explains_louder_dns_errors() -> None:
    net = hyp("network", "stp_loop", "sw1", 0.8, 0, n=3)
    dns = hyp("dns", "upstream_failure", "coredns", 0.9, 1)
    other = hyp("storage", "slow_disk", "node-2", 0.5, 5)
    weak = hyp("compute", "cpu_saturation", "node-1", 0.2, 0)
    f = features(reconcile([dns, net, other, weak], TOPO).hypotheses)
    assert set(f) == set(FEATURES)
    assert f["root_score"] == 0.8 and f["margin"] == pytest.approx(0.3)
    assert f["root_findings"] == pytest.approx(math.log1p(3))
    assert f["explained"] == pytest.approx(math.log(2))
    assert f["independent_roots"] == pytest.approx(math.log(2))
    assert f["component_rivals"] == 0.0
    assert f["louder_symptom"] == pytest.approx(0.1)  # the DNS errors were louder
    assert f["no_fault"] == 0.0 and f["no_fault_noise"] == 0.0


def test_same_fault_on_other_components_is_a_component_rival_not_a_competitor() -> None:
    a = hyp("control-plane", "cert_expired", "kube-apiserver", 0.95, 0, n=2)
    b = hyp("control-plane", "cert_expired", "kube-scheduler", 0.95, 0)
    c = hyp("control-plane", "cert_expired", "admin", 0.95, 0)
    f = features(reconcile([a, b, c], TOPO).hypotheses)
    assert f["component_rivals"] == pytest.approx(math.log(3))
    assert f["independent_roots"] == 0.0 and f["margin"] == pytest.approx(0.95)


def test_features_of_no_fault() -> None:
    f = features(reconcile([hyp("compute", "cpu_saturation", "n1", 0.3, 0)], TOPO).hypotheses)
    assert f["no_fault"] == 1.0 and f["no_fault_noise"] == 0.3 and f["root_score"] == 0.0
    clean = features(reconcile([], TOPO).hypotheses)
    assert clean["no_fault_noise"] == 0.0 and clean["plain_logit"] > f["plain_logit"]


def test_plain_score_is_the_unfitted_formula() -> None:
    use_calibration(DEFAULT_PATH.with_name("no-such-calibration.json"))
    r = reconcile([hyp("network", "stp_loop", "sw1", 0.8, 0)], TOPO)
    assert plain_confidence(r) == pytest.approx(0.8) == confidence(r)
    two = reconcile(
        [hyp("network", "stp_loop", "sw1", 0.8, 0), hyp("storage", "slow_disk", "n2", 0.6, 0)],
        TOPO,
    )
    assert plain_confidence(two) == pytest.approx(round(0.8 * (0.6 + 0.4 * 0.25), 3))
    assert plain_confidence(reconcile([], TOPO)) == pytest.approx(0.85)
    assert abstain_below() == ABSTAIN_BELOW
    # the feature mirrors the plain score exactly
    p = plain_confidence(two)
    assert features(two.hypotheses)["plain_logit"] == pytest.approx(math.log(p / (1 - p)))


def test_coverage_scales_no_fault_and_nothing_seen_means_no_confidence() -> None:
    use_calibration(DEFAULT_PATH.with_name("no-such-calibration.json"))
    r = reconcile([], TOPO)
    assert confidence(r, seen=0.5) == pytest.approx(0.425)
    assert confidence(r, seen=0.0) == 0.0
    f = features(r.hypotheses, seen=0.25)
    assert f["no_fault_unseen"] == 0.75 and f["unseen"] == 0.0
    root = features(reconcile([hyp("network", "stp_loop", "sw1", 0.8, 0)], TOPO).hypotheses, 0.5)
    assert root["unseen"] == 0.5 and root["no_fault_unseen"] == 0.0
    use_calibration(fit(synthetic(100)))
    assert confidence(r, seen=0.0) == 0.0


# ---------------------------------------------------------------------------- the fit


def synthetic(n: int, seed: int = 0) -> list[tuple[dict[str, float], bool]]:
    """P(correct) = sigmoid(8 (root_score - 0.55)); 'explained' is noise."""
    rnd = random.Random(seed)
    out = []
    for _ in range(n):
        s = rnd.uniform(0.35, 0.97)
        f = dict.fromkeys(FEATURES, 0.0)
        f.update(
            root_score=s,
            margin=s * rnd.uniform(0.5, 1),
            explained=float(rnd.randint(0, 2)),
            independent_roots=1.0,
        )
        out.append((f, rnd.random() < 1 / (1 + math.exp(-8 * (s - 0.55)))))
    return out


def test_fit_recovers_a_monotone_mapping() -> None:
    cal = fit(synthetic(600), now=datetime(2025, 1, 1, tzinfo=UTC))
    grid = [0.35 + 0.05 * i for i in range(13)]
    probs = [cal.predict({"root_score": s, "margin": 0.75 * s}) for s in grid]
    assert probs == sorted(probs) and probs[-1] - probs[0] > 0.6
    for s, p in zip(grid, probs, strict=True):
        assert abs(p - 1 / (1 + math.exp(-8 * (s - 0.55)))) < 0.12, (s, p)
    coef = dict(zip(cal.features, cal.coef, strict=True))
    assert coef["root_score"] + coef["margin"] > 0
    assert cal.training_size == 600 and cal.fitted_at == "2025-01-01T00:00:00Z"
    assert cal.training_metrics["ece"] < 0.06


def test_sign_constraints_hold_against_the_data() -> None:
    # Data where explaining more symptoms goes with being wrong: the constrained
    # coefficient is pinned at 0 rather than fitted negative.
    rnd = random.Random(1)
    samples = []
    for _ in range(300):
        e = float(rnd.randint(0, 3))
        f = dict.fromkeys(FEATURES, 0.0)
        f.update(root_score=0.8, explained=e)
        samples.append((f, rnd.random() < 0.9 - 0.25 * e))
    cal = fit(samples)
    coef = dict(zip(cal.features, cal.coef, strict=True))
    assert coef["explained"] == 0.0
    base = {"root_score": 0.8}
    assert cal.predict({**base, "explained": 3}) >= cal.predict({**base, "explained": 0})


def test_rare_features_stay_out_and_the_fit_never_extrapolates_toward_certainty() -> None:
    samples = synthetic(300, seed=5)
    for f, _ in samples[:3]:  # three unusual scenarios cannot estimate a coefficient
        f["component_rivals"] = math.log(2)
    cal = fit(samples)
    coef = dict(zip(cal.features, cal.coef, strict=True))
    assert coef["component_rivals"] == 0.0
    i = cal.features.index("root_score")
    assert cal.low[i] >= 0.35 and cal.high[i] <= 0.97
    top = {"root_score": cal.high[i], "margin": 0.7}
    assert cal.predict({**top, "root_score": 5.0}) == cal.predict(top)
    # ... but only toward certainty: below the range it keeps lowering the probability
    low = {"root_score": cal.low[i], "margin": 0.2}
    assert cal.predict({**low, "root_score": 0.0}) < cal.predict(low)


def test_a_one_sided_corpus_stays_near_the_plain_score() -> None:
    # Three right answers say little: the prior (the plain score) keeps a weak root weak.
    samples = [
        (features(reconcile([hyp("network", "stp_loop", "sw1", s, 0, n=3)], TOPO).hypotheses), True)
        for s in (0.97, 0.9, 0.95)
    ]
    cal = fit(samples)
    weak = features(reconcile([hyp("network", "stp_loop", "sw1", 0.4, 0)], TOPO).hypotheses)
    assert cal.predict(weak) < 0.75


def test_threshold_rule() -> None:
    assert choose_threshold([0.9, 0.6, 0.2], [True, False, False]) == 0.5  # floor
    assert choose_threshold([0.95, 0.81, 0.72], [True, False, False]) == 0.811
    # a wrong answer above the cap cannot be cleared: only those below it are
    assert choose_threshold([0.99, 0.98, 0.8], [True, False, False]) == 0.801
    assert choose_threshold([0.99, 0.98], [True, False]) == 0.5
    assert CONFIDENT == 0.7


def test_fitted_threshold_keeps_training_confident_wrong_at_zero() -> None:
    """The threshold is chosen on out-of-fold probabilities: every wrong training answer
    that a mapping fitted without it put in [0.7, 0.95) is abstained on.
    """
    samples = synthetic(400, seed=3)
    cal = fit(samples)
    oof = out_of_fold(samples)
    oks = [ok for _, ok in samples]
    assert cal.threshold == choose_threshold(oof, oks) and "out-of-fold" in cal.threshold_rule
    kept_wrong = [p for p, ok in zip(oof, oks, strict=True) if not ok and p >= cal.threshold]
    assert all(p < CONFIDENT or p >= 0.95 for p in kept_wrong)
    assert cal.training_metrics["confident_wrong"] == sum(p >= CONFIDENT for p in kept_wrong)
    # out-of-fold probabilities are less flattering than in-sample ones
    in_sample = [cal.predict(f) for f, _ in samples]
    assert brier(oof, oks) >= brier(in_sample, oks)


def test_fit_needs_samples() -> None:
    with pytest.raises(CalibrationError):
        fit([])


# ---------------------------------------------------------------------------- loading


def _write(path: Path, cal: Calibration) -> Path:
    path.write_text(cal.model_dump_json(indent=2))
    return path


def test_missing_or_corrupt_file_falls_back_with_a_warning(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    r = reconcile([hyp("network", "stp_loop", "sw1", 0.8, 0)], TOPO)
    bad_json = tmp_path / "bad.json"
    bad_json.write_text("{not json")
    wrong_shape = tmp_path / "shape.json"
    data = json.loads(fit(synthetic(50)).model_dump_json())
    data["coef"] = data["coef"][:-1]
    wrong_shape.write_text(json.dumps(data))
    future = tmp_path / "future.json"
    future.write_text(json.dumps({**data, "version": 9}))
    for path, needle in (
        (tmp_path / "missing.json", "no such file"),
        (bad_json, "not valid JSON"),
        (wrong_shape, "same length"),
        (future, "version 9 is not supported"),
    ):
        caplog.clear()
        with caplog.at_level(logging.WARNING, logger="agents.calibration"):
            use_calibration(path)
            assert confidence(r) == plain_confidence(r)
            assert abstain_below() == ABSTAIN_BELOW
        assert any(needle in rec.getMessage() for rec in caplog.records), (path, caplog.text)
        with pytest.raises(CalibrationError, match=needle):
            load_calibration(path)


def test_loaded_calibration_drives_confidence_and_threshold(tmp_path: Path) -> None:
    cal = fit(synthetic(300))
    use_calibration(_write(tmp_path / "c.json", cal))
    r = reconcile([hyp("network", "stp_loop", "sw1", 0.8, 0)], TOPO)
    assert confidence(r) == pytest.approx(round(cal.predict(features(r.hypotheses)), 3))
    assert abstain_below() == cal.threshold


def test_env_var_selects_file_or_plain(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("STRATA_CALIBRATION", "none")
    use_calibration(None)
    assert active_calibration() is None
    path = _write(tmp_path / "c.json", fit(synthetic(100)))
    monkeypatch.setenv("STRATA_CALIBRATION", str(path))
    use_calibration(None)
    assert active_calibration() == load_calibration(path)


def test_committed_calibration_is_valid_and_loaded_by_default(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.delenv("STRATA_CALIBRATION", raising=False)
    cal = load_calibration(DEFAULT_PATH)
    assert cal.features == FEATURES and cal.training_size > 0
    assert 0.3 <= cal.threshold <= 0.95
    use_calibration(None)
    assert active_calibration() == cal and abstain_below() == cal.threshold


def test_calibration_is_not_loaded_at_import_time() -> None:
    code = (
        "import agents.coordinator, agents.replay, agents.calibration as c; "
        "print(c._state.loaded); c.abstain_below(); print(c._state.loaded)"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT, check=True
    ).stdout.split()
    assert out == ["False", "True"]
