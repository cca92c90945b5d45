"""End to end: ``strata replay`` over the committed seed scenarios, as a user runs it.

Real Prometheus (backfilled with promtool) serves the recorded metrics; no model
server runs here, so ``--model auto`` must fall back quickly and say so once.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import jsonschema
import pytest
import yaml

from agents.models import Diagnosis
from agents.scoring import score
from tools.scenario.loader import load_scenario

ROOT = Path(__file__).resolve().parents[2]
SCENARIOS = ROOT / "scenarios"
SEEDS = sorted(p for p in SCENARIOS.iterdir() if (p / "scenario.yaml").is_file())
SCHEMA = json.loads((ROOT / "docs" / "diagnosis.schema.json").read_text())

pytestmark = pytest.mark.skipif(
    shutil.which("promtool") is None or shutil.which("prometheus") is None,
    reason="Prometheus/promtool not installed (make test installs the Debian package)",
)


def strata(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    full_env = {**os.environ, "OLLAMA_HOST": "127.0.0.1:9", **(env or {})}
    return subprocess.run(
        [sys.executable, "-m", "strata", *args],
        capture_output=True,
        text=True,
        timeout=120,
        env=full_env,
        cwd=ROOT,
    )


def replay_json(path: Path) -> dict[str, Any]:
    proc = strata("replay", str(path), "--json", "--model", "none")
    assert proc.returncode == 0, proc.stderr
    data: dict[str, Any] = json.loads(proc.stdout)
    return data


def test_there_are_seed_scenarios() -> None:
    assert len(SEEDS) >= 3


@pytest.mark.parametrize("path", SEEDS, ids=[p.name for p in SEEDS])
def test_replay_json_validates_and_matches_ground_truth(path: Path) -> None:
    data = replay_json(path)
    jsonschema.validate(data, SCHEMA)
    diagnosis = Diagnosis.model_validate(data)
    truth = load_scenario(path).meta.ground_truth
    assert truth is not None
    result = score(diagnosis, truth.layer, truth.fault, truth.component)
    assert result.correct, (diagnosis.root_cause, truth)
    for herring in truth.red_herrings:
        roles = {h.role for h in diagnosis.hypotheses if h.layer == herring}
        assert "root_cause" not in roles


def test_stp_scenario_names_switch_and_marks_dns_as_symptom() -> None:
    data = replay_json(SCENARIOS / "10_stp_loop_dns_symptoms")
    assert data["root_cause"] == {"layer": "network", "fault": "stp_loop", "component": "sw1"}
    dns = [h for h in data["hypotheses"] if h["layer"] == "dns"]
    assert dns, "the DNS specialist should have proposed its (wrong) hypothesis"
    assert all(h["role"] == "symptom" and h["explained_by"] == "network/stp_loop" for h in dns)
    cited = {f for h in data["hypotheses"] for f in h["findings"]}
    assert cited <= {f["id"] for f in data["findings"]}
    assert {e for f in data["findings"] for e in f["evidence"]} <= {
        e["id"] for e in data["evidence"]
    }


def test_human_report_default_model_says_once_it_runs_without_model() -> None:
    proc = strata("replay", str(SCENARIOS / "10_stp_loop_dns_symptoms"))
    assert proc.returncode == 0, proc.stderr
    assert proc.stderr.count("running without a model") == 1
    out = proc.stdout
    assert "ROOT CAUSE  network / stp_loop / sw1" in out
    assert "symptom" in out and "explained by network/stp_loop" in out
    assert "requires approval" in out
    assert "Traceback" not in proc.stderr


def test_specialists_overlap_in_time() -> None:
    data = replay_json(SCENARIOS / "10_stp_loop_dns_symptoms")
    spans = data["timings"]["spans"]
    assert set(spans) == {"network", "compute", "storage", "dns", "control-plane", "application"}
    latest_start = max(s for s, _ in spans.values())
    earliest_end = min(e for _, e in spans.values())
    assert latest_start < earliest_end, spans


def test_answer_does_not_depend_on_names_ids_or_ground_truth(tmp_path: Path) -> None:
    """Rename the directory, scrub the id, title, tags and ground truth: same diagnosis."""
    original = SCENARIOS / "10_stp_loop_dns_symptoms"
    copy = tmp_path / "incident-xyz"
    shutil.copytree(original, copy)
    meta = yaml.safe_load((copy / "scenario.yaml").read_text())
    meta.pop("ground_truth", None)
    meta.update(id="incident-xyz", title="unlabelled", tags=[])
    (copy / "scenario.yaml").write_text(yaml.safe_dump(meta))
    a, b = replay_json(original), replay_json(copy)
    for d in (a, b):
        d.pop("timings")
    assert a == b


def _write_bad(tmp_path: Path, name: str, edit: str) -> Path:
    bad = tmp_path / name
    shutil.copytree(SCENARIOS / "10_stp_loop_dns_symptoms", bad)
    if edit == "yaml":
        (bad / "scenario.yaml").write_text("schema_version: 1\nid: [unclosed\n")
    elif edit == "types":
        meta = yaml.safe_load((bad / "scenario.yaml").read_text())
        meta["observed_at"] = [1, 2]
        (bad / "scenario.yaml").write_text(yaml.safe_dump(meta))
    elif edit == "version":
        meta = yaml.safe_load((bad / "scenario.yaml").read_text())
        meta["schema_version"] = 7
        (bad / "scenario.yaml").write_text(yaml.safe_dump(meta))
    elif edit == "log_ts":
        with (bad / "logs.jsonl").open("a") as f:
            f.write(json.dumps({"labels": {"app": "coredns"}, "line": "no time"}) + "\n")
    return bad


@pytest.mark.parametrize(
    ("edit", "needle"),
    [
        ("yaml", "scenario.yaml:"),
        ("types", "observed_at"),
        ("version", "schema_version"),
        ("log_ts", "logs.jsonl:"),
    ],
)
def test_malformed_scenarios_get_one_clear_error(tmp_path: Path, edit: str, needle: str) -> None:
    bad = _write_bad(tmp_path, f"bad-{edit}", edit)
    proc = strata("replay", str(bad), "--model", "none")
    assert proc.returncode == 2
    assert "Traceback" not in proc.stderr
    assert needle in proc.stderr
    assert proc.stdout == ""


def test_missing_directory_is_a_clear_error(tmp_path: Path) -> None:
    proc = strata("replay", str(tmp_path / "nope"), "--model", "none")
    assert proc.returncode == 2 and "Traceback" not in proc.stderr
    assert "nope" in proc.stderr
