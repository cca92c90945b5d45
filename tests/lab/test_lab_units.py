"""strata.lab pieces that need no running lab: configs checked by the real tools
(promtool, amtool, blackbox exporter, nft in a throw-away namespace), the switch agent's
pass_persist protocol over a sysfs tree made here, the state file, the fault registry
and the CLI's refusal without root."""

from __future__ import annotations

import io
import json
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from strata.lab import faults, plan, services, switch_agent
from strata.lab.runner import Row, fault_list, render_table, summarize
from strata.lab.state import LabError, LabState
from tools.vocabulary import check


@pytest.mark.parametrize(
    "text",
    [
        "/run/strata-lab/nodes/node-2/data",
        "/run/strata-lab/nodes/node-2/data/sub",
        "/run/strata-lab/nodes/node-1/data",
        "/run/strata-lab/nodes/node-2/dat",
        "/",
        "/run",
        "/var/lib/docker",
        "",
        "/run/strata-lab/nodes/node-2/datb",
    ],
)
def test_not_prefix_regex_excludes_everything_but_the_prefix(text: str) -> None:
    prefix = "/run/strata-lab/nodes/node-2/data"
    rx = re.compile(services.not_prefix_regex(prefix))
    assert (rx.match(text) is not None) == (not text.startswith(prefix))


def test_faults_have_ground_truth_in_the_vocabulary() -> None:
    for fault in faults.FAULTS.values():
        truth = fault.truth(fault.default_target)
        check(truth.layer, truth.fault)
        assert fault.check_target(fault.default_target) == fault.default_target


def test_unknown_fault_and_target_are_clear_errors() -> None:
    with pytest.raises(LabError, match="dm-delay"):
        faults.get("slow_disk")
    with pytest.raises(LabError, match="available: disk_full, packet_loss"):
        faults.get("gremlins")
    with pytest.raises(ValueError, match="node-1, node-2, node-3"):
        faults.get("packet_loss").check_target("node-9")
    with pytest.raises(LabError, match="no fault 'nope'"):
        fault_list("packet_loss,nope")
    assert fault_list("all") == [n for n in faults.FAULTS if n not in faults.NOT_SCORED]
    assert "dns_flood" not in fault_list("all") and fault_list("dns_flood") == ["dns_flood"]


def test_state_round_trip_and_schema_mismatch(tmp_path: Path) -> None:
    state = LabState(tmp_path / "state.json", pids={"node-1/sshd": 42}, ifindex={"p1": 3})
    state.faults["packet_loss"] = {"target": "node-2"}
    state.up_at = "2026-01-01T00:00:00+00:00"
    state.save()
    back = LabState.load(tmp_path)
    assert (back.pids, back.ifindex, back.faults, back.up_at) == (
        state.pids,
        state.ifindex,
        state.faults,
        state.up_at,
    )
    (tmp_path / "state.json").write_text(json.dumps({"schema_version": 99}))
    with pytest.raises(LabError, match="schema_version 99, expected 1"):
        LabState.load(tmp_path)
    assert LabState.load(tmp_path / "absent").pids == {}


