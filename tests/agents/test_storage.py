"""The storage specialist over real recorded backends built in memory (no mocks).

Metrics go through a real Prometheus (RecordedPrometheus) over small OpenMetrics files
written to tmp_path; log lines through RecordedLogs; ``df`` through RecordedSsh. The seed
scenarios, when present, run through open_recorded_sources.
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Callable, Sequence
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from agents.models import Incident
from agents.specialist import SpecialistReport
from agents.storage import StorageSpecialist
from tools.alertmanager.webhook import parse_webhook
from tools.logs.base import LogRecord
from tools.logs.recorded import RecordedLogs
from tools.metrics.recorded import RecordedPrometheus
from tools.scenario.loader import load_scenario
from tools.scenario.replay import open_recorded_sources
from tools.sources import Sources
from tools.ssh.recorded import RecordedCommand, RecordedSsh
from tools.topology import NodeHint, Topology

T0 = datetime(2024, 12, 14, 2, 40, tzinfo=UTC)
OBSERVED = T0 + timedelta(minutes=30)
SCRAPE_S = 30
SECONDS = range(-10 * 60, 30 * 60 + 1, SCRAPE_S)  # since T0; ten minutes of history first
SCENARIOS = Path(__file__).resolve().parents[2] / "scenarios"
SIZE = 100 * 2**30
INODES = 6_553_600

needs_prometheus = pytest.mark.skipif(
    not (
        shutil.which(os.environ.get("PROMETHEUS_BIN") or "prometheus")
        and shutil.which(os.environ.get("PROMTOOL_BIN") or "promtool")
    ),
    reason="prometheus/promtool not installed (Debian package 'prometheus')",
)

Curve = Callable[[int], float]
Family = list[str]


def family(name: str, type_: str, *series: tuple[dict[str, str], Curve]) -> Family:
    """One OpenMetrics family; a counter's samples carry the ``_total`` suffix."""
    sample = f"{name}_total" if type_ == "counter" else name
    t0 = int(T0.timestamp())
    lines = [f"# TYPE {name} {type_}"]
    for labels, curve in series:
        text = ",".join(f'{k}="{v}"' for k, v in labels.items())
        lines += [f"{sample}{{{text}}} {curve(s):.10g} {t0 + s}" for s in SECONDS]
    return lines


def write_om(tmp_path: Path, *families: Family) -> Path:
    path = tmp_path / "metrics.om"
    path.write_text("\n".join([*(x for f in families for x in f), "# EOF"]) + "\n", "utf-8")
    return path


def const(value: float) -> Curve:
    return lambda _s: value


def linear(at_t0: float, per_min: float) -> Curve:
    return lambda s: at_t0 + per_min * s / 60


def incident(labels: dict[str, str] | None = None, topology: Topology | None = None) -> Incident:
    labels = {"alertname": "TestAlert", **(labels or {})}
    alert = parse_webhook(
        {
            "version": "4",
            "status": "firing",
            "commonLabels": labels,
            "alerts": [{"status": "firing", "labels": labels, "startsAt": OBSERVED.isoformat()}],
        }
    )
    return Incident(
        alert=alert, observed_at=OBSERVED, window_start=T0, topology=topology or Topology()
    )


async def run(
    sources: Sources, labels: dict[str, str] | None = None, topology: Topology | None = None
) -> SpecialistReport:
    return await StorageSpecialist(incident(labels, topology), sources).investigate()


async def run_metrics(
    tmp_path: Path,
    families: Sequence[Family],
    logs: Sequence[LogRecord] = (),
    labels: dict[str, str] | None = None,
    ssh: RecordedSsh | None = None,
    topology: Topology | None = None,
) -> SpecialistReport:
    om = write_om(tmp_path, *families)
    async with RecordedPrometheus(om, OBSERVED) as prom:
        sources = Sources(metrics=prom, logs=RecordedLogs(logs, OBSERVED), ssh=ssh)
        return await run(sources, labels, topology)


def line(app: str, minute: float, text: str, host: str = "node-1") -> LogRecord:
    return LogRecord(
        ts=T0 + timedelta(minutes=minute), labels={"app": app, "host": host}, line=text
    )


def faults(report: SpecialistReport) -> list[tuple[str, str]]:
    return [(h.fault, h.component) for h in report.hypotheses]


def fs(node: str, mount: str, fstype: str = "ext4", device: str = "/dev/sda1") -> dict[str, str]:
    return {
        "instance": f"{node}:9100",
        "job": "node-exporter",
        "device": device,
        "fstype": fstype,
        "mountpoint": mount,
    }


