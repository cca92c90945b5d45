"""tools.recording: the PromQL metric-name extractor, redaction, the OpenMetrics writer path,
and a whole recording made from a replayed seed scenario that replays to the same diagnosis.

The recording test wraps a committed scenario's recorded sources (a real Prometheus over its
``metrics.om``) in the recording proxies, exactly as ``strata record`` wraps live ones, and
fetches the raw samples over Prometheus' HTTP API.
"""

from __future__ import annotations

import json
import shutil
import subprocess
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from agents.coordinator import diagnose
from agents.llm import ModelHandle
from agents.models import ModelUse
from agents.replay import incident_from_scenario, replay
from tools.config import HttpSource
from tools.logs.base import LogRecord
from tools.logs.recorded import RecordedLogs
from tools.metrics.recorded import RecordedPrometheus
from tools.recording import (
    MASK,
    MetricMeta,
    Recorder,
    RecordingError,
    Redactor,
    check_empty,
    lookback_s,
    metric_names,
    render_metrics,
    scenario_id,
)
from tools.scenario.loader import load_scenario
from tools.scenario.replay import open_recorded_sources
from tools.snmp.base import Varbind
from tools.snmp.recorded import RecordedSnmp
from tools.sources import Sources
from tools.ssh.recorded import RecordedCommand, RecordedSsh
from tools.topology import NodeHint, Topology

SEED = Path(__file__).resolve().parents[2] / "scenarios" / "03_disk_pressure"
PROMTOOL = shutil.which("promtool")
needs_prometheus = pytest.mark.skipif(
    not (shutil.which("prometheus") and PROMTOOL),
    reason="prometheus/promtool not installed (Debian package 'prometheus')",
)
NO_MODEL = ModelHandle(client=None, use=ModelUse(backend="none", available=False, note="test"))


@pytest.mark.parametrize(
    ("promql", "names"),
    [
        ("up", {"up"}),
        (
            'sum by (instance) (rate(node_network_receive_errs_total{device!~"lo|veth.*"}[2m]))',
            {"node_network_receive_errs_total"},
        ),
        (
            'node_filesystem_avail_bytes{fstype!~"tmpfs"} / (node_filesystem_size_bytes > 0)',
            {"node_filesystem_avail_bytes", "node_filesystem_size_bytes"},
        ),
        (
            "histogram_quantile(0.99, sum by (le, verb) "
            "(rate(apiserver_request_duration_seconds_bucket[5m])))",
            {"apiserver_request_duration_seconds_bucket"},
        ),
        ("a and on(instance) group_left(node, pod) b", {"a", "b"}),
        ("sum(x) by (le) / ignoring(code) sum without (pod) (y)", {"x", "y"}),
        ('{__name__="up", job="node"} == 0', {"up"}),
        ("{__name__='kube_pod_info'}", {"kube_pod_info"}),
        ('{__name__=~"node_.*"}', set()),
        ('label_replace(up, "dst", "$1", "src", "{(.*)}")', {"up"}),
        ("(x509_cert_not_after - time()) < 0", {"x509_cert_not_after"}),
        ('count_values("version", build_info)', {"build_info"}),
        ("topk(5, job:requests:rate5m)", {"job:requests:rate5m"}),
        ("rate(x[5m] offset 1h) > bool 0", {"x"}),
        ("1e3 * y + Inf - NaN + 0x1f", {"y"}),
        ("z @ start() # a comment naming not_a_metric", {"z"}),
        ("max_over_time(rate(q_total[2m])[1h:30s])", {"q_total"}),
        (
            'changes(kube_pod_container_status_restarts_total{pod=~"a|b"}[2100s]) > 0',
            {"kube_pod_container_status_restarts_total"},
        ),
    ],
)
def test_metric_names(promql: str, names: set[str]) -> None:
    assert metric_names(promql) == names


@pytest.mark.parametrize(
    ("promql", "seconds"),
    [
        ("up", 0),
        ("rate(x[5m])", 300),
        ("changes(x[2100s]) > 0", 2100),
        ("rate(x[1h30m]) / rate(y[2m])", 5400),
        ("max_over_time(rate(x[2m])[1h:30s])", 3630),
        ("rate(x[5m] offset 1h)", 3900),
        ("rate(x[500ms])", 0.5),
    ],
)
def test_lookback(promql: str, seconds: float) -> None:
    assert lookback_s(promql) == pytest.approx(seconds)


def test_redactor_masks_secrets_and_credential_patterns() -> None:
    redact = Redactor(["hunter2-secret", "", "short"])
    text = (
        "db login with hunter2-secret failed; url https://admin:pa55w0rd@db.lab:5432/x "
        "GET /api?token=abc123&x=1 password: letmein Authorization: Bearer eyJhbGc.x-y "
        "and short"
    )
    out = redact(text)
    for leaked in ("hunter2-secret", "pa55w0rd", "abc123", "letmein", "eyJhbGc", "short"):
        assert leaked not in out
    assert "https://admin:[REDACTED]@db.lab:5432/x" in out
    assert "token=[REDACTED]&x=1" in out
    assert redact(out) == out  # idempotent
    data = redact.data({"k hunter2-secret": ["a short b", 3, None], "n": 1.5})
    assert data == {f"k {MASK}": [f"a {MASK} b", 3, None], "n": 1.5}
    assert redact.leaks(text) == 2 and redact.leaks(out) == 0


