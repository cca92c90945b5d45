"""tools.scenario.writer: deterministic, valid scenario files."""

from __future__ import annotations

import itertools
import json
import shutil
import subprocess
from pathlib import Path

import pytest
import yaml

from tools.scenario import writer as w

START = 1_734_143_400.0  # 2024-12-14T02:30:00Z


def _build(seed: str) -> str:
    """A small exposition exercising every family type."""
    om = w.OpenMetricsWriter()
    times = w.scrape_times(START, START + 600, 30, offset_s=3.412)
    for node in ("node-2", "node-1"):  # added out of order on purpose
        labels = {"instance": f"{node}:9100", "job": "node-exporter"}
        om.gauge(
            "node_memory_MemAvailable_bytes",
            "Memory information field MemAvailable_bytes.",
            labels,
            w.gauge_series(w.derive_rng(seed, node, "mem"), times, 4e9, rel_noise=0.01),
        )
        om.counter(
            "node_network_receive_drop_total",
            "Network device statistic receive_drop.",
            {**labels, "device": "eth0"},
            w.counter_series(
                w.derive_rng(seed, node, "drop"),
                times,
                w.step(START + 300, 0.01, 50.0),
                jitter=0.1,
            ),
        )
    bounds = [0.001, 0.002, 0.004, 0.008]
    om.histogram(
        "etcd_disk_wal_fsync_duration_seconds",
        "The latency distributions of fsync called by WAL.",
        {"instance": "10.0.0.11:2381", "job": "etcd"},
        bounds,
        w.histogram_series(
            w.derive_rng(seed, "fsync"),
            times,
            20.0,
            bounds,
            lambda _t, b: w.lognormal_cdf(0.002, 0.5)(b),
            lambda _t: 0.0022,
        ),
    )
    om.unknown(
        "cluster_quantile:apiserver_request_duration_seconds:histogram_quantile",
        "",
        {"quantile": "0.99", "verb": "LIST"},
        [(t, 0.25) for t in times],
    )
    return om.render()


def test_same_seed_same_bytes_and_different_seed_differs() -> None:
    assert _build("s1") == _build("s1")
    assert _build("s1") != _build("s2")


def test_families_are_contiguous_sorted_and_end_in_eof() -> None:
    text = _build("s1")
    assert text.endswith("\n# EOF\n")
    seen: list[str] = []
    for line in text.splitlines():
        if line.startswith("# TYPE "):
            seen.append(line.split()[2])
    assert seen == sorted(seen)
    assert len(seen) == len(set(seen))
    # counter family is declared without _total, samples carry it
    assert "# TYPE node_network_receive_drop counter" in text
    assert "node_network_receive_drop_total{" in text
    # per series, timestamps strictly increase
    last: dict[str, float] = {}
    for line in text.splitlines():
        if line.startswith("#"):
            continue
        head, _value, ts = line.rsplit(" ", 2)
        assert float(ts) > last.get(head, 0.0)
        last[head] = float(ts)


@pytest.mark.skipif(shutil.which("promtool") is None, reason="promtool is not installed")
def test_promtool_accepts_output(tmp_path: Path) -> None:
    src = tmp_path / "metrics.om"
    src.write_text(_build("s1"), encoding="utf-8")
    om = w.OpenMetricsWriter()
    om.gauge("weird", "help with \\ and\nnewline", {"v": 'a"b\\c\nd'}, [(START, 1.5)])
    (tmp_path / "weird.om").write_text(om.render(), encoding="utf-8")
    for name in ("metrics.om", "weird.om"):
        out = tmp_path / f"tsdb-{name}"
        result = subprocess.run(
            [
                "promtool",
                "tsdb",
                "create-blocks-from",
                "openmetrics",
                str(tmp_path / name),
                str(out),
            ],
            capture_output=True,
            text=True,
            check=False,
        )
        assert result.returncode == 0, result.stderr
        assert any(out.iterdir())


def test_counter_is_monotonic_integer_and_keeps_rate() -> None:
    times = w.scrape_times(START, START + 3600, 30)
    pts = w.counter_series(w.derive_rng(1, "c"), times, 7.3, start=100, jitter=0.5)
    values = [v for _, v in pts]
    assert all(b >= a for a, b in itertools.pairwise(values))
    assert all(v == int(v) for v in values)
    assert values[0] == 100
    # without jitter the long-run increase is the integral of the rate (carry kept)
    exact = w.counter_series(w.derive_rng(1, "c"), times, 7.3)
    assert exact[-1][1] == pytest.approx(7.3 * 3600, abs=1)