def filesystems(*series: tuple[dict[str, str], Curve], size: float = SIZE) -> list[Family]:
    """avail_bytes = free fraction × size for each filesystem."""
    return [
        family(
            "node_filesystem_avail_bytes",
            "gauge",
            *((labels, lambda s, c=curve: c(s) * size) for labels, curve in series),
        ),
        family(
            "node_filesystem_size_bytes",
            "gauge",
            *((labels, const(size)) for labels, _ in series),
        ),
    ]


def inodes(*series: tuple[dict[str, str], Curve]) -> list[Family]:
    return [
        family(
            "node_filesystem_files_free",
            "gauge",
            *((labels, lambda s, c=curve: round(c(s) * INODES)) for labels, curve in series),
        ),
        family(
            "node_filesystem_files", "gauge", *((labels, const(INODES)) for labels, _ in series)
        ),
    ]


DF_H = """Filesystem      Size  Used Avail Use% Mounted on
/dev/sda1        98G   94G  4.1G  96% /var/lib
tmpfs           1.6G  1.6G     0 100% /run
/dev/sdb1        50G   20G   30G  40% /
"""


# -- filesystems ----------------------------------------------------------------------------


@needs_prometheus
async def test_filesystem_at_five_percent_free_is_disk_full_on_the_node(tmp_path: Path) -> None:
    families = filesystems(
        (fs("node-2", "/var/lib"), linear(0.20, -0.005)),  # 20% → 5% free over the window
        (fs("node-2", "/var/lib/kubelet"), linear(0.20, -0.005)),  # same device, bind mount
        (fs("node-1", "/", device="/dev/sdb1"), const(0.6)),
        (fs("node-1", "/run", fstype="tmpfs", device="tmpfs"), const(0.0)),  # virtual: ignored
    )
    ssh = RecordedSsh(
        [RecordedCommand(ts=OBSERVED, host="node-2", command="df -h", exit_status=0, stdout=DF_H)],
        OBSERVED,
    )
    report = await run_metrics(tmp_path, families, ssh=ssh)
    assert faults(report) == [("disk_full", "node-2")]
    hyp = report.hypotheses[0]
    kinds = sorted(f.kind for f in report.findings)
    assert kinds == ["df_full", "fs_filling", "fs_full"]
    assert len(hyp.findings) == 3 and hyp.score >= 0.85
    full = next(f for f in report.findings if f.kind == "fs_full")
    assert full.summary.startswith("node-2:/var/lib 5.0% free (was 20% at 02:40)")
    assert full.onset == T0 + timedelta(minutes=20)
    df = next(f for f in report.findings if f.kind == "df_full")
    assert df.summary == "df -h on node-2: /var/lib 96% used"


@needs_prometheus
async def test_predict_linear_projection_alone_is_a_weaker_disk_full(tmp_path: Path) -> None:
    # 60% → 30% free in 30 min: still far from the threshold, but full within the hour.
    families = filesystems((fs("node-1", "/data", device="/dev/sdc1"), linear(0.60, -0.01)))
    report = await run_metrics(tmp_path, families)
    assert faults(report) == [("disk_full", "node-1")]
    (finding,) = report.findings
    assert finding.kind == "fs_filling"
    assert finding.summary.startswith("node-1:/data projected to fill within 4 h")
    assert 0.45 <= report.hypotheses[0].score < 0.7
    # No SSH source: df is simply not available, and the note says so.
    assert "ssh not available for this incident" in report.notes


@needs_prometheus
async def test_projection_with_most_of_the_disk_free_is_no_fault(tmp_path: Path) -> None:
    # 98% → 60% free in 30 min projects a fill within 4 h, but 60% is still free: node-mixin
    # only warns below 40%, and a lookback spanning a fill that was cleaned up looks the same.
    families = filesystems((fs("node-1", "/data", device="/dev/sdc1"), linear(0.98, -0.0125)))
    report = await run_metrics(tmp_path, families)
    assert not report.findings and not report.hypotheses


@needs_prometheus
async def test_inode_exhaustion(tmp_path: Path) -> None:
    families = [
        *filesystems((fs("node-3", "/var"), const(0.55))),
        *inodes((fs("node-3", "/var"), linear(0.09, -0.002)), (fs("node-1", "/"), const(0.8))),
    ]
    report = await run_metrics(tmp_path, families, labels={"instance": "node-3:9100"})
    assert faults(report) == [("inode_exhaustion", "node-3")]
    (finding,) = [f for f in report.findings if f.kind == "inodes_exhausted"]
    assert finding.summary.startswith("node-3:/var 3.0% of inodes free")


