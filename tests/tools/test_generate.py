"""The scenario generator: deterministic, complete, loadable, leak-free, and replayable.

One corpus of 2 × |vocabulary| scenarios is generated per module (real files on disk);
promtool and a real replay (Prometheus backfilled from the generated metrics) run where
installed.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from agents.llm import resolve
from agents.replay import replay
from agents.workload import workload_name
from tools.scenario.generate import generate, plan, scenario_id, write_one
from tools.scenario.loader import load_scenario
from tools.vocabulary import FAULTS

SEED = 20250101
ALL = {(layer, fault) for layer, faults in FAULTS.items() for fault in faults}
COUNT = 2 * len(ALL)
HAS_PROMTOOL = shutil.which("promtool") is not None and shutil.which("prometheus") is not None


@pytest.fixture(scope="module")
def corpus(tmp_path_factory: pytest.TempPathFactory) -> list[Path]:
    return generate(SEED, COUNT, tmp_path_factory.mktemp("gen"), workers=2)


def _meta(path: Path) -> dict[str, object]:
    data = yaml.safe_load((path / "scenario.yaml").read_text())
    assert isinstance(data, dict)
    return data


def _families(path: Path) -> frozenset[str]:
    text = (path / "metrics.om").read_text()
    return frozenset(line.split()[2] for line in text.splitlines() if line.startswith("# TYPE "))


def _files(root: Path) -> dict[str, bytes]:
    return {
        str(f.relative_to(root)): f.read_bytes() for f in sorted(root.rglob("*")) if f.is_file()
    }


def test_same_seed_same_bytes_different_seed_different(tmp_path: Path) -> None:
    a = _files(generate(7, 4, tmp_path / "a")[0].parent)
    b = _files(generate(7, 4, tmp_path / "b", workers=2)[0].parent)
    c = _files(generate(8, 4, tmp_path / "c")[0].parent)
    assert a == b
    assert len(a) >= 4 * 4
    assert set(a) != set(c)  # ids differ with the seed ...
    assert sorted(a.values()) != sorted(c.values())  # ... and so does every file's content
    # another interpreter, another string-hash seed: still the same bytes
    code = "import sys; from pathlib import Path; from tools.scenario.generate import generate; "
    code += "generate(7, 4, Path(sys.argv[1]))"
    subprocess.run(
        [sys.executable, "-c", code, str(tmp_path / "d")],
        check=True,
        cwd=Path(__file__).resolve().parents[2],
        env={**os.environ, "PYTHONHASHSEED": "4242"},
        timeout=120,
    )
    assert _files(tmp_path / "d") == a


def test_plan_covers_the_vocabulary_with_some_no_fault() -> None:
    for seed in (1, 2, 3):
        faults = plan(seed, COUNT)
        assert set(faults) == ALL
        assert 2 <= faults.count(("none", "no_fault")) <= COUNT // 10
        assert plan(seed, 20) == faults[:20]  # a longer run extends a shorter one


def test_every_fault_appears_and_every_scenario_loads(corpus: list[Path]) -> None:
    seen = set()
    for path in corpus:
        scenario = load_scenario(path)
        truth = scenario.meta.ground_truth
        assert truth is not None
        seen.add((truth.layer, truth.fault))
        assert scenario.metrics_path is not None
        assert scenario.meta.window.start < scenario.meta.observed_at
        minutes = (scenario.meta.observed_at - scenario.meta.window.start).total_seconds() / 60
        assert 30 <= minutes <= 45
        assert scenario.alert.alerts, "an alert fired"
        assert scenario.alert.alerts[0].starts_at <= scenario.meta.observed_at
    assert seen == ALL


def test_same_metric_families_in_every_scenario(corpus: list[Path]) -> None:
    families = {p.name: _families(p) for p in corpus}
    first = families[corpus[0].name]
    assert len(first) >= 35
    for name, fams in families.items():
        assert fams == first, (name, sorted(first ^ fams))
    for needed in (
        "x509_cert_not_after",
        "node_network_mtu_bytes",
        "etcd_server_has_leader",
        "nginx_ingress_controller_requests",
        "kube_pod_status_reason",
    ):
        assert needed in first


def test_nothing_names_the_answer_outside_ground_truth(corpus: list[Path]) -> None:
    layers = set(FAULTS)
    faults = {f for fs in FAULTS.values() for f in fs}
    words = layers | faults | {"control", "plane"}
    for index, path in enumerate(corpus):
        meta = _meta(path)
        assert path.name == meta["id"] == scenario_id(SEED, index)
        assert re.fullmatch(r"g\d+-\d{4}-[0-9a-f]{6}", path.name)
        tokens = set(re.split(r"[^a-z0-9_]+", str(meta["title"]).lower()))
        assert not tokens & words, (meta["title"], tokens & words)
        assert meta["tags"] and all(
            t in ("generated", "hard", "unanswerable") for t in meta["tags"]
        )
        truth = meta["ground_truth"]
        assert isinstance(truth, dict)
        answer = f"{truth['layer']}/{truth['fault']}"
        for f in path.iterdir():
            if f.name == "scenario.yaml":
                continue
            text = f.read_text()
            assert answer not in text, (f, answer)
            if "_" in str(truth["fault"]):
                assert str(truth["fault"]) not in text, (f, truth["fault"])


def test_components_are_named_as_the_specialists_name_them(corpus: list[Path]) -> None:
    for path in corpus:
        meta = load_scenario(path).meta
        truth = meta.ground_truth
        assert truth is not None
        topo = meta.topology
        names = {n.name for n in topo.nodes} | {s.name for s in topo.switches}
        names |= {s.name for s in topo.services} | {workload_name(p.name) for p in topo.pods}
        names |= {"kube-apiserver", "kube-apiserver-etcd-client", "etcd", "local-path-provisioner"}
        assert truth.component in names, (path.name, truth.layer, truth.fault, truth.component)
        if truth.layer == "dns" and truth.fault != "query_flood":
            assert truth.component == topo.services_of_kind("dns")[0].name


def test_missing_sources_never_hide_the_only_carrier(corpus: list[Path]) -> None:
    from tools.scenario.generate.faults import registry

    faults = registry()
    absent = {"snmp": 0, "ssh": 0, "logs": 0}
    for path in corpus:
        meta = _meta(path)
        truth = meta["ground_truth"]
        assert isinstance(truth, dict)
        carriers = faults[(str(truth["layer"]), str(truth["fault"]))].carriers
        missing = {s for s in absent if not (path / f"{s}.jsonl").exists()}
        for s in missing:
            absent[s] += 1
        if carriers and "unanswerable" not in meta["tags"]:  # type: ignore[operator]
            assert set(carriers) - missing, (path.name, carriers, missing)
    assert absent["snmp"] + absent["ssh"] >= 1


@pytest.mark.skipif(not HAS_PROMTOOL, reason="promtool not installed")
def test_promtool_accepts_a_sample(corpus: list[Path], tmp_path: Path) -> None:
    for i, path in enumerate(corpus[:: len(corpus) // 4]):
        out = tmp_path / f"tsdb{i}"
        proc = subprocess.run(
            [
                "promtool",
                "tsdb",
                "create-blocks-from",
                "openmetrics",
                str(path / "metrics.om"),
                str(out),
            ],
            capture_output=True,
            text=True,
            timeout=120,
        )
        assert proc.returncode == 0, proc.stderr[-2000:]


@pytest.mark.skipif(not HAS_PROMTOOL, reason="Prometheus/promtool not installed")
async def test_a_generated_stp_loop_replays_to_the_switch(tmp_path: Path) -> None:
    path = write_one(SEED, 3, ("network", "stp_loop"), tmp_path)
    truth = load_scenario(path).meta.ground_truth
    assert truth is not None and (path / "snmp.jsonl").exists()
    diagnosis = await replay(path, await resolve("none"))
    assert diagnosis.root_cause is not None
    got = diagnosis.root_cause
    assert (got.layer, got.fault, got.component) == ("network", "stp_loop", truth.component)
    dns = [h for h in diagnosis.hypotheses if h.layer == "dns"]
    assert all(h.role != "root_cause" for h in dns)
    # the downstream symptom (CoreDNS upstream timeouts) starts after the loop (MAC flaps)
    logs = load_scenario(path).logs or ()
    flaps = [r.ts for r in logs if "MACFLAP" in r.line]
    timeouts = [r.ts for r in logs if r.labels.get("app") == "coredns" and "i/o timeout" in r.line]
    assert flaps and timeouts and min(flaps) < min(timeouts)
