"""tools.scenario.loader: valid scenarios load; every problem names file, line and field."""

from __future__ import annotations

import json
import shutil
from datetime import UTC, datetime
from pathlib import Path

import pytest

from tools.errors import ToolError
from tools.scenario.loader import Scenario, ScenarioError, load_scenario

ALERT = Path(__file__).parent.parent / "fixtures" / "alertmanager" / "webhook_v4_docsrs.json"

SCENARIO_YAML = """\
schema_version: 1
id: 10_stp_loop_dns_symptoms
title: API latency alert; DNS errors in logs; real cause a switch loop
observed_at: "2024-12-14T03:12:00Z"
window: {start: "2024-12-14T02:40:00Z", end: "2024-12-14T03:12:00Z"}
topology:
  nodes: [{name: node-1, address: 10.0.0.11, switch: sw1, port: 3}]
  switches: [{name: sw1, address: 10.0.0.2}]
  services: [{name: coredns, namespace: kube-system, kind: dns}]
ground_truth:
  layer: network
  fault: stp_loop
  component: sw1
  explanation: >
    A bridging loop on sw1.
  red_herrings: [dns]
tags: [seed, conflicting]
"""

LOG = {"ts": "2024-12-14T03:00:00Z", "labels": {"app": "coredns"}, "line": "timeout"}
VARBIND = {"ts": 1734145200, "device": "sw1", "oid": "1.3.6.1.2.1.17.2.4.0",
           "type": "Counter32", "value": 7}  # fmt: skip
COMMAND = {"ts": "2024-12-14T03:05:00+01:00", "host": "node-1", "command": "df -h",
           "exit_status": 0, "stdout": "/dev/sda1 100%", "stderr": ""}  # fmt: skip


def make(tmp_path: Path, yaml_text: str = SCENARIO_YAML, **files: str) -> Path:
    """A scenario dir: scenario.yaml, alert.json and the named extra files (logs_jsonl=...)."""
    root = tmp_path / "scenarios" / "x"
    root.mkdir(parents=True)
    (root / "scenario.yaml").write_text(yaml_text, encoding="utf-8")
    shutil.copy(ALERT, root / "alert.json")
    for name, text in files.items():
        (root / name.replace("_", ".")).write_text(text, encoding="utf-8")
    return root


def jsonl(*objs: object) -> str:
    return "".join(json.dumps(o) + "\n" for o in objs)


def error_of(root: Path) -> ScenarioError:
    with pytest.raises(ScenarioError) as info:
        load_scenario(root)
    return info.value


def test_valid_scenario_loads_everything(tmp_path: Path) -> None:
    root = make(
        tmp_path,
        logs_jsonl=jsonl(LOG, {**LOG, "ts": 1734145500}),
        snmp_jsonl=jsonl(VARBIND, {**VARBIND, "oid": ".1.3.6.1.2.1.1.3.0", "type": "TimeTicks"}),
        ssh_jsonl=jsonl(COMMAND),
        metrics_om="# EOF\n",
    )
    sc = load_scenario(str(root))
    assert isinstance(sc, Scenario)
    assert sc.path == root
    meta = sc.meta
    assert meta.id == "10_stp_loop_dns_symptoms"
    assert meta.observed_at == datetime(2024, 12, 14, 3, 12, tzinfo=UTC)
    assert meta.observed_at.tzinfo is UTC
    assert meta.window.start == datetime(2024, 12, 14, 2, 40, tzinfo=UTC)
    assert meta.topology.nodes[0].port == 3
    assert meta.topology.services_of_kind("dns")[0].name == "coredns"
    assert meta.ground_truth is not None
    assert (meta.ground_truth.layer, meta.ground_truth.fault) == ("network", "stp_loop")
    assert meta.ground_truth.red_herrings == ("dns",)
    assert meta.tags == ("seed", "conflicting")
    assert sc.alert.alertname == "ProbeFailure"
    assert sc.metrics_path == root / "metrics.om"
    assert sc.logs is not None and len(sc.logs) == 2
    assert sc.logs[1].ts == datetime(2024, 12, 14, 3, 5, tzinfo=UTC)
    assert sc.snmp is not None and sc.snmp[1].oid == "1.3.6.1.2.1.1.3.0"  # leading dot dropped
    assert sc.ssh is not None and sc.ssh[0].ts == datetime(2024, 12, 14, 2, 5, tzinfo=UTC)


def test_optional_parts_absent(tmp_path: Path) -> None:
    text = SCENARIO_YAML.split("topology:")[0]  # no topology, ground truth or tags
    sc = load_scenario(make(tmp_path, text))
    assert sc.meta.ground_truth is None
    assert sc.meta.topology.nodes == ()
    assert sc.meta.tags == ()
    assert (sc.metrics_path, sc.logs, sc.snmp, sc.ssh) == (None, None, None, None)


