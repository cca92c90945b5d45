"""Real Alertmanager 0.25 → a real ``strata serve`` process → reports.

Alertmanager (group_wait 1s) posts the STP scenario's alert with a bearer token from its
``http_config``; the group is diagnosed against the scenario's recording and the report
is readable through the API and as files. Resolving the alert closes the incident.
Then restarts: ``kill -9`` with jobs in flight, and two servers sharing a real
PostgreSQL queue.
"""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import psycopg
import pytest
from serve_harness import ALERTMANAGER, STP, Alertmanager, Serve, stp_payload

pytestmark = [
    pytest.mark.integration,
    pytest.mark.skipif(ALERTMANAGER is None, reason="prometheus-alertmanager not installed"),
]

TOKEN = "am-to-strata-7f3c"


def scenario_alert(**labels: str) -> dict[str, Any]:
    alert = json.loads((STP / "alert.json").read_text())["alerts"][0]
    return {
        "labels": dict(alert["labels"], **labels),
        "annotations": alert["annotations"],
        "generatorURL": alert["generatorURL"],
    }


@pytest.fixture
def served(tmp_path: Path) -> Iterator[tuple[Serve, Alertmanager]]:
    serve = Serve(tmp_path / "serve", token=TOKEN, extra=["--workers", "2"]).start()
    am = Alertmanager(tmp_path / "am", f"{serve.url}/webhook/alertmanager", token=TOKEN,
                      group_by=("alertname", "namespace")).start()  # fmt: skip
    try:
        yield serve, am
    finally:
        am.stop()
        assert serve.stop() == 0


def test_alertmanager_to_report_for_the_stp_incident(served: tuple[Serve, Alertmanager]) -> None:
    serve, am = served
    am.push([scenario_alert()])
    [incident] = serve.wait_done(1, timeout_s=60)
    assert incident["alertname"] == "KubeAPILatencyHigh"
    assert incident["status"] == "diagnosed"
    assert incident["root_cause"] == "network/stp_loop/sw1"
    assert incident["group_key"] == '{}:{alertname="KubeAPILatencyHigh", namespace="default"}'
    one = serve.get(f"/api/incidents/{incident['id']}").json()
    assert one["diagnosis"]["root_cause"] == {
        "layer": "network",
        "fault": "stp_loop",
        "component": "sw1",
    }
    dns = [h for h in one["diagnosis"]["hypotheses"] if h["layer"] == "dns"]
    assert dns and all(h["role"] == "symptom" for h in dns)
    assert one["alerts"][0]["labels"]["alertname"] == "KubeAPILatencyHigh"
    assert "stp_loop" in one["report_markdown"]
    files = {p.name for p in serve.reports.iterdir()}
    assert files == {f"{incident['id']}.json", f"{incident['id']}.md"}
    assert json.loads((serve.reports / f"{incident['id']}.json").read_text()) == one["diagnosis"]

    # Alertmanager re-sends the group with one more alert: the same incident, no new diagnosis.
    am.push([scenario_alert(), scenario_alert(instance="10.0.0.2:6443")])
    deadline = time.monotonic() + 20
    while serve.get(f"/api/incidents/{incident['id']}").json()["notifications"] < 2:
        assert time.monotonic() < deadline, "no re-notification arrived"
        time.sleep(0.2)
    # Resolved: the incident is closed, still with its report.
    now = datetime.now(UTC)
    resolved = dict(scenario_alert(), startsAt=(now - timedelta(minutes=5)).isoformat(),
                    endsAt=(now - timedelta(seconds=1)).isoformat())  # fmt: skip
    am.push([resolved, dict(resolved, labels=scenario_alert(instance="10.0.0.2:6443")["labels"])])
    deadline = time.monotonic() + 20
    while (state := serve.incidents())[0]["status"] != "resolved":
        assert time.monotonic() < deadline, state
        time.sleep(0.2)
    assert len(state) == 1 and state[0]["root_cause"] == "network/stp_loop/sw1"
    metrics = serve.get("/metrics").text
    assert 'strata_diagnoses_total{verdict="diagnosed"} 1.0' in metrics
    assert "strata_webhook_deduplicated_total" in metrics
    assert "strata_diagnosis_duration_seconds_count 1.0" in metrics
    assert "strata_queue_depth 0.0" in metrics


def test_alertmanager_without_the_token_is_refused(tmp_path: Path) -> None:
    serve = Serve(tmp_path / "serve", token=TOKEN).start()
    am = Alertmanager(tmp_path / "am", f"{serve.url}/webhook/alertmanager", token="wrong").start()
    try:
        am.push([scenario_alert()])
        deadline = time.monotonic() + 15
        while not any(r.get("status") == 401 for r in serve.logs()):
            assert time.monotonic() < deadline, "Alertmanager never posted"
            time.sleep(0.2)
        assert serve.incidents() == []
    finally:
        am.stop()
        serve.stop()


def test_kill_9_with_jobs_in_flight_loses_nothing(tmp_path: Path) -> None:
    """Server and workers die together mid-diagnosis; the restarted server finds the job
    under a dead lease, takes it again once the lease expires, and reports every group."""
    args = ["--workers", "1", "--lease", "2"]
    serve = Serve(tmp_path / "serve", extra=args).start()
    for i in range(4):
        assert serve.post(stp_payload(f"k{i}")).status_code == 202
    deadline = time.monotonic() + 30
    while not any(i["status"] == "diagnosing" for i in serve.incidents()):
        assert time.monotonic() < deadline
        time.sleep(0.02)
    serve.kill9()
    # Nothing was reported twice and nothing vanished: the same server comes back.
    again = Serve(serve.data_dir, port=serve.port, extra=args).start()
    try:
        done = again.wait_done(4, timeout_s=90)
        assert len(done) == 4 and all(i["root_cause"] == "network/stp_loop/sw1" for i in done)
        assert len(list(again.reports.glob("*.json"))) == 4
        reclaimed = [
            e for e in again.logs() if e.get("msg") == "diagnosing" and e.get("attempt") == 2
        ]
        assert reclaimed, "the job in flight was not taken again"
    finally:
        assert again.stop() == 0


def test_two_servers_share_one_postgres_queue(tmp_path: Path, pg_url: str) -> None:
    servers = [
        Serve(tmp_path / f"s{n}", extra=["--queue", pg_url, "--workers", "1", "--reports",
                                         str(tmp_path / "reports")]).start()
        for n in range(2)
    ]  # fmt: skip
    try:
        for i in range(6):
            # Both servers receive every group (as two Alertmanager peers would post).
            for s in servers:
                assert s.post(stp_payload(f"p{i}")).status_code == 202
        done = servers[0].wait_done(6, timeout_s=90)
        assert len(done) == 6
        assert servers[1].incidents() == servers[0].incidents()
    finally:
        for s in servers:
            assert s.stop() == 0
    with psycopg.connect(pg_url) as conn:
        attempts = conn.execute("SELECT attempts, notifications FROM incidents").fetchall()
        owners = conn.execute("SELECT COUNT(*) FROM notifications").fetchone()
    assert attempts == [(1, 2)] * 6  # each diagnosed once, both notifications kept
    assert owners == (12,)
    assert len(list((tmp_path / "reports").glob("*.md"))) == 6
    stored = [e for s in servers for e in s.logs() if e.get("msg") == "report stored"]
    assert len(stored) == 6
    assert {e["pid"] for s in servers for e in s.logs() if e.get("msg") == "workers started"}
