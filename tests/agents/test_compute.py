"""The compute specialist over real recorded backends built in memory (no mocks).

Metrics go through a real Prometheus (RecordedPrometheus) over small OpenMetrics files
written to tmp_path; kernel and kubelet lines through RecordedLogs. The seed scenarios,
when present, run through open_recorded_sources.
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Callable, Sequence
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from agents.compute import (
    CPU_BUSY_THRESHOLD,
    THROTTLING_MAX_STRENGTH,
    ComputeSpecialist,
    node_name,
    workload_name,
)
from agents.models import Incident
from agents.specialist import SpecialistReport
from tools.alertmanager.webhook import parse_webhook
from tools.logs.base import LogRecord
from tools.logs.recorded import RecordedLogs
from tools.metrics.recorded import RecordedPrometheus
from tools.scenario.loader import load_scenario
from tools.scenario.replay import open_recorded_sources
from tools.sources import Sources
from tools.topology import NodeHint, PodHint, Topology

T0 = datetime(2024, 12, 14, 2, 40, tzinfo=UTC)
OBSERVED = T0 + timedelta(minutes=30)
SCRAPE_S = 30
SECONDS = range(-10 * 60, 30 * 60 + 1, SCRAPE_S)  # since T0; ten minutes of history first
SCENARIOS = Path(__file__).resolve().parents[2] / "scenarios"

COREDNS = {
    "namespace": "kube-system",
    "pod": "coredns-5d78c9869d-8xk2p",
    "container": "coredns",
    "node": "node-1",
}
API = {"namespace": "shop", "pod": "api-7f9c8d6b5-q2w4x", "container": "api"}

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
        lines += [f"{sample}{{{text}}} {curve(s):.6g} {t0 + s}" for s in SECONDS]
    return lines


def write_om(tmp_path: Path, *families: Family) -> Path:
    path = tmp_path / "metrics.om"
    path.write_text("\n".join([*(x for f in families for x in f), "# EOF"]) + "\n", "utf-8")
    return path


def steps(*changes: tuple[float, float], base: float = 0.0) -> Curve:
    """A step function: ``base``, then each ``(minute, value)`` from that minute on."""

    def curve(s: int) -> float:
        value = base
        for minute, v in changes:
            if s >= minute * 60:
                value = v
        return value

    return curve


def const(value: float) -> Curve:
    return lambda _s: value


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


async def run(sources: Sources, labels: dict[str, str] | None = None) -> SpecialistReport:
    return await ComputeSpecialist(incident(labels), sources).investigate()


async def run_metrics(
    tmp_path: Path,
    families: Sequence[Family],
    logs: Sequence[LogRecord] = (),
    labels: dict[str, str] | None = None,
) -> SpecialistReport:
    om = write_om(tmp_path, *families)
    async with RecordedPrometheus(om, OBSERVED) as prom:
        return await run(Sources(metrics=prom, logs=RecordedLogs(logs, OBSERVED)), labels)


def line(app: str, minute: float, text: str, host: str = "node-1") -> LogRecord:
    return LogRecord(
        ts=T0 + timedelta(minutes=minute), labels={"app": app, "host": host}, line=text
    )


def faults(report: SpecialistReport) -> list[tuple[str, str]]:
    return [(h.fault, h.component) for h in report.hypotheses]


# -- naming -------------------------------------------------------------------------------


def test_workload_and_node_names() -> None:
    assert workload_name("coredns-5d78c9869d-8xk2p") == "coredns"
    assert workload_name("web-0") == "web"
    assert workload_name("node-exporter-x2x9k") == "node-exporter"
    assert workload_name("redis-cache") == "redis-cache"
    assert workload_name("etcd-node-1", "etcd") == "etcd"
    assert workload_name("", "coredns") == "coredns"
    assert node_name("node-1:9100") == "node-1"
    assert node_name("node-1") == "node-1"
    assert node_name("[fe80::1]:9100") == "fe80::1"
    topo = Topology(nodes=(NodeHint(name="node-2", address="10.0.0.12"),))
    assert node_name("10.0.0.12:2381", topo) == "node-2"


# -- OOM kills ------------------------------------------------------------------------------


def restarts(*series: tuple[dict[str, str], Curve]) -> Family:
    return family("kube_pod_container_status_restarts", "counter", *series)


def terminated(*series: tuple[dict[str, str], Curve], reason: str = "OOMKilled") -> Family:
    return family(
        "kube_pod_container_status_last_terminated_reason",
        "gauge",
        *(({**labels, "reason": reason}, curve) for labels, curve in series),
    )


KERNEL_OOM = (
    "Memory cgroup out of memory: Killed process {pid} (coredns) total-vm:812344kB, "
    "anon-rss:170012kB, file-rss:0kB, shmem-rss:0kB, UID:0 pgtables:512kB oom_score_adj:999"
)
KERNEL_OOM_KILL = (
    "oom-kill:constraint=CONSTRAINT_MEMCG,nodemask=(null),cpuset=cri-containerd-ab12.scope,"
    "mems_allowed=0,oom_memcg=/kubepods.slice/kubepods-burstable.slice,"
    "task_memcg=/kubepods.slice/kubepods-burstable.slice/cri-containerd-ab12.scope,"
    "task=coredns,pid={pid},uid=0"
)


@needs_prometheus
async def test_oomkilled_with_kernel_lines_is_oom_kill_on_the_workload(tmp_path: Path) -> None:
    families = [
        restarts((COREDNS, steps((21, 1), (26, 2))), (API, const(5))),
        terminated((COREDNS, steps((21, 1)))),
    ]
    kernel = [
        line("kernel", 21, KERNEL_OOM_KILL.format(pid=4242)),
        line("kernel", 21, KERNEL_OOM.format(pid=4242)),
        line("kernel", 26, KERNEL_OOM_KILL.format(pid=4343)),
        line("kernel", 26, KERNEL_OOM.format(pid=4343)),
    ]
    report = await run_metrics(tmp_path, families, kernel)
    assert faults(report) == [("oom_kill", "coredns")]
    hyp = report.hypotheses[0]
    assert hyp.score >= 0.9
    assert len(hyp.findings) == 2
    assert hyp.onset is not None and hyp.onset <= T0 + timedelta(minutes=21, seconds=30)
    metric = next(f for f in report.findings if f.kind == "oom_killed")
    assert metric.summary.startswith("coredns OOMKilled 2× (restarts +2 since 03:0")
    kernel_f = next(f for f in report.findings if f.kind == "kernel_oom")
    assert kernel_f.summary == (
        "kernel on node-1: 2 OOM kill(s) of coredns (memory cgroup limit) since 03:01"
    )
    # Two restarts are not a crashloop, and restarts outside the window are ignored.
    assert not any(f.kind == "restart_loop" for f in report.findings)


async def test_kernel_oom_lines_alone_name_the_process() -> None:
    kernel = [
        line("kernel", 12, "uwsgi invoked oom-killer: gfp_mask=0xcc0(GFP_KERNEL), order=0"),
        line(
            "kernel",
            12,
            "Out of memory: Killed process 63214 (uwsgi) total-vm:3149468kB, anon-rss:164992kB",
            host="node-2",
        ),
    ]
    report = await run(Sources(logs=RecordedLogs(kernel, OBSERVED)))
    assert faults(report) == [("oom_kill", "uwsgi")]
    finding = report.findings[0]
    assert "node out of memory" in finding.summary and "node-2" in finding.summary
    assert "metrics not available for this incident" in report.notes


@needs_prometheus
async def test_stale_oomkilled_reason_without_restarts_is_not_an_oom(tmp_path: Path) -> None:
    families = [restarts((COREDNS, const(3))), terminated((COREDNS, const(1)))]
    report = await run_metrics(tmp_path, families)
    assert report.hypotheses == ()
    assert report.findings == ()


# -- memory growth --------------------------------------------------------------------------

LIMIT = 170 * 2**20


def memory(*series: tuple[dict[str, str], Curve], limit: float = LIMIT) -> list[Family]:
    return [
        family("container_memory_working_set_bytes", "gauge", *series),
        family(
            "container_spec_memory_limit_bytes",
            "gauge",
            *((labels, const(limit)) for labels, _ in series),
        ),
    ]


def ramp(start_min: float, end_min: float, low: float, high: float) -> Curve:
    """Flat at ``low`` (a fraction of LIMIT) until start_min, linear up to ``high`` at end_min."""

    def curve(s: int) -> float:
        m = s / 60
        frac = (
            low
            if m <= start_min
            else low + (high - low) * min(1.0, (m - start_min) / (end_min - start_min))
        )
        return frac * LIMIT

    return curve


def cpu_usage(labels: dict[str, str], per_s: Curve) -> Family:
    """A container CPU counter whose rate is ``per_s(s)`` cores."""

    def counter(s: int) -> float:
        return sum(per_s(x) * SCRAPE_S for x in range(SECONDS.start, s, SCRAPE_S))

    return family("container_cpu_usage_seconds", "counter", (labels, counter))


@needs_prometheus
async def test_linear_growth_to_the_limit_is_memory_leak(tmp_path: Path) -> None:
    leak = ramp(-10, 30, 0.35, 0.97)
    flat = const(0.4 * LIMIT)
    families = [*memory((API, leak), (COREDNS, flat)), cpu_usage(API, const(0.2))]
    report = await run_metrics(tmp_path, families)
    assert faults(report) == [("memory_leak", "api")]
    finding = report.findings[0]
    assert finding.kind == "memory_growth"
    assert finding.summary == "api memory 50% → 97% of its limit 02:43–03:10 (R² 1.00)"
    assert finding.strength >= 0.8


@needs_prometheus
async def test_memory_climb_with_a_cpu_surge_is_reported_as_load(tmp_path: Path) -> None:
    climb = ramp(8, 28, 0.3, 0.95)
    families = [*memory((API, climb)), cpu_usage(API, steps((8, 1.5), base=0.1))]
    report = await run_metrics(tmp_path, families)
    assert faults(report) == [("memory_leak", "api")]
    finding = report.findings[0]
    assert finding.kind == "memory_growth_with_load"
    assert "consistent with load" in finding.summary
    assert len(finding.evidence) == 2
    assert report.hypotheses[0].score < 0.5
    # The climb starts when the load does, not at the window start.
    assert finding.onset is not None and finding.onset >= T0 + timedelta(minutes=8)


@needs_prometheus
async def test_leak_with_oom_restarts_ranks_above_the_oom(tmp_path: Path) -> None:
    def sawtooth(s: int) -> float:
        phase = (s + 600) % 900  # climbs for 15 min, OOM, again
        return (0.3 + 0.68 * phase / 900) * LIMIT

    families = [
        *memory((API, sawtooth)),
        restarts((API, steps((5, 1), (20, 2)))),
        terminated((API, steps((5, 1)))),
    ]
    report = await run_metrics(tmp_path, families)
    assert faults(report) == [("memory_leak", "api"), ("oom_kill", "api")]
    leak, oom = report.hypotheses
    assert leak.score > oom.score
    assert set(oom.findings) <= set(leak.findings)
    growth = next(f for f in report.findings if f.kind == "memory_growth")
    assert "climbs after restarts" in growth.summary


@needs_prometheus
async def test_spikes_between_oom_restarts_stretched_by_the_step_are_no_leak(
    tmp_path: Path,
) -> None:
    # cAdvisor scraped every 60 s, queried at a 30 s step: each sample shows twice. From
    # 02:52 the api spikes to its limit within two minutes of every restart and is OOM-killed
    # (0.4 → 0.7 → 0.95 of the limit): six points with R² 0.91, but three samples in 150 s.
    def spiking(s: int) -> float:
        if s < 12 * 60:
            return 0.35 * LIMIT
        return (0.4, 0.7, 0.95)[(s - 12 * 60) % 180 // 60] * LIMIT

    web = {"namespace": "shop", "pod": "web-6b8f7c9d5-abc12", "container": "web"}
    leak = ramp(0, 30, 0.4, 0.95)  # a real leak, scraped as sparsely, still counts
    t0 = int(T0.timestamp())
    scraped = ["# TYPE container_memory_working_set_bytes gauge"]
    for labels, curve in ((API, spiking), (web, leak)):
        text = ",".join(f'{k}="{v}"' for k, v in labels.items())
        scraped += [
            f"container_memory_working_set_bytes{{{text}}} {curve(s):.6g} {t0 + s}"
            for s in SECONDS
            if s % 60 == 0
        ]
    kills = [(14.5 + 3 * k, k + 1) for k in range(6)]
    families = [
        scraped,
        family(
            "container_spec_memory_limit_bytes", "gauge", (API, const(LIMIT)), (web, const(LIMIT))
        ),
        restarts((API, steps(*kills))),
        terminated((API, steps((14.5, 1)))),
    ]
    report = await run_metrics(tmp_path, families)
    assert sorted(faults(report)) == [("memory_leak", "web"), ("oom_kill", "api")]
    growth = [f.component for f in report.findings if f.kind.startswith("memory_growth")]
    assert growth == ["web"]


# -- nodes ----------------------------------------------------------------------------------


def ready(node: str, curve: Curve) -> tuple[dict[str, str], Curve]:
    return ({"node": node, "condition": "Ready", "status": "true"}, curve)


PLEG = (
    'E1214 {hh}:{mm}:00.844381    3263 kubelet.go:2055] "Skipping pod synchronization" '
    'err="PLEG is not healthy: pleg was last seen active 3m12.704970756s ago; threshold is 3m0s"'
)


@needs_prometheus
async def test_not_ready_node_with_pleg_lines_is_node_not_ready(tmp_path: Path) -> None:
    families = [
        family(
            "kube_node_status_condition",
            "gauge",
            ready("node-1", const(1)),
            ready("node-3", steps((15, 0), base=1)),
        )
    ]
    kubelet = [line("kubelet", m, PLEG.format(hh="02", mm=40 + m), "node-3") for m in (13, 14)]
    report = await run_metrics(tmp_path, families, kubelet, {"node": "node-3"})
    assert faults(report) == [("node_not_ready", "node-3")]
    hyp = report.hypotheses[0]
    assert len(hyp.findings) == 2 and hyp.score >= 0.9
    assert hyp.onset == T0 + timedelta(minutes=13)
    summaries = sorted(f.summary for f in report.findings)
    assert summaries[0].startswith("kubelet on node-3: PLEG is not healthy ×2")
    assert summaries[1].startswith("node-3 NotReady for 15 min since 02:55")


def idle_cpu(instance: str, idle: Curve) -> tuple[dict[str, str], Curve]:
    def counter(s: int) -> float:
        return sum(idle(x) * SCRAPE_S for x in range(SECONDS.start, s, SCRAPE_S))

    return ({"instance": instance, "job": "node-exporter", "cpu": "0", "mode": "idle"}, counter)


@needs_prometheus
async def test_sustained_busy_cpu_is_cpu_saturation(tmp_path: Path) -> None:
    families = [
        family(
            "node_cpu_seconds",
            "counter",
            idle_cpu("node-1:9100", steps((10, 0.02), base=0.6)),
            idle_cpu("node-2:9100", const(0.7)),
            # Busy for only three minutes: not saturation.
            idle_cpu("node-3:9100", steps((20, 0.01), (23, 0.8), base=0.8)),
        )
    ]
    report = await run_metrics(tmp_path, families)
    assert faults(report) == [("cpu_saturation", "node-1")]
    summary = report.findings[0].summary
    assert summary.startswith(f"node-1 CPU ≥ {CPU_BUSY_THRESHOLD:.0%} busy for ")
    assert "peak 98%" in summary


# -- restarts, evictions, throttling ---------------------------------------------------------


@needs_prometheus
async def test_restarts_without_oom_are_a_crashloop(tmp_path: Path) -> None:
    families = [
        restarts((API, steps((10, 1), (12, 2), (15, 3), (19, 4), (25, 5)))),
        terminated((API, steps((10, 1))), reason="Error"),
    ]
    report = await run_metrics(tmp_path, families)
    assert faults(report) == [("pod_crashloop", "api")]
    assert report.findings[0].summary == "api restarted 5× since 02:50 (not OOMKilled)"


EVICT = (
    'I1214 03:{mm}:14.769517   14260 eviction_manager.go:344] "Eviction manager: must evict '
    'pod(s) to reclaim" resourceName="ephemeral-storage"'
)


@needs_prometheus
async def test_evictions_name_the_node_under_pressure(tmp_path: Path) -> None:
    evicted = {"namespace": "shop", "pod": "web-6b8f7c9d5-abc12", "reason": "Evicted"}
    families = [family("kube_pod_status_reason", "gauge", (evicted, steps((22, 1))))]
    kubelet = [line("kubelet", m, EVICT.format(mm=m - 20), "node-2") for m in (21, 22, 23)]
    report = await run_metrics(tmp_path, families, kubelet)
    assert faults(report) == [("eviction", "node-2")]
    kinds = sorted(f.kind for f in report.findings)
    assert kinds == ["kubelet_eviction", "pods_evicted"]
    kubelet_f = next(f for f in report.findings if f.kind == "kubelet_eviction")
    assert "reclaim ephemeral-storage" in kubelet_f.summary


@needs_prometheus
async def test_evictions_without_kubelet_logs_name_the_node_of_the_evicted_pods(
    tmp_path: Path,
) -> None:
    web = {"namespace": "shop", "pod": "web-6b8f7c9d5-abc12"}
    cache = {"namespace": "shop", "pod": "cache-7c9d8f6b5-xyz89"}
    old = {"namespace": "lab", "pod": "batch-5f6d7c8b9-old12"}  # evicted days ago, on node-1
    families = [
        family(
            "kube_pod_status_reason",
            "gauge",
            *(({**pod, "reason": "Evicted"}, steps((m, 1))) for pod, m in ((web, 22), (cache, 23))),
            ({**old, "reason": "Evicted"}, const(1)),
        ),
        # The topology knows where web ran; kube-state-metrics says where cache ran.
        family("kube_pod_info", "gauge", ({**cache, "node": "node-2"}, const(1))),
    ]
    topo = Topology(pods=(PodHint(name=web["pod"], namespace="shop", node="node-2"),))
    om = write_om(tmp_path, *families)
    async with RecordedPrometheus(om, OBSERVED) as prom:
        report = await ComputeSpecialist(
            incident(topology=topo), Sources(metrics=prom)
        ).investigate()
    assert faults(report) == [("eviction", "node-2")]
    (finding,) = report.findings
    assert finding.summary == "2 pod(s) Evicted on node-2 since 03:02 (cache, web)"
    assert len(finding.evidence) == 2  # kube_pod_status_reason and kube_pod_info


async def test_eviction_manager_housekeeping_lines_are_no_eviction() -> None:
    housekeeping = (
        'E1214 02:{mm}:10.000000 874 eviction_manager.go:258] "Eviction manager: failed to get '
        'summary stats" err="failed to get node info: node \\"node-2\\" not found"',
        'I1214 02:{mm}:10.100000 874 eviction_manager.go:189] "Eviction manager: starting control loop"',
    )
    kubelet = [
        line("kubelet", m, text.format(mm=40 + m), "node-2")
        for m in (5, 6)
        for text in housekeeping
    ]
    kubelet.append(line("kubelet", 21, EVICT.format(mm=1), "node-3"))
    report = await run(Sources(logs=RecordedLogs(kubelet, OBSERVED)))
    assert faults(report) == [("eviction", "node-3")]
    assert report.findings[0].summary.startswith("kubelet on node-3 evicting pods")


def throttling(labels: dict[str, str], ratio: float) -> list[Family]:
    def periods(s: int) -> float:
        return 10.0 * (s - SECONDS.start)

    return [
        family("container_cpu_cfs_periods", "counter", (labels, periods)),
        family(
            "container_cpu_cfs_throttled_periods",
            "counter",
            (labels, lambda s: ratio * periods(s)),
        ),
    ]


@needs_prometheus
async def test_throttling_alone_is_a_weak_finding_and_no_hypothesis(tmp_path: Path) -> None:
    labels = {"pod": API["pod"], "container": "api"}
    report = await run_metrics(tmp_path, throttling(API, 0.6), labels=labels)
    assert report.hypotheses == ()
    (finding,) = report.findings
    assert finding.kind == "cpu_throttling" and finding.component == "api"
    assert finding.strength <= THROTTLING_MAX_STRENGTH
    assert "not an outage" in finding.summary


@needs_prometheus
async def test_healthy_cluster_gives_nothing(tmp_path: Path) -> None:
    families = [
        restarts((COREDNS, const(0)), (API, const(2))),
        terminated((API, const(0))),
        *memory((API, const(0.5 * LIMIT)), (COREDNS, lambda s: (0.3 + (s % 120) / 2400) * LIMIT)),
        family("kube_node_status_condition", "gauge", ready("node-1", const(1))),
        family("node_cpu_seconds", "counter", idle_cpu("node-1:9100", const(0.8))),
        *throttling(API, 0.02),
    ]
    kubelet = [line("kubelet", 5, 'I1214 02:45:00.000000 1 kubelet.go:2000] "SyncLoop ADD"')]
    report = await run_metrics(tmp_path, families, kubelet)
    assert report.hypotheses == ()
    assert report.findings == ()
    assert report.notes == ()
    assert {e.status for e in report.evidence} <= {"ok", "empty"}


async def test_absent_sources_give_no_hypothesis_and_say_so() -> None:
    report = await run(Sources())
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
        return await ComputeSpecialist(inc, sources).investigate()


@needs_prometheus
async def test_seed_coredns_oom_gives_oom_kill_on_coredns() -> None:
    report = await run_scenario("01_coredns_oom_query_flood")
    assert ("oom_kill", "coredns") in faults(report)
    oom = next(h for h in report.hypotheses if h.fault == "oom_kill")
    assert oom.score >= 0.8
    # CoreDNS's memory climbs with its CPU: reported honestly, as load, below the OOM.
    growth = next(f for f in report.findings if f.component == "coredns" and "memory" in f.kind)
    assert growth.kind == "memory_growth_with_load"
    assert all(h.score < oom.score for h in report.hypotheses if h is not oom)


@needs_prometheus
async def test_seed_stp_loop_gives_nothing_in_compute() -> None:
    report = await run_scenario("10_stp_loop_dns_symptoms")
    assert report.hypotheses == ()


@needs_prometheus
async def test_seed_noise_alert_gives_nothing() -> None:
    report = await run_scenario("20_no_fault_cpu_throttling")
    assert report.hypotheses == ()
    assert [f.kind for f in report.findings] == ["cpu_throttling"]
    assert report.findings[0].strength <= THROTTLING_MAX_STRENGTH