def test_counter_resets() -> None:
    times = w.scrape_times(START, START + 300, 30)
    pts = w.counter_series(w.derive_rng(1, "r"), times, 10.0, start=500, resets=[START + 125])
    values = dict(pts)
    assert values[START + 120] == 500 + 1200
    assert values[START + 150] == pytest.approx(250, abs=1)
    om = w.OpenMetricsWriter()
    with pytest.raises(ValueError, match="decreased"):
        om.counter("x_total", "h", {}, pts)
    om.counter("x_total", "h", {}, pts, allow_resets=True)


def test_counter32_wrap() -> None:
    times = w.scrape_times(START, START + 600, 30)
    raw = w.counter_series(w.derive_rng(1, "oct"), times, 2_000_000.0, start=2**32 - 10_000_000)
    wrapped = w.wrapped(raw, bits=32)
    values = [int(v) for _, v in wrapped]
    assert all(0 <= v < 2**32 for v in values)
    assert any(b < a for a, b in itertools.pairwise(values)), "expected a wrap"
    deltas = [w.counter_delta(a, b, 32) for a, b in itertools.pairwise(values)]
    assert all(d >= 0 for d in deltas)
    assert sum(deltas) == int(raw[-1][1] - raw[0][1])
    assert w.wrap(2**32 + 5) == 5
    assert w.wrap(2**64 + 7, bits=64) == 7
    with pytest.raises(ValueError):
        w.snmp_varbind(START, "sw1", "1.3.6.1.2.1.2.2.1.10.1", "Counter32", 2**32)


def test_label_and_help_escaping() -> None:
    assert w.escape_label_value('a"b\\c\nd') == 'a\\"b\\\\c\\nd'
    om = w.OpenMetricsWriter()
    om.gauge("g", 'say "hi"\nnow', {"path": "C:\\tmp", "q": 'x"y'}, [(START, 1)])
    text = om.render()
    assert '# HELP g say \\"hi\\"\\nnow' in text
    assert 'g{path="C:\\\\tmp",q="x\\"y"} 1 1734143400' in text
    with pytest.raises(ValueError):
        om.gauge("bad name", "h", {}, [])
    with pytest.raises(ValueError):
        om.gauge("g2", "h", {"__name__": "x"}, [])


def test_writer_rejects_bad_input() -> None:
    om = w.OpenMetricsWriter()
    with pytest.raises(ValueError, match="_total"):
        om.counter("requests", "h", {}, [(START, 1)])
    with pytest.raises(ValueError, match="strictly increase"):
        om.gauge("g", "h", {}, [(START + 30, 1), (START, 2)])
    om.gauge("g", "h", {"a": "1"}, [(START, 1)])
    with pytest.raises(ValueError, match="duplicate"):
        om.gauge("g", "h", {"a": "1"}, [(START, 1)])
    with pytest.raises(ValueError, match="re-declared"):
        om.counter("g_total", "h", {"a": "2"}, [(START, 1)])


def test_values_and_times_formatting() -> None:
    assert w.format_value(3.0) == "3"
    assert w.format_value(0.25) == "0.25"
    assert w.format_value(float("nan")) == "NaN"
    assert w.format_value(float("inf")) == "+Inf"
    assert w.rfc3339(START) == "2024-12-14T02:30:00Z"
    assert w.rfc3339(START + 0.5) == "2024-12-14T02:30:00.500Z"
    assert w.rfc3339(START, digits=9) == "2024-12-14T02:30:00.000000000Z"
    assert w.om_timestamp(START + 3.412) == "1734143403.412"
    assert w.to_unix("2024-12-14T02:30:00Z") == START
    assert w.scrape_times(START, START + 60, 30, offset_s=1) == [START + 1, START + 31]


def test_profiles() -> None:
    p = w.piecewise([(0, 0), (10, 100), (10, 5), (20, 5)])
    assert p(-1) == 0
    assert p(5) == 50
    assert p(10) == 5
    assert p(99) == 5
    assert w.ramp(10, 10, 1, 3)(15) == 2
    assert w.step(10, 1, 2)(9.99) == 1
    assert w.clamp(w.add(w.constant(1), w.constant(2)), hi=2.5)(0) == 2.5
    assert w.scale(w.constant(2), w.constant(3))(0) == 6


