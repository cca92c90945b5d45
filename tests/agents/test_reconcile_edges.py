"""The fault-level edges the control-plane and application layers rely on."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from agents.models import Hypothesis
from agents.reconcile import FAULT_EDGES, reconcile
from tools.topology import Topology

T0 = datetime(2024, 12, 14, 2, 52, tzinfo=UTC)
TOPO = Topology()


def hyp(layer: str, fault: str, component: str, score: float, minutes: float) -> Hypothesis:
    return Hypothesis(
        layer=layer,
        fault=fault,
        component=component,
        score=score,
        by=layer,
        findings=("f1",),
        onset=T0 + timedelta(minutes=minutes),
    )


def roles(hypotheses: list[Hypothesis]) -> dict[str, tuple[str, str | None, str]]:
    result = reconcile(hypotheses, TOPO)
    return {h.key: (h.role, h.explained_by, h.reason) for h in result.hypotheses}


def test_edges_are_declared() -> None:
    causes = {cause for cause, _, _ in FAULT_EDGES}
    assert {
        ("control-plane", "etcd_unhealthy"),
        ("control-plane", "cert_expired"),
        ("application", "bad_deploy"),
        ("application", "misconfiguration"),
    } <= causes


def test_unhealthy_etcd_explains_a_later_apiserver_overload() -> None:
    got = roles(
        [
            hyp("control-plane", "apiserver_overload", "kube-apiserver", 0.8, 3),
            hyp("control-plane", "etcd_unhealthy", "etcd", 0.7, 0),
        ]
    )
    assert got["control-plane/etcd_unhealthy"][0] == "root_cause"
    role, by, reason = got["control-plane/apiserver_overload"]
    assert (role, by) == ("symptom", "control-plane/etcd_unhealthy")
    assert "can cause control-plane/apiserver_overload" in reason


def test_etcd_trouble_that_starts_later_does_not_explain_the_overload() -> None:
    got = roles(
        [
            hyp("control-plane", "apiserver_overload", "kube-apiserver", 0.8, 0),
            hyp("control-plane", "etcd_unhealthy", "etcd", 0.7, 5),
        ]
    )
    assert got["control-plane/apiserver_overload"][0] == "root_cause"
    assert got["control-plane/etcd_unhealthy"][0] == "ruled_out"


def test_an_expired_certificate_explains_nodes_going_not_ready() -> None:
    got = roles(
        [
            hyp("compute", "node_not_ready", "node-2", 0.9, 1),
            hyp("control-plane", "cert_expired", "system:node:node-2", 0.8, 0),
        ]
    )
    assert got["control-plane/cert_expired"][0] == "root_cause"
    assert got["compute/node_not_ready"][:2] == ("symptom", "control-plane/cert_expired")


def test_a_bad_deploy_explains_its_own_crashloop_only() -> None:
    same = roles(
        [
            hyp("compute", "pod_crashloop", "web", 0.9, 3),
            hyp("application", "bad_deploy", "web", 0.7, 0),
        ]
    )
    assert same["application/bad_deploy"][0] == "root_cause"
    assert same["compute/pod_crashloop"][:2] == ("symptom", "application/bad_deploy")
    other = roles(
        [
            hyp("compute", "pod_crashloop", "billing", 0.9, 3),
            hyp("application", "bad_deploy", "web", 0.7, 0),
        ]
    )
    assert other["compute/pod_crashloop"][0] == "root_cause"
    assert other["application/bad_deploy"][0] == "ruled_out"


def test_a_bad_deploy_whose_pods_crash_at_once_stays_the_root() -> None:
    got = roles(
        [
            hyp("compute", "pod_crashloop", "web", 0.9, 1),
            hyp("application", "bad_deploy", "web", 0.7, 0),
        ]
    )
    assert got["application/bad_deploy"][0] == "root_cause"


def test_a_misconfiguration_explains_its_own_crashloop() -> None:
    got = roles(
        [
            hyp("compute", "pod_crashloop", "web", 0.9, 2),
            hyp("application", "misconfiguration", "web", 0.6, 0),
        ]
    )
    assert got["application/misconfiguration"][0] == "root_cause"
    assert got["compute/pod_crashloop"][:2] == ("symptom", "application/misconfiguration")


def test_a_memory_leak_explains_timeouts_to_the_leaking_upstream() -> None:
    got = roles(
        [
            hyp("application", "dependency_timeout", "immich-server", 0.9, 10),
            hyp("compute", "memory_leak", "immich-server", 0.7, 0),
        ]
    )
    assert got["compute/memory_leak"][0] == "root_cause"
    role, by, reason = got["application/dependency_timeout"]
    assert (role, by) == ("symptom", "compute/memory_leak")
    assert "memory_leak on immich-server can cause application/dependency_timeout" in reason