def test_unquoted_yaml_timestamps_and_unix_seconds(tmp_path: Path) -> None:
    text = SCENARIO_YAML.replace('"2024-12-14T03:12:00Z"', "2024-12-14T04:12:00+01:00", 1)
    text = text.replace('start: "2024-12-14T02:40:00Z"', "start: 1734144000")
    meta = load_scenario(make(tmp_path, text)).meta
    assert meta.observed_at == datetime(2024, 12, 14, 3, 12, tzinfo=UTC)
    assert meta.observed_at.utcoffset() is not None
    assert meta.window.start == datetime(2024, 12, 14, 2, 40, tzinfo=UTC)


def test_unknown_keys_are_ignored_at_every_level(tmp_path: Path) -> None:
    text = SCENARIO_YAML.replace("tags:", "future_top: 1\ntags:")
    text = text.replace("  component: sw1", "  component: sw1\n  confidence_hint: high")
    text = text.replace("port: 3}", "port: 3, rack: r1}")
    text = text.replace('end: "2024-12-14T03:12:00Z"}', 'end: "2024-12-14T03:12:00Z", tz: utc}')
    root = make(
        tmp_path,
        text,
        logs_jsonl=jsonl({**LOG, "stream": "stderr"}),
        snmp_jsonl=jsonl({**VARBIND, "community": "public"}),
        ssh_jsonl=jsonl({**COMMAND, "duration_s": 0.1}),
    )
    alert = json.loads(ALERT.read_text())
    alert["notification_reason"] = "x"
    (root / "alert.json").write_text(json.dumps(alert))
    sc = load_scenario(root)
    assert sc.meta.ground_truth is not None and sc.meta.ground_truth.component == "sw1"
    assert sc.logs is not None and sc.logs[0].line == "timeout"


def test_error_is_a_tool_error_with_attributes(tmp_path: Path) -> None:
    root = make(tmp_path, logs_jsonl=jsonl(LOG, {"labels": {}, "line": "no time"}))
    err = error_of(root)
    assert isinstance(err, ToolError)
    assert err.file == str(root / "logs.jsonl")
    assert err.line == 2
    assert err.field == "ts"
    assert str(err) == f"{root}/logs.jsonl:2: field 'ts': missing"


def test_invalid_log_timestamp(tmp_path: Path) -> None:
    root = make(tmp_path, logs_jsonl=jsonl(LOG, LOG, {**LOG, "ts": "2024-12-14 03:00"}))
    err = error_of(root)
    assert (err.line, err.field) == (3, "ts")
    assert "no time zone" in str(err)


def test_blank_lines_are_skipped_but_counted(tmp_path: Path) -> None:
    root = make(tmp_path, logs_jsonl=jsonl(LOG) + "\n" + "{not json}\n")
    err = error_of(root)
    assert err.line == 3 and err.field is None
    assert str(err).startswith(f"{root}/logs.jsonl:3: not valid JSON")


def test_json_line_that_is_not_an_object(tmp_path: Path) -> None:
    err = error_of(make(tmp_path, ssh_jsonl="[1, 2]\n"))
    assert (err.file, err.line) == (str(tmp_path / "scenarios/x/ssh.jsonl"), 1)
    assert "JSON object" in str(err)


def test_wrong_type_in_a_log_line(tmp_path: Path) -> None:
    err = error_of(make(tmp_path, logs_jsonl=jsonl({**LOG, "labels": {"pod": 3}})))
    assert (err.line, err.field) == (1, "labels.pod")


def test_bad_oid_and_missing_device(tmp_path: Path) -> None:
    err = error_of(make(tmp_path, snmp_jsonl=jsonl(VARBIND, {**VARBIND, "oid": "ifInErrors.3"})))
    assert (err.line, err.field) == (2, "oid")
    assert "numeric OID" in str(err)
    no_device = {k: v for k, v in VARBIND.items() if k != "device"}
    err = error_of(make(tmp_path / "b", snmp_jsonl=jsonl(no_device)))
    assert str(err).endswith("snmp.jsonl:1: field 'device': missing")


def test_ssh_wrong_exit_status_type(tmp_path: Path) -> None:
    err = error_of(make(tmp_path, ssh_jsonl=jsonl({**COMMAND, "exit_status": "zero"})))
    assert (err.line, err.field) == (1, "exit_status")


def test_bad_yaml_names_its_line(tmp_path: Path) -> None:
    text = SCENARIO_YAML.replace("title: API", "title: [API")
    err = error_of(make(tmp_path, text))
    assert err.file.endswith("scenario.yaml")
    assert err.line is not None and err.line >= 3
    assert "invalid YAML" in str(err)


def test_yaml_not_a_mapping(tmp_path: Path) -> None:
    assert "mapping" in str(error_of(make(tmp_path, "- 1\n- 2\n")))


def test_unknown_schema_version_refused_by_name(tmp_path: Path) -> None:
    root = make(
        tmp_path,
        "# a comment\n\n" + SCENARIO_YAML.replace("schema_version: 1", "schema_version: 2"),
    )
    err = error_of(root)
    assert str(err) == (
        f"{root}/scenario.yaml:3: schema_version 2 is not supported (this Strata reads version 1)"
    )
    assert err.field == "schema_version"