def test_jsonl_sorted_by_time_with_rfc3339(tmp_path: Path) -> None:
    recs = [
        w.log_record(START + 5, {"app": "coredns"}, "second"),
        w.log_record(START, {"app": "coredns"}, "first"),
        w.snmp_varbind(START + 5, "sw1", "1.3.6.1.2.1.17.2.4.0", "Counter32", 41),
        w.ssh_record(START + 1.25, "node-2", "uptime", " 02:30:01 up 3 days\n"),
    ]
    path = tmp_path / "x.jsonl"
    w.write_jsonl(path, recs)
    rows = [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines()]
    assert [r["ts"] for r in rows] == [
        "2024-12-14T02:30:00Z",
        "2024-12-14T02:30:01.250Z",
        "2024-12-14T02:30:05Z",
        "2024-12-14T02:30:05Z",
    ]
    assert rows[2]["line"] == "second"  # equal times keep insertion order
    assert rows[3]["value"] == 41


def test_alert_payload_is_go_encoded_v4(tmp_path: Path) -> None:
    labels = {"alertname": "Test", "severity": "warning", "namespace": "ns"}
    expr = 'up{job="x"} == 0\n'
    entry = w.alert_entry(
        labels,
        {"summary": "s"},
        START + 0.123,
        w.generator_url("http://prom:9090", expr),
    )
    payload = w.webhook_payload(
        [entry],
        receiver="r",
        group_labels={"namespace": "ns"},
        external_url="http://am:9093",
    )
    path = tmp_path / "alert.json"
    w.write_alert(path, payload)
    raw = path.read_text(encoding="utf-8")
    assert "\\u0026g0.tab=1" in raw and "&" not in raw
    data = json.loads(raw)
    assert list(data) == [
        "receiver",
        "status",
        "alerts",
        "groupLabels",
        "commonLabels",
        "commonAnnotations",
        "externalURL",
        "version",
        "groupKey",
        "truncatedAlerts",
    ]
    assert data["version"] == "4"
    assert data["groupKey"] == '{}:{namespace="ns"}'
    assert data["alerts"][0]["endsAt"] == w.GO_ZERO_TIME
    assert data["alerts"][0]["startsAt"] == "2024-12-14T02:30:00.123Z"
    assert data["commonLabels"] == dict(sorted(labels.items()))
    # prometheus/common: the empty label set hashes to the FNV-1a offset basis
    assert w.fingerprint({}) == "cbf29ce484222325"
    assert w.fingerprint(labels) == w.fingerprint(dict(reversed(list(labels.items()))))
    assert len(data["alerts"][0]["fingerprint"]) == 16


def test_scenario_yaml_round_trips(tmp_path: Path) -> None:
    meta = {
        "schema_version": 1,
        "id": "99_x",
        "observed_at": "2024-12-14T03:12:00Z",
        "topology": {"nodes": [{"name": "node-1", "port": 1}]},
    }
    path = tmp_path / "scenario.yaml"
    w.write_scenario_yaml(path, meta)
    text = path.read_text(encoding="utf-8")
    assert text.startswith("schema_version: 1\nid: 99_x\n")
    assert yaml.safe_load(text) == meta


SEED_SCRIPT = Path(__file__).resolve().parents[2] / "scenarios" / "build_seed.py"


@pytest.mark.skipif(not SEED_SCRIPT.is_file(), reason="scenarios/build_seed.py not present")
def test_seed_scenarios_rebuild_byte_for_byte(tmp_path: Path) -> None:
    """Two builds give identical bytes, and the committed scenarios match the script."""
    import hashlib
    import sys

    def digest(root: Path) -> dict[str, str]:
        return {
            str(f.relative_to(root)): hashlib.sha256(f.read_bytes()).hexdigest()
            for f in sorted(root.rglob("*"))
            if f.is_file()
        }

    for out in (tmp_path / "a", tmp_path / "b"):
        result = subprocess.run(
            [sys.executable, str(SEED_SCRIPT), "--out", str(out)],
            capture_output=True,
            text=True,
            check=False,
        )
        assert result.returncode == 0, result.stderr
    first, second = digest(tmp_path / "a"), digest(tmp_path / "b")
    assert first == second
    assert len(first) >= 13  # three scenarios, scenario.yaml + alert.json + data files
    committed = SEED_SCRIPT.parent
    for sid in {name.split("/")[0] for name in first}:
        if (committed / sid).is_dir():
            ours = {k: v for k, v in first.items() if k.startswith(sid + "/")}
            theirs = {f"{sid}/{k}": v for k, v in digest(committed / sid).items()}
            assert ours == theirs, f"{sid} is stale: run .venv/bin/python {SEED_SCRIPT}"
