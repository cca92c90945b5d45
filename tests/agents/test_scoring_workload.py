"""Scoring leniency and workload naming."""

from __future__ import annotations

import pytest

from agents.scoring import component_matches
from agents.workload import workload_name


@pytest.mark.parametrize(
    ("pod", "workload"),
    [
        ("payment-processor-6c9f8d7b5-x2x8k", "payment-processor"),
        ("coredns-5d78c9869d-8xk2p", "coredns"),
        ("report-generator-28401234-abc12", "report-generator"),
        ("node-exporter-x7k2p", "node-exporter"),
        ("etcd-0", "etcd"),
        ("my-app-proxy", "my-app-proxy"),
    ],
)
def test_workload_name(pod: str, workload: str) -> None:
    assert workload_name(pod) == workload


@pytest.mark.parametrize(
    ("got", "expected", "ok"),
    [
        ("sw1", "sw1", True),
        ("SW1", "sw1", True),
        ("sw1 port 3", "sw1", True),
        ("payment-processor-6c9f8d7b5-x2x8k", "payment-processor", True),
        ("node-1:/var/lib", "node-1", True),
        ("sw2", "sw1", False),
        ("coredns", "payment-processor", False),
        ("node-1", "node-10", False),
    ],
)
def test_component_matches(got: str, expected: str, ok: bool) -> None:
    assert component_matches(got, expected) is ok