@needs_prometheus
async def test_enospc_lines_follow_whichever_of_bytes_or_inodes_is_low(tmp_path: Path) -> None:
    # The kernel says "no space left on device" for exhausted inodes too: the lines join
    # the fault the metrics show on their node, and stay weak where neither is low.
    families = [
        *filesystems(
            (fs("node-2", "/"), const(0.05)),
            (fs("node-3", "/"), const(0.55)),
            (fs("node-4", "/"), const(0.6)),
        ),
        *inodes(
            (fs("node-2", "/"), const(0.7)),
            (fs("node-3", "/"), linear(0.09, -0.002)),
            (fs("node-4", "/"), const(0.8)),
        ),
    ]
    enospc = "open /var/lib/app/tmp/{n}: no space left on device"
    logs = [
        line("app", m, enospc.format(n=m), host=host)
        for host in ("node-2", "node-3", "node-4")
        for m in (20, 22, 24)
    ]
    report = await run_metrics(tmp_path, families, logs)
    assert faults(report)[:2] == [("inode_exhaustion", "node-3"), ("disk_full", "node-2")]
    assert all(component != "node-4" for _, component in faults(report))
    lines = {f.component: f for f in report.findings if f.kind.startswith("enospc")}
    assert lines["node-3"].kind == "enospc_inode_lines"
    assert "inodes are exhausted (3.0% free), not bytes" in lines["node-3"].summary
    assert lines["node-3"].id in report.hypotheses[0].findings
    assert lines["node-2"].kind == "enospc_lines" and lines["node-2"].strength >= 0.65
    assert lines["node-4"].strength < 0.45
    assert "neither bytes nor inodes are low" in lines["node-4"].summary


# -- latency --------------------------------------------------------------------------------

LES = ("0.004", "0.016", "0.064", "0.256", "0.512", "1.024", "2.048", "+Inf")


def fsync_histogram(instance: str, slow_from_min: float | None) -> Family:
    """10 fsyncs/s: ~2 ms each, or ~1.5 s each from ``slow_from_min``."""
    per_s = 10

    def slow_s(s: int) -> float:
        if slow_from_min is None:
            return 0.0
        return max(0.0, s - slow_from_min * 60)

    def bucket(le: str) -> Curve:
        def curve(s: int) -> float:
            total = per_s * (s - SECONDS.start)
            slow = per_s * slow_s(s)
            return total - slow if float(le) < 1.5 else total

        return curve

    name = "etcd_disk_wal_fsync_duration_seconds"
    t0 = int(T0.timestamp())
    lines = [f"# TYPE {name} histogram"]
    for le in LES:
        c = bucket(le)
        lines += [
            f'{name}_bucket{{instance="{instance}",job="etcd",le="{le}"}} {c(s):.10g} {t0 + s}'
            for s in SECONDS
        ]
    lines += [
        f'{name}_count{{instance="{instance}",job="etcd"}} {per_s * (s - SECONDS.start)} {t0 + s}'
        for s in SECONDS
    ]
    lines += [
        f'{name}_sum{{instance="{instance}",job="etcd"}} '
        f"{0.002 * per_s * (s - SECONDS.start) + 1.5 * per_s * slow_s(s):.10g} {t0 + s}"
        for s in SECONDS
    ]
    return lines


@needs_prometheus
async def test_slow_fsync_is_slow_disk_on_the_etcd_node(tmp_path: Path) -> None:
    topo = Topology(
        nodes=(
            NodeHint(name="cp-1", address="10.0.0.21"),
            NodeHint(name="cp-2", address="10.0.0.22"),
        )
    )
    families = [fsync_histogram("10.0.0.21:2381", 10), fsync_histogram("10.0.0.22:2381", None)]
    etcd = [
        line(
            "etcd",
            16,
            "2024-12-14 02:56:35.185438 W | wal: sync duration of 1.53s, expected less than 1s",
            host="cp-1",
        ),
    ]
    report = await run_metrics(tmp_path, families, etcd, topology=topo)
    assert faults(report) == [("slow_disk", "cp-1")]
    fsync = next(f for f in report.findings if f.kind == "slow_fsync")
    assert fsync.summary.startswith("etcd on cp-1: WAL fsync p99 ")
    assert "etcd wants < 10 ms" in fsync.summary
    assert fsync.onset is not None and fsync.onset >= T0 + timedelta(minutes=10)
    assert fsync.strength >= 0.9
    assert len(report.hypotheses[0].findings) == 2


