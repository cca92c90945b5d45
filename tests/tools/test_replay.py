"""tools.scenario.replay: a loaded scenario opened as Sources, with notes for what is missing."""

from __future__ import annotations

import json
import os
import shutil
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from tools.logs.base import LabelMatcher, LogQuery
from tools.metrics.recorded import RecordedPrometheus
from tools.scenario.loader import load_scenario
from tools.scenario.replay import open_recorded_sources

ALERT = Path(__file__).parent.parent / "fixtures" / "alertmanager" / "webhook_v4_docsrs.json"
OBSERVED = datetime(2024, 12, 14, 3, 12, tzinfo=UTC)
OBS = int(OBSERVED.timestamp())

needs_prometheus = pytest.mark.skipif(
    not (shutil.which("prometheus") and shutil.which("promtool")),
    reason="prometheus/promtool not installed (Debian package 'prometheus')",
)


def make(tmp_path: Path, **files: str) -> Path:
    root = tmp_path / "sc"
    root.mkdir()
    (root / "scenario.yaml").write_text(
        "schema_version: 1\nid: t\ntitle: t\n"
        f'observed_at: "2024-12-14T03:12:00Z"\nwindow: {{start: {OBS - 600}, end: {OBS}}}\n'
        "ground_truth: {layer: storage, fault: disk_full, component: node-2}\n"
    )
    shutil.copy(ALERT, root / "alert.json")
    for name, text in files.items():
        (root / name.replace("_", ".")).write_text(text)
    return root


def line(ts: int, text: str) -> str:
    return json.dumps({"ts": ts, "labels": {"app": "kubelet"}, "line": text}) + "\n"


async def test_absent_files_are_none_with_notes(tmp_path: Path) -> None:
    async with open_recorded_sources(load_scenario(make(tmp_path))) as sources:
        assert sources.missing() == ["metrics", "logs", "snmp", "ssh"]
        assert sources.notes == (
            "metrics: no metrics.om in this recording",
            "logs: no logs.jsonl in this recording",
            "snmp: no snmp.jsonl in this recording",
            "ssh: no ssh.jsonl in this recording",
        )


@needs_prometheus
@pytest.mark.integration
async def test_all_sources_and_the_clock(tmp_path: Path) -> None:
    root = make(
        tmp_path,
        metrics_om=f"# TYPE disk gauge\ndisk 0.9 {OBS - 60}\ndisk 1.0 {OBS + 60}\n# EOF\n",
        logs_jsonl=line(OBS - 30, "disk pressure") + line(OBS + 30, "from the future"),
        snmp_jsonl=json.dumps(
            {
                "ts": OBS,
                "device": "sw1",
                "oid": "1.3.6.1.2.1.1.3.0",
                "type": "TimeTicks",
                "value": 1,
            }
        ),
        ssh_jsonl=json.dumps({"ts": OBS + 5, "host": "node-2", "command": "df -h", "stdout": "x"}),
    )
    async with open_recorded_sources(load_scenario(root)) as sources:
        assert sources.missing() == [] and sources.notes == ()
        assert sources.metrics is not None and sources.logs is not None
        assert sources.snmp is not None and sources.ssh is not None
        [disk] = await sources.metrics.instant("disk", OBSERVED + timedelta(hours=1))
        assert disk.value == 0.9
        query = LogQuery(
            matchers=(LabelMatcher(label="app", value="kubelet"),),
            start=OBSERVED - timedelta(hours=1),
            end=OBSERVED + timedelta(hours=1),
        )
        assert [r.line for r in await sources.logs.query(query)] == ["disk pressure"]
        assert sources.snmp.devices() == ["sw1"]
        assert (await sources.ssh.run("node-2", "df -h")).status == "unavailable"
        assert isinstance(sources.metrics, RecordedPrometheus)
        pid = sources.metrics.pid
    assert pid is not None
    with pytest.raises(ProcessLookupError):
        os.kill(pid, 0)


@needs_prometheus
@pytest.mark.integration
async def test_metrics_that_cannot_start_leave_a_note(tmp_path: Path) -> None:
    root = make(tmp_path, metrics_om=f"disk 1 {OBS}\n", logs_jsonl=line(OBS, "x"))
    async with open_recorded_sources(load_scenario(root)) as sources:
        assert sources.metrics is None and sources.logs is not None
        [note] = [n for n in sources.notes if n.startswith("metrics:")]
        assert "could not start" in note and "metrics.om" in note and "# EOF" in note
