"""The evaluation harness: metrics on hand-made results, and ``strata eval`` over real scenarios.

The metric tests use result lists whose answers are worked out by hand. The CLI tests run
``python -m strata eval`` as a user does, over the committed seeds and over copies of them
(renamed, scrubbed, relabelled, broken) in a temporary directory, with a real Prometheus.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
import yaml

from agents.evaluation import (
    EvalError,
    EvalResult,
    brier,
    confusion,
    discover,
    ece,
    quantile,
    ranked_answers,
    split_of,
    summarize,
)
from agents.models import Diagnosis, Hypothesis, IncidentRef, ModelUse, RootCause, Timings

ROOT = Path(__file__).resolve().parents[2]
SCENARIOS = ROOT / "scenarios"
SEEDS = ("01_coredns_oom_query_flood", "10_stp_loop_dns_symptoms", "20_no_fault_cpu_throttling")

needs_prometheus = pytest.mark.skipif(
    shutil.which("promtool") is None or shutil.which("prometheus") is None,
    reason="Prometheus/promtool not installed (make test installs the Debian package)",
)


# ---------------------------------------------------------------------------- metrics


def test_ece_by_hand() -> None:
    # bin 9: conf 0.9, accuracy 0.5 -> 0.5 * 0.4; bin 1: conf 0.1, accuracy 0 -> 0.5 * 0.1
    assert ece([0.9, 0.9, 0.1, 0.1], [True, False, False, False]) == pytest.approx(0.25)
    assert ece([0.25] * 4, [True, False, False, False]) == pytest.approx(0.0)
    # 1.0 falls in the last bin with 0.95: mean conf 0.975, accuracy 1
    assert ece([1.0, 0.95], [True, True]) == pytest.approx(0.025)
    assert ece([], []) == 0.0


def test_ece_bins_are_equal_width_not_pooled() -> None:
    # Pooled, 0.15 and 0.85 at 50% accuracy would look calibrated; per bin they are not.
    assert ece([0.15, 0.85], [False, True]) == pytest.approx(0.15)


def test_brier_and_quantile_by_hand() -> None:
    assert brier([1.0, 0.0], [True, False]) == 0.0
    assert brier([0.8, 0.3], [True, False]) == pytest.approx((0.04 + 0.09) / 2)
    assert quantile([4.0, 1.0, 3.0, 2.0], 0.5) == pytest.approx(2.5)
    assert quantile([1.0, 2.0, 3.0, 4.0], 0.95) == pytest.approx(3.85)
    assert quantile([], 0.5) == 0.0


def hyp(layer: str, fault: str, score: float, role: str = "ruled_out") -> Hypothesis:
    return Hypothesis.model_validate(
        {
            "layer": layer,
            "fault": fault,
            "component": "c",
            "score": score,
            "by": layer,
            "findings": ["f1"],
            "role": role,
        }
    )


def diag(
    root: tuple[str, str] | None, hyps: list[Hypothesis], verdict: str = "diagnosed"
) -> Diagnosis:
    return Diagnosis.model_validate(
        {
            "incident": IncidentRef(
                alertname="A", fingerprint="x", observed_at=datetime(2024, 1, 1, tzinfo=UTC)
            ),
            "verdict": verdict,
            "root_cause": RootCause(layer=root[0], fault=root[1], component="c") if root else None,
            "confidence": 0.5,
            "hypotheses": hyps,
            "findings": [],
            "evidence": [],
            "remediation": [],
            "model": ModelUse(backend="none", available=False),
            "timings": Timings(total_s=0.0),
        }
    )


def test_ranked_answers_root_first_then_by_score() -> None:
    d = diag(
        ("network", "stp_loop"),
        [
            hyp("network", "stp_loop", 0.9, "root_cause"),
            hyp("dns", "upstream_failure", 0.24, "symptom"),
            hyp("compute", "oom_kill", 0.5),
            hyp("storage", "disk_full", 0.1),
        ],
    )
    assert ranked_answers(d) == [
        "network/stp_loop",
        "compute/oom_kill",
        "dns/upstream_failure",
        "storage/disk_full",
    ]
    # "nothing is broken" counts when it is the answer
    nf = diag(("none", "no_fault"), [hyp("compute", "cpu_saturation", 0.2)])
    assert ranked_answers(nf) == ["none/no_fault", "compute/cpu_saturation"]


def rc(layer: str, fault: str = "f", component: str = "c") -> RootCause:
    return RootCause.model_construct(layer=layer, fault=fault, component=component)


# (expected, got, confidence, verdict, correct, top1, top3, answer_correct)
HAND = [
    EvalResult("a", rc("network"), rc("network"), 0.9, "diagnosed", True, True, True, True, 1.0),
    # confident-wrong: diagnosed, wrong, >= 0.7 (right layer/fault, wrong component)
    EvalResult("b", rc("network"), rc("network"), 0.8, "diagnosed", False, True, True, False, 2.0),
    # wrong but not confident
    EvalResult("c", rc("dns"), rc("compute"), 0.6, "diagnosed", False, False, True, False, 3.0),
    # abstained on a right answer: not correct, not confident-wrong, right for calibration
    EvalResult("d", rc("dns"), rc("dns"), 0.4, "abstained", False, False, False, True, 4.0),
    EvalResult("e", rc("none"), None, 0.0, "failed", False, False, False, False, 5.0, note="x"),
    EvalResult("f", None, error="Invalid scenario: broken"),
]


def test_summary_counting_rules() -> None:
    s = summarize(HAND, skipped=2)
    assert s["scenarios"] == 5 and s["errors"] == 1 and s["skipped_unlabelled"] == 2
    assert s["top1_accuracy"] == pytest.approx(2 / 5)
    assert s["top3_accuracy"] == pytest.approx(3 / 5)
    assert s["component_accuracy"] == pytest.approx(1 / 5)
    assert s["abstention_rate"] == pytest.approx(1 / 5)
    assert s["failed"] == 1
    assert s["confident_wrong"] == 1
    confs = [0.9, 0.8, 0.6, 0.4, 0.0]
    labels = [True, False, False, True, False]
    assert s["ece"] == pytest.approx(round(ece(confs, labels), 4))
    assert s["brier"] == pytest.approx(round(brier(confs, labels), 4))
    assert s["p50_seconds"] == pytest.approx(3.0)
    assert s["by_layer"]["network"] == {
        "scenarios": 2,
        "top1_accuracy": 1.0,
        "component_accuracy": 0.5,
    }
    assert s["by_layer"]["dns"]["top1_accuracy"] == 0.0


def test_confusion_table() -> None:
    assert confusion(HAND) == {
        "dns": {"(abstained)": 1, "compute": 1},
        "network": {"network": 2},
        "none": {"(failed)": 1},
    }


def test_empty_summary_is_zeros() -> None:
    s = summarize([])
    assert s["scenarios"] == 0 and s["ece"] == 0.0 and s["top1_accuracy"] == 0.0


# ---------------------------------------------------------------------------- corpus


def test_split_is_stable_by_name_and_about_30_percent(tmp_path: Path) -> None:
    assert split_of("/a/b/incident-7") == split_of(tmp_path / "incident-7")
    names = [f"gen-{i:04d}" for i in range(2000)]
    test_share = sum(split_of(n) == "test" for n in names) / len(names)
    assert 0.27 < test_share < 0.33


def test_discover_recurses_dedups_and_skips_hidden(tmp_path: Path) -> None:
    for rel in ("x/s1", "x/deeper/s2", "y/s3", ".hidden/s4", "x/s1/inner"):
        (tmp_path / rel).mkdir(parents=True)
    for rel in ("x/s1", "x/deeper/s2", "y/s3", ".hidden/s4", "x/s1/inner"):
        (tmp_path / rel / "scenario.yaml").write_text("schema_version: 1\n")
    found = discover([tmp_path, tmp_path / "x"])
    assert [p.relative_to(tmp_path).as_posix() for p in found] == ["x/deeper/s2", "x/s1", "y/s3"]
    train = discover([tmp_path], "train")
    test = discover([tmp_path], "test")
    assert sorted(train + test) == sorted(found) and not set(train) & set(test)
    with pytest.raises(EvalError, match="not a directory"):
        discover([tmp_path / "nope"])


# ---------------------------------------------------------------------------- the CLI


def strata(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "strata", *args],
        capture_output=True,
        text=True,
        timeout=300,
        env={**os.environ, "OLLAMA_HOST": "127.0.0.1:9"},
        cwd=ROOT,
    )


def eval_json(*args: str) -> tuple[int, dict[str, Any]]:
    proc = strata("eval", *args, "--json", "--model", "none")
    assert "Traceback" not in proc.stderr, proc.stderr
    data: dict[str, Any] = json.loads(proc.stdout)  # exactly one JSON object
    return proc.returncode, data


@needs_prometheus
def test_eval_cli_on_seed_scenarios() -> None:
    rc_, data = eval_json("scenarios")
    assert rc_ == 0
    s = data["summary"]
    for key in (
        "scenarios",
        "top1_accuracy",
        "top3_accuracy",
        "component_accuracy",
        "abstention_rate",
        "ece",
        "brier",
        "confident_wrong",
        "p50_seconds",
        "p95_seconds",
        "by_layer",
    ):
        assert key in s, key
    assert s["scenarios"] == len(data["results"]) >= 3 and s["errors"] == 0
    by_name = {Path(r["path"]).name: r for r in data["results"]}
    for name in SEEDS:
        r = by_name[name]
        assert set(r) >= {"path", "expected", "got", "confidence", "verdict", "correct", "seconds"}
        assert r["correct"] is True and r["verdict"] == "diagnosed", r
        assert 0.0 <= r["confidence"] <= 1.0 and r["seconds"] > 0
    assert by_name[SEEDS[1]]["got"] == {"layer": "network", "fault": "stp_loop", "component": "sw1"}
    assert 0 <= s["p50_seconds"] <= s["p95_seconds"]


def _copy(src: str, dst: Path, *, scrub: bool = True, truth: dict[str, Any] | None = None) -> None:
    shutil.copytree(SCENARIOS / src, dst)
    meta = yaml.safe_load((dst / "scenario.yaml").read_text())
    if scrub:
        meta.update(id=dst.name, title="unlabelled incident", tags=[])
        meta["ground_truth"].pop("explanation", None)
        meta["ground_truth"].pop("red_herrings", None)
    if truth is not None:
        meta["ground_truth"] = truth
    (dst / "scenario.yaml").write_text(yaml.safe_dump(meta))


@needs_prometheus
def test_eval_same_answers_after_renaming_scrubbing_and_relabelling(tmp_path: Path) -> None:
    """No detector reads names, ids or ground truth: renamed, scrubbed copies get the same
    answers, and a copy with a deliberately wrong label gets the same answer, scored wrong.
    """
    corpus = tmp_path / "corpus"
    names = {seed: f"inc-{i:02d}-{'q' * i}" for i, seed in enumerate(SEEDS, 1)}
    for seed, name in names.items():
        _copy(seed, corpus / "nested" / name)
    wrong = {"layer": "dns", "fault": "upstream_failure", "component": "coredns"}
    _copy(SEEDS[1], corpus / "relabelled", truth=wrong)
    _, original = eval_json(*(str(SCENARIOS / s) for s in SEEDS))
    rc_, copied = eval_json(str(corpus))
    assert rc_ == 0
    got = {Path(r["path"]).name: r for r in copied["results"]}
    for r in original["results"]:
        c = got[names[Path(r["path"]).name]]
        for key in ("expected", "got", "confidence", "verdict", "correct"):
            assert c[key] == r[key], (key, c, r)
    relabelled = got["relabelled"]
    assert relabelled["got"] == {"layer": "network", "fault": "stp_loop", "component": "sw1"}
    assert relabelled["correct"] is False and relabelled["expected"] == wrong
    assert copied["summary"]["top1_accuracy"] == pytest.approx(3 / 4)


@needs_prometheus
def test_broken_and_unlabelled_scenarios_are_rows_not_aborts(tmp_path: Path) -> None:
    _copy(SEEDS[2], tmp_path / "good")
    _copy(SEEDS[2], tmp_path / "broken")
    (tmp_path / "broken" / "alert.json").write_text("{not json")
    _copy(SEEDS[2], tmp_path / "unlabelled")
    meta = yaml.safe_load((tmp_path / "unlabelled" / "scenario.yaml").read_text())
    del meta["ground_truth"]
    (tmp_path / "unlabelled" / "scenario.yaml").write_text(yaml.safe_dump(meta))
    rc_, data = eval_json(str(tmp_path))
    assert rc_ == 1  # some scenario could not be evaluated
    s = data["summary"]
    assert (s["scenarios"], s["errors"], s["skipped_unlabelled"]) == (1, 1, 1)
    broken = next(r for r in data["results"] if r["path"].endswith("broken"))
    assert "alert.json" in broken["error"] and broken["correct"] is False
    assert data["skipped"] == [str(tmp_path / "unlabelled")]
    assert s["top1_accuracy"] == 1.0  # the error row is left out of the metrics


@needs_prometheus
def test_human_table_single_agent_and_split(tmp_path: Path) -> None:
    proc = strata("eval", "scenarios", "--model", "none", "--single-agent", "--concurrency", "3")
    assert proc.returncode == 0, proc.stderr
    out = proc.stdout
    assert "single agent (baseline)" in out and "top-1" in out and "confusion" in out
    for name in SEEDS:
        assert name in out
    assert "━" not in proc.stderr  # no progress bar when stderr is not a terminal
    train = [n for n in SEEDS if split_of(n) == "train"]
    if train:
        _, data = eval_json("scenarios", "--split", "train")
        assert {Path(r["path"]).name for r in data["results"]} >= set(train)
        assert all(split_of(r["path"]) == "train" for r in data["results"])


def test_bad_input_exits_2(tmp_path: Path) -> None:
    proc = strata("eval", str(tmp_path / "missing"), "--model", "none")
    assert proc.returncode == 2 and "not a directory" in proc.stderr
    proc = strata("eval", str(tmp_path), "--model", "none")
    assert proc.returncode == 2 and "no scenario directories" in proc.stderr


def _saved_eval(path: Path, mode: str = "multi-agent") -> Path:
    """A saved ``strata eval --json`` run: two right and one wrong train rows, one test row."""
    rows = []
    for i, (ok, split) in enumerate(
        ((True, "train"), (True, "train"), (False, "train"), (True, "test"))
    ):
        rows.append(
            {
                "path": f"/c/s{i}",
                "verdict": "diagnosed",
                "answer_correct": ok,
                "split": split,
                "error": None,
                "features": {"plain_logit": 2.0 if ok else -1.0, "root_score": 0.9 if ok else 0.4},
            }
        )
    path.write_text(json.dumps({"summary": {"mode": mode}, "results": rows, "skipped": []}))
    return path


def test_calibrate_from_a_saved_eval_fits_the_chosen_split(tmp_path: Path) -> None:
    out = tmp_path / "cal.json"
    proc = strata(
        "calibrate", "--from-eval", str(_saved_eval(tmp_path / "e.json")), "--out", str(out)
    )
    assert proc.returncode == 0, proc.stderr
    cal = json.loads(out.read_text())
    assert cal["training_size"] == 3 and cal["training_correct"] == 2  # the test row is not used
    assert "--from-eval" in cal["source"] and "fitted on 3 scenarios" in proc.stdout
    saved = str(tmp_path / "e.json")
    proc = strata("calibrate", "--from-eval", saved, "--from-eval", saved, "--out", str(out))
    assert proc.returncode == 0, proc.stderr
    assert json.loads(out.read_text())["training_size"] == 6  # runs are pooled


def test_calibrate_from_eval_refuses_bad_input(tmp_path: Path) -> None:
    single = _saved_eval(tmp_path / "single.json", mode="single-agent")
    proc = strata("calibrate", "--from-eval", str(single), "--out", str(tmp_path / "c.json"))
    assert proc.returncode == 2 and "multi-agent" in proc.stderr
    (tmp_path / "junk.json").write_text("{not json")
    proc = strata(
        "calibrate", "--from-eval", str(tmp_path / "junk.json"), "--out", str(tmp_path / "c.json")
    )
    assert proc.returncode == 2 and "not a `strata eval --json` result" in proc.stderr
    proc = strata("calibrate", "--out", str(tmp_path / "c.json"))
    assert proc.returncode == 2 and "DIRs" in proc.stderr
    assert not (tmp_path / "c.json").exists()