def _promtool_accepts(text: str, tmp: Path) -> None:
    if PROMTOOL is None:
        pytest.skip("promtool not installed")
    (tmp / "m.om").write_text(text)
    done = subprocess.run(
        [PROMTOOL, "tsdb", "create-blocks-from", "openmetrics", "m.om", "data"],
        cwd=tmp, capture_output=True, text=True, check=False,
    )  # fmt: skip
    assert done.returncode == 0, done.stdout + done.stderr


def test_render_metrics_types_from_metadata(tmp_path: Path) -> None:
    t0 = 1_737_857_760.0
    pts = [(t0 + 15 * i, float(i)) for i in range(4)]
    raw = {
        "req_total": {(("code", "200"),): pts, (("code", "500"),): [(t0, 5.0), (t0 + 15, 1.0)]},
        "temp_celsius": {(("room", 'a "quoted" room'),): pts},
        "lat_seconds_bucket": {
            (("le", "0.1"),): [(t0, 1.0), (t0 + 15, 2.0)],
            (("le", "+Inf"),): [(t0, 3.0), (t0 + 15, 5.0)],
        },
        "lat_seconds_count": {(): [(t0, 3.0), (t0 + 15, 5.0)]},
        "lat_seconds_sum": {(): [(t0, 0.4), (t0 + 15, 0.9)]},
        "odd_bucket": {(("le", "1"),): [(t0, 1.0)]},  # histogram metadata, no _count/_sum
        "job:thing:rate5m": {(("job", "x"),): pts},
        "nan_gauge": {(): [(t0, float("nan"))]},
    }
    meta = {
        "req_total": MetricMeta("counter", "Requests."),
        "temp_celsius": MetricMeta("gauge", "Temperature (password=hunter2)."),
        "lat_seconds": MetricMeta("histogram", "Latency."),
        "odd": MetricMeta("histogram", ""),
        "nan_gauge": MetricMeta("gauge", ""),
    }
    text = render_metrics(raw, meta, Redactor(["hunter2"]))
    assert "# TYPE req counter" in text
    assert 'req_total{code="500"} 1 1737857775' in text  # a counter reset is kept
    assert "# TYPE temp_celsius gauge" in text and "hunter2" not in text
    assert 'temp_celsius{room="a \\"quoted\\" room"} 3 1737857805' in text
    assert "# TYPE lat_seconds histogram" in text
    assert 'lat_seconds_bucket{le="+Inf"} 5 1737857775' in text
    assert "# TYPE odd_bucket unknown" in text
    assert "# TYPE job:thing:rate5m unknown" in text
    assert text.endswith("# EOF\n")
    _promtool_accepts(text, tmp_path)


def test_scenario_id_is_neutral() -> None:
    at = datetime(2025, 1, 26, 2, 50, 30, tzinfo=UTC)
    assert scenario_id("035d58cae3c640c1", at) == "rec_20250126T025030Z_035d58cae3c640c1"
    assert scenario_id("", at) == "rec_20250126T025030Z_nofp"


def test_check_empty(tmp_path: Path) -> None:
    check_empty(tmp_path / "new")
    check_empty(tmp_path)
    (tmp_path / "x").write_text("x")
    with pytest.raises(RecordingError, match="not an empty directory"):
        check_empty(tmp_path)