@pytest.mark.parametrize("version", ['"1"', "true", "1.5"])
def test_schema_version_must_be_the_integer_1(tmp_path: Path, version: str) -> None:
    text = SCENARIO_YAML.replace("schema_version: 1", f"schema_version: {version}")
    assert "is not supported" in str(error_of(make(tmp_path, text)))


def test_missing_schema_version(tmp_path: Path) -> None:
    err = error_of(make(tmp_path, SCENARIO_YAML.replace("schema_version: 1\n", "")))
    assert str(err).endswith("scenario.yaml: field 'schema_version': missing")


def test_missing_required_key(tmp_path: Path) -> None:
    err = error_of(make(tmp_path, SCENARIO_YAML.replace("observed_at:", "observed:")))
    assert (err.field, err.line) == ("observed_at", None)
    assert str(err).endswith("field 'observed_at': missing")


def test_missing_nested_key_points_at_its_parent(tmp_path: Path) -> None:
    text = SCENARIO_YAML.replace('end: "2024-12-14T03:12:00Z"', 'until: "2024-12-14T03:12:00Z"')
    err = error_of(make(tmp_path, text))
    assert (err.field, err.line) == ("window.end", 5)


def test_wrong_type_names_line_and_field(tmp_path: Path) -> None:
    text = SCENARIO_YAML.replace("port: 3}", "port: three}")
    err = error_of(make(tmp_path, text))
    assert (err.line, err.field) == (7, "topology.nodes.0.port")
    assert str(err).startswith(f"{err.file}:7: field 'topology.nodes.0.port': ")
    assert "'three'" in str(err)


def test_id_must_be_text(tmp_path: Path) -> None:
    err = error_of(make(tmp_path, SCENARIO_YAML.replace("id: 10_stp_loop_dns_symptoms", "id: [1]")))
    assert (err.line, err.field) == (2, "id")


def test_bad_observed_at(tmp_path: Path) -> None:
    text = SCENARIO_YAML.replace('"2024-12-14T03:12:00Z"', '"2024-12-14T03:12:00"', 1)
    err = error_of(make(tmp_path, text))
    assert (err.line, err.field) == (4, "observed_at")
    assert "no time zone" in err.detail


def test_window_start_after_end(tmp_path: Path) -> None:
    text = SCENARIO_YAML.replace("02:40:00Z", "03:40:00Z")
    err = error_of(make(tmp_path, text))
    assert (err.line, err.field) == (5, "window")
    assert "after end" in str(err)


def test_unknown_layer(tmp_path: Path) -> None:
    err = error_of(make(tmp_path, SCENARIO_YAML.replace("layer: network", "layer: physics")))
    assert (err.line, err.field) == (11, "ground_truth.layer")
    assert "unknown layer 'physics'" in str(err)


def test_unknown_fault_for_layer(tmp_path: Path) -> None:
    err = error_of(make(tmp_path, SCENARIO_YAML.replace("fault: stp_loop", "fault: oom_kill")))
    assert (err.line, err.field) == (12, "ground_truth.fault")
    assert "unknown fault 'oom_kill' for layer 'network'" in str(err)


def test_unknown_red_herring_layer(tmp_path: Path) -> None:
    err = error_of(make(tmp_path, SCENARIO_YAML.replace("[dns]", "[coredns]")))
    assert err.field == "ground_truth.red_herrings"


@pytest.mark.parametrize("missing", ["scenario.yaml", "alert.json"])
def test_missing_required_file(tmp_path: Path, missing: str) -> None:
    root = make(tmp_path)
    (root / missing).unlink()
    err = error_of(root)
    assert err.file == str(root / missing)
    assert "missing" in str(err)


def test_not_a_directory(tmp_path: Path) -> None:
    assert "not a scenario directory" in str(error_of(tmp_path / "nope"))


def test_alert_invalid_json_names_line(tmp_path: Path) -> None:
    root = make(tmp_path)
    (root / "alert.json").write_text('{\n  "version": "4",\n  oops\n}')
    err = error_of(root)
    assert err.file == str(root / "alert.json") and err.line == 3
    assert "not valid JSON" in str(err)


def test_alert_wrong_version_and_missing_alerts(tmp_path: Path) -> None:
    root = make(tmp_path)
    alert = json.loads(ALERT.read_text())
    (root / "alert.json").write_text(json.dumps({**alert, "version": "3"}))
    err = error_of(root)
    assert err.field == "version" and "unsupported webhook version '3'" in str(err)
    del alert["alerts"]
    (root / "alert.json").write_text(json.dumps(alert))
    err = error_of(root)
    assert str(err) == f"{root}/alert.json: field 'alerts': missing"


def test_not_utf8(tmp_path: Path) -> None:
    root = make(tmp_path)
    (root / "logs.jsonl").write_bytes(b'{"ts": 1, "labels": {}, "line": "\xff"}\n')
    assert "not UTF-8" in str(error_of(root))