def io_time(instance: str, device: str, busy: Curve) -> tuple[dict[str, str], Curve]:
    def counter(s: int) -> float:
        return sum(busy(x) * SCRAPE_S for x in range(SECONDS.start, s, SCRAPE_S))

    return ({"instance": instance, "job": "node-exporter", "device": device}, counter)


@needs_prometheus
async def test_saturated_device_is_slow_disk_and_a_blip_is_not(tmp_path: Path) -> None:
    families = [
        family(
            "node_disk_io_time_seconds",
            "counter",
            io_time("node-2:9100", "sda", lambda s: 0.99 if s >= 8 * 60 else 0.2),
            io_time("node-1:9100", "nvme0n1", lambda s: 0.99 if 20 * 60 <= s < 24 * 60 else 0.1),
            io_time("node-1:9100", "loop3", const(1.0)),  # pseudo device: ignored
        )
    ]
    report = await run_metrics(tmp_path, families)
    assert faults(report) == [("slow_disk", "node-2")]
    kinds = {f.component: f.kind for f in report.findings}
    assert kinds == {"node-2": "disk_saturated", "node-1": "disk_busy"}


# -- volumes and errors ---------------------------------------------------------------------

PROVISION_ERROR = (
    'E1214 03:{mm}:04.802274       1 controller.go:913] error syncing claim "b3ce46c6-8b3a": '
    'failed to provision volume with StorageClass "local-path": failed to create volume '
    "pvc-b3ce46c6-8b3a: create process timeout after 120 seconds"
)


@needs_prometheus
async def test_pending_claim_and_provisioner_errors_are_provisioner_failure(
    tmp_path: Path,
) -> None:
    pending = {"namespace": "shop", "persistentvolumeclaim": "data-db-0", "phase": "Pending"}
    waiting = {"namespace": "lab", "persistentvolumeclaim": "scratch", "phase": "Pending"}
    families = [
        family(
            "kube_persistentvolumeclaim_status_phase",
            "gauge",
            (pending, lambda s: 1.0 if s >= 18 * 60 else 0.0),
            (waiting, const(1.0)),  # Pending all along (waits for a consumer): weak
        )
    ]
    provisioner = [
        LogRecord(
            ts=T0 + timedelta(minutes=m),
            labels={
                "app": "local-path-provisioner",
                "namespace": "local-path-storage",
                "pod": "local-path-provisioner-6c86858495-x2x9k",
                "host": "node-1",
            },
            line=PROVISION_ERROR.format(mm=m - 20),
        )
        for m in (20, 22, 24)
    ]
    report = await run_metrics(tmp_path, families, provisioner)
    assert faults(report) == [("provisioner_failure", "local-path-provisioner")]
    hyp = report.hypotheses[0]
    assert len(hyp.findings) == 2 and hyp.score >= 0.8
    # The claim Pending all window long is reported, weakly, and supports nothing.
    stale = next(f for f in report.findings if f.component == "lab/scratch")
    assert stale.strength < 0.45 and stale.id not in hyp.findings
    errors = next(f for f in report.findings if f.kind == "provisioner_errors")
    assert errors.summary.startswith("local-path-provisioner: 3 provisioning error(s) for b3ce")
    claim = next(f for f in report.findings if f.component == "shop/data-db-0")
    assert claim.summary == "PVC shop/data-db-0 Pending for 12 min (since 02:58)"


@needs_prometheus
async def test_claim_pending_before_a_late_first_scrape_stays_weak(tmp_path: Path) -> None:
    # kube-state-metrics scraped every 60 s, 55 s into the window: its data begins more
    # than 1.5 steps after the window start, which does not make a claim new.
    t0 = int(T0.timestamp())
    times = range(55, 30 * 60 + 1, 60)
    rows = ["# TYPE kube_persistentvolumeclaim_status_phase gauge"]
    for claim, phase, since in (
        ("scratch", "Pending", 0),  # Pending all along: waits for a consumer
        ("data-db-0", "Pending", 18 * 60),  # created at 02:58, never bound
        ("media", "Bound", 0),
    ):
        labels = f'namespace="shop",persistentvolumeclaim="{claim}",phase="{phase}"'
        rows += [
            f"kube_persistentvolumeclaim_status_phase{{{labels}}} 1 {t0 + s}"
            for s in times
            if s >= since
        ]
    path = tmp_path / "metrics.om"
    path.write_text("\n".join([*rows, "# EOF"]) + "\n", "utf-8")
    async with RecordedPrometheus(path, OBSERVED) as prom:
        report = await run(Sources(metrics=prom))
    assert faults(report) == [("provisioner_failure", "shop/data-db-0")]
    stale = next(f for f in report.findings if f.component == "shop/scratch")
    assert stale.strength < 0.45 and stale.onset is None
    assert stale.summary.endswith("(all window)")


