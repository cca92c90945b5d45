"""Reconciliation: upstream layers explain downstream symptoms, timing matters."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from agents.calibration import confidence, plain_confidence
from agents.models import Hypothesis
from agents.reconcile import FAULT_EDGES, LAYER_EDGES, MIN_SCORE, reconcile
from tools.topology import ServiceHint, Topology

T0 = datetime(2024, 12, 14, 2, 52, tzinfo=UTC)
TOPO = Topology(services=(ServiceHint(name="coredns", namespace="kube-system", kind="dns"),))


def hyp(layer: str, fault: str, component: str, score: float, minutes: float | None) -> Hypothesis:
    return Hypothesis(
        layer=layer,
        fault=fault,
        component=component,
        score=score,
        by=layer,
        findings=("f1",),
        onset=None if minutes is None else T0 + timedelta(minutes=minutes),
    )


def test_network_loop_explains_later_dns_timeouts() -> None:
    net = hyp("network", "stp_loop", "sw1", 0.8, 0)
    dns = hyp("dns", "upstream_failure", "coredns", 0.9, 1)
    result = reconcile([dns, net], TOPO)
    assert result.root is not None and result.root.key == "network/stp_loop"
    by_key = {h.key: h for h in result.hypotheses}
    assert by_key["dns/upstream_failure"].role == "symptom"
    assert by_key["dns/upstream_failure"].explained_by == "network/stp_loop"
    assert "before these symptoms" in by_key["dns/upstream_failure"].reason
    assert result.hypotheses[0].role == "root_cause"


def test_upstream_that_starts_later_does_not_explain() -> None:
    net = hyp("network", "packet_loss", "sw1", 0.6, 10)
    dns = hyp("dns", "upstream_failure", "coredns", 0.9, 0)
    result = reconcile([net, dns], TOPO)
    assert result.root is not None and result.root.key == "dns/upstream_failure"
    roles = {h.key: h.role for h in result.hypotheses}
    assert roles["network/packet_loss"] == "ruled_out"


def test_query_flood_explains_resolver_oom_kill() -> None:
    flood = hyp("dns", "query_flood", "payment-processor", 0.7, 0)
    oom = hyp("compute", "oom_kill", "coredns", 0.9, 20)
    result = reconcile([oom, flood], TOPO)
    assert result.root is not None and result.root.key == "dns/query_flood"
    assert {h.key: h.role for h in result.hypotheses}["compute/oom_kill"] == "symptom"


def test_oom_kill_of_other_workload_is_not_explained_by_flood() -> None:
    flood = hyp("dns", "query_flood", "payment-processor", 0.6, 0)
    oom = hyp("compute", "oom_kill", "billing", 0.9, 20)
    result = reconcile([oom, flood], TOPO)
    assert result.root is not None and result.root.key == "compute/oom_kill"


def test_weak_hypotheses_are_ruled_out_and_never_explain() -> None:
    weak = hyp("network", "stp_loop", "sw1", MIN_SCORE - 0.1, 0)
    dns = hyp("dns", "upstream_failure", "coredns", 0.8, 1)
    result = reconcile([weak, dns], TOPO)
    assert result.root is not None and result.root.key == "dns/upstream_failure"
    ruled = [h for h in result.hypotheses if h.role == "ruled_out"]
    assert [h.key for h in ruled] == ["network/stp_loop"]
    assert "too little evidence" in ruled[0].reason


def test_nothing_strong_means_no_root_and_high_no_fault_confidence() -> None:
    result = reconcile([], TOPO)
    assert result.root is None
    assert confidence(result) > 0.8
    weakish = reconcile([hyp("compute", "cpu_saturation", "node-1", 0.3, 0)], TOPO)
    # The plain score discounts "nothing is broken" by sub-threshold noise; the fitted
    # mapping may saturate at its 0.99 bound for both, but never ranks the noise higher.
    assert plain_confidence(weakish) < plain_confidence(result)
    assert confidence(weakish) <= confidence(result)


def test_close_competitor_lowers_confidence() -> None:
    alone = reconcile([hyp("storage", "disk_full", "node-1", 0.9, 0)], TOPO)
    contested = reconcile(
        [
            hyp("storage", "disk_full", "node-1", 0.9, 0),
            hyp("network", "link_flap", "node-2", 0.85, 0),
        ],
        TOPO,
    )
    assert plain_confidence(contested) < plain_confidence(alone)
    assert confidence(contested) < confidence(alone)


def test_causal_graph_has_no_two_cycles() -> None:
    for cause, effects in LAYER_EDGES.items():
        for effect in effects:
            assert cause not in LAYER_EDGES.get(effect, frozenset()), (cause, effect)
    pairs = {(c, (e_layer, f)) for c, (e_layer, faults), _ in FAULT_EDGES for f in faults}
    for cause, effect in pairs:
        assert (effect, cause) not in pairs


def test_alert_relevance_breaks_near_ties() -> None:
    """An unrelated, slightly stronger anomaly elsewhere does not outrank the alert's subject."""
    disk = hyp("storage", "disk_full", "node-2", 0.85, 0)
    elsewhere = hyp("network", "interface_errors", "node-3", 0.88, 0)
    assert reconcile([disk, elsewhere], TOPO).root.key == "network/interface_errors"  # type: ignore[union-attr]
    result = reconcile([disk, elsewhere], TOPO, focus={"node-2"})
    assert result.root is not None and result.root.key == "storage/disk_full"
    far_stronger = hyp("network", "interface_errors", "node-3", 0.97, 0)
    assert (
        reconcile([disk, far_stronger], TOPO, focus={"node-2"}).root.key
        == "network/interface_errors"
    )  # type: ignore[union-attr]


def test_a_crashing_resolver_is_resolver_down_not_a_compute_fault() -> None:
    down = hyp("dns", "resolver_down", "coredns", 0.8, 0)
    crash = hyp("compute", "pod_crashloop", "coredns", 0.9, 0)
    result = reconcile([crash, down], TOPO)
    assert result.root is not None and result.root.key == "dns/resolver_down"
    other_app = hyp("compute", "pod_crashloop", "billing", 0.9, 0)
    assert reconcile([other_app, down], TOPO).root.key == "compute/pod_crashloop"  # type: ignore[union-attr]


def test_dns_misconfiguration_explains_apps_crashing_on_lookups() -> None:
    misconf = hyp("dns", "misconfiguration", "coredns", 0.7, 0)
    crash = hyp("compute", "pod_crashloop", "billing", 0.9, 2)
    result = reconcile([crash, misconf], TOPO)
    assert result.root is not None and result.root.key == "dns/misconfiguration"
