"""The feedback store (real SQLite files) and the export as a labelled format-v1 scenario."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import pytest

from strata.cli import main
from tools.scenario.loader import load_scenario
from tui.feedback import FeedbackError, FeedbackStore, export_scenario, scenario_id

STP = Path(__file__).resolve().parents[2] / "scenarios" / "10_stp_loop_dns_symptoms"
OBSERVED = datetime(2024, 12, 14, 3, 12, tzinfo=UTC)
ALERT = (STP / "alert.json").read_text(encoding="utf-8")


def _record(store: FeedbackStore, **kw: object) -> object:
    args: dict[str, object] = {
        "incident_key": "10_stp_loop_dns_symptoms",
        "origin": "scenario",
        "alertname": "KubeAPILatencyHigh",
        "correct": False,
        "layer": "dns",
        "fault": "upstream_failure",
        "component": "router",
        "observed_at": OBSERVED,
        "window_start": datetime(2024, 12, 14, 2, 40, tzinfo=UTC),
        "alert_json": ALERT,
        "predicted": "network/stp_loop/sw1",
        "scenario_path": str(STP),
        "note": "the upstream resolver died",
    }
    args.update(kw)
    return store.record(**args)  # type: ignore[arg-type]


def test_feedback_survives_reopening(tmp_path: Path) -> None:
    path = tmp_path / "fb.sqlite3"
    _record(FeedbackStore(path), correct=True, layer="network", fault="stp_loop", component="sw1")
    _record(FeedbackStore(path))
    again = FeedbackStore(path)
    latest = again.latest("10_stp_loop_dns_symptoms")
    assert latest is not None
    assert (latest.correct, latest.label) == (False, "dns/upstream_failure/router")
    assert len(again.all()) == 1
    assert again.latest("other") is None
    again.mark("10_stp_loop_dns_symptoms", 0, "look at sw1", "approved")
    again.mark("10_stp_loop_dns_symptoms", 0, "look at sw1", "done")
    assert FeedbackStore(path).marks("10_stp_loop_dns_symptoms")[0][0] == "done"


def test_bad_feedback_is_refused_and_loses_nothing(tmp_path: Path) -> None:
    store = FeedbackStore(tmp_path / "fb.sqlite3")
    _record(store)
    with pytest.raises(FeedbackError, match="unknown fault 'meteor'"):
        _record(store, fault="meteor")
    with pytest.raises(FeedbackError, match="component"):
        _record(store, component="  ")
    latest = store.latest("10_stp_loop_dns_symptoms")
    assert latest is not None and latest.fault == "upstream_failure"


def test_unwritable_store_is_a_clear_error(tmp_path: Path) -> None:
    blocker = tmp_path / "file"
    blocker.write_text("x")
    with pytest.raises(FeedbackError, match="cannot open the feedback store"):
        FeedbackStore(blocker / "fb.sqlite3")


def test_export_is_a_valid_labelled_scenario(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    store = FeedbackStore(tmp_path / "fb.sqlite3")
    fb = _record(store)
    out = export_scenario(fb, tmp_path / scenario_id(fb))  # type: ignore[arg-type]
    assert out.name == "feedback_kubeapilatencyhigh_20241214T0312"
    s = load_scenario(out)
    assert s.meta.ground_truth is not None
    assert (
        s.meta.ground_truth.layer,
        s.meta.ground_truth.fault,
        s.meta.ground_truth.component,
    ) == (
        "dns",
        "upstream_failure",
        "router",
    )
    assert s.meta.ground_truth.explanation == "the upstream resolver died"
    assert s.meta.observed_at == OBSERVED
    assert "corrected" in s.meta.tags
    for name in ("metrics.om", "logs.jsonl", "snmp.jsonl", "ssh.jsonl", "alert.json"):
        assert (out / name).read_bytes() == (STP / name).read_bytes()
    assert main(["validate", str(out)]) == 0
    assert "ok" in capsys.readouterr().out
    with pytest.raises(FeedbackError, match="not empty"):
        export_scenario(fb, out)  # type: ignore[arg-type]


def test_export_without_a_recording_holds_the_alert_only(tmp_path: Path) -> None:
    store = FeedbackStore(tmp_path / "fb.sqlite3")
    fb = _record(store, scenario_path=None, origin="server", correct=True,
                 layer="network", fault="stp_loop", component="sw1", note="")  # fmt: skip
    out = export_scenario(fb, tmp_path / "x")  # type: ignore[arg-type]
    s = load_scenario(out)
    assert s.metrics_path is None and s.logs is None
    assert s.alert.alertname == "KubeAPILatencyHigh"
    assert s.meta.ground_truth is not None and s.meta.ground_truth.component == "sw1"
    assert "confirmed" in s.meta.tags