async def test_kernel_io_errors_are_io_errors_on_the_host() -> None:
    kernel = [
        line("kernel", 14, "blk_update_request: I/O error, dev sdb, sector 2048 op 0x0:(READ)", "node-4"),
        line("kernel", 15, "EXT4-fs error (device sdb1): ext4_find_entry:1455: reading directory lblock 0", "node-4"),
        line("coredns", 15, "[ERROR] plugin/errors: 2 a.example. A: read udp 10.42.0.5:5353->1.1.1.1:53: i/o timeout"),
    ]  # fmt: skip
    report = await run(Sources(logs=RecordedLogs(kernel, OBSERVED)))
    assert faults(report) == [("io_errors", "node-4")]
    assert report.findings[0].summary.startswith("node-4: 2 I/O error line(s) since 02:54")


async def test_no_space_left_lines_alone_suggest_disk_full() -> None:
    logs = [
        line("containerd", m, 'failed to write "/var/lib/containerd/x": no space left on device')
        for m in (25, 26)
    ]
    report = await run(Sources(logs=RecordedLogs(logs, OBSERVED)))
    assert faults(report) == [("disk_full", "node-1")]


async def test_df_on_the_alerted_node_when_metrics_are_absent() -> None:
    ssh = RecordedSsh(
        [RecordedCommand(ts=OBSERVED, host="node-2", command="df -h", exit_status=0, stdout=DF_H)],
        OBSERVED,
    )
    report = await run(Sources(ssh=ssh), labels={"instance": "node-2:9100"})
    assert faults(report) == [("disk_full", "node-2")]
    assert report.findings[0].summary == "df -h on node-2: /var/lib 96% used"


@needs_prometheus
async def test_healthy_storage_gives_nothing(tmp_path: Path) -> None:
    families = [
        *filesystems((fs("node-1", "/"), const(0.55)), (fs("node-2", "/"), linear(0.5, -0.0005))),
        *inodes((fs("node-1", "/"), const(0.9))),
        fsync_histogram("node-1:2381", None),
        family("node_disk_io_time_seconds", "counter", io_time("node-1:9100", "sda", const(0.1))),
        family(
            "kube_persistentvolumeclaim_status_phase",
            "gauge",
            ({"namespace": "a", "persistentvolumeclaim": "b", "phase": "Pending"}, const(0.0)),
        ),
    ]
    logs = [line("kernel", 3, "EXT4-fs (sda1): mounted filesystem with ordered data mode")]
    report = await run_metrics(tmp_path, families, logs)
    assert report.hypotheses == ()
    assert report.findings == ()
    assert report.notes == ()  # no SSH needed: nothing to corroborate


async def test_absent_sources_give_no_hypothesis_and_say_so() -> None:
    report = await run(Sources(), labels={"instance": "node-2:9100"})
    assert report.hypotheses == () and report.findings == ()
    assert "metrics not available for this incident" in report.notes
    assert "logs not available for this incident" in report.notes
    assert report.evidence and {e.status for e in report.evidence} == {"unavailable"}


# -- seed scenarios ------------------------------------------------------------------------


async def run_scenario(name: str) -> SpecialistReport:
    path = SCENARIOS / name
    if not (path / "scenario.yaml").is_file():
        pytest.skip(f"scenario {name} not present")
    scenario = load_scenario(path)
    inc = Incident(
        alert=scenario.alert,
        observed_at=scenario.meta.observed_at,
        window_start=scenario.meta.window.start,
        topology=scenario.meta.topology,
    )
    async with open_recorded_sources(scenario) as sources:
        return await StorageSpecialist(inc, sources).investigate()


@needs_prometheus
@pytest.mark.parametrize(
    "name",
    ["01_coredns_oom_query_flood", "10_stp_loop_dns_symptoms", "20_no_fault_cpu_throttling"],
)
async def test_seed_scenarios_have_no_storage_fault(name: str) -> None:
    report = await run_scenario(name)
    assert report.hypotheses == ()