def test_prometheus_config_and_rules_pass_promtool(tmp_path: Path) -> None:
    promtool = shutil.which("promtool")
    if promtool is None:
        pytest.fail("promtool missing: .ci/system-deps installs the Debian package prometheus")
    (tmp_path / "prometheus.yml").write_text(yaml.safe_dump(services.prometheus_config()))
    rules = Path(services.__file__).with_name("rules.yml")
    shutil.copy(rules, tmp_path / "rules.yml")
    proc = subprocess.run(
        [promtool, "check", "config", str(tmp_path / "prometheus.yml")],
        capture_output=True,
        text=True,
        check=False,
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "SUCCESS: 8 rules found" in proc.stdout + proc.stderr


def test_alertmanager_blackbox_and_snmp_exporter_configs_pass_their_checkers(
    tmp_path: Path,
) -> None:
    amtool = shutil.which("amtool")
    blackbox = services.which("prometheus-blackbox-exporter")
    snmp_exporter = services.which("prometheus-snmp-exporter")
    if amtool is None or blackbox is None or snmp_exporter is None:
        pytest.fail("amtool / blackbox / snmp exporter missing: .ci/system-deps installs them")
    am = tmp_path / "am.yml"
    token = tmp_path / "serve.token"
    token.write_text("t0ken\n")
    am.write_text(yaml.safe_dump(services.alertmanager_config(token)))
    proc = subprocess.run([amtool, "check-config", str(am)], capture_output=True, text=True)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    bb = tmp_path / "bb.yml"
    bb.write_text(yaml.safe_dump(services.blackbox_config()))
    proc = subprocess.run(
        [blackbox, f"--config.file={bb}", "--config.check"], capture_output=True, text=True
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr
    snmp = tmp_path / "snmp.yml"
    snmp.write_text(yaml.safe_dump(services.snmp_exporter_config()))
    proc = subprocess.run(
        [snmp_exporter, f"--config.file={snmp}", "--dry-run"], capture_output=True, text=True
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr


def test_switch_nftables_table_is_accepted_by_nft() -> None:
    nft, unshare = services.which("nft"), shutil.which("unshare")
    if nft is None or unshare is None:
        pytest.fail("nft missing: .ci/system-deps installs the Debian package nftables")
    # Check mode, in a throw-away network namespace: the host ruleset is never touched.
    proc = subprocess.run(
        [unshare, "--net", nft, "-c", "-f", "-"],
        input=services.nft_ruleset(),
        capture_output=True,
        text=True,
    )
    if proc.returncode != 0 and "Operation not permitted" in proc.stderr:
        pytest.skip("cannot create a network namespace here (needs root)")
    assert proc.returncode == 0, proc.stderr


def _fake_sysfs(root: Path) -> None:
    for name, index, rx, tx in (("lo", 1, 0, 0), ("p1", 3, 5, 7), ("br0", 2, 0, 0)):
        stats = root / name / "statistics"
        stats.mkdir(parents=True)
        (root / name / "ifindex").write_text(f"{index}\n")
        (stats / "rx_dropped").write_text(f"{rx}\n")
        (stats / "tx_dropped").write_text(f"{tx}\n")
    (root / "br0" / "brif").mkdir()
    for port, state in (("p1", 3), ("lpb", 0)):
        (root / "br0" / "brif" / port).mkdir()
        (root / port / "brport").mkdir(parents=True, exist_ok=True)
        (root / port / "brport" / "state").write_text(f"{state}\n")


def _converse(agent: switch_agent.Agent, script: str, monkeypatch: pytest.MonkeyPatch) -> list[str]:
    out = io.StringIO()
    monkeypatch.setattr(sys, "stdin", io.StringIO(script))
    monkeypatch.setattr(sys, "stdout", out)
    switch_agent.serve(agent)
    return out.getvalue().splitlines()


def test_switch_agent_speaks_pass_persist(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    _fake_sysfs(tmp_path)
    monkeypatch.setattr(switch_agent, "NET", tmp_path)
    agent = switch_agent.Agent("in_discards", "br0", "no_such_table")
    monkeypatch.setattr(agent.counters, "_read", lambda: {"din_p1": 10})
    lines = _converse(
        agent,
        "PING\ngetnext\n.1.3.6.1.2.1.2.2.1.13\nget\n.1.3.6.1.2.1.2.2.1.13.3\n"
        "getnext\n.1.3.6.1.2.1.2.2.1.13.3\nget\n.1.3.6.1.2.1.2.2.1.13.9\n"
        "set\n.1.3.6.1.2.1.2.2.1.13.3\ninteger 1\n",
        monkeypatch,
    )
    assert lines == [
        "PONG",
        ".1.3.6.1.2.1.2.2.1.13.1", "counter", "0",
        ".1.3.6.1.2.1.2.2.1.13.3", "counter", "15",  # rx_dropped 5 + nftables discards 10
        "NONE",  # the column ends at the last ifIndex
        "NONE",
        "not-writable",
    ]  # fmt: skip


def test_switch_agent_counts_topology_changes(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    _fake_sysfs(tmp_path)
    monkeypatch.setattr(switch_agent, "NET", tmp_path)
    watch = switch_agent.TopologyWatch("br0")
    watch.poll()
    assert watch.changes == 0
    (tmp_path / "lpb" / "brport" / "state").write_text("3\n")  # blocking -> forwarding
    watch.poll()
    (tmp_path / "p1" / "brport" / "state").write_text("3\n")  # unchanged
    watch.poll()
    (tmp_path / "lpb" / "brport" / "state").write_text("4\n")  # forwarding -> blocking
    watch.poll()
    assert watch.changes == 2


def test_results_table_and_summary() -> None:
    rows = [
        Row("packet_loss", "node-2", "network/packet_loss/node-2", alertname="A",
            fault_to_alert_s=30.0, alert_to_diagnosis_s=2.0, verdict="diagnosed",
            got="network/packet_loss/node-2", confidence=0.9, correct=True, layer_fault=True),
        Row("dns_down", "dnsmasq", "dns/resolver_down/dnsmasq"),
    ]  # fmt: skip
    s = summarize(rows)
    assert (s["injected"], s["alerted"], s["correct"], s["accuracy"]) == (2, 1, 1, 0.5)
    assert s["median_fault_to_alert_s"] == 30.0
    text = render_table(rows, s)
    assert "packet_loss" in text and "no alert" in text and "accuracy 1/2 (50%)" in text


def test_lab_refuses_without_root(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    from strata.cli import main

    monkeypatch.setattr("os.geteuid", lambda: 1000)
    assert main(["lab", "up"]) == 2
    assert "run it as root" in capsys.readouterr().err


def test_plan_stays_inside_the_lab_subnet() -> None:
    import ipaddress

    net = ipaddress.ip_network(plan.SUBNET)
    addrs = [plan.SWITCH_ADDR, plan.MON_ADDR, plan.DNS_ADDR, *(n.addr for n in plan.NODES)]
    assert all(ipaddress.ip_address(a) in net for a in addrs)
    assert ipaddress.ip_network("10.200.0.0/16").supernet_of(net)
    assert all(ns.startswith(plan.PREFIX) for ns in plan.NAMESPACES)


async def test_lab_logs_label_and_filter_the_files(tmp_path: Path) -> None:
    from datetime import UTC, datetime

    from strata.lab.logs import lab_log_files
    from tools.logs.base import LabelMatcher, LineFilter, LogQuery
    from tools.logs.files import FileLogs

    node = tmp_path / "nodes" / "node-2"
    node.mkdir(parents=True)
    (node / "workload.log").write_text(
        '2026-11-24T08:12:55.024Z host=node-2 app=workload level=error msg="call api.lab: '
        "lookup api.lab on 10.200.0.53:53: read udp 10.200.0.12:37949->10.200.0.53:53: "
        'i/o timeout"\n'
        '2026-11-24T08:20:00.000Z host=node-2 app=workload level=info msg="after the clock"\n'
        "not a log line\n"
    )
    dns = tmp_path / "nodes" / "dns"
    dns.mkdir(parents=True)
    (dns / "queries.log").write_text(
        "Nov 24 08:12:27 dnsmasq[3728]: 898 10.200.0.10/43103 query[A] api.lab from 10.200.0.10\n"
    )
    clock = datetime(2026, 11, 24, 8, 15, tzinfo=UTC)
    logs = FileLogs(lab_log_files(tmp_path), clock)
    start = datetime(2026, 11, 24, 8, 0, tzinfo=UTC)
    got = await logs.query(
        LogQuery(
            matchers=(LabelMatcher(label="app", value="workload"),),
            filters=(LineFilter(value="i/o timeout"),),
            start=start,
            end=clock,
        )
    )
    assert [(r.labels["host"], r.labels["pod"]) for r in got] == [("node-2", "workload-node-2")]
    queries = await logs.query(
        LogQuery(matchers=(LabelMatcher(label="app", value="dnsmasq"),), start=start, end=clock)
    )
    assert len(queries) == 1 and queries[0].ts == datetime(2026, 11, 24, 8, 12, 27, tzinfo=UTC)


# Lines as this kernel (6.18, cgroup v1) printed them for the lab's OOM fault.
OOM_SUMMARY = (
    "oom-kill:constraint=CONSTRAINT_MEMCG,nodemask=(null),cpuset=/,mems_allowed=0,"
    "oom_memcg=/stl-node-3,task_memcg=/stl-node-3,task=cache-warmer,pid=19314,uid=0"
)
OOM_KILLED = (
    "Memory cgroup out of memory: Killed process 19314 (cache-warmer) total-vm:83844kB, "
    "anon-rss:65280kB, file-rss:10568kB, shmem-rss:0kB, UID:0 pgtables:204kB oom_score_adj:0"
)


def test_kernel_log_collector_keeps_only_the_lab_cgroups_oom_lines() -> None:
    from strata.lab.workload import OomLines, kmsg_record

    assert kmsg_record(f"6,4242,20360814933,-;{OOM_SUMMARY}\n SUBSYSTEM=x\n") == (
        20360814933,
        OOM_SUMMARY,
    )
    assert kmsg_record("garbage without a separator") is None
    assert kmsg_record("6,1,notanumber,-;text") is None
    lines = OomLines()
    # Another cgroup's kill on the same kernel (the host's, a container's) is not the lab's.
    other = OOM_SUMMARY.replace("/stl-node-3", "/kubepods/burstable").replace("19314", "777")
    assert lines.node_of(other) is None
    assert lines.node_of(OOM_KILLED.replace("19314", "777")) is None
    assert lines.node_of("cache-warmer invoked oom-killer: gfp_mask=0xcc0(GFP_KERNEL)") is None
    assert lines.node_of(OOM_SUMMARY) == "node-3"
    assert lines.node_of(OOM_KILLED) == "node-3"
    assert lines.node_of(OOM_KILLED) is None  # each victim once
    for name in ("..", "...", "x", "node-3x"):  # a cgroup name never leads out of nodes/
        assert lines.node_of(OOM_SUMMARY.replace("/stl-node-3", f"/stl-{name}")) is None


def test_lab_cgroups_are_named_with_the_prefix() -> None:
    from strata.lab import memory

    with pytest.raises(LabError, match="named stl-"):
        memory.create("kubepods", 2**20)
    why = memory.unavailable()
    assert why is None or "cgroup" in why or "writable" in why


def test_fault_list_all_leaves_out_what_cannot_be_injected(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(faults, "unavailable", lambda n: "no cgroups" if n == "oom_kill" else None)
    names = fault_list("all")
    assert "oom_kill" not in names and "dns_flood" not in names and "stp_loop" in names
    assert fault_list("oom_kill") == ["oom_kill"]  # named: tried, and its error reported


def test_serve_config_carries_the_runs_window_and_model(tmp_path: Path) -> None:
    import argparse

    from strata.lab.runner import Lab
    from tools.config import parse_config

    (tmp_path / "strata.toml").write_text(services.strata_toml(tmp_path, {"p1": 3}))
    args = argparse.Namespace(window=90.0, model="ollama:qwen2.5:7b", quiet=True)
    path = Lab(tmp_path, args).serve_config(tmp_path / "out")
    config = parse_config(path.read_text())
    assert config.window_minutes == 1.5
    assert config.model.spec == "ollama:qwen2.5:7b"
    assert [f.labels["app"] for f in config.log_files].count("kernel") == len(plan.NODES)
    am = services.alertmanager_config(tmp_path / "serve.token")
    (hook,) = am["receivers"][0]["webhook_configs"]
    assert hook["http_config"]["authorization"]["credentials_file"].endswith("serve.token")


def test_served_webhook_rebuilds_the_group_serve_was_notified_of() -> None:
    from strata.lab.runner import served_webhook
    from tools.alertmanager.webhook import parse_webhook

    def alert(instance: str, fp: str, status: str) -> dict[str, object]:
        return {
            "status": status,
            "labels": {"alertname": "AppRequestErrorsHigh", "instance": instance},
            "annotations": {"summary": "calls fail"},
            "startsAt": "2026-11-24T11:55:24.165Z",
            "endsAt": "0001-01-01T00:00:00Z",
            "generatorURL": "http://prometheus/graph",
            "fingerprint": fp,
        }

    detail = {
        "id": "abc",
        "group_key": '{}:{alertname="AppRequestErrorsHigh"}',
        "alertname": "AppRequestErrorsHigh",
        "alerts": [alert("node-1:9101", "aaa", "resolved"), alert("node-2:9101", "bbb", "firing")],
        "diagnosis": {"incident": {"fingerprint": "bbb"}},
    }
    payload = parse_webhook(served_webhook(detail, "http://10.200.0.10:9093"))
    assert payload.status == "firing"
    assert [a.fingerprint for a in payload.alerts] == ["bbb", "aaa"]  # the lead alert first
    assert payload.common_labels == {"alertname": "AppRequestErrorsHigh"}
    with pytest.raises(LabError, match="no alerts"):
        served_webhook({**detail, "alerts": []}, "")