async def test_logs_snmp_ssh_are_recorded_and_redacted(tmp_path: Path) -> None:
    at = datetime(2025, 1, 26, 2, 50, 30, tzinfo=UTC)
    secret = "s3cr3t-passphrase-91"
    logs = RecordedLogs(
        [
            LogRecord(ts=at - timedelta(minutes=3), labels={"app": "db"}, line=f"auth {secret}"),
            LogRecord(ts=at - timedelta(minutes=2), labels={"app": "db"}, line="password=hunter2"),
        ],
        at,
    )
    snmp = RecordedSnmp(
        [
            Varbind(
                ts=at - timedelta(seconds=30),
                device="sw1",
                oid="1.3.6.1.2.1.1.3.0",
                type="TimeTicks",
                value=4242,
            )
        ],
        at,
    )
    ssh = RecordedSsh(
        [
            RecordedCommand(
                ts=at - timedelta(seconds=5),
                host="node-1",
                command="df -h",
                exit_status=0,
                stdout=f"token={secret}\n",
            )
        ],
        at,
    )
    recorder = Recorder(Sources(logs=logs, snmp=snmp, ssh=ssh))
    src = recorder.sources
    assert src.logs and src.snmp and src.ssh and src.metrics is None
    from tools.logs.base import LogQuery

    query = LogQuery.model_validate(
        {"matchers": [{"label": "app", "value": "db"}], "start": at - timedelta(hours=1), "end": at}
    )
    assert len(await src.logs.query(query)) == 2
    assert len(await src.logs.query(query)) == 2  # asked twice, recorded once
    assert (await src.snmp.get("sw1", ["1.3.6.1.2.1.1.3.0"], at))[0].value == 4242
    assert (await src.ssh.run("node-1", "df -h")).status == "ok"
    assert (await src.ssh.run("node-1", "uptime")).status == "unavailable"
    alert = json.loads((SEED / "alert.json").read_text())
    out = tmp_path / "rec"
    summary = await recorder.write(
        out,
        alert=alert,
        observed_at=at,
        window_start=at - timedelta(minutes=30),
        topology=Topology(nodes=(NodeHint(name="node-1", switch="sw1", port=1),)),
        prometheus=None,
        redact=Redactor([secret]),
    )
    assert summary.files == {"logs.jsonl": 2, "snmp.jsonl": 1, "ssh.jsonl": 1}
    assert any("uptime not recorded" in n for n in summary.notes)
    assert sorted(p.name for p in out.iterdir()) == [
        "alert.json", "logs.jsonl", "scenario.yaml", "snmp.jsonl", "ssh.jsonl",
    ]  # fmt: skip
    everything = "".join(p.read_text() for p in out.iterdir())
    assert secret not in everything and "hunter2" not in everything
    assert not (tmp_path / "rec.partial").exists()
    scenario = load_scenario(out)
    assert scenario.meta.ground_truth is None
    assert scenario.meta.id == "rec_20250126T025030Z_035d58cae3c640c1"
    assert scenario.meta.title.startswith("KubeNodePressure: ")
    assert scenario.alert.fingerprint == "035d58cae3c640c1"
    assert scenario.meta.topology.nodes[0].switch == "sw1"
    assert scenario.logs is not None and scenario.logs[0].line == f"auth {MASK}"
    assert scenario.ssh is not None and scenario.ssh[0].stdout == f"token={MASK}\n"
    assert scenario.snmp is not None and scenario.snmp[0].value == 4242
    with pytest.raises(RecordingError, match="not an empty directory"):
        await recorder.write(
            out,
            alert=alert,
            observed_at=at,
            window_start=at,
            topology=Topology(),
            prometheus=None,
            redact=Redactor([]),
        )


@needs_prometheus
@pytest.mark.integration
async def test_recording_a_replayed_seed_replays_to_the_same_diagnosis(tmp_path: Path) -> None:
    seed = load_scenario(SEED)
    incident = incident_from_scenario(seed)
    async with open_recorded_sources(seed) as sources:
        recorder = Recorder(sources)
        live = await diagnose(incident, recorder.sources, NO_MODEL)
        assert isinstance(sources.metrics, RecordedPrometheus)
        prometheus = HttpSource(url=sources.metrics.url)
        # A secret that the recording cannot scrub (it is a metric name): nothing is written.
        with pytest.raises(RecordingError, match=r"metrics\.om: a configured secret survived"):
            await recorder.write(
                tmp_path / "leaky",
                alert=json.loads((SEED / "alert.json").read_text()),
                observed_at=incident.observed_at,
                window_start=incident.window_start,
                topology=seed.meta.topology,
                prometheus=prometheus,
                redact=Redactor(["node_filesystem_avail_bytes"]),
            )
        assert not (tmp_path / "leaky").exists() and not (tmp_path / "leaky.partial").exists()
        summary = await recorder.write(
            tmp_path / "rec",
            alert=json.loads((SEED / "alert.json").read_text()),
            observed_at=incident.observed_at,
            window_start=incident.window_start,
            topology=seed.meta.topology,
            prometheus=prometheus,
            redact=Redactor([]),
        )
    assert live.root_cause is not None
    assert (live.root_cause.layer, live.root_cause.fault, live.root_cause.component) == (
        "storage", "disk_full", "node-2",
    )  # fmt: skip
    assert set(summary.files) == {"metrics.om", "logs.jsonl", "snmp.jsonl", "ssh.jsonl"}
    assert all(count > 0 for count in summary.files.values()), summary.files
    # Only the metric names the specialists' PromQL touched, each with all its samples.
    written = (tmp_path / "rec" / "metrics.om").read_text()
    families = {line.split()[2] for line in written.splitlines() if line.startswith("# TYPE")}
    assert "node_filesystem_avail_bytes" in families and "kube_pod_info" not in families
    seed_avail = [
        line for line in (SEED / "metrics.om").read_text().splitlines()
        if line.startswith("node_filesystem_avail_bytes{")
    ]  # fmt: skip
    assert len(
        [x for x in written.splitlines() if x.startswith("node_filesystem_avail_bytes{")]
    ) == len(seed_avail)
    again = await replay(tmp_path / "rec", NO_MODEL)
    assert again.root_cause == live.root_cause
    assert again.confidence == pytest.approx(live.confidence, abs=0.02)
    assert [h.key for h in again.hypotheses] == [h.key for h in live.hypotheses]
